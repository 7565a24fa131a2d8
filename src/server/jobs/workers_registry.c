/* workers_registry.c — worker pools announce themselves in the worker_pools table.
 *
 * The idea: with `oma serve --workers 0` the API process runs no job itself, so it can only
 * tell which kinds can run from what the workers say. Each pool (an `oma worker` process, or
 * serve's own threads) upserts its row (kinds, threads, host, seen_at) every few seconds from
 * its janitor thread and deletes it when it stops cleanly; a pool killed without warning just
 * stops being seen, and after OMA_WORKER_LIVE_SECONDS its kinds stop counting.
 */
#include "server/jobs/jobs.h"

#include <stdio.h>
#include <string.h>

int oma_workers_registry_beat(oma_db *db, const char *pool_id, const char *host, const char *kinds, int threads,
                              int64_t now)
{
    char stamp[32];
    oma_db_now(stamp, sizeof stamp);
    oma_stmt *st = NULL;
    int ok = oma_db_prepare(db,
                            "INSERT INTO worker_pools (id, host, kinds, threads, started_at, seen_at) "
                            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
                            &st) == 0 &&
             oma_stmt_bind_text(st, 1, pool_id) == 0 && oma_stmt_bind_text(st, 2, host) == 0 &&
             oma_stmt_bind_text(st, 3, kinds && *kinds ? kinds : "*") == 0 && oma_stmt_bind_int(st, 4, threads) == 0 &&
             oma_stmt_bind_text(st, 5, stamp) == 0 && oma_stmt_bind_int(st, 6, now) == 0 && oma_stmt_step(st) == 0;
    oma_stmt_finalize(st);
    if (!ok) return -1;
    /* rows of pools gone for an hour are forgotten */
    st = NULL;
    ok = oma_db_prepare(db, "DELETE FROM worker_pools WHERE seen_at < ?", &st) == 0 &&
         oma_stmt_bind_int(st, 1, now - 3600) == 0 && oma_stmt_step(st) == 0;
    oma_stmt_finalize(st);
    return ok ? 0 : -1;
}

int oma_workers_registry_leave(oma_db *db, const char *pool_id)
{
    return oma_db_exec_bound(db, "DELETE FROM worker_pools WHERE id = ?", pool_id, NULL, NULL);
}

int oma_workers_registry_offers(oma_db *db, const char *kind, int64_t now)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT kinds FROM worker_pools WHERE seen_at >= ?", &st) != 0 ||
        oma_stmt_bind_int(st, 1, now - OMA_WORKER_LIVE_SECONDS) != 0) {
        oma_stmt_finalize(st);
        return -1;
    }
    int rc, found = 0;
    while (!found && (rc = oma_stmt_step(st)) == 1) {
        const char *k = oma_stmt_text(st, 0);
        if (k && (strcmp(k, "*") == 0 || oma_jobs_kind_offered(k, kind))) found = 1;
    }
    oma_stmt_finalize(st);
    if (!found && rc < 0) return -1;
    return found;
}

json_t *oma_workers_registry_json(oma_db *db, int64_t now)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT COUNT(*), COALESCE(SUM(threads), 0) FROM worker_pools WHERE seen_at >= ?", &st) !=
            0 ||
        oma_stmt_bind_int(st, 1, now - OMA_WORKER_LIVE_SECONDS) != 0 || oma_stmt_step(st) != 1) {
        oma_stmt_finalize(st);
        return NULL;
    }
    json_t *o = json_pack("{s:I, s:I}", "pools", (json_int_t)oma_stmt_int(st, 0), "threads",
                          (json_int_t)oma_stmt_int(st, 1));
    oma_stmt_finalize(st);
    return o;
}
