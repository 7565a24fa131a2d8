/* test_nn_layers.c — the nn layers against hand-written references on small random weights:
 * linear/conv with LoRA merged equal base + scale * up(down(x)); attention equals the naive
 * softmax(QK^T/sqrt(d))V per head; a resnet block equals its composition written out; the
 * conv and linear projections of a Transformer2D agree given the same weights; the VAE
 * downsample pads right/bottom; timestep features match the formula; and loading reports the
 * missing or misshapen tensor by name. Tolerance 1e-4 relative to the output's magnitude. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/attention.h"
#include "nn/blocks.h"
#include "nn/layers.h"
#include "tensor/ops.h"
#include "tensor/threadpool.h"

#include "check.h"

/* A weight source that makes up deterministic values from each name's hash. Names containing
 * `missing` do not exist; a name equal to `badshape` reports a wrong shape. */
typedef struct {
    const char *missing;
    const char *badshape;
    int linear_alias;       /* read "proj_in.weight" [C,C] from the conv's [C,C,1,1] values */
} fake_src;

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int fake_has(void *ctx, const char *name)
{
    fake_src *f = ctx;
    return !(f->missing && strstr(name, f->missing));
}

static int fake_read(void *ctx, const char *name, int ndim, const int64_t *shape, float *dst,
                     char *err, size_t errlen)
{
    fake_src *f = ctx;
    if (!fake_has(ctx, name)) {
        snprintf(err, errlen, "tensor '%s': missing", name);
        return -1;
    }
    if (f->badshape && strcmp(name, f->badshape) == 0) {
        snprintf(err, errlen, "tensor '%s': shape mismatch", name);
        return -1;
    }
    uint64_t s = hash(name);
    int64_t n = oma_shape_numel(ndim, shape);
    int is_norm_w = strstr(name, "norm") && strstr(name, ".weight");
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        float u = (float)((s >> 40) * (1.0 / 16777216.0)) - 0.5f;
        dst[i] = is_norm_w ? 1.0f + 0.2f * u : 0.4f * u;
    }
    return 0;
}

static oma_weights src_of(fake_src *f)
{
    oma_weights w = {.ctx = f, .read = fake_read, .has = fake_has};
    return w;
}

static uint64_t rs = 0x1234567u;
static void fill(oma_tensor *t, float amp)
{
    for (int64_t i = 0; i < oma_tensor_numel(t); i++) {
        rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
        t->data[i] = amp * ((float)((rs >> 40) * (1.0 / 8388608.0)) - 1.0f);
    }
}

static int close_t(const char *what, const oma_tensor *got, const double *want, double tol)
{
    double maxref = 0, maxerr = 0;
    int64_t n = oma_tensor_numel(got);
    for (int64_t i = 0; i < n; i++) {
        maxref = fmax(maxref, fabs(want[i]));
        double e = fabs(got->data[i] - want[i]);
        if (!(e <= maxerr)) maxerr = isnan(e) ? INFINITY : e;
    }
    if (!(maxerr <= tol * (1 + maxref))) {
        fprintf(stderr, "%s: max err %g (max ref %g)\n", what, maxerr, maxref);
        return 0;
    }
    return 1;
}

static double *dbuf(int64_t n)
{
    double *d = calloc((size_t)n, sizeof *d);
    if (!d) exit(1);
    return d;
}

static void test_lora_merge(void)
{
    fake_src f = {0};
    oma_weights w = src_of(&f);
    char err[256];
    oma_arena ar;
    oma_arena_init(&ar, 1 << 20);
    oma_linear l;
    CHECK(oma_linear_load(&l, &w, "lin", 6, 5, 1, err, sizeof err) == 0);
    oma_tensor x, up, down;
    int64_t xs[2] = {3, 6}, us[2] = {5, 2}, ds[2] = {2, 6};
    oma_tensor_alloc(&x, 2, xs), oma_tensor_alloc(&up, 2, us), oma_tensor_alloc(&down, 2, ds);
    fill(&x, 1), fill(&up, 1), fill(&down, 1);
    oma_tensor y0, y1;
    CHECK(oma_linear_forward(&l, &x, &ar, &y0) == 0);
    CHECK(oma_linear_merge_lora(&l, &up, &down, 0.7f) == 0);
    CHECK(oma_linear_forward(&l, &x, &ar, &y1) == 0);
    double want[15];
    for (int r = 0; r < 3; r++)
        for (int o = 0; o < 5; o++) {
            double s = 0;
            for (int k = 0; k < 2; k++) {
                double d = 0;
                for (int i = 0; i < 6; i++) d += (double)down.data[k * 6 + i] * x.data[r * 6 + i];
                s += up.data[o * 2 + k] * d;
            }
            want[r * 5 + o] = y0.data[r * 5 + o] + 0.7 * s;
        }
    CHECK(close_t("linear lora", &y1, want, 1e-5));
    CHECK(oma_linear_merge_lora(&l, &down, &up, 1.0f) == -1);     /* wrong shapes */
    /* conv LoRA: up [out, r, 1, 1], down [r, in, 3, 3] */
    oma_conv2d c;
    CHECK(oma_conv2d_load(&c, &w, "conv", 3, 4, 3, 1, 1, 1, err, sizeof err) == 0);
    oma_tensor cx, cu, cd;
    int64_t cxs[4] = {1, 3, 5, 5}, cus[4] = {4, 2, 1, 1}, cds[4] = {2, 3, 3, 3};
    oma_tensor_alloc(&cx, 4, cxs), oma_tensor_alloc(&cu, 4, cus), oma_tensor_alloc(&cd, 4, cds);
    fill(&cx, 1), fill(&cu, 1), fill(&cd, 1);
    oma_tensor c0, c1, dmid;
    CHECK(oma_conv2d_forward(&c, &cx, &ar, &c0) == 0);
    int64_t ms[4] = {1, 2, 5, 5};
    oma_arena_tensor(&ar, &dmid, 4, ms);
    CHECK(oma_op_conv2d(&cx, &cd, NULL, 1, 1, &dmid) == 0);
    CHECK(oma_conv2d_merge_lora(&c, &cu, &cd, 0.5f) == 0);
    CHECK(oma_conv2d_forward(&c, &cx, &ar, &c1) == 0);
    double cw[100];
    for (int o = 0; o < 4; o++)
        for (int p = 0; p < 25; p++) {
            double s = 0;
            for (int k = 0; k < 2; k++) s += (double)cu.data[o * 2 + k] * dmid.data[k * 25 + p];
            cw[o * 25 + p] = c0.data[o * 25 + p] + 0.5 * s;
        }
    CHECK(close_t("conv lora", &c1, cw, 1e-5));
    oma_linear_free(&l);
    oma_conv2d_free(&c);
    oma_tensor_free(&x), oma_tensor_free(&up), oma_tensor_free(&down);
    oma_tensor_free(&cx), oma_tensor_free(&cu), oma_tensor_free(&cd);
    oma_arena_destroy(&ar);
}

static void test_attention(void)
{
    fake_src f = {0};
    oma_weights w = src_of(&f);
    char err[256];
    oma_arena ar;
    oma_arena_init(&ar, 1 << 20);
    int64_t B = 2, N = 7, M = 5, C = 12, CC = 10, H = 3, D = 4;
    oma_attention a;
    CHECK(oma_attention_load(&a, &w, "attn", C, CC, H, 0, err, sizeof err) == 0);
    CHECK(a.to_q.b.data == NULL && a.to_out.b.data != NULL);
    oma_tensor x, ctx, y;
    int64_t xs[3] = {B, N, C}, cs[3] = {B, M, CC};
    oma_tensor_alloc(&x, 3, xs), oma_tensor_alloc(&ctx, 3, cs);
    fill(&x, 1), fill(&ctx, 1);
    CHECK(oma_attention_forward(&a, &x, &ctx, &ar, &y) == 0);
    double *want = dbuf(B * N * C), q[7][12], k[5][12], v[5][12], o[7][12];
    for (int64_t b = 0; b < B; b++) {
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = 0; j < C; j++) {
                double s = 0;
                for (int64_t e = 0; e < C; e++) s += (double)x.data[(b * N + i) * C + e] * a.to_q.w.data[j * C + e];
                q[i][j] = s;
            }
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < C; j++) {
                double sk = 0, sv = 0;
                for (int64_t e = 0; e < CC; e++) {
                    sk += (double)ctx.data[(b * M + i) * CC + e] * a.to_k.w.data[j * CC + e];
                    sv += (double)ctx.data[(b * M + i) * CC + e] * a.to_v.w.data[j * CC + e];
                }
                k[i][j] = sk, v[i][j] = sv;
            }
        for (int64_t h = 0; h < H; h++)
            for (int64_t i = 0; i < N; i++) {
                double p[5], mx = -1e300, sum = 0;
                for (int64_t j = 0; j < M; j++) {
                    double s = 0;
                    for (int64_t e = 0; e < D; e++) s += q[i][h * D + e] * k[j][h * D + e];
                    p[j] = s / sqrt((double)D);
                    mx = fmax(mx, p[j]);
                }
                for (int64_t j = 0; j < M; j++) sum += (p[j] = exp(p[j] - mx));
                for (int64_t e = 0; e < D; e++) {
                    double s = 0;
                    for (int64_t j = 0; j < M; j++) s += p[j] * v[j][h * D + e];
                    o[i][h * D + e] = s / sum;
                }
            }
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = 0; j < C; j++) {
                double s = a.to_out.b.data[j];
                for (int64_t e = 0; e < C; e++) s += o[i][e] * a.to_out.w.data[j * C + e];
                want[(b * N + i) * C + j] = s;
            }
    }
    CHECK(close_t("cross attention", &y, want, 1e-4));
    oma_tensor bad;
    int64_t bs[3] = {B, M, CC + 1};
    oma_arena_tensor(&ar, &bad, 3, bs);
    CHECK(oma_attention_forward(&a, &x, &bad, &ar, &y) == -1);    /* context width mismatch */
    free(want);
    oma_attention_free(&a);
    oma_tensor_free(&x), oma_tensor_free(&ctx);
    oma_arena_destroy(&ar);
}

static void test_resnet(void)
{
    fake_src f = {0};
    oma_weights w = src_of(&f);
    char err[256];
    oma_arena ar;
    oma_arena_init(&ar, 1 << 20);
    oma_resnet r;
    CHECK(oma_resnet_load(&r, &w, "res", 4, 8, 6, 2, 1e-5f, err, sizeof err) == 0);
    CHECK(r.has_shortcut);
    oma_tensor x, temb, y;
    int64_t xs[4] = {2, 4, 5, 6}, ts[2] = {2, 6};
    oma_tensor_alloc(&x, 4, xs), oma_tensor_alloc(&temb, 2, ts);
    fill(&x, 2), fill(&temb, 1);
    CHECK(oma_resnet_forward(&r, &x, &temb, &ar, &y) == 0);
    /* the same computation spelled out with ops */
    oma_tensor h, h2, t, te, sc, want_t;
    int64_t hs[4] = {2, 8, 5, 6};
    oma_arena_like(&ar, &x, &h);
    oma_op_group_norm(&x, 2, &r.norm1.gamma, &r.norm1.beta, 1e-5f, 0, &h);
    oma_op_silu(&h, &h);
    oma_arena_tensor(&ar, &h2, 4, hs);
    oma_op_conv2d(&h, &r.conv1.w, &r.conv1.b, 1, 1, &h2);
    oma_arena_like(&ar, &temb, &t);
    oma_op_silu(&temb, &t);
    oma_arena_tensor(&ar, &te, 2, (int64_t[]){2, 8});
    oma_op_linear(&t, &r.time_emb_proj.w, &r.time_emb_proj.b, &te);
    for (int b = 0; b < 2; b++)
        for (int c = 0; c < 8; c++)
            for (int i = 0; i < 30; i++) h2.data[(b * 8 + c) * 30 + i] += te.data[b * 8 + c];
    oma_tensor h3;
    oma_arena_like(&ar, &h2, &h3);
    oma_op_group_norm(&h2, 2, &r.norm2.gamma, &r.norm2.beta, 1e-5f, 0, &h3);
    oma_op_silu(&h3, &h3);
    oma_arena_like(&ar, &h2, &want_t);
    oma_op_conv2d(&h3, &r.conv2.w, &r.conv2.b, 1, 1, &want_t);
    oma_arena_like(&ar, &h2, &sc);
    oma_op_conv2d(&x, &r.shortcut.w, &r.shortcut.b, 1, 0, &sc);
    double *want = dbuf(480);
    for (int i = 0; i < 480; i++) want[i] = (double)want_t.data[i] + sc.data[i];
    CHECK(close_t("resnet", &y, want, 1e-5));
    CHECK(oma_resnet_forward(&r, &x, NULL, &ar, &y) == -1);       /* temb required */
    free(want);
    oma_resnet_free(&r);
    oma_tensor_free(&x), oma_tensor_free(&temb);
    oma_arena_destroy(&ar);
}

static void test_transformer2d_projections(void)
{
    /* the same numbers as a 1x1 conv [C,C,1,1] and as a linear [C,C] must give the same output */
    fake_src f = {0};
    oma_weights w = src_of(&f);
    char err[256];
    oma_arena ar;
    oma_arena_init(&ar, 1 << 20);
    oma_transformer2d tc, tl;
    CHECK(oma_transformer2d_load(&tc, &w, "t", 8, 2, 6, 1, 0, 4, err, sizeof err) == 0);
    CHECK(oma_transformer2d_load(&tl, &w, "t", 8, 2, 6, 1, 1, 4, err, sizeof err) == 0);
    oma_tensor x, ctx, yc, yl;
    int64_t xs[4] = {1, 8, 3, 5}, cs[3] = {1, 4, 6};
    oma_tensor_alloc(&x, 4, xs), oma_tensor_alloc(&ctx, 3, cs);
    fill(&x, 1), fill(&ctx, 1);
    CHECK(oma_transformer2d_forward(&tc, &x, &ctx, &ar, &yc) == 0);
    CHECK(oma_transformer2d_forward(&tl, &x, &ctx, &ar, &yl) == 0);
    double *want = dbuf(120), diff = 0;
    for (int i = 0; i < 120; i++) {
        want[i] = yc.data[i];
        diff += fabs((double)yc.data[i] - x.data[i]);
    }
    CHECK(close_t("transformer2d conv vs linear", &yl, want, 1e-5));
    CHECK(diff > 1.0);      /* the block did something */
    free(want);
    oma_transformer2d_free(&tc);
    oma_transformer2d_free(&tl);
    oma_tensor_free(&x), oma_tensor_free(&ctx);
    oma_arena_destroy(&ar);
}

static void test_down_up_timestep(void)
{
    fake_src f = {0};
    oma_weights w = src_of(&f);
    char err[256];
    oma_arena ar;
    oma_arena_init(&ar, 1 << 20);
    oma_downsample d;
    CHECK(oma_downsample_load(&d, &w, "down", 3, 0, err, sizeof err) == 0);
    oma_tensor x, y, pd, want_t;
    int64_t xs[4] = {1, 3, 6, 7};
    oma_tensor_alloc(&x, 4, xs);
    fill(&x, 1);
    CHECK(oma_downsample_forward(&d, &x, &ar, &y) == 0);
    CHECK(y.shape[2] == 3 && y.shape[3] == 3);
    int64_t ps[4] = {1, 3, 7, 8};
    oma_arena_tensor(&ar, &pd, 4, ps);
    for (int c = 0; c < 3; c++)
        for (int r = 0; r < 6; r++)
            for (int q = 0; q < 7; q++) pd.data[(c * 7 + r) * 8 + q] = x.data[(c * 6 + r) * 7 + q];
    oma_arena_like(&ar, &y, &want_t);
    CHECK(oma_op_conv2d(&pd, &d.conv.w, &d.conv.b, 2, 0, &want_t) == 0);
    double want[27];
    for (int i = 0; i < 27; i++) want[i] = want_t.data[i];
    CHECK(close_t("vae downsample", &y, want, 1e-6));
    oma_upsample u;
    CHECK(oma_upsample_load(&u, &w, "up", 3, err, sizeof err) == 0);
    CHECK(oma_upsample_forward(&u, &x, &ar, &y) == 0 && y.shape[2] == 12 && y.shape[3] == 14);

    float t[2] = {981.0f, 1.0f};
    oma_tensor feat;
    int64_t fs[2] = {2, 8};
    oma_arena_tensor(&ar, &feat, 2, fs);
    CHECK(oma_timestep_features(t, 2, 8, 1, 0.0f, &feat) == 0);
    double fw[16];
    for (int b = 0; b < 2; b++)
        for (int i = 0; i < 4; i++) {
            double arg = t[b] * exp(-log(10000.0) * i / 4.0);
            fw[b * 8 + i] = cos(arg);
            fw[b * 8 + 4 + i] = sin(arg);
        }
    CHECK(close_t("timestep features", &feat, fw, 2e-4));   /* float32 argument near 981 */
    oma_downsample_free(&d);
    oma_upsample_free(&u);
    oma_tensor_free(&x);
    oma_arena_destroy(&ar);
}

static void test_load_errors(void)
{
    char err[256];
    fake_src f = {.missing = "conv_shortcut"};
    oma_weights w = src_of(&f);
    oma_resnet r;
    CHECK(oma_resnet_load(&r, &w, "unet.down_blocks.1.resnets.0", 4, 8, 0, 2, 1e-5f, err, sizeof err) == -1);
    CHECK(strstr(err, "unet.down_blocks.1.resnets.0.conv_shortcut.weight") != NULL);
    fake_src g = {.badshape = "blk.attn2.to_k.weight"};
    oma_weights w2 = src_of(&g);
    oma_transformer t;
    CHECK(oma_transformer_load(&t, &w2, "blk", 8, 6, 2, err, sizeof err) == -1);
    CHECK(strstr(err, "blk.attn2.to_k.weight") != NULL);
    oma_attention a;
    CHECK(oma_attention_load(&a, &w2, "x", 10, 10, 3, 0, err, sizeof err) == -1);   /* 10 % 3 */
    oma_norm n;
    CHECK(oma_group_norm_load(&n, &w2, "gn", 10, 4, 1e-5f, err, sizeof err) == -1);
}

int main(void)
{
    setenv("OMA_THREADS", "2", 1);
    test_lora_merge();
    test_attention();
    test_resnet();
    test_transformer2d_projections();
    test_down_up_timestep();
    test_load_errors();
    oma_threads_shutdown();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_nn_layers: ok\n");
    return 0;
}
