/* http_sse.c — GET /api/jobs/{id}/events as Server-Sent Events.
 *
 * The idea: the job row is the single source of truth (workers may be other processes), so
 * the stream polls it from MHD's content callback. The daemon's I/O threads serve many
 * connections each, so the callback never sleeps: when nothing changed it suspends its
 * connection, files it with the ticker and returns 0; the ticker thread resumes every filed
 * connection each ~150 ms, and MHD calls the callback again. An event is written when
 * progress, message, preview, status or the kind's detail object changed; the first event is
 * always the current state. When the job is final the full job object goes out as
 * `event: done` and the stream ends. A comment line every 15 s finds out when the client has
 * gone (the write fails and MHD frees us). On shutdown the ticker resumes everything and refuses new filings, so no connection
 * is left suspended when the daemon stops (MHD requires that).
 */
#include "server/http/http.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "server/jobs/jobs.h"
#include "server/server_internal.h"

#define SSE_POLL_MS 150
#define SSE_KEEPALIVE_MS 15000

struct oma_sse_ticker {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    oma_tick_item *filed;      /* suspended streams and waits (oma_req_wait) until the next tick */
    int stop;
    pthread_t thread;
};

typedef struct sse_state {
    struct oma_server *srv;
    oma_tick_item tick;        /* the connection, and its place on the ticker's list */
    oma_db *db;
    char job_id[72];
    char artist_id[72];
    char *buf;
    size_t len, off;
    int sent_any, finished;
    double progress;
    char message[256];
    char preview[160];
    char status[16];
    char *detail;             /* the job's detail JSON text as last sent (NULL: none) */
    int64_t last_ms;
} sse_state;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void resume_all(oma_sse_ticker *t)
{
    while (t->filed) {
        oma_tick_item *s = t->filed;
        t->filed = s->next;
        s->next = NULL;
        MHD_resume_connection(s->conn);
    }
}

static void *ticker_main(void *arg)
{
    oma_sse_ticker *t = arg;
    pthread_mutex_lock(&t->mu);
    while (!t->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += SSE_POLL_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&t->cv, &t->mu, &ts);
        resume_all(t);
    }
    resume_all(t);
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

oma_sse_ticker *oma_sse_ticker_start(void)
{
    oma_sse_ticker *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    if (pthread_mutex_init(&t->mu, NULL) != 0) {
        free(t);
        return NULL;
    }
    if (pthread_cond_init(&t->cv, NULL) != 0 || pthread_create(&t->thread, NULL, ticker_main, t) != 0) {
        pthread_mutex_destroy(&t->mu);
        free(t);
        return NULL;
    }
    return t;
}

void oma_sse_ticker_quiesce(oma_sse_ticker *t)
{
    if (!t) return;
    pthread_mutex_lock(&t->mu);
    t->stop = 1;
    resume_all(t);
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

void oma_sse_ticker_stop(oma_sse_ticker *t)
{
    if (!t) return;
    oma_sse_ticker_quiesce(t);
    pthread_join(t->thread, NULL);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

int oma_sse_ticker_file(oma_sse_ticker *t, oma_tick_item *it)
{
    if (!t) return -1;
    pthread_mutex_lock(&t->mu);
    if (t->stop) {
        pthread_mutex_unlock(&t->mu);
        return -1;
    }
    MHD_suspend_connection(it->conn);
    it->next = t->filed;
    t->filed = it;
    pthread_mutex_unlock(&t->mu);
    return 0;
}

/* Suspends the stream's connection until the next tick. 0 filed, -1 shutting down. */
static int file_for_tick(sse_state *s)
{
    return oma_sse_ticker_file(s->srv->sse, &s->tick);
}

static int set_buf(sse_state *s, const char *event, const char *data)
{
    free(s->buf);
    s->buf = NULL;
    s->len = s->off = 0;
    size_t n = strlen(data) + strlen(event) + 32;
    s->buf = malloc(n);
    if (!s->buf) return -1;
    int k = event[0] ? snprintf(s->buf, n, "event: %s\ndata: %s\n\n", event, data)
                     : snprintf(s->buf, n, "%s", data);
    if (k < 0) return -1;
    s->len = (size_t)k;
    s->last_ms = now_ms();
    return 0;
}

/* Reads the row; 1 = something to send is in buf, 0 = nothing new, -1 = end the stream. */
static int poll_job(sse_state *s)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(s->db, "SELECT status, progress, message, preview_key, detail FROM jobs "
                              "WHERE id = ? AND artist_id = ?", &st) != 0)
        return -1;
    oma_stmt_bind_text(st, 1, s->job_id);
    oma_stmt_bind_text(st, 2, s->artist_id);
    int rc = oma_stmt_step(st);
    if (rc != 1) {
        oma_stmt_finalize(st);
        return -1;
    }
    char status[16], message[256], preview[160];
    snprintf(status, sizeof status, "%s", oma_stmt_text(st, 0) ? oma_stmt_text(st, 0) : "");
    double progress = oma_stmt_is_null(st, 1) ? 0.0 : oma_stmt_double(st, 1);
    snprintf(message, sizeof message, "%s", oma_stmt_text(st, 2) ? oma_stmt_text(st, 2) : "");
    int has_preview = !oma_stmt_is_null(st, 3);
    const char *dt = oma_stmt_text(st, 4);
    char *detail = dt ? strdup(dt) : NULL;
    oma_stmt_finalize(st);
    if (dt && !detail) return -1;
    if (has_preview) snprintf(preview, sizeof preview, "/api/jobs/%s/preview", s->job_id);
    else preview[0] = '\0';

    int final = strcmp(status, "succeeded") == 0 || strcmp(status, "failed") == 0 ||
                strcmp(status, "cancelled") == 0;
    int changed = !s->sent_any || progress != s->progress || strcmp(message, s->message) != 0 ||
                  strcmp(preview, s->preview) != 0 || strcmp(status, s->status) != 0 ||
                  (detail ? !s->detail || strcmp(detail, s->detail) != 0 : s->detail != NULL);
    if (!changed) free(detail);
    if (!changed && !final) return 0;
    if (!changed && final) {   /* the last progress event showed the final state: now done */
        json_t *job = oma_jobs_get_json(s->db, s->job_id, s->artist_id);
        char *d = job ? json_dumps(job, JSON_COMPACT) : NULL;
        json_decref(job);
        if (!d) return -1;
        int e = set_buf(s, "done", d);
        free(d);
        s->finished = 1;
        return e == 0 ? 1 : -1;
    }
    /* the latest losses only: the whole history is one GET /api/jobs/{id}/losses */
    json_t *dj = detail ? oma_jobs_detail_window(json_loads(detail, JSON_DECODE_ANY, NULL)) : NULL;
    json_t *ev = json_pack("{s:f,s:s,s:s,s:o,s:o}", "progress", progress, "message", message,
                           "status", status, "preview",
                           preview[0] ? json_string(preview) : json_null(), "detail", dj ? dj : json_null());
    free(s->detail);
    s->detail = detail;
    char *d = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    if (!d) return -1;
    int e = set_buf(s, "progress", d);
    free(d);
    s->sent_any = 1;
    s->progress = progress;
    memcpy(s->message, message, sizeof message);
    memcpy(s->preview, preview, sizeof preview);
    memcpy(s->status, status, sizeof status);
    return e == 0 ? 1 : -1;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    sse_state *s = cls;
    for (;;) {
        if (s->off < s->len) {
            size_t n = s->len - s->off;
            if (n > max) n = max;
            memcpy(out, s->buf + s->off, n);
            s->off += n;
            return (ssize_t)n;
        }
        if (s->finished || atomic_load(&s->srv->stopping)) return MHD_CONTENT_READER_END_OF_STREAM;
        int rc = poll_job(s);
        if (rc < 0) return MHD_CONTENT_READER_END_OF_STREAM;
        if (rc == 1) continue;
        if (now_ms() - s->last_ms >= SSE_KEEPALIVE_MS) {
            if (set_buf(s, "", ": keep-alive\n\n") != 0) return MHD_CONTENT_READER_END_WITH_ERROR;
            continue;
        }
        if (file_for_tick(s) != 0) return MHD_CONTENT_READER_END_OF_STREAM;
        return 0;   /* called again once the ticker resumes the connection */
    }
}

static void sse_free(void *cls)
{
    sse_state *s = cls;
    if (s->db) oma_server_db_put(s->srv, s->db);
    free(s->buf);
    free(s->detail);
    free(s);
}

void oma_http_sse_job(oma_req *r, const char *job_id)
{
    sse_state *s = calloc(1, sizeof *s);
    if (!s) {
        oma_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    s->srv = r->srv;
    s->tick.conn = r->conn;
    snprintf(s->job_id, sizeof s->job_id, "%s", job_id);
    snprintf(s->artist_id, sizeof s->artist_id, "%s", r->artist_id);
    /* the stream outlives the handler: it takes over the request's handle */
    s->db = r->db ? r->db : oma_server_db_get(r->srv);
    r->db = NULL;
    if (!s->db) {
        free(s);
        oma_reply_error(r, 500, "internal", "the database is not available");
        return;
    }
    s->last_ms = now_ms();
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, s, sse_free);
    if (!resp) {
        sse_free(s);
        oma_reply_error(r, 500, "internal", "cannot start the event stream");
        return;
    }
    MHD_add_response_header(resp, "Content-Type", "text/event-stream");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    oma_reply_response(r, 200, resp);
}
