/* scheduler_schedule.c — the noise schedule and the timestep lists, as diffusers builds them:
 * alphas_cumprod from models/sd/sd_noise_schedule.c (shared with training), the three timestep
 * spacings in the variants the scheduler classes use, numpy's interp of sigmas at fractional timesteps, and
 * _sigma_to_t for Karras schedules. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/sd/sd_noise_schedule.h"
#include "pipelines/generate/scheduler_internal.h"

int sched_make_alphas(oma_scheduler *s, const oma_scheduler_config *c, int zero_snr, char *err,
                      size_t errlen)
{
    int T = c->num_train_timesteps;
    if (T < 2 || T > OMA_SD_MAX_TRAIN_T) {
        snprintf(err, errlen, "scheduler: bad noise schedule config");
        return -1;
    }
    s->alphas_cumprod = malloc(sizeof(double) * (size_t)T);
    if (!s->alphas_cumprod) {
        snprintf(err, errlen, "scheduler: out of memory");
        return -1;
    }
    if (oma_sd_alphas_cumprod(c, zero_snr, s->alphas_cumprod, err, errlen) != 0) {
        free(s->alphas_cumprod);
        s->alphas_cumprod = NULL;
        return -1;
    }
    s->train_steps = T;
    return 0;
}

double sched_sigma_of(const oma_scheduler *s, int t)
{
    float ac = (float)s->alphas_cumprod[t];
    return (double)sqrtf((1.0f - ac) / ac);
}

double sched_sigma_to_t(const double *log_sigmas, int T, double sigma)
{
    double ls = log(sigma);
    /* cumsum(dists >= 0).argmax(): the first index where the count reaches its maximum */
    int count = 0, best = 0, bestc = -1;
    for (int i = 0; i < T; i++) {
        count += (ls - log_sigmas[i] >= 0);
        if (count > bestc) {
            bestc = count;
            best = i;
        }
    }
    int low = best;
    if (low > T - 2) low = T - 2;
    int high = low + 1;
    double lo = log_sigmas[low], hi = log_sigmas[high];
    double w = (lo - ls) / (lo - hi);
    if (w < 0) w = 0;
    if (w > 1) w = 1;
    return (1 - w) * low + w * high;
}

/* mode 0: DDIM/PNDM (linspace rounded), 1: Euler family (float32 linspace), 2: DPM/UniPC
 * (n + 1 points, the last dropped). Returns the count, or -1. */
int sched_spacing(const char *spacing, int T, int steps, int offset, int mode, double *out)
{
    int n = steps;
    if (!strcmp(spacing, "linspace")) {
        int pts = mode == 2 ? n + 1 : n;
        double st = pts > 1 ? (double)(T - 1) / (double)(pts - 1) : 0;
        for (int i = 0; i < n; i++) {
            int k = pts - 1 - i;   /* descending */
            double v = k == pts - 1 && pts > 1 ? (double)(T - 1) : (double)k * st;
            out[i] = mode == 1 ? (double)(float)v : nearbyint(v);
        }
        return n;
    }
    if (!strcmp(spacing, "leading")) {
        int ratio = mode == 2 ? T / (n + 1) : T / n;
        for (int i = 0; i < n; i++) {
            int k = mode == 2 ? n - i : n - 1 - i;
            out[i] = (double)k * ratio + offset;
        }
        return n;
    }
    if (!strcmp(spacing, "trailing")) {
        double ratio = (double)T / (double)n;
        int len = (int)ceil((double)T / ratio);
        if (len > n + 1) len = n + 1;
        for (int i = 0; i < len; i++) out[i] = nearbyint((double)T + (double)i * -ratio) - 1;
        return len;
    }
    return -1;
}

double sched_interp_sigma(const oma_scheduler *s, double t)
{
    int T = s->train_steps;
    if (t <= 0) return (double)(float)sched_sigma_of(s, 0);
    if (t >= T - 1) return (double)(float)sched_sigma_of(s, T - 1);
    int j = (int)floor(t);
    double lo = sched_sigma_of(s, j);
    if (t == (double)j) return lo;
    double hi = sched_sigma_of(s, j + 1);
    double slope = hi - lo;
    return slope * (t - j) + lo;
}

int sched_buffers(oma_scheduler *s, size_t n, int k)
{
    if (s->prev_len != n) {
        for (int j = 0; j < 6; j++) {
            free(s->buf[j]);
            s->buf[j] = NULL;
        }
        s->prev_len = n;
    }
    for (int j = 0; j < k; j++) {
        if (!s->buf[j]) {
            s->buf[j] = calloc(n ? n : 1, sizeof(float));
            if (!s->buf[j]) return -1;
        }
    }
    return 0;
}
