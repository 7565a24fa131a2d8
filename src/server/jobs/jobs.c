/* jobs.c — the job queue as rows of the jobs table.
 *
 * Every state change is one guarded UPDATE (or a short BEGIN IMMEDIATE transaction), so the
 * queue works the same for threads of one process, several processes on one SQLite file, or
 * (later) many machines on PostgreSQL. A running job belongs to the worker named in worker_id
 * only while its lease holds: every write a worker makes checks "status = 'running' AND
 * worker_id = me", so a worker that lost its lease (and whose job was requeued and taken by
 * another) can never overwrite the new owner's work.
 */
#include "server/jobs/jobs.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KIND_MAX 64
#define INPUT_ID_MAX 64
#define INPUTS_MAX 64
#define PARAMS_MAX_BYTES (4u << 20)
#define MESSAGE_MAX 200

static atomic_int lease_seconds = OMA_JOB_LEASE_SECONDS;

void oma_jobs_set_lease_seconds(int seconds)
{
    atomic_store(&lease_seconds, seconds >= 1 ? seconds : 1);
}
int oma_jobs_lease_seconds(void) { return atomic_load(&lease_seconds); }

static int input_id_ok(const json_t *v)
{
    if (!json_is_string(v)) return 0;
    size_t n = json_string_length(v);
    return n >= 1 && n <= INPUT_ID_MAX && strlen(json_string_value(v)) == n;
}

static int check_inputs(const json_t *inputs, char *err, size_t errlen)
{
    const char *name;
    const json_t *v;
    size_t count = 0;
    json_object_foreach((json_t *)inputs, name, v) {
        if (!*name || strlen(name) > 64) {
            snprintf(err, errlen, "input names must be 1..64 characters");
            return -1;
        }
        if (json_is_array(v)) {
            size_t i;
            const json_t *e;
            json_array_foreach(v, i, e) {
                if (!input_id_ok(e)) {
                    snprintf(err, errlen, "input %s: every element must be an upload id", name);
                    return -1;
                }
            }
            count += json_array_size(v);
        } else if (input_id_ok(v)) {
            count++;
        } else {
            snprintf(err, errlen, "input %s must be an upload id or an array of upload ids", name);
            return -1;
        }
    }
    if (count > INPUTS_MAX) {
        snprintf(err, errlen, "too many inputs (%zu, at most %d)", count, INPUTS_MAX);
        return -1;
    }
    return 0;
}

int oma_jobs_enqueue(oma_db *db, const char *artist_id, const char *kind, const json_t *params,
                     const json_t *inputs, const char *webtoon_id, char *id_out, size_t id_len, char *err,
                     size_t errlen)
{
    if (!artist_id || !kind || !*kind || strlen(kind) > KIND_MAX) {
        snprintf(err, errlen, "a job needs an owner and a kind (1..%d characters)", KIND_MAX);
        return -1;
    }
    if (!id_out || id_len < 33) {
        snprintf(err, errlen, "id buffer too small");
        return -1;
    }
    if (params && !json_is_object(params)) {
        snprintf(err, errlen, "params must be an object");
        return -1;
    }
    if (inputs && !json_is_object(inputs)) {
        snprintf(err, errlen, "inputs must be an object");
        return -1;
    }
    if (inputs && check_inputs(inputs, err, errlen) != 0) return -1;
    json_t *empty = json_object();
    if (!empty) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char *ptext = json_dumps(params ? params : empty, JSON_COMPACT);
    char *itext = json_dumps(inputs ? inputs : empty, JSON_COMPACT);
    json_decref(empty);
    int rc = -1;
    oma_stmt *st = NULL;
    char id[33], now[32];
    if (!ptext || !itext) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (strlen(ptext) > PARAMS_MAX_BYTES || strlen(itext) > PARAMS_MAX_BYTES) {
        snprintf(err, errlen, "params are too large (at most %u bytes)", PARAMS_MAX_BYTES);
        goto out;
    }
    if (oma_db_new_id(id, sizeof id) != 0) {
        snprintf(err, errlen, "cannot make a random id");
        goto out;
    }
    oma_db_now(now, sizeof now);
    if (oma_db_prepare(db,
                       "INSERT INTO jobs (id, artist_id, webtoon_id, kind, status, params, inputs, progress, "
                       "attempts, max_attempts, cancel_requested, enqueued_us, created_at) "
                       "VALUES (?, ?, ?, ?, 'queued', ?, ?, 0, 0, ?, 0, ?, ?)",
                       &st) != 0 ||
        oma_stmt_bind_text(st, 1, id) != 0 || oma_stmt_bind_text(st, 2, artist_id) != 0 ||
        oma_stmt_bind_text(st, 3, webtoon_id) != 0 || oma_stmt_bind_text(st, 4, kind) != 0 ||
        oma_stmt_bind_text(st, 5, ptext) != 0 || oma_stmt_bind_text(st, 6, itext) != 0 ||
        oma_stmt_bind_int(st, 7, OMA_JOB_MAX_ATTEMPTS) != 0 || oma_stmt_bind_int(st, 8, oma_db_unix_now_us()) != 0 ||
        oma_stmt_bind_text(st, 9, now) != 0 || oma_stmt_step(st) != 0) {
        snprintf(err, errlen, "cannot queue the job: %s", oma_db_errmsg(db));
        goto out;
    }
    snprintf(id_out, id_len, "%s", id);
    rc = 0;
out:
    oma_stmt_finalize(st);
    free(ptext);
    free(itext);
    return rc;
}

/* ---- reading jobs as API objects ---- */

static json_t *jtext(const char *s)
{
    if (!s) return json_null();
    json_t *v = json_string(s);
    return v ? v : json_string("(text that is not UTF-8)");
}

static json_t *jparsed(const char *s, json_t *fallback)
{
    if (!s) return fallback;
    json_t *v = json_loads(s, JSON_DECODE_ANY, NULL);
    if (!v) return fallback;
    json_decref(fallback);
    return v;
}

#define JOB_COLS                                                                                              \
    "id, kind, status, progress, message, params, inputs, result, error, attempts, created_at, started_at, " \
    "finished_at, webtoon_id, preview_key, cancel_requested, max_attempts, detail"

static json_t *outputs_json(oma_db *db, const char *job_id)
{
    json_t *arr = json_array();
    oma_stmt *st = NULL;
    if (!arr || oma_db_prepare(db, "SELECT name, mime, bytes FROM job_outputs WHERE job_id = ? ORDER BY seq, name",
                               &st) != 0 ||
        oma_stmt_bind_text(st, 1, job_id) != 0) {
        oma_stmt_finalize(st);
        json_decref(arr);
        return NULL;
    }
    int rc;
    while ((rc = oma_stmt_step(st)) == 1) {
        json_t *o = json_pack("{s:o, s:o, s:I}", "name", jtext(oma_stmt_text(st, 0)), "mime",
                              jtext(oma_stmt_text(st, 1)), "bytes", (json_int_t)oma_stmt_int(st, 2));
        if (!o || json_array_append_new(arr, o) != 0) {
            rc = -1;
            break;
        }
    }
    oma_stmt_finalize(st);
    if (rc != 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

/* Builds the API object from a row selected with JOB_COLS; full: the detail's whole loss
 * history, else its latest window (jobs_losses.c). */
static json_t *row_json(oma_db *db, oma_stmt *st, int full)
{
    const char *id = oma_stmt_text(st, 0);
    if (!id) return NULL;
    json_t *preview = json_null();
    if (!oma_stmt_is_null(st, 14)) {
        char url[128];
        snprintf(url, sizeof url, "/api/jobs/%s/preview", id);
        json_decref(preview);
        preview = json_string(url);
    }
    json_t *outputs = outputs_json(db, id);
    if (!outputs) {
        json_decref(preview);
        return NULL;
    }
    return json_pack("{s:o, s:o, s:o, s:f, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:b, s:o}",
                     "id", jtext(id), "kind", jtext(oma_stmt_text(st, 1)), "status", jtext(oma_stmt_text(st, 2)),
                     "progress", oma_stmt_double(st, 3), "message", jtext(oma_stmt_text(st, 4)), "params",
                     jparsed(oma_stmt_text(st, 5), json_object()), "inputs",
                     jparsed(oma_stmt_text(st, 6), json_object()), "result",
                     jparsed(oma_stmt_text(st, 7), json_null()), "outputs", outputs, "error",
                     jtext(oma_stmt_text(st, 8)), "attempts", (json_int_t)oma_stmt_int(st, 9), "max_attempts",
                     (json_int_t)oma_stmt_int(st, 16), "created_at", jtext(oma_stmt_text(st, 10)), "started_at",
                     jtext(oma_stmt_text(st, 11)), "finished_at", jtext(oma_stmt_text(st, 12)), "webtoon_id",
                     jtext(oma_stmt_text(st, 13)), "preview", preview, "cancel_requested",
                     oma_stmt_int(st, 15) != 0, "detail",
                     full ? jparsed(oma_stmt_text(st, 17), json_null())
                          : oma_jobs_detail_window(jparsed(oma_stmt_text(st, 17), json_null())));
}

static json_t *get_json(oma_db *db, const char *job_id, const char *artist_id, int full)
{
    if (!job_id) return NULL;
    oma_stmt *st = NULL;
    const char *sql = artist_id ? "SELECT " JOB_COLS " FROM jobs WHERE id = ? AND artist_id = ?"
                                : "SELECT " JOB_COLS " FROM jobs WHERE id = ?";
    if (oma_db_prepare(db, sql, &st) != 0 || oma_stmt_bind_text(st, 1, job_id) != 0 ||
        (artist_id && oma_stmt_bind_text(st, 2, artist_id) != 0)) {
        oma_stmt_finalize(st);
        return NULL;
    }
    json_t *out = oma_stmt_step(st) == 1 ? row_json(db, st, full) : NULL;
    oma_stmt_finalize(st);
    return out;
}

json_t *oma_jobs_get_json(oma_db *db, const char *job_id, const char *artist_id)
{
    return get_json(db, job_id, artist_id, 0);
}

json_t *oma_jobs_get_json_full(oma_db *db, const char *job_id, const char *artist_id)
{
    return get_json(db, job_id, artist_id, 1);
}

json_t *oma_jobs_list_json(oma_db *db, const char *artist_id, int limit)
{
    if (!artist_id) return NULL;
    if (limit < 1) limit = 1;
    if (limit > 100) limit = 100;
    json_t *arr = json_array();
    oma_stmt *st = NULL;
    if (!arr ||
        oma_db_prepare(db,
                       "SELECT " JOB_COLS " FROM jobs WHERE artist_id = ? ORDER BY created_at DESC, enqueued_us DESC "
                       "LIMIT ?",
                       &st) != 0 ||
        oma_stmt_bind_text(st, 1, artist_id) != 0 || oma_stmt_bind_int(st, 2, limit) != 0) {
        oma_stmt_finalize(st);
        json_decref(arr);
        return NULL;
    }
    int rc;
    while ((rc = oma_stmt_step(st)) == 1) {
        json_t *o = row_json(db, st, 0);
        if (!o || json_array_append_new(arr, o) != 0) {
            rc = -1;
            break;
        }
    }
    oma_stmt_finalize(st);
    if (rc != 0) {
        json_decref(arr);
        return NULL;
    }
    return json_pack("{s:o}", "jobs", arr);
}

/* ---- state changes ---- */

int oma_jobs_cancel(oma_db *db, const char *job_id, const char *artist_id)
{
    if (!job_id || !artist_id) return 1;
    char now[32];
    oma_db_now(now, sizeof now);
    if (oma_db_exec_bound(db,
                          "UPDATE jobs SET status = 'cancelled', finished_at = ?, message = 'cancelled' "
                          "WHERE id = ? AND artist_id = ? AND status = 'queued'",
                          now, job_id, artist_id) != 0)
        return -1;
    if (oma_db_changes(db) > 0) return 0;
    if (oma_db_exec_bound(db,
                          "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND artist_id = ? AND status = 'running'",
                          job_id, artist_id, NULL) != 0)
        return -1;
    if (oma_db_changes(db) > 0) return 0;
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT 1 FROM jobs WHERE id = ? AND artist_id = ?", &st) != 0 ||
        oma_stmt_bind_text(st, 1, job_id) != 0 || oma_stmt_bind_text(st, 2, artist_id) != 0) {
        oma_stmt_finalize(st);
        return -1;
    }
    int rc = oma_stmt_step(st);
    oma_stmt_finalize(st);
    return rc == 1 ? 0 : rc == 0 ? 1 : -1;
}

int oma_jobs_count_queued(oma_db *db, const char *artist_id)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND artist_id = ?", &st) != 0 ||
        oma_stmt_bind_text(st, 1, artist_id) != 0) {
        oma_stmt_finalize(st);
        return -1;
    }
    int rc = oma_stmt_step(st);
    int n = rc == 1 ? (int)oma_stmt_int(st, 0) : -1;
    oma_stmt_finalize(st);
    return n;
}

/* Copies at most MESSAGE_MAX bytes of s, not cutting a UTF-8 sequence in half. */
static void cut_message(char *dst, const char *s)
{
    size_t n = strlen(s);
    if (n > MESSAGE_MAX) {
        n = MESSAGE_MAX;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
    }
    memcpy(dst, s, n);
    dst[n] = '\0';
}

int oma_jobs_heartbeat(oma_db *db, const char *job_id, const char *worker_id, int64_t now, double progress,
                       const char *message, const char *preview_key)
{
    if (!job_id || !worker_id) return oma_db_fail(db, "heartbeat: bad arguments");
    char stamp[32], msg[MESSAGE_MAX + 1];
    oma_db_now(stamp, sizeof stamp);
    if (message) cut_message(msg, message);
    if (!(progress >= 0)) progress = -1; /* NaN or negative: leave unchanged */
    if (progress > 1) progress = 1;
    oma_stmt *st = NULL;
    /* Branch in C rather than in SQL, so no placeholder needs its type guessed (libpq). */
    int with_progress = progress >= 0;
    const char *sql = with_progress ? "UPDATE jobs SET lease_until = ?, heartbeat_at = ?, "
                                      "message = COALESCE(?, message), preview_key = COALESCE(?, preview_key), "
                                      "progress = ? WHERE id = ? AND worker_id = ? AND status = 'running'"
                                    : "UPDATE jobs SET lease_until = ?, heartbeat_at = ?, "
                                      "message = COALESCE(?, message), preview_key = COALESCE(?, preview_key) "
                                      "WHERE id = ? AND worker_id = ? AND status = 'running'";
    int i = 5;
    int ok = oma_db_prepare(db, sql, &st) == 0 && oma_stmt_bind_int(st, 1, now + oma_jobs_lease_seconds()) == 0 &&
             oma_stmt_bind_text(st, 2, stamp) == 0 && oma_stmt_bind_text(st, 3, message ? msg : NULL) == 0 &&
             oma_stmt_bind_text(st, 4, preview_key) == 0 &&
             (!with_progress || oma_stmt_bind_double(st, i++, progress) == 0) &&
             oma_stmt_bind_text(st, i, job_id) == 0 && oma_stmt_bind_text(st, i + 1, worker_id) == 0 &&
             oma_stmt_step(st) == 0;
    oma_stmt_finalize(st);
    if (!ok) return -1;
    if (oma_db_changes(db) == 0) return 2;
    st = NULL;
    if (oma_db_prepare(db, "SELECT cancel_requested FROM jobs WHERE id = ?", &st) != 0 ||
        oma_stmt_bind_text(st, 1, job_id) != 0) {
        oma_stmt_finalize(st);
        return -1;
    }
    int rc = oma_stmt_step(st);
    int cancel = rc == 1 && oma_stmt_int(st, 0) != 0;
    oma_stmt_finalize(st);
    if (rc < 0) return -1;
    return cancel ? 1 : 0;
}

int oma_jobs_set_detail(oma_db *db, const char *job_id, const char *worker_id, const json_t *detail)
{
    int64_t written = 0;
    return oma_jobs_set_detail_run(db, job_id, worker_id, detail, &written);
}

int oma_jobs_set_detail_run(oma_db *db, const char *job_id, const char *worker_id,
                            const json_t *detail, int64_t *written)
{
    if (!job_id || !worker_id || !written) return oma_db_fail(db, "set_detail: bad arguments");
    /* the row gets the latest window of the losses; the points go to job_losses below */
    const json_t *losses = json_is_object(detail) ? json_object_get(detail, "losses") : NULL;
    json_t *row = NULL;
    if (json_is_array(losses)) {
        row = oma_jobs_detail_window(json_copy((json_t *)detail));  /* shallow: shares values */
        if (!json_is_object(row)) {
            json_decref(row);
            return oma_db_fail(db, "set_detail: out of memory");
        }
    }
    char *text = detail ? json_dumps(row ? row : detail, JSON_COMPACT) : NULL;
    json_decref(row);
    if (detail && !text) return oma_db_fail(db, "set_detail: cannot serialise the detail");
    if (text && strlen(text) > OMA_JOB_DETAIL_MAX) {
        free(text);
        return oma_db_fail(db, "set_detail: the detail is over %d bytes", OMA_JOB_DETAIL_MAX);
    }
    oma_stmt *st = NULL;
    int ok = oma_db_prepare(db, "UPDATE jobs SET detail = ? WHERE id = ? AND worker_id = ? AND status = 'running'",
                            &st) == 0 &&
             oma_stmt_bind_text(st, 1, text) == 0 && oma_stmt_bind_text(st, 2, job_id) == 0 &&
             oma_stmt_bind_text(st, 3, worker_id) == 0 && oma_stmt_step(st) == 0;
    oma_stmt_finalize(st);
    free(text);
    if (!ok) return -1;
    if (oma_db_changes(db) == 0) return 2;
    return json_is_array(losses) ? oma_jobs_store_losses(db, job_id, losses, written) : 0;
}

int oma_jobs_add_output_row(oma_db *db, const char *job_id, const char *name, const char *mime,
                            const char *storage_key, int64_t bytes)
{
    oma_stmt *st = NULL;
    int ok = oma_db_prepare(db,
                            "INSERT INTO job_outputs (job_id, name, mime, storage_key, bytes, seq) VALUES "
                            "(?, ?, ?, ?, ?, (SELECT COUNT(*) FROM job_outputs WHERE job_id = ?)) "
                            "ON CONFLICT (job_id, name) DO UPDATE SET mime = excluded.mime, "
                            "storage_key = excluded.storage_key, bytes = excluded.bytes",
                            &st) == 0 &&
             oma_stmt_bind_text(st, 1, job_id) == 0 && oma_stmt_bind_text(st, 2, name) == 0 &&
             oma_stmt_bind_text(st, 3, mime) == 0 && oma_stmt_bind_text(st, 4, storage_key) == 0 &&
             oma_stmt_bind_int(st, 5, bytes) == 0 && oma_stmt_bind_text(st, 6, job_id) == 0 && oma_stmt_step(st) == 0;
    oma_stmt_finalize(st);
    return ok ? 0 : -1;
}

int oma_jobs_finish(oma_db *db, const char *job_id, const char *worker_id, const char *status,
                    const json_t *result, const char *error)
{
    if (!job_id || !worker_id || !status) return oma_db_fail(db, "finish: bad arguments");
    int requeue = strcmp(status, "queued") == 0;
    int success = strcmp(status, "succeeded") == 0;
    if (!requeue && !success && strcmp(status, "failed") != 0 && strcmp(status, "cancelled") != 0)
        return oma_db_fail(db, "finish: unknown status %s", status);
    char *rtext = NULL;
    if (success && result) {
        rtext = json_dumps(result, JSON_COMPACT);
        if (!rtext) return oma_db_fail(db, "finish: cannot serialise the result");
    }
    char stamp[32], msg[MESSAGE_MAX + 1] = "";
    oma_db_now(stamp, sizeof stamp);
    if (error) cut_message(msg, error);
    oma_stmt *st = NULL;
    int ok;
    if (requeue) {
        ok = oma_db_prepare(db,
                            "UPDATE jobs SET status = 'queued', attempts = CASE WHEN attempts > 0 THEN attempts - 1 "
                            "ELSE 0 END, worker_id = NULL, lease_until = NULL, progress = 0, "
                            "message = 'waiting (the worker was stopped)' "
                            "WHERE id = ? AND worker_id = ? AND status = 'running'",
                            &st) == 0 &&
             oma_stmt_bind_text(st, 1, job_id) == 0 && oma_stmt_bind_text(st, 2, worker_id) == 0 &&
             oma_stmt_step(st) == 0;
    } else {
        ok = oma_db_prepare(db,
                            success ? "UPDATE jobs SET status = ?, result = ?, error = ?, finished_at = ?, "
                                      "lease_until = NULL, progress = 1, message = ? "
                                      "WHERE id = ? AND worker_id = ? AND status = 'running'"
                                    : "UPDATE jobs SET status = ?, result = ?, error = ?, finished_at = ?, "
                                      "lease_until = NULL, message = ? "
                                      "WHERE id = ? AND worker_id = ? AND status = 'running'",
                            &st) == 0 &&
             oma_stmt_bind_text(st, 1, status) == 0 && oma_stmt_bind_text(st, 2, rtext) == 0 &&
             oma_stmt_bind_text(st, 3, success ? NULL : error ? msg : status) == 0 &&
             oma_stmt_bind_text(st, 4, stamp) == 0 && oma_stmt_bind_text(st, 5, success ? "done" : status) == 0 &&
             oma_stmt_bind_text(st, 6, job_id) == 0 && oma_stmt_bind_text(st, 7, worker_id) == 0 &&
             oma_stmt_step(st) == 0;
    }
    oma_stmt_finalize(st);
    free(rtext);
    if (!ok) return -1;
    if (oma_db_changes(db) == 0) return 1;
    if (!success && oma_db_exec_bound(db, "DELETE FROM job_outputs WHERE job_id = ?", job_id, NULL, NULL) != 0) return -1;
    return 0;
}

int oma_jobs_requeue_expired(oma_db *db, int64_t now)
{
    if (oma_db_begin(db) != 0) return -1;
    char stamp[32];
    oma_db_now(stamp, sizeof stamp);
    int64_t changed = 0;
    oma_stmt *st = NULL;
    /* Jobs whose cancel was pending simply end cancelled. */
    int ok = oma_db_prepare(db,
                            "UPDATE jobs SET status = 'cancelled', finished_at = ?, lease_until = NULL, "
                            "message = 'cancelled' "
                            "WHERE status = 'running' AND lease_until < ? AND cancel_requested <> 0",
                            &st) == 0 &&
             oma_stmt_bind_text(st, 1, stamp) == 0 && oma_stmt_bind_int(st, 2, now) == 0 && oma_stmt_step(st) == 0;
    oma_stmt_finalize(st);
    st = NULL;
    if (!ok) goto fail;
    changed += oma_db_changes(db);
    /* Jobs that used every attempt fail, saying how often their worker died. */
    ok = oma_db_prepare(db, "SELECT id, attempts FROM jobs WHERE status = 'running' AND lease_until < ? "
                            "AND attempts >= max_attempts",
                        &st) == 0 &&
         oma_stmt_bind_int(st, 1, now) == 0;
    if (!ok) goto fail;
    typedef struct {
        char id[48];
        int64_t attempts;
    } dead_t;
    dead_t *dead = NULL;
    size_t n_dead = 0;
    int rc;
    while ((rc = oma_stmt_step(st)) == 1) {
        dead_t *nd = realloc(dead, (n_dead + 1) * sizeof *nd);
        if (!nd) {
            rc = -1;
            break;
        }
        dead = nd;
        snprintf(dead[n_dead].id, sizeof dead[n_dead].id, "%s", oma_stmt_text(st, 0) ? oma_stmt_text(st, 0) : "");
        dead[n_dead].attempts = oma_stmt_int(st, 1);
        n_dead++;
    }
    oma_stmt_finalize(st);
    st = NULL;
    for (size_t i = 0; rc == 0 && i < n_dead; i++) {
        char msg[96];
        snprintf(msg, sizeof msg, "worker died %lld time%s", (long long)dead[i].attempts,
                 dead[i].attempts == 1 ? "" : "s");
        ok = oma_db_prepare(db,
                            "UPDATE jobs SET status = 'failed', error = ?, message = 'failed', finished_at = ?, "
                            "lease_until = NULL WHERE id = ? AND status = 'running'",
                            &st) == 0 &&
             oma_stmt_bind_text(st, 1, msg) == 0 && oma_stmt_bind_text(st, 2, stamp) == 0 &&
             oma_stmt_bind_text(st, 3, dead[i].id) == 0 && oma_stmt_step(st) == 0;
        oma_stmt_finalize(st);
        st = NULL;
        if (!ok) rc = -1;
        else changed += oma_db_changes(db);
    }
    free(dead);
    if (rc != 0) goto fail;
    /* Everything else goes back to the queue, keeping its place (enqueued_us is unchanged). */
    ok = oma_db_prepare(db,
                        "UPDATE jobs SET status = 'queued', worker_id = NULL, lease_until = NULL, progress = 0, "
                        "message = 'waiting (its worker stopped responding)' "
                        "WHERE status = 'running' AND lease_until < ? AND attempts < max_attempts",
                        &st) == 0 &&
         oma_stmt_bind_int(st, 1, now) == 0 && oma_stmt_step(st) == 0;
    oma_stmt_finalize(st);
    st = NULL;
    if (!ok) goto fail;
    changed += oma_db_changes(db);
    if (oma_db_commit(db) != 0) goto fail;
    return (int)changed;
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
