/* bench_train_step.c — one style-training step at SD 1.5 shapes in our engine, random weights.
 *
  *   bench_train_step [latent=64]   UNet with rank-16 LoRA on every attention q/k/v/out and
 *                               ff.net.0.proj (lora_pti's targets), batch 1, context 1x77x768:
 *                               forward keeping each block's intermediates (within
 *                               OMA_TRAIN_KEEP_MB; 0 = recompute every block in the backward),
 *                               MSE on the noise, backward into the adapters and the context
 * Two steps (the first also builds oneDNN primitives; OMA_BENCH_STEPS=N: N steady ones, the
 * least wall and CPU time printed); prints the steady one, peak RSS, and the
 * projected time of the default recipe (500 + 500 micro-steps) at this latent size. The
 * PyTorch side of the same step is tools/bench_torch_train.py (bench/run.sh runs both).
 * Threads: OMA_THREADS. OMA_PERF_CTL: see perf_ctl. The weights are made up, so only speed and
 * memory mean something.
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
#include "tensor/backend.h"
#include "tensor/cpu/blas.h"
#include "tensor/threadpool.h"
#include "train/style_net.h"
#include "train/train_rng.h"
#include "train/unet_train.h"

/* uniform weights scaled by 1/sqrt(fan-in), per-name seeds (as bench_sd) */
static int rnd_read(void *ctx, const char *name, int ndim, const int64_t *shape, float *dst,
                    char *err, size_t errlen)
{
    (void)ctx, (void)err, (void)errlen;
    uint64_t s = 1469598103934665603ull;
    for (const char *p = name; *p; p++)
        s = (s ^ (unsigned char)*p) * 1099511628211ull;
    s |= 1;
    int64_t n = oma_shape_numel(ndim, shape);
    int norm_w = strstr(name, "norm") && strstr(name, ".weight");
    float amp = ndim >= 2 ? sqrtf(3.0f / (float)(n / shape[0])) : 0.05f;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        float u = (float)((s >> 40) * (1.0 / 8388608.0)) - 1.0f;
        dst[i] = norm_w ? 1.0f + 0.05f * u : amp * u;
    }
    return 0;
}

/* OMA_PERF_CTL=FIFO: perf's control fifo (perf record -D -1 --control fifo:FIFO): the steady
 * step alone is profiled, not the set-up or the first step */
static void perf_ctl(const char *cmd)
{
    const char *fifo = getenv("OMA_PERF_CTL");
    if (!cmd || !fifo || !*fifo)
        return;
    FILE *f = fopen(fifo, "w");
    if (f) {
        fputs(cmd, f);
        fclose(f);
    }
}

int main(int argc, char **argv)
{
    oma_blas_fix_coretype();    /* OpenBLAS's own core type, passive OpenMP waits (blas.h) */
    int latent = argc > 1 ? atoi(argv[1]) : 64;
    if (latent < 8 || latent > 256 || latent % 8) {
        fprintf(stderr, "usage: bench_train_step [latent=64, a multiple of 8]\n");
        return 2;
    }
    oma_weights w = {.ctx = NULL, .read = rnd_read, .has = random_weight_has};
    oma_unet_config c;
    sd15_unet(&c);
    oma_unet u;
    char err[512];
    if (oma_unet_load(&u, &w, "unet", &c, err, sizeof err) != 0) {
        fprintf(stderr, "bench_train_step: %s\n", err);
        return 1;
    }
    oma_clip_text no_text;
    memset(&no_text, 0, sizeof no_text);     /* UNet adapters only, as the PyTorch side */
    oma_style_net net;
    oma_train_rng rng;
    oma_train_rng_seed(&rng, 42);
    if (oma_style_net_plan(&net, &u, &no_text, err, sizeof err) != 0 ||
        oma_style_net_alloc(&net, 16, oma_train_rng_randn_cb, &rng, err, sizeof err) != 0) {
        fprintf(stderr, "bench_train_step: %s\n", err);
        return 1;
    }
    /* a trained-looking adapter (up != 0) so the low-rank path does real work */
    for (int i = 0; i < net.n; i++)
        for (int64_t j = 0; j < oma_tensor_numel(&net.a[i].lora.up); j++)
            net.a[i].lora.up.data[j] = (float)(oma_train_rng_normal(&rng) * 1e-3);
    oma_style_net_attach(&net);
    oma_arena ar;
    oma_arena_init(&ar, 0);
    oma_tensor noisy, ctx, target, dctx;
    int64_t ls[4] = {1, 4, latent, latent}, cs[3] = {1, 77, 768};
    if (oma_tensor_alloc(&noisy, 4, ls) || oma_tensor_alloc(&target, 4, ls) ||
        oma_tensor_alloc(&ctx, 3, cs) || oma_tensor_alloc(&dctx, 3, cs)) {
        fprintf(stderr, "bench_train_step: out of memory\n");
        return 1;
    }
    for (int64_t i = 0; i < oma_tensor_numel(&noisy); i++) {
        noisy.data[i] = (float)oma_train_rng_normal(&rng);
        target.data[i] = (float)oma_train_rng_normal(&rng);
    }
    for (int64_t i = 0; i < oma_tensor_numel(&ctx); i++)
        ctx.data[i] = (float)oma_train_rng_normal(&rng);
    float t = 500.0f, loss = 0;
    double first = 0, dt = 0, dc = 0;
    /* OMA_BENCH_STEPS steady steps (default 1, up to 20): the least wall and the least CPU time
     * of them are printed (on a loaded machine one run's figure varies by a quarter) */
    const char *se = getenv("OMA_BENCH_STEPS");
    int steady = se && atoi(se) > 0 ? atoi(se) : 1;
    if (steady > 20)
        steady = 20;
    for (int pass = 0; pass < 1 + steady; pass++) {
        oma_style_net_zero_grad(&net);
        memset(dctx.data, 0, sizeof(float) * (size_t)oma_tensor_numel(&dctx));
        perf_ctl(pass == 1 ? "enable\n" : NULL);
        double t0 = now(), c0 = cpu_s();
        if (oma_unet_train_pass(&u, &noisy, &t, &ctx, &target, 0.25f, &ar, &loss, &dctx, err,
                                sizeof err) != 0) {
            fprintf(stderr, "bench_train_step: %s\n", err);
            return 1;
        }
        double w = now() - t0, c = cpu_s() - c0;
        perf_ctl(pass == 1 ? "disable\n" : NULL);
        if (pass == 0) {
            first = w;
        } else {
            dt = pass == 1 || w < dt ? w : dt;
            dc = pass == 1 || c < dc ? c : dc;
        }
    }
    double gsq = 0;
    for (int i = 0; i < net.n; i++)
        for (int64_t j = 0; j < oma_tensor_numel(&net.a[i].lora.g_up); j++)
            gsq += (double)net.a[i].lora.g_up.data[j] * net.a[i].lora.g_up.data[j];
    int ok = isfinite(loss) && isfinite(gsq) && gsq > 0;
    double recipe = 1000 * dt;
    printf("train_step_sd15 latent=%d (%dx%d) rank=16 adapters=%d threads=%d: first step %.2f s, "
           "step %.2f s (cpu %.1f s), loss %.4f, grads finite=%s, arena peak %.2f GB, kept weights "
           "%.2f GB, peak RSS %.2f GB; default recipe (1000 micro-steps) ~%.1f h\n",
           latent, latent * 8, latent * 8, net.n, oma_threads(), first, dt, dc, loss,
           ok ? "yes" : "NO", oma_arena_peak(&ar) / 1e9, oma_cpu_kept_bytes() / 1e9, peak_rss_gb(),
           recipe / 3600.0);
    oma_arena_destroy(&ar);
    oma_tensor_free(&noisy);
    oma_tensor_free(&target);
    oma_tensor_free(&ctx);
    oma_tensor_free(&dctx);
    oma_style_net_free(&net);
    oma_unet_free(&u);
    return ok ? 0 : 1;
}
