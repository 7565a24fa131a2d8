/* onnx_ops_nn.c — the ONNX runtime's compute ops: Conv and the matrix products (MatMul, Gemm)
 * on the shared tensor backend's conv2d/gemm kernels (the ones SD uses), MaxPool, nearest
 * Resize, Softmax over any axis and ReduceMean. Conv takes groups (one backend call per group,
 * so depthwise convolutions work) and asymmetric pads (the input is padded here first);
 * dilations other than 1 and unequal strides are refused by name. */
#include "models/onnx/onnx_ops.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/backend.h"

int ort_op_conv(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    (void)nout;
    if (ort_need(c, in, nin, 0, OMA_ONNX_FLOAT) || ort_need(c, in, nin, 1, OMA_ONNX_FLOAT)) return -1;
    const oma_ort_value *x = in[0], *w = in[1], *b = nin > 2 ? in[2] : NULL;
    if (x->ndim != 4 || w->ndim != 4) return ort_fail(c, "only 2-D convolutions (4-D input and weight) are supported");
    int64_t n = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    int64_t OC = w->dims[0], CG = w->dims[1], KH = w->dims[2], KW = w->dims[3];
    int64_t G = ort_attr_int(c->n, "group", 1);
    if (G < 1 || C % G || OC % G || C / G != CG) return ort_fail(c, "group %lld does not fit %lld input / %lld output channels (weight takes %lld)", (long long)G, (long long)C, (long long)OC, (long long)CG);
    if (b && (b->dtype != OMA_ONNX_FLOAT || b->ndim != 1 || b->dims[0] != OC)) return ort_fail(c, "bias must be float [%lld]", (long long)OC);
    int64_t st[2] = {1, 1}, dl[2] = {1, 1}, pads[4] = {0, 0, 0, 0}, ks[2];
    if (ort_attr_ints(c->n, "strides", st, 2) == -2 || ort_attr_ints(c->n, "dilations", dl, 2) == -2 ||
        ort_attr_ints(c->n, "pads", pads, 4) == -2)
        return ort_fail(c, "bad strides/dilations/pads");
    int nk = ort_attr_ints(c->n, "kernel_shape", ks, 2);
    if (nk == 2 && (ks[0] != KH || ks[1] != KW)) return ort_fail(c, "kernel_shape does not match the weight");
    const oma_onnx_attr *ap = oma_onnx_find_attr(c->n, "auto_pad");
    if (ap && ap->type == OMA_ONNX_ATTR_STRING && strcmp(ap->s, "NOTSET")) return ort_fail(c, "auto_pad %s is not supported", ap->s);
    if (dl[0] != 1 || dl[1] != 1) return ort_fail(c, "dilations other than 1 are not supported");
    if (st[0] != st[1] || st[0] < 1 || st[0] > 64) return ort_fail(c, "strides %lldx%lld are not supported", (long long)st[0], (long long)st[1]);
    for (int i = 0; i < 4; i++) if (pads[i] < 0 || pads[i] > 1024) return ort_fail(c, "pad %lld out of range", (long long)pads[i]);
    if (KH < 1 || KW < 1) return ort_fail(c, "empty kernel");
    int64_t PH = H + pads[0] + pads[2], PW = W + pads[1] + pads[3];
    if (PH < KH || PW < KW) return ort_fail(c, "kernel %lldx%lld larger than the padded input %lldx%lld", (long long)KH, (long long)KW, (long long)PH, (long long)PW);
    int sym = pads[0] == pads[2] && pads[1] == pads[3] && pads[0] == pads[1];
    int64_t OH = (PH - KH) / st[0] + 1, OW = (PW - KW) / st[0] + 1;
    int64_t dims[4] = {n, OC, OH, OW};
    if (oma_ort_value_alloc(out, OMA_ONNX_FLOAT, 4, dims) != 0) return ort_fail(c, "out of memory");
    const float *src = x->data;
    float *padded = NULL;
    int pad = (int)pads[0];
    if (!sym) {                     /* pad explicitly, then convolve with pad 0 */
        padded = calloc((size_t)(n * C * PH * PW), sizeof(float));
        if (!padded) { oma_ort_value_free(out); return ort_fail(c, "out of memory"); }
        for (int64_t p = 0; p < n * C; p++)
            for (int64_t y = 0; y < H; y++)
                memcpy(padded + (p * PH + y + pads[0]) * PW + pads[1], src + (p * H + y) * W, (size_t)W * sizeof(float));
        src = padded;
        H = PH; W = PW; pad = 0;
    }
    const oma_backend *be = oma_backend_current();
    int64_t ocg = OC / G;
    const float *bias = b ? b->data : NULL;
    for (int64_t i = 0; i < n; i++)
        for (int64_t g = 0; g < G; g++) {
            int rc = be->conv2d(src + (i * C + g * CG) * H * W, 1, CG, H, W,
                                (const float *)w->data + g * ocg * CG * KH * KW, 0, bias ? bias + g * ocg : NULL,
                                ocg, KH, KW, (int)st[0], pad, (float *)out->data + (i * OC + g * ocg) * OH * OW, OH, OW);
            if (rc != 0) { free(padded); oma_ort_value_free(out); return ort_fail(c, "out of memory"); }
        }
    free(padded);
    return 0;
}

int ort_op_maxpool(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    if (nout > 1) return ort_fail(c, "the Indices output is not supported");
    if (ort_need(c, in, nin, 0, OMA_ONNX_FLOAT)) return -1;
    const oma_ort_value *x = in[0];
    if (x->ndim != 4) return ort_fail(c, "only 2-D pooling is supported");
    int64_t ks[2], st[2] = {1, 1}, pads[4] = {0, 0, 0, 0}, dl[2] = {1, 1};
    if (ort_attr_ints(c->n, "kernel_shape", ks, 2) != 2) return ort_fail(c, "kernel_shape must have 2 values");
    if (ort_attr_ints(c->n, "strides", st, 2) == -2 || ort_attr_ints(c->n, "pads", pads, 4) == -2 || ort_attr_ints(c->n, "dilations", dl, 2) == -2)
        return ort_fail(c, "bad strides/pads");
    if (dl[0] != 1 || dl[1] != 1 || ort_attr_int(c->n, "ceil_mode", 0)) return ort_fail(c, "dilations and ceil_mode are not supported");
    for (int i = 0; i < 2; i++) if (ks[i] < 1 || ks[i] > 1024 || st[i] < 1 || st[i] > 1024) return ort_fail(c, "kernel/stride out of range");
    for (int i = 0; i < 4; i++) if (pads[i] < 0 || pads[i] >= ks[i % 2]) return ort_fail(c, "pad out of range");
    int64_t H = x->dims[2], W = x->dims[3];
    int64_t PH = H + pads[0] + pads[2], PW = W + pads[1] + pads[3];
    if (PH < ks[0] || PW < ks[1]) return ort_fail(c, "kernel larger than the input");
    int64_t dims[4] = {x->dims[0], x->dims[1], (PH - ks[0]) / st[0] + 1, (PW - ks[1]) / st[1] + 1};
    if (oma_ort_value_alloc(out, OMA_ONNX_FLOAT, 4, dims) != 0) return ort_fail(c, "out of memory");
    const float *s = x->data;
    float *d = out->data;
    for (int64_t p = 0; p < dims[0] * dims[1]; p++)
        for (int64_t oy = 0; oy < dims[2]; oy++)
            for (int64_t ox = 0; ox < dims[3]; ox++) {
                float m = -FLT_MAX;
                for (int64_t ky = 0; ky < ks[0]; ky++) {
                    int64_t y = oy * st[0] + ky - pads[0];
                    if (y < 0 || y >= H) continue;
                    for (int64_t kx = 0; kx < ks[1]; kx++) {
                        int64_t xx = ox * st[1] + kx - pads[1];
                        if (xx >= 0 && xx < W && s[(p * H + y) * W + xx] > m) m = s[(p * H + y) * W + xx];
                    }
                }
                d[(p * dims[2] + oy) * dims[3] + ox] = m;
            }
    return 0;
}

/* Nearest Resize as torch exports it (coordinate_transformation_mode asymmetric, nearest_mode
 * floor), from scales (input 2) or sizes (input 3). */
int ort_op_resize(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    (void)nout;
    if (ort_need(c, in, nin, 0, OMA_ONNX_FLOAT)) return -1;
    const oma_ort_value *x = in[0];
    const oma_onnx_attr *mode = oma_onnx_find_attr(c->n, "mode");
    const oma_onnx_attr *ctm = oma_onnx_find_attr(c->n, "coordinate_transformation_mode");
    const oma_onnx_attr *nm = oma_onnx_find_attr(c->n, "nearest_mode");
    if (mode && mode->type == OMA_ONNX_ATTR_STRING && strcmp(mode->s, "nearest")) return ort_fail(c, "mode %s is not supported (nearest only)", mode->s);
    if (ctm && ctm->type == OMA_ONNX_ATTR_STRING && strcmp(ctm->s, "asymmetric")) return ort_fail(c, "coordinate_transformation_mode %s is not supported", ctm->s);
    if (nm && nm->type == OMA_ONNX_ATTR_STRING && strcmp(nm->s, "floor")) return ort_fail(c, "nearest_mode %s is not supported", nm->s);
    int r = x->ndim;
    int64_t dims[OMA_ONNX_MAX_DIMS];
    float scale[OMA_ONNX_MAX_DIMS];
    const oma_ort_value *sc = nin > 2 ? in[2] : NULL, *sz = nin > 3 ? in[3] : NULL;
    if (sc && sc->numel == 0) sc = NULL;
    if (sz && sz->numel == 0) sz = NULL;
    if (!!sc == !!sz) return ort_fail(c, "exactly one of scales and sizes must be given");
    if (sc) {
        if (sc->dtype != OMA_ONNX_FLOAT || sc->numel != r) return ort_fail(c, "scales must be %d floats", r);
        for (int i = 0; i < r; i++) {
            scale[i] = ((const float *)sc->data)[i];
            double d = floor((double)x->dims[i] * scale[i]);
            if (!(scale[i] > 0) || !(d >= 1 && d <= 65536)) return ort_fail(c, "scale %g out of range", (double)scale[i]);
            dims[i] = (int64_t)d;
        }
    } else {
        if (sz->dtype != OMA_ONNX_INT64 || sz->numel != r) return ort_fail(c, "sizes must be %d int64 values", r);
        for (int i = 0; i < r; i++) {
            dims[i] = ((const int64_t *)sz->data)[i];
            if (dims[i] < 1 || dims[i] > 65536 || x->dims[i] < 1) return ort_fail(c, "size out of range");
            scale[i] = (float)dims[i] / (float)x->dims[i];
        }
    }
    if (oma_ort_value_alloc(out, OMA_ONNX_FLOAT, r, dims) != 0) return ort_fail(c, "out of memory");
    int64_t src_st[OMA_ONNX_MAX_DIMS], s = 1;
    for (int i = r - 1; i >= 0; i--) { src_st[i] = s; s *= x->dims[i]; }
    int64_t idx[OMA_ONNX_MAX_DIMS] = {0};
    for (int64_t i = 0; i < out->numel; i++) {
        int64_t off = 0;
        for (int k = 0; k < r; k++) {
            int64_t v = (int64_t)floorf((float)idx[k] / scale[k]);
            if (v > x->dims[k] - 1) v = x->dims[k] - 1;
            off += v * src_st[k];
        }
        ((float *)out->data)[i] = ((const float *)x->data)[off];
        for (int k = r - 1; k >= 0; k--) {
            if (++idx[k] < dims[k]) break;
            idx[k] = 0;
        }
    }
    return 0;
}

/* A[..., M, K] x B[..., K, N] with broadcast batch dims (numpy matmul; 1-D operands promoted). */
int ort_op_matmul(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    (void)nout;
    if (ort_need(c, in, nin, 0, OMA_ONNX_FLOAT) || ort_need(c, in, nin, 1, OMA_ONNX_FLOAT)) return -1;
    const oma_ort_value *a = in[0], *b = in[1];
    if (a->ndim < 2 || b->ndim < 2) return ort_fail(c, "1-D operands are not supported");
    int64_t M = a->dims[a->ndim - 2], K = a->dims[a->ndim - 1], N = b->dims[b->ndim - 1];
    if (b->dims[b->ndim - 2] != K) return ort_fail(c, "inner dims %lld and %lld differ", (long long)K, (long long)b->dims[b->ndim - 2]);
    int r = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t dims[OMA_ONNX_MAX_DIMS], sa[OMA_ONNX_MAX_DIMS], sb[OMA_ONNX_MAX_DIMS], stA = M * K, stB = K * N, batch = 1;
    for (int k = r - 3; k >= 0; k--) {
        int ia = k - (r - a->ndim), ib = k - (r - b->ndim);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da != db && da != 1 && db != 1) return ort_fail(c, "batch dims do not broadcast");
        dims[k] = da == 1 ? db : da;
        sa[k] = da == 1 ? 0 : stA;
        sb[k] = db == 1 ? 0 : stB;
        stA *= da; stB *= db; batch *= dims[k];
    }
    dims[r - 2] = M;
    dims[r - 1] = N;
    if (oma_ort_value_alloc(out, OMA_ONNX_FLOAT, r, dims) != 0) return ort_fail(c, "out of memory");
    const oma_backend *be = oma_backend_current();
    if (b->ndim == 2) {             /* one product over all rows of A */
        be->gemm(0, 0, a->numel / K, N, K, 1.0f, a->data, K, b->data, N, 0.0f, out->data, N);
        return 0;
    }
    int64_t idx[OMA_ONNX_MAX_DIMS] = {0}, oa = 0, ob = 0;
    for (int64_t i = 0; i < batch; i++) {
        be->gemm(0, 0, M, N, K, 1.0f, (const float *)a->data + oa, K, (const float *)b->data + ob, N, 0.0f,
                 (float *)out->data + i * M * N, N);
        for (int k = r - 3; k >= 0; k--) {
            oa += sa[k]; ob += sb[k];
            if (++idx[k] < dims[k]) break;
            oa -= sa[k] * dims[k]; ob -= sb[k] * dims[k];
            idx[k] = 0;
        }
    }
    return 0;
}

int ort_op_gemm(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    (void)nout;
    if (ort_need(c, in, nin, 0, OMA_ONNX_FLOAT) || ort_need(c, in, nin, 1, OMA_ONNX_FLOAT)) return -1;
    const oma_ort_value *a = in[0], *b = in[1], *cc = nin > 2 ? in[2] : NULL;
    if (a->ndim != 2 || b->ndim != 2) return ort_fail(c, "A and B must be 2-D");
    int ta = ort_attr_int(c->n, "transA", 0) != 0, tb = ort_attr_int(c->n, "transB", 0) != 0;
    float alpha = ort_attr_float(c->n, "alpha", 1.0f), beta = ort_attr_float(c->n, "beta", 1.0f);
    int64_t M = ta ? a->dims[1] : a->dims[0], K = ta ? a->dims[0] : a->dims[1];
    int64_t K2 = tb ? b->dims[1] : b->dims[0], N = tb ? b->dims[0] : b->dims[1];
    if (K != K2) return ort_fail(c, "inner dims %lld and %lld differ", (long long)K, (long long)K2);
    int64_t dims[2] = {M, N};
    if (cc) {
        if (cc->dtype != OMA_ONNX_FLOAT || cc->ndim > 2) return ort_fail(c, "C must be float, at most 2-D");
        int64_t cm = cc->ndim == 2 ? cc->dims[0] : 1, cn = cc->ndim >= 1 ? cc->dims[cc->ndim - 1] : 1;
        if ((cm != 1 && cm != M) || (cn != 1 && cn != N)) return ort_fail(c, "C does not broadcast to [%lld, %lld]", (long long)M, (long long)N);
    }
    if (oma_ort_value_alloc(out, OMA_ONNX_FLOAT, 2, dims) != 0) return ort_fail(c, "out of memory");
    float *y = out->data;
    if (cc && beta != 0.0f) {
        int64_t cm = cc->ndim == 2 ? cc->dims[0] : 1, cn = cc->ndim >= 1 ? cc->dims[cc->ndim - 1] : 1;
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++)
                y[i * N + j] = beta * ((const float *)cc->data)[(cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j)];
    }
    oma_backend_current()->gemm(ta, tb, M, N, K, alpha, a->data, a->dims[1], b->data, b->dims[1],
                                cc && beta != 0.0f ? 1.0f : 0.0f, y, N);
    return 0;
}

int ort_op_softmax(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    (void)nout;
    if (ort_need(c, in, nin, 0, OMA_ONNX_FLOAT)) return -1;
    const oma_ort_value *x = in[0];
    int axis = ort_axis(c, ort_attr_int(c->n, "axis", -1), x->ndim);
    if (axis < 0) return -1;
    if (axis != x->ndim - 1) return ort_fail(c, "softmax over a dim other than the last is not supported");
    if (oma_ort_value_alloc(out, OMA_ONNX_FLOAT, x->ndim, x->dims) != 0) return ort_fail(c, "out of memory");
    memcpy(out->data, x->data, (size_t)x->numel * sizeof(float));
    int64_t d = x->ndim ? x->dims[x->ndim - 1] : 1;
    if (d > 0) oma_backend_current()->softmax(out->data, x->numel / d, d);
    return 0;
}

/* ReduceMean / ReduceSum: axes from the attribute, or (ReduceSum opset 13) from input 1. */
static int reduce(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int mean)
{
    if (ort_need(c, in, nin, 0, OMA_ONNX_FLOAT)) return -1;
    const oma_ort_value *x = in[0];
    int r = x->ndim;
    int64_t axes[OMA_ONNX_MAX_DIMS];
    int na;
    if (nin > 1 && in[1]) {
        if (in[1]->dtype != OMA_ONNX_INT64 || in[1]->ndim != 1 || in[1]->numel > OMA_ONNX_MAX_DIMS) return ort_fail(c, "axes must be 1-D int64");
        na = (int)in[1]->numel;
        memcpy(axes, in[1]->data, (size_t)na * 8);
        if (na == 0 && ort_attr_int(c->n, "noop_with_empty_axes", 0)) na = -3;
        else if (na == 0) na = -1;
    } else {
        na = ort_attr_ints(c->n, "axes", axes, OMA_ONNX_MAX_DIMS);
    }
    if (na == -2) return ort_fail(c, "too many axes");
    if (na == -3) {
        if (oma_ort_value_alloc(out, OMA_ONNX_FLOAT, x->ndim, x->dims) != 0) return ort_fail(c, "out of memory");
        memcpy(out->data, x->data, (size_t)x->numel * 4);
        return 0;
    }
    int red[OMA_ONNX_MAX_DIMS] = {0};
    if (na < 0) for (int i = 0; i < r; i++) red[i] = 1;
    for (int i = 0; i < na; i++) {
        int a = ort_axis(c, axes[i], r);
        if (a < 0) return -1;
        red[a] = 1;
    }
    int keep = ort_attr_int(c->n, "keepdims", 1) != 0;
    int64_t dims[OMA_ONNX_MAX_DIMS], kd[OMA_ONNX_MAX_DIMS], count = 1;
    int nr = 0;
    for (int i = 0; i < r; i++) {
        kd[i] = red[i] ? 1 : x->dims[i];
        if (red[i]) count *= x->dims[i];
        if (!red[i] || keep) dims[nr++] = kd[i];
    }
    if (oma_ort_value_alloc(out, OMA_ONNX_FLOAT, nr, dims) != 0) return ort_fail(c, "out of memory");
    /* sum into the kept-dims layout, in double for a stable mean */
    double *acc = calloc((size_t)(out->numel ? out->numel : 1), sizeof(double));
    if (!acc) { oma_ort_value_free(out); return ort_fail(c, "out of memory"); }
    int64_t ost[OMA_ONNX_MAX_DIMS], s = 1;
    for (int i = r - 1; i >= 0; i--) { ost[i] = red[i] ? 0 : s; s *= kd[i]; }
    int64_t idx[OMA_ONNX_MAX_DIMS] = {0}, o = 0;
    for (int64_t i = 0; i < x->numel; i++) {
        acc[o] += ((const float *)x->data)[i];
        for (int k = r - 1; k >= 0; k--) {
            o += ost[k];
            if (++idx[k] < x->dims[k]) break;
            o -= ost[k] * x->dims[k];
            idx[k] = 0;
        }
    }
    for (int64_t i = 0; i < out->numel; i++)
        ((float *)out->data)[i] = !mean ? (float)acc[i] : count ? (float)(acc[i] / (double)count) : NAN;
    free(acc);
    return 0;
}

int ort_op_reducemean(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    (void)nout;
    return reduce(c, in, nin, out, 1);
}

int ort_op_reducesum(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    (void)nout;
    return reduce(c, in, nin, out, 0);
}

int ort_op_global_avgpool(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout)
{
    (void)nout;
    if (ort_need(c, in, nin, 0, OMA_ONNX_FLOAT)) return -1;
    const oma_ort_value *x = in[0];
    if (x->ndim < 3) return ort_fail(c, "input must be at least 3-D");
    int64_t dims[OMA_ONNX_MAX_DIMS], inner = 1;
    for (int i = 0; i < x->ndim; i++) { dims[i] = i < 2 ? x->dims[i] : 1; if (i >= 2) inner *= x->dims[i]; }
    if (inner < 1) return ort_fail(c, "empty spatial dims");
    if (oma_ort_value_alloc(out, OMA_ONNX_FLOAT, x->ndim, dims) != 0) return ort_fail(c, "out of memory");
    for (int64_t p = 0; p < dims[0] * dims[1]; p++) {
        double sacc = 0;
        for (int64_t i = 0; i < inner; i++) sacc += ((const float *)x->data)[p * inner + i];
        ((float *)out->data)[p] = (float)(sacc / (double)inner);
    }
    return 0;
}
