/* storage_s3.c — the S3-compatible storage backend ("s3://BUCKET[/PREFIX]?endpoint=URL&region=R").
 *
 * The same keys as the folder backend (storage.c validated them; content addressing is done
 * there too), stored under PREFIX/ in the bucket. Objects up to part_size go in one PUT;
 * bigger ones (trained LoRA files are 10-150 MB) as a multipart upload (parts of part_size,
 * aborted on any failure, so no half object ever becomes visible). A missing object reads as
 * "absent" (1), any other answer but success is an error that names the status and S3's own
 * code. Open checks the bucket answers (HEAD) so a wrong endpoint, bucket or key fails at
 * start with one line.
 */
#include "server/store/storage_driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/store/s3_client.h"
#include "server/store/sigv4.h"

#define LIST_PAGE_MAX (16u << 20)
#define SMALL_BODY (1u << 20)
#define PARTS_MAX 10000

static oma_s3 *S3(oma_storage *s) { return (oma_s3 *)s->impl; }

/* "s3: PUT key: HTTP 403 AccessDenied (message)" */
static int answer_error(const oma_s3_response *r, const char *what, const char *key, char *err, size_t errlen)
{
    char code[64] = "", msg[200] = "";
    if (r->body) {
        const char *p = (const char *)r->body;
        oma_s3_xml_tag(&p, "Code", code, sizeof code);
        p = (const char *)r->body;
        oma_s3_xml_tag(&p, "Message", msg, sizeof msg);
    }
    snprintf(err, errlen, "s3: %s %s: HTTP %ld%s%s%s%s%s", what, key ? key : "", r->status, code[0] ? " " : "",
             code, msg[0] ? " (" : "", msg, msg[0] ? ")" : "");
    return -1;
}

static int s3_open(oma_storage *s, const char *rest, char *err, size_t errlen)
{
    oma_s3 *s3 = calloc(1, sizeof *s3);
    if (!s3) {
        snprintf(err, errlen, "s3: out of memory");
        return -1;
    }
    if (oma_s3_config(s3, rest, err, errlen) != 0) {
        free(s3);
        return -1;
    }
    oma_s3_response r;
    char e2[400];
    if (oma_s3_request(s3, "HEAD", NULL, "", NULL, 0, SMALL_BODY, &r, e2, sizeof e2) != 0) {
        snprintf(err, errlen, "s3: cannot reach bucket %s: %s", s3->bucket, e2);
        free(s3);
        return -1;
    }
    free(r.body);
    if (r.status != 200) {
        if (r.status == 404) snprintf(err, errlen, "s3: bucket %s does not exist at %s", s3->bucket, s3->endpoint);
        else if (r.status == 403 || r.status == 401)
            snprintf(err, errlen, "s3: access to bucket %s denied (HTTP %ld; check AWS_ACCESS_KEY_ID and "
                                  "AWS_SECRET_ACCESS_KEY)", s3->bucket, r.status);
        else snprintf(err, errlen, "s3: bucket %s at %s answered HTTP %ld", s3->bucket, s3->endpoint, r.status);
        free(s3);
        return -1;
    }
    s->impl = s3;
    return 0;
}

static void s3_close(oma_storage *s)
{
    free(s->impl);
    s->impl = NULL;
}

static int put_single(oma_s3 *s3, const char *key, const void *data, size_t len, char *err, size_t errlen)
{
    oma_s3_response r;
    if (oma_s3_request(s3, "PUT", key, "", data, len, SMALL_BODY, &r, err, errlen) != 0) return -1;
    int rc = r.status == 200 ? 0 : answer_error(&r, "PUT", key, err, errlen);
    free(r.body);
    return rc;
}

static void abort_upload(oma_s3 *s3, const char *key, const char *enc_id)
{
    char q[1400], e[200];
    snprintf(q, sizeof q, "uploadId=%s", enc_id);
    oma_s3_response r;
    if (oma_s3_request(s3, "DELETE", key, q, NULL, 0, SMALL_BODY, &r, e, sizeof e) == 0) free(r.body);
}

static int put_multipart(oma_s3 *s3, const char *key, const uint8_t *data, size_t len, char *err, size_t errlen)
{
    size_t nparts = (len + s3->part_size - 1) / s3->part_size;
    if (nparts > PARTS_MAX) {
        snprintf(err, errlen, "s3: %s is too large for %zu-byte parts", key, s3->part_size);
        return -1;
    }
    oma_s3_response r;
    if (oma_s3_request(s3, "POST", key, "uploads=", NULL, 0, SMALL_BODY, &r, err, errlen) != 0) return -1;
    char id[400] = "", enc_id[1300];
    const char *p = (const char *)(r.body ? r.body : (uint8_t *)"");
    int got = r.status == 200 && oma_s3_xml_tag(&p, "UploadId", id, sizeof id) && id[0];
    if (!got) {
        answer_error(&r, "starting a multipart upload of", key, err, errlen);
        free(r.body);
        return -1;
    }
    free(r.body);
    if (oma_sigv4_uri_encode(id, 0, enc_id, sizeof enc_id) != 0) {
        snprintf(err, errlen, "s3: upload id too long");
        abort_upload(s3, key, enc_id);
        return -1;
    }
    /* the completion document: <Part><PartNumber>n</PartNumber><ETag>..</ETag></Part> each */
    size_t cap = 128 + nparts * 200;
    char *doc = malloc(cap);
    if (!doc) {
        snprintf(err, errlen, "s3: out of memory");
        abort_upload(s3, key, enc_id);
        return -1;
    }
    size_t o = (size_t)snprintf(doc, cap, "<CompleteMultipartUpload>");
    for (size_t i = 0; i < nparts; i++) {
        size_t off = i * s3->part_size, n = len - off < s3->part_size ? len - off : s3->part_size;
        char q[1400];
        snprintf(q, sizeof q, "partNumber=%zu&uploadId=%s", i + 1, enc_id);
        if (oma_s3_request(s3, "PUT", key, q, data + off, n, SMALL_BODY, &r, err, errlen) != 0) goto fail;
        if (r.status != 200 || !r.etag[0]) {
            answer_error(&r, "uploading a part of", key, err, errlen);
            free(r.body);
            goto fail;
        }
        free(r.body);
        char etag[300];
        size_t el = 0;
        for (const char *c = r.etag; *c && el + 7 < sizeof etag; c++) { /* XML-escape the quotes */
            if (*c == '"') el += (size_t)snprintf(etag + el, sizeof etag - el, "&quot;");
            else etag[el++] = *c;
        }
        etag[el] = '\0';
        o += (size_t)snprintf(doc + o, cap - o, "<Part><PartNumber>%zu</PartNumber><ETag>%s</ETag></Part>", i + 1,
                              etag);
    }
    o += (size_t)snprintf(doc + o, cap - o, "</CompleteMultipartUpload>");
    char q[1400];
    snprintf(q, sizeof q, "uploadId=%s", enc_id);
    if (oma_s3_request(s3, "POST", key, q, doc, o, SMALL_BODY, &r, err, errlen) != 0) goto fail;
    /* S3 may answer 200 with an <Error> document: that is a failure too */
    if (r.status != 200 || (r.body && strstr((const char *)r.body, "<Error>"))) {
        answer_error(&r, "completing the multipart upload of", key, err, errlen);
        free(r.body);
        goto fail;
    }
    free(r.body);
    free(doc);
    return 0;
fail:
    free(doc);
    abort_upload(s3, key, enc_id);
    return -1;
}

static int s3_put(oma_storage *s, const char *key, const void *data, size_t len, char *err, size_t errlen)
{
    if (len > S3(s)->part_size) return put_multipart(S3(s), key, data, len, err, errlen);
    return put_single(S3(s), key, data, len, err, errlen);
}

static int s3_get(oma_storage *s, const char *key, size_t max_len, uint8_t **data, size_t *len, char *err,
                  size_t errlen)
{
    *data = NULL;
    *len = 0;
    oma_s3_response r;
    if (oma_s3_request(S3(s), "GET", key, "", NULL, 0, max_len, &r, err, errlen) != 0) return -1;
    if (r.status == 404) {
        free(r.body);
        return 1;
    }
    if (r.status != 200) {
        answer_error(&r, "GET", key, err, errlen);
        free(r.body);
        return -1;
    }
    if (!r.body) {
        r.body = malloc(1);
        if (!r.body) {
            snprintf(err, errlen, "s3: out of memory");
            return -1;
        }
    }
    *data = r.body;
    *len = r.len;
    return 0;
}

typedef struct s3_reader {
    oma_storage_reader base;
    oma_s3_reader *rd;
} s3_reader;

static long s3_reader_read(oma_storage_reader *base, void *buf, size_t cap, char *err, size_t errlen)
{
    return oma_s3_reader_read(((s3_reader *)base)->rd, buf, cap, err, errlen);
}

static void s3_reader_cancel(oma_storage_reader *base) { oma_s3_reader_cancel(((s3_reader *)base)->rd); }

static void s3_reader_close(oma_storage_reader *base)
{
    oma_s3_reader_free(((s3_reader *)base)->rd);
    free(base);
}

static const oma_storage_reader_ops s3_reader_ops = {s3_reader_read, s3_reader_cancel, s3_reader_close};

/* The GET's head decides: 404 absent, another non-2xx an error naming S3's code, no
 * Content-Length an error (the client is promised a length before the first byte). */
static int s3_reader_open(oma_storage *s, const char *key, oma_storage_reader **out, uint64_t *size, char *err,
                          size_t errlen)
{
    oma_s3_reader *rd = NULL;
    if (oma_s3_reader_open(S3(s), key, &rd, err, errlen) != 0) return -1;
    long status = oma_s3_reader_status(rd);
    if (status == 404) {
        oma_s3_reader_free(rd);
        return 1;
    }
    if (status != 200) {
        oma_s3_response r = {.status = status, .body = (uint8_t *)oma_s3_reader_error_doc(rd)};
        answer_error(&r, "GET", key, err, errlen);
        oma_s3_reader_free(rd);
        return -1;
    }
    if (oma_s3_reader_length(rd) < 0) {
        snprintf(err, errlen, "s3: GET %s: the answer has no Content-Length", key);
        oma_s3_reader_free(rd);
        return -1;
    }
    s3_reader *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "s3: out of memory");
        oma_s3_reader_free(rd);
        return -1;
    }
    w->base.ops = &s3_reader_ops;
    w->base.remote = 1;
    w->rd = rd;
    *out = &w->base;
    *size = (uint64_t)oma_s3_reader_length(rd);
    return 0;
}

static int s3_exists(oma_storage *s, const char *key)
{
    oma_s3_response r;
    char e[300];
    if (oma_s3_request(S3(s), "HEAD", key, "", NULL, 0, SMALL_BODY, &r, e, sizeof e) != 0) return 0;
    free(r.body);
    return r.status == 200;
}

static int s3_del(oma_storage *s, const char *key, char *err, size_t errlen)
{
    oma_s3_response r;
    if (oma_s3_request(S3(s), "DELETE", key, "", NULL, 0, SMALL_BODY, &r, err, errlen) != 0) return -1;
    int rc = r.status == 204 || r.status == 200 || r.status == 404 ? 0 : answer_error(&r, "DELETE", key, err, errlen);
    free(r.body);
    return rc;
}

static int s3_list(oma_storage *s, const char *prefix, int (*fn)(const char *key, size_t len, void *ud), void *ud,
                   char *err, size_t errlen)
{
    oma_s3 *s3 = S3(s);
    char full[800], enc_prefix[2400], token[1200] = "", enc_token[3600];
    snprintf(full, sizeof full, "%s%s", s3->prefix, prefix ? prefix : "");
    if (oma_sigv4_uri_encode(full, 0, enc_prefix, sizeof enc_prefix) != 0) {
        snprintf(err, errlen, "s3: list prefix too long");
        return -1;
    }
    size_t plen = strlen(s3->prefix);
    for (;;) {
        char q[6200];
        if (token[0]) {
            if (oma_sigv4_uri_encode(token, 0, enc_token, sizeof enc_token) != 0) {
                snprintf(err, errlen, "s3: continuation token too long");
                return -1;
            }
            snprintf(q, sizeof q, "continuation-token=%s&list-type=2&prefix=%s", enc_token, enc_prefix);
        } else {
            snprintf(q, sizeof q, "list-type=2&prefix=%s", enc_prefix);
        }
        oma_s3_response r;
        if (oma_s3_request(s3, "GET", NULL, q, NULL, 0, LIST_PAGE_MAX, &r, err, errlen) != 0) return -1;
        if (r.status != 200 || !r.body) {
            answer_error(&r, "listing", full, err, errlen);
            free(r.body);
            return -1;
        }
        const char *p = (const char *)r.body;
        char block[4096];
        int stop = 0;
        while (!stop && oma_s3_xml_tag(&p, "Contents", block, sizeof block)) {
            const char *b = block;
            char key[1100] = "", size[32] = "0";
            if (!oma_s3_xml_tag(&b, "Key", key, sizeof key)) continue;
            b = block;
            oma_s3_xml_tag(&b, "Size", size, sizeof size);
            if (strncmp(key, s3->prefix, plen) != 0 || !oma_storage_key_valid(key + plen)) continue;
            if (fn(key + plen, (size_t)strtoull(size, NULL, 10), ud) != 0) stop = 1;
        }
        const char *t = (const char *)r.body;
        char truncated[16] = "";
        oma_s3_xml_tag(&t, "IsTruncated", truncated, sizeof truncated);
        t = (const char *)r.body;
        int more = strcmp(truncated, "true") == 0 && oma_s3_xml_tag(&t, "NextContinuationToken", token, sizeof token) &&
                   token[0];
        free(r.body);
        if (stop || !more) return 0;
    }
}

const oma_storage_engine oma_storage_engine_s3 = {
    .name = "s3",
    .scheme = "s3:",
    .open = s3_open,
    .close = s3_close,
    .put = s3_put,
    .get = s3_get,
    .exists = s3_exists,
    .reader = s3_reader_open,
    .del = s3_del,
    .list = s3_list,
};
