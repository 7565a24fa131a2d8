/* workers.c — the one-job run loop that every worker thread (and `oma_workers_run_one`) uses.
 *
 * Running a job: claim it (jobs.c), load its params (filling params.style from the artist's
 * styles row when params.style_id is set) and its input uploads from storage, then call the
 * kind from the pipelines registry with a context whose callbacks write back into the row:
 * progress/message/preview at most ~5 times a second, each write renewing the lease and
 * reading cancel_requested; a timer thread renews the lease too, so a kind that reports
 * rarely does not lose its job. Outputs go to storage under jobs/<id>/<name>. The end state
 * is written only if the job is still this worker's. A kind may also report a detail object
 * (the row's detail column) and keep state files that outlive an attempt (a training
 * checkpoint) under jobstate/<id>/, dropped once the job ends. The thread pool that loops over this
 * lives in workers_pool.c.
 */
#include "server/jobs/jobs.h"
#include "server/jobs/workers_internal.h"

#include "pipelines/job_kind.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define INPUT_MAX_BYTES ((size_t)64 << 20)     /* one upload (uploads are limited to 20 MiB) */
#define INPUTS_TOTAL_MAX ((size_t)512 << 20)   /* all inputs of one job */
#define OUTPUTS_MAX 64
#define OUTPUTS_TOTAL_MAX ((size_t)1 << 30)
#define PREVIEW_MAX_BYTES ((size_t)8 << 20)
#define PROGRESS_MIN_INTERVAL_US 200000        /* at most ~5 row writes per second */

typedef struct run_state {
    oma_db *db;
    oma_storage *st;
    const char *job_id;
    const char *worker_id;
    const atomic_int *stop;   /* the pool is shutting down (may be NULL) */
    pthread_mutex_t mu;       /* one thread at a time on db (job thread vs lease timer) */
    atomic_int cancel;        /* 1 cancel requested, 2 lease lost */
    _Atomic int64_t last_write_us;  /* kinds may report from helper threads */
    int64_t losses_written;         /* the last loss step stored (jobs_losses.c), under mu */
    size_t n_outputs, out_bytes;     /* guarded by mu */
    /* lease timer */
    pthread_t timer;
    pthread_cond_t cv;
    int timer_quit;
} run_state;

static void note_heartbeat(run_state *rs, int rc)
{
    if (rc == 1 || rc == 2) atomic_store(&rs->cancel, rc);
}

static int interrupted(run_state *rs)
{
    return atomic_load(&rs->cancel) != 0 || (rs->stop && atomic_load(rs->stop));
}

/* Writes progress into the row, at most ~5 times a second; the final report, a detail that
 * comes with a preview (a sample image is never lost to the rate limit) and a detail reported
 * while the job is being stopped (the state it is left in) are always written. */
static int report(oma_job_ctx *ctx, double fraction, const char *message, const json_t *detail,
                  const uint8_t *preview_png, size_t preview_len)
{
    run_state *rs = ctx->opaque;
    int64_t now_us = oma_db_unix_now_us();
    int64_t last = atomic_load(&rs->last_write_us);
    int must = fraction >= 1.0 || (preview_png && preview_len > 0 && detail) || (detail && interrupted(rs));
    if ((now_us - last >= PROGRESS_MIN_INTERVAL_US || must) &&
        (atomic_compare_exchange_strong(&rs->last_write_us, &last, now_us) || must)) {
        if (!(fraction >= 0)) fraction = 0;
        if (fraction > 1) fraction = 1;
        char key[96];
        const char *preview_key = NULL;
        if (preview_png && preview_len > 0 && preview_len <= PREVIEW_MAX_BYTES) {
            char err[256];
            snprintf(key, sizeof key, "jobs/%s/preview.png", rs->job_id);
            if (oma_storage_put(rs->st, key, preview_png, preview_len, err, sizeof err) == 0) preview_key = key;
        }
        pthread_mutex_lock(&rs->mu);
        int rc = detail ? oma_jobs_set_detail_run(rs->db, rs->job_id, rs->worker_id, detail,
                                                  &rs->losses_written)
                        : 0;
        if (rc < 0) fprintf(stderr, "oma: job %s: cannot write progress detail: %s\n", rs->job_id, oma_db_errmsg(rs->db));
        rc = oma_jobs_heartbeat(rs->db, rs->job_id, rs->worker_id, oma_db_unix_now(), fraction, message,
                                preview_key);
        pthread_mutex_unlock(&rs->mu);
        note_heartbeat(rs, rc);
    }
    return interrupted(rs);
}

static int cb_progress(oma_job_ctx *ctx, double fraction, const char *message, const uint8_t *preview_png,
                       size_t preview_len)
{
    return report(ctx, fraction, message, NULL, preview_png, preview_len);
}

static int cb_progress_detail(oma_job_ctx *ctx, double fraction, const char *message, const json_t *detail,
                              const uint8_t *preview_png, size_t preview_len)
{
    if (detail && !json_is_object(detail)) detail = NULL;
    return report(ctx, fraction, message, detail, preview_png, preview_len);
}

static int cb_state_put(oma_job_ctx *ctx, const char *name, const char *path, char *err, size_t errlen)
{
    run_state *rs = ctx->opaque;
    return oma_job_state_put(rs->st, rs->job_id, name, path, err, errlen);
}

static int cb_state_get(oma_job_ctx *ctx, const char *name, const char *path, size_t max_len, char *err,
                        size_t errlen)
{
    run_state *rs = ctx->opaque;
    return oma_job_state_get(rs->st, rs->job_id, name, path, max_len, err, errlen);
}

static int output_name_ok(const char *name)
{
    return name && strlen(name) <= 100 && !strchr(name, '/') && oma_storage_key_valid(name) &&
           strcmp(name, "preview.png") != 0;
}

static int cb_add_output(oma_job_ctx *ctx, const char *name, const char *mime, const uint8_t *data, size_t len)
{
    run_state *rs = ctx->opaque;
    if (!output_name_ok(name) || !mime || !*mime || strlen(mime) > 100 || (!data && len)) {
        snprintf(ctx->error, sizeof ctx->error, "bad output name or type");
        return -1;
    }
    pthread_mutex_lock(&rs->mu);
    int full = rs->n_outputs >= OUTPUTS_MAX || len > OUTPUTS_TOTAL_MAX - rs->out_bytes;
    if (!full) {
        rs->n_outputs++; /* reserve the room now; a failed store gives it back below */
        rs->out_bytes += len;
    }
    pthread_mutex_unlock(&rs->mu);
    if (full) {
        snprintf(ctx->error, sizeof ctx->error, "too many or too large outputs");
        return -1;
    }
    char key[160], err[256];
    snprintf(key, sizeof key, "jobs/%s/%s", rs->job_id, name);
    int rc = oma_storage_put(rs->st, key, data, len, err, sizeof err);
    if (rc != 0) snprintf(ctx->error, sizeof ctx->error, "cannot store output %s: %s", name, err);
    pthread_mutex_lock(&rs->mu);
    if (rc == 0) {
        rc = oma_jobs_add_output_row(rs->db, rs->job_id, name, mime, key, (int64_t)len);
        if (rc != 0)
            snprintf(ctx->error, sizeof ctx->error, "cannot record output %s: %s", name, oma_db_errmsg(rs->db));
    }
    if (rc != 0) {
        rs->n_outputs--;
        rs->out_bytes -= len;
    }
    pthread_mutex_unlock(&rs->mu);
    return rc != 0 ? -1 : 0;
}

/* Renews the lease every lease/3 seconds while the kind runs. */
static void *lease_timer(void *arg)
{
    run_state *rs = arg;
    int64_t interval_ms = (int64_t)oma_jobs_lease_seconds() * 1000 / 3;
    if (interval_ms < 100) interval_ms = 100;
    pthread_mutex_lock(&rs->mu);
    while (!rs->timer_quit) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += interval_ms / 1000;
        until.tv_nsec += (interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        int rc = 0;
        while (!rs->timer_quit && rc != ETIMEDOUT) rc = pthread_cond_timedwait(&rs->cv, &rs->mu, &until);
        if (rs->timer_quit) break;
        int hb = oma_jobs_heartbeat(rs->db, rs->job_id, rs->worker_id, oma_db_unix_now(), -1, NULL, NULL);
        note_heartbeat(rs, hb);
    }
    pthread_mutex_unlock(&rs->mu);
    return NULL;
}

/* ---- loading a job ---- */

typedef struct job_row {
    char kind[80];
    char artist_id[80];
    char webtoon_id[80];
    int has_webtoon;
    json_t *params;
    json_t *inputs;
} job_row;

static int load_row(oma_db *db, const char *job_id, job_row *row, char *err, size_t errlen)
{
    oma_stmt *st = NULL;
    int step = -1;
    if (oma_db_prepare(db, "SELECT kind, artist_id, webtoon_id, params, inputs FROM jobs WHERE id = ?", &st) != 0 ||
        oma_stmt_bind_text(st, 1, job_id) != 0 || (step = oma_stmt_step(st)) != 1) {
        /* no row is not a database error: say so rather than print an unrelated message */
        if (step == 0) snprintf(err, errlen, "job %s no longer exists", job_id);
        else snprintf(err, errlen, "cannot load job %s: %s", job_id, oma_db_errmsg(db));
        oma_stmt_finalize(st);
        return -1;
    }
    const char *kind = oma_stmt_text(st, 0), *artist = oma_stmt_text(st, 1), *webtoon = oma_stmt_text(st, 2);
    snprintf(row->kind, sizeof row->kind, "%s", kind ? kind : "");
    snprintf(row->artist_id, sizeof row->artist_id, "%s", artist ? artist : "");
    row->has_webtoon = webtoon != NULL;
    snprintf(row->webtoon_id, sizeof row->webtoon_id, "%s", webtoon ? webtoon : "");
    const char *p = oma_stmt_text(st, 3), *in = oma_stmt_text(st, 4);
    row->params = p ? json_loads(p, 0, NULL) : json_object();
    row->inputs = in ? json_loads(in, 0, NULL) : json_object();
    oma_stmt_finalize(st);
    if (!json_is_object(row->params) || !json_is_object(row->inputs)) {
        snprintf(err, errlen, "the job's stored params or inputs are not JSON objects");
        return -1;
    }
    return 0;
}

typedef struct loaded_inputs {
    oma_job_input *v;
    uint8_t **bufs;
    char **mimes;
    size_t n;
} loaded_inputs;

static void free_inputs(loaded_inputs *li)
{
    for (size_t i = 0; i < li->n; i++) {
        free(li->bufs[i]);
        free(li->mimes[i]);
    }
    free(li->v);
    free(li->bufs);
    free(li->mimes);
    memset(li, 0, sizeof *li);
}

static int load_one_input(oma_db *db, oma_storage *s, const char *artist_id, const char *name, const char *upload_id,
                          loaded_inputs *li, size_t *total, char *err, size_t errlen)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT storage_key, mime FROM uploads WHERE id = ? AND artist_id = ?", &st) != 0 ||
        oma_stmt_bind_text(st, 1, upload_id) != 0 || oma_stmt_bind_text(st, 2, artist_id) != 0) {
        snprintf(err, errlen, "input %s: %s", name, oma_db_errmsg(db));
        oma_stmt_finalize(st);
        return -1;
    }
    int rc = oma_stmt_step(st);
    if (rc != 1) {
        snprintf(err, errlen, "input %s: upload %.40s %s", name, upload_id, rc == 0 ? "not found" : "lookup failed");
        oma_stmt_finalize(st);
        return -1;
    }
    char key[600];
    snprintf(key, sizeof key, "%s", oma_stmt_text(st, 0) ? oma_stmt_text(st, 0) : "");
    char *mime = strdup(oma_stmt_text(st, 1) ? oma_stmt_text(st, 1) : "application/octet-stream");
    oma_stmt_finalize(st);
    if (!mime) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    uint8_t *data = NULL;
    size_t len = 0;
    char serr[256] = "";
    size_t room = INPUTS_TOTAL_MAX - *total;
    rc = oma_storage_get(s, key, room < INPUT_MAX_BYTES ? room : INPUT_MAX_BYTES, &data, &len, serr, sizeof serr);
    if (rc != 0) {
        snprintf(err, errlen, "input %s: %s", name, rc == 1 ? "the upload's file is missing" : serr);
        free(mime);
        return -1;
    }
    li->bufs[li->n] = data;
    li->mimes[li->n] = mime;
    li->v[li->n] = (oma_job_input){.name = name, .data = data, .len = len, .mime = mime};
    li->n++;
    *total += len;
    return 0;
}

/* Loads every upload named in inputs (name -> id or [ids]); names point into the json. */
static int load_inputs(oma_db *db, oma_storage *s, const char *artist_id, json_t *inputs, loaded_inputs *li,
                       char *err, size_t errlen)
{
    size_t count = 0;
    const char *name;
    json_t *v;
    json_object_foreach(inputs, name, v) count += json_is_array(v) ? json_array_size(v) : 1;
    if (count > 64) {
        snprintf(err, errlen, "too many inputs");
        return -1;
    }
    if (count == 0) return 0;
    li->v = calloc(count, sizeof *li->v);
    li->bufs = calloc(count, sizeof *li->bufs);
    li->mimes = calloc(count, sizeof *li->mimes);
    if (!li->v || !li->bufs || !li->mimes) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t total = 0;
    json_object_foreach(inputs, name, v) {
        if (json_is_array(v)) {
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e) {
                if (!json_is_string(e)) {
                    snprintf(err, errlen, "input %s: not an upload id", name);
                    return -1;
                }
                if (load_one_input(db, s, artist_id, name, json_string_value(e), li, &total, err, errlen) != 0)
                    return -1;
            }
        } else if (json_is_string(v)) {
            if (load_one_input(db, s, artist_id, name, json_string_value(v), li, &total, err, errlen) != 0) return -1;
        } else {
            snprintf(err, errlen, "input %s: not an upload id", name);
            return -1;
        }
    }
    return 0;
}

typedef struct key_list {
    char keys[OUTPUTS_MAX + 2][160];
    int n;
} key_list;

static int collect_key(const char *key, size_t len, void *ud)
{
    (void)len;
    key_list *acc = ud;
    if (acc->n >= OUTPUTS_MAX + 2) return 1;
    size_t n = strlen(key);
    if (n >= 12 && strcmp(key + n - 12, "/preview.png") == 0) return 0; /* the row still points at it */
    snprintf(acc->keys[acc->n++], sizeof acc->keys[0], "%s", key);
    return 0;
}

/* Removes the stored outputs of an attempt that did not succeed (the preview stays). */
static void drop_output_files(oma_storage *s, const char *job_id)
{
    char prefix[96], err[256];
    snprintf(prefix, sizeof prefix, "jobs/%s/", job_id);
    key_list *acc = calloc(1, sizeof *acc);
    if (!acc) return;
    if (oma_storage_list(s, prefix, collect_key, acc, err, sizeof err) == 0)
        for (int i = 0; i < acc->n; i++) oma_storage_delete(s, acc->keys[i], err, sizeof err);
    free(acc);
}

/* 1 when the job ended cancelled or failed. */
static int ended_unsuccessfully(oma_db *db, const char *job_id)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT status FROM jobs WHERE id = ?", &st) != 0 || oma_stmt_bind_text(st, 1, job_id) != 0) {
        oma_stmt_finalize(st);
        return 0;
    }
    int rc = oma_stmt_step(st);
    const char *status = rc == 1 ? oma_stmt_text(st, 0) : NULL;
    int ended = status && (strcmp(status, "cancelled") == 0 || strcmp(status, "failed") == 0);
    oma_stmt_finalize(st);
    return ended;
}

/* 0 when job_id is still running under worker_id, 1 when not, -1 on error. */
static int still_mine(oma_db *db, const char *job_id, const char *worker_id)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT 1 FROM jobs WHERE id = ? AND worker_id = ? AND status = 'running'", &st) != 0 ||
        oma_stmt_bind_text(st, 1, job_id) != 0 || oma_stmt_bind_text(st, 2, worker_id) != 0) {
        oma_stmt_finalize(st);
        return -1;
    }
    int rc = oma_stmt_step(st);
    oma_stmt_finalize(st);
    return rc == 1 ? 0 : rc == 0 ? 1 : -1;
}

/* Writes the end state; a failure to write is reported on stderr (the lease then expires and
 * the job is retried). 0 when written, -1 when not. */
static int finish(oma_db *db, const char *job_id, const char *worker_id, const char *status, const job_row *row,
                   json_t *result, const char *error)
{
    if (oma_db_begin(db) != 0) {
        fprintf(stderr, "oma: job %s: cannot finish: %s\n", job_id, oma_db_errmsg(db));
        return -1;
    }
    /* if the job is no longer this worker's (its lease was taken back, or its webtoon was
     * deleted and the job cancelled) nothing is written, no style either */
    int rc = still_mine(db, job_id, worker_id);
    if (rc == 0 && strcmp(status, "succeeded") == 0 && row && result)
        rc = oma_workers_save_style(db, job_id, row->artist_id, row->has_webtoon ? row->webtoon_id : NULL,
                                    row->params, result);
    if (rc == 0) rc = oma_jobs_finish(db, job_id, worker_id, status, result, error);
    if (rc == 0 && oma_db_commit(db) == 0) return 0;
    if (rc != 1) fprintf(stderr, "oma: job %s: cannot finish: %s\n", job_id, oma_db_errmsg(db));
    oma_db_rollback(db);
    return -1;
}

int oma_workers_run_one_ex(oma_db *db, oma_storage *st, const char *models_dir, const char *data_dir,
                           const char *worker_id, const atomic_int *stop, oma_kind_finder find, char *err,
                           size_t errlen)
{
    return oma_workers_run_one_kinds(db, st, models_dir, data_dir, worker_id, stop, find, NULL, err, errlen);
}

int oma_workers_run_one_kinds(oma_db *db, oma_storage *st, const char *models_dir, const char *data_dir,
                              const char *worker_id, const atomic_int *stop, oma_kind_finder find,
                              const char *kinds, char *err, size_t errlen)
{
    char job_id[48];
    int claimed = oma_jobs_claim_kinds(db, worker_id, oma_db_unix_now(), kinds, job_id, sizeof job_id);
    if (claimed < 0) {
        snprintf(err, errlen, "cannot claim a job: %s", oma_db_errmsg(db));
        return -1;
    }
    if (claimed == 0) return 0;

    job_row row = {0};
    loaded_inputs li = {0};
    char why[512] = "";
    const oma_job_kind *kind = NULL;
    if (load_row(db, job_id, &row, why, sizeof why) != 0) goto failed;
    kind = find ? find(row.kind) : oma_job_kind_find(row.kind);
    if (!kind || !kind->run) {
        snprintf(why, sizeof why, "unknown job kind \"%.64s\"", row.kind);
        goto failed;
    }
    if (kind->available && !kind->available(models_dir)) {
        snprintf(why, sizeof why, "%s is not available on this server (its model weights are missing)", row.kind);
        goto failed;
    }
    if (oma_workers_fill_style(db, st, data_dir, row.artist_id, row.params, why, sizeof why) != 0) goto failed;
    if (load_inputs(db, st, row.artist_id, row.inputs, &li, why, sizeof why) != 0) goto failed;

    run_state rs = {.db = db, .st = st, .job_id = job_id, .worker_id = worker_id, .stop = stop};
    atomic_init(&rs.cancel, 0);
    atomic_init(&rs.last_write_us, 0);
    if (pthread_mutex_init(&rs.mu, NULL) != 0) {
        snprintf(why, sizeof why, "cannot start the job");
        goto failed;
    }
    if (pthread_cond_init(&rs.cv, NULL) != 0) {
        pthread_mutex_destroy(&rs.mu);
        snprintf(why, sizeof why, "cannot start the job");
        goto failed;
    }
    oma_job_ctx ctx = {
        .params = row.params,
        .inputs = li.v,
        .n_inputs = li.n,
        .models_dir = models_dir,
        .data_dir = data_dir,
        .progress = cb_progress,
        .add_output = cb_add_output,
        .progress_detail = cb_progress_detail,
        .state_put = cb_state_put,
        .state_get = cb_state_get,
        .opaque = &rs,
    };
    int timer_ok = pthread_create(&rs.timer, NULL, lease_timer, &rs) == 0;
    int rc = kind->run(&ctx);
    if (timer_ok) {
        pthread_mutex_lock(&rs.mu);
        rs.timer_quit = 1;
        pthread_cond_signal(&rs.cv);
        pthread_mutex_unlock(&rs.mu);
        pthread_join(rs.timer, NULL);
    }
    pthread_cond_destroy(&rs.cv);
    pthread_mutex_destroy(&rs.mu);

    /* Learn about a cancel that came after the last progress write. */
    if (atomic_load(&rs.cancel) == 0) {
        int hb = oma_jobs_heartbeat(db, job_id, worker_id, oma_db_unix_now(), -1, NULL, NULL);
        note_heartbeat(&rs, hb);
    }
    int cancel = atomic_load(&rs.cancel);
    if (cancel == 2) {
        fprintf(stderr, "oma: job %s: no longer this worker's (lease lost, or cancelled with its webtoon); "
                        "its result is discarded\n", job_id);
        /* ended for good (its webtoon was deleted, or it failed): what this run stored goes
         * too; a job another worker runs or finished keeps its files */
        if (ended_unsuccessfully(db, job_id)) {
            drop_output_files(st, job_id);
            if (oma_db_exec_bound(db, "DELETE FROM job_outputs WHERE job_id = ?", job_id, NULL, NULL) != 0)
                fprintf(stderr, "oma: job %s: cannot drop its outputs: %s\n", job_id, oma_db_errmsg(db));
        }
    } else if (cancel == 1) {
        drop_output_files(st, job_id);
        if (finish(db, job_id, worker_id, "cancelled", NULL, NULL, NULL) == 0) oma_job_state_drop(st, job_id);
    } else if (rc == 0) {
        json_t *result = json_is_object(ctx.result) ? json_incref(ctx.result) : json_object();
        if (finish(db, job_id, worker_id, "succeeded", &row, result, NULL) == 0) oma_job_state_drop(st, job_id);
        json_decref(result);
    } else if (stop && atomic_load(stop)) {
        drop_output_files(st, job_id);
        finish(db, job_id, worker_id, "queued", NULL, NULL, NULL); /* the state stays: the next attempt resumes */
    } else {
        drop_output_files(st, job_id);
        if (finish(db, job_id, worker_id, "failed", NULL, NULL, ctx.error[0] ? ctx.error : "the job failed") == 0)
            oma_job_state_drop(st, job_id);
    }
    json_decref(ctx.result);
    free_inputs(&li);
    json_decref(row.params);
    json_decref(row.inputs);
    return 1;

failed:
    if (finish(db, job_id, worker_id, "failed", NULL, NULL, why) == 0) oma_job_state_drop(st, job_id);
    free_inputs(&li);
    json_decref(row.params);
    json_decref(row.inputs);
    return 1;
}

int oma_workers_run_one(oma_db *db, oma_storage *st, const char *models_dir, const char *data_dir,
                        const char *worker_id, char *err, size_t errlen)
{
    return oma_workers_run_one_ex(db, st, models_dir, data_dir, worker_id, NULL, NULL, err, errlen);
}
