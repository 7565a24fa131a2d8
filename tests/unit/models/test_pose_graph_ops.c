/* test_pose_graph_ops.c — graph ops that the packaged models use rarely or not at all, checked
 * against values worked out by hand: SAME-padded strided conv (TF puts the odd padding at the
 * end), broadcasting, strided slice (negative stride, shrink), slice, squeeze/expand, mean with
 * keep_dims, SAME average pooling (divides by the count of real pixels), depth-to-space order,
 * half-pixel bilinear resize at the borders, and the refusals (bad reshape, integer division
 * by zero, negative padding, unknown op, AddN of other shapes, empty conv filter, negative
 * explicit conv padding). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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

static oma_gt f32(int rank, const int64_t *d, const float *v)
{
    oma_gt t;
    assert_int_equal(oma_gt_alloc(&t, OMA_TFJS_F32, rank, d), 0);
    memcpy(t.f, v, t.n * sizeof(float));
    return t;
}

static oma_gt i32(int n, const int32_t *v)
{
    oma_gt t;
    int64_t d = n;
    assert_int_equal(oma_gt_alloc(&t, OMA_TFJS_I32, 1, &d), 0);
    memcpy(t.i, v, (size_t)n * sizeof(int32_t));
    return t;
}

static int run(tnode *t, oma_gt **in, int n, oma_gt *out)
{
    char err[256];
    int rc = oma_gop_run(&t->n, in, n, out, err, sizeof err);
    json_decref(t->attr);
    return rc;
}

/* "SAME" in base64 is U0FNRQ==, "VALID" VkFMSUQ=, "NHWC" TkhXQw== */
static void test_conv_same_stride2(void **s)
{
    (void)s;
    float xv[16], wv[9];
    for (int i = 0; i < 16; i++) xv[i] = (float)(i + 1);
    for (int i = 0; i < 9; i++) wv[i] = 1;
    int64_t xd[4] = {1, 4, 4, 1}, wd[4] = {3, 3, 1, 1};
    oma_gt x = f32(4, xd, xv), w = f32(4, wd, wv), o;
    oma_gt *in[2] = {&x, &w};
    tnode t = mk("Conv2D", "{\"padding\":{\"s\":\"U0FNRQ==\"},\"strides\":{\"list\":{\"i\":[\"1\",\"2\",\"2\",\"1\"]}}}");
    assert_int_equal(run(&t, in, 2, &o), 0);
    assert_int_equal(o.d[1], 2);
    assert_int_equal(o.d[2], 2);
    assert_float_equal(o.f[0], 54, 1e-4);
    assert_float_equal(o.f[1], 45, 1e-4);
    assert_float_equal(o.f[2], 72, 1e-4);
    assert_float_equal(o.f[3], 54, 1e-4);
    oma_gt_free(&o);
    oma_gt_free(&x);
    oma_gt_free(&w);
}

/* A convolution with an empty filter (im2col would divide by its zero row length) or a
 * negative explicit padding (TF refuses it too) is refused. "EXPLICIT" is RVhQTElDSVQ=. */
static void test_conv_refusals(void **s)
{
    (void)s;
    float v[16] = {0};
    int64_t xd[4] = {1, 4, 4, 0}, wd[4] = {3, 3, 0, 1};
    oma_gt x = f32(4, xd, v), w = f32(4, wd, v), o;
    oma_gt *in[2] = {&x, &w};
    tnode t = mk("Conv2D", "{\"padding\":{\"s\":\"VkFMSUQ=\"}}");
    assert_int_equal(run(&t, in, 2, &o), -1);
    oma_gt_free(&x);
    oma_gt_free(&w);
    int64_t xd1[4] = {1, 4, 4, 1}, wd1[4] = {3, 3, 1, 1};
    x = f32(4, xd1, v);
    w = f32(4, wd1, v);
    t = mk("Conv2D", "{\"padding\":{\"s\":\"RVhQTElDSVQ=\"},\"explicit_paddings\":{\"list\":{\"i\":"
                     "[\"0\",\"0\",\"-1\",\"1\",\"1\",\"1\",\"0\",\"0\"]}}}");
    assert_int_equal(run(&t, in, 2, &o), -1);
    t = mk("Conv2D", "{\"padding\":{\"s\":\"RVhQTElDSVQ=\"},\"explicit_paddings\":{\"list\":{\"i\":"
                     "[\"0\",\"0\",\"1\",\"1\",\"1\",\"1\",\"0\",\"0\"]}}}");
    assert_int_equal(run(&t, in, 2, &o), 0);
    assert_int_equal(o.d[1], 4);
    assert_int_equal(o.d[2], 4);
    oma_gt_free(&o);
    oma_gt_free(&x);
    oma_gt_free(&w);
}

static void test_broadcast_and_errors(void **s)
{
    (void)s;
    int64_t da[2] = {2, 1}, db[2] = {1, 3};
    float av[2] = {10, 20}, bv[3] = {1, 2, 3};
    oma_gt a = f32(2, da, av), b = f32(2, db, bv), o;
    oma_gt *in[2] = {&a, &b};
    tnode t = mk("AddV2", NULL);
    assert_int_equal(run(&t, in, 2, &o), 0);
    assert_int_equal(o.n, 6);
    assert_float_equal(o.f[5], 23, 0);
    assert_float_equal(o.f[3], 21, 0);
    oma_gt_free(&o);
    int64_t dc[2] = {1, 2};
    oma_gt c = f32(2, dc, av);
    oma_gt *in_addn[2] = {&a, &c};
    t = mk("AddN", NULL);
    assert_int_equal(run(&t, in_addn, 2, &o), -1);   /* [2,1] + [1,2]: same count, other shape */
    in_addn[1] = &a;
    t = mk("AddN", NULL);
    assert_int_equal(run(&t, in_addn, 2, &o), 0);
    assert_float_equal(o.f[1], 40, 0);
    oma_gt_free(&o);
    oma_gt_free(&c);
    oma_gt_free(&a);
    oma_gt_free(&b);

    int32_t one[1] = {7}, zero[1] = {0};
    oma_gt p = i32(1, one), z = i32(1, zero);
    oma_gt *in2[2] = {&p, &z};
    t = mk("FloorDiv", NULL);
    assert_int_equal(run(&t, in2, 2, &o), -1);   /* integer division by zero */
    int32_t shp[2] = {4, -1};
    oma_gt sh = i32(2, shp);
    int64_t d3[1] = {6};
    float v6[6] = {0};
    oma_gt x6 = f32(1, d3, v6);
    oma_gt *in3[2] = {&x6, &sh};
    t = mk("Reshape", NULL);
    assert_int_equal(run(&t, in3, 2, &o), -1);   /* 6 is not a multiple of 4 */
    shp[0] = 3;
    oma_gt sh2 = i32(2, shp);
    in3[1] = &sh2;
    t = mk("Reshape", NULL);
    assert_int_equal(run(&t, in3, 2, &o), 0);
    assert_int_equal(o.d[1], 2);
    oma_gt_free(&o);
    int32_t padv[2] = {-1, 0};
    oma_gt pd = i32(2, padv);
    oma_gt *in4[2] = {&x6, &pd};
    t = mk("Pad", NULL);
    assert_int_equal(run(&t, in4, 2, &o), -1);
    t = mk("NoSuchOp", NULL);
    assert_int_equal(run(&t, in4, 2, &o), -1);
    assert_false(oma_gop_supported("NoSuchOp"));
    assert_true(oma_gop_supported("_FusedConv2D"));
    oma_gt_free(&p), oma_gt_free(&z), oma_gt_free(&sh), oma_gt_free(&sh2), oma_gt_free(&x6), oma_gt_free(&pd);
}

static void test_slices(void **s)
{
    (void)s;
    int32_t v[10];
    for (int i = 0; i < 10; i++) v[i] = i;
    oma_gt x = i32(10, v), o;
    int32_t b[1] = {8}, e[1] = {2}, st[1] = {-2};
    oma_gt B = i32(1, b), E = i32(1, e), S = i32(1, st);
    oma_gt *in[4] = {&x, &B, &E, &S};
    tnode t = mk("StridedSlice", NULL);
    assert_int_equal(run(&t, in, 4, &o), 0);
    assert_int_equal(o.n, 3);
    assert_int_equal(o.i[0], 8);
    assert_int_equal(o.i[2], 4);
    oma_gt_free(&o);
    B.i[0] = -7;   /* = 3 */
    S.i[0] = 1;
    t = mk("StridedSlice", "{\"shrink_axis_mask\":{\"i\":\"1\"}}");
    assert_int_equal(run(&t, in, 4, &o), 0);
    assert_int_equal(o.rank, 0);
    assert_int_equal(o.i[0], 3);
    oma_gt_free(&o);

    float fv[6] = {0, 1, 2, 3, 4, 5};
    int64_t d[2] = {2, 3};
    oma_gt m = f32(2, d, fv);
    int32_t sb[2] = {0, 1}, ss[2] = {2, -1};
    oma_gt SB = i32(2, sb), SS = i32(2, ss);
    oma_gt *in2[3] = {&m, &SB, &SS};
    t = mk("Slice", NULL);
    assert_int_equal(run(&t, in2, 3, &o), 0);
    assert_int_equal(o.d[0], 2);
    assert_int_equal(o.d[1], 2);
    assert_float_equal(o.f[0], 1, 0);
    assert_float_equal(o.f[3], 5, 0);
    oma_gt_free(&o);
    int32_t ax[1] = {-1};
    oma_gt AX = i32(1, ax);
    oma_gt *in3[2] = {&m, &AX};
    t = mk("ExpandDims", NULL);
    assert_int_equal(run(&t, in3, 2, &o), 0);
    assert_int_equal(o.rank, 3);
    assert_int_equal(o.d[2], 1);
    oma_gt *in4[1] = {&o};
    oma_gt q;
    t = mk("Squeeze", NULL);
    assert_int_equal(run(&t, in4, 1, &q), 0);
    assert_int_equal(q.rank, 2);
    oma_gt_free(&q);
    oma_gt_free(&o);
    oma_gt_free(&x), oma_gt_free(&B), oma_gt_free(&E), oma_gt_free(&S), oma_gt_free(&m);
    oma_gt_free(&SB), oma_gt_free(&SS), oma_gt_free(&AX);
}

static void test_reduce_pool_space(void **s)
{
    (void)s;
    float v[4] = {1, 2, 3, 6};
    int64_t d[4] = {1, 2, 2, 1};
    oma_gt x = f32(4, d, v), o;
    int32_t ax[2] = {1, 2};
    oma_gt AX = i32(2, ax);
    oma_gt *in[2] = {&x, &AX};
    tnode t = mk("Mean", "{\"keep_dims\":{\"b\":true}}");
    assert_int_equal(run(&t, in, 2, &o), 0);
    assert_int_equal(o.rank, 4);
    assert_float_equal(o.f[0], 3, 1e-6);
    oma_gt_free(&o);
    oma_gt *in1[1] = {&x};
    t = mk("AvgPool", "{\"padding\":{\"s\":\"U0FNRQ==\"},\"ksize\":{\"list\":{\"i\":[1,3,3,1]}},"
                      "\"strides\":{\"list\":{\"i\":[1,1,1,1]}}}");
    assert_int_equal(run(&t, in1, 1, &o), 0);
    for (int i = 0; i < 4; i++) assert_float_equal(o.f[i], 3, 1e-6);   /* every window sees all 4 */
    oma_gt_free(&o);
    float c4[4] = {10, 11, 12, 13};
    int64_t dc[4] = {1, 1, 1, 4};
    oma_gt c = f32(4, dc, c4);
    oma_gt *in2[1] = {&c};
    t = mk("DepthToSpace", "{\"block_size\":{\"i\":\"2\"}}");
    assert_int_equal(run(&t, in2, 1, &o), 0);
    assert_int_equal(o.d[1], 2);
    assert_int_equal(o.d[3], 1);
    for (int i = 0; i < 4; i++) assert_float_equal(o.f[i], 10 + i, 0);
    oma_gt_free(&o);
    float r2[2] = {0, 1};
    int64_t dr[4] = {1, 1, 2, 1};
    oma_gt r = f32(4, dr, r2);
    int32_t sz[2] = {1, 4};
    oma_gt SZ = i32(2, sz);
    oma_gt *in3[2] = {&r, &SZ};
    t = mk("ResizeBilinear", "{\"half_pixel_centers\":{\"b\":true}}");
    assert_int_equal(run(&t, in3, 2, &o), 0);
    assert_float_equal(o.f[0], 0, 1e-6);
    assert_float_equal(o.f[1], 0.25f, 1e-6);
    assert_float_equal(o.f[2], 0.75f, 1e-6);
    assert_float_equal(o.f[3], 1, 1e-6);
    oma_gt_free(&o);
    oma_gt_free(&x), oma_gt_free(&AX), oma_gt_free(&c), oma_gt_free(&r), oma_gt_free(&SZ);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv_same_stride2),
        cmocka_unit_test(test_conv_refusals),
        cmocka_unit_test(test_broadcast_and_errors),
        cmocka_unit_test(test_slices),
        cmocka_unit_test(test_reduce_pool_space),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
