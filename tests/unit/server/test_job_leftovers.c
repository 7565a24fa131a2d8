/* test_job_leftovers.c — what a job leaves behind once it ends away from its worker (issue 10
 * §4), checked through oma_server_start on a data folder a killed server used:
 * - a style.train-like job whose worker died max_attempts times ends failed ("worker died 3
 *   times") and its jobstate/<id>/ objects are deleted; so are those of a job cancelled while
 *   queued and of a job that no longer exists; a job still queued keeps its state;
 * - <data>/tmp/train-* work folders of a process that is gone (and old ones naming no process)
 *   are removed, one of a live process (our parent) stays, other folders are not touched.
 * Before the fix both kinds of leftovers stayed for good. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/jobs/jobs.h"
#include "server/server.h"

#include "check.h"

static oma_storage *st;

static void put_state(const char *id)
{
    char key[160], err[256];
    snprintf(key, sizeof key, "jobstate/%s/checkpoint.safetensors", id);
    CHECK(oma_storage_put(st, key, "ckpt", 4, err, sizeof err) == 0);
    snprintf(key, sizeof key, "jobstate/%s/history.json", id);
    CHECK(oma_storage_put(st, key, "{}", 2, err, sizeof err) == 0);
}

static int has_state(const char *id)
{
    char key[160];
    snprintf(key, sizeof key, "jobstate/%s/history.json", id);
    return oma_storage_exists(st, key);
}

static void make_dir(const char *dir, const char *name, int with_file)
{
    char p[700];
    snprintf(p, sizeof p, "%s/tmp/%s", dir, name);
    CHECK(mkdir(p, 0700) == 0);
    if (!with_file) return;
    snprintf(p, sizeof p, "%s/tmp/%s/sub", dir, name);
    CHECK(mkdir(p, 0700) == 0);
    snprintf(p, sizeof p, "%s/tmp/%s/sub/model.bin", dir, name);
    FILE *f = fopen(p, "wb");
    CHECK(f && fputs("weights", f) >= 0 && fclose(f) == 0);
}

static int exists(const char *dir, const char *name)
{
    char p[700];
    struct stat sb;
    snprintf(p, sizeof p, "%s/tmp/%s", dir, name);
    return stat(p, &sb) == 0;
}

int main(void)
{
    char dir[] = "/tmp/oma_test_leftovers_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char url[600], surl[600], err[256];
    snprintf(url, sizeof url, "sqlite:%s/oma.db", dir);
    snprintf(surl, sizeof surl, "file:%s/store", dir);
    oma_db *db = NULL;
    if (oma_db_open(&db, url, 1, err, sizeof err) != 0 || oma_storage_open(&st, surl, err, sizeof err) != 0) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    CHECK(oma_db_exec(db, "INSERT INTO artists VALUES ('art1','a@x','A','h','2026-01-01T00:00:00Z');") == 0);

    /* a process id that is certainly gone: a child that exited and was reaped */
    pid_t child = fork();
    if (child == 0) _exit(0);
    CHECK(child > 0);
    int wst;
    waitpid(child, &wst, 0);

    char died[48], queued[48], cancelled[48];
    CHECK(oma_jobs_enqueue(db, "art1", "style.train", NULL, NULL, NULL, died, 48, err, sizeof err) == 0);
    CHECK(oma_jobs_enqueue(db, "art1", "style.train", NULL, NULL, NULL, queued, 48, err, sizeof err) == 0);
    CHECK(oma_jobs_enqueue(db, "art1", "style.train", NULL, NULL, NULL, cancelled, 48, err, sizeof err) == 0);
    /* its third attempt ran under a worker (another host: not taken back as a dead local one)
     * whose lease ran out */
    CHECK(oma_db_exec_bound(db,
                            "UPDATE jobs SET status = 'running', attempts = 3, max_attempts = 3, "
                            "worker_id = 'elsewhere:1:0:x', lease_until = 1 WHERE id = ?",
                            died, NULL, NULL) == 0);
    CHECK(oma_jobs_cancel(db, cancelled, "art1") == 0);
    put_state(died);
    put_state(queued);
    put_state(cancelled);
    put_state("ghost-job-that-is-gone");

    char mine[64], gone[64], live[64];
    snprintf(gone, sizeof gone, "train-%ld-AbC123", (long)child);
    snprintf(live, sizeof live, "train-%ld-XyZ789", (long)getppid());
    snprintf(mine, sizeof mine, "train-%ld-Q1w2e3", (long)getpid());
    char p[700];
    snprintf(p, sizeof p, "%s/tmp", dir);
    CHECK(mkdir(p, 0700) == 0);
    make_dir(dir, gone, 1);
    make_dir(dir, live, 1);
    make_dir(dir, mine, 0);
    make_dir(dir, "train-Ab12Cd", 1); /* the older name, no process */
    make_dir(dir, "upload-keep", 1);   /* not a training folder */
    oma_storage_close(st);
    st = NULL;
    oma_db_close(db);

    oma_server_config cfg = {"127.0.0.1", 0, dir, 0, NULL, NULL, NULL, NULL};
    oma_server *srv = NULL;
    CHECK(oma_server_start(&srv, &cfg, err, sizeof err) == 0);

    CHECK(oma_db_open(&db, url, 0, err, sizeof err) == 0);
    CHECK(oma_storage_open(&st, surl, err, sizeof err) == 0);
    json_t *j = oma_jobs_get_json(db, died, NULL);
    CHECK(j && strcmp(json_string_value(json_object_get(j, "status")), "failed") == 0);
    CHECK(j && json_string_value(json_object_get(j, "error")) &&
          strstr(json_string_value(json_object_get(j, "error")), "worker died 3 times"));
    json_decref(j);
    CHECK(!has_state(died));
    CHECK(!has_state(cancelled));
    CHECK(!has_state("ghost-job-that-is-gone"));
    CHECK(has_state(queued));

    CHECK(!exists(dir, gone));
    CHECK(!exists(dir, mine));
    CHECK(!exists(dir, "train-Ab12Cd"));
    CHECK(exists(dir, live));
    CHECK(exists(dir, "upload-keep"));

    oma_storage_close(st);
    oma_db_close(db);
    oma_server_stop(srv);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    if (failures) {
        fprintf(stderr, "test_job_leftovers: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_job_leftovers: ok\n");
    return 0;
}
