/* test_multipart.c — the streaming multipart parser: boundaries from Content-Type, bodies
 * fed in every chunk size give the same parts, delimiter look-alikes inside data stay data,
 * and malformed bodies fail with an error instead of a crash. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/multipart.h"

#include "check.h"

typedef struct collected {
    int parts, ended;
    char names[8][64], fnames[8][64], types[8][64];
    unsigned char data[8][512];
    size_t len[8];
    int abort_on_data;
} collected;

static int on_begin(void *ud, const char *n, const char *f, const char *t)
{
    collected *c = ud;
    if (c->parts >= 8) return -1;
    snprintf(c->names[c->parts], 64, "%s", n);
    snprintf(c->fnames[c->parts], 64, "%s", f);
    snprintf(c->types[c->parts], 64, "%s", t);
    c->len[c->parts] = 0;
    c->parts++;
    return 0;
}

static int on_data(void *ud, const uint8_t *d, size_t n)
{
    collected *c = ud;
    if (c->abort_on_data) return -1;
    int i = c->parts - 1;
    if (i < 0 || c->len[i] + n > sizeof c->data[i]) return -1;
    memcpy(c->data[i] + c->len[i], d, n);
    c->len[i] += n;
    return 0;
}

static int on_end(void *ud)
{
    ((collected *)ud)->ended++;
    return 0;
}

/* Feeds body in chunks of size step; returns feed/finish status (0 ok). */
static int run(const char *boundary, const uint8_t *body, size_t len, size_t step, collected *c)
{
    memset(c, 0, sizeof *c);
    oma_multipart_cb cb = {on_begin, on_data, on_end, c};
    oma_multipart *mp = oma_multipart_new(boundary, &cb);
    if (!mp) return -2;
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0; off += step) {
        size_t n = len - off < step ? len - off : step;
        rc = oma_multipart_feed(mp, body + off, n);
    }
    if (rc == 0) rc = oma_multipart_finish(mp);
    if (rc != 0) CHECK(strlen(oma_multipart_errmsg(mp)) > 0);
    oma_multipart_free(mp);
    return rc;
}

static void test_boundary(void)
{
    char b[80];
    CHECK(oma_multipart_boundary("multipart/form-data; boundary=abc123", b, sizeof b) == 0);
    CHECK(strcmp(b, "abc123") == 0);
    CHECK(oma_multipart_boundary("Multipart/Form-Data;boundary=\"a b:c\"", b, sizeof b) == 0);
    CHECK(strcmp(b, "a b:c") == 0);
    CHECK(oma_multipart_boundary("multipart/form-data; charset=x; boundary=zz; x=y", b, sizeof b) == 0);
    CHECK(strcmp(b, "zz") == 0);
    CHECK(oma_multipart_boundary("application/json", b, sizeof b) == -1);
    CHECK(oma_multipart_boundary("multipart/form-data", b, sizeof b) == -1);
    CHECK(oma_multipart_boundary("multipart/form-data; boundary=", b, sizeof b) == -1);
    CHECK(oma_multipart_boundary("multipart/form-data; boundary=\"unterminated", b, sizeof b) == -1);
    CHECK(oma_multipart_boundary("multipart/form-data; boundary=a\rb", b, sizeof b) == -1);
    CHECK(oma_multipart_boundary(NULL, b, sizeof b) == -1);
    char longb[200] = "multipart/form-data; boundary=";
    memset(longb + strlen(longb), 'x', 71);
    CHECK(oma_multipart_boundary(longb, b, sizeof b) == -1);
}

static void test_parts_any_chunking(void)
{
    /* data holds delimiter look-alikes: "\r\n--XY" (boundary prefix), "\r\r\n--XY!", "--XYz" and NULs */
    static const uint8_t file[] = "A\r\n--XY\r\r\n--XY!\r\n--XYz\0\x01\xff\r\n-\r\nZ";
    size_t flen = sizeof file - 1;
    uint8_t body[1024];
    size_t n = 0;
    n += (size_t)sprintf((char *)body + n, "preamble to ignore\r\n--XYZ\r\n"
                                          "Content-Disposition: form-data; name=\"title\"\r\n\r\n"
                                          "hello\r\n--XYZ  \r\n"
                                          "content-disposition: form-data; name=\"file\"; filename=\"a \\\"q\\\".png\"\r\n"
                                          "Content-Type: image/png\r\n\r\n");
    memcpy(body + n, file, flen);
    n += flen;
    n += (size_t)sprintf((char *)body + n, "\r\n--XYZ--\r\nepilogue");
    for (size_t step = 1; step <= n; step++) {
        collected c;
        int rc = run("XYZ", body, n, step, &c);
        CHECK(rc == 0);
        CHECK(c.parts == 2 && c.ended == 2);
        if (c.parts != 2) {
            fprintf(stderr, "  step %zu\n", step);
            return;
        }
        CHECK(strcmp(c.names[0], "title") == 0 && c.len[0] == 5 && memcmp(c.data[0], "hello", 5) == 0);
        CHECK(strcmp(c.names[1], "file") == 0);
        CHECK(strcmp(c.fnames[1], "a \"q\".png") == 0);
        CHECK(strcmp(c.types[1], "image/png") == 0);
        CHECK(c.len[1] == flen && memcmp(c.data[1], file, flen) == 0);
        if (failures) {
            fprintf(stderr, "  step %zu\n", step);
            return;
        }
    }
}

static void test_errors(void)
{
    collected c;
    const char *unterminated = "--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nabc";
    CHECK(run("B", (const uint8_t *)unterminated, strlen(unterminated), 7, &c) != 0);
    const char *no_boundary = "just some bytes";
    CHECK(run("B", (const uint8_t *)no_boundary, strlen(no_boundary), 4, &c) != 0);
    const char *bad_line = "--B garbage\r\n\r\n";
    CHECK(run("B", (const uint8_t *)bad_line, strlen(bad_line), 3, &c) != 0);
    const char *not_form = "--B\r\nContent-Disposition: attachment\r\n\r\nx\r\n--B--";
    CHECK(run("B", (const uint8_t *)not_form, strlen(not_form), 5, &c) != 0);

    /* a header block larger than the limit */
    size_t big = OMA_MP_MAX_HEADER + 100;
    uint8_t *b = malloc(big + 64);
    CHECK(b != NULL);
    if (b) {
        size_t n = (size_t)sprintf((char *)b, "--B\r\nX-Pad: ");
        memset(b + n, 'p', big);
        n += big;
        CHECK(run("B", b, n, 1000, &c) != 0);
        free(b);
    }
    /* too many parts */
    char many[4096];
    size_t n = 0;
    for (int i = 0; i < OMA_MP_MAX_PARTS + 1; i++)
        n += (size_t)snprintf(many + n, sizeof many - n,
                              "--B\r\nContent-Disposition: form-data; name=\"p%d\"\r\n\r\nv\r\n", i);
    n += (size_t)snprintf(many + n, sizeof many - n, "--B--");
    CHECK(run("B", (const uint8_t *)many, n, 64, &c) != 0);
    /* a callback that refuses data aborts the parse */
    const char *ok = "--B\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nabc\r\n--B--";
    memset(&c, 0, sizeof c);
    c.abort_on_data = 1;
    oma_multipart_cb cb = {on_begin, on_data, on_end, &c};
    oma_multipart *mp = oma_multipart_new("B", &cb);
    CHECK(mp && oma_multipart_feed(mp, (const uint8_t *)ok, strlen(ok)) == -1);
    CHECK(mp && oma_multipart_feed(mp, (const uint8_t *)"x", 1) == -1);   /* stays failed */
    oma_multipart_free(mp);
    /* a part with no headers, then an empty file */
    const char *empty = "--B\r\n\r\n\r\n--B\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\n\r\n--B--";
    CHECK(run("B", (const uint8_t *)empty, strlen(empty), 2, &c) == 0);
    CHECK(c.parts == 2 && c.len[0] == 0 && c.len[1] == 0 && strcmp(c.names[0], "") == 0);
    CHECK(oma_multipart_new("", &cb) == NULL);
}

/* A compact record of everything the callbacks saw, to compare two runs. */
typedef struct trace {
    unsigned char log[8192];
    size_t n;
    int overflow;
} trace;

static void trace_put(trace *t, const void *d, size_t n)
{
    if (t->n + n > sizeof t->log) {
        t->overflow = 1;
        return;
    }
    memcpy(t->log + t->n, d, n);
    t->n += n;
}

static int tr_begin(void *ud, const char *n, const char *f, const char *c)
{
    trace_put(ud, "B", 1);
    trace_put(ud, n, strlen(n) + 1);
    trace_put(ud, f, strlen(f) + 1);
    trace_put(ud, c, strlen(c) + 1);
    return 0;
}

static int tr_data(void *ud, const uint8_t *d, size_t n)
{
    trace_put(ud, d, n);   /* data runs are concatenated: chunking must not show */
    return 0;
}

static int tr_end(void *ud)
{
    trace_put(ud, "E", 1);
    return 0;
}

static int trace_run(const uint8_t *body, size_t len, size_t step, trace *t)
{
    memset(t, 0, sizeof *t);
    oma_multipart_cb cb = {tr_begin, tr_data, tr_end, t};
    oma_multipart *mp = oma_multipart_new("bnd", &cb);
    if (!mp) return -2;
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0; off += step)
        rc = oma_multipart_feed(mp, body + off, len - off < step ? len - off : step);
    if (rc == 0) rc = oma_multipart_finish(mp);
    oma_multipart_free(mp);
    return rc;
}

/* Random mutations of a valid body: never a crash, and the result (status and the
 * callbacks' view) is the same whether the body comes whole or a byte at a time. */
static void test_mutations(void)
{
    static const char base[] = "--bnd\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nxy\r\n--bn\r\n"
                               "--bnd\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.png\"\r\n"
                               "Content-Type: image/png\r\n\r\n\x89PNG\r\n--bnd--\r\n";
    static const char alphabet[] = "-\r\nbnd\"=;:a ";
    uint32_t seed = 12345;
    uint8_t body[512];
    int ok = 0, bad = 0;
    for (int iter = 0; iter < 3000; iter++) {
        size_t len = sizeof base - 1;
        memcpy(body, base, len);
        int edits = 1 + iter % 4;
        for (int e = 0; e < edits; e++) {
            seed = seed * 1103515245u + 12345u;
            size_t pos = (seed >> 8) % len;
            seed = seed * 1103515245u + 12345u;
            int op = (int)((seed >> 16) % 3);
            uint8_t c = (uint8_t)alphabet[(seed >> 4) % (sizeof alphabet - 1)];
            if (op == 0) body[pos] = c;
            else if (op == 1 && len + 1 < sizeof body) {
                memmove(body + pos + 1, body + pos, len - pos);
                body[pos] = c;
                len++;
            } else if (len > 1) {
                memmove(body + pos, body + pos + 1, len - pos - 1);
                len--;
            }
        }
        trace whole, bytes;
        int r1 = trace_run(body, len, len, &whole);
        int r2 = trace_run(body, len, 1, &bytes);
        CHECK(r1 == r2);
        if (r1 == 0) ok++;
        else bad++;
        if (r1 == 0 && r2 == 0) CHECK(whole.n == bytes.n && memcmp(whole.log, bytes.log, whole.n) == 0);
        if (failures) {
            fprintf(stderr, "  mutation %d\n", iter);
            return;
        }
    }
    CHECK(ok > 100 && bad > 100);   /* both outcomes were exercised */
}

int main(void)
{
    test_boundary();
    test_mutations();
    test_parts_any_chunking();
    test_errors();
    if (failures) {
        fprintf(stderr, "test_multipart: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_multipart: ok\n");
    return 0;
}
