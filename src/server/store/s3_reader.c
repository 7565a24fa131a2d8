/* s3_reader.c — an S3 GET read as it arrives (see s3_client.h), so an object of any size goes
 * to a client through a small buffer.
 *
 * The idea: libcurl's multi interface driven from read() ("pull"): read hands out what the
 * write callback buffered; when the buffer is empty it runs the transfer (curl_multi_perform,
 * then curl_multi_poll up to a second) until bytes come. The buffer is bounded: when a
 * callback's bytes do not fit, the callback pauses the transfer (curl keeps those bytes and
 * stops reading the socket) and read unpauses it once the buffer is drained, so memory stays
 * at BUF_CAP whatever the object's size. The answer's head decides everything before a byte
 * is handed out (status, Content-Length); the end is checked against Content-Length, so a
 * transfer that breaks or ends short is an error, never a short success. cancel sets a flag
 * and wakes curl_multi_poll (curl_multi_wakeup is thread-safe).
 */
#include "server/store/s3_client.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUF_CAP (256u << 10)
#define ERROR_DOC_MAX 4096
#define POLL_MS 1000

struct oma_s3_reader {
    CURLM *multi;
    CURL *easy;
    struct curl_slist *hdrs;
    char curl_err[CURL_ERROR_SIZE];
    char endpoint[256];
    uint8_t *buf;
    size_t cap, off, len;     /* unread bytes are buf[off, len) */
    int paused, head_done, done, added;
    CURLcode result;
    long status;
    int64_t length;           /* Content-Length, -1 none */
    uint64_t handed;          /* bytes handed out by read */
    uint64_t received;        /* bytes the write callback took */
    char doc[ERROR_DOC_MAX + 1];
    size_t doc_len;
    atomic_int cancelled;
};

static int ok_status(long s) { return s >= 200 && s <= 299; }

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    oma_s3_reader *rd = ud;
    size_t len = size * n;
    if (len <= 2 && (len == 0 || p[0] == '\r' || p[0] == '\n')) { /* the blank line ends a head */
        long st = 0;
        curl_easy_getinfo(rd->easy, CURLINFO_RESPONSE_CODE, &st);
        if (st >= 200) { /* not a "100 Continue" */
            rd->status = st;
            curl_off_t cl = -1;
            if (curl_easy_getinfo(rd->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl) != CURLE_OK) cl = -1;
            rd->length = cl;
            rd->head_done = 1;
        }
    }
    return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    oma_s3_reader *rd = ud;
    size_t len = size * n;
    if (atomic_load(&rd->cancelled)) return 0; /* aborts the transfer */
    if (!ok_status(rd->status)) {              /* an error document: keep its start */
        size_t k = ERROR_DOC_MAX - rd->doc_len < len ? ERROR_DOC_MAX - rd->doc_len : len;
        memcpy(rd->doc + rd->doc_len, p, k);
        rd->doc_len += k;
        rd->doc[rd->doc_len] = '\0';
        return len;
    }
    if (rd->off == rd->len) rd->off = rd->len = 0;
    if (len > rd->cap - rd->len && rd->off > 0) { /* make room at the end */
        memmove(rd->buf, rd->buf + rd->off, rd->len - rd->off);
        rd->len -= rd->off;
        rd->off = 0;
    }
    if (len > rd->cap - rd->len) {
        if (rd->len > 0) {
            rd->paused = 1;
            return CURL_WRITEFUNC_PAUSE; /* curl keeps these bytes until read unpauses */
        }
        /* an empty buffer smaller than one delivery (curl hands at most CURL_MAX_WRITE_SIZE,
         * but more after a pause): grow to fit, bounded */
        if (len > (size_t)64 << 20) return 0;
        uint8_t *nb = realloc(rd->buf, len);
        if (!nb) return 0;
        rd->buf = nb;
        rd->cap = len;
    }
    memcpy(rd->buf + rd->len, p, len);
    rd->len += len;
    rd->received += len;
    return len;
}

/* One turn of the transfer: perform, note the end, wait for the socket when nothing came. */
static void turn(oma_s3_reader *rd)
{
    int running = 0, head = rd->head_done;
    uint64_t got = rd->received;
    size_t doc = rd->doc_len;
    if (curl_multi_perform(rd->multi, &running) != CURLM_OK) {
        rd->done = 1;
        rd->result = CURLE_RECV_ERROR;
        return;
    }
    int q = 0;
    CURLMsg *m;
    while ((m = curl_multi_info_read(rd->multi, &q)))
        if (m->msg == CURLMSG_DONE) {
            rd->done = 1;
            rd->result = m->data.result;
        }
    if (rd->done || rd->paused || rd->received != got || rd->head_done != head || rd->doc_len != doc) return;
    curl_multi_poll(rd->multi, NULL, 0, POLL_MS, NULL);
}

static void transfer_error(oma_s3_reader *rd, char *err, size_t errlen)
{
    if (atomic_load(&rd->cancelled)) snprintf(err, errlen, "s3: the transfer was cancelled");
    else
        snprintf(err, errlen, "s3: %s: %s", rd->endpoint,
                 rd->curl_err[0] ? rd->curl_err : curl_easy_strerror(rd->result));
}

int oma_s3_reader_open(const oma_s3 *s3, const char *key, oma_s3_reader **out, char *err, size_t errlen)
{
    *out = NULL;
    oma_s3_reader *rd = calloc(1, sizeof *rd);
    if (!rd || !(rd->buf = malloc(BUF_CAP))) {
        free(rd);
        snprintf(err, errlen, "s3: out of memory");
        return -1;
    }
    rd->cap = BUF_CAP;
    rd->length = -1;
    atomic_init(&rd->cancelled, 0);
    snprintf(rd->endpoint, sizeof rd->endpoint, "%s", s3->endpoint);
    rd->easy = oma_s3_easy(s3, "GET", key, "", NULL, 0, &rd->hdrs, err, errlen);
    rd->multi = rd->easy ? curl_multi_init() : NULL;
    if (!rd->multi) {
        if (rd->easy) snprintf(err, errlen, "s3: out of memory");
        oma_s3_reader_free(rd);
        return -1;
    }
    curl_easy_setopt(rd->easy, CURLOPT_ERRORBUFFER, rd->curl_err);
    curl_easy_setopt(rd->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(rd->easy, CURLOPT_WRITEDATA, rd);
    curl_easy_setopt(rd->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(rd->easy, CURLOPT_HEADERDATA, rd);
    if (curl_multi_add_handle(rd->multi, rd->easy) != CURLM_OK) {
        snprintf(err, errlen, "s3: out of memory");
        oma_s3_reader_free(rd);
        return -1;
    }
    rd->added = 1;
    while (!rd->head_done && !rd->done && !atomic_load(&rd->cancelled)) turn(rd);
    if (!rd->head_done) { /* the transfer failed before an answer came */
        if (!rd->done) rd->result = CURLE_ABORTED_BY_CALLBACK;
        transfer_error(rd, err, errlen);
        oma_s3_reader_free(rd);
        return -1;
    }
    if (!ok_status(rd->status)) /* read the (bounded) error document to its end */
        while (!rd->done && !atomic_load(&rd->cancelled)) turn(rd);
    *out = rd;
    return 0;
}

long oma_s3_reader_status(const oma_s3_reader *rd) { return rd->status; }
int64_t oma_s3_reader_length(const oma_s3_reader *rd) { return rd->length; }
const char *oma_s3_reader_error_doc(const oma_s3_reader *rd) { return rd->doc; }

long oma_s3_reader_read(oma_s3_reader *rd, void *buf, size_t cap, char *err, size_t errlen)
{
    if (!ok_status(rd->status)) {
        snprintf(err, errlen, "s3: HTTP %ld", rd->status);
        return -1;
    }
    for (;;) {
        if (atomic_load(&rd->cancelled)) {
            snprintf(err, errlen, "s3: the transfer was cancelled");
            return -1;
        }
        if (rd->len > rd->off) {
            size_t n = rd->len - rd->off < cap ? rd->len - rd->off : cap;
            if (n > (size_t)1 << 30) n = (size_t)1 << 30;
            memcpy(buf, rd->buf + rd->off, n);
            rd->off += n;
            rd->handed += n;
            if (rd->length >= 0 && rd->handed > (uint64_t)rd->length) {
                snprintf(err, errlen, "s3: the object is longer than its Content-Length");
                return -1;
            }
            return (long)n;
        }
        if (rd->done) {
            if (rd->result != CURLE_OK) {
                transfer_error(rd, err, errlen);
                return -1;
            }
            if (rd->length < 0 || rd->handed != (uint64_t)rd->length) {
                snprintf(err, errlen, "s3: the object ended after %llu of %lld bytes",
                         (unsigned long long)rd->handed, (long long)rd->length);
                return -1;
            }
            return 0;
        }
        if (rd->paused) { /* the buffer is drained: let curl hand over what it kept */
            rd->paused = 0;
            rd->off = rd->len = 0;
            if (curl_easy_pause(rd->easy, CURLPAUSE_CONT) != CURLE_OK) {
                rd->done = 1;
                rd->result = CURLE_RECV_ERROR;
            }
            continue;
        }
        turn(rd);
    }
}

void oma_s3_reader_cancel(oma_s3_reader *rd)
{
    if (!rd) return;
    atomic_store(&rd->cancelled, 1);
    if (rd->multi) curl_multi_wakeup(rd->multi);
}

void oma_s3_reader_free(oma_s3_reader *rd)
{
    if (!rd) return;
    if (rd->added) curl_multi_remove_handle(rd->multi, rd->easy);
    if (rd->easy) curl_easy_cleanup(rd->easy);
    if (rd->multi) curl_multi_cleanup(rd->multi);
    curl_slist_free_all(rd->hdrs);
    free(rd->buf);
    free(rd);
}
