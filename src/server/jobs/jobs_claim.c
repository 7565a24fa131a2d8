/* jobs_claim.c — taking the next job off the queue, optionally only of some kinds.
 *
 * One transaction: pick the oldest queued job of the artist with the fewest running jobs
 * (fair across artists), then a guarded UPDATE (status still 'queued') makes it this
 * worker's. On SQLite BEGIN IMMEDIATE serialises claimers; on PostgreSQL the SELECT takes
 * FOR UPDATE OF q SKIP LOCKED (oma_db_claim_lock), so claimers in many processes pass each
 * other's row instead of waiting or taking it twice. A worker that offers only some kinds
 * (`oma worker --kinds generate.*,style.train`) adds `kind LIKE pattern` terms: '*' is any
 * run of characters, everything else is literal.
 */
#include "server/jobs/jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATTERNS_MAX 16
#define PATTERN_MAX 64

/* Splits "a,b*,c" into patterns; 0 with *n, or -1 (bad). */
static int split(const char *kinds, char pats[PATTERNS_MAX][PATTERN_MAX + 1], int *n)
{
    *n = 0;
    const char *p = kinds;
    while (*p) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len > PATTERN_MAX || *n >= PATTERNS_MAX) return -1;
        for (size_t i = 0; i < len; i++) {
            char c = p[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '-' || c == '*'))
                return -1;
        }
        memcpy(pats[*n], p, len);
        pats[(*n)++][len] = '\0';
        p += len;
        if (*p == ',') {
            p++;
            if (!*p) return -1;
        }
    }
    return *n > 0 ? 0 : -1;
}

int oma_jobs_kinds_valid(const char *kinds)
{
    char pats[PATTERNS_MAX][PATTERN_MAX + 1];
    int n;
    return kinds && split(kinds, pats, &n) == 0;
}

/* '*' matches any run (also empty); the rest literally. */
static int glob_match(const char *pat, const char *s)
{
    if (!*pat) return !*s;
    if (*pat == '*') {
        for (const char *t = s;; t++) {
            if (glob_match(pat + 1, t)) return 1;
            if (!*t) return 0;
        }
    }
    return *s == *pat && glob_match(pat + 1, s + 1);
}

int oma_jobs_kind_offered(const char *kinds, const char *kind)
{
    if (!kinds || !*kinds) return 1;
    char pats[PATTERNS_MAX][PATTERN_MAX + 1];
    int n;
    if (!kind || split(kinds, pats, &n) != 0) return 0;
    for (int i = 0; i < n; i++)
        if (glob_match(pats[i], kind)) return 1;
    return 0;
}

/* pattern -> LIKE text: '*' -> '%', '%' '_' '\' escaped with '\' */
static void like_of(const char *pat, char *out, size_t outlen)
{
    size_t o = 0;
    for (; *pat && o + 3 < outlen; pat++) {
        if (*pat == '*') out[o++] = '%';
        else if (*pat == '_' || *pat == '%' || *pat == '\\') {
            out[o++] = '\\';
            out[o++] = *pat;
        } else out[o++] = *pat;
    }
    out[o] = '\0';
}

int oma_jobs_claim_kinds(oma_db *db, const char *worker_id, int64_t now, const char *kinds, char *id_out,
                         size_t id_len)
{
    if (!worker_id || !id_out || id_len < 33) return oma_db_fail(db, "claim: bad arguments");
    char pats[PATTERNS_MAX][PATTERN_MAX + 1];
    int npat = 0;
    if (kinds && *kinds && split(kinds, pats, &npat) != 0) return oma_db_fail(db, "claim: bad kinds pattern");
    /* fair across artists: the oldest queued job of the artist with the fewest running jobs
     * (running jobs are few, so the count per artist is cheap; the queue per artist is capped) */
    char sql[2048];
    size_t o = (size_t)snprintf(sql, sizeof sql, "%s",
                                "SELECT q.id FROM jobs q LEFT JOIN "
                                "(SELECT artist_id, COUNT(*) AS n FROM jobs WHERE status = 'running' GROUP BY "
                                "artist_id) r ON r.artist_id = q.artist_id WHERE q.status = 'queued'");
    for (int i = 0; i < npat; i++)
        o += (size_t)snprintf(sql + o, sizeof sql - o, "%s q.kind LIKE ? ESCAPE '\\'%s", i ? " OR" : " AND (",
                              i == npat - 1 ? ")" : "");
    snprintf(sql + o, sizeof sql - o, " ORDER BY COALESCE(r.n, 0), q.created_at, q.enqueued_us LIMIT 1%s",
             oma_db_claim_lock(db));
    if (oma_db_begin(db) != 0) return -1;
    oma_stmt *st = NULL;
    char id[48] = "";
    if (oma_db_prepare(db, sql, &st) != 0) goto fail;
    for (int i = 0; i < npat; i++) {
        char like[2 * PATTERN_MAX + 2];
        like_of(pats[i], like, sizeof like);
        if (oma_stmt_bind_text(st, i + 1, like) != 0) goto fail;
    }
    int step = oma_stmt_step(st);
    if (step == 1) snprintf(id, sizeof id, "%s", oma_stmt_text(st, 0) ? oma_stmt_text(st, 0) : "");
    oma_stmt_finalize(st);
    st = NULL;
    if (step < 0) goto fail;
    if (step == 0 || !id[0]) {
        if (oma_db_commit(db) != 0) goto fail;
        return 0;
    }
    char stamp[32];
    oma_db_now(stamp, sizeof stamp);
    if (oma_db_prepare(db,
                       "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_until = ?, "
                       "heartbeat_at = ?, worker_id = ?, started_at = ?, progress = 0, message = 'started' "
                       "WHERE id = ? AND status = 'queued'",
                       &st) != 0 ||
        oma_stmt_bind_int(st, 1, now + oma_jobs_lease_seconds()) != 0 || oma_stmt_bind_text(st, 2, stamp) != 0 ||
        oma_stmt_bind_text(st, 3, worker_id) != 0 || oma_stmt_bind_text(st, 4, stamp) != 0 ||
        oma_stmt_bind_text(st, 5, id) != 0 || oma_stmt_step(st) != 0)
        goto fail;
    oma_stmt_finalize(st);
    st = NULL;
    /* 0 rows: another claimer took it first (cannot happen under the row lock, but an
     * engine without one must never hand the same job to two workers) */
    int64_t took = oma_db_changes(db);
    if (oma_db_commit(db) != 0) goto fail;
    if (took != 1) return 0;
    snprintf(id_out, id_len, "%s", id);
    return 1;
fail:
    oma_stmt_finalize(st);
    {
        char saved[512];
        snprintf(saved, sizeof saved, "%s", oma_db_errmsg(db));
        oma_db_rollback(db);
        oma_db_fail(db, "%s", saved);
    }
    return -1;
}

int oma_jobs_claim(oma_db *db, const char *worker_id, int64_t now, char *id_out, size_t id_len)
{
    return oma_jobs_claim_kinds(db, worker_id, now, NULL, id_out, id_len);
}
