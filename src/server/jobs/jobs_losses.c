/* jobs_losses.c — keeps a long job's events small (issue 10 §4). A training kind's detail
 * carries its whole loss history [[total_step, loss], ...] in the job row (what a resume and
 * the full curve need), but the job JSON and every SSE event carry only the latest
 * OMA_JOB_LOSS_WINDOW points plus "loss_count"; GET /api/jobs/{id}/losses gives the whole
 * history once, for a page that opens (or reloads) mid-run.
 */
#include <string.h>

#include "server/jobs/jobs.h"

json_t *oma_jobs_detail_window(json_t *detail)
{
    if (!json_is_object(detail)) return detail;
    json_t *losses = json_object_get(detail, "losses");
    if (!json_is_array(losses)) return detail;
    size_t n = json_array_size(losses);
    if (json_object_set_new(detail, "loss_count", json_integer((json_int_t)n)) != 0) goto oom;
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

json_t *oma_jobs_losses_json(oma_db *db, const char *job_id, const char *artist_id)
{
    json_t *job = oma_jobs_get_json_full(db, job_id, artist_id);
    if (!job) return NULL;
    json_t *d = json_object_get(job, "detail");
    json_t *losses = json_object_get(d, "losses");
    size_t n = json_array_size(losses); /* 0 when not an array */
    json_t *all = json_is_array(losses) ? json_incref(losses) : json_array();
    json_t *out = json_pack("{s:o, s:I, s:o, s:o, s:o}", "losses", all, "loss_count", (json_int_t)n,
                            "resumed_from", field(d, "resumed_from"), "sample_steps", field(d, "sample_steps"),
                            "status", field(job, "status"));
    json_decref(job);
    return out;
}
