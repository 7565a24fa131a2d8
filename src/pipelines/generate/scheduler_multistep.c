/* scheduler_multistep.c — the multistep solvers on the data prediction x0: DPM++ 2M and
 * DPM++ 2M SDE (DPMSolverMultistepScheduler, dpmsolver++ / sde-dpmsolver++, order 2, midpoint,
 * lower-order final step under 15 steps) and UniPC (UniPCMultistepScheduler, bh2, order 2,
 * predict_x0, corrector on every step but the first). Scalars follow diffusers' float32 tensors
 * (alpha_t = sqrt(a), sigma_t = sqrt(1 - a), lambda = log alpha - log sigma). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/generate/scheduler_internal.h"

typedef struct {
    float alpha, sigma, lambda;
} coef;

static coef coef_at(const oma_scheduler *s, int t)
{
    float ac = (float)s->alphas_cumprod[t];
    float a = sqrtf(ac), sg = sqrtf(1.0f - ac);
    coef c = {a, sg, logf(a) - logf(sg)};
    return c;
}

/* convert_model_output: x0 from the model output at timestep t */
static void to_x0(const oma_scheduler *s, int t, const float *m, const float *x, float *x0, size_t n)
{
    coef c = coef_at(s, t);
    for (size_t k = 0; k < n; k++) x0[k] = sched_x0_alpha(s->pred, c.alpha, c.sigma, x[k], m[k]);
}

/* buf[0] = previous x0, buf[1] = current x0, buf[2] = noise (SDE) */
int sched_step_dpmpp(oma_scheduler *s, int i, const float *m, float *x, int batch, size_t per,
                     oma_rng *rngs)
{
    size_t n = (size_t)batch * per;
    if (sched_buffers(s, n, 3) != 0) return -1;
    int sde = s->kind == OMA_SAMPLER_DPMPP_2M_SDE_KARRAS;
    int t = s->timesteps[i];
    int prev = i == s->n - 1 ? 0 : s->timesteps[i + 1];
    int lower_final = i == s->n - 1 && s->n < 15;
    float *tmp = s->buf[0];
    s->buf[0] = s->buf[1];
    s->buf[1] = tmp;
    float *m0 = s->buf[1], *m1 = s->buf[0], *noise = s->buf[2];
    to_x0(s, t, m, x, m0, n);
    if (sde)
        for (int b = 0; b < batch; b++) oma_rng_randn(&rngs[b], noise + (size_t)b * per, per);
    coef ct = coef_at(s, prev), cs = coef_at(s, t);
    float h = ct.lambda - cs.lambda;
    if (s->lower_order_nums < 1 || lower_final) {
        if (!sde) {
            float c1 = ct.sigma / cs.sigma, c2 = ct.alpha * (expf(-h) - 1.0f);
            for (size_t k = 0; k < n; k++) x[k] = c1 * x[k] - c2 * m0[k];
        } else {
            float c1 = ct.sigma / cs.sigma * expf(-h), c2 = ct.alpha * (1.0f - expf(-2.0f * h));
            float c3 = ct.sigma * sqrtf(1.0f - expf(-2.0f * h));
            for (size_t k = 0; k < n; k++) x[k] = c1 * x[k] + c2 * m0[k] + c3 * noise[k];
        }
    } else {
        coef c1s = coef_at(s, s->timesteps[i - 1]);
        float h0 = cs.lambda - c1s.lambda;
        float r0 = h0 / h, inv = 1.0f / r0;
        if (!sde) {
            float c1 = ct.sigma / cs.sigma, c2 = ct.alpha * (expf(-h) - 1.0f), c3 = 0.5f * c2;
            for (size_t k = 0; k < n; k++) {
                float d1 = inv * (m0[k] - m1[k]);
                x[k] = c1 * x[k] - c2 * m0[k] - c3 * d1;
            }
        } else {
            float c1 = ct.sigma / cs.sigma * expf(-h), c2 = ct.alpha * (1.0f - expf(-2.0f * h));
            float c3 = 0.5f * c2, c4 = ct.sigma * sqrtf(1.0f - expf(-2.0f * h));
            for (size_t k = 0; k < n; k++) {
                float d1 = inv * (m0[k] - m1[k]);
                x[k] = c1 * x[k] + c2 * m0[k] + c3 * d1 + c4 * noise[k];
            }
        }
    }
    if (s->lower_order_nums < 2) s->lower_order_nums++;
    return 0;
}

/* UniPC: buf[0] = older x0, buf[1] = newest x0 (hist_t[0], hist_t[1] their timesteps),
 * buf[2] = last_sample, buf[3] = this step's x0. */
int sched_step_unipc(oma_scheduler *s, int i, const float *m, float *x, size_t n)
{
    if (sched_buffers(s, n, 4) != 0) return -1;
    int t = s->timesteps[i];
    float *xt0 = s->buf[3];
    to_x0(s, t, m, x, xt0, n);
    if (i > 0 && s->calls > 0) {
        /* corrector (multistep_uni_c_bh_update), order this_order of the previous step */
        int k = s->this_order;
        int s0 = s->hist_t[1];
        coef ct = coef_at(s, t), c0 = coef_at(s, s0);
        float h = ct.lambda - c0.lambda, hh = -h;
        float hphi1 = expm1f(hh), bh = expm1f(hh);
        float *mo0 = s->buf[1], *mo1 = s->buf[0], *last = s->buf[2];
        float rho_last, rho0 = 0, rk = 0;
        if (k == 1) {
            rho_last = 0.5f;
        } else {
            coef c1 = coef_at(s, s->hist_t[0]);
            rk = (c1.lambda - c0.lambda) / h;
            float hk = hphi1 / hh - 1.0f;
            float b1 = hk * 1.0f / bh;
            hk = hk / hh - 1.0f / 2.0f;
            float b2 = hk * 2.0f / bh;
            /* R = [[1, 1], [rk, 1]]: rho0 + rho1 = b1, rk rho0 + rho1 = b2 */
            double r0 = ((double)b1 - b2) / (1.0 - rk);
            rho0 = (float)r0;
            rho_last = (float)((double)b1 - r0);
        }
        float a1 = ct.sigma / c0.sigma, a2 = ct.alpha * hphi1, a3 = ct.alpha * bh;
        for (size_t q = 0; q < n; q++) {
            float xt_ = a1 * last[q] - a2 * mo0[q];
            float corr = 0.0f;
            if (k == 2) corr = rho0 * ((mo1[q] - mo0[q]) / rk);
            float d1t = xt0[q] - mo0[q];
            x[q] = xt_ - a3 * (corr + rho_last * d1t);
        }
    }
    int prev = i == s->n - 1 ? 0 : s->timesteps[i + 1];
    /* shift the history: newest x0 = this one */
    float *old = s->buf[0];
    s->buf[0] = s->buf[1];
    s->buf[1] = s->buf[3];
    s->buf[3] = old;
    s->hist_t[0] = s->hist_t[1];
    s->hist_t[1] = t;
    int order = s->n - i < 2 ? s->n - i : 2;
    if (order > s->lower_order_nums + 1) order = s->lower_order_nums + 1;
    s->this_order = order;
    memcpy(s->buf[2], x, n * sizeof(float));
    /* predictor (multistep_uni_p_bh_update) */
    coef ct = coef_at(s, prev), c0 = coef_at(s, t);
    float h = ct.lambda - c0.lambda, hh = -h;
    float hphi1 = expm1f(hh), bh = expm1f(hh);
    float a1 = ct.sigma / c0.sigma, a2 = ct.alpha * hphi1, a3 = ct.alpha * bh;
    float *mo0 = s->buf[1], *mo1 = s->buf[0];
    float rk = 1.0f;
    if (order == 2) {
        coef c1 = coef_at(s, s->hist_t[0]);
        rk = (c1.lambda - c0.lambda) / h;
    }
    for (size_t q = 0; q < n; q++) {
        float xt_ = a1 * x[q] - a2 * mo0[q];
        if (order == 2) {
            float pred = 0.5f * ((mo1[q] - mo0[q]) / rk);
            x[q] = xt_ - a3 * pred;
        } else {
            x[q] = xt_;
        }
    }
    if (s->lower_order_nums < 2) s->lower_order_nums++;
    s->calls++;
    return 0;
}
