/* http_stream.c — sending a stored object as it is read (oma_reply_stored), in bounded memory
 * whatever its size.
 *
 * The idea: the reply carries the object's length (Content-Length, known from the store
 * before the first byte) and a content callback. A local-folder object is read straight from
 * that callback (a disk read, as MHD's own file responses do). An S3 object is read by a
 * thread of its own (a "pump") into a ring of RING_CAP bytes, because its reads wait on the
 * network and the daemon's I/O threads serve many connections each: the callback hands out
 * what the ring holds, or suspends its connection when the ring is empty, and the pump resumes
 * it when bytes (or the end, or an error) come; the pump waits while the ring is full. An
 * error midway ends the reply with MHD_CONTENT_READER_END_WITH_ERROR: MHD closes the
 * connection before Content-Length bytes went out, so a client never takes a short body for a
 * whole one. A client that goes away makes MHD destroy the reply: that cancels the read, and
 * the pump drops the S3 transfer. The state is freed by whichever of the two lets go last.
 * At shutdown every live stream is cancelled and resumed (a suspended connection must not
 * outlive the daemon) and the pumps are waited for.
 */
#include "server/http/http.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/server_internal.h"

#define RING_CAP (256u << 10)
#define LOCAL_BLOCK (64u << 10)
#define PUMP_STACK ((size_t)1 << 20)

typedef struct stream stream;

struct oma_streams {
    pthread_mutex_t mu;
    pthread_cond_t cv;    /* signalled when a stream is freed */
    stream *live;
    int count, closed;
};

struct stream {
    oma_streams *reg;
    struct MHD_Connection *conn;
    oma_storage_reader *rd;
    char key[128];
    pthread_mutex_t mu;
    pthread_cond_t cv;    /* the pump waits here for room */
    uint8_t *ring;
    size_t head, fill;    /* unread bytes: fill of them from head, wrapping */
    uint64_t size, sent;
    int eof, failed, cancelled, suspended, refs;
    char err[256];
    stream *prev, *next;
};

oma_streams *oma_streams_new(void)
{
    oma_streams *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    if (pthread_mutex_init(&g->mu, NULL) != 0) {
        free(g);
        return NULL;
    }
    if (pthread_cond_init(&g->cv, NULL) != 0) {
        pthread_mutex_destroy(&g->mu);
        free(g);
        return NULL;
    }
    return g;
}

/* Under s->mu: stop the stream, wake its pump and its connection. */
static void cancel_locked(stream *s)
{
    s->cancelled = 1;
    oma_storage_reader_cancel(s->rd);
    pthread_cond_signal(&s->cv);
    if (s->suspended) {
        s->suspended = 0;
        MHD_resume_connection(s->conn);
    }
}

void oma_streams_stop(oma_streams *g)
{
    if (!g) return;
    pthread_mutex_lock(&g->mu);
    g->closed = 1;
    for (stream *s = g->live; s; s = s->next) {
        pthread_mutex_lock(&s->mu);
        cancel_locked(s);
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&g->mu);
}

void oma_streams_free(oma_streams *g)
{
    if (!g) return;
    oma_streams_stop(g);
    /* the daemon is gone, so every reply was destroyed: only pumps may hold streams still,
     * and each ends within a read (cancelled); wait for them, a few seconds at most */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&g->mu);
    while (g->count > 0 && pthread_cond_timedwait(&g->cv, &g->mu, &until) == 0) {
    }
    int left = g->count;
    pthread_mutex_unlock(&g->mu);
    if (left > 0) { /* a pump still in a read: leave the registry to it rather than free it */
        fprintf(stderr, "oma: http: %d download(s) still ending at shutdown\n", left);
        return;
    }
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
}

static void release(stream *s)
{
    pthread_mutex_lock(&s->mu);
    int last = --s->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (!last) return;
    oma_streams *g = s->reg;
    if (g) {
        pthread_mutex_lock(&g->mu);
        if (s->prev) s->prev->next = s->next;
        else g->live = s->next;
        if (s->next) s->next->prev = s->prev;
        g->count--;
        pthread_cond_broadcast(&g->cv);
        pthread_mutex_unlock(&g->mu);
    }
    oma_storage_reader_close(s->rd);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    free(s->ring);
    free(s);
}

/* The reply is destroyed (sent, or the client went away): stop reading. */
static void on_reply_freed(void *cls)
{
    stream *s = cls;
    pthread_mutex_lock(&s->mu);
    if (!s->eof && !s->failed && s->sent < s->size && !s->cancelled)
        fprintf(stderr, "oma: http: %s: the reply ended after %llu of %llu bytes; the read stops\n", s->key,
                (unsigned long long)s->sent, (unsigned long long)s->size);
    s->cancelled = 1;
    oma_storage_reader_cancel(s->rd);
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    release(s);
}

static void *pump(void *arg)
{
    stream *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (s->fill == RING_CAP && !s->cancelled) pthread_cond_wait(&s->cv, &s->mu);
        if (s->cancelled) break;
        size_t at = (s->head + s->fill) % RING_CAP;
        size_t room = RING_CAP - s->fill < RING_CAP - at ? RING_CAP - s->fill : RING_CAP - at;
        pthread_mutex_unlock(&s->mu);
        /* only this thread writes the free part of the ring, so it reads into it unlocked */
        char err[256];
        long n = oma_storage_reader_read(s->rd, s->ring + at, room, err, sizeof err);
        pthread_mutex_lock(&s->mu);
        if (n > 0) s->fill += (size_t)n;
        else if (n == 0) s->eof = 1;
        else if (!s->cancelled) {
            s->failed = 1;
            snprintf(s->err, sizeof s->err, "%s", err);
        }
        if (s->suspended) {
            s->suspended = 0;
            MHD_resume_connection(s->conn);
        }
        if (n <= 0) break;
    }
    pthread_mutex_unlock(&s->mu);
    release(s);
    return NULL;
}

static ssize_t remote_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream *s = cls;
    pthread_mutex_lock(&s->mu);
    if (s->fill > 0) {
        size_t n = s->fill < RING_CAP - s->head ? s->fill : RING_CAP - s->head;
        if (n > max) n = max;
        memcpy(buf, s->ring + s->head, n);
        s->head = (s->head + n) % RING_CAP;
        s->fill -= n;
        s->sent += n;
        pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
        return (ssize_t)n;
    }
    if (s->eof && s->sent == s->size) {
        pthread_mutex_unlock(&s->mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (s->eof || s->failed || s->cancelled) {
        if (s->failed)
            fprintf(stderr, "oma: http: %s: the read broke after %llu of %llu bytes (%s); the connection is "
                            "closed\n", s->key, (unsigned long long)s->sent, (unsigned long long)s->size, s->err);
        pthread_mutex_unlock(&s->mu);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    /* nothing yet: wait (suspended, no thread held) until the pump resumes us */
    s->suspended = 1;
    MHD_suspend_connection(s->conn);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

static ssize_t local_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream *s = cls;
    if (s->sent == s->size) return MHD_CONTENT_READER_END_OF_STREAM;
    char err[256];
    long n = oma_storage_reader_read(s->rd, buf, max, err, sizeof err);
    if (n <= 0) {
        fprintf(stderr, "oma: http: %s: the read broke after %llu of %llu bytes (%s); the connection is closed\n",
                s->key, (unsigned long long)s->sent, (unsigned long long)s->size, n < 0 ? err : "it ended early");
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    s->sent += (uint64_t)n;
    return (ssize_t)n;
}

static void busy(oma_req *r)
{
    oma_reply_error(r, 503, "busy", "too many downloads at once; try again in a moment");
    oma_reply_header(r, "Retry-After", "1");
}

int oma_reply_storage_failed(oma_req *r, int rc, const char *key, const char *err)
{
    if (rc == 1) {
        oma_reply_error(r, 404, "not_found", "the file is gone");
        return -1;
    }
    fprintf(stderr, "oma: storage: %s: %s\n", key, err);
    oma_reply_error(r, 500, "internal", "storage error");
    return -1;
}

int oma_reply_stored(oma_req *r, const char *key, const char *mime)
{
    oma_storage_reader *rd = NULL;
    uint64_t size = 0;
    char err[400];
    int rc = oma_storage_reader_open(r->srv->storage, key, &rd, &size, err, sizeof err);
    if (rc != 0) return oma_reply_storage_failed(r, rc, key, err);
    int remote = oma_storage_reader_remote(rd);
    stream *s = calloc(1, sizeof *s);
    if (!s || pthread_mutex_init(&s->mu, NULL) != 0) {
        free(s);
        oma_storage_reader_close(rd);
        oma_reply_error(r, 500, "internal", "out of memory");
        return -1;
    }
    if (pthread_cond_init(&s->cv, NULL) != 0) {
        pthread_mutex_destroy(&s->mu);
        free(s);
        oma_storage_reader_close(rd);
        oma_reply_error(r, 500, "internal", "out of memory");
        return -1;
    }
    s->rd = rd;
    s->conn = r->conn;
    s->size = size;
    s->refs = 1; /* the reply's */
    snprintf(s->key, sizeof s->key, "%s", key);
    if (remote && !(s->ring = malloc(RING_CAP))) {
        release(s);
        oma_reply_error(r, 500, "internal", "out of memory");
        return -1;
    }
    struct MHD_Response *resp = MHD_create_response_from_callback(size, remote ? RING_CAP / 4 : LOCAL_BLOCK,
                                                                  remote ? remote_read : local_read, s,
                                                                  on_reply_freed);
    if (!resp) {
        release(s);
        oma_reply_error(r, 500, "internal", "out of memory");
        return -1;
    }
    if (remote) { /* the pump: registered (shutdown finds it), bounded in number */
        oma_streams *g = r->srv->streams;
        pthread_mutex_lock(&g->mu);
        int refuse = g->closed || g->count >= OMA_HTTP_STREAMS_MAX;
        pthread_attr_t at;
        pthread_t th;
        if (!refuse) {
            s->reg = g;
            s->refs = 2; /* and the pump's */
            s->next = g->live;
            if (g->live) g->live->prev = s;
            g->live = s;
            g->count++;
            refuse = pthread_attr_init(&at) != 0;
            if (!refuse) {
                pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
                pthread_attr_setstacksize(&at, PUMP_STACK);
                refuse = pthread_create(&th, &at, pump, s) != 0;
                pthread_attr_destroy(&at);
            }
            if (refuse) { /* unregister: only the reply holds it now */
                if (s->prev) s->prev->next = s->next;
                else g->live = s->next;
                if (s->next) s->next->prev = s->prev;
                g->count--;
                s->reg = NULL;
                s->refs = 1;
            }
        }
        pthread_mutex_unlock(&g->mu);
        if (refuse) {
            s->cancelled = 1;
            MHD_destroy_response(resp); /* frees s through on_reply_freed */
            busy(r);
            return -1;
        }
    }
    MHD_add_response_header(resp, "Content-Type", mime && *mime ? mime : "application/octet-stream");
    oma_reply_response(r, 200, resp);
    return 0;
}
