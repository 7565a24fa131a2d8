/* graph_ops.c — CPU kernels for the TFJS graph executor (see graph_ops.h). Layout is NHWC
 * float32 throughout; int32 tensors only carry shapes and indices.
 * Convolutions: im2col into a [OH*OW, KH*KW*C] matrix times the HWIO filter viewed as
 * [KH*KW*C, O] (1x1 stride-1 convolutions skip im2col), and MatMul, go through the shared
 * tensor backend's GEMM (src/tensor/backend.h: the kernel SD's layers use, split over the
 * thread pool, oneDNN for large products); im2col and depthwise convolutions run row bands on
 * the same thread pool. Depthwise: direct loops, innermost over channels so memory is walked
 * contiguously. oma_gop_set_legacy(1) puts back the former single-call cblas_sgemm and serial
 * loops, only so that bench/bench_pose_graph.c can compare both in one run. */
#include "models/pose/graph_ops.h"

#include <cblas.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/backend.h"
#include "tensor/threadpool.h"

static int legacy;   /* set only by benches, before any run */

void oma_gop_set_legacy(int on) { legacy = on; }

/* Row-major C[M,N] = A[M,K] B[K,N] (op()s as flags): shared backend, or the old direct call. */
static void gemm(int ta, int tb, int64_t M, int64_t N, int64_t K, const float *a, int64_t lda,
                 const float *b, int64_t ldb, float *c, int64_t ldc)
{
    if (!legacy) {
        oma_backend_current()->gemm(ta, tb, M, N, K, 1.0f, a, lda, b, ldb, 0.0f, c, ldc);
        return;
    }
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)M, (int)N, (int)K, 1.0f, a, (int)lda, b, (int)ldb, 0.0f, c, (int)ldc);
}

/* Runs fn over [0, n) in bands on the thread pool (serially in legacy mode). */
static void par_for(int64_t n, int64_t grain, oma_range_fn fn, void *ctx)
{
    if (legacy || n <= grain) fn(ctx, 0, n);
    else oma_parallel_for(n, grain, fn, ctx);
}

static int fail(char *err, size_t errlen, const oma_tfjs_node *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, const oma_tfjs_node *n, const char *fmt, ...)
{
    if (err && errlen) {
        int k = snprintf(err, errlen, "graph: %s (%s): ", n->name, n->op);
        if (k > 0 && (size_t)k < errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(err + k, errlen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

int oma_gt_alloc(oma_gt *t, oma_tfjs_dtype dt, int rank, const int64_t *dims)
{
    memset(t, 0, sizeof *t);
    if (rank < 0 || rank > OMA_GT_MAX_RANK) return -1;
    size_t n = 1;
    for (int k = 0; k < rank; k++) {
        if (dims[k] < 0 || (dims[k] && n > OMA_GT_MAX_ELEMS / (size_t)dims[k])) return -1;
        n *= (size_t)dims[k];
        t->d[k] = dims[k];
    }
    t->rank = rank;
    t->n = n;
    t->dtype = dt;
    if (dt == OMA_TFJS_F32) t->f = calloc(n ? n : 1, sizeof(float));
    else t->i = calloc(n ? n : 1, sizeof(int32_t));
    if (!t->f && !t->i) return -1;
    return 0;
}

void oma_gt_free(oma_gt *t)
{
    if (!t) return;
    if (!t->borrowed) {
        free(t->f);
        free(t->i);
    }
    memset(t, 0, sizeof *t);
}

oma_gt oma_gt_view_f32(float *data, int rank, const int64_t *dims)
{
    oma_gt t;
    memset(&t, 0, sizeof t);
    t.dtype = OMA_TFJS_F32;
    t.rank = rank;
    t.n = 1;
    for (int k = 0; k < rank; k++) {
        t.d[k] = dims[k];
        t.n *= (size_t)dims[k];
    }
    t.f = data;
    t.borrowed = 1;
    return t;
}

/* ---- helpers ---- */

#define NEED_IN(k)                                                                          \
    do {                                                                                    \
        if (n_in < (k)) return fail(err, errlen, node, "needs %d inputs, has %d", (k), n_in); \
    } while (0)

static int is_f4(const oma_gt *t) { return t->dtype == OMA_TFJS_F32 && t->rank == 4; }

typedef enum { ACT_NONE, ACT_RELU, ACT_RELU6, ACT_PRELU, ACT_LEAKY, ACT_SIGMOID, ACT_ELU } act_kind;

static void apply_act(float *x, size_t n, int c, act_kind a, const float *alpha, float leaky)
{
    switch (a) {
    case ACT_NONE: break;
    case ACT_RELU:
        for (size_t k = 0; k < n; k++) x[k] = x[k] > 0 ? x[k] : 0;
        break;
    case ACT_RELU6:
        for (size_t k = 0; k < n; k++) x[k] = x[k] < 0 ? 0 : x[k] > 6 ? 6 : x[k];
        break;
    case ACT_PRELU:
        for (size_t k = 0; k < n; k++)
            if (x[k] < 0) x[k] *= alpha[k % (size_t)c];
        break;
    case ACT_LEAKY:
        for (size_t k = 0; k < n; k++)
            if (x[k] < 0) x[k] *= leaky;
        break;
    case ACT_SIGMOID:
        for (size_t k = 0; k < n; k++) x[k] = 1.0f / (1.0f + expf(-x[k]));
        break;
    case ACT_ELU:
        for (size_t k = 0; k < n; k++)
            if (x[k] < 0) x[k] = expm1f(x[k]);
        break;
    }
}

/* Reads fused_ops: BiasAdd then at most one activation; the bias is input 2, a PReLU alpha
 * input 3. */
static int fused_spec(const oma_tfjs_node *node, oma_gt *const *in, int n_in, int cout,
                      const float **bias, act_kind *act, const float **alpha, float *leaky,
                      char *err, size_t errlen)
{
    *bias = NULL;
    *act = ACT_NONE;
    *alpha = NULL;
    *leaky = 0.2f;
    char s[64];
    for (int k = 0; k < 4; k++) {
        if (oma_tfjs_attr_strs_at(node, "fused_ops", k, s, sizeof s)) break;
        if (!strcmp(s, "BiasAdd") || !strcmp(s, "FusedBatchNorm")) {
            if (!strcmp(s, "FusedBatchNorm")) return fail(err, errlen, node, "fused batch norm unsupported");
            if (n_in < 3 || in[2]->dtype != OMA_TFJS_F32 || in[2]->n != (size_t)cout)
                return fail(err, errlen, node, "bias must hold %d floats", cout);
            *bias = in[2]->f;
        } else if (!strcmp(s, "Relu")) *act = ACT_RELU;
        else if (!strcmp(s, "Relu6")) *act = ACT_RELU6;
        else if (!strcmp(s, "Elu")) *act = ACT_ELU;
        else if (!strcmp(s, "Sigmoid")) *act = ACT_SIGMOID;
        else if (!strcmp(s, "LeakyRelu")) {
            *act = ACT_LEAKY;
            double a;
            if (!oma_tfjs_attr_float(node, "leakyrelu_alpha", &a)) *leaky = (float)a;
        } else if (!strcmp(s, "Prelu")) {
            *act = ACT_PRELU;
            if (n_in < 4 || in[3]->dtype != OMA_TFJS_F32 || in[3]->n != (size_t)cout)
                return fail(err, errlen, node, "prelu alpha must hold %d floats", cout);
            *alpha = in[3]->f;
        } else return fail(err, errlen, node, "unsupported fused op %s", s);
    }
    return 0;
}

/* Output size and leading pad for one spatial axis. */
static int conv_geom(const oma_tfjs_node *node, int64_t in, int64_t k, int64_t s, int64_t dil,
                     int axis, int64_t *out, int64_t *pad)
{
    char p[16] = "VALID";
    oma_tfjs_attr_str(node, "padding", p, sizeof p);
    int64_t eff = (k - 1) * dil + 1;
    if (!strcmp(p, "SAME")) {
        *out = (in + s - 1) / s;
        int64_t total = (*out - 1) * s + eff - in;
        *pad = total > 0 ? total / 2 : 0;
    } else if (!strcmp(p, "VALID")) {
        *out = in >= eff ? (in - eff) / s + 1 : 0;
        *pad = 0;
    } else if (!strcmp(p, "EXPLICIT")) {
        int64_t ep[8];
        int c;
        if (oma_tfjs_attr_ints(node, "explicit_paddings", ep, 8, &c) || c != 8) return -1;
        for (int k = 2 + 2 * axis; k < 4 + 2 * axis; k++)   /* TF's own rule: not negative */
            if (ep[k] < 0 || ep[k] > (int64_t)OMA_GT_MAX_ELEMS) return -1;
        *pad = ep[2 + 2 * axis];
        int64_t tot = in + ep[2 + 2 * axis] + ep[3 + 2 * axis];
        *out = tot >= eff ? (tot - eff) / s + 1 : 0;
    } else return -1;
    return *out > 0 ? 0 : -1;
}

static int strides_dil(const oma_tfjs_node *node, int64_t *sh, int64_t *sw, int64_t *dh, int64_t *dw)
{
    int64_t v[4];
    int c;
    *sh = *sw = *dh = *dw = 1;
    if (!oma_tfjs_attr_ints(node, "strides", v, 4, &c) && c == 4) {
        *sh = v[1];
        *sw = v[2];
    }
    if (!oma_tfjs_attr_ints(node, "dilations", v, 4, &c) && c == 4) {
        *dh = v[1];
        *dw = v[2];
    }
    char df[16] = "NHWC";
    oma_tfjs_attr_str(node, "data_format", df, sizeof df);
    if (strcmp(df, "NHWC") != 0) return -1;
    return (*sh >= 1 && *sw >= 1 && *dh >= 1 && *dw >= 1 && *sh <= 64 && *sw <= 64 && *dh <= 64 &&
            *dw <= 64) ? 0 : -1;
}

/* ---- convolutions ---- */

/* What conv2d and depthwise share: input [N,H,W,C], filter [KH,KW,C,O or multiplier],
 * strides/dilations/padding, the fused bias and activation, and a fresh [N,OH,OW,O] output. */
typedef struct {
    int64_t N, H, W, C, KH, KW, O, sh, sw, dh, dw, oh, ow, ph, pw;
    const float *bias, *alpha;
    act_kind act;
    float leaky;
} conv_spec;

static int conv_setup(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                      char *err, size_t errlen, int fused, int depthwise, conv_spec *c)
{
    NEED_IN(2);
    const oma_gt *x = in[0], *w = in[1];
    if (!is_f4(x) || !is_f4(w) || w->d[2] != x->d[3])
        return fail(err, errlen, node, "bad input/filter shapes");
    if (strides_dil(node, &c->sh, &c->sw, &c->dh, &c->dw))
        return fail(err, errlen, node, "bad strides/format");
    c->N = x->d[0], c->H = x->d[1], c->W = x->d[2], c->C = x->d[3];
    c->KH = w->d[0], c->KW = w->d[1];
    c->O = depthwise ? c->C * w->d[3] : w->d[3];
    if (c->KH < 1 || c->KW < 1 || c->C < 1) return fail(err, errlen, node, "empty input or filter");
    if (conv_geom(node, c->H, c->KH, c->sh, c->dh, 0, &c->oh, &c->ph) ||
        conv_geom(node, c->W, c->KW, c->sw, c->dw, 1, &c->ow, &c->pw))
        return fail(err, errlen, node, "bad padding/geometry");
    c->bias = c->alpha = NULL;
    c->act = ACT_NONE;
    c->leaky = 0;
    if (fused && fused_spec(node, in, n_in, (int)c->O, &c->bias, &c->act, &c->alpha, &c->leaky, err, errlen))
        return -1;
    int64_t dims[4] = {c->N, c->oh, c->ow, c->O};
    if (oma_gt_alloc(out, OMA_TFJS_F32, 4, dims)) return fail(err, errlen, node, "output too large");
    return 0;
}

typedef struct conv_job {
    const conv_spec *c;
    const float *x, *w;
    float *col, *out;
    int64_t K;
} conv_job;

/* im2col rows [y0, y1) of output rows (one image). */
static void im2col_rows(void *p, int64_t y0, int64_t y1)
{
    const conv_job *j = p;
    const conv_spec *c = j->c;
    for (int64_t y = y0; y < y1; y++)
        for (int64_t xx = 0; xx < c->ow; xx++) {
            float *row = j->col + (size_t)((y * c->ow + xx) * j->K);
            for (int64_t ky = 0; ky < c->KH; ky++) {
                int64_t iy = y * c->sh - c->ph + ky * c->dh;
                for (int64_t kx = 0; kx < c->KW; kx++) {
                    int64_t ix = xx * c->sw - c->pw + kx * c->dw;
                    float *dst = row + (ky * c->KW + kx) * c->C;
                    if (iy < 0 || iy >= c->H || ix < 0 || ix >= c->W) memset(dst, 0, (size_t)c->C * sizeof(float));
                    else memcpy(dst, j->x + (size_t)((iy * c->W + ix) * c->C), (size_t)c->C * sizeof(float));
                }
            }
        }
}

static int op_conv2d(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                     char *err, size_t errlen, int fused)
{
    conv_spec c;
    if (conv_setup(node, in, n_in, out, err, errlen, fused, 0, &c)) return -1;
    const oma_gt *x = in[0], *w = in[1];
    int64_t H = c.H, W = c.W, C = c.C, KH = c.KH, KW = c.KW, O = c.O, oh = c.oh, ow = c.ow;
    int64_t K = KH * KW * C, M = oh * ow;
    int direct = KH == 1 && KW == 1 && c.sh == 1 && c.sw == 1 && c.ph == 0 && c.pw == 0 && oh == H && ow == W;
    float *col = NULL;
    if (!direct) {
        if ((size_t)M > OMA_GT_MAX_ELEMS / (size_t)K || !(col = malloc((size_t)(M * K) * sizeof(float)))) {
            oma_gt_free(out);
            return fail(err, errlen, node, "out of memory for im2col");
        }
    }
    for (int64_t b = 0; b < c.N; b++) {
        const float *xb = x->f + (size_t)(b * H * W * C);
        float *ob = out->f + (size_t)(b * M * O);
        const float *A = xb;
        if (!direct) {
            conv_job j = {&c, xb, NULL, col, NULL, K};
            par_for(oh, 4, im2col_rows, &j);
            A = col;
        }
        gemm(0, 0, M, O, K, A, K, w->f, O, ob, O);
        if (c.bias)
            for (int64_t m = 0; m < M; m++)
                for (int64_t o = 0; o < O; o++) ob[m * O + o] += c.bias[o];
    }
    free(col);
    apply_act(out->f, out->n, (int)O, c.act, c.alpha, c.leaky);
    return 0;
}

/* Depthwise output rows [r0, r1) of all images (row r = image r / oh, row r % oh). */
static void depthwise_rows(void *p, int64_t r0, int64_t r1)
{
    const conv_job *j = p;
    const conv_spec *c = j->c;
    int64_t H = c->H, W = c->W, C = c->C, O = c->O, oh = c->oh, ow = c->ow, Mu = O / C;
    for (int64_t r = r0; r < r1; r++) {
        int64_t b = r / oh, y = r % oh;
        for (int64_t xx = 0; xx < ow; xx++) {
            float *o = j->out + (size_t)(((b * oh + y) * ow + xx) * O);
            if (c->bias) memcpy(o, c->bias, (size_t)O * sizeof(float));
            for (int64_t ky = 0; ky < c->KH; ky++) {
                int64_t iy = y * c->sh - c->ph + ky * c->dh;
                if (iy < 0 || iy >= H) continue;
                for (int64_t kx = 0; kx < c->KW; kx++) {
                    int64_t ix = xx * c->sw - c->pw + kx * c->dw;
                    if (ix < 0 || ix >= W) continue;
                    const float *xi = j->x + (size_t)(((b * H + iy) * W + ix) * C);
                    const float *wk = j->w + (size_t)((ky * c->KW + kx) * O);
                    if (Mu == 1)
                        for (int64_t ch = 0; ch < C; ch++) o[ch] += xi[ch] * wk[ch];
                    else
                        for (int64_t ch = 0; ch < C; ch++)
                            for (int64_t m = 0; m < Mu; m++) o[ch * Mu + m] += xi[ch] * wk[ch * Mu + m];
                }
            }
        }
    }
}

static int op_depthwise(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                        char *err, size_t errlen, int fused)
{
    conv_spec c;
    if (conv_setup(node, in, n_in, out, err, errlen, fused, 1, &c)) return -1;
    conv_job j = {&c, in[0]->f, in[1]->f, NULL, out->f, 0};
    par_for(c.N * c.oh, 4, depthwise_rows, &j);
    apply_act(out->f, out->n, (int)c.O, c.act, c.alpha, c.leaky);
    return 0;
}

/* Conv2DBackpropInput (transposed conv): inputs output_shape (int), filter [KH,KW,O,C], x. */
static int op_conv_transpose(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                             char *err, size_t errlen)
{
    NEED_IN(3);
    const oma_gt *shp = in[0], *w = in[1], *x = in[2];
    if (shp->dtype != OMA_TFJS_I32 || shp->n != 4 || !is_f4(w) || !is_f4(x) || w->d[3] != x->d[3])
        return fail(err, errlen, node, "bad shapes");
    int64_t sh, sw, dh, dw;
    if (strides_dil(node, &sh, &sw, &dh, &dw) || dh != 1 || dw != 1)
        return fail(err, errlen, node, "bad strides");
    int64_t dims[4] = {shp->i[0], shp->i[1], shp->i[2], shp->i[3]};
    int64_t N = x->d[0], H = x->d[1], W = x->d[2], C = x->d[3], KH = w->d[0], KW = w->d[1], O = w->d[2];
    if (dims[0] != N || dims[3] != O) return fail(err, errlen, node, "output shape mismatch");
    int64_t oh_chk, ph, ow_chk, pw;
    /* The forward conv geometry from output to input gives the padding. */
    if (conv_geom(node, dims[1], KH, sh, 1, 0, &oh_chk, &ph) || conv_geom(node, dims[2], KW, sw, 1, 1, &ow_chk, &pw) ||
        oh_chk != H || ow_chk != W)
        return fail(err, errlen, node, "geometry mismatch");
    if (oma_gt_alloc(out, OMA_TFJS_F32, 4, dims)) return fail(err, errlen, node, "output too large");
    for (int64_t b = 0; b < N; b++)
        for (int64_t y = 0; y < H; y++)
            for (int64_t xx = 0; xx < W; xx++) {
                const float *xi = x->f + (size_t)(((b * H + y) * W + xx) * C);
                for (int64_t ky = 0; ky < KH; ky++) {
                    int64_t oy = y * sh - ph + ky;
                    if (oy < 0 || oy >= dims[1]) continue;
                    for (int64_t kx = 0; kx < KW; kx++) {
                        int64_t ox = xx * sw - pw + kx;
                        if (ox < 0 || ox >= dims[2]) continue;
                        float *o = out->f + (size_t)(((b * dims[1] + oy) * dims[2] + ox) * O);
                        const float *wk = w->f + (size_t)((ky * KW + kx) * O * C);
                        for (int64_t oc = 0; oc < O; oc++) {
                            float s = 0;
                            for (int64_t c = 0; c < C; c++) s += wk[oc * C + c] * xi[c];
                            o[oc] += s;
                        }
                    }
                }
            }
    return 0;
}

static int op_matmul(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                     char *err, size_t errlen, int fused)
{
    NEED_IN(2);
    const oma_gt *a = in[0], *b = in[1];
    int ta = 0, tb = 0;
    oma_tfjs_attr_bool(node, "transpose_a", &ta);
    oma_tfjs_attr_bool(node, "transpose_b", &tb);
    if (a->dtype != OMA_TFJS_F32 || b->dtype != OMA_TFJS_F32 || a->rank != 2 || b->rank != 2)
        return fail(err, errlen, node, "needs 2-D float inputs");
    int64_t M = ta ? a->d[1] : a->d[0], K = ta ? a->d[0] : a->d[1];
    int64_t K2 = tb ? b->d[1] : b->d[0], Nn = tb ? b->d[0] : b->d[1];
    if (K != K2) return fail(err, errlen, node, "inner sizes differ");
    const float *bias = NULL, *alpha = NULL;
    act_kind act = ACT_NONE;
    float leaky;
    if (fused && fused_spec(node, in, n_in, (int)Nn, &bias, &act, &alpha, &leaky, err, errlen)) return -1;
    int64_t dims[2] = {M, Nn};
    if (oma_gt_alloc(out, OMA_TFJS_F32, 2, dims)) return fail(err, errlen, node, "output too large");
    gemm(ta, tb, M, Nn, K, a->f, a->d[1], b->f, b->d[1], out->f, Nn);
    if (bias)
        for (int64_t m = 0; m < M; m++)
            for (int64_t k = 0; k < Nn; k++) out->f[m * Nn + k] += bias[k];
    apply_act(out->f, out->n, (int)Nn, act, alpha, leaky);
    return 0;
}

/* ---- element-wise ---- */

int oma_gt_bcast_shape(const oma_gt *a, const oma_gt *b, int *rank, int64_t *d)
{
    int r = a->rank > b->rank ? a->rank : b->rank;
    for (int k = 0; k < r; k++) {
        int ia = k - (r - a->rank), ib = k - (r - b->rank);
        int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
        if (da != db && da != 1 && db != 1) return -1;
        d[k] = da == 1 ? db : da;
    }
    *rank = r;
    return 0;
}

/* Element offset in t for the output multi-index idx (rank r), with broadcasting. */
size_t oma_gt_bcast_off(const oma_gt *t, int r, const int64_t *idx)
{
    size_t off = 0;
    for (int k = 0; k < t->rank; k++) {
        int64_t i = idx[k + (r - t->rank)];
        off = off * (size_t)t->d[k] + (size_t)(t->d[k] == 1 ? 0 : i);
    }
    return off;
}

typedef enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_SQDIFF, BIN_MAX, BIN_MIN, BIN_FLOORDIV } bin_kind;

static double bin(bin_kind k, double a, double b)
{
    switch (k) {
    case BIN_ADD: return a + b;
    case BIN_SUB: return a - b;
    case BIN_MUL: return a * b;
    case BIN_DIV: return a / b;
    case BIN_SQDIFF: return (a - b) * (a - b);
    case BIN_MAX: return a > b ? a : b;
    case BIN_MIN: return a < b ? a : b;
    case BIN_FLOORDIV: return floor(a / b);
    }
    return 0;
}

static int op_binary(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                     char *err, size_t errlen, bin_kind kind)
{
    NEED_IN(2);
    const oma_gt *a = in[0], *b = in[1];
    if (a->dtype != b->dtype) return fail(err, errlen, node, "dtypes differ");
    int r;
    int64_t d[OMA_GT_MAX_RANK];
    if (oma_gt_bcast_shape(a, b, &r, d)) return fail(err, errlen, node, "shapes do not broadcast");
    if (oma_gt_alloc(out, a->dtype, r, d)) return fail(err, errlen, node, "output too large");
    int isf = a->dtype == OMA_TFJS_F32;
    if (a->n == out->n && b->n == out->n) {
        for (size_t k = 0; k < out->n; k++) {
            if (isf) out->f[k] = (float)bin(kind, a->f[k], b->f[k]);
            else {
                if (b->i[k] == 0 && (kind == BIN_DIV || kind == BIN_FLOORDIV)) goto divz;
                out->i[k] = (int32_t)bin(kind, a->i[k], b->i[k]);
            }
        }
        return 0;
    }
    if (isf && a->n == out->n && b->rank >= 1 && b->n == (size_t)d[r - 1]) {
        /* Per-channel fast path: [.., C] op [C]. */
        size_t C = b->n;
        for (size_t k = 0; k < out->n; k++) out->f[k] = (float)bin(kind, a->f[k], b->f[k % C]);
        return 0;
    }
    int64_t idx[OMA_GT_MAX_RANK] = {0};
    for (size_t k = 0; k < out->n; k++) {
        size_t oa = oma_gt_bcast_off(a, r, idx), ob = oma_gt_bcast_off(b, r, idx);
        if (isf) out->f[k] = (float)bin(kind, a->f[oa], b->f[ob]);
        else {
            if (b->i[ob] == 0 && (kind == BIN_DIV || kind == BIN_FLOORDIV)) goto divz;
            out->i[k] = (int32_t)bin(kind, a->i[oa], b->i[ob]);
        }
        for (int q = r - 1; q >= 0; q--) {
            if (++idx[q] < d[q]) break;
            idx[q] = 0;
        }
    }
    return 0;
divz:
    oma_gt_free(out);
    return fail(err, errlen, node, "integer division by zero");
}

static int op_unary(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                    char *err, size_t errlen, act_kind a)
{
    NEED_IN(1);
    const oma_gt *x = in[0];
    if (x->dtype != OMA_TFJS_F32) return fail(err, errlen, node, "needs float input");
    if (oma_gt_alloc(out, OMA_TFJS_F32, x->rank, x->d)) return fail(err, errlen, node, "output too large");
    memcpy(out->f, x->f, x->n * sizeof(float));
    const float *alpha = NULL;
    float leaky = 0.2f;
    if (a == ACT_PRELU) {
        NEED_IN(2);
        if (in[1]->dtype != OMA_TFJS_F32 || in[1]->n == 0 || x->rank < 1 ||
            (in[1]->n != (size_t)x->d[x->rank - 1] && in[1]->n != 1)) {
            oma_gt_free(out);
            return fail(err, errlen, node, "alpha must be per channel");
        }
        alpha = in[1]->f;
        apply_act(out->f, out->n, (int)in[1]->n, a, alpha, leaky);
        return 0;
    }
    if (a == ACT_LEAKY) {
        double v;
        if (!oma_tfjs_attr_float(node, "alpha", &v)) leaky = (float)v;
    }
    apply_act(out->f, out->n, 1, a, alpha, leaky);
    return 0;
}

static int op_math1(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                    char *err, size_t errlen, int which)
{
    NEED_IN(1);
    const oma_gt *x = in[0];
    if (x->dtype != OMA_TFJS_F32) return fail(err, errlen, node, "needs float input");
    if (oma_gt_alloc(out, OMA_TFJS_F32, x->rank, x->d)) return fail(err, errlen, node, "output too large");
    for (size_t k = 0; k < x->n; k++) {
        float v = x->f[k];
        out->f[k] = which == 0 ? sqrtf(v) : which == 1 ? expf(v) : which == 2 ? tanhf(v)
                  : which == 3 ? 1.0f / sqrtf(v) : which == 4 ? -v : fabsf(v);
    }
    return 0;
}

static int op_addn(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                   char *err, size_t errlen)
{
    NEED_IN(1);
    for (int k = 0; k < n_in; k++)
        if (in[k]->dtype != OMA_TFJS_F32 || in[k]->rank != in[0]->rank ||
            memcmp(in[k]->d, in[0]->d, sizeof(int64_t) * (size_t)in[0]->rank) != 0)
            return fail(err, errlen, node, "inputs differ");
    if (oma_gt_alloc(out, OMA_TFJS_F32, in[0]->rank, in[0]->d)) return fail(err, errlen, node, "output too large");
    for (int k = 0; k < n_in; k++)
        for (size_t e = 0; e < out->n; e++) out->f[e] += in[k]->f[e];
    return 0;
}

/* ---- shape ops ---- */

static int copy_tensor(const oma_gt *x, oma_gt *out, int rank, const int64_t *d)
{
    if (oma_gt_alloc(out, x->dtype, rank, d) || out->n != x->n) {
        oma_gt_free(out);
        return -1;
    }
    if (x->dtype == OMA_TFJS_F32) memcpy(out->f, x->f, x->n * sizeof(float));
    else memcpy(out->i, x->i, x->n * sizeof(int32_t));
    return 0;
}

int oma_gt_copy(const oma_gt *x, oma_gt *out)
{
    return copy_tensor(x, out, x->rank, x->d);
}

static int op_reshape(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                      char *err, size_t errlen)
{
    NEED_IN(2);
    const oma_gt *x = in[0], *s = in[1];
    if (s->dtype != OMA_TFJS_I32 || s->n > OMA_GT_MAX_RANK) return fail(err, errlen, node, "bad shape");
    int64_t d[OMA_GT_MAX_RANK];
    int neg = -1;
    size_t known = 1;
    for (size_t k = 0; k < s->n; k++) {
        d[k] = s->i[k];
        if (d[k] == -1) {
            if (neg >= 0) return fail(err, errlen, node, "two -1 in shape");
            neg = (int)k;
        } else if (d[k] < 0) return fail(err, errlen, node, "negative size");
        else known *= (size_t)d[k];
    }
    if (neg >= 0) {
        if (known == 0 || x->n % known) return fail(err, errlen, node, "cannot infer -1");
        d[neg] = (int64_t)(x->n / known);
    }
    if (copy_tensor(x, out, (int)s->n, d)) return fail(err, errlen, node, "size mismatch");
    return 0;
}

static int op_squeeze_expand(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                             char *err, size_t errlen, int expand)
{
    NEED_IN(1);
    const oma_gt *x = in[0];
    int64_t d[OMA_GT_MAX_RANK];
    int r = 0;
    if (expand) {
        NEED_IN(2);
        if (in[1]->dtype != OMA_TFJS_I32 || in[1]->n != 1 || x->rank >= OMA_GT_MAX_RANK)
            return fail(err, errlen, node, "bad axis");
        int ax = in[1]->i[0];
        if (ax < 0) ax += x->rank + 1;
        if (ax < 0 || ax > x->rank) return fail(err, errlen, node, "axis out of range");
        for (int k = 0; k <= x->rank; k++) d[r++] = k == ax ? 1 : x->d[k < ax ? k : k - 1];
    } else {
        int64_t axes[OMA_GT_MAX_RANK];
        int na = 0;
        oma_tfjs_attr_ints(node, "squeeze_dims", axes, OMA_GT_MAX_RANK, &na);
        for (int k = 0; k < x->rank; k++) {
            int drop = 0;
            if (na == 0) drop = x->d[k] == 1;
            for (int q = 0; q < na; q++)
                if (axes[q] == k || axes[q] + x->rank == k) drop = 1;
            if (drop && x->d[k] != 1) return fail(err, errlen, node, "squeezing a non-1 axis");
            if (!drop) d[r++] = x->d[k];
        }
    }
    if (copy_tensor(x, out, r, d)) return fail(err, errlen, node, "out of memory");
    return 0;
}

static int op_shape(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                    char *err, size_t errlen)
{
    NEED_IN(1);
    int64_t d = in[0]->rank;
    if (oma_gt_alloc(out, OMA_TFJS_I32, 1, &d)) return fail(err, errlen, node, "out of memory");
    for (int k = 0; k < in[0]->rank; k++) out->i[k] = (int32_t)in[0]->d[k];
    return 0;
}

/* Copies a box [begin, begin + stride * size) of x into out (same rank); generic rank. */
static void gather_box(const oma_gt *x, const int64_t *begin, const int64_t *stride, oma_gt *out)
{
    int r = x->rank;
    int64_t idx[OMA_GT_MAX_RANK] = {0};
    for (size_t k = 0; k < out->n; k++) {
        size_t off = 0;
        for (int q = 0; q < r; q++) off = off * (size_t)x->d[q] + (size_t)(begin[q] + idx[q] * stride[q]);
        if (x->dtype == OMA_TFJS_F32) out->f[k] = x->f[off];
        else out->i[k] = x->i[off];
        for (int q = r - 1; q >= 0; q--) {
            if (++idx[q] < out->d[q]) break;
            idx[q] = 0;
        }
    }
}

/* TF's StridedSlice without ellipsis: spec entry j either inserts a new axis of size 1
 * (new_axis_mask bit j, no input axis used) or slices the next input axis (begin/end masks,
 * shrink_axis_mask drops it); input axes past the spec are taken whole. */
static int op_strided_slice(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                            char *err, size_t errlen)
{
    NEED_IN(4);
    const oma_gt *x = in[0], *b = in[1], *e = in[2], *s = in[3];
    if (b->dtype != OMA_TFJS_I32 || e->dtype != OMA_TFJS_I32 || s->dtype != OMA_TFJS_I32 ||
        b->n != e->n || b->n != s->n || b->n > OMA_GT_MAX_RANK)
        return fail(err, errlen, node, "bad begin/end/strides");
    int64_t bm = 0, em = 0, sm = 0, elm = 0, nam = 0;
    oma_tfjs_attr_int(node, "begin_mask", &bm);
    oma_tfjs_attr_int(node, "end_mask", &em);
    oma_tfjs_attr_int(node, "shrink_axis_mask", &sm);
    oma_tfjs_attr_int(node, "ellipsis_mask", &elm);
    oma_tfjs_attr_int(node, "new_axis_mask", &nam);
    if (elm) return fail(err, errlen, node, "ellipsis unsupported");
    int64_t beg[OMA_GT_MAX_RANK] = {0}, st[OMA_GT_MAX_RANK] = {0}, full[OMA_GT_MAX_RANK] = {0},
            od[OMA_GT_MAX_RANK] = {0};
    int orank = 0, q = 0;
    const int m = (int)b->n;
    for (int j = 0; j < m || q < x->rank; j++) {
        if (j < m && ((nam >> j) & 1)) {
            if (orank >= OMA_GT_MAX_RANK) return fail(err, errlen, node, "output rank too large");
            od[orank++] = 1;
            continue;
        }
        if (q >= x->rank) return fail(err, errlen, node, "spec longer than the input's rank");
        int64_t dim = x->d[q], bb = 0, ee = dim, ss = 1;
        int shrink = 0;
        if (j < m) {
            ss = s->i[j];
            if (ss == 0) return fail(err, errlen, node, "zero stride");
            bb = (bm >> j) & 1 ? (ss > 0 ? 0 : dim - 1) : b->i[j];
            ee = (em >> j) & 1 ? (ss > 0 ? dim : -dim - 1) : e->i[j];
            if (!((bm >> j) & 1) && bb < 0) bb += dim;
            if (!((em >> j) & 1) && ee < 0) ee += dim;
            if ((sm >> j) & 1) {
                if (bb < 0 || bb >= dim) return fail(err, errlen, node, "index out of range");
                ee = bb + 1;
                ss = 1;
                shrink = 1;
            }
        }
        if (ss > 0) {
            bb = bb < 0 ? 0 : bb > dim ? dim : bb;
            ee = ee < 0 ? 0 : ee > dim ? dim : ee;
        } else {
            bb = bb < -1 ? -1 : bb > dim - 1 ? dim - 1 : bb;
            ee = ee < -1 ? -1 : ee > dim - 1 ? dim - 1 : ee;
        }
        int64_t n = ss > 0 ? (ee > bb ? (ee - bb + ss - 1) / ss : 0) : (bb > ee ? (bb - ee - ss - 1) / -ss : 0);
        beg[q] = bb;
        st[q] = ss;
        full[q] = n;
        q++;
        if (!shrink) {
            if (orank >= OMA_GT_MAX_RANK) return fail(err, errlen, node, "output rank too large");
            od[orank++] = n;
        }
    }
    oma_gt tmp;
    if (oma_gt_alloc(&tmp, x->dtype, x->rank, full)) return fail(err, errlen, node, "out of memory");
    gather_box(x, beg, st, &tmp);
    for (int k = 0; k < orank; k++) tmp.d[k] = od[k];
    tmp.rank = orank;
    *out = tmp;
    return 0;
}

static int op_slice(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                    char *err, size_t errlen)
{
    NEED_IN(3);
    const oma_gt *x = in[0], *b = in[1], *sz = in[2];
    if (b->dtype != OMA_TFJS_I32 || sz->dtype != OMA_TFJS_I32 || b->n != (size_t)x->rank || sz->n != b->n)
        return fail(err, errlen, node, "bad begin/size");
    int64_t beg[OMA_GT_MAX_RANK], st[OMA_GT_MAX_RANK], d[OMA_GT_MAX_RANK];
    for (int k = 0; k < x->rank; k++) {
        beg[k] = b->i[k];
        d[k] = sz->i[k] == -1 ? x->d[k] - beg[k] : sz->i[k];
        st[k] = 1;
        if (beg[k] < 0 || d[k] < 0 || beg[k] + d[k] > x->d[k]) return fail(err, errlen, node, "out of range");
    }
    if (oma_gt_alloc(out, x->dtype, x->rank, d)) return fail(err, errlen, node, "out of memory");
    gather_box(x, beg, st, out);
    return 0;
}

static int op_concat(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                     char *err, size_t errlen, int pack)
{
    NEED_IN(pack ? 1 : 2);
    int nt = pack ? n_in : n_in - 1;
    int64_t axis;
    if (pack) {
        if (oma_tfjs_attr_int(node, "axis", &axis)) axis = 0;
    } else {
        const oma_gt *a = in[n_in - 1];
        if (a->dtype != OMA_TFJS_I32 || a->n != 1) return fail(err, errlen, node, "bad axis");
        axis = a->i[0];
    }
    const oma_gt *f = in[0];
    int r = pack ? f->rank + 1 : f->rank;
    if (r > OMA_GT_MAX_RANK || r < 1) return fail(err, errlen, node, "bad rank");
    if (axis < 0) axis += r;
    if (axis < 0 || axis >= r) return fail(err, errlen, node, "axis out of range");
    int64_t d[OMA_GT_MAX_RANK];
    int64_t total = 0;
    for (int t = 0; t < nt; t++) {
        const oma_gt *x = in[t];
        if (x->dtype != f->dtype || x->rank != f->rank) return fail(err, errlen, node, "inputs differ");
        for (int k = 0; k < f->rank; k++)
            if ((pack || k != axis) && x->d[k] != f->d[k]) return fail(err, errlen, node, "shapes differ");
        total += pack ? 1 : x->d[axis];
    }
    for (int k = 0; k < r; k++)
        d[k] = k == axis ? total : f->d[pack && k > axis ? k - 1 : k];
    if (oma_gt_alloc(out, f->dtype, r, d)) return fail(err, errlen, node, "output too large");
    size_t outer = 1, inner = 1;
    for (int k = 0; k < axis; k++) outer *= (size_t)d[k];
    for (int k = (int)axis + 1; k < r; k++) inner *= (size_t)d[k];
    size_t es = f->dtype == OMA_TFJS_F32 ? sizeof(float) : sizeof(int32_t);
    uint8_t *o = f->dtype == OMA_TFJS_F32 ? (uint8_t *)out->f : (uint8_t *)out->i;
    size_t pos = 0;
    for (size_t ou = 0; ou < outer; ou++)
        for (int t = 0; t < nt; t++) {
            const oma_gt *x = in[t];
            size_t chunk = (pack ? 1 : (size_t)x->d[axis]) * inner;
            const uint8_t *src = x->dtype == OMA_TFJS_F32 ? (const uint8_t *)x->f : (const uint8_t *)x->i;
            memcpy(o + pos * es, src + ou * chunk * es, chunk * es);
            pos += chunk;
        }
    return 0;
}

static int op_pad(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                  char *err, size_t errlen)
{
    NEED_IN(2);
    const oma_gt *x = in[0], *p = in[1];
    if (x->dtype != OMA_TFJS_F32 || p->dtype != OMA_TFJS_I32 || p->n != (size_t)x->rank * 2)
        return fail(err, errlen, node, "bad paddings");
    float cv = 0;
    if (n_in >= 3 && in[2]->dtype == OMA_TFJS_F32 && in[2]->n == 1) cv = in[2]->f[0];
    int64_t d[OMA_GT_MAX_RANK], lo[OMA_GT_MAX_RANK];
    for (int k = 0; k < x->rank; k++) {
        lo[k] = p->i[2 * k];
        if (p->i[2 * k] < 0 || p->i[2 * k + 1] < 0 || p->i[2 * k] > 4096 || p->i[2 * k + 1] > 4096)
            return fail(err, errlen, node, "padding out of range");
        d[k] = x->d[k] + p->i[2 * k] + p->i[2 * k + 1];
    }
    if (oma_gt_alloc(out, OMA_TFJS_F32, x->rank, d)) return fail(err, errlen, node, "output too large");
    for (size_t k = 0; k < out->n; k++) out->f[k] = cv;
    int64_t idx[OMA_GT_MAX_RANK] = {0};
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
    if (!is_f4(x)) return fail(err, errlen, node, "needs NHWC float");
    int64_t k[4], s[4];
    int ck, cs;
    if (oma_tfjs_attr_ints(node, "ksize", k, 4, &ck) || ck != 4 ||
        oma_tfjs_attr_ints(node, "strides", s, 4, &cs) || cs != 4 || k[1] < 1 || k[2] < 1 ||
        s[1] < 1 || s[2] < 1 || k[1] > 256 || k[2] > 256 || s[1] > 256 || s[2] > 256)
        return fail(err, errlen, node, "bad ksize/strides");
    int64_t oh, ow, ph, pw, N = x->d[0], H = x->d[1], W = x->d[2], C = x->d[3];
    if (conv_geom(node, H, k[1], s[1], 1, 0, &oh, &ph) || conv_geom(node, W, k[2], s[2], 1, 1, &ow, &pw))
        return fail(err, errlen, node, "bad padding/geometry");
    int64_t d[4] = {N, oh, ow, C};
    if (oma_gt_alloc(out, OMA_TFJS_F32, 4, d)) return fail(err, errlen, node, "output too large");
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
        return fail(err, errlen, node, "bad input or size");
    int ac = 0, hp = 0;
    oma_tfjs_attr_bool(node, "align_corners", &ac);
    oma_tfjs_attr_bool(node, "half_pixel_centers", &hp);
    int64_t N = x->d[0], H = x->d[1], W = x->d[2], C = x->d[3], OH = sz->i[0], OW = sz->i[1];
    int64_t d[4] = {N, OH, OW, C};
    if (oma_gt_alloc(out, OMA_TFJS_F32, 4, d)) return fail(err, errlen, node, "output too large");
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
        return fail(err, errlen, node, "bad input or block size");
    int64_t N = x->d[0], H = x->d[1], W = x->d[2], C = x->d[3], OC = C / (bs * bs);
    int64_t d[4] = {N, H * bs, W * bs, OC};
    if (oma_gt_alloc(out, OMA_TFJS_F32, 4, d)) return fail(err, errlen, node, "output too large");
    for (int64_t b = 0; b < N; b++)
        for (int64_t y = 0; y < H * bs; y++)
            for (int64_t xx = 0; xx < W * bs; xx++) {
                const float *src = x->f + (size_t)(((b * H + y / bs) * W + xx / bs) * C +
                                                   ((y % bs) * bs + xx % bs) * OC);
                memcpy(out->f + (size_t)(((b * H * bs + y) * W * bs + xx) * OC), src, (size_t)OC * sizeof(float));
            }
    return 0;
}

static int op_mean(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                   char *err, size_t errlen, int is_sum)
{
    NEED_IN(2);
    const oma_gt *x = in[0], *ax = in[1];
    if (x->dtype != OMA_TFJS_F32 || ax->dtype != OMA_TFJS_I32 || ax->n > (size_t)x->rank)
        return fail(err, errlen, node, "bad axes");
    int red[OMA_GT_MAX_RANK] = {0};
    for (size_t k = 0; k < ax->n; k++) {
        int a = ax->i[k] < 0 ? ax->i[k] + x->rank : ax->i[k];
        if (a < 0 || a >= x->rank) return fail(err, errlen, node, "axis out of range");
        red[a] = 1;
    }
    int keep = 0;
    oma_tfjs_attr_bool(node, "keep_dims", &keep);
    int64_t kd[OMA_GT_MAX_RANK], od[OMA_GT_MAX_RANK];
    int orank = 0;
    size_t cnt = 1;
    for (int k = 0; k < x->rank; k++) {
        kd[k] = red[k] ? 1 : x->d[k];
        if (red[k]) cnt *= (size_t)x->d[k];
        if (!red[k] || keep) od[orank++] = kd[k];
    }
    if (oma_gt_alloc(out, OMA_TFJS_F32, x->rank, kd)) return fail(err, errlen, node, "out of memory");
    int64_t idx[OMA_GT_MAX_RANK] = {0};
    for (size_t k = 0; k < x->n; k++) {
        size_t off = 0;
        for (int q = 0; q < x->rank; q++) off = off * (size_t)kd[q] + (size_t)(red[q] ? 0 : idx[q]);
        out->f[off] += x->f[k];
        for (int q = x->rank - 1; q >= 0; q--) {
            if (++idx[q] < x->d[q]) break;
            idx[q] = 0;
        }
    }
    if (!is_sum && cnt)
        for (size_t k = 0; k < out->n; k++) out->f[k] /= (float)cnt;
    out->rank = orank;
    for (int k = 0; k < orank; k++) out->d[k] = od[k];
    return 0;
}

static int op_cast(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                   char *err, size_t errlen)
{
    NEED_IN(1);
    const oma_gt *x = in[0];
    const json_t *a = node->attr ? json_object_get(node->attr, "DstT") : NULL;
    const char *t = a ? json_string_value(json_object_get(a, "type")) : NULL;
    int to_bool = t && !strcmp(t, "DT_BOOL");   /* booleans are int32 0/1 */
    oma_tfjs_dtype dt = t && (!strcmp(t, "DT_INT32") || to_bool) ? OMA_TFJS_I32 : OMA_TFJS_F32;
    if (oma_gt_alloc(out, dt, x->rank, x->d)) return fail(err, errlen, node, "out of memory");
    for (size_t k = 0; k < x->n; k++) {
        if (to_bool) out->i[k] = x->dtype == OMA_TFJS_F32 ? x->f[k] != 0 : x->i[k] != 0;
        else if (dt == OMA_TFJS_F32) out->f[k] = x->dtype == OMA_TFJS_F32 ? x->f[k] : (float)x->i[k];
        else {
            float v = x->dtype == OMA_TFJS_F32 ? x->f[k] : (float)x->i[k];
            if (!(v > -2147483520.0f && v < 2147483520.0f)) {
                oma_gt_free(out);
                return fail(err, errlen, node, "value out of int32 range");
            }
            out->i[k] = (int32_t)v;
        }
    }
    return 0;
}

/* ---- dispatch ---- */

static const char *const supported[] = {
    "_FusedConv2D", "Conv2D", "FusedDepthwiseConv2dNative", "DepthwiseConv2dNative",
    "Conv2DBackpropInput", "MatMul", "_FusedMatMul", "Add", "AddV2", "BiasAdd", "Sub", "Mul",
    "RealDiv", "SquaredDifference", "Maximum", "Minimum", "FloorDiv", "Relu", "Relu6", "Prelu",
    "LeakyRelu", "Sigmoid", "Elu", "Sqrt", "Exp", "Tanh", "Rsqrt", "Neg", "Abs", "AddN",
    "Reshape", "Squeeze", "ExpandDims", "Shape", "StridedSlice", "Slice", "ConcatV2", "Pack",
    "Pad", "PadV2", "MaxPool", "AvgPool", "ResizeBilinear", "DepthToSpace", "Mean", "Sum",
    "Cast", "Identity", "StopGradient", NULL,
};

int oma_gop_supported(const char *op)
{
    for (int k = 0; supported[k]; k++)
        if (!strcmp(supported[k], op)) return 1;
    return oma_gop_select_supported(op);
}

int oma_gop_run(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out, char *err,
                size_t errlen)
{
    const char *op = node->op;
    memset(out, 0, sizeof *out);
    for (int k = 0; k < n_in; k++)
        if ((in[k]->dtype == OMA_TFJS_F32 && !in[k]->f) || (in[k]->dtype == OMA_TFJS_I32 && !in[k]->i))
            return fail(err, errlen, node, "input %d has no data", k);
    if (!strcmp(op, "_FusedConv2D")) return op_conv2d(node, in, n_in, out, err, errlen, 1);
    if (!strcmp(op, "Conv2D")) return op_conv2d(node, in, n_in, out, err, errlen, 0);
    if (!strcmp(op, "FusedDepthwiseConv2dNative")) return op_depthwise(node, in, n_in, out, err, errlen, 1);
    if (!strcmp(op, "DepthwiseConv2dNative")) return op_depthwise(node, in, n_in, out, err, errlen, 0);
    if (!strcmp(op, "Conv2DBackpropInput")) return op_conv_transpose(node, in, n_in, out, err, errlen);
    if (!strcmp(op, "MatMul")) return op_matmul(node, in, n_in, out, err, errlen, 0);
    if (!strcmp(op, "_FusedMatMul")) return op_matmul(node, in, n_in, out, err, errlen, 1);
    if (!strcmp(op, "Add") || !strcmp(op, "AddV2") || !strcmp(op, "BiasAdd"))
        return op_binary(node, in, n_in, out, err, errlen, BIN_ADD);
    if (!strcmp(op, "Sub")) return op_binary(node, in, n_in, out, err, errlen, BIN_SUB);
    if (!strcmp(op, "Mul")) return op_binary(node, in, n_in, out, err, errlen, BIN_MUL);
    if (!strcmp(op, "RealDiv")) return op_binary(node, in, n_in, out, err, errlen, BIN_DIV);
    if (!strcmp(op, "SquaredDifference")) return op_binary(node, in, n_in, out, err, errlen, BIN_SQDIFF);
    if (!strcmp(op, "Maximum")) return op_binary(node, in, n_in, out, err, errlen, BIN_MAX);
    if (!strcmp(op, "Minimum")) return op_binary(node, in, n_in, out, err, errlen, BIN_MIN);
    if (!strcmp(op, "FloorDiv")) return op_binary(node, in, n_in, out, err, errlen, BIN_FLOORDIV);
    if (!strcmp(op, "Relu")) return op_unary(node, in, n_in, out, err, errlen, ACT_RELU);
    if (!strcmp(op, "Relu6")) return op_unary(node, in, n_in, out, err, errlen, ACT_RELU6);
    if (!strcmp(op, "Prelu")) return op_unary(node, in, n_in, out, err, errlen, ACT_PRELU);
    if (!strcmp(op, "LeakyRelu")) return op_unary(node, in, n_in, out, err, errlen, ACT_LEAKY);
    if (!strcmp(op, "Sigmoid")) return op_unary(node, in, n_in, out, err, errlen, ACT_SIGMOID);
    if (!strcmp(op, "Elu")) return op_unary(node, in, n_in, out, err, errlen, ACT_ELU);
    if (!strcmp(op, "Sqrt")) return op_math1(node, in, n_in, out, err, errlen, 0);
    if (!strcmp(op, "Exp")) return op_math1(node, in, n_in, out, err, errlen, 1);
    if (!strcmp(op, "Tanh")) return op_math1(node, in, n_in, out, err, errlen, 2);
    if (!strcmp(op, "Rsqrt")) return op_math1(node, in, n_in, out, err, errlen, 3);
    if (!strcmp(op, "Neg")) return op_math1(node, in, n_in, out, err, errlen, 4);
    if (!strcmp(op, "Abs")) return op_math1(node, in, n_in, out, err, errlen, 5);
    if (!strcmp(op, "AddN")) return op_addn(node, in, n_in, out, err, errlen);
    if (!strcmp(op, "Reshape")) return op_reshape(node, in, n_in, out, err, errlen);
    if (!strcmp(op, "Squeeze")) return op_squeeze_expand(node, in, n_in, out, err, errlen, 0);
    if (!strcmp(op, "ExpandDims")) return op_squeeze_expand(node, in, n_in, out, err, errlen, 1);
    if (!strcmp(op, "Shape")) return op_shape(node, in, n_in, out, err, errlen);
    if (!strcmp(op, "StridedSlice")) return op_strided_slice(node, in, n_in, out, err, errlen);
    if (!strcmp(op, "Slice")) return op_slice(node, in, n_in, out, err, errlen);
    if (!strcmp(op, "ConcatV2")) return op_concat(node, in, n_in, out, err, errlen, 0);
    if (!strcmp(op, "Pack")) return op_concat(node, in, n_in, out, err, errlen, 1);
    if (!strcmp(op, "Pad") || !strcmp(op, "PadV2")) return op_pad(node, in, n_in, out, err, errlen);
    if (!strcmp(op, "MaxPool")) return op_pool(node, in, n_in, out, err, errlen, 0);
    if (!strcmp(op, "AvgPool")) return op_pool(node, in, n_in, out, err, errlen, 1);
    if (!strcmp(op, "ResizeBilinear")) return op_resize_bilinear(node, in, n_in, out, err, errlen);
    if (!strcmp(op, "DepthToSpace")) return op_depth_to_space(node, in, n_in, out, err, errlen);
    if (!strcmp(op, "Mean")) return op_mean(node, in, n_in, out, err, errlen, 0);
    if (!strcmp(op, "Sum")) return op_mean(node, in, n_in, out, err, errlen, 1);
    if (!strcmp(op, "Cast")) return op_cast(node, in, n_in, out, err, errlen);
    if (!strcmp(op, "Identity") || !strcmp(op, "StopGradient")) {
        NEED_IN(1);
        if (copy_tensor(in[0], out, in[0]->rank, in[0]->d)) return fail(err, errlen, node, "out of memory");
        return 0;
    }
    if (oma_gop_select_supported(op)) return oma_gop_select_run(node, in, n_in, out, err, errlen);
    return fail(err, errlen, node, "unsupported op");
}
