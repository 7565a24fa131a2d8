/* scheduler_sigma.c — the k-diffusion-style samplers on x = x0 + sigma * noise: Euler
 * (EulerDiscreteScheduler), Euler a (EulerAncestralDiscreteScheduler), Heun
 * (HeunDiscreteScheduler), DPM2 (KDPM2DiscreteScheduler) and LMS (LMSDiscreteScheduler, order 4).
 * Heun and DPM2 alternate a first-order step and a correction on diffusers' interleaved sigma
 * lists; LMS's coefficients integrate the Lagrange basis polynomials over [sigma_i, sigma_i+1],
 * exactly here (4-point Gauss-Legendre is exact for degree <= 7; the polynomials have degree
 * <= 3) where diffusers calls scipy's quad (epsrel 1e-4, also exact to rounding for them). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/generate/scheduler_internal.h"

/* x0 from the model output at noise level sigma (float32 as diffusers) */
static inline float x0_sigma(int pred, float sigma, float cout, float cin, float xk, float mk)
{
    (void)sigma;
    if (pred == OMA_PRED_V) return mk * cout + xk / cin;
    if (pred == OMA_PRED_SAMPLE) return mk;
    return xk - sigma * mk;
}

typedef struct {
    float sigma, cout, cin;
} sig_c;

static sig_c sig_coefs(double sd)
{
    float sg = (float)sd;
    sig_c c = {sg, -sg / sqrtf(sg * sg + 1.0f), sg * sg + 1.0f};
    return c;
}

int sched_step_euler(oma_scheduler *s, int i, const float *m, float *x, size_t n)
{
    sig_c c = sig_coefs(s->sigmas[i]);
    float dt = (float)s->sigmas[i + 1] - c.sigma;
    for (size_t k = 0; k < n; k++) {
        float x0 = x0_sigma(s->pred, c.sigma, c.cout, c.cin, x[k], m[k]);
        float d = (x[k] - x0) / c.sigma;
        x[k] = x[k] + d * dt;
    }
    return 0;
}

int sched_step_euler_a(oma_scheduler *s, int i, const float *m, float *x, int batch, size_t per,
                       oma_rng *rngs)
{
    if (sched_buffers(s, per, 1) != 0) return -1;
    sig_c c = sig_coefs(s->sigmas[i]);
    float sigma = c.sigma, to = (float)s->sigmas[i + 1];
    float up = sqrtf(to * to * (sigma * sigma - to * to) / (sigma * sigma));
    float down = sqrtf(to * to - up * up);
    float dt = down - sigma;
    float *noise = s->buf[0];
    for (int b = 0; b < batch; b++) {
        float *xb = x + (size_t)b * per;
        const float *mb = m + (size_t)b * per;
        for (size_t k = 0; k < per; k++) {
            float x0 = x0_sigma(s->pred, sigma, c.cout, c.cin, xb[k], mb[k]);
            float d = (xb[k] - x0) / sigma;
            xb[k] = xb[k] + d * dt;
        }
        oma_rng_randn(&rngs[b], noise, per);
        for (size_t k = 0; k < per; k++) xb[k] += noise[k] * up;
    }
    return 0;
}

/* Heun: buf[0] = derivative of the first-order step, buf[1] = its sample; s->this_order = 1
 * while a correction is pending (diffusers: dt is not None). */
int sched_step_heun(oma_scheduler *s, int i, const float *m, float *x, size_t n)
{
    if (sched_buffers(s, n, 2) != 0) return -1;
    if (!s->this_order) {
        sig_c c = sig_coefs(s->sigmas[i]);
        float next = (float)s->sigmas[i + 1];
        float dt = next - c.sigma;
        for (size_t k = 0; k < n; k++) {
            float x0 = x0_sigma(s->pred, c.sigma, c.cout, c.cin, x[k], m[k]);
            float d = (x[k] - x0) / c.sigma;
            s->buf[0][k] = d;
            s->buf[1][k] = x[k];
            x[k] = x[k] + d * dt;
        }
        s->heun_dt = dt;
        s->this_order = 1;
    } else {
        sig_c c = sig_coefs(s->sigmas[i]);     /* sigma_next = sigmas[i] is the input sigma */
        float dt = s->heun_dt;
        for (size_t k = 0; k < n; k++) {
            float x0 = x0_sigma(s->pred, c.sigma, c.cout, c.cin, x[k], m[k]);
            float d = (x[k] - x0) / c.sigma;
            d = (s->buf[0][k] + d) / 2.0f;
            x[k] = s->buf[1][k] + d * dt;
        }
        s->this_order = 0;
    }
    return 0;
}

/* DPM2: buf[1] = the sample of the first-order half step; s->this_order = 1 while pending. */
int sched_step_dpm2(oma_scheduler *s, int i, const float *m, float *x, size_t n)
{
    if (sched_buffers(s, n, 2) != 0) return -1;
    if (!s->this_order) {
        sig_c c = sig_coefs(s->sigmas[i]);
        float si = (float)s->sigmas_interp[i + 1];
        float dt = si - c.sigma;
        for (size_t k = 0; k < n; k++) {
            float x0 = x0_sigma(s->pred, c.sigma, c.cout, c.cin, x[k], m[k]);
            float d = (x[k] - x0) / c.sigma;
            s->buf[1][k] = x[k];
            x[k] = x[k] + d * dt;
        }
        s->this_order = 1;
    } else {
        float sigma = (float)s->sigmas[i - 1], next = (float)s->sigmas[i];
        sig_c c = sig_coefs(s->sigmas_interp[i]);
        float dt = next - sigma;
        for (size_t k = 0; k < n; k++) {
            float x0 = x0_sigma(s->pred, c.sigma, c.cout, c.cin, x[k], m[k]);
            float d = (x[k] - x0) / c.sigma;
            x[k] = s->buf[1][k] + d * dt;
        }
        s->this_order = 0;
    }
    return 0;
}

/* LMS coefficient: integral over [sigmas[i], sigmas[i+1]] of the Lagrange basis polynomial of
 * node i - cur among nodes i, i-1, ..., i-order+1. */
static double lms_coef(const oma_scheduler *s, int order, int i, int cur)
{
    static const double gx[4] = {-0.8611363115940526, -0.3399810435848563, 0.3399810435848563,
                                 0.8611363115940526};
    static const double gw[4] = {0.3478548451374538, 0.6521451548625461, 0.6521451548625461,
                                 0.3478548451374538};
    double a = s->sigmas[i], b = s->sigmas[i + 1];
    double half = 0.5 * (b - a), mid = 0.5 * (a + b), sum = 0;
    for (int q = 0; q < 4; q++) {
        double tau = mid + half * gx[q], prod = 1.0;
        for (int k = 0; k < order; k++) {
            if (k == cur) continue;
            prod *= (tau - s->sigmas[i - k]) / (s->sigmas[i - cur] - s->sigmas[i - k]);
        }
        sum += gw[q] * prod;
    }
    return sum * half;
}

/* LMS: buf[0..3] = derivatives, oldest first (s->nets of them). */
int sched_step_lms(oma_scheduler *s, int i, const float *m, float *x, size_t n)
{
    if (sched_buffers(s, n, 4) != 0) return -1;
    if (s->nets == 4) {
        float *old = s->buf[0];
        memmove(&s->buf[0], &s->buf[1], 3 * sizeof(float *));
        s->buf[3] = old;
        s->nets = 3;
    }
    float *d = s->buf[s->nets++];
    sig_c c = sig_coefs(s->sigmas[i]);
    for (size_t k = 0; k < n; k++) {
        float x0 = x0_sigma(s->pred, c.sigma, c.cout, c.cin, x[k], m[k]);
        d[k] = (x[k] - x0) / c.sigma;
    }
    int order = i + 1 < 4 ? i + 1 : 4;
    int used = order < s->nets ? order : s->nets;    /* zip() stops at the shorter list */
    float co[4];
    for (int j = 0; j < used; j++) co[j] = (float)lms_coef(s, order, i, j);
    for (size_t k = 0; k < n; k++) {
        float acc = 0.0f;
        for (int j = 0; j < used; j++) acc = acc + co[j] * s->buf[s->nets - 1 - j][k];
        x[k] = x[k] + acc;
    }
    return 0;
}
