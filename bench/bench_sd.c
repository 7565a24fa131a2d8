/* bench_sd.c — Stable Diffusion 1.5-sized forward passes in our engine, random weights.
 *
 *   bench_sd unet [latent=64] [batch=2]   one UNet forward (SD 1.5 config, context 2x77x768)
 *   bench_sd vae [latent=64]              VAE decode (latent 64 -> 512x512 image), first and second
 *   bench_sd vae-check [latent=64]        the VAE decode's output, default convolutions vs im2col
 *   bench_sd clip                         one CLIP ViT-L/14 text encoder pass (77 tokens)
 *   bench_sd attn [tokens=4096]           the fused attention kernel vs GEMM + softmax + GEMM
 *   bench_sd bf16 [reps=3]                the opt-in bf16 mode vs fp32 on SD's big GEMMs and 3x3
 *                                         convolutions
 *   bench_sd conv [reps=3]                SD's big convolutions: im2col + OpenBLAS vs oneDNN
 *                                         direct vs oneDNN with Winograd (the default, "auto")
 * OMA_PRECISION=bf16 runs the unet/vae passes in the opt-in bf16 mode; OMA_BENCH_PASSES=N
 * times N UNet passes instead of 2 (for profiling the steady state).
 * Prints wall seconds, peak RSS and whether every output value is finite (the full-size smoke
 * test: SD 1.5's architecture runs end to end without NaN). Threads: OMA_THREADS.
 * The weights are made up (uniform, scaled by 1/sqrt(fan-in)), so only speed and finiteness
 * mean something here; correctness is the conformance tests' job.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_common.h"
#include "models/sd/clip_text.h"
#include "models/sd/unet.h"
#include "models/sd/vae.h"
#include "nn/layers.h"
#include "tensor/backend.h"
#include "tensor/cpu/blas.h"
#include "tensor/ops.h"
#include "tensor/threadpool.h"

static int all_finite(const oma_tensor *t)
{
    for (int64_t i = 0; i < oma_tensor_numel(t); i++)
        if (!isfinite(t->data[i])) return 0;
    return 1;
}

static void sd15_vae(oma_vae_config *c)
{
    memset(c, 0, sizeof *c);
    c->in_channels = c->out_channels = 3;
    c->latent_channels = 4;
    c->n_blocks = 4;
    int ch[4] = {128, 256, 512, 512};
    for (int i = 0; i < 4; i++) c->block_out_channels[i] = ch[i];
    c->layers_per_block = 2;
    c->norm_num_groups = 32;
    c->scaling_factor = 0.18215f;
}

static int bench_unet(int latent, int batch)
{
    oma_weights w = {.ctx = NULL, .read = random_weight_read, .has = random_weight_has};
    oma_unet_config c;
    sd15_unet(&c);
    oma_unet u;
    char err[512];
    double t0 = now();
    if (oma_unet_load(&u, &w, "unet", &c, err, sizeof err) != 0) {
        fprintf(stderr, "bench_sd: %s\n", err);
        return 1;
    }
    double tl = now() - t0;
    oma_arena ar;
    oma_arena_init(&ar, 0);
    oma_tensor lat, ctx, out;
    oma_arena_tensor(&ar, &lat, 4, (int64_t[]){batch, 4, latent, latent});
    oma_arena_tensor(&ar, &ctx, 3, (int64_t[]){batch, 77, 768});
    fill(&lat, 1), fill(&ctx, 2);
    float ts[64];
    for (int i = 0; i < batch && i < 64; i++) ts[i] = 500.0f;
    /* two passes: the first also builds the oneDNN primitives and the kept (Winograd) weights
     * once per model; the second is what every later sampling step costs */
    double tf = 0, tc = 0, first = 0;
    /* OMA_BENCH_PASSES=N runs more steady passes (for profiling; the last one is reported) */
    int passes = getenv("OMA_BENCH_PASSES") ? atoi(getenv("OMA_BENCH_PASSES")) : 2;
    if (passes < 2) passes = 2;
    /* OMA_BENCH_HAND_OVER=1: the 3x3 float weights are handed over as a one-shot run does */
    const char *ho = getenv("OMA_BENCH_HAND_OVER");
    if (ho && *ho == '1') oma_layers_hand_over(1);
    for (int pass = 0; pass < passes; pass++) {
        oma_arena_mark mark = oma_arena_get_mark(&ar);
        t0 = now();
        double c0 = cpu_s();
        int rc = oma_unet_forward(&u, &lat, ts, &ctx, &ar, &out, err, sizeof err);
        tf = now() - t0, tc = cpu_s() - c0;
        if (rc != 0) {
            fprintf(stderr, "bench_sd: %s\n", err);
            return 1;
        }
        if (pass == 0) first = tf;
        if (pass < passes - 1) oma_arena_release(&ar, mark);
    }
    int ok = all_finite(&out);
    printf("unet_sd15 latent=%d batch=%d threads=%d blas=%s conv=%s precision=%s: load %.1f s, first forward %.2f s, "
           "forward %.2f s (cpu %.1f s), finite=%s, arena peak %.2f GB, kept weights %.2f GB, scratch %.2f GB, peak RSS %.2f GB\n",
           latent, batch, oma_threads(), oma_blas_corename(), oma_cpu_conv_name(), oma_precision_name(), tl, first, tf, tc,
           ok ? "yes" : "NO", oma_arena_peak(&ar) / 1e9, oma_cpu_kept_bytes() / 1e9, oma_cpu_scratch_bytes() / 1e9, peak_rss_gb());
    oma_arena_destroy(&ar);
    oma_unet_free(&u);
    return ok ? 0 : 1;
}

static int bench_vae(int latent)
{
    oma_weights w = {.ctx = NULL, .read = random_weight_read, .has = random_weight_has};
    oma_vae_config c;
    sd15_vae(&c);
    oma_vae v;
    char err[512];
    if (oma_vae_load(&v, &w, "vae", &c, 0, err, sizeof err) != 0) {
        fprintf(stderr, "bench_sd: %s\n", err);
        return 1;
    }
    oma_arena ar;
    oma_arena_init(&ar, 0);
    oma_tensor lat, img;
    oma_arena_tensor(&ar, &lat, 4, (int64_t[]){1, 4, latent, latent});
    fill(&lat, 3);
    /* two decodes: the first also builds the primitives and first touches the memory; the
     * second is what each later image costs in a long-running process */
    double tf = 0, tc = 0, first = 0;
    for (int pass = 0; pass < 2; pass++) {
        oma_arena_mark mark = oma_arena_get_mark(&ar);
        double t0 = now(), c0 = cpu_s();
        int rc = oma_vae_decode(&v, &lat, &ar, &img, err, sizeof err);
        tf = now() - t0, tc = cpu_s() - c0;
        if (rc != 0) {
            fprintf(stderr, "bench_sd: %s\n", err);
            return 1;
        }
        if (pass == 0) {
            first = tf;
            oma_arena_release(&ar, mark);
        }
    }
    int ok = all_finite(&img);
    printf("vae_decode_sd15 %dx%d threads=%d conv=%s precision=%s: first decode %.2f s, decode %.2f s (cpu %.1f s), finite=%s, arena peak %.2f GB, kept weights %.2f GB, scratch %.2f GB, peak RSS %.2f GB\n",
           latent * 8, latent * 8, oma_threads(), oma_cpu_conv_name(), oma_precision_name(), first, tf, tc, ok ? "yes" : "NO", oma_arena_peak(&ar) / 1e9,
           oma_cpu_kept_bytes() / 1e9, oma_cpu_scratch_bytes() / 1e9, peak_rss_gb());
    oma_arena_destroy(&ar);
    oma_vae_free(&v);
    return ok ? 0 : 1;
}

/* The same VAE decode with the default convolutions and with im2col + OpenBLAS: how far apart
 * the outputs are, in 1/255 of the image range [-1, 1] (Winograd's rounding at full size, which
 * the tiny conformance models are too small to reach). */
static int bench_vae_check(int latent)
{
    oma_weights w = {.ctx = NULL, .read = random_weight_read, .has = random_weight_has};
    oma_vae_config c;
    sd15_vae(&c);
    oma_vae v;
    char err[512];
    if (oma_vae_load(&v, &w, "vae", &c, 0, err, sizeof err) != 0) {
        fprintf(stderr, "bench_sd: %s\n", err);
        return 1;
    }
    oma_arena ar;
    oma_arena_init(&ar, 0);
    oma_tensor lat, img[2];
    oma_arena_tensor(&ar, &lat, 4, (int64_t[]){1, 4, latent, latent});
    fill(&lat, 3);
    char def[16];
    snprintf(def, sizeof def, "%s", oma_cpu_conv_name());
    const char *impl[2] = {def, "im2col"};
    for (int i = 0; i < 2; i++)
        if (oma_cpu_conv_set(impl[i]) != 0 || oma_vae_decode(&v, &lat, &ar, &img[i], err, sizeof err) != 0) {
            fprintf(stderr, "bench_sd: %s\n", err);
            return 1;
        }
    oma_cpu_conv_set(def);
    double md = 0, sum = 0, lo = 1e9, hi = -1e9;
    int64_t n = oma_tensor_numel(&img[0]);
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)img[0].data[i] - img[1].data[i]);
        md = d > md ? d : md;
        sum += d;
        lo = fmin(lo, img[1].data[i]), hi = fmax(hi, img[1].data[i]);
    }
    printf("vae_decode_sd15 %dx%d conv=%s vs im2col: max |diff| %.3g (%.3f of 255), mean %.3g (%.4f of 255), "
           "output range [%.3g, %.3g]\n",
           latent * 8, latent * 8, def, md, md * 127.5, sum / (double)n, sum / (double)n * 127.5, lo, hi);
    oma_arena_destroy(&ar);
    oma_vae_free(&v);
    return 0;
}

static int bench_clip(void)
{
    oma_weights w = {.ctx = NULL, .read = random_weight_read, .has = random_weight_has};
    oma_clip_text_params p = {49408, 768, 3072, 12, 12, 77, 1e-5f, 1};
    oma_clip_text m;
    char err[512];
    if (oma_clip_text_load(&m, &w, "text_encoder", &p, err, sizeof err) != 0) {
        fprintf(stderr, "bench_sd: %s\n", err);
        return 1;
    }
    oma_arena ar;
    oma_arena_init(&ar, 0);
    int32_t ids[77];
    for (int i = 0; i < 77; i++) ids[i] = (i * 7919) % 49408;
    oma_tensor out;
    double t0 = now();
    int rc = oma_clip_text_forward(&m, ids, 1, 77, 0, &ar, &out, err, sizeof err);
    double tf = now() - t0;
    int ok = rc == 0 && all_finite(&out);
    printf("clip_text_vitl14 77 tokens: %.3f s, finite=%s\n", tf, ok ? "yes" : "NO");
    oma_arena_destroy(&ar);
    oma_clip_text_free(&m);
    return ok ? 0 : 1;
}

/* best of `reps` fused runs in precision `prec`; max abs difference from `ref` in *md */
static double attn_fused_best(const oma_tensor *q, const oma_tensor *k, const oma_tensor *v, int64_t heads,
                              oma_tensor *o, const oma_tensor *ref, int reps, float *md)
{
    double best = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        if (oma_op_attention(q, k, v, heads, 0.0f, 0, o) != 0) return -1;
        double t = now() - t0;
        if (r == 0 || t < best) best = t;
    }
    *md = 0;
    for (int64_t i = 0; i < oma_tensor_numel(o); i++) *md = fmaxf(*md, fabsf(o->data[i] - ref->data[i]));
    return best;
}

static int bench_attn(int64_t n)
{
    /* SD 1.5's largest: 8 heads x 40 dims over n tokens, batch 2 */
    int64_t B = 2, H = 8, D = 40, C = H * D;
    int reps = 3;
    char prec[16];
    snprintf(prec, sizeof prec, "%s", oma_precision_name());
    oma_tensor q, k, v, o, ref, s;
    oma_tensor_alloc4(&q, 3, B, n, C, 0);
    oma_tensor_alloc4(&k, 3, B, n, C, 0);
    oma_tensor_alloc4(&v, 3, B, n, C, 0);
    oma_tensor_alloc4(&o, 3, B, n, C, 0);
    oma_tensor_alloc4(&ref, 3, B, n, C, 0);
    if (oma_tensor_alloc4(&s, 2, n, n, 0, 0) != 0 || !ref.data) {
        fprintf(stderr, "bench_sd: out of memory\n");
        return 1;
    }
    fill(&q, 5), fill(&k, 6), fill(&v, 7);
    /* unfused fp32 reference: per (batch, head) S = QK^T (GEMM), softmax, O = S V (GEMM) */
    oma_precision_set("fp32");
    const oma_backend *be = oma_backend_cpu();
    float scale = 1.0f / sqrtf((float)D);
    double t0 = now();
    for (int64_t b = 0; b < B; b++)
        for (int64_t h = 0; h < H; h++) {
            const float *qb = q.data + b * n * C + h * D, *kb = k.data + b * n * C + h * D;
            const float *vb = v.data + b * n * C + h * D;
            be->gemm(0, 1, n, n, D, scale, qb, C, kb, C, 0.0f, s.data, n);
            be->softmax(s.data, n, n);
            be->gemm(0, 0, n, D, n, 1.0f, s.data, n, vb, C, 0.0f, ref.data + b * n * C + h * D, C);
        }
    double tu = now() - t0;
    double flop = 4.0 * (double)B * H * n * n * D;
    /* the fused kernel: fp32, then bf16 products (bf16 mode; AVX512_BF16 CPUs, else the fp32 kernel) */
    float md = 0, md16 = 0;
    double tf = attn_fused_best(&q, &k, &v, H, &o, &ref, reps, &md);
    if (tf < 0) return 1;
    printf("attention b2 h8 d40 n=%lld threads=%d: fused fp32 %.3f s (%.1f GFLOP/s, best of %d), "
           "gemm+softmax+gemm %.3f s (%.1f GFLOP/s), max diff %.2g\n",
           (long long)n, oma_threads(), tf, flop / tf / 1e9, reps, tu, flop / tu / 1e9, (double)md);
    int ok16 = 1;
    if (oma_precision_set("bf16") == 0) {
        double t16 = attn_fused_best(&q, &k, &v, H, &o, &ref, reps, &md16);
        if (t16 < 0) return 1;
        printf("attention b2 h8 d40 n=%lld threads=%d: fused bf16 %.3f s (%.1f GFLOP/s, best of %d, %.2fx fp32), "
               "max diff from the fp32 reference %.2g\n",
               (long long)n, oma_threads(), t16, flop / t16 / 1e9, reps, tf / t16, (double)md16);
        ok16 = md16 < 5e-2f;
    } else {
        printf("attention: bf16 mode not in this build (no oneDNN), not timed\n");
    }
    oma_precision_set(prec);
    oma_tensor_free(&q), oma_tensor_free(&k), oma_tensor_free(&v), oma_tensor_free(&o);
    oma_tensor_free(&ref), oma_tensor_free(&s);
    return md < 1e-4f && ok16 ? 0 : 1;
}

/* One convolution shape, each CPU implementation: best of `reps` runs (wall and CPU seconds). */
static int bench_conv_shape(int64_t n, int64_t c, int64_t hw, int64_t oc, int64_t k, int reps)
{
    char def[16];
    snprintf(def, sizeof def, "%s", oma_cpu_conv_name());
    int64_t pad = k / 2;
    oma_tensor x, w, b, y, ref;
    oma_tensor_alloc4(&x, 4, n, c, hw, hw);
    oma_tensor_alloc4(&w, 4, oc, c, k, k);
    oma_tensor_alloc4(&b, 1, oc, 0, 0, 0);
    oma_tensor_alloc4(&y, 4, n, oc, hw, hw);
    if (oma_tensor_alloc4(&ref, 4, n, oc, hw, hw) != 0 || !x.data || !w.data || !b.data || !y.data) {
        fprintf(stderr, "bench_sd: out of memory\n");
        return 1;
    }
    fill(&x, 11), fill(&w, 12), fill(&b, 13);
    double flop = 2.0 * (double)n * oc * c * k * k * hw * hw;
    const char *impl[3] = {"im2col", "direct", "auto"};
    double best[3] = {0, 0, 0}, bestc[3] = {0, 0, 0};
    float md[3] = {0, 0, 0}, mag = 0;
    printf("conv n%lld c%lld->%lld %lldx%lld k%lld (%.1f GFLOP):", (long long)n, (long long)c, (long long)oc,
           (long long)hw, (long long)hw, (long long)k, flop / 1e9);
    for (int i = 0; i < 3; i++) {
        if (oma_cpu_conv_set(impl[i]) != 0) continue;
        for (int r = 0; r < reps; r++) {
            double t0 = now(), c0 = cpu_s();
            if (oma_op_conv2d(&x, &w, &b, 1, (int)pad, i ? &y : &ref) != 0) return 1;
            double t = now() - t0, tc = cpu_s() - c0;
            if (r == 0 || t < best[i]) best[i] = t;
            if (r == 0 || tc < bestc[i]) bestc[i] = tc;
        }
        for (int64_t j = 0; i && j < oma_tensor_numel(&y); j++) md[i] = fmaxf(md[i], fabsf(y.data[j] - ref.data[j]));
        printf(" %s %.3f s (cpu %.3f s)%s", impl[i], best[i], bestc[i], i < 2 ? " |" : "");
    }
    for (int64_t j = 0; j < oma_tensor_numel(&ref); j++) mag = fmaxf(mag, fabsf(ref.data[j]));
    printf("; cpu ratio vs im2col: direct %.2f, auto %.2f; max |diff| vs im2col: direct %.2g, auto %.2g (max |y| %.3g)\n",
           bestc[0] > 0 ? bestc[1] / bestc[0] : 0.0, bestc[0] > 0 ? bestc[2] / bestc[0] : 0.0, (double)md[1],
           (double)md[2], (double)mag);
    oma_tensor_free(&x), oma_tensor_free(&w), oma_tensor_free(&b), oma_tensor_free(&y);
    oma_tensor_free(&ref);
    oma_cpu_conv_set(def);
    return 0;
}

/* The convolution shapes that dominate SD 1.5 (UNet batch 2 at latent 64, VAE decode 512x512):
 * im2col + OpenBLAS, oneDNN direct, and the backend's default ("auto": Winograd where it wins). */
static int bench_conv(int reps)
{
    static const int64_t shapes[][5] = {
        {2, 320, 64, 320, 3},  {2, 640, 32, 640, 3},   {2, 1280, 16, 1280, 3}, {2, 1280, 8, 1280, 3},
        {2, 2560, 16, 1280, 3}, {2, 960, 64, 320, 3},  {2, 320, 64, 320, 1},   {1, 512, 64, 512, 3},
        {1, 512, 128, 512, 3},  {1, 256, 256, 256, 3}, {1, 128, 512, 128, 3},  {1, 256, 512, 128, 3},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        if (bench_conv_shape(shapes[i][0], shapes[i][1], shapes[i][2], shapes[i][3], shapes[i][4], reps))
            return 1;
    return 0;
}

/* The opt-in bf16 mode against fp32 on SD 1.5's big products (linear layers as x W^T, 1x1
 * convolutions as W X) and 3x3 convolutions: best of `reps` (wall and CPU seconds). */
static double best_of(int reps, int what, const int64_t *s, oma_tensor *t, double *bestc)
{
    double best = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = now(), c0 = cpu_s();
        if (what == 0)
            oma_backend_cpu()->gemm(0, (int)s[3], s[0], s[1], s[2], 1.0f, t[0].data, s[2], t[1].data,
                                    s[3] ? s[2] : s[1], 0.0f, t[2].data, s[1]);
        else if (oma_op_conv2d(&t[0], &t[1], &t[3], 1, 1, &t[2]) != 0)
            return -1;
        double dt = now() - t0, dc = cpu_s() - c0;
        if (r == 0 || dt < best) best = dt;
        if (r == 0 || dc < *bestc) *bestc = dc;
    }
    return best;
}

static int bench_bf16(int reps)
{
    if (oma_precision_set("bf16") != 0) {
        printf("bf16: not available in this build (no oneDNN)\n");
        return 0;
    }
    oma_precision_set("fp32");
    /* gemm: M, N, K, tb (1: linear x W^T) | conv: N, C, HW, OC */
    static const int64_t gemms[][4] = {{8192, 320, 320, 1}, {8192, 2560, 320, 1}, {8192, 320, 1280, 1},
                                       {2048, 5120, 640, 1}, {512, 1280, 1280, 1}, {320, 4096, 320, 0}};
    static const int64_t convs[][4] = {{2, 320, 64, 320}, {2, 640, 32, 640}, {2, 1280, 16, 1280}, {2, 1280, 8, 1280}};
    for (int what = 0; what < 2; what++)
        for (int i = 0; i < (what ? 4 : 6); i++) {
            const int64_t *s = what ? convs[i] : gemms[i];
            oma_tensor t[4];
            memset(t, 0, sizeof t);
            double flop;
            if (what == 0) {
                oma_tensor_alloc4(&t[0], 2, s[0], s[2], 0, 0);
                oma_tensor_alloc4(&t[1], 2, s[3] ? s[1] : s[2], s[3] ? s[2] : s[1], 0, 0);
                oma_tensor_alloc4(&t[2], 2, s[0], s[1], 0, 0);
                oma_tensor_alloc4(&t[3], 1, 1, 0, 0, 0);
                flop = 2.0 * s[0] * s[1] * s[2];
            } else {
                oma_tensor_alloc4(&t[0], 4, s[0], s[1], s[2], s[2]);
                oma_tensor_alloc4(&t[1], 4, s[3], s[1], 3, 3);
                oma_tensor_alloc4(&t[2], 4, s[0], s[3], s[2], s[2]);
                oma_tensor_alloc4(&t[3], 1, s[3], 0, 0, 0);
                flop = 2.0 * s[0] * s[3] * s[1] * 9 * s[2] * s[2];
            }
            if (!t[0].data || !t[1].data || !t[2].data || !t[3].data) {
                fprintf(stderr, "bench_sd: out of memory\n");
                return 1;
            }
            fill(&t[0], 21), fill(&t[1], 22), fill(&t[3], 23);
            double c32 = 0, c16 = 0;
            oma_precision_set("fp32");
            double w32 = best_of(reps, what, s, t, &c32);
            oma_precision_set("bf16");
            double w16 = best_of(reps, what, s, t, &c16);
            oma_precision_set("fp32");
            if (w32 < 0 || w16 < 0) return 1;
            if (what == 0)
                printf("gemm %lldx%lldx%lld%s (%.1f GFLOP):", (long long)s[0], (long long)s[1], (long long)s[2],
                       s[3] ? " x.W^T" : " W.X", flop / 1e9);
            else
                printf("conv3x3 n%lld c%lld->%lld %lldx%lld (%.1f GFLOP):", (long long)s[0], (long long)s[1],
                       (long long)s[3], (long long)s[2], (long long)s[2], flop / 1e9);
            printf(" fp32 %.3f s (cpu %.3f, %.0f GFLOP/s) | bf16 %.3f s (cpu %.3f, %.0f GFLOP/s); cpu ratio %.2f\n", w32,
                   c32, flop / w32 / 1e9, w16, c16, flop / w16 / 1e9, c32 > 0 ? c16 / c32 : 0.0);
            for (int j = 0; j < 4; j++) oma_tensor_free(&t[j]);
        }
    return 0;
}

int main(int argc, char **argv)
{
    oma_blas_fix_coretype();
    oma_blas_init();
    const char *what = argc > 1 ? argv[1] : "unet";
    int a = argc > 2 ? atoi(argv[2]) : 0, b = argc > 3 ? atoi(argv[3]) : 0;
    if (!strcmp(what, "unet")) return bench_unet(a > 0 ? a : 64, b > 0 ? b : 2);
    if (!strcmp(what, "vae")) return bench_vae(a > 0 ? a : 64);
    if (!strcmp(what, "clip")) return bench_clip();
    if (!strcmp(what, "attn")) return bench_attn(a > 0 ? a : 4096);
    if (!strcmp(what, "conv")) return bench_conv(a > 0 ? a : 3);
    if (!strcmp(what, "vae-check")) return bench_vae_check(a > 0 ? a : 64);
    if (!strcmp(what, "bf16")) return bench_bf16(a > 0 ? a : 3);
    fprintf(stderr, "usage: bench_sd unet|vae|vae-check|clip|attn|conv|bf16 [size|reps] [batch]\n");
    return 2;
}
