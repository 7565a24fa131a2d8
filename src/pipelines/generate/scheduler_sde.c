/* scheduler_sde.c — "DPM++ SDE Karras": diffusers v0.27.2's DPMSolverSDEScheduler with
 * use_karras_sigmas, step for step.
 *
 * Schedule (numpy, double): Karras sigmas between the schedule's ends, their fractional
 * timesteps (_sigma_to_t, not rounded), and between each pair the timestep of the midpoint in
 * log sigma; the model is evaluated at t0, m0, t1, m1, ..., t_{N-1} (2N - 1 evaluations) on the
 * float32 sigma list [s0, s1, s1, ..., s_{N-1}, s_{N-1}, 0]. A step from sigma to sigma_next
 * (t = -log sigma) first goes to the midpoint (first order: x0 from the model at sigma), then
 * from the saved sample all the way with x0 from the model at the midpoint (second order); both
 * are ancestral DPM-Solver++ steps whose fresh noise is the Brownian increment between the two
 * sigmas, W / sqrt|dsigma|, from a torchsde Brownian tree on [sigma_min, sigma_max]
 * (brownian_tree.c). The last step (to sigma 0) is an Euler step. The scalar maths is torch's
 * float32 on 0-dim tensors, log/exp as torch computes them (torch_mathf.c), because the sigmas
 * the tree is queried at are rounded to 6 decimals: one bit off can move a query point.
 *
 * The tree's seed: diffusers takes noise_sampler_seed from the config, or (None) a draw from
 * torch's global RNG; we seed each batch item's tree with that item's generator seed, as
 * diffusers does with noise_sampler_seed = [seed of image 0, seed of image 1, ...]. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/generate/brownian_tree.h"
#include "pipelines/generate/scheduler_internal.h"
#include "pipelines/generate/torch_mathf.h"

int sched_init_sde(oma_scheduler *s, const char *spacing, int offset, double *tmp, char *err, size_t errlen)
{
    int T = s->train_steps, N = s->steps;
    if (N < 1 || T < 1) {
        snprintf(err, errlen, "scheduler: %d steps of %d is not a schedule", N, T);
        return -1;
    }
    int cnt = sched_spacing(spacing, T, N, offset, 1, tmp);
    if (cnt < 1) {
        snprintf(err, errlen, "scheduler: timestep spacing '%s' not supported", spacing);
        return -1;
    }
    /* np.interp of the float32 training sigmas at the first and last timestep */
    double smax = sched_interp_sigma(s, tmp[0]), smin = sched_interp_sigma(s, tmp[cnt - 1]);
    double *log_sigmas = malloc(sizeof(double) * (size_t)T);
    double *ks = malloc(sizeof(double) * (size_t)N);
    if (!log_sigmas || !ks) {
        free(log_sigmas);
        free(ks);
        snprintf(err, errlen, "scheduler: out of memory");
        return -1;
    }
    /* np.log of the float32 sigmas (a float32 result) */
    for (int i = 0; i < T; i++) log_sigmas[i] = (double)(float)log(sched_sigma_of(s, i));
    double rho = 7.0, min_inv = pow(smin, 1.0 / rho), max_inv = pow(smax, 1.0 / rho);
    double step = N > 1 ? 1.0 / (double)(N - 1) : 0.0;     /* np.linspace(0, 1, N) */
    for (int i = 0; i < N; i++) {
        double ramp = (N > 1 && i == N - 1) ? 1.0 : (double)i * step;
        ks[i] = pow(max_inv + ramp * (min_inv - max_inv), rho);
    }
    /* timesteps: t_i at even positions, the log-sigma midpoints' at odd ones */
    s->n = 2 * N - 1;
    for (int i = 0; i < N; i++) s->tsf[2 * i] = (float)sched_sigma_to_t(log_sigmas, T, ks[i]);
    for (int i = 0; i + 1 < N; i++) {
        double t = -log(ks[i]), tn = -log(ks[i + 1]);
        double tp = t + (tn - t) * 0.5;
        s->tsf[2 * i + 1] = (float)sched_sigma_to_t(log_sigmas, T, exp(-tp));
    }
    free(log_sigmas);
    /* float32 sigmas, interleaved */
    s->sigmas[0] = (double)(float)ks[0];
    for (int j = 1; j <= 2 * N - 2; j++) s->sigmas[j] = (double)(float)ks[(j + 1) / 2];
    s->sigmas[2 * N - 1] = 0.0;
    for (int j = 0; j <= 2 * N - 1; j++) s->sigmas_interp[j] = s->sigmas[j];
    free(ks);
    s->order = 2;
    return 0;
}

void sched_free_sde(oma_scheduler *s)
{
    for (int b = 0; b < s->ntrees; b++) oma_brownian_tree_free(s->trees[b]);
    free(s->trees);
    s->trees = NULL;
    s->ntrees = 0;
    s->tree_n = 0;
}

/* the trees on [min sigma > 0, max sigma], one per batch item, seeded with its generator seed */
static int make_trees(oma_scheduler *s, int batch, size_t per, const oma_rng *rngs)
{
    if (s->trees && s->ntrees == batch && s->tree_n == per) return 0;
    sched_free_sde(s);
    float lo = 0, hi = 0;
    for (int j = 0; j <= s->n; j++) {
        float v = (float)s->sigmas[j];
        if (v > 0 && (lo == 0 || v < lo)) lo = v;
        if (v > hi) hi = v;
    }
    if (!(lo > 0) || !(lo < hi)) return -1;
    s->trees = calloc((size_t)batch, sizeof *s->trees);
    if (!s->trees) return -1;
    s->ntrees = batch;
    s->tree_n = per;
    char err[128];
    for (int b = 0; b < batch; b++) {
        s->trees[b] = oma_brownian_tree_new((double)lo, (double)hi, rngs[b].seed, per, err, sizeof err);
        if (!s->trees[b]) {
            sched_free_sde(s);
            return -1;
        }
    }
    return 0;
}

static float t_of(float sigma) { return -oma_torch_logf(sigma); }
static float sigma_of(float t) { return oma_torch_expf(-t); }

int sched_step_sde(oma_scheduler *s, int i, const float *m, float *x, int batch, size_t per, oma_rng *rngs)
{
    size_t n = (size_t)batch * per;
    if (!rngs || sched_buffers(s, n, 2) != 0 || make_trees(s, batch, per, rngs) != 0) return -1;
    int first = !s->this_order;
    if (!first && i < 1) return -1;
    float sigma = (float)s->sigmas[first ? i : i - 1];
    float sigma_next = (float)s->sigmas[first ? i + 1 : i];
    float t = t_of(sigma), t_next = t_of(sigma_next);
    float t_prop = t + (t_next - t) * 0.5f;
    float si = first ? sigma : sigma_of(t_prop);
    float si_v = -si / sqrtf(si * si + 1.0f), si_d = si * si + 1.0f;
    float *x0 = s->buf[1];      /* n floats */
    for (size_t k = 0; k < n; k++)
        x0[k] = s->pred == OMA_PRED_V ? m[k] * si_v + x[k] / si_d : x[k] - si * m[k];
    if (sigma_next == 0.0f) {
        float dt = sigma_next - sigma;
        for (size_t k = 0; k < n; k++) {
            float d = (x[k] - x0[k]) / sigma;
            x[k] = x[k] + d * dt;
        }
        return 0;
    }
    if (first) t_next = t_prop;
    const float *sample = first ? x : s->buf[0];
    float s_from = sigma_of(t), s_to = sigma_of(t_next);
    float up = sqrtf(s_to * s_to * (s_from * s_from - s_to * s_to) / (s_from * s_from));
    if (!(up < s_to)) up = s_to;           /* min(sigma_to, up): the first unless up is smaller */
    float down = sqrtf(s_to * s_to - up * up);
    float anc = t_of(down);
    float ratio = sigma_of(anc) / sigma_of(t);
    float em1 = expm1f(t - anc);
    float scale = sqrtf(fabsf(s_to - s_from));
    /* the Brownian increment over [s_to, s_from], negated (the query runs from s_from down) */
    float *w = malloc(sizeof(float) * per);
    if (!w) return -1;
    for (int b = 0; b < batch; b++) {
        if (oma_brownian_tree_w(s->trees[b], (double)s_to, (double)s_from, w) != 0) {
            free(w);
            return -1;
        }
        float *xb = x + (size_t)b * per;
        const float *sb = sample + (size_t)b * per, *x0b = x0 + (size_t)b * per;
        float *keep = s->buf[0] + (size_t)b * per;
        for (size_t k = 0; k < per; k++) {
            float prev = ratio * sb[k] - em1 * x0b[k];
            float noise = -w[k] / scale;
            if (first) keep[k] = xb[k];
            xb[k] = prev + (noise * 1.0f) * up;
        }
    }
    free(w);
    if (first) {
        s->sigmas_interp[i + 1] = s_to;     /* the model input scale of the next (midpoint) call */
        s->this_order = 1;
    } else {
        s->this_order = 0;
    }
    return 0;
}
