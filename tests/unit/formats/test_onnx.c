/* test_onnx.c — the ONNX reader on models built here byte by byte (a small protobuf writer):
 * a valid graph given out of order comes back sorted with its attributes and initializers
 * (raw_data, typed fields, external data); hostile files — cycles, undefined inputs, values
 * defined twice, huge or too many dims, sizes that do not match, unsupported dtypes, subgraphs,
 * external paths with '..' / absolute / symlinked out of the folder, truncated and bit-flipped
 * protobuf — give one-line "oma: onnx: ..." errors and never crash (ASan/UBSan build). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/check.h"
#include "formats/onnx.h"

typedef struct { uint8_t *p; size_t n, cap; } buf;

static void put(buf *b, const void *d, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        if (!b->p) abort();
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
}
static void varint(buf *b, uint64_t v)
{
    do { uint8_t c = (uint8_t)(v & 0x7f); v >>= 7; if (v) c |= 0x80; put(b, &c, 1); } while (v);
}
static void f_int(buf *b, int field, uint64_t v) { varint(b, (uint64_t)field << 3); varint(b, v); }
static void f_bytes(buf *b, int field, const void *d, size_t n) { varint(b, (uint64_t)field << 3 | 2); varint(b, n); put(b, d, n); }
static void f_str(buf *b, int field, const char *s) { f_bytes(b, field, s, strlen(s)); }
static void f_msg(buf *b, int field, buf *sub) { f_bytes(b, field, sub->p, sub->n); free(sub->p); memset(sub, 0, sizeof *sub); }
static void f_f32(buf *b, int field, float f) { uint32_t x; memcpy(&x, &f, 4); varint(b, (uint64_t)field << 3 | 5); put(b, &x, 4); }

/* TensorProto with raw data (raw NULL: no data field). */
static buf tensor(const char *name, int dtype, const int64_t *dims, int nd, const void *raw, size_t rawlen)
{
    buf t = {0};
    for (int i = 0; i < nd; i++) f_int(&t, 1, (uint64_t)dims[i]);
    f_int(&t, 2, (uint64_t)dtype);
    f_str(&t, 8, name);
    if (raw) f_bytes(&t, 9, raw, rawlen);
    return t;
}
static buf node(const char *op, const char *name, const char *in0, const char *in1, const char *out)
{
    buf n = {0};
    if (in0) f_str(&n, 1, in0);
    if (in1) f_str(&n, 1, in1);
    if (out) f_str(&n, 2, out);
    f_str(&n, 3, name);
    f_str(&n, 4, op);
    return n;
}
static buf value(const char *name, int dtype, const int64_t *dims, int nd)
{
    buf shape = {0}, tt = {0}, ty = {0}, v = {0};
    for (int i = 0; i < nd; i++) {
        buf d = {0};
        if (dims[i] < 0) f_str(&d, 2, "N"); else f_int(&d, 1, (uint64_t)dims[i]);
        f_msg(&shape, 1, &d);
    }
    f_int(&tt, 1, (uint64_t)dtype);
    f_msg(&tt, 2, &shape);
    f_msg(&ty, 1, &tt);
    f_str(&v, 1, name);
    f_msg(&v, 2, &ty);
    return v;
}
static buf model(buf *graph, int ir, int opset)
{
    buf m = {0}, op = {0};
    f_int(&m, 1, (uint64_t)ir);
    f_str(&m, 2, "test");
    f_msg(&m, 7, graph);
    f_str(&op, 1, "");
    f_int(&op, 2, (uint64_t)opset);
    f_msg(&m, 8, &op);
    return m;
}

static char err[512];

/* Loads from memory; returns rc and frees. */
static int try_load(buf *m, const char *dir)
{
    oma_onnx_model mm;
    err[0] = 0;
    int rc = oma_onnx_load_memory(m->p, m->n, dir, &mm, err, sizeof err);
    if (rc == 0) oma_onnx_free(&mm);
    else CHECK(strncmp(err, "oma: onnx: ", 11) == 0);
    return rc;
}
static void expect_err(buf g, const char *needle)
{
    buf m = model(&g, 8, 13);
    int rc = try_load(&m, NULL);
    CHECK(rc == -1);
    if (!strstr(err, needle)) fprintf(stderr, "expected '%s' in: %s\n", needle, err);
    CHECK(strstr(err, needle) != NULL);
    free(m.p);
}

/* A valid graph: X[N,2] -MatMul W[2,2]-> Y -Relu-> Z, plus a Transpose with perm ints and an
 * alpha float, given in reverse order. */
static buf valid_graph(void)
{
    buf g = {0};
    int64_t d22[2] = {2, 2}, dx[2] = {-1, 2};
    float w[4] = {1, 2, 3, 4};
    buf n2 = node("LeakyRelu", "act", "Y", NULL, "Z");
    buf a = {0};
    f_str(&a, 1, "alpha"); f_f32(&a, 2, 0.25f); f_int(&a, 20, 1);
    f_msg(&n2, 5, &a);
    f_msg(&g, 1, &n2);
    buf n1 = node("MatMul", "mm", "X", "W", "Y");
    buf p = {0};
    f_str(&p, 1, "perm");
    buf packed = {0}; varint(&packed, 1); varint(&packed, 0);
    f_msg(&p, 8, &packed);
    f_int(&p, 20, 7);
    f_msg(&n1, 5, &p);
    f_msg(&g, 1, &n1);
    buf w_t = tensor("W", 1, d22, 2, w, sizeof w);
    f_msg(&g, 5, &w_t);
    /* int64 shape through int64_data (packed) and uint8 through int32_data */
    buf s = {0};
    int64_t d2[1] = {2};
    f_int(&s, 1, 2); f_int(&s, 2, 7); f_str(&s, 8, "shape");
    buf sp = {0}; varint(&sp, 1); varint(&sp, (uint64_t)-1);
    f_msg(&s, 7, &sp);
    f_msg(&g, 5, &s);
    buf u = {0};
    f_int(&u, 1, 2); f_int(&u, 2, 2); f_str(&u, 8, "u8"); f_int(&u, 5, 7); f_int(&u, 5, 200);
    f_msg(&g, 5, &u);
    (void)d2;
    buf x = value("X", 1, dx, 2);
    f_msg(&g, 11, &x);
    buf z = value("Z", 1, dx, 2);
    f_msg(&g, 12, &z);
    return g;
}

static void test_valid(void)
{
    buf g = valid_graph();
    buf m = model(&g, 8, 13);
    oma_onnx_model mm;
    int rc = oma_onnx_load_memory(m.p, m.n, NULL, &mm, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    CHECK(rc == 0);
    if (rc == 0) {
        CHECK(mm.ir_version == 8 && mm.opset == 13);
        CHECK(mm.n_nodes == 2);
        CHECK(!strcmp(mm.nodes[0].op_type, "MatMul"));     /* sorted */
        CHECK(!strcmp(mm.nodes[1].op_type, "LeakyRelu"));
        const oma_onnx_attr *al = oma_onnx_find_attr(&mm.nodes[1], "alpha");
        CHECK(al && al->type == 1 && al->f == 0.25f);
        const oma_onnx_attr *pm = oma_onnx_find_attr(&mm.nodes[0], "perm");
        CHECK(pm && pm->type == 7 && pm->n == 2 && pm->ints[0] == 1 && pm->ints[1] == 0);
        const oma_onnx_tensor *w = oma_onnx_find_init(&mm, "W");
        CHECK(w && w->dtype == 1 && w->ndim == 2 && w->numel == 4 && ((float *)w->data)[3] == 4.0f);
        const oma_onnx_tensor *s = oma_onnx_find_init(&mm, "shape");
        CHECK(s && s->dtype == 7 && s->numel == 2 && ((int64_t *)s->data)[1] == -1);
        const oma_onnx_tensor *u = oma_onnx_find_init(&mm, "u8");
        CHECK(u && u->nbytes == 2 && ((uint8_t *)u->data)[1] == 200);
        CHECK(mm.n_inputs == 1 && mm.inputs[0].ndim == 2 && mm.inputs[0].dims[0] == -1 && mm.inputs[0].dims[1] == 2);
        oma_onnx_free(&mm);
    }
    /* every truncation fails cleanly (or, at a field boundary, loads) and never crashes */
    int fails = 0;
    for (size_t cut = 0; cut < m.n; cut++) {
        buf t = {m.p, cut, cut};
        fails += try_load(&t, NULL) != 0;
    }
    CHECK(fails == (int)m.n);       /* every prefix misses the graph's end or the opset */
    buf t = {m.p, m.n / 2, m.n / 2};
    CHECK(try_load(&t, NULL) == -1 && strstr(err, "malformed protobuf") != NULL);
    /* bit flips: deterministic pseudo-random mutations */
    uint8_t *copy = malloc(m.n);
    uint32_t seed = 12345;
    for (int it = 0; it < 4000; it++) {
        memcpy(copy, m.p, m.n);
        for (int k = 0; k < 1 + it % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % m.n;
            seed = seed * 1103515245u + 12345u;
            copy[at] ^= (uint8_t)(1u << ((seed >> 16) & 7));
        }
        buf b = {copy, m.n, m.n};
        (void)try_load(&b, NULL);
    }
    free(copy);
    free(m.p);
}

static void test_graph_errors(void)
{
    int64_t d1[1] = {1};
    float one = 1;
    /* cycle: a = Add(X, b); b = Relu(a) */
    buf g = {0};
    buf n1 = node("Add", "add", "X", "b", "a"); f_msg(&g, 1, &n1);
    buf n2 = node("Relu", "relu", "a", NULL, "b"); f_msg(&g, 1, &n2);
    buf x = value("X", 1, d1, 1); f_msg(&g, 11, &x);
    buf o = value("b", 1, d1, 1); f_msg(&g, 12, &o);
    expect_err(g, "cycle");
    /* self loop */
    g = (buf){0};
    n1 = node("Relu", "self", "a", NULL, "a"); f_msg(&g, 1, &n1);
    o = value("a", 1, d1, 1); f_msg(&g, 12, &o);
    expect_err(g, "cycle (through node 'self' (Relu))");
    /* undefined input */
    g = (buf){0};
    n1 = node("Relu", "r", "nowhere", NULL, "y"); f_msg(&g, 1, &n1);
    o = value("y", 1, d1, 1); f_msg(&g, 12, &o);
    expect_err(g, "input 'nowhere' is not defined");
    /* output defined twice */
    g = (buf){0};
    x = value("X", 1, d1, 1); f_msg(&g, 11, &x);
    n1 = node("Relu", "r1", "X", NULL, "y"); f_msg(&g, 1, &n1);
    n2 = node("Relu", "r2", "X", NULL, "y"); f_msg(&g, 1, &n2);
    o = value("y", 1, d1, 1); f_msg(&g, 12, &o);
    expect_err(g, "output 'y' is already defined");
    /* graph output never produced */
    g = (buf){0};
    x = value("X", 1, d1, 1); f_msg(&g, 11, &x);
    o = value("ghost", 1, d1, 1); f_msg(&g, 12, &o);
    expect_err(g, "graph output 'ghost' is not defined");
    /* subgraph attribute */
    g = (buf){0};
    x = value("X", 1, d1, 1); f_msg(&g, 11, &x);
    n1 = node("If", "if", "X", NULL, "y");
    buf a = {0}, sub = {0};
    f_str(&a, 1, "then_branch"); f_str(&sub, 2, "g"); f_msg(&a, 6, &sub); f_int(&a, 20, 5);
    f_msg(&n1, 5, &a);
    f_msg(&g, 1, &n1);
    o = value("y", 1, d1, 1); f_msg(&g, 12, &o);
    expect_err(g, "subgraph");
    /* custom domain */
    g = (buf){0};
    x = value("X", 1, d1, 1); f_msg(&g, 11, &x);
    n1 = node("Evil", "e", "X", NULL, "y"); f_str(&n1, 7, "com.example"); f_msg(&g, 1, &n1);
    o = value("y", 1, d1, 1); f_msg(&g, 12, &o);
    expect_err(g, "domain 'com.example' is not supported");
    (void)one;
}

static void test_tensor_errors(void)
{
    float f4[4] = {0};
    int64_t huge[3] = {(int64_t)1 << 31, (int64_t)1 << 31, 4};
    buf g = {0}, t = tensor("big", 1, huge, 3, NULL, 0);
    f_msg(&g, 5, &t);
    expect_err(g, "more than 4294967296 elements");
    int64_t too[1] = {(int64_t)1 << 40};
    g = (buf){0}; t = tensor("wide", 1, too, 1, NULL, 0); f_msg(&g, 5, &t);
    expect_err(g, "out of range");
    int64_t neg[1] = {-3};
    g = (buf){0}; t = tensor("neg", 1, neg, 1, NULL, 0); f_msg(&g, 5, &t);
    expect_err(g, "out of range");
    int64_t nine[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    g = (buf){0}; t = tensor("deep", 1, nine, 9, f4, 4); f_msg(&g, 5, &t);
    expect_err(g, "more than 8 dims");
    int64_t d4[1] = {4};
    g = (buf){0}; t = tensor("short", 1, d4, 1, f4, 12); f_msg(&g, 5, &t);
    expect_err(g, "raw_data has 12 bytes, its shape and type need 16");
    g = (buf){0}; t = tensor("str", 8, d4, 1, f4, 16); f_msg(&g, 5, &t);
    expect_err(g, "data type 8 is not supported");
    g = (buf){0}; t = tensor("cplx", 14, d4, 1, f4, 16); f_msg(&g, 5, &t);
    expect_err(g, "data type 14 is not supported");
    /* float tensor whose values come in int64_data */
    g = (buf){0}; t = tensor("mixed", 1, d4, 1, NULL, 0);
    buf p = {0}; for (int i = 0; i < 4; i++) varint(&p, 1);
    f_msg(&t, 7, &p); f_msg(&g, 5, &t);
    expect_err(g, "does not match data type float");
    /* too few typed values */
    g = (buf){0}; t = tensor("few", 7, d4, 1, NULL, 0);
    p = (buf){0}; varint(&p, 1);
    f_msg(&t, 7, &p); f_msg(&g, 5, &t);
    expect_err(g, "1 values for a shape of 4 elements");
    /* external_data given as a varint instead of an entry message (found by fuzz_onnx) */
    g = (buf){0}; t = tensor("ext", 1, d4, 1, NULL, 0);
    f_int(&t, 13, 5); f_msg(&g, 5, &t);
    expect_err(g, "external_data entry: wrong wire type");
    /* a graph input with a huge shape dim is refused */
    int64_t hd[1] = {(int64_t)1 << 40};
    g = (buf){0}; buf v = value("X", 1, hd, 1); f_msg(&g, 11, &v);
    expect_err(g, "dim 1099511627776 out of range");
    /* not protobuf at all / no graph / wrong versions */
    buf junk = {0}; put(&junk, "\x0f\xff\xff", 3);
    CHECK(try_load(&junk, NULL) == -1 && strstr(err, "malformed protobuf"));
    free(junk.p);
    buf empty = {0}; f_int(&empty, 1, 8);
    CHECK(try_load(&empty, NULL) == -1 && strstr(err, "no graph"));
    free(empty.p);
    g = (buf){0}; buf gm = model(&g, 99, 13);
    CHECK(try_load(&gm, NULL) == -1 && strstr(err, "IR version 99"));
    free(gm.p);
}

/* External data: a tensor whose bytes live in a file next to the model. */
static buf ext_graph(const char *loc, const char *offset, const char *length)
{
    buf g = {0}, t = {0};
    f_int(&t, 1, 4); f_int(&t, 2, 1); f_str(&t, 8, "E");
    buf e = {0};
    f_str(&e, 1, "location"); f_str(&e, 2, loc); f_msg(&t, 13, &e);
    if (offset) { f_str(&e, 1, "offset"); f_str(&e, 2, offset); f_msg(&t, 13, &e); }
    if (length) { f_str(&e, 1, "length"); f_str(&e, 2, length); f_msg(&t, 13, &e); }
    f_int(&t, 14, 1);
    f_msg(&g, 5, &t);
    buf n = node("Identity", "id", "E", NULL, "y"); f_msg(&g, 1, &n);
    int64_t d[1] = {4};
    buf o = value("y", 1, d, 1); f_msg(&g, 12, &o);
    return g;
}

static int write_file(const char *path, const void *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(d, 1, n, f);
    return fclose(f) == 0 && w == n ? 0 : -1;
}

static void test_external(void)
{
    char dir[] = "/tmp/oma-onnx-test-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char sub[256], path[300], outside[300], link[300], mpath[300];
    snprintf(sub, sizeof sub, "%s/model", dir);
    CHECK(mkdir(sub, 0700) == 0);
    float vals[6] = {9, 1, 2, 3, 4, 9};
    snprintf(path, sizeof path, "%s/w.bin", sub);
    CHECK(write_file(path, vals, sizeof vals) == 0);
    snprintf(outside, sizeof outside, "%s/secret.bin", dir);
    CHECK(write_file(outside, vals, sizeof vals) == 0);
    snprintf(link, sizeof link, "%s/link.bin", sub);
    CHECK(symlink(outside, link) == 0);

    /* good: offset 4, length 16, loaded through oma_onnx_load from a file */
    buf g = ext_graph("w.bin", "4", "16");
    buf m = model(&g, 8, 13);
    snprintf(mpath, sizeof mpath, "%s/m.onnx", sub);
    CHECK(write_file(mpath, m.p, m.n) == 0);
    oma_onnx_model mm;
    int rc = oma_onnx_load(mpath, &mm, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    CHECK(rc == 0);
    if (rc == 0) {
        const oma_onnx_tensor *e = oma_onnx_find_init(&mm, "E");
        CHECK(e && e->numel == 4 && ((float *)e->data)[0] == 1 && ((float *)e->data)[3] == 4);
        oma_onnx_free(&mm);
    }
    CHECK(try_load(&m, NULL) == -1 && strstr(err, "not loaded from a file"));
    free(m.p);

    struct { const char *loc, *off, *len, *needle; } bad[] = {
        {"../secret.bin", NULL, NULL, "('..' refused)"},
        {"sub/../../secret.bin", NULL, NULL, "('..' refused)"},
        {outside, NULL, NULL, "must be a relative path"},
        {"link.bin", NULL, NULL, "resolves outside the model's folder"},
        {"missing.bin", NULL, NULL, "No such file"},
        {"w.bin", "12", NULL, "runs past the end"},
        {"w.bin", "18446744073709551", NULL, "runs past the end"},
        {"w.bin", "99999999999999999999999", NULL, "not a number"},
        {"w.bin", "-4", NULL, "not a number"},
        {"w.bin", NULL, "8", "length 8, expected 16"},
        {"", NULL, NULL, "without a location"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        g = ext_graph(bad[i].loc, bad[i].off, bad[i].len);
        m = model(&g, 8, 13);
        CHECK(try_load(&m, sub) == -1);
        if (!strstr(err, bad[i].needle)) fprintf(stderr, "case %zu: expected '%s' in: %s\n", i, bad[i].needle, err);
        CHECK(strstr(err, bad[i].needle) != NULL);
        free(m.p);
    }
    unlink(link); unlink(path); unlink(outside); unlink(mpath);
    rmdir(sub); rmdir(dir);
}

/* A model exported by Debian's torch (tools/make_onnx_fixtures.py), checked against the op
 * list and initializer shapes the exporter wrote next to it. */
static void test_torch_fixture(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    char path[1024], ref[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/onnx/tiny_ops.onnx", src ? src : "..");
    snprintf(ref, sizeof ref, "%s/tests/fixtures/onnx/tiny_ops.txt", src ? src : "..");
    FILE *f = fopen(ref, "r");
    CHECK(f != NULL);
    if (!f) return;
    oma_onnx_model mm;
    int rc = oma_onnx_load(path, &mm, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    CHECK(rc == 0);
    char line[512];
    size_t ops = 0;
    int inits = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        char kind[16], name[256];
        if (sscanf(line, "%15s %255s", kind, name) != 2) continue;
        if (!strcmp(kind, "opset")) CHECK(mm.opset == atoi(name));
        else if (!strcmp(kind, "op")) {
            /* the exporter's order is topological already; ours must keep it */
            CHECK(ops < mm.n_nodes && !strcmp(mm.nodes[ops].op_type, name));
            ops++;
        } else if (!strcmp(kind, "init")) {
            const oma_onnx_tensor *t = oma_onnx_find_init(&mm, name);
            CHECK(t != NULL);
            char *p = strstr(line, name) + strlen(name);
            int nd = (int)strtol(p, &p, 10);
            double sum = 0, want;
            CHECK(t && t->ndim == nd);
            for (int i = 0; t && i < nd && i < t->ndim; i++) CHECK(t->dims[i] == strtoll(p, &p, 10));
            want = strtod(p, &p);
            if (t && t->dtype == OMA_ONNX_FLOAT) for (int64_t i = 0; i < t->numel; i++) sum += ((float *)t->data)[i];
            if (t && t->dtype == OMA_ONNX_INT64) for (int64_t i = 0; i < t->numel; i++) sum += (double)((int64_t *)t->data)[i];
            double tol = 1e-4 * (1 + (want < 0 ? -want : want));
            CHECK(sum - want < tol && want - sum < tol);
            inits++;
        }
    }
    fclose(f);
    if (rc == 0) {
        CHECK(ops == mm.n_nodes && ops > 10);
        CHECK(inits > 0);
        oma_onnx_free(&mm);
    }
}

int main(void)
{
    test_valid();
    test_graph_errors();
    test_tensor_errors();
    test_external();
    test_torch_fixture();
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    return failures != 0;
}
