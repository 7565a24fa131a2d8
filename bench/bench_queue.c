/* bench_queue.c — jobs per second through the queue alone (claim -> finish, no work in the
 * job) with N worker processes on one database, SQLite or PostgreSQL.
 *
 *   bench_queue DB_URL PROCS JOBS     e.g. bench_queue sqlite:/tmp/q/oma.db 4 2000
 *   bench_queue                       SQLite in a temp folder, 1, 2 and 4 processes, 1000 jobs
 *
 * Enqueues JOBS small jobs (3 artists), forks PROCS processes that each open their own handle
 * and loop oma_jobs_claim + oma_jobs_finish("succeeded") until the queue is empty, and times
 * from the fork to the last exit. Prints one line per run:
 *   queue_jobs_per_s engine=sqlite procs=4 jobs=1000 seconds=1.23 jobs_per_s=813 claimed_once=yes
 * claimed_once checks the result: every job succeeded with attempts = 1. bench/queue.sh runs it
 * on both engines in the same run and prints the ratios.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "server/jobs/jobs.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t scalar(oma_db *db, const char *sql)
{
    oma_stmt *st = NULL;
    int64_t v = -1;
    if (oma_db_prepare(db, sql, &st) == 0 && oma_stmt_step(st) == 1) v = oma_stmt_int(st, 0);
    oma_stmt_finalize(st);
    return v;
}

static int run(const char *url, int procs, int jobs)
{
    char err[512];
    oma_db *db = NULL;
    if (oma_db_open(&db, url, 1, err, sizeof err) != 0) {
        fprintf(stderr, "bench_queue: %s\n", err);
        return 1;
    }
    /* a clean queue: earlier runs on the same database are removed */
    if (oma_db_exec(db, "DELETE FROM job_outputs; DELETE FROM jobs; DELETE FROM artists WHERE id LIKE 'bq%';"
                        "INSERT INTO artists VALUES ('bq1','bq1@x','A','h','2026-01-01T00:00:00Z');"
                        "INSERT INTO artists VALUES ('bq2','bq2@x','B','h','2026-01-01T00:00:00Z');"
                        "INSERT INTO artists VALUES ('bq3','bq3@x','C','h','2026-01-01T00:00:00Z');") != 0) {
        fprintf(stderr, "bench_queue: %s\n", oma_db_errmsg(db));
        oma_db_close(db);
        return 1;
    }
    static const char *artists[] = {"bq1", "bq2", "bq3"};
    if (oma_db_begin(db) != 0) return 1;
    for (int i = 0; i < jobs; i++) {
        char id[48];
        if (oma_jobs_enqueue(db, artists[i % 3], "image.normalize", NULL, NULL, NULL, id, sizeof id, err,
                             sizeof err) != 0) {
            fprintf(stderr, "bench_queue: enqueue: %s\n", err);
            oma_db_rollback(db);
            oma_db_close(db);
            return 1;
        }
    }
    if (oma_db_commit(db) != 0) return 1;
    const char *engine = oma_db_driver(db);
    double t0 = now_s();
    pid_t *pids = calloc((size_t)procs, sizeof *pids);
    if (!pids) return 1;
    for (int k = 0; k < procs; k++) {
        pids[k] = fork();
        if (pids[k] == 0) {
            oma_db *d = NULL;
            char e[512], wid[32], id[48];
            if (oma_db_open(&d, url, 0, e, sizeof e) != 0) _exit(2);
            snprintf(wid, sizeof wid, "bench:%d", k);
            int rc;
            while ((rc = oma_jobs_claim(d, wid, oma_db_unix_now(), id, sizeof id)) == 1)
                if (oma_jobs_finish(d, id, wid, "succeeded", NULL, NULL) != 0) _exit(3);
            oma_db_close(d);
            _exit(rc == 0 ? 0 : 4);
        }
    }
    int bad = 0;
    for (int k = 0; k < procs; k++) {
        int st = 0;
        if (pids[k] <= 0 || waitpid(pids[k], &st, 0) != pids[k] || !WIFEXITED(st) || WEXITSTATUS(st) != 0) bad = 1;
    }
    double dt = now_s() - t0;
    free(pids);
    int64_t once = scalar(db, "SELECT COUNT(*) FROM jobs WHERE status = 'succeeded' AND attempts = 1");
    printf("queue_jobs_per_s engine=%s procs=%d jobs=%d seconds=%.3f jobs_per_s=%.0f claimed_once=%s\n", engine,
           procs, jobs, dt, jobs / dt, !bad && once == jobs ? "yes" : "NO");
    fflush(stdout);
    oma_db_close(db);
    return bad || once != jobs;
}

int main(int argc, char **argv)
{
    if (argc == 4) {
        int procs = atoi(argv[2]), jobs = atoi(argv[3]);
        if (procs < 1 || procs > 64 || jobs < 1 || jobs > 1000000) {
            fprintf(stderr, "usage: bench_queue DB_URL PROCS(1..64) JOBS\n");
            return 2;
        }
        return run(argv[1], procs, jobs);
    }
    if (argc != 1) {
        fprintf(stderr, "usage: bench_queue [DB_URL PROCS JOBS]\n");
        return 2;
    }
    char dir[] = "/tmp/oma-bench-queue-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/oma.db", dir);
    int rc = 0;
    for (int p = 1; p <= 4; p *= 2) rc |= run(url, p, 1000);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "bench_queue: cannot remove %s\n", dir);
    return rc;
}
