/* test_tfjs.c — the TFJS graph-model loader on small hand-made models: float32, float16,
 * uint8 and uint16 affine-quantised weights decode to the right numbers, several shards of a
 * group are concatenated, attributes (ints as strings, base64 strings, lists) read back; and
 * every malformed file is refused with a message: short shard, extra bytes, unknown dtype,
 * a shard path escaping the folder, bad shapes, missing manifest, non-finite values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/tfjs.h"

static char dir[64];

static void write_file(const char *name, const void *data, size_t len)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static const char *TOPO =
    "\"modelTopology\":{\"node\":[{\"name\":\"x\",\"op\":\"Placeholder\"},"
    "{\"name\":\"w\",\"op\":\"Const\"},"
    "{\"name\":\"y\",\"op\":\"Conv2D\",\"input\":[\"x\",\"w:0\",\"^ctrl\"],\"attr\":{"
    "\"padding\":{\"s\":\"U0FNRQ==\"},\"strides\":{\"list\":{\"i\":[\"1\",\"2\",\"2\",\"1\"]}},"
    "\"block\":{\"i\":\"3\"},\"eps\":{\"f\":0.5},\"flag\":{\"b\":true},"
    "\"fused_ops\":{\"list\":{\"s\":[\"Qmlhc0FkZA==\",\"UmVsdTY=\"]}}}}]}";

static int load_json(const char *manifest, oma_tfjs_model *m, char *err, size_t errlen)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "{%s,\"weightsManifest\":%s}", TOPO, manifest);
    write_file("model.json", buf, strlen(buf));
    char p[256];
    snprintf(p, sizeof p, "%s/model.json", dir);
    return oma_tfjs_load(p, m, err, errlen);
}

static void test_decode(void **s)
{
    (void)s;
    /* a: float32 [2] = {1.5, -2}; b: float16 [2] = {1.0, -0.5}; c: uint8 [3] scale 0.5 min -1;
     * d: uint16 [1] scale 2 min 1; e: int32 [1] = 7 — split over two shards. */
    uint8_t bin[8 + 4 + 3 + 2 + 4];
    float a[2] = {1.5f, -2.0f};
    memcpy(bin, a, 8);
    uint16_t h[2] = {0x3c00, 0xb800};
    memcpy(bin + 8, h, 4);
    bin[12] = 0, bin[13] = 2, bin[14] = 255;
    bin[15] = 3, bin[16] = 0;
    int32_t e = 7;
    memcpy(bin + 17, &e, 4);
    write_file("s1.bin", bin, 10);
    write_file("s2.bin", bin + 10, sizeof bin - 10);
    oma_tfjs_model m;
    char err[256] = "";
    int rc = load_json("[{\"paths\":[\"s1.bin\",\"s2.bin\"],\"weights\":["
                       "{\"name\":\"a\",\"shape\":[2],\"dtype\":\"float32\"},"
                       "{\"name\":\"b\",\"shape\":[1,2],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"float16\"}},"
                       "{\"name\":\"c\",\"shape\":[3],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint8\",\"scale\":0.5,\"min\":-1}},"
                       "{\"name\":\"d\",\"shape\":[],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint16\",\"scale\":2,\"min\":1}},"
                       "{\"name\":\"e\",\"shape\":[1],\"dtype\":\"int32\"}]}]",
                       &m, err, sizeof err);
    if (rc) fail_msg("%s", err);
    const oma_tfjs_weight *w = oma_tfjs_weight_find(&m, "a");
    assert_non_null(w);
    assert_float_equal(w->f[1], -2, 0);
    w = oma_tfjs_weight_find(&m, "b");
    assert_int_equal(w->rank, 2);
    assert_float_equal(w->f[0], 1, 0);
    assert_float_equal(w->f[1], -0.5, 0);
    w = oma_tfjs_weight_find(&m, "c");
    assert_float_equal(w->f[0], -1, 0);
    assert_float_equal(w->f[1], 0, 0);
    assert_float_equal(w->f[2], 126.5, 0);
    w = oma_tfjs_weight_find(&m, "d");
    assert_int_equal(w->rank, 0);
    assert_int_equal(w->n, 1);
    assert_float_equal(w->f[0], 7, 0);
    assert_int_equal(oma_tfjs_weight_find(&m, "e")->i[0], 7);
    assert_null(oma_tfjs_weight_find(&m, "zz"));
    const oma_tfjs_node *n = oma_tfjs_node_find(&m, "y");
    assert_non_null(n);
    assert_int_equal(n->n_inputs, 2);   /* ^ctrl dropped */
    assert_string_equal(n->inputs[1], "w:0");
    int64_t v, l[4];
    int cnt, b;
    double f;
    char str[32];
    assert_int_equal(oma_tfjs_attr_int(n, "block", &v), 0);
    assert_int_equal(v, 3);
    assert_int_equal(oma_tfjs_attr_float(n, "eps", &f), 0);
    assert_float_equal(f, 0.5, 0);
    assert_int_equal(oma_tfjs_attr_bool(n, "flag", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(oma_tfjs_attr_str(n, "padding", str, sizeof str), 0);
    assert_string_equal(str, "SAME");
    assert_int_equal(oma_tfjs_attr_ints(n, "strides", l, 4, &cnt), 0);
    assert_int_equal(cnt, 4);
    assert_int_equal(l[2], 2);
    assert_int_equal(oma_tfjs_attr_strs_at(n, "fused_ops", 1, str, sizeof str), 0);
    assert_string_equal(str, "Relu6");
    assert_int_equal(oma_tfjs_attr_strs_at(n, "fused_ops", 2, str, sizeof str), -1);
    assert_int_equal(oma_tfjs_attr_int(n, "missing", &v), -1);
    assert_int_equal(oma_tfjs_attr_str(n, "padding", str, 3), -1);   /* too small a buffer */
    oma_tfjs_free(&m);
    assert_float_equal(oma_tfjs_half_to_float(0x0001), ldexpf(1, -24), 0);   /* subnormal */
    assert_true(isinf(oma_tfjs_half_to_float(0x7c00)));
}

static void expect_bad(const char *manifest, const char *needle)
{
    oma_tfjs_model m;
    char err[256] = "";
    assert_int_equal(load_json(manifest, &m, err, sizeof err), -1);
    if (!strstr(err, needle)) fail_msg("error '%s' lacks '%s'", err, needle);
    assert_null(m.nodes);
}

static void test_bad(void **s)
{
    (void)s;
    uint8_t z[16] = {0};
    write_file("z.bin", z, 8);
    expect_bad("[{\"paths\":[\"z.bin\"],\"weights\":[{\"name\":\"a\",\"shape\":[3],\"dtype\":\"float32\"}]}]", "truncated");
    expect_bad("[{\"paths\":[\"z.bin\"],\"weights\":[{\"name\":\"a\",\"shape\":[1],\"dtype\":\"float32\"}]}]", "manifest needs");
    expect_bad("[{\"paths\":[\"z.bin\"],\"weights\":[{\"name\":\"a\",\"shape\":[2],\"dtype\":\"string\"}]}]", "unsupported dtype");
    expect_bad("[{\"paths\":[\"../z.bin\"],\"weights\":[]}]", "bad shard path");
    expect_bad("[{\"paths\":[\"/etc/passwd\"],\"weights\":[]}]", "bad shard path");
    expect_bad("[{\"paths\":[\"nope.bin\"],\"weights\":[]}]", "No such file");
    expect_bad("[{\"paths\":[\"z.bin\"],\"weights\":[{\"name\":\"a\",\"shape\":[-2],\"dtype\":\"float32\"}]}]", "bad shape");
    expect_bad("[{\"paths\":[\"z.bin\"],\"weights\":[{\"name\":\"a\",\"shape\":[1,1,1,1,1,1,1],\"dtype\":\"float32\"}]}]", "rank");
    expect_bad("[{\"paths\":[\"z.bin\"],\"weights\":[{\"name\":\"a\",\"shape\":[8],\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint8\"}}]}]", "scale/min");
    expect_bad("[{\"paths\":[\"z.bin\"],\"weights\":[{\"shape\":[2],\"dtype\":\"float32\"}]}]", "lacks name");
    expect_bad("{}", "weightsManifest");
    float inf[2] = {INFINITY, 0};
    write_file("inf.bin", inf, 8);
    expect_bad("[{\"paths\":[\"inf.bin\"],\"weights\":[{\"name\":\"a\",\"shape\":[2],\"dtype\":\"float32\"}]}]", "not finite");
    /* not JSON at all */
    write_file("model.json", "garbage", 7);
    oma_tfjs_model m;
    char err[256], p[256];
    snprintf(p, sizeof p, "%s/model.json", dir);
    assert_int_equal(oma_tfjs_load(p, &m, err, sizeof err), -1);
    assert_non_null(strstr(err, "invalid JSON"));
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/oma_tfjs_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_bad),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    const char *files[] = {"model.json", "s1.bin", "s2.bin", "z.bin", "inf.bin"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char p[256];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
    return rc;
}
