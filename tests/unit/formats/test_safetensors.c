/* test_safetensors.c — the safetensors reader and writer: round trips, half/bfloat16
 * conversions, and every kind of lying file (truncated, offsets out of range or overlapping,
 * unknown dtype, huge header, bytes that do not match the shape) giving an error that names
 * the tensor instead of a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "formats/safetensors.h"

/* Builds a file image: 8-byte length + header + data. */
static uint8_t *mk(const char *hdr, const void *data, size_t dlen, size_t *len) {
    size_t hl = strlen(hdr);
    *len = 8 + hl + dlen;
    uint8_t *b = malloc(*len);
    assert_non_null(b);
    uint64_t h = hl;
    memcpy(b, &h, 8);
    memcpy(b + 8, hdr, hl);
    if (dlen) memcpy(b + 8 + hl, data, dlen);
    return b;
}

/* Opens hdr+data from memory expecting failure; returns the error for inspection. */
static void expect_error(const char *hdr, size_t dlen, const char *needle1, const char *needle2) {
    uint8_t data[256] = {0};
    assert_true(dlen <= sizeof data);
    size_t len;
    uint8_t *b = mk(hdr, data, dlen, &len);
    oma_safetensors *st = (oma_safetensors *)1;
    char err[256] = "";
    assert_int_equal(oma_st_open_memory(b, len, &st, err, sizeof err), -1);
    assert_null(st);
    if (!strstr(err, needle1) || (needle2 && !strstr(err, needle2)))
        fail_msg("error '%s' lacks '%s' / '%s'", err, needle1, needle2 ? needle2 : "");
    free(b);
}

static void test_half_known_values(void **s) {
    (void)s;
    assert_int_equal(oma_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(oma_f32_to_f16(-2.0f), 0xc000);
    assert_int_equal(oma_f32_to_f16(65504.0f), 0x7bff);
    assert_int_equal(oma_f32_to_f16(65520.0f), 0x7c00);          /* rounds to inf */
    assert_int_equal(oma_f32_to_f16(ldexpf(1.0f, -24)), 0x0001);  /* smallest subnormal */
    assert_int_equal(oma_f32_to_f16(ldexpf(1.0f, -25)), 0x0000);  /* tie -> even (0) */
    assert_int_equal(oma_f32_to_f16(ldexpf(3.0f, -25)), 0x0002);  /* tie -> even (2) */
    assert_int_equal(oma_f32_to_f16(1.0f + ldexpf(1.0f, -11)), 0x3c00); /* tie -> even */
    assert_int_equal(oma_f32_to_f16(1.0f + ldexpf(3.0f, -11)), 0x3c02);
    assert_true(isnan(oma_f16_to_f32(oma_f32_to_f16(NAN))));
    assert_true(oma_f16_to_f32(0x7c00) == INFINITY);
    assert_true(oma_f16_to_f32(0x0001) == ldexpf(1.0f, -24));
    assert_true(oma_f16_to_f32(0x3555) == 0.333251953125f);
    /* every finite half survives half -> float -> half */
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue;
        assert_int_equal(oma_f32_to_f16(oma_f16_to_f32((uint16_t)h)), h);
    }
    assert_int_equal(oma_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(oma_f32_to_bf16(1.0f + ldexpf(1.0f, -8)), 0x3f80);  /* tie -> even */
    assert_int_equal(oma_f32_to_bf16(1.0f + ldexpf(3.0f, -8)), 0x3f82);
    assert_true(oma_bf16_to_f32(0xc040) == -3.0f);
}

/* The bulk conversion (F16C when the CPU has it) agrees with the scalar one on every half and
 * bfloat16 value, from an unaligned source, with a length that is not a multiple of 8. */
static void test_bulk_conversion_all_values(void **s) {
    (void)s;
    size_t n = 65536 + 3;
    uint8_t *raw = malloc(2 * n + 1);
    float *out = malloc(n * sizeof *out);
    assert_non_null(raw);
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        uint16_t h = (uint16_t)i;
        memcpy(raw + 1 + 2 * i, &h, 2);
    }
    char err[128];
    for (int d = 0; d < 2; d++) {
        oma_st_tensor t;
        memset(&t, 0, sizeof t);
        t.name = "all";
        t.dtype = d ? OMA_ST_BF16 : OMA_ST_F16;
        t.ndim = 1;
        t.shape[0] = t.numel = (int64_t)n;
        t.nbytes = 2 * n;
        t.data = raw + 1;
        assert_int_equal(oma_st_read_f32(&t, out, n, err, sizeof err), 0);
        for (size_t i = 0; i < n; i++) {
            float want = d ? oma_bf16_to_f32((uint16_t)i) : oma_f16_to_f32((uint16_t)i);
            if (isnan(want)) assert_true(isnan(out[i]));
            else if (memcmp(&want, &out[i], 4)) fail_msg("%s 0x%04zx: %g, scalar %g", d ? "bf16" : "f16", i & 0xffff, out[i], want);
        }
    }
    free(raw);
    free(out);
}

static void test_roundtrip(void **s) {
    (void)s;
    oma_st_writer *w = oma_st_writer_new();
    assert_non_null(w);
    char err[256];
    float a[6] = {1, -2, 3.5f, 0.25f, -0.125f, 1e-3f};
    int64_t sa[2] = {2, 3}, sb[1] = {6}, sc[3] = {1, 2, 3}, sz[1] = {0};
    assert_int_equal(oma_st_writer_add_f32(w, "a.weight", OMA_ST_F32, 2, sa, a, err, sizeof err), 0);
    assert_int_equal(oma_st_writer_add_f32(w, "b.half", OMA_ST_F16, 1, sb, a, err, sizeof err), 0);
    assert_int_equal(oma_st_writer_add_f32(w, "c.bf16", OMA_ST_BF16, 3, sc, a, err, sizeof err), 0);
    assert_int_equal(oma_st_writer_add(w, "empty", OMA_ST_F32, 1, sz, NULL, err, sizeof err), 0);
    assert_int_equal(oma_st_writer_add_f32(w, "a.weight", OMA_ST_F32, 2, sa, a, err, sizeof err), -1);
    assert_non_null(strstr(err, "a.weight"));
    assert_int_equal(oma_st_writer_set_metadata(w, "format", "pt", err, sizeof err), 0);

    char path[] = "/tmp/oma_st_test_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(oma_st_writer_save(w, path, err, sizeof err), 0);
    oma_st_writer_free(w);

    oma_safetensors *st;
    if (oma_st_open(path, &st, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(oma_st_count(st), 4);
    assert_string_equal(oma_st_at(st, 0)->name, "a.weight");   /* header order kept */
    assert_string_equal(oma_st_at(st, 2)->name, "c.bf16");
    assert_string_equal(oma_st_metadata(st, "format"), "pt");
    assert_null(oma_st_metadata(st, "nope"));
    assert_null(oma_st_find(st, "nope"));
    /* data area 8-byte aligned after the padded header */
    const oma_st_tensor *ta = oma_st_find(st, "a.weight");
    assert_non_null(ta);
    uint64_t hl;
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fread(&hl, 8, 1, f), 1);
    fclose(f);
    assert_int_equal((8 + hl) % 8, 0);
    float out[6];
    assert_int_equal(oma_st_read_f32(ta, out, 6, err, sizeof err), 0);
    assert_memory_equal(out, a, sizeof a);
    assert_int_equal(ta->ndim, 2);
    assert_int_equal(ta->shape[1], 3);
    const oma_st_tensor *tb = oma_st_find(st, "b.half");
    assert_int_equal(tb->dtype, OMA_ST_F16);
    assert_int_equal(tb->nbytes, 12);
    assert_int_equal(oma_st_read_f32(tb, out, 6, err, sizeof err), 0);
    for (int i = 0; i < 6; i++) assert_true(fabsf(out[i] - a[i]) <= fabsf(a[i]) * 1e-3f);
    const oma_st_tensor *tc = oma_st_find(st, "c.bf16");
    assert_int_equal(oma_st_read_f32(tc, out, 6, err, sizeof err), 0);
    for (int i = 0; i < 6; i++) assert_true(fabsf(out[i] - a[i]) <= fabsf(a[i]) * 8e-3f);
    assert_int_equal(oma_st_read_f32(tc, out, 5, err, sizeof err), -1);
    assert_non_null(strstr(err, "c.bf16"));
    assert_int_equal(oma_st_find(st, "empty")->numel, 0);
    int64_t want[3] = {1, 2, 4};
    assert_int_equal(oma_st_check_shape(tc, 3, want, err, sizeof err), -1);
    assert_non_null(strstr(err, "'c.bf16'"));
    assert_non_null(strstr(err, "[1,2,3] expected [1,2,4]"));
    assert_int_equal(oma_st_check_shape(tc, 3, sc, err, sizeof err), 0);
    oma_st_close(st);
    remove(path);
}

static void test_file_errors(void **s) {
    (void)s;
    oma_safetensors *st;
    char err[256];
    assert_int_equal(oma_st_open("/nonexistent/x.safetensors", &st, err, sizeof err), -1);
    assert_non_null(strstr(err, "/nonexistent/x.safetensors"));
    /* truncated file: write a good one then cut its data */
    oma_st_writer *w = oma_st_writer_new();
    float a[64] = {0};
    int64_t sh[1] = {64};
    assert_int_equal(oma_st_writer_add_f32(w, "big", OMA_ST_F32, 1, sh, a, err, sizeof err), 0);
    uint8_t *buf;
    size_t len;
    assert_int_equal(oma_st_writer_to_memory(w, &buf, &len, err, sizeof err), 0);
    oma_st_writer_free(w);
    char path[] = "/tmp/oma_st_trunc_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len - 10), (ssize_t)(len - 10));
    close(fd);
    assert_int_equal(oma_st_open(path, &st, err, sizeof err), -1);
    assert_non_null(strstr(err, "'big'"));
    assert_non_null(strstr(err, "beyond"));
    /* truncated inside the header */
    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, 20), 20);
    close(fd);
    assert_int_equal(oma_st_open(path, &st, err, sizeof err), -1);
    assert_non_null(strstr(err, "truncated"));
    /* empty file */
    fd = open(path, O_WRONLY | O_TRUNC);
    close(fd);
    assert_int_equal(oma_st_open(path, &st, err, sizeof err), -1);
    assert_non_null(strstr(err, "too short"));
    remove(path);
    free(buf);
}

static void test_lying_headers(void **s) {
    (void)s;
    /* offsets past the data */
    expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "'w'", "beyond");
    /* overlapping tensors */
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlaps", "'a'");
    /* unknown dtype, named */
    expect_error("{\"ids\":{\"dtype\":\"Q4_K\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "'ids'", "Q4_K");
    /* a known non-float dtype is sized like any other: 8 bytes per I64 */
    expect_error("{\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "'ids'", "need 16");
    /* bytes do not match shape x dtype */
    expect_error("{\"w\":{\"dtype\":\"F16\",\"shape\":[3,3],\"data_offsets\":[0,16]}}", 16, "'w'", "need 18");
    /* begin > end, negative dim, missing fields, shape overflow */
    expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8, "'w'", "begin");
    expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 8, "'w'", "shape[0]");
    expect_error("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "'w'", "dtype");
    expect_error("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 8, "'w'", "shape");
    expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", 8, "'w'", "data_offsets");
    expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}",
                 8, "'w'", "too large");
    expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
                 8, "'w'", "dims");
    /* not JSON / not an object / duplicate key / bad metadata */
    expect_error("{\"w\":", 0, "JSON", NULL);
    expect_error("[1,2]", 0, "not a JSON object", NULL);
    expect_error("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "JSON", NULL);
    expect_error("{\"__metadata__\":{\"x\":1}}", 0, "__metadata__", "'x'");
}

static void test_huge_header_length(void **s) {
    (void)s;
    uint8_t b[64] = {0};
    uint64_t h = (uint64_t)1 << 40;
    memcpy(b, &h, 8);
    oma_safetensors *st;
    char err[256];
    assert_int_equal(oma_st_open_memory(b, sizeof b, &st, err, sizeof err), -1);
    assert_non_null(strstr(err, "limit"));
    h = 1000; /* under the limit but past the end of the file */
    memcpy(b, &h, 8);
    assert_int_equal(oma_st_open_memory(b, sizeof b, &st, err, sizeof err), -1);
    assert_non_null(strstr(err, "truncated"));
    assert_int_equal(oma_st_open_memory(b, 5, &st, err, sizeof err), -1);
}

static void test_other_dtype_listed_not_read(void **s) {
    (void)s;
    int64_t ids[3] = {0, 1, 2};
    float w[2] = {1.5f, -2.0f};
    uint8_t data[32];
    memcpy(data, ids, 24);
    memcpy(data + 24, w, 8);
    size_t len;
    uint8_t *b = mk("{\"position_ids\":{\"dtype\":\"I64\",\"shape\":[1,3],\"data_offsets\":[0,24]},"
                    "\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[24,32]}}", data, 32, &len);
    oma_safetensors *st;
    char err[256];
    if (oma_st_open_memory(b, len, &st, err, sizeof err)) fail_msg("%s", err);
    const oma_st_tensor *t = oma_st_find(st, "position_ids");
    assert_non_null(t);
    assert_int_equal(t->dtype, OMA_ST_OTHER);
    assert_string_equal(t->dtype_str, "I64");
    assert_int_equal(t->nbytes, 24);
    float out[3];
    assert_int_equal(oma_st_read_f32(t, out, 3, err, sizeof err), -1);
    assert_non_null(strstr(err, "'position_ids'"));
    assert_non_null(strstr(err, "I64"));
    assert_int_equal(oma_st_read_f32(oma_st_find(st, "w"), out, 2, err, sizeof err), 0);
    assert_true(out[0] == 1.5f && out[1] == -2.0f);
    assert_string_equal(oma_st_find(st, "w")->dtype_str, "F32");
    oma_st_close(st);
    free(b);
}

static void test_scalar_and_metadata_only(void **s) {
    (void)s;
    float v = 42.0f;
    size_t len;
    uint8_t *b = mk("{\"__metadata__\":{\"ss_network_dim\":\"4\"},"
                    "\"alpha\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}  ", &v, 4, &len);
    oma_safetensors *st;
    char err[256];
    if (oma_st_open_memory(b, len, &st, err, sizeof err)) fail_msg("%s", err);
    const oma_st_tensor *t = oma_st_find(st, "alpha");
    assert_non_null(t);
    assert_int_equal(t->ndim, 0);
    assert_int_equal(t->numel, 1);
    float out;
    assert_int_equal(oma_st_read_f32(t, &out, 1, err, sizeof err), 0);
    assert_true(out == 42.0f);
    assert_string_equal(oma_st_metadata(st, "ss_network_dim"), "4");
    oma_st_close(st);
    free(b);
}

/* Mutated and truncated copies of a valid file: each must open cleanly or fail cleanly, and any
 * tensor it lists must be readable inside the buffer (ASan watches the exact-size copy). */
static void test_mutations_never_crash(void **s) {
    (void)s;
    oma_st_writer *w = oma_st_writer_new();
    char err[256];
    float a[12];
    for (int i = 0; i < 12; i++) a[i] = (float)i - 5.5f;
    int64_t s1[2] = {3, 4}, s2[1] = {5}, s3[3] = {1, 1, 2};
    assert_int_equal(oma_st_writer_add_f32(w, "w.a", OMA_ST_F32, 2, s1, a, err, sizeof err), 0);
    assert_int_equal(oma_st_writer_add_f32(w, "w.b", OMA_ST_F16, 1, s2, a, err, sizeof err), 0);
    assert_int_equal(oma_st_writer_add_f32(w, "w.c", OMA_ST_BF16, 3, s3, a, err, sizeof err), 0);
    assert_int_equal(oma_st_writer_set_metadata(w, "k", "v", err, sizeof err), 0);
    uint8_t *good;
    size_t len;
    assert_int_equal(oma_st_writer_to_memory(w, &good, &len, err, sizeof err), 0);
    oma_st_writer_free(w);
    uint64_t hl;
    memcpy(&hl, good, 8);
    uint64_t x = 0x9E3779B97F4A7C15ull;
    int opened = 0, failed = 0;
    for (int it = 0; it < 4000; it++) {
        size_t n = len;
        uint8_t *b = malloc(len);
        assert_non_null(b);
        memcpy(b, good, len);
        int muts = 1 + (int)(x % 4);
        for (int m = 0; m < muts; m++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            size_t pos = (size_t)(x % (8 + hl));      /* mostly the header */
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            b[pos] = (it % 3 == 0) ? (uint8_t)("0123456789[]{},:\"-\\ "[x % 19]) : (uint8_t)x;
        }
        if (it % 5 == 0) n = (size_t)(x % (len + 1)); /* and truncation */
        uint8_t *c = malloc(n ? n : 1);
        assert_non_null(c);
        memcpy(c, b, n);
        free(b);
        oma_safetensors *st;
        if (oma_st_open_memory(c, n, &st, err, sizeof err) == 0) {
            opened++;
            for (size_t i = 0; i < oma_st_count(st); i++) {
                const oma_st_tensor *t = oma_st_at(st, i);
                assert_true(t->data >= c && t->data + t->nbytes <= c + n);
                if (t->dtype != OMA_ST_OTHER && t->numel <= 64) {
                    float out[64];
                    assert_int_equal(oma_st_read_f32(t, out, (size_t)t->numel, err, sizeof err), 0);
                }
            }
            oma_st_close(st);
        } else {
            failed++;
            assert_true(strlen(err) > 0);
        }
        free(c);
    }
    assert_true(failed > 1000); /* the mutations really do break files */
    assert_true(opened > 10);   /* and some survive (values, names): 32 of 4000 here */
    free(good);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_half_known_values),
        cmocka_unit_test(test_bulk_conversion_all_values),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_file_errors),
        cmocka_unit_test(test_lying_headers),
        cmocka_unit_test(test_huge_header_length),
        cmocka_unit_test(test_scalar_and_metadata_only),
        cmocka_unit_test(test_other_dtype_listed_not_read),
        cmocka_unit_test(test_mutations_never_crash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
