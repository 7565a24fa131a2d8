/* jobs_recover.c — at start-up, take back at once the jobs a dead predecessor held.
 *
 * The idea: a worker's id is "host:pid:index:tag" (workers_pool.c). A server starting on a
 * data folder can tell for certain that a running job's worker is gone when the id names this
 * host and a process id that no longer exists (kill(pid, 0) says ESRCH). Such a job's lease is
 * ended now, so the usual requeue (oma_jobs_requeue_expired) puts it back in the queue or
 * fails it after max_attempts, instead of it waiting out the rest of its lease. A worker id of
 * another host, of a live process (or a reused pid), or of this process is left alone: its
 * lease still decides.
 */
#include "server/jobs/jobs.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 1 when worker_id is "host:PID:..." for this host and PID is a process that is gone. */
static int held_by_dead_local(const char *worker_id, const char *host)
{
    size_t hl = strlen(host);
    if (!worker_id || hl == 0 || strncmp(worker_id, host, hl) != 0 || worker_id[hl] != ':') return 0;
    const char *p = worker_id + hl + 1;
    char *end = NULL;
    errno = 0;
    long pid = strtol(p, &end, 10);
    if (errno || end == p || *end != ':' || pid <= 1 || pid > 0x3fffffff) return 0;
    if ((pid_t)pid == getpid()) return 0;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

int oma_jobs_release_dead_local(oma_db *db, const char *host, int64_t now)
{
    if (!db || !host) return -1;
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT id, worker_id FROM jobs WHERE status = 'running' AND worker_id IS NOT NULL",
                       &st) != 0)
        return -1;
    char (*ids)[2][128] = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = oma_stmt_step(st)) == 1) {
        const char *id = oma_stmt_text(st, 0), *wid = oma_stmt_text(st, 1);
        if (!id || !wid || strlen(id) >= 128 || strlen(wid) >= 128 || !held_by_dead_local(wid, host)) continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            void *p = realloc(ids, nc * sizeof *ids);
            if (!p) {
                rc = -1;
                break;
            }
            ids = p;
            cap = nc;
        }
        snprintf(ids[n][0], 128, "%s", id);
        snprintf(ids[n][1], 128, "%s", wid);
        n++;
    }
    oma_stmt_finalize(st);
    int changed = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        st = NULL;
        int ok = oma_db_prepare(db, "UPDATE jobs SET lease_until = ? WHERE id = ? AND worker_id = ? "
                                    "AND status = 'running'", &st) == 0 &&
                 oma_stmt_bind_int(st, 1, now - 1) == 0 && oma_stmt_bind_text(st, 2, ids[i][0]) == 0 &&
                 oma_stmt_bind_text(st, 3, ids[i][1]) == 0 && oma_stmt_step(st) == 0;
        oma_stmt_finalize(st);
        if (!ok) rc = -1;
        else changed += (int)oma_db_changes(db);
    }
    free(ids);
    return rc < 0 ? -1 : changed;
}
