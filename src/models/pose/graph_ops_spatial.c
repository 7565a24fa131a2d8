/* graph_ops_spatial.c — the TFJS graph ops over an image's grid: Pad/PadV2, MaxPool, AvgPool
 * (padding as convolutions, average over the pixels inside the image), ResizeBilinear
 * (align_corners / half_pixel_centers as TensorFlow) and DepthToSpace. NHWC float32. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/pose/graph_ops_impl.h"

static int op_pad(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                  char *err, size_t errlen)
{
    NEED_IN(2);
    const oma_gt *x = in[0], *p = in[1];
    if (x->dtype != OMA_TFJS_F32 || p->dtype != OMA_TFJS_I32 || p->n != (size_t)x->rank * 2)
        return oma_gop_fail(err, errlen, node, "bad paddings");
    float cv = 0;
    if (n_in >= 3 && in[2]->dtype == OMA_TFJS_F32 && in[2]->n == 1) cv = in[2]->f[0];
    int64_t d[OMA_GT_MAX_RANK], lo[OMA_GT_MAX_RANK];
    for (int k = 0; k < x->rank; k++) {
        lo[k] = p->i[2 * k];
        if (p->i[2 * k] < 0 || p->i[2 * k + 1] < 0 || p->i[2 * k] > 4096 || p->i[2 * k + 1] > 4096)
            return oma_gop_fail(err, errlen, node, "padding out of range");
        d[k] = x->d[k] + p->i[2 * k] + p->i[2 * k + 1];
    }
    if (oma_gop_alloc_raw(out, OMA_TFJS_F32, x->rank, d)) return oma_gop_fail(err, errlen, node, "output too large");
    for (size_t k = 0; k < out->n; k++) out->f[k] = cv;
    int64_t idx[OMA_GT_MAX_RANK] = {0};
    if (x->rank >= 1 && x->n > 0) {
        /* whole rows of the last axis at once: they stay contiguous in the padded output */
        int r = x->rank;
        size_t row = (size_t)x->d[r - 1];
        for (size_t k = 0; k < x->n; k += row) {
            size_t off = 0;
            for (int q = 0; q < r; q++) off = off * (size_t)d[q] + (size_t)(idx[q] + lo[q]);
            memcpy(out->f + off, x->f + k, row * sizeof(float));
            for (int q = r - 2; q >= 0; q--) {
                if (++idx[q] < x->d[q]) break;
                idx[q] = 0;
            }
        }
        return 0;
    }
    for (size_t k = 0; k < x->n; k++) {
        size_t off = 0;
        for (int q = 0; q < x->rank; q++) off = off * (size_t)d[q] + (size_t)(idx[q] + lo[q]);
        out->f[off] = x->f[k];
        for (int q = x->rank - 1; q >= 0; q--) {
            if (++idx[q] < x->d[q]) break;
            idx[q] = 0;
        }
    }
    return 0;
}

static int op_pool(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                   char *err, size_t errlen, int avg)
{
    NEED_IN(1);
    const oma_gt *x = in[0];
    if (!is_f4(x)) return oma_gop_fail(err, errlen, node, "needs NHWC float");
    int64_t k[4], s[4];
    int ck, cs;
    if (oma_tfjs_attr_ints(node, "ksize", k, 4, &ck) || ck != 4 ||
        oma_tfjs_attr_ints(node, "strides", s, 4, &cs) || cs != 4 || k[1] < 1 || k[2] < 1 ||
        s[1] < 1 || s[2] < 1 || k[1] > 256 || k[2] > 256 || s[1] > 256 || s[2] > 256)
        return oma_gop_fail(err, errlen, node, "bad ksize/strides");
    int64_t oh, ow, ph, pw, N = x->d[0], H = x->d[1], W = x->d[2], C = x->d[3];
    if (oma_gop_conv_geom(node, H, k[1], s[1], 1, 0, &oh, &ph) || oma_gop_conv_geom(node, W, k[2], s[2], 1, 1, &ow, &pw))
        return oma_gop_fail(err, errlen, node, "bad padding/geometry");
    int64_t d[4] = {N, oh, ow, C};
    if (oma_gt_alloc(out, OMA_TFJS_F32, 4, d)) return oma_gop_fail(err, errlen, node, "output too large");
    for (int64_t b = 0; b < N; b++)
        for (int64_t y = 0; y < oh; y++)
            for (int64_t xx = 0; xx < ow; xx++)
                for (int64_t c = 0; c < C; c++) {
                    float m = avg ? 0.0f : -INFINITY;
                    int cnt = 0;
                    for (int64_t ky = 0; ky < k[1]; ky++) {
                        int64_t iy = y * s[1] - ph + ky;
                        if (iy < 0 || iy >= H) continue;
                        for (int64_t kx = 0; kx < k[2]; kx++) {
                            int64_t ix = xx * s[2] - pw + kx;
                            if (ix < 0 || ix >= W) continue;
                            float v = x->f[(size_t)(((b * H + iy) * W + ix) * C + c)];
                            if (avg) m += v;
                            else if (v > m) m = v;
                            cnt++;
                        }
                    }
                    out->f[(size_t)(((b * oh + y) * ow + xx) * C + c)] = avg ? (cnt ? m / cnt : 0) : m;
                }
    return 0;
}

static int op_resize_bilinear(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                              char *err, size_t errlen)
{
    NEED_IN(2);
    const oma_gt *x = in[0], *sz = in[1];
    if (!is_f4(x) || sz->dtype != OMA_TFJS_I32 || sz->n != 2 || sz->i[0] < 1 || sz->i[1] < 1 ||
        sz->i[0] > 16384 || sz->i[1] > 16384)
        return oma_gop_fail(err, errlen, node, "bad input or size");
    int ac = 0, hp = 0;
    oma_tfjs_attr_bool(node, "align_corners", &ac);
    oma_tfjs_attr_bool(node, "half_pixel_centers", &hp);
    int64_t N = x->d[0], H = x->d[1], W = x->d[2], C = x->d[3], OH = sz->i[0], OW = sz->i[1];
    int64_t d[4] = {N, OH, OW, C};
    if (oma_gt_alloc(out, OMA_TFJS_F32, 4, d)) return oma_gop_fail(err, errlen, node, "output too large");
    /* Same arithmetic as tfjs's CPU backend. */
    float ry = (ac && OH > 1) ? (float)(H - 1) / (float)(OH - 1) : (float)H / (float)OH;
    float rx = (ac && OW > 1) ? (float)(W - 1) / (float)(OW - 1) : (float)W / (float)OW;
    for (int64_t b = 0; b < N; b++)
        for (int64_t y = 0; y < OH; y++) {
            float sy = hp ? ry * ((float)y + 0.5f) - 0.5f : ry * (float)y;
            int64_t y0 = (int64_t)fmaxf(0.0f, floorf(sy));
            float fy = sy - (float)y0;
            int64_t y1 = (int64_t)fminf((float)(H - 1), ceilf(sy));
            for (int64_t xx = 0; xx < OW; xx++) {
                float sx = hp ? rx * ((float)xx + 0.5f) - 0.5f : rx * (float)xx;
                int64_t x0 = (int64_t)fmaxf(0.0f, floorf(sx));
                float fx = sx - (float)x0;
                int64_t x1 = (int64_t)fminf((float)(W - 1), ceilf(sx));
                const float *tl = x->f + (size_t)(((b * H + y0) * W + x0) * C);
                const float *tr = x->f + (size_t)(((b * H + y0) * W + x1) * C);
                const float *bl = x->f + (size_t)(((b * H + y1) * W + x0) * C);
                const float *br = x->f + (size_t)(((b * H + y1) * W + x1) * C);
                float *o = out->f + (size_t)(((b * OH + y) * OW + xx) * C);
                for (int64_t c = 0; c < C; c++) {
                    float top = tl[c] + (tr[c] - tl[c]) * fx;
                    float bot = bl[c] + (br[c] - bl[c]) * fx;
                    o[c] = top + (bot - top) * fy;
                }
            }
        }
    return 0;
}

static int op_depth_to_space(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                             char *err, size_t errlen)
{
    NEED_IN(1);
    const oma_gt *x = in[0];
    int64_t bs;
    char df[16] = "NHWC";
    oma_tfjs_attr_str(node, "data_format", df, sizeof df);
    if (!is_f4(x) || oma_tfjs_attr_int(node, "block_size", &bs) || bs < 2 || bs > 16 ||
        x->d[3] % (bs * bs) || strcmp(df, "NHWC"))
        return oma_gop_fail(err, errlen, node, "bad input or block size");
    int64_t N = x->d[0], H = x->d[1], W = x->d[2], C = x->d[3], OC = C / (bs * bs);
    int64_t d[4] = {N, H * bs, W * bs, OC};
    if (oma_gt_alloc(out, OMA_TFJS_F32, 4, d)) return oma_gop_fail(err, errlen, node, "output too large");
    for (int64_t b = 0; b < N; b++)
        for (int64_t y = 0; y < H * bs; y++)
            for (int64_t xx = 0; xx < W * bs; xx++) {
                const float *src = x->f + (size_t)(((b * H + y / bs) * W + xx / bs) * C +
                                                   ((y % bs) * bs + xx % bs) * OC);
                memcpy(out->f + (size_t)(((b * H * bs + y) * W * bs + xx) * OC), src, (size_t)OC * sizeof(float));
            }
    return 0;
}

static const char *const spatial_ops[] = {"Pad", "PadV2", "MaxPool", "AvgPool", "ResizeBilinear",
                                          "DepthToSpace", NULL};

int oma_gop_spatial_supported(const char *op) { return oma_gop_in_list(spatial_ops, op); }

int oma_gop_spatial_run(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out, char *err,
                        size_t errlen)
{
    const char *op = node->op;
    if (!strcmp(op, "Pad") || !strcmp(op, "PadV2")) return op_pad(node, in, n_in, out, err, errlen);
    if (!strcmp(op, "MaxPool")) return op_pool(node, in, n_in, out, err, errlen, 0);
    if (!strcmp(op, "AvgPool")) return op_pool(node, in, n_in, out, err, errlen, 1);
    if (!strcmp(op, "ResizeBilinear")) return op_resize_bilinear(node, in, n_in, out, err, errlen);
    if (!strcmp(op, "DepthToSpace")) return op_depth_to_space(node, in, n_in, out, err, errlen);
    return OMA_GOP_NOT_MINE;
}
