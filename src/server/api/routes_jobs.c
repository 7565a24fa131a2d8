/* routes_jobs.c — queue a job, read it, follow it (SSE), fetch its files, cancel it.
 *
 * A job request is checked completely before it is queued: the kind must exist and be
 * available, its params must pass the kind's own validation, every input must be one of
 * this artist's uploads, and the required inputs must be there. So a bad request is a 4xx
 * here and never a failed job later.
 */
#include <stdio.h>
#include <string.h>

#include "pipelines/job_kind.h"
#include "pipelines/style/style_profile.h"
#include "server/http/http_routes.h"
#include "server/jobs/jobs.h"
#include "server/server_internal.h"

#define JOB_MAX_INPUT_IDS 64

/* 0 if every id under inputs is the artist's upload; else replied. */
static int check_inputs(oma_req *r, json_t *inputs, const oma_job_kind *k)
{
    const char *name;
    json_t *v;
    size_t total = 0;
    json_object_foreach(inputs, name, v) {
        if (!oma_http_name_valid(name)) {
            oma_reply_error(r, 400, "invalid_params", "input names are plain words");
            return -1;
        }
        size_t n = json_is_array(v) ? json_array_size(v) : 1;
        if (!json_is_string(v) && !(json_is_array(v) && n > 0)) {
            oma_reply_error(r, 400, "invalid_params", "input %s must be an upload id or a list of ids", name);
            return -1;
        }
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_is_array(v) ? json_array_get(v, i) : v;
            if (++total > JOB_MAX_INPUT_IDS) {
                oma_reply_error(r, 400, "invalid_params", "at most %d inputs", JOB_MAX_INPUT_IDS);
                return -1;
            }
            const char *id = json_string_value(e);
            if (!json_is_string(e)) {
                oma_reply_error(r, 400, "invalid_params", "input %s must hold upload ids", name);
                return -1;
            }
            int own = oma_http_id_valid(id) ? oma_route_owned(r, "uploads", id) : 0;
            if (own < 0) return oma_route_dberr(r, "checking inputs");
            if (own == 0) {
                oma_reply_error(r, 404, "not_found", "input %s: no such upload", name);
                return -1;
            }
        }
    }
    for (const char *const *req = k->required_inputs; req && *req; req++)
        if (!json_object_get(inputs, *req)) {
            oma_reply_error(r, 400, "invalid_params", "%s needs the input \"%s\"", k->name, *req);
            return -1;
        }
    return 0;
}

/* What would otherwise only fail once the job runs (202, then failed) is refused now: a
 * style_id that is not a ready style of the artist (here), and a style.profile without a
 * webtoon to keep its style or with a number of samples it cannot use (check_style_profile).
 * 0 fine, else replied. */
static int check_style_id(oma_req *r, const json_t *params)
{
    json_t *sid = json_object_get(params, "style_id");
    if (sid && !json_is_null(sid)) {
        const char *id = json_string_value(sid);
        if (!id) {
            oma_reply_error(r, 400, "invalid_params", "style_id must be a string");
            return -1;
        }
        oma_stmt *st = NULL;
        if (!oma_http_id_valid(id)) {
            oma_reply_error(r, 404, "not_found", "no such style");
            return -1;
        }
        if (oma_db_prepare(r->db, "SELECT status FROM styles WHERE id = ? AND artist_id = ?", &st) != 0 ||
            oma_stmt_bind_text(st, 1, id) != 0 || oma_stmt_bind_text(st, 2, r->artist_id) != 0) {
            oma_stmt_finalize(st);
            return oma_route_dberr(r, "finding the style");
        }
        int rc = oma_stmt_step(st);
        int ready = rc == 1 && oma_stmt_text(st, 0) && strcmp(oma_stmt_text(st, 0), "ready") == 0;
        oma_stmt_finalize(st);
        if (rc < 0) return oma_route_dberr(r, "finding the style");
        if (rc == 0) {
            oma_reply_error(r, 404, "not_found", "no such style");
            return -1;
        }
        if (!ready) {
            oma_reply_error(r, 409, "conflict", "the style is not ready");
            return -1;
        }
    }
    return 0;
}

static int check_style_profile(oma_req *r, const oma_job_kind *k, const json_t *inputs, const char *webtoon)
{
    if (strcmp(k->name, "style.profile") == 0) {
        if (!webtoon) {
            oma_reply_error(r, 400, "invalid_params", "style.profile keeps its style with a webtoon: give webtoon_id");
            return -1;
        }
        json_t *samples = json_object_get(inputs, "samples");
        size_t n = json_is_array(samples) ? json_array_size(samples) : samples ? 1 : 0;
        if (n < OMA_STYLE_MIN_SAMPLES || n > OMA_STYLE_MAX_SAMPLES) {
            oma_reply_error(r, 400, "invalid_params", "style.profile needs %d..%d sample images, got %zu",
                            OMA_STYLE_MIN_SAMPLES, OMA_STYLE_MAX_SAMPLES, n);
            return -1;
        }
    }
    return 0;
}

void oma_route_job_create(oma_req *r)
{
    json_t *b = oma_req_json_object(r);
    if (!b) return;
    const char *kind = oma_json_str(b, "kind");
    const oma_job_kind *k = oma_job_kind_find(kind);
    json_t *params = json_object_get(b, "params"), *inputs = json_object_get(b, "inputs");
    json_t *wv = json_object_get(b, "webtoon_id");
    const char *webtoon = json_string_value(wv);
    char err[512] = "";
    if (!k) {
        oma_reply_error(r, 400, "unknown_kind", "unknown job kind \"%.64s\"", kind ? kind : "");
        goto out;
    }
    const char *models = r->srv->models_dir[0] ? r->srv->models_dir : NULL;
    if (k->available && !k->available(models)) {
        oma_reply_error(r, 409, "conflict", "%s is not available on this server (missing weights)", k->name);
        goto out;
    }
    int waiting = oma_jobs_count_queued(r->db, r->artist_id);
    if (waiting < 0) {
        oma_route_dberr(r, "counting your jobs");
        goto out;
    }
    if (waiting >= OMA_JOB_QUEUED_PER_ARTIST) {
        oma_reply_error(r, 429, "too_many_requests",
                        "you have %d jobs waiting already; submit more when some have started", waiting);
        oma_reply_header(r, "Retry-After", "10");
        goto out;
    }
    if (params && !json_is_object(params) && !json_is_null(params)) {
        oma_reply_error(r, 400, "invalid_params", "params must be an object");
        goto out;
    }
    if (inputs && !json_is_object(inputs) && !json_is_null(inputs)) {
        oma_reply_error(r, 400, "invalid_params", "inputs must be an object");
        goto out;
    }
    if (wv && !json_is_null(wv) && !json_is_string(wv)) {
        oma_reply_error(r, 400, "bad_request", "webtoon_id must be a string");
        goto out;
    }
    json_t *p = json_is_object(params) ? json_incref(params) : json_object();
    json_t *in = json_is_object(inputs) ? json_incref(inputs) : json_object();
    if (!p || !in) {
        json_decref(p);
        json_decref(in);
        oma_reply_error(r, 500, "internal", "out of memory");
        goto out;
    }
    if (check_style_id(r, p) != 0) {
        /* replied */
    } else if (k->validate && k->validate(p, err, sizeof err) != 0) {
        oma_reply_error(r, 400, "invalid_params", "%s", err[0] ? err : "invalid params");
    } else if (check_inputs(r, in, k) == 0 && check_style_profile(r, k, in, webtoon) == 0) {
        int own = 1;
        if (webtoon) {
            own = oma_http_id_valid(webtoon) ? oma_route_owned(r, "webtoons", webtoon) : 0;
            if (own < 0) oma_route_dberr(r, "finding the webtoon");
            else if (own == 0) oma_reply_error(r, 404, "not_found", "no such webtoon");
        }
        char id[64];
        if (own == 1) {
            if (oma_jobs_enqueue(r->db, r->artist_id, k->name, p, in, webtoon, id, sizeof id, err,
                                 sizeof err) != 0) {
                fprintf(stderr, "oma: jobs: enqueue: %s\n", err);
                oma_reply_error(r, 500, "internal", "could not queue the job");
            } else {
                json_t *j = oma_jobs_get_json(r->db, id, r->artist_id);
                if (j) oma_reply_json(r, 202, j);
                else oma_route_dberr(r, "reading the job");
            }
        }
    }
    json_decref(p);
    json_decref(in);
out:
    json_decref(b);
}

void oma_route_job_list(oma_req *r)
{
    long limit;
    if (oma_route_query_int(r, "limit", 1, 100, 20, &limit) != 0) return;
    json_t *list = oma_jobs_list_json(r->db, r->artist_id, (int)limit);
    if (!list) {
        oma_route_dberr(r, "listing jobs");
        return;
    }
    oma_reply_json(r, 200, list);
}

void oma_route_job_get(oma_req *r)
{
    const char *id = oma_route_id(r, 0, "job");
    if (!id) return;
    json_t *j = oma_jobs_get_json(r->db, id, r->artist_id);
    if (!j) {
        oma_reply_error(r, 404, "not_found", "no such job");
        return;
    }
    oma_reply_json(r, 200, j);
}

/* The whole loss history of a (training) job: events carry only the latest points. */
void oma_route_job_losses(oma_req *r)
{
    const char *id = oma_route_id(r, 0, "job");
    if (!id) return;
    json_t *j = oma_jobs_losses_json(r->db, id, r->artist_id);
    if (!j) {
        oma_reply_error(r, 404, "not_found", "no such job");
        return;
    }
    oma_reply_json(r, 200, j);
}

void oma_route_job_cancel(oma_req *r)
{
    const char *id = oma_route_id(r, 0, "job");
    if (!id) return;
    int rc = oma_jobs_cancel(r->db, id, r->artist_id);
    if (rc < 0) {
        oma_route_dberr(r, "cancelling the job");
        return;
    }
    json_t *j = oma_jobs_get_json(r->db, id, r->artist_id);
    if (!j) {
        oma_reply_error(r, 404, "not_found", "no such job");
        return;
    }
    oma_reply_json(r, 200, j);
}

void oma_route_job_events(oma_req *r)
{
    const char *id = oma_route_id(r, 0, "job");
    if (!id) return;
    if (oma_route_require_owned(r, "jobs", id, "job") != 0) return;
    oma_http_sse_job(r, id);
}

/* Sends the stored file found by sql (params: job id, [name]) after the ownership check. */
static void send_job_file(oma_req *r, const char *sql, const char *id, const char *name,
                          const char *what)
{
    if (oma_route_require_owned(r, "jobs", id, "job") != 0) return;
    oma_stmt *st = NULL;
    if (oma_db_prepare(r->db, sql, &st) != 0) {
        char doing[64];
        snprintf(doing, sizeof doing, "reading the %s", what);
        oma_route_dberr(r, doing);
        return;
    }
    oma_stmt_bind_text(st, 1, id);
    if (name) oma_stmt_bind_text(st, 2, name);
    oma_route_send_stored(r, st, what);
}

void oma_route_job_preview(oma_req *r)
{
    const char *id = oma_route_id(r, 0, "job");
    if (!id) return;
    send_job_file(r, "SELECT preview_key, 'image/png' FROM jobs WHERE id = ?", id, NULL, "preview");
}

void oma_route_job_output(oma_req *r)
{
    const char *id = oma_route_id(r, 0, "job");
    if (!id) return;
    const char *name = r->nparam > 1 ? r->param[1] : NULL;
    if (!oma_http_name_valid(name)) {
        oma_reply_error(r, 404, "not_found", "no such output");
        return;
    }
    send_job_file(r, "SELECT storage_key, mime FROM job_outputs WHERE job_id = ? AND name = ?", id,
                  name, "output");
}
