/* sd_noise_schedule.c — alphas_cumprod of an SD scheduler config, float32 as torch computes it
 * (sd_noise_schedule.h). */
#include "models/sd/sd_noise_schedule.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The config keeps betas as float; diffusers has the JSON's decimal as a double (0.012, not
 * 0.012f), which matters under the square root: the shortest decimal that reads back as f. */
static double short_double(float f)
{
    char buf[32];
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof buf, "%.*g", p, (double)f);
        double d = strtod(buf, NULL);
        if ((float)d == f) return d;
    }
    return (double)f;
}

/* diffusers' rescale_zero_terminal_snr, float32 op for op: alphas_bar_sqrt shifted so the last
 * is 0, scaled so the first is unchanged, back to betas. 0, or -1 out of memory. */
static int rescale_zero_snr(float *betas, int T)
{
    float *sq = malloc(sizeof(float) * (size_t)T);
    if (!sq) return -1;
    double dcum = 1.0;     /* torch.cumprod accumulates float32 in double */
    for (int i = 0; i < T; i++) {
        dcum *= (double)(1.0f - betas[i]);
        sq[i] = sqrtf((float)dcum);
    }
    float s0 = sq[0], sT = sq[T - 1];
    for (int i = 0; i < T; i++) sq[i] -= sT;
    float k = s0 / (s0 - sT);
    for (int i = 0; i < T; i++) sq[i] *= k;
    float prev = 0;
    for (int i = 0; i < T; i++) {
        float ab = sq[i] * sq[i];
        float al = i == 0 ? ab : ab / prev;
        prev = ab;
        betas[i] = 1.0f - al;
    }
    free(sq);
    return 0;
}

int oma_sd_alphas_cumprod(const oma_scheduler_config *c, int zero_snr, double *out, char *err,
                          size_t errlen)
{
    int T = c->num_train_timesteps;
    if (T < 2 || T > OMA_SD_MAX_TRAIN_T || !(c->beta_start > 0) ||
        !(c->beta_end > c->beta_start) || c->beta_end >= 1.0f) {
        snprintf(err, errlen, "scheduler: bad noise schedule config");
        return -1;
    }
    int scaled = strcmp(c->beta_schedule, "scaled_linear") == 0;
    if (!scaled && strcmp(c->beta_schedule, "linear") != 0) {
        snprintf(err, errlen, "scheduler: beta schedule '%s' not supported (linear, scaled_linear)",
                 c->beta_schedule);
        return -1;
    }
    float *betas = malloc(sizeof(float) * (size_t)T);
    if (!betas) {
        snprintf(err, errlen, "scheduler: out of memory");
        return -1;
    }
    /* torch 1.13's float32 linspace (its AVX2 kernel, built with FMA contraction): from both ends
     * (start + step i below T/2, end - step (T-1-i) above), in 16-wide blocks of two 8-lane
     * vectors whose lanes are base + j step from the block's first value, the tail one by one;
     * squared for scaled_linear */
    double a = scaled ? sqrt(short_double(c->beta_start)) : c->beta_start;
    double b = scaled ? sqrt(short_double(c->beta_end)) : c->beta_end;
    float fa = (float)a, fb = (float)b;
    float step = (fb - fa) / (float)(T - 1);
    int half = T / 2, nvec = T / 16 * 16;
    for (int i = 0; i < T; i++) {
        float v;
        if (i < nvec) {
            int base_i = i / 8 * 8, j = i - base_i;
            float base = base_i < half ? fmaf(step, (float)base_i, fa)
                                       : fmaf(-step, (float)(T - base_i - 1), fb);
            v = j == 0 ? base : fmaf((float)j, step, base);
        } else {
            v = i < half ? fmaf(step, (float)i, fa) : fmaf(-step, (float)(T - 1 - i), fb);
        }
        betas[i] = scaled ? v * v : v;
    }
    if (zero_snr && rescale_zero_snr(betas, T) != 0) {
        free(betas);
        snprintf(err, errlen, "scheduler: out of memory");
        return -1;
    }
    /* torch.cumprod on float32 (CPU) keeps a double accumulator and rounds each output */
    double cum = 1.0;
    for (int i = 0; i < T; i++) {
        cum *= (double)(1.0f - betas[i]);
        out[i] = (double)(float)cum;
    }
    free(betas);
    return 0;
}
