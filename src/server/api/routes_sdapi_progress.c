/* routes_sdapi_progress.c — AUTOMATIC1111's /progress, /interrupt and /skip, per artist.
 *
 * A1111 has one global generation at a time; here many artists share the server, so these
 * routes see the calling artist's own generate jobs only: /progress reports the running one
 * (else the oldest queued one), with its latest preview as current_image; /interrupt cancels
 * the artist's running generate jobs (the waiting txt2img/img2img request then answers with
 * what was finished: no images); /skip does the same, since a job's batch is one run here
 * (A1111 skips to the next of n_iter). Both answer as A1111 does ({} and null). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/api/sdapi.h"
#include "server/http/http_routes.h"
#include "server/jobs/jobs.h"
#include "server/server_internal.h"

#define PREVIEW_MAX (8u << 20)

/* RFC 3339 "YYYY-MM-DDTHH:MM:SS..." (UTC) to unix seconds; -1 when unreadable. */
static int64_t parse_time(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                     &tm.tm_sec) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (int64_t)timegm(&tm);
}

/* "20261207114045" from an RFC 3339 time (A1111's job_timestamp). */
static void job_timestamp(const char *s, char *out, size_t n)
{
    size_t j = 0;
    for (size_t i = 0; s && s[i] && j + 1 < n && j < 14; i++)
        if (s[i] >= '0' && s[i] <= '9') out[j++] = s[i];
    out[j] = '\0';
}

void oma_route_sdapi_progress(oma_req *r)
{
    const char *skip = oma_req_query(r, "skip_current_image");
    int want_image = !(skip && (strcmp(skip, "true") == 0 || strcmp(skip, "1") == 0 || strcmp(skip, "True") == 0));
    oma_stmt *st = NULL;
    if (oma_db_prepare(r->db, "SELECT id, status, progress, message, preview_key, started_at, cancel_requested, kind "
                              "FROM jobs WHERE artist_id = ? AND kind LIKE 'generate.%' AND status IN ('running', 'queued') "
                              "ORDER BY CASE status WHEN 'running' THEN 0 ELSE 1 END, created_at, enqueued_us LIMIT 1",
                       &st) != 0) {
        oma_route_dberr(r, "reading your jobs");
        return;
    }
    oma_stmt_bind_text(st, 1, r->artist_id);
    int rc = oma_stmt_step(st);
    if (rc < 0) {
        oma_stmt_finalize(st);
        oma_route_dberr(r, "reading your jobs");
        return;
    }
    char id[72] = "", status[16] = "", message[256] = "", preview[600] = "", started[40] = "";
    double frac = 0;
    int cancel = 0, img2img = 0;
    if (rc == 1) {
        snprintf(id, sizeof id, "%s", oma_stmt_text(st, 0) ? oma_stmt_text(st, 0) : "");
        snprintf(status, sizeof status, "%s", oma_stmt_text(st, 1) ? oma_stmt_text(st, 1) : "");
        frac = oma_stmt_double(st, 2);
        snprintf(message, sizeof message, "%s", oma_stmt_text(st, 3) ? oma_stmt_text(st, 3) : "");
        snprintf(preview, sizeof preview, "%s", oma_stmt_text(st, 4) ? oma_stmt_text(st, 4) : "");
        snprintf(started, sizeof started, "%s", oma_stmt_text(st, 5) ? oma_stmt_text(st, 5) : "");
        cancel = (int)oma_stmt_int(st, 6);
        img2img = oma_stmt_text(st, 7) && strcmp(oma_stmt_text(st, 7), "generate.img2img") == 0;
    }
    oma_stmt_finalize(st);
    int step = 0, steps = 0;
    if (sscanf(message, "step %d/%d", &step, &steps) != 2) step = steps = 0;
    char ts[16];
    job_timestamp(started, ts, sizeof ts);
    json_t *state = json_pack("{s:b,s:b,s:b,s:s,s:i,s:s,s:i,s:i,s:i}", "skipped", 0, "interrupted", cancel,
                              "stopping_generation", 0, "job", rc == 1 ? (img2img ? "scripts_img2img" : "scripts_txt2img") : "", "job_count",
                              rc == 1 ? 1 : 0, "job_timestamp", ts[0] ? ts : "0", "job_no", 0, "sampling_step", step,
                              "sampling_steps", steps);
    if (rc == 0) {
        oma_reply_json(r, 200, json_pack("{s:f,s:f,s:o,s:n,s:n,s:n}", "progress", 0.0, "eta_relative", 0.0, "state",
                                         state, "current_image", "textinfo", "current_task"));
        return;
    }
    /* A1111's arithmetic: 0.01 + the fraction done; eta from the time since the start */
    double progress = 0.01 + frac;
    int64_t t0 = parse_time(started), now = (int64_t)time(NULL);
    double since = t0 > 0 && now > t0 ? (double)(now - t0) : 0.0;
    double eta = strcmp(status, "running") == 0 ? since / progress - since : 0.0;
    if (progress > 1) progress = 1;
    char *img = want_image && preview[0] ? sdapi_stored_b64(r, preview, PREVIEW_MAX) : NULL;
    json_t *o = json_pack("{s:f,s:f,s:o,s:o,s:s,s:s}", "progress", progress, "eta_relative", eta, "state", state,
                          "current_image", img ? json_string(img) : json_null(), "textinfo",
                          message[0] ? message : status, "current_task", id);
    free(img);
    if (!o) oma_reply_error(r, 500, "internal", "out of memory");
    else oma_reply_json(r, 200, o);
}

/* Cancels the artist's running generate jobs; 0 or replied. */
static int cancel_running(oma_req *r)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(r->db, "SELECT id FROM jobs WHERE artist_id = ? AND kind LIKE 'generate.%' AND status = 'running'",
                       &st) != 0)
        return oma_route_dberr(r, "reading your jobs");
    oma_stmt_bind_text(st, 1, r->artist_id);
    json_t *ids = json_array();
    int rc;
    while (ids && (rc = oma_stmt_step(st)) == 1)
        json_array_append_new(ids, json_string(oma_stmt_text(st, 0) ? oma_stmt_text(st, 0) : ""));
    oma_stmt_finalize(st);
    if (!ids || rc < 0) {
        json_decref(ids);
        return oma_route_dberr(r, "reading your jobs");
    }
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) {
        if (oma_jobs_cancel(r->db, json_string_value(v), r->artist_id) < 0) {
            json_decref(ids);
            return oma_route_dberr(r, "interrupting the job");
        }
    }
    json_decref(ids);
    return 0;
}

void oma_route_sdapi_interrupt(oma_req *r)
{
    if (cancel_running(r) == 0) oma_reply_json(r, 200, json_object());
}

void oma_route_sdapi_skip(oma_req *r)
{
    if (cancel_running(r) == 0) oma_reply_json(r, 200, json_null());
}
