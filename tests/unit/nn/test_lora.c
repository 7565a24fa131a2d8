/* test_lora.c — the training-form LoRA adapter (nn/lora.h): a linear layer with an adapter
 * attached gives W x + b + scale * up(down(x)) (checked against a double product written out
 * here), the same as the adapter merged into W; a fresh adapter (up = 0) changes nothing; the
 * initial down weights have the std 1/rank lora_pti uses; bad sizes are refused. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/layers.h"
#include "nn/lora.h"
#include "tensor/threadpool.h"

#include "check.h"

/* the larger error; a NaN counts as infinite (fmax would drop it) */
static double worse(double e, double d) { return d <= e ? e : isnan(d) ? INFINITY : d; }

static uint64_t rs = 88172645463325252ull;
static float urand(void)
{
    rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
    return (float)((rs >> 40) * (1.0 / 16777216.0)) - 0.5f;
}

/* Box-Muller over the same generator */
static float randn(void *ctx)
{
    (void)ctx;
    double u1 = (double)urand() + 0.5, u2 = (double)urand() + 0.5;
    if (u1 < 1e-12) u1 = 1e-12;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static void fill(oma_tensor *t, float s)
{
    for (int64_t i = 0; i < oma_tensor_numel(t); i++) t->data[i] = s * urand();
}

int main(void)
{
    const int64_t in = 24, out = 20, rank = 4, rows = 7;
    oma_linear l;
    memset(&l, 0, sizeof l);
    l.in = in;
    l.out = out;
    CHECK(oma_tensor_alloc4(&l.w, 2, out, in, 0, 0) == 0);
    CHECK(oma_tensor_alloc4(&l.b, 1, out, 0, 0, 0) == 0);
    fill(&l.w, 0.5f);
    fill(&l.b, 0.5f);
    oma_lora lo;
    CHECK(oma_lora_init(&lo, in, out, rank, 0.75f, randn, NULL) == 0);
    /* std of down ~ 1/rank */
    double ss = 0.0;
    for (int64_t i = 0; i < rank * in; i++) ss += (double)lo.down.data[i] * lo.down.data[i];
    double sd = sqrt(ss / (double)(rank * in));
    CHECK(sd > 0.6 / rank && sd < 1.4 / rank);
    for (int64_t i = 0; i < out * rank; i++) CHECK(lo.up.data[i] == 0.0f);

    oma_tensor x;
    CHECK(oma_tensor_alloc4(&x, 2, rows, in, 0, 0) == 0);
    fill(&x, 2.0f);
    oma_arena ar;
    oma_arena_init(&ar, 1 << 20);
    oma_tensor y0, y1, y2;
    CHECK(oma_linear_forward(&l, &x, &ar, &y0) == 0);
    l.lora = &lo;
    CHECK(oma_linear_forward(&l, &x, &ar, &y1) == 0);
    CHECK(memcmp(y0.data, y1.data, sizeof(float) * (size_t)(rows * out)) == 0);   /* up = 0 */

    fill(&lo.up, 1.0f);
    CHECK(oma_linear_forward(&l, &x, &ar, &y1) == 0);
    double err = 0.0, mag = 0.0;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < out; o++) {
            double ref = l.b.data[o];
            for (int64_t i = 0; i < in; i++) ref += (double)l.w.data[o * in + i] * x.data[r * in + i];
            for (int64_t k = 0; k < rank; k++) {
                double h = 0.0;
                for (int64_t i = 0; i < in; i++) h += (double)lo.down.data[k * in + i] * x.data[r * in + i];
                ref += 0.75 * lo.up.data[o * rank + k] * h;
            }
            err = worse(err, fabs(ref - y1.data[r * out + o]));
            mag = fmax(mag, fabs(ref));
        }
    CHECK(err <= 1e-5 * mag);
    /* merged instead of attached: the same */
    l.lora = NULL;
    CHECK(oma_linear_merge_lora(&l, &lo.up, &lo.down, lo.scale) == 0);
    CHECK(oma_linear_forward(&l, &x, &ar, &y2) == 0);
    for (int64_t i = 0; i < rows * out; i++) CHECK(fabsf(y1.data[i] - y2.data[i]) <= 1e-5f * (float)mag);
    /* zero_grad, bad sizes */
    lo.g_down.data[3] = 1.0f;
    lo.g_up.data[5] = 1.0f;
    oma_lora_zero_grad(&lo);
    CHECK(lo.g_down.data[3] == 0.0f && lo.g_up.data[5] == 0.0f);
    oma_lora bad;
    CHECK(oma_lora_init(&bad, in, out, 0, 1.0f, NULL, NULL) != 0);
    CHECK(oma_lora_init(&bad, in, out, in + 1, 1.0f, NULL, NULL) != 0);
    CHECK(oma_lora_init(&bad, -1, out, 2, 1.0f, NULL, NULL) != 0);
    oma_tensor xb;
    CHECK(oma_tensor_alloc4(&xb, 2, rows, in + 1, 0, 0) == 0);
    CHECK(oma_lora_forward_add(&lo, &xb, &y1) != 0);
    oma_tensor_free(&xb);

    oma_arena_destroy(&ar);
    oma_tensor_free(&x);
    oma_lora_free(&lo);
    oma_linear_free(&l);
    oma_threads_shutdown();
    if (failures) fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
