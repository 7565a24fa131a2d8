/* graph_ops_conv.c — the TFJS graph ops that carry the arithmetic: Conv2D / _FusedConv2D,
 * (Fused)DepthwiseConv2dNative, Conv2DBackpropInput and (_Fused)MatMul, over NHWC float32.
 * Convolutions: im2col into a [OH*OW, KH*KW*C] matrix times the HWIO filter viewed as
 * [KH*KW*C, O] (1x1 stride-1 convolutions skip im2col), transposed convolutions (one product
 * per filter tap, added where the tap puts it) and MatMul go through the shared
 * tensor backend's GEMM (src/tensor/backend.h: the kernel SD's layers use, split over the
 * thread pool, oneDNN for large products); im2col and depthwise convolutions run row bands on
 * the same thread pool. Depthwise: direct loops, innermost over channels so memory is walked
 * contiguously. oma_gop_set_legacy(1) puts back the former single-call cblas_sgemm and serial
 * loops, only so that bench/bench_pose_graph.c can compare both in one run. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "models/pose/graph_ops_impl.h"
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

/* Reads fused_ops: BiasAdd then at most one activation; the bias is input 2, a PReLU alpha
 * input 3. */
static int fused_spec(const oma_tfjs_node *node, oma_gt *const *in, int n_in, int cout,
                      const float **bias, oma_gop_act *act, const float **alpha, float *leaky,
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
            if (!strcmp(s, "FusedBatchNorm")) return oma_gop_fail(err, errlen, node, "fused batch norm unsupported");
            if (n_in < 3 || in[2]->dtype != OMA_TFJS_F32 || in[2]->n != (size_t)cout)
                return oma_gop_fail(err, errlen, node, "bias must hold %d floats", cout);
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
                return oma_gop_fail(err, errlen, node, "prelu alpha must hold %d floats", cout);
            *alpha = in[3]->f;
        } else return oma_gop_fail(err, errlen, node, "unsupported fused op %s", s);
    }
    return 0;
}

/* Output size and leading pad for one spatial axis. */
int oma_gop_conv_geom(const oma_tfjs_node *node, int64_t in, int64_t k, int64_t s, int64_t dil,
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

int oma_gop_strides_dil(const oma_tfjs_node *node, int64_t *sh, int64_t *sw, int64_t *dh, int64_t *dw)
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
    oma_gop_act act;
    float leaky;
} conv_spec;

static int conv_setup(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                      char *err, size_t errlen, int fused, int depthwise, conv_spec *c)
{
    NEED_IN(2);
    const oma_gt *x = in[0], *w = in[1];
    if (!is_f4(x) || !is_f4(w) || w->d[2] != x->d[3])
        return oma_gop_fail(err, errlen, node, "bad input/filter shapes");
    if (oma_gop_strides_dil(node, &c->sh, &c->sw, &c->dh, &c->dw))
        return oma_gop_fail(err, errlen, node, "bad strides/format");
    c->N = x->d[0], c->H = x->d[1], c->W = x->d[2], c->C = x->d[3];
    c->KH = w->d[0], c->KW = w->d[1];
    c->O = depthwise ? c->C * w->d[3] : w->d[3];
    if (c->KH < 1 || c->KW < 1 || c->C < 1) return oma_gop_fail(err, errlen, node, "empty input or filter");
    if (oma_gop_conv_geom(node, c->H, c->KH, c->sh, c->dh, 0, &c->oh, &c->ph) ||
        oma_gop_conv_geom(node, c->W, c->KW, c->sw, c->dw, 1, &c->ow, &c->pw))
        return oma_gop_fail(err, errlen, node, "bad padding/geometry");
    c->bias = c->alpha = NULL;
    c->act = ACT_NONE;
    c->leaky = 0;
    if (fused && fused_spec(node, in, n_in, (int)c->O, &c->bias, &c->act, &c->alpha, &c->leaky, err, errlen))
        return -1;
    int64_t dims[4] = {c->N, c->oh, c->ow, c->O};
    if (oma_gop_alloc_raw(out, OMA_TFJS_F32, 4, dims)) return oma_gop_fail(err, errlen, node, "output too large");
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
            return oma_gop_fail(err, errlen, node, "out of memory for im2col");
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
        if (!legacy) {   /* bias then activation in one pass (the same values as two) */
            for (int64_t m = 0; m < M; m++) {
                float *row = ob + m * O;
                if (c.bias)
                    for (int64_t o = 0; o < O; o++) row[o] += c.bias[o];
                oma_gop_apply_act(row, (size_t)O, (int)O, c.act, c.alpha, c.leaky);
            }
        } else if (c.bias)
            for (int64_t m = 0; m < M; m++)
                for (int64_t o = 0; o < O; o++) ob[m * O + o] += c.bias[o];
    }
    free(col);
    if (legacy) oma_gop_apply_act(out->f, out->n, (int)O, c.act, c.alpha, c.leaky);
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

#define DW_MAX_TAPS 64   /* kernels up to 8x8 take the fast path */
typedef float v16 __attribute__((vector_size(64)));   /* element-wise IEEE ops, no FMA (fp-contract off) */
typedef int32_t v16i __attribute__((vector_size(64)));
typedef float v8 __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

/* Whether act has a vector form below (sigmoid and elu do not: applied after, by the scalar
 * rules). */
static int dw_vector_act(oma_gop_act a)
{
    return a == ACT_NONE || a == ACT_RELU || a == ACT_RELU6 || a == ACT_PRELU || a == ACT_LEAKY;
}

/* The activations a convolution fuses, on a vector of channels ch.., as the scalar rules in
 * oma_gop_apply_act give them (same comparisons, so NaN and -0 come out the same). */
#define DW_ACT(VT, VI)                                                                        \
    static inline __attribute__((always_inline)) void act_##VT(VT *a, const conv_spec *c, int64_t ch) \
    {                                                                                         \
        VT z = {0}, v = *a;                                                                   \
        switch (c->act) {                                                                     \
        case ACT_RELU: *a = (VT)((VI)(v > z) & (VI)v); return;                                \
        case ACT_RELU6: {                                                                     \
            VT six = z + 6.0f;                                                                \
            VI hi = (VI)(v > six);                                                            \
            *a = (VT)(~(VI)(v < z) & ((hi & (VI)six) | (~hi & (VI)v)));                       \
            return;                                                                           \
        }                                                                                     \
        case ACT_PRELU: {                                                                     \
            VT al;                                                                            \
            memcpy(&al, c->alpha + ch, sizeof al);                                            \
            VI neg = (VI)(v < z);                                                             \
            *a = (VT)((neg & (VI)(v * al)) | (~neg & (VI)v));                                 \
            return;                                                                           \
        }                                                                                     \
        case ACT_LEAKY: {                                                                     \
            VI neg = (VI)(v < z);                                                             \
            *a = (VT)((neg & (VI)(v * c->leaky)) | (~neg & (VI)v));                           \
            return;                                                                           \
        }                                                                                     \
        default: return;                                                                      \
        }                                                                                     \
    }
DW_ACT(v16, v16i)
DW_ACT(v8, v8i)

/* Sums one block of channels (VT wide) of NP neighbouring output pixels over their taps, bias
 * first (pixel q's taps are pixel 0's moved by q * step floats), applies the activation and
 * stores each once. With NP > 1 the weights are loaded once for all the pixels and the NP sums
 * are independent chains the core can overlap (one sum alone waits on its previous add each
 * tap); each pixel's sum still runs over its taps in the same order: the same bits. */
#define DW_PIX 4
#define DW_BLOCK_SUM(VT, NP)                                                                  \
    do {                                                                                      \
        VT a[NP];                                                                             \
        for (int q = 0; q < (NP); q++) {                                                      \
            if (c->bias) memcpy(&a[q], c->bias + ch, sizeof a[q]);                            \
            else a[q] = (VT){0};                                                              \
        }                                                                                     \
        for (int t = 0; t < nt; t++) {                                                        \
            VT w;                                                                             \
            memcpy(&w, ws[t] + ch, sizeof w);                                                 \
            for (int q = 0; q < (NP); q++) {                                                  \
                VT x;                                                                         \
                memcpy(&x, xs[t] + q * step + ch, sizeof x);                                  \
                a[q] += x * w;                                                                \
            }                                                                                 \
        }                                                                                     \
        for (int q = 0; q < (NP); q++) {                                                      \
            if (vact) act_##VT(&a[q], c, ch);                                                 \
            memcpy(o + q * C + ch, &a[q], sizeof a[q]);                                       \
        }                                                                                     \
    } while (0)

/* Channels [ch, C) of np neighbouring output pixels one by one (the tail after the vector
 * blocks), then the activation of channels [done, C) (done = ch when the blocks applied it). */
static inline __attribute__((always_inline)) void dw_tail(const conv_spec *c, const float *const *xs,
                                                          const float *const *ws, int nt, int np,
                                                          int64_t step, int64_t ch, int64_t done, float *o)
{
    int64_t C = c->C;
    for (int q = 0; q < np; q++) {
        for (int64_t k = ch; k < C; k++) {
            float acc = c->bias ? c->bias[k] : 0.0f;
            for (int t = 0; t < nt; t++) acc += xs[t][q * step + k] * ws[t][k];
            o[q * C + k] = acc;
        }
        if (done < C)
            oma_gop_apply_act(o + q * C + done, (size_t)(C - done), (int)(C - done), c->act,
                              c->alpha ? c->alpha + done : NULL, c->leaky);
    }
}

/* Depthwise with one filter per channel (multiplier 1), rows [r0, r1): per output pixel the
 * taps inside the image are listed once, then each block of 16 (then 8) channels is summed in
 * registers over them (bias first, taps in the same order as depthwise_rows, so the sums are
 * the same to the bit), the activation applied there and the block stored once; the last
 * channels one by one. The body is built twice: for any x86-64 (a 16-float vector is four
 * SSE registers) and, picked at run time, for AVX-512 (one register); lane by lane the same
 * multiplies, adds and comparisons, so both give the same bits. */
static inline __attribute__((always_inline)) void depthwise_m1_body(void *p, int64_t r0, int64_t r1)
{
    const conv_job *j = p;
    const conv_spec *c = j->c;
    int64_t H = c->H, W = c->W, C = c->C, oh = c->oh, ow = c->ow;
    const float *xs[DW_MAX_TAPS], *ws[DW_MAX_TAPS];
    int vact = dw_vector_act(c->act);
    int64_t step = c->sw * C;   /* floats between neighbouring output pixels' inputs */
    for (int64_t r = r0; r < r1; r++) {
        int64_t b = r / oh, y = r % oh;
        for (int64_t xx = 0; xx < ow;) {
            float *o = j->out + (size_t)(((b * oh + y) * ow + xx) * C);
            /* DW_PIX pixels whose taps all lie inside the row: one pass for all of them */
            int64_t x0 = xx * c->sw - c->pw, x1 = (xx + DW_PIX - 1) * c->sw - c->pw + (c->KW - 1) * c->dw;
            if (xx + DW_PIX <= ow && x0 >= 0 && x1 < W) {
                int nt = 0;
                for (int64_t ky = 0; ky < c->KH; ky++) {
                    int64_t iy = y * c->sh - c->ph + ky * c->dh;
                    if (iy < 0 || iy >= H) continue;
                    for (int64_t kx = 0; kx < c->KW; kx++) {
                        xs[nt] = j->x + (size_t)(((b * H + iy) * W + x0 + kx * c->dw) * C);
                        ws[nt] = j->w + (size_t)((ky * c->KW + kx) * C);
                        nt++;
                    }
                }
                int64_t ch = 0;
                for (; ch + 16 <= C; ch += 16) DW_BLOCK_SUM(v16, DW_PIX);
                for (; ch + 8 <= C; ch += 8) DW_BLOCK_SUM(v8, DW_PIX);
                dw_tail(c, xs, ws, nt, DW_PIX, step, ch, vact ? ch : 0, o);
                xx += DW_PIX;
                continue;
            }
            int nt = 0;
            for (int64_t ky = 0; ky < c->KH; ky++) {
                int64_t iy = y * c->sh - c->ph + ky * c->dh;
                if (iy < 0 || iy >= H) continue;
                for (int64_t kx = 0; kx < c->KW; kx++) {
                    int64_t ix = xx * c->sw - c->pw + kx * c->dw;
                    if (ix < 0 || ix >= W) continue;
                    xs[nt] = j->x + (size_t)(((b * H + iy) * W + ix) * C);
                    ws[nt] = j->w + (size_t)((ky * c->KW + kx) * C);
                    nt++;
                }
            }
            int64_t ch = 0;
            for (; ch + 16 <= C; ch += 16) DW_BLOCK_SUM(v16, 1);
            for (; ch + 8 <= C; ch += 8) DW_BLOCK_SUM(v8, 1);
            dw_tail(c, xs, ws, nt, 1, step, ch, vact ? ch : 0, o);
            xx++;
        }
    }
}

static void depthwise_rows_m1(void *p, int64_t r0, int64_t r1) { depthwise_m1_body(p, r0, r1); }

__attribute__((target("avx512f"))) static void depthwise_rows_m1_avx512(void *p, int64_t r0, int64_t r1)
{
    depthwise_m1_body(p, r0, r1);
}

static int op_depthwise(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                        char *err, size_t errlen, int fused)
{
    conv_spec c;
    if (conv_setup(node, in, n_in, out, err, errlen, fused, 1, &c)) return -1;
    conv_job j = {&c, in[0]->f, in[1]->f, NULL, out->f, 0};
    if (!legacy && c.O == c.C && c.KH * c.KW <= DW_MAX_TAPS) {
        const char *force = getenv("OMA_DW_KERNEL");   /* "generic": the portable body (tests) */
        int avx512 = __builtin_cpu_supports("avx512f") && !(force && !strcmp(force, "generic"));
        par_for(c.N * c.oh, 4, avx512 ? depthwise_rows_m1_avx512 : depthwise_rows_m1, &j);   /* activation applied there */
        return 0;
    }
    if (!c.bias) memset(out->f, 0, out->n * sizeof(float));   /* the loops add onto it */
    par_for(c.N * c.oh, 4, depthwise_rows, &j);
    oma_gop_apply_act(out->f, out->n, (int)c.O, c.act, c.alpha, c.leaky);
    return 0;
}

/* Conv2DBackpropInput (transposed conv): inputs output_shape (int), filter [KH,KW,O,C], x. */
static int op_conv_transpose(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                             char *err, size_t errlen)
{
    NEED_IN(3);
    const oma_gt *shp = in[0], *w = in[1], *x = in[2];
    if (shp->dtype != OMA_TFJS_I32 || shp->n != 4 || !is_f4(w) || !is_f4(x) || w->d[3] != x->d[3])
        return oma_gop_fail(err, errlen, node, "bad shapes");
    int64_t sh, sw, dh, dw;
    if (oma_gop_strides_dil(node, &sh, &sw, &dh, &dw) || dh != 1 || dw != 1)
        return oma_gop_fail(err, errlen, node, "bad strides");
    int64_t dims[4] = {shp->i[0], shp->i[1], shp->i[2], shp->i[3]};
    int64_t N = x->d[0], H = x->d[1], W = x->d[2], C = x->d[3], KH = w->d[0], KW = w->d[1], O = w->d[2];
    if (dims[0] != N || dims[3] != O) return oma_gop_fail(err, errlen, node, "output shape mismatch");
    int64_t oh_chk, ph, ow_chk, pw;
    /* The forward conv geometry from output to input gives the padding. */
    if (oma_gop_conv_geom(node, dims[1], KH, sh, 1, 0, &oh_chk, &ph) || oma_gop_conv_geom(node, dims[2], KW, sw, 1, 1, &ow_chk, &pw) ||
        oh_chk != H || ow_chk != W)
        return oma_gop_fail(err, errlen, node, "geometry mismatch");
    if (oma_gt_alloc(out, OMA_TFJS_F32, 4, dims)) return oma_gop_fail(err, errlen, node, "output too large");
    /* Per filter tap: every input pixel's contribution T[N*H*W, O] = X[N*H*W, C] x W_tap[O, C]^T
     * as one product on the shared GEMM, then added where that tap puts it. With C = 0 every
     * contribution is 0: the zeroed output is the answer (and H, W are then not bounded by x's
     * size, so nothing may be sized from them). */
    if (N == 0 || H == 0 || W == 0 || C == 0 || O == 0 || KH == 0 || KW == 0) return 0;
    if (N > (int64_t)OMA_GT_MAX_ELEMS / H || N * H > (int64_t)OMA_GT_MAX_ELEMS / W ||
        (size_t)(N * H * W) > OMA_GT_MAX_ELEMS / (size_t)O) {
        oma_gt_free(out);
        return oma_gop_fail(err, errlen, node, "too large");
    }
    int64_t M = N * H * W;
    float *t = malloc((size_t)M * (size_t)O * sizeof(float));
    if (!t) {
        oma_gt_free(out);
        return oma_gop_fail(err, errlen, node, "out of memory");
    }
    for (int64_t ky = 0; ky < KH; ky++)
        for (int64_t kx = 0; kx < KW; kx++) {
            gemm(0, 1, M, O, C, x->f, C, w->f + (size_t)((ky * KW + kx) * O * C), C, t, O);
            for (int64_t b = 0; b < N; b++)
                for (int64_t y = 0; y < H; y++) {
                    int64_t oy = y * sh - ph + ky;
                    if (oy < 0 || oy >= dims[1]) continue;
                    for (int64_t xx = 0; xx < W; xx++) {
                        int64_t ox = xx * sw - pw + kx;
                        if (ox < 0 || ox >= dims[2]) continue;
                        float *o = out->f + (size_t)(((b * dims[1] + oy) * dims[2] + ox) * O);
                        const float *ti = t + (size_t)(((b * H + y) * W + xx) * O);
                        for (int64_t oc = 0; oc < O; oc++) o[oc] += ti[oc];
                    }
                }
        }
    free(t);
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
        return oma_gop_fail(err, errlen, node, "needs 2-D float inputs");
    int64_t M = ta ? a->d[1] : a->d[0], K = ta ? a->d[0] : a->d[1];
    int64_t K2 = tb ? b->d[1] : b->d[0], Nn = tb ? b->d[0] : b->d[1];
    if (K != K2) return oma_gop_fail(err, errlen, node, "inner sizes differ");
    const float *bias = NULL, *alpha = NULL;
    oma_gop_act act = ACT_NONE;
    float leaky;
    if (fused && fused_spec(node, in, n_in, (int)Nn, &bias, &act, &alpha, &leaky, err, errlen)) return -1;
    int64_t dims[2] = {M, Nn};
    if (oma_gt_alloc(out, OMA_TFJS_F32, 2, dims)) return oma_gop_fail(err, errlen, node, "output too large");
    gemm(ta, tb, M, Nn, K, a->f, a->d[1], b->f, b->d[1], out->f, Nn);
    if (bias)
        for (int64_t m = 0; m < M; m++)
            for (int64_t k = 0; k < Nn; k++) out->f[m * Nn + k] += bias[k];
    oma_gop_apply_act(out->f, out->n, (int)Nn, act, alpha, leaky);
    return 0;
}

static const char *const conv_ops[] = {"_FusedConv2D", "Conv2D", "FusedDepthwiseConv2dNative",
                                       "DepthwiseConv2dNative", "Conv2DBackpropInput", "MatMul",
                                       "_FusedMatMul", NULL};

int oma_gop_conv_supported(const char *op) { return oma_gop_in_list(conv_ops, op); }

int oma_gop_conv_run(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out, char *err,
                     size_t errlen)
{
    const char *op = node->op;
    if (!strcmp(op, "_FusedConv2D")) return op_conv2d(node, in, n_in, out, err, errlen, 1);
    if (!strcmp(op, "Conv2D")) return op_conv2d(node, in, n_in, out, err, errlen, 0);
    if (!strcmp(op, "FusedDepthwiseConv2dNative")) return op_depthwise(node, in, n_in, out, err, errlen, 1);
    if (!strcmp(op, "DepthwiseConv2dNative")) return op_depthwise(node, in, n_in, out, err, errlen, 0);
    if (!strcmp(op, "Conv2DBackpropInput")) return op_conv_transpose(node, in, n_in, out, err, errlen);
    if (!strcmp(op, "MatMul")) return op_matmul(node, in, n_in, out, err, errlen, 0);
    if (!strcmp(op, "_FusedMatMul")) return op_matmul(node, in, n_in, out, err, errlen, 1);
    return OMA_GOP_NOT_MINE;
}
