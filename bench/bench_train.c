/* bench_train.c — backward vs forward of SD 1.5's UNet pieces at training shapes (batch 1,
 * 512x512 images = 64x64 latents, context 77x768), random weights, LoRA rank 16 on the
 * attention q/k/v/out and ff.net.0.proj linears (the style recipe's stage 2).
 *
 *   bench_train [latent=64] [reps=2] [only]
 *
 * `only`: run just the pieces whose name contains it (for profiling).
 * For each piece: the best wall time of `reps` forwards and of `reps` backwards (a backward
 * recomputes its own forward: per-block gradient checkpointing), and their ratio; the same for
 * CPU seconds (steadier than wall time on a shared machine). Pieces: the
 * fused attention kernel (4096 tokens, 8 heads of 40), a 3x3 320->320 convolution, group
 * norm + SiLU, ResnetBlock2D 320, Transformer2DModel 320 (1 block, 8 heads), Downsample2D and
 * Upsample2D 320. Threads: OMA_THREADS. Only ratios within one run mean anything.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_common.h"
#include "nn/attention.h"
#include "nn/backward.h"
#include "nn/blocks.h"
#include "tensor/cpu/blas.h"
#include "tensor/ops.h"
#include "tensor/ops_backward.h"
#include "tensor/threadpool.h"

static double cpu_best[2];   /* CPU seconds of the forward's and the backward's best-CPU pass */

static uint64_t rng = 0x1234567ull;
static float randn(void *ctx)
{
    (void)ctx;
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    double u1 = ((rng >> 11) + 1.0) / 9007199254740993.0;
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    double u2 = (rng >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static const char *only;
static const char *piece = "";
static int wanted(const char *what) { return !only || strstr(what, only) != NULL; }

static void report(const char *what, double f, double b)
{
    if (!wanted(what)) return;
    printf("%-34s forward %7.3f s  backward %7.3f s  ratio %5.2f | CPU %7.3f / %7.3f s  ratio %5.2f\n",
           what, f, b, b / f, cpu_best[0], cpu_best[1], cpu_best[1] / cpu_best[0]);
    fflush(stdout);
}

#define BEST(var, reps, stmt)                                  \
    do {                                                       \
        var = 1e30;                                            \
        double *cb_ = &cpu_best[&var == &tb];                  \
        *cb_ = 1e30;                                           \
        if (!wanted(piece)) break;                             \
        for (int r_ = 0; r_ < (reps); r_++) {                  \
            oma_arena_mark m_ = oma_arena_get_mark(&ar);       \
            double c0_ = cpu_s(), t0_ = now();                 \
            if ((stmt) != 0) {                                 \
                fprintf(stderr, "bench_train: %s failed\n", #stmt); \
                return 1;                                      \
            }                                                  \
            double t_ = now() - t0_, c_ = cpu_s() - c0_;       \
            oma_arena_release(&ar, m_);                        \
            if (t_ < var) var = t_;                            \
            if (c_ < *cb_) *cb_ = c_;                          \
        }                                                      \
    } while (0)

static void attach_lora(oma_linear *l, oma_lora *lo)
{
    if (oma_lora_init(lo, l->in, l->out, 16, 1.0f, randn, NULL) == 0) {
        fill(&lo->up, 77);      /* non-zero, so the low-rank path does real work */
        l->lora = lo;
    }
}

int main(int argc, char **argv)
{
    oma_blas_fix_coretype();    /* OpenBLAS's own core type, passive OpenMP waits (blas.h) */
    int64_t L = argc > 1 ? atoll(argv[1]) : 64;
    int reps = argc > 2 ? atoi(argv[2]) : 2;
    only = argc > 3 ? argv[3] : NULL;
    if (L < 8 || L > 256 || reps < 1) {
        fprintf(stderr, "usage: bench_train [latent=64] [reps=2]\n");
        return 2;
    }
    oma_weights w = {NULL, random_weight_read, random_weight_has, NULL, 0};
    char err[256];
    oma_arena ar;
    oma_arena_init(&ar, 0);
    const int64_t C = 320, N = L * L;
    double tf, tb;
    printf("== training backward vs forward, latent %lldx%lld, batch 1, %d threads\n",
           (long long)L, (long long)L, oma_threads());

    /* the attention kernel */
    {
        oma_tensor q, k, v, o, g, dq, dk, dv;
        int64_t s[3] = {1, N, C};
        oma_arena_tensor(&ar, &q, 3, s), oma_arena_tensor(&ar, &k, 3, s), oma_arena_tensor(&ar, &v, 3, s);
        oma_arena_tensor(&ar, &o, 3, s), oma_arena_tensor(&ar, &g, 3, s);
        oma_arena_tensor(&ar, &dq, 3, s), oma_arena_tensor(&ar, &dk, 3, s), oma_arena_tensor(&ar, &dv, 3, s);
        fill(&q, 1), fill(&k, 2), fill(&v, 3), fill(&g, 4);
        piece = "attention kernel 8x40, self";
        BEST(tf, reps, oma_op_attention(&q, &k, &v, 8, 0.0f, 0, &o));
        BEST(tb, reps, oma_op_attention_backward(&q, &k, &v, &o, &g, 8, 0.0f, 0, &dq, &dk, &dv));
        report("attention kernel 8x40, self", tf, tb);
    }
    /* 3x3 convolution and group norm + SiLU */
    {
        oma_conv2d cv;
        oma_norm gn;
        if (oma_conv2d_load(&cv, &w, "c", C, C, 3, 1, 1, 1, err, sizeof err) != 0 ||
            oma_group_norm_load(&gn, &w, "norm", C, 32, 1e-5f, err, sizeof err) != 0) {
            fprintf(stderr, "bench_train: %s\n", err);
            return 1;
        }
        oma_tensor x, dy, y, dx;
        int64_t s[4] = {1, C, L, L};
        oma_arena_tensor(&ar, &x, 4, s), oma_arena_tensor(&ar, &dy, 4, s);
        fill(&x, 5), fill(&dy, 6);
        piece = "conv 3x3 320->320";
        BEST(tf, reps, oma_conv2d_forward(&cv, &x, &ar, &y));
        BEST(tb, reps, oma_conv2d_backward(&cv, &x, &dy, &ar, &dx));
        report("conv 3x3 320->320", tf, tb);
        piece = "group norm 32 + SiLU, 320";
        BEST(tf, reps, oma_norm_forward(&gn, &x, 1, &ar, &y));
        BEST(tb, reps, oma_norm_backward(&gn, &x, 1, &dy, &ar, &dx));
        report("group norm 32 + SiLU, 320", tf, tb);
        oma_conv2d_free(&cv);
        oma_norm_free(&gn);
    }
    /* blocks */
    {
        oma_resnet rn;
        oma_transformer2d t2;
        oma_downsample dn;
        oma_upsample up;
        if (oma_resnet_load(&rn, &w, "r", C, C, 1280, 32, 1e-5f, err, sizeof err) != 0 ||
            oma_transformer2d_load(&t2, &w, "t", C, 8, 768, 1, 0, 32, err, sizeof err) != 0 ||
            oma_downsample_load(&dn, &w, "d", C, 1, err, sizeof err) != 0 ||
            oma_upsample_load(&up, &w, "u", C, err, sizeof err) != 0) {
            fprintf(stderr, "bench_train: %s\n", err);
            return 1;
        }
        oma_lora loras[9];
        oma_transformer *b = &t2.blocks[0];
        oma_linear *ls[9] = {&b->attn1.to_q, &b->attn1.to_k, &b->attn1.to_v, &b->attn1.to_out,
                             &b->attn2.to_q, &b->attn2.to_k, &b->attn2.to_v, &b->attn2.to_out,
                             &b->ff.proj};
        for (int i = 0; i < 9; i++) attach_lora(ls[i], &loras[i]);
        oma_tensor x, dy, y, dx, temb, ctx, dctx, xh, dyh;
        int64_t s[4] = {1, C, L, L}, ts[2] = {1, 1280}, cs[3] = {1, 77, 768};
        int64_t sh[4] = {1, C, L / 2, L / 2};
        oma_arena_tensor(&ar, &x, 4, s), oma_arena_tensor(&ar, &dy, 4, s);
        oma_arena_tensor(&ar, &temb, 2, ts), oma_arena_tensor(&ar, &ctx, 3, cs);
        oma_arena_tensor(&ar, &dctx, 3, cs);
        oma_arena_tensor(&ar, &xh, 4, sh), oma_arena_tensor(&ar, &dyh, 4, sh);
        fill(&x, 7), fill(&dy, 8), fill(&temb, 9), fill(&ctx, 10), fill(&xh, 11), fill(&dyh, 12);
        piece = "ResnetBlock2D 320";
        BEST(tf, reps, oma_resnet_forward(&rn, &x, &temb, &ar, &y));
        BEST(tb, reps, oma_resnet_backward(&rn, &x, &temb, &dy, &ar, &dx));
        report("ResnetBlock2D 320", tf, tb);
        piece = "Transformer2DModel 320, LoRA r16";
        BEST(tf, reps, oma_transformer2d_forward(&t2, &x, &ctx, &ar, &y));
        BEST(tb, reps, oma_transformer2d_backward(&t2, &x, &ctx, &dy, &ar, &dx, &dctx));
        report("Transformer2DModel 320, LoRA r16", tf, tb);
        piece = "Downsample2D 320";
        BEST(tf, reps, oma_downsample_forward(&dn, &x, &ar, &y));
        BEST(tb, reps, oma_downsample_backward(&dn, &x, &dyh, &ar, &dx));
        report("Downsample2D 320", tf, tb);
        piece = "Upsample2D 320";
        BEST(tf, reps, oma_upsample_forward(&up, &xh, &ar, &y));
        BEST(tb, reps, oma_upsample_backward(&up, &xh, &dy, &ar, &dx));
        report("Upsample2D 320", tf, tb);
        for (int i = 0; i < 9; i++) {
            ls[i]->lora = NULL;
            oma_lora_free(&loras[i]);
        }
        oma_resnet_free(&rn);
        oma_transformer2d_free(&t2);
        oma_downsample_free(&dn);
        oma_upsample_free(&up);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("train_peak_rss_gb %.2f (arena peak %.2f GB)\n", (double)ru.ru_maxrss / 1048576.0,
           (double)oma_arena_peak(&ar) / 1e9);
    oma_arena_destroy(&ar);
    oma_threads_shutdown();
    return 0;
}
