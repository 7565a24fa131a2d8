/* test_pose_graph_fast.c — the executor's fast paths give the same bits as the plain loops
 * they replace: the register-blocked depthwise convolution (16-channel blocks plus a tail,
 * strides, dilations, SAME padding, bias, Relu6 / PReLU applied at the store) against a plain
 * per-channel loop in the same summation order (both the portable and the AVX-512 body);
 * transposed convolutions against the scatter rule in double; the float element-wise paths (same shape, a
 * scalar either side, per channel either side, both sides broadcasting) against the
 * double-computed general rule; Pad's row copies
 * against the index rule. Also a broadcast the former per-channel shortcut got wrong: [.., C]
 * op [C, 1] varies along the second-last axis, not the last. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/pose/graph_ops.h"

typedef struct tnode {
    oma_tfjs_node n;
    json_t *attr;
} tnode;

static tnode mk(const char *op, const char *attr_json)
{
    tnode t;
    memset(&t, 0, sizeof t);
    t.n.name = "t";
    t.n.op = op;
    if (attr_json) {
        json_error_t je;
        t.attr = json_loads(attr_json, 0, &je);
        assert_non_null(t.attr);
        t.n.attr = t.attr;
    }
    return t;
}

static int run(tnode *t, oma_gt **in, int n, oma_gt *out)
{
    char err[256];
    int rc = oma_gop_run(&t->n, in, n, out, err, sizeof err);
    json_decref(t->attr);
    return rc;
}

/* Deterministic values in [-1, 1) with some exact zeros and negatives. */
static oma_gt rnd(int rank, const int64_t *d, unsigned seed)
{
    oma_gt t;
    assert_int_equal(oma_gt_alloc(&t, OMA_TFJS_F32, rank, d), 0);
    unsigned s = seed * 2654435761u + 1;
    for (size_t i = 0; i < t.n; i++) {
        s = s * 1103515245u + 12345u;
        t.f[i] = (float)((int)((s >> 8) % 2001) - 1000) / 1000.0f;
    }
    return t;
}

static int same_bits(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n * sizeof(float)) == 0;
}

/* x [1,H,W,C], filter [KH,KW,C,1], stride s, dilation dl, SAME, bias, act 0 none 1 relu6 2 prelu
 * 3 relu 4 leaky relu (alpha 0.125). */
static void check_depthwise(int H, int W, int C, int K, int s, int dl, int act)
{
    int64_t xd[4] = {1, H, W, C}, wd[4] = {K, K, C, 1}, cd[1] = {C};
    oma_gt x = rnd(4, xd, 1), w = rnd(4, wd, 2), b = rnd(1, cd, 3), al = rnd(1, cd, 4), o;
    char attr[512];
    /* base64 of BiasAdd, Relu6, Prelu, Relu, LeakyRelu */
    const char *fused = act == 1   ? "\"Qmlhc0FkZA==\",\"UmVsdTY=\""
                        : act == 2 ? "\"Qmlhc0FkZA==\",\"UHJlbHU=\""
                        : act == 3 ? "\"Qmlhc0FkZA==\",\"UmVsdQ==\""
                        : act == 4 ? "\"Qmlhc0FkZA==\",\"TGVha3lSZWx1\""
                                   : "\"Qmlhc0FkZA==\"";
    snprintf(attr, sizeof attr,
             "{\"padding\":{\"s\":\"U0FNRQ==\"},\"strides\":{\"list\":{\"i\":[\"1\",\"%d\",\"%d\",\"1\"]}},"
             "\"dilations\":{\"list\":{\"i\":[\"1\",\"%d\",\"%d\",\"1\"]}},\"fused_ops\":{\"list\":{\"s\":[%s]}},"
             "\"leakyrelu_alpha\":{\"f\":0.125}}",
             s, s, dl, dl, fused);
    tnode t = mk("FusedDepthwiseConv2dNative", attr);
    oma_gt *in[4] = {&x, &w, &b, &al};
    assert_int_equal(run(&t, in, 4, &o), 0);
    /* TF's SAME: out = ceil(in / s), the odd padding at the end */
    int oh = (H + s - 1) / s, ow = (W + s - 1) / s, eff = (K - 1) * dl + 1;
    int ph = ((oh - 1) * s + eff - H) > 0 ? ((oh - 1) * s + eff - H) / 2 : 0;
    int pw = ((ow - 1) * s + eff - W) > 0 ? ((ow - 1) * s + eff - W) / 2 : 0;
    assert_int_equal(o.d[1], oh);
    assert_int_equal(o.d[2], ow);
    float *ref = malloc(o.n * sizeof(float));
    assert_non_null(ref);
    for (int y = 0; y < oh; y++)
        for (int xx = 0; xx < ow; xx++)
            for (int c = 0; c < C; c++) {
                float acc = b.f[c];
                for (int ky = 0; ky < K; ky++) {
                    int iy = y * s - ph + ky * dl;
                    if (iy < 0 || iy >= H) continue;
                    for (int kx = 0; kx < K; kx++) {
                        int ix = xx * s - pw + kx * dl;
                        if (ix < 0 || ix >= W) continue;
                        acc += x.f[((size_t)iy * W + ix) * C + c] * w.f[((size_t)ky * K + kx) * C + c];
                    }
                }
                if (act == 1) acc = acc < 0 ? 0 : acc > 6 ? 6 : acc;
                if (act == 2 && acc < 0) acc *= al.f[c];
                if (act == 3) acc = acc > 0 ? acc : 0;
                if (act == 4 && acc < 0) acc *= 0.125f;
                ref[((size_t)y * ow + xx) * C + c] = acc;
            }
    assert_true(same_bits(o.f, ref, o.n));
    free(ref);
    oma_gt_free(&o);
    oma_gt_free(&x), oma_gt_free(&w), oma_gt_free(&b), oma_gt_free(&al);
}

static void test_depthwise_blocks(void **st)
{
    (void)st;
    check_depthwise(9, 7, 37, 3, 1, 1, 1);   /* two blocks of 16 and a tail of 5 */
    check_depthwise(10, 11, 16, 5, 2, 1, 2);
    check_depthwise(8, 8, 21, 3, 1, 2, 0);
    check_depthwise(5, 6, 3, 3, 2, 1, 1);    /* tail only */
    check_depthwise(7, 6, 24, 5, 1, 1, 2);   /* 16 + 8 */
    check_depthwise(6, 5, 45, 3, 2, 1, 3);   /* 32 + 8 + 5 */
    check_depthwise(6, 6, 40, 5, 1, 1, 4);
    check_depthwise(5, 5, 12, 3, 1, 1, 1);   /* 8 + 4 */
    check_depthwise(4, 4, 150, 5, 1, 1, 2);  /* 9 blocks of 16 and a tail of 6, every pixel near an edge */
    check_depthwise(9, 9, 72, 3, 1, 1, 1);   /* 4 blocks of 16 + 8, and 4-pixel runs inside */
}

static double bin_ref(int k, double a, double b)
{
    switch (k) {
    case 0: return a + b;
    case 1: return a - b;
    case 2: return a * b;
    case 3: return a / b;
    case 4: return a > b ? a : b;
    default: return a < b ? a : b;
    }
}

/* out[k] for a of shape ad and b of shape bd (numpy broadcasting, rank 3 at most here). */
static void check_binary(int rank, const int64_t *ad, int brank, const int64_t *bd)
{
    static const char *const ops[6] = {"AddV2", "Sub", "Mul", "RealDiv", "Maximum", "Minimum"};
    oma_gt a = rnd(rank, ad, 5), b = rnd(brank, bd, 6), o;
    for (size_t i = 0; i < b.n; i++)
        if (b.f[i] == 0) b.f[i] = 0.5f;   /* no 0/0 in the division */
    for (int k = 0; k < 6; k++) {
        tnode t = mk(ops[k], NULL);
        oma_gt *in[2] = {&a, &b};
        assert_int_equal(run(&t, in, 2, &o), 0);
        int64_t od[3] = {1, 1, 1}, pa[3] = {1, 1, 1}, pb[3] = {1, 1, 1};
        for (int q = 0; q < rank; q++) pa[3 - rank + q] = ad[q];
        for (int q = 0; q < brank; q++) pb[3 - brank + q] = bd[q];
        for (int q = 0; q < 3; q++) od[q] = pa[q] > pb[q] ? pa[q] : pb[q];
        assert_int_equal(o.rank, rank > brank ? rank : brank);
        for (int q = 0; q < o.rank; q++) assert_int_equal(o.d[q], od[3 - o.rank + q]);
        size_t n = 0;
        for (int64_t i = 0; i < od[0]; i++)
            for (int64_t j = 0; j < od[1]; j++)
                for (int64_t l = 0; l < od[2]; l++, n++) {
                    size_t ia = (size_t)(((pa[0] == 1 ? 0 : i) * pa[1] + (pa[1] == 1 ? 0 : j)) * pa[2] + (pa[2] == 1 ? 0 : l));
                    size_t ib = (size_t)(((pb[0] == 1 ? 0 : i) * pb[1] + (pb[1] == 1 ? 0 : j)) * pb[2] + (pb[2] == 1 ? 0 : l));
                    float want = (float)bin_ref(k, a.f[ia], b.f[ib]);
                    assert_memory_equal(&o.f[n], &want, sizeof want);
                }
        oma_gt_free(&o);
    }
    oma_gt_free(&a), oma_gt_free(&b);
}

/* The same blocks with the portable body forced (this machine may pick AVX-512 otherwise). */
static void test_depthwise_blocks_generic(void **st)
{
    setenv("OMA_DW_KERNEL", "generic", 1);
    test_depthwise_blocks(st);
    unsetenv("OMA_DW_KERNEL");
}

/* Conv2DBackpropInput: x [2,H,W,C], filter [K,K,O,C], stride s, SAME, against the scatter rule
 * summed in double (the product goes through GEMM, so the order of the sums differs). */
static void check_conv_transpose(int H, int W, int C, int O, int K, int s)
{
    int OH = H * s, OW = W * s;
    int64_t xd[4] = {2, H, W, C}, wd[4] = {K, K, O, C}, sd[1] = {4};
    oma_gt x = rnd(4, xd, 8), w = rnd(4, wd, 9), shp, o;
    assert_int_equal(oma_gt_alloc(&shp, OMA_TFJS_I32, 1, sd), 0);
    shp.i[0] = 2, shp.i[1] = OH, shp.i[2] = OW, shp.i[3] = O;
    char attr[256];
    snprintf(attr, sizeof attr,
             "{\"padding\":{\"s\":\"U0FNRQ==\"},\"strides\":{\"list\":{\"i\":[\"1\",\"%d\",\"%d\",\"1\"]}}}", s, s);
    tnode t = mk("Conv2DBackpropInput", attr);
    oma_gt *in[3] = {&shp, &w, &x};
    assert_int_equal(run(&t, in, 3, &o), 0);
    assert_int_equal(o.n, (size_t)2 * OH * OW * O);
    int ph = ((H - 1) * s + K - OH) > 0 ? ((H - 1) * s + K - OH) / 2 : 0;
    int pw = ((W - 1) * s + K - OW) > 0 ? ((W - 1) * s + K - OW) / 2 : 0;
    double *ref = calloc(o.n, sizeof(double));
    assert_non_null(ref);
    for (int b = 0; b < 2; b++)
        for (int y = 0; y < H; y++)
            for (int xx = 0; xx < W; xx++)
                for (int ky = 0; ky < K; ky++)
                    for (int kx = 0; kx < K; kx++) {
                        int oy = y * s - ph + ky, ox = xx * s - pw + kx;
                        if (oy < 0 || oy >= OH || ox < 0 || ox >= OW) continue;
                        for (int oc = 0; oc < O; oc++)
                            for (int c = 0; c < C; c++)
                                ref[(((size_t)b * OH + oy) * OW + ox) * O + oc] +=
                                    (double)x.f[(((size_t)b * H + y) * W + xx) * C + c] *
                                    w.f[(((size_t)ky * K + kx) * O + oc) * C + c];
                    }
    for (size_t i = 0; i < o.n; i++) assert_true(fabs(o.f[i] - ref[i]) <= 1e-5 * (1 + fabs(ref[i])));
    free(ref);
    oma_gt_free(&o), oma_gt_free(&x), oma_gt_free(&w), oma_gt_free(&shp);
}

/* No input channels: every contribution is 0, so the output is zeros (nothing is sized from
 * the input's height and width then). */
static void test_conv_transpose_empty(void)
{
    int64_t xd[4] = {1, 3, 3, 0}, wd[4] = {2, 2, 4, 0}, sd[1] = {4};
    oma_gt x, w, shp, o;
    assert_int_equal(oma_gt_alloc(&x, OMA_TFJS_F32, 4, xd), 0);
    assert_int_equal(oma_gt_alloc(&w, OMA_TFJS_F32, 4, wd), 0);
    assert_int_equal(oma_gt_alloc(&shp, OMA_TFJS_I32, 1, sd), 0);
    shp.i[0] = 1, shp.i[1] = 6, shp.i[2] = 6, shp.i[3] = 4;
    tnode t = mk("Conv2DBackpropInput",
                 "{\"padding\":{\"s\":\"U0FNRQ==\"},\"strides\":{\"list\":{\"i\":[\"1\",\"2\",\"2\",\"1\"]}}}");
    oma_gt *in[3] = {&shp, &w, &x};
    assert_int_equal(run(&t, in, 3, &o), 0);
    assert_int_equal(o.n, (size_t)6 * 6 * 4);
    for (size_t i = 0; i < o.n; i++) assert_true(o.f[i] == 0.0f);
    oma_gt_free(&o), oma_gt_free(&x), oma_gt_free(&w), oma_gt_free(&shp);
}

static void test_conv_transpose(void **st)
{
    (void)st;
    test_conv_transpose_empty();
    check_conv_transpose(4, 5, 7, 3, 2, 2);    /* the upsampling kind handdetect uses */
    check_conv_transpose(3, 3, 5, 6, 3, 2);    /* overlapping taps, padding */
    check_conv_transpose(5, 4, 4, 2, 3, 1);
}

static void test_binary_fast_paths(void **st)
{
    (void)st;
    int64_t a3[3] = {4, 5, 3}, s1[1] = {1}, c1[1] = {3}, c31[2] = {5, 1}, one3[3] = {1, 1, 1};
    check_binary(3, a3, 3, a3);    /* same shape */
    check_binary(3, a3, 1, s1);    /* scalar on the right */
    check_binary(3, one3, 3, a3);  /* scalar on the left */
    check_binary(3, a3, 1, c1);    /* per channel */
    check_binary(3, a3, 2, c31);   /* [4,5,3] op [5,1]: along the second-last axis */
    int64_t q3[3] = {2, 3, 3}, c3[2] = {3, 1};
    check_binary(3, q3, 2, c3);    /* b has as many elements as the last axis, yet varies along y */
    check_binary(1, c1, 3, a3);    /* per channel on the left: [3] op [4,5,3] */
    int64_t a413[3] = {4, 1, 3}, b151[3] = {1, 5, 1}, a411[3] = {4, 1, 1}, b53[2] = {5, 3};
    check_binary(3, a413, 3, b151);   /* both sides broadcast, on different axes */
    check_binary(3, a411, 2, b53);    /* [4,1,1] op [5,3] */
    check_binary(3, b151, 3, a413);
}

static void test_pad_rows(void **st)
{
    (void)st;
    int64_t xd[4] = {1, 3, 4, 5};
    oma_gt x = rnd(4, xd, 7), p, o;
    int64_t pd[2] = {4, 2};
    assert_int_equal(oma_gt_alloc(&p, OMA_TFJS_I32, 2, pd), 0);
    int32_t pads[8] = {0, 0, 1, 2, 2, 0, 1, 3};
    memcpy(p.i, pads, sizeof pads);
    tnode t = mk("Pad", NULL);
    oma_gt *in[2] = {&x, &p};
    assert_int_equal(run(&t, in, 2, &o), 0);
    assert_int_equal(o.d[1], 6);
    assert_int_equal(o.d[2], 6);
    assert_int_equal(o.d[3], 9);
    for (int y = 0; y < 6; y++)
        for (int xx = 0; xx < 6; xx++)
            for (int c = 0; c < 9; c++) {
                int iy = y - 1, ix = xx - 2, ic = c - 1;
                float want = iy >= 0 && iy < 3 && ix >= 0 && ix < 4 && ic >= 0 && ic < 5
                                 ? x.f[((size_t)iy * 4 + ix) * 5 + ic] : 0.0f;
                assert_memory_equal(&o.f[((size_t)y * 6 + xx) * 9 + c], &want, sizeof want);
            }
    oma_gt_free(&o), oma_gt_free(&x), oma_gt_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_depthwise_blocks),
        cmocka_unit_test(test_depthwise_blocks_generic),
        cmocka_unit_test(test_conv_transpose),
        cmocka_unit_test(test_binary_fast_paths),
        cmocka_unit_test(test_pad_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
