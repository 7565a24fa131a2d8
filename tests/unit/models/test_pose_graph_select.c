/* test_pose_graph_select.c — the picking/indexing ops of graph_ops_select.c (MoveNet
 * MultiPose's decoder) against values worked out by hand: TopKV2 breaks ties by the lower
 * index (as tfjs), ArgMax takes the first maximum, GatherNd, TF1 Select with a row vector,
 * Unpack/Split outputs, StridedSlice with new_axis_mask, Cast to bool; and the refusals: a
 * GatherNd index outside the params, a k beyond the axis, an Unpack whose num disagrees, a
 * Range that would not end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "models/pose/graph_ops.h"

static oma_tfjs_node node(const char *op, json_t **attr, const char *attr_json)
{
    oma_tfjs_node n;
    memset(&n, 0, sizeof n);
    n.name = "t";
    n.op = op;
    *attr = NULL;
    if (attr_json) {
        json_error_t je;
        *attr = json_loads(attr_json, 0, &je);
        assert_non_null(*attr);
        n.attr = *attr;
    }
    return n;
}

static oma_gt mkf(int rank, const int64_t *d, const float *v)
{
    oma_gt t;
    assert_int_equal(oma_gt_alloc(&t, OMA_TFJS_F32, rank, d), 0);
    memcpy(t.f, v, t.n * sizeof(float));
    return t;
}

static oma_gt mki(int rank, const int64_t *d, const int32_t *v)
{
    oma_gt t;
    assert_int_equal(oma_gt_alloc(&t, OMA_TFJS_I32, rank, d), 0);
    memcpy(t.i, v, t.n * sizeof(int32_t));
    return t;
}

static int run1(const char *op, const char *attr_json, oma_gt **in, int n, oma_gt *out)
{
    json_t *a;
    oma_tfjs_node nd = node(op, &a, attr_json);
    char err[256] = "";
    assert_true(oma_gop_supported(op));
    int rc = oma_gop_run(&nd, in, n, out, err, sizeof err);
    if (rc) assert_true(strlen(err) > 0);
    json_decref(a);
    return rc;
}

static void test_topk_argmax(void **s)
{
    (void)s;
    int64_t d[2] = {1, 6}, one = 1;
    float v[6] = {0.5f, 0.9f, 0.5f, 0.1f, 0.9f, 0.5f};
    oma_gt x = mkf(2, d, v), k = mki(0, &one, (int32_t[]){4}), outs[3];
    oma_gt *in[2] = {&x, &k};
    json_t *a;
    oma_tfjs_node nd = node("TopKV2", &a, "{\"sorted\":{\"b\":true}}");
    char err[256];
    assert_int_equal(oma_gop_run_multi(&nd, in, 2, outs, 2, err, sizeof err), 0);
    const int32_t want_i[4] = {1, 4, 0, 2};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(outs[1].i[i], want_i[i]);
        assert_float_equal(outs[0].f[i], v[want_i[i]], 0);
    }
    oma_gt_free(&outs[0]);
    oma_gt_free(&outs[1]);
    k.i[0] = 7;   /* more than the axis holds */
    assert_int_equal(oma_gop_run_multi(&nd, in, 2, outs, 2, err, sizeof err), -1);
    assert_int_equal(oma_gop_run_multi(&nd, in, 2, outs, 3, err, sizeof err), -1);
    json_decref(a);
    oma_gt ax = mki(0, &one, (int32_t[]){1}), o;
    oma_gt *in2[2] = {&x, &ax};
    assert_int_equal(run1("ArgMax", NULL, in2, 2, &o), 0);
    assert_int_equal(o.rank, 1);
    assert_int_equal(o.i[0], 1);   /* first of the two 0.9 */
    oma_gt_free(&o);
    assert_int_equal(run1("Max", NULL, in2, 2, &o), 0);
    assert_float_equal(o.f[0], 0.9f, 0);
    oma_gt_free(&o);
    oma_gt_free(&x);
    oma_gt_free(&k);
    oma_gt_free(&ax);
}

static void test_gather_nd(void **s)
{
    (void)s;
    int64_t pd[3] = {2, 3, 2}, id[2] = {2, 2};
    float pv[12];
    for (int i = 0; i < 12; i++) pv[i] = (float)i;
    oma_gt p = mkf(3, pd, pv), ix = mki(2, id, (int32_t[]){1, 2, 0, 1}), o;
    oma_gt *in[2] = {&p, &ix};
    assert_int_equal(run1("GatherNd", NULL, in, 2, &o), 0);
    assert_int_equal(o.rank, 2);
    assert_int_equal(o.d[0], 2);
    assert_int_equal(o.d[1], 2);
    assert_float_equal(o.f[0], 10, 0);   /* p[1][2] = {10, 11} */
    assert_float_equal(o.f[1], 11, 0);
    assert_float_equal(o.f[2], 2, 0);    /* p[0][1] = {2, 3} */
    oma_gt_free(&o);
    ix.i[1] = 3;   /* outside dim 1 (size 3) */
    assert_int_equal(run1("GatherNd", NULL, in, 2, &o), -1);
    ix.i[1] = -1;
    assert_int_equal(run1("GatherNd", NULL, in, 2, &o), -1);
    oma_gt_free(&p);
    oma_gt_free(&ix);
}

static void test_select_compare_cast(void **s)
{
    (void)s;
    int64_t d[2] = {2, 2}, two = 2;
    oma_gt a = mkf(2, d, (float[]){1, 2, 3, 4}), b = mkf(2, d, (float[]){-1, -2, -3, -4});
    oma_gt c = mki(1, &two, (int32_t[]){0, 1}), o;
    oma_gt *in[3] = {&c, &a, &b};
    assert_int_equal(run1("Select", NULL, in, 3, &o), 0);   /* TF1: cond picks rows */
    const float want[4] = {-1, -2, 3, 4};
    for (int i = 0; i < 4; i++) assert_float_equal(o.f[i], want[i], 0);
    oma_gt_free(&o);
    oma_gt th = mkf(0, d, (float[]){2.5f}), cmp;
    oma_gt *in2[2] = {&a, &th};
    assert_int_equal(run1("GreaterEqual", NULL, in2, 2, &cmp), 0);
    assert_int_equal(cmp.dtype, OMA_TFJS_I32);
    const int32_t wc[4] = {0, 0, 1, 1};
    for (int i = 0; i < 4; i++) assert_int_equal(cmp.i[i], wc[i]);
    oma_gt *in3[3] = {&cmp, &a, &b};
    assert_int_equal(run1("SelectV2", NULL, in3, 3, &o), 0);
    for (int i = 0; i < 4; i++) assert_float_equal(o.f[i], want[i], 0);
    oma_gt_free(&o);
    oma_gt *in4[1] = {&b};
    assert_int_equal(run1("Cast", "{\"DstT\":{\"type\":\"DT_BOOL\"}}", in4, 1, &o), 0);
    assert_int_equal(o.dtype, OMA_TFJS_I32);
    assert_int_equal(o.i[3], 1);
    oma_gt_free(&o);
    oma_gt_free(&a);
    oma_gt_free(&b);
    oma_gt_free(&c);
    oma_gt_free(&th);
    oma_gt_free(&cmp);
}

static void test_unpack_split_slice(void **s)
{
    (void)s;
    int64_t d[2] = {2, 3}, one = 1;
    oma_gt x = mkf(2, d, (float[]){1, 2, 3, 4, 5, 6}), outs[3];
    oma_gt *in[1] = {&x};
    json_t *a;
    char err[256];
    oma_tfjs_node nd = node("Unpack", &a, "{\"num\":{\"i\":\"3\"},\"axis\":{\"i\":\"1\"}}");
    assert_int_equal(oma_gop_run_multi(&nd, in, 1, outs, 3, err, sizeof err), 0);
    assert_int_equal(outs[2].rank, 1);
    assert_float_equal(outs[2].f[0], 3, 0);
    assert_float_equal(outs[2].f[1], 6, 0);
    for (int k = 0; k < 3; k++) oma_gt_free(&outs[k]);
    json_decref(a);
    nd = node("Unpack", &a, "{\"num\":{\"i\":\"2\"},\"axis\":{\"i\":\"1\"}}");   /* num disagrees */
    assert_int_equal(oma_gop_run_multi(&nd, in, 1, outs, 2, err, sizeof err), -1);
    json_decref(a);
    oma_gt ax = mki(0, &one, (int32_t[]){0});
    oma_gt *in2[2] = {&ax, &x};
    nd = node("Split", &a, "{\"num_split\":{\"i\":\"2\"}}");
    assert_int_equal(oma_gop_run_multi(&nd, in2, 2, outs, 2, err, sizeof err), 0);
    assert_int_equal(outs[1].d[0], 1);
    assert_float_equal(outs[1].f[0], 4, 0);
    oma_gt_free(&outs[0]);
    oma_gt_free(&outs[1]);
    json_decref(a);
    /* x[:, None, 1:] -> shape [2, 1, 2] */
    int64_t three = 3;
    oma_gt b = mki(1, &three, (int32_t[]){0, 0, 1}), e = mki(1, &three, (int32_t[]){0, 0, 3}),
           st = mki(1, &three, (int32_t[]){1, 1, 1}), o;
    oma_gt *in3[4] = {&x, &b, &e, &st};
    assert_int_equal(run1("StridedSlice", "{\"begin_mask\":{\"i\":\"1\"},\"end_mask\":{\"i\":\"1\"},"
                                          "\"new_axis_mask\":{\"i\":\"2\"}}", in3, 4, &o), 0);
    assert_int_equal(o.rank, 3);
    assert_int_equal(o.d[0], 2);
    assert_int_equal(o.d[1], 1);
    assert_int_equal(o.d[2], 2);
    assert_float_equal(o.f[3], 6, 0);
    oma_gt_free(&o);
    oma_gt_free(&x);
    oma_gt_free(&ax);
    oma_gt_free(&b);
    oma_gt_free(&e);
    oma_gt_free(&st);
}

static void test_makers(void **s)
{
    (void)s;
    int64_t one = 1, two = 2;
    oma_gt st = mkf(0, &one, (float[]){0}), lim = mkf(0, &one, (float[]){2.5f}), dl = mkf(0, &one, (float[]){1}), o;
    oma_gt *in[3] = {&st, &lim, &dl};
    assert_int_equal(run1("Range", NULL, in, 3, &o), 0);
    assert_int_equal(o.n, 3);
    assert_float_equal(o.f[2], 2, 0);
    oma_gt_free(&o);
    dl.f[0] = 0;   /* never ends */
    assert_int_equal(run1("Range", NULL, in, 3, &o), -1);
    dl.f[0] = 1e-9f;   /* too many */
    lim.f[0] = 1e9f;
    assert_int_equal(run1("Range", NULL, in, 3, &o), -1);
    oma_gt dims = mki(1, &two, (int32_t[]){2, 3}), val = mki(0, &one, (int32_t[]){7});
    oma_gt *in2[2] = {&dims, &val};
    assert_int_equal(run1("Fill", NULL, in2, 2, &o), 0);
    assert_int_equal(o.n, 6);
    assert_int_equal(o.i[5], 7);
    oma_gt_free(&o);
    oma_gt *in3[2] = {&dims, &dims};   /* multiples of rank 2 for a rank-1 tensor */
    assert_int_equal(run1("Tile", NULL, in3, 2, &o), -1);
    oma_gt mult = mki(1, &one, (int32_t[]){3});
    oma_gt *in4[2] = {&dims, &mult};
    assert_int_equal(run1("Tile", NULL, in4, 2, &o), 0);
    assert_int_equal(o.n, 6);
    assert_int_equal(o.i[4], 2);
    oma_gt_free(&o);
    oma_gt *in5[1] = {&dims};
    assert_int_equal(run1("Size", NULL, in5, 1, &o), 0);
    assert_int_equal(o.i[0], 2);
    oma_gt_free(&o);
    oma_gt_free(&st);
    oma_gt_free(&lim);
    oma_gt_free(&dl);
    oma_gt_free(&dims);
    oma_gt_free(&val);
    oma_gt_free(&mult);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topk_argmax),
        cmocka_unit_test(test_gather_nd),
        cmocka_unit_test(test_select_compare_cast),
        cmocka_unit_test(test_unpack_split_slice),
        cmocka_unit_test(test_makers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
