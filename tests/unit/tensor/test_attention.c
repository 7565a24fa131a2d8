/* test_attention.c — the fused CPU attention (backend->attention) against a naive
 * double-precision reference, on the shapes SD 1.5 and CLIP use and on awkward ones: head dims
 * 40/64/80/160 and odd ones (8, 33), cross-attention with 77 keys, causal masks, token counts
 * 1/17/100/300 (tails of every query and key block), batch and heads > 1, and non-contiguous
 * rows (ldq/ldk/ldv/ldo larger than heads * head_dim; the gaps in the output must stay untouched).
 *
 * Tolerances (max abs error; values in [-1, 1], so outputs are too):
 *   fp32 (every kernel this CPU runs: the best, OMA_ATTN_KERNEL=avx2 and =generic): 1e-5;
 *   bf16 (precision mode bf16 on a CPU with AVX512_BF16; skipped with a line otherwise):
 *   5e-3 * amp (q and k in [-amp, amp]): a few of bf16's 2^-9 relative rounding steps on
 *   unit-scale data, 2e-2 for the largest logits here; and the output must differ from the fp32
 *   one by more than 1e-5 (the bf16 products really ran).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/backend.h"

#include "check.h"

#define SENTINEL 12345.0f

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static float frand(void) /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

typedef struct {
    int64_t batch, heads, nq, nk, d;
    int causal;
    float amp;      /* q and k scale: larger logits, so the online max must rescale */
    int64_t gap;    /* extra floats at the end of every row of q, k, v, out */
} attn_case;

typedef struct {
    oma_attn_args a;
    float *q, *k, *v, *out;
    double *want;
} attn_data;

static float *filled(int64_t n, float amp)
{
    float *p = malloc(sizeof(float) * (size_t)n);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (int64_t i = 0; i < n; i++) p[i] = frand() * amp;
    return p;
}

static void setup(const attn_case *c, attn_data *x)
{
    int64_t ch = c->heads * c->d, ld = ch + c->gap;
    x->q = filled(c->batch * c->nq * ld, c->amp);
    x->k = filled(c->batch * c->nk * ld, c->amp);
    x->v = filled(c->batch * c->nk * ld, 1.0f);
    x->out = filled(c->batch * c->nq * ld, 0.0f);
    x->want = malloc(sizeof(double) * (size_t)(c->batch * c->nq * ch));
    double *s = malloc(sizeof(double) * (size_t)c->nk);
    if (!x->want || !s) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    oma_attn_args a = {x->q, x->k, x->v, x->out, c->batch, c->heads, c->nq, c->nk, c->d,
                       ld, ld, ld, ld, (float)(1.0 / sqrt((double)c->d)), c->causal};
    x->a = a;
    for (int64_t b = 0; b < c->batch; b++)
        for (int64_t h = 0; h < c->heads; h++)
            for (int64_t i = 0; i < c->nq; i++) {
                const float *qi = x->q + (b * c->nq + i) * ld + h * c->d;
                double m = -INFINITY, sum = 0;
                for (int64_t j = 0; j < c->nk; j++) {
                    const float *kj = x->k + (b * c->nk + j) * ld + h * c->d;
                    double acc = 0;
                    for (int64_t e = 0; e < c->d; e++) acc += (double)qi[e] * kj[e];
                    s[j] = (c->causal && j > i) ? -INFINITY : acc * a.scale;
                    if (s[j] > m) m = s[j];
                }
                for (int64_t j = 0; j < c->nk; j++) {
                    s[j] = exp(s[j] - m);
                    sum += s[j];
                }
                for (int64_t e = 0; e < c->d; e++) {
                    double acc = 0;
                    for (int64_t j = 0; j < c->nk; j++) acc += s[j] * x->v[(b * c->nk + j) * ld + h * c->d + e];
                    x->want[(b * c->nq + i) * ch + h * c->d + e] = acc / sum;
                }
            }
    free(s);
}

static void teardown(attn_data *x)
{
    free(x->q), free(x->k), free(x->v), free(x->out), free(x->want);
}

/* Runs the attention into a sentinel-filled output; returns the max abs error against the
 * reference (INFINITY on failure, a NaN, or a touched gap). */
static double run(const attn_case *c, attn_data *x)
{
    int64_t ch = c->heads * c->d, ld = ch + c->gap, rows = c->batch * c->nq;
    for (int64_t i = 0; i < rows * ld; i++) x->out[i] = SENTINEL;
    if (oma_backend_cpu()->attention(&x->a) != 0) return INFINITY;
    double err = 0;
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t e = 0; e < ch; e++) {
            double d = fabs((double)x->out[r * ld + e] - x->want[r * ch + e]);
            if (!(d <= err)) err = isnan(d) ? INFINITY : d;
        }
        for (int64_t e = ch; e < ld; e++)
            if (x->out[r * ld + e] != SENTINEL) err = INFINITY;
    }
    return err;
}

static const attn_case cases[] = {
    {1, 1, 1, 1, 40, 0, 1, 0},
    {1, 1, 1, 77, 160, 0, 1, 0},
    {2, 8, 100, 100, 40, 0, 1, 0},       /* SD self-attention, odd token count */
    {2, 2, 17, 77, 80, 0, 1, 5},         /* cross-attention, strided rows */
    {1, 2, 100, 77, 160, 0, 1, 3},
    {2, 2, 77, 77, 64, 1, 1, 0},         /* CLIP text: causal */
    {1, 3, 300, 300, 40, 1, 2, 7},       /* causal over several key blocks, strided */
    {1, 1, 17, 17, 64, 1, 1, 0},
    {2, 1, 130, 200, 40, 0, 4, 0},       /* large logits */
    {1, 2, 33, 250, 33, 0, 3, 1},        /* odd head dim */
    {1, 2, 40, 40, 8, 1, 1, 0},
    {1, 1, 5, 3, 1, 0, 1, 2},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

static void describe(const attn_case *c, char *buf, size_t n)
{
    snprintf(buf, n, "b%lld h%lld nq%lld nk%lld d%lld causal%d amp%g gap%lld", (long long)c->batch,
             (long long)c->heads, (long long)c->nq, (long long)c->nk, (long long)c->d, c->causal,
             (double)c->amp, (long long)c->gap);
}

static void test_fp32(const char *kernel)
{
    if (kernel) setenv("OMA_ATTN_KERNEL", kernel, 1);
    else unsetenv("OMA_ATTN_KERNEL");
    double worst = 0;
    for (int i = 0; i < NCASES; i++) {
        attn_data x;
        setup(&cases[i], &x);
        double err = run(&cases[i], &x);
        if (!(err <= 1e-5)) {
            char what[128];
            describe(&cases[i], what, sizeof what);
            fprintf(stderr, "fp32 %s: %s: max abs err %g > 1e-5\n", kernel ? kernel : "best", what, err);
        }
        CHECK(err <= 1e-5);
        if (err > worst) worst = err;
        teardown(&x);
    }
    printf("  fp32 kernel %s: max abs err %.3g (tolerance 1e-5)\n", kernel ? kernel : "best", worst);
    unsetenv("OMA_ATTN_KERNEL");
}

static int cpu_has_bf16(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

static void test_bf16(void)
{
    if (!cpu_has_bf16()) {
        printf("  bf16 attention: this CPU has no AVX512_BF16, skipped\n");
        return;
    }
    if (oma_precision_set("bf16") != 0) {
        printf("  bf16 attention: bf16 mode not in this build (no oneDNN), skipped\n");
        return;
    }
    double worst = 0, least_diff = INFINITY;
    for (int i = 0; i < NCASES; i++) {
        const attn_case *c = &cases[i];
        attn_data x;
        setup(c, &x);
        CHECK(oma_precision_set("fp32") == 0);
        double err32 = run(c, &x);
        int64_t ch = c->heads * c->d, ld = ch + c->gap, rows = c->batch * c->nq;
        float *o32 = malloc(sizeof(float) * (size_t)(rows * ld));
        CHECK(o32 != NULL);
        if (!o32) exit(1);
        memcpy(o32, x.out, sizeof(float) * (size_t)(rows * ld));
        CHECK(oma_precision_set("bf16") == 0);
        double err = run(c, &x);
        double diff = 0;
        for (int64_t j = 0; j < rows * ld; j++) diff = fmax(diff, fabs((double)x.out[j] - o32[j]));
        char what[128];
        describe(c, what, sizeof what);
        double tol = 5e-3 * c->amp;
        printf("    bf16 %s: max abs err %.3g (tolerance %.3g), differs from fp32 by %.3g (must be > 1e-5)\n", what,
               err, tol, diff);
        CHECK(err32 <= 1e-5);
        CHECK(err <= tol);
        CHECK(diff > 1e-5);
        if (err > worst) worst = err;
        if (diff < least_diff) least_diff = diff;
        free(o32);
        teardown(&x);
    }
    CHECK(oma_precision_set("fp32") == 0);
    printf("  bf16 attention: max abs err %.3g, least max difference from fp32 %.3g\n", worst,
           least_diff);
}

int main(void)
{
    setenv("OMA_THREADS", "2", 1);
    test_fp32(NULL);
    test_fp32("avx2");
    test_fp32("generic");
    test_bf16();
    if (failures) {
        fprintf(stderr, "test_attention: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_attention: ok\n");
    return 0;
}
