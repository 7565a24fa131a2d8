/* jobs_losses.c — keeps a long job's events and row small (issue 10 §4). A training kind
 * reports its whole loss history [[total_step, loss], ...] in its detail; the job row keeps only
 * the latest OMA_JOB_LOSS_WINDOW points plus "loss_count" (what the job JSON and every SSE
 * event carry), and the points themselves go to the job_losses table, one row per step,
 * appended as the run goes (each write adds the steps since the run's previous write; a resumed
 * attempt writes its restored history once, replacing the steps it redoes). GET
 * /api/jobs/{id}/losses reads them, for a page that opens (or reloads) mid-run.
 */
#include <math.h>
#include <string.h>

#include "server/jobs/jobs.h"

json_t *oma_jobs_detail_window(json_t *detail)
{
    if (!json_is_object(detail)) return detail;
    json_t *losses = json_object_get(detail, "losses");
    if (!json_is_array(losses)) return detail;
    size_t n = json_array_size(losses);
    json_t *had = json_object_get(detail, "loss_count");
    if ((!json_is_integer(had) || json_integer_value(had) < (json_int_t)n) &&
        json_object_set_new(detail, "loss_count", json_integer((json_int_t)n)) != 0)
        goto oom;
    if (n <= OMA_JOB_LOSS_WINDOW) return detail;
    json_t *w = json_array();
    if (!w) goto oom;
    for (size_t i = n - OMA_JOB_LOSS_WINDOW; i < n; i++)
        if (json_array_append(w, json_array_get(losses, i)) != 0) {
            json_decref(w);
            goto oom;
        }
    if (json_object_set_new(detail, "losses", w) != 0) goto oom;
    return detail;
oom:
    /* never send the unbounded history: without memory, no detail at all */
    json_decref(detail);
    return json_null();
}

/* d[name], or JSON null when absent (a new reference). */
static json_t *field(json_t *d, const char *name)
{
    json_t *v = json_object_get(d, name);
    return v ? json_incref(v) : json_null();
}

/* A point [step, loss] with step >= 1 and a finite loss; 0, or -1 when it is not one. */
static int point(const json_t *e, int64_t *step, double *loss)
{
    const json_t *s = json_array_get(e, 0), *l = json_array_get(e, 1);
    if (!json_is_integer(s) || !json_is_number(l) || json_integer_value(s) < 1) return -1;
    *step = (int64_t)json_integer_value(s);
    *loss = json_number_value(l);
    return isfinite(*loss) ? 0 : -1;
}

int oma_jobs_store_losses(oma_db *db, const char *job_id, const json_t *losses, int64_t *written)
{
    size_t n = json_array_size(losses);
    if (n == 0) return 0;
    int64_t last;
    double v;
    if (point(json_array_get(losses, n - 1), &last, &v) != 0)
        return oma_db_fail(db, "losses: the last point is not [step, loss]");
    /* the first point after *written: walk back from the end (a run appends a few) */
    size_t from = n;
    while (from > 0) {
        int64_t s;
        if (point(json_array_get(losses, from - 1), &s, &v) != 0 || s <= *written) break;
        from--;
    }
    if (oma_db_begin(db) != 0) return -1;
    char lastbuf[32];
    snprintf(lastbuf, sizeof lastbuf, "%lld", (long long)last);
    int ok = oma_db_exec_bound(db, "DELETE FROM job_losses WHERE job_id = ? AND step > CAST(? AS INTEGER)",
                               job_id, lastbuf, NULL) == 0;
    for (size_t i = from; ok && i < n; i++) {
        int64_t s;
        if (point(json_array_get(losses, i), &s, &v) != 0) continue;    /* not a point: skipped */
        oma_stmt *st = NULL;
        ok = oma_db_prepare(db, "INSERT INTO job_losses (job_id, step, loss) VALUES (?, ?, ?) "
                                "ON CONFLICT (job_id, step) DO UPDATE SET loss = excluded.loss",
                            &st) == 0 &&
             oma_stmt_bind_text(st, 1, job_id) == 0 && oma_stmt_bind_int(st, 2, s) == 0 &&
             oma_stmt_bind_double(st, 3, v) == 0 && oma_stmt_step(st) == 0;
        oma_stmt_finalize(st);
    }
    if (!ok || oma_db_commit(db) != 0) {
        oma_db_rollback(db);
        return -1;
    }
    *written = last;
    return 0;
}

/* The job's job_losses rows as [[step, loss], ...]; NULL on error. */
static json_t *stored_losses(oma_db *db, const char *job_id)
{
    oma_stmt *st = NULL;
    json_t *a = json_array();
    if (!a || oma_db_prepare(db, "SELECT step, loss FROM job_losses WHERE job_id = ? ORDER BY step", &st) != 0 ||
        oma_stmt_bind_text(st, 1, job_id) != 0) {
        oma_stmt_finalize(st);
        json_decref(a);
        return NULL;
    }
    int rc;
    while ((rc = oma_stmt_step(st)) == 1)
        if (json_array_append_new(a, json_pack("[I, f]", (json_int_t)oma_stmt_int(st, 0), oma_stmt_double(st, 1))) != 0) {
            rc = -1;
            break;
        }
    oma_stmt_finalize(st);
    if (rc != 0) {
        json_decref(a);
        return NULL;
    }
    return a;
}

json_t *oma_jobs_losses_json(oma_db *db, const char *job_id, const char *artist_id)
{
    json_t *job = oma_jobs_get_json_full(db, job_id, artist_id);
    if (!job) return NULL;
    json_t *d = json_object_get(job, "detail");
    json_t *all = stored_losses(db, job_id);
    if (!all) {
        json_decref(job);
        return NULL;
    }
    if (json_array_size(all) == 0) {   /* a detail written before job_losses: its own array */
        json_t *losses = json_object_get(d, "losses");
        if (json_is_array(losses)) {
            json_decref(all);
            all = json_incref(losses);
        }
    }
    size_t n = json_array_size(all);
    json_t *out = json_pack("{s:o, s:I, s:o, s:o, s:o}", "losses", all, "loss_count", (json_int_t)n,
                            "resumed_from", field(d, "resumed_from"), "sample_steps", field(d, "sample_steps"),
                            "status", field(job, "status"));
    json_decref(job);
    return out;
}
