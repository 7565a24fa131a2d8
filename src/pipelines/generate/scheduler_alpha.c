/* scheduler_alpha.c — the samplers that work on the alphas directly: DDIM (DDIMScheduler, eta 0),
 * PLMS (PNDMScheduler with skip_prk_steps), LCM (LCMScheduler) and TCD (TCDScheduler). Each step
 * is diffusers' step() with its float32 scalars; the model output is converted to x0 (and eps)
 * by the configured prediction type. LCM and TCD draw fresh noise between steps from each batch
 * item's generator, as diffusers does. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/generate/scheduler_internal.h"

int sched_step_ddim(oma_scheduler *s, int i, const float *m, float *x, size_t n)
{
    int t = s->timesteps[i], prev = t - s->train_steps / s->steps;
    float at = (float)s->alphas_cumprod[t];
    float ap = prev >= 0 ? (float)s->alphas_cumprod[prev] : (float)s->final_alpha_cumprod;
    float bt = 1.0f - at;
    float sa = sqrtf(at), sb = sqrtf(bt), spa = sqrtf(ap), dir = sqrtf(1.0f - ap - 0.0f);
    for (size_t k = 0; k < n; k++) {
        float x0, pe;
        if (s->pred == OMA_PRED_EPSILON) {
            x0 = (x[k] - sb * m[k]) / sa;
            pe = m[k];
        } else if (s->pred == OMA_PRED_SAMPLE) {
            x0 = m[k];
            pe = (x[k] - sa * x0) / sb;
        } else {
            x0 = sa * x[k] - sb * m[k];
            pe = sa * m[k] + sb * x[k];
        }
        if (s->clip_sample) x0 = x0 < -1.0f ? -1.0f : (x0 > 1.0f ? 1.0f : x0);
        x[k] = spa * x0 + dir * pe;
    }
    return 0;
}

/* PNDMScheduler._get_prev_sample */
static void plms_prev(const oma_scheduler *s, int t, int prev, const float *mo, const float *sample,
                      float *out, size_t n)
{
    float at = (float)s->alphas_cumprod[t];
    float ap = prev >= 0 ? (float)s->alphas_cumprod[prev] : (float)s->final_alpha_cumprod;
    float bt = 1.0f - at, bp = 1.0f - ap;
    float sc = sqrtf(ap / at);
    float denom = at * sqrtf(bp) + sqrtf(at * bt * ap);
    float diff = ap - at, sat = sqrtf(at), sbt = sqrtf(bt);
    for (size_t k = 0; k < n; k++) {
        float e = mo[k];
        if (s->pred == OMA_PRED_V) e = sat * e + sbt * sample[k];
        out[k] = sc * sample[k] - diff * e / denom;
    }
}

int sched_step_plms(oma_scheduler *s, int i, const float *m, float *x, size_t n)
{
    /* buf[0..3]: ets, oldest first (nets of them); buf[4]: cur_sample; buf[5]: the combination */
    if (sched_buffers(s, n, 6) != 0) return -1;
    int ratio = s->train_steps / s->steps;
    int t = s->timesteps[i], prev = t - ratio;
    if (s->calls != 1) {
        if (s->nets == 4) {
            float *old = s->buf[0];
            memmove(&s->buf[0], &s->buf[1], 3 * sizeof(float *));
            s->buf[3] = old;
            s->nets = 3;
        }
        memcpy(s->buf[s->nets++], m, n * sizeof(float));
    } else {
        prev = t;
        t = t + ratio;
    }
    float *mo = s->buf[5], *const *e = s->buf;
    int ne = s->nets;
    const float *sample = x;
    if (ne == 1 && s->calls == 0) {
        memcpy(mo, m, n * sizeof(float));
        memcpy(s->buf[4], x, n * sizeof(float));
    } else if (ne == 1 && s->calls == 1) {
        for (size_t k = 0; k < n; k++) mo[k] = (m[k] + e[0][k]) / 2.0f;
        sample = s->buf[4];
    } else if (ne == 2) {
        for (size_t k = 0; k < n; k++) mo[k] = (3.0f * e[1][k] - e[0][k]) / 2.0f;
    } else if (ne == 3) {
        for (size_t k = 0; k < n; k++) mo[k] = (23.0f * e[2][k] - 16.0f * e[1][k] + 5.0f * e[0][k]) / 12.0f;
    } else {
        const float c = (float)(1.0 / 24.0);
        for (size_t k = 0; k < n; k++)
            mo[k] = c * (55.0f * e[3][k] - 59.0f * e[2][k] + 37.0f * e[1][k] - 9.0f * e[0][k]);
    }
    plms_prev(s, t, prev, mo, sample, x, n);
    s->calls++;
    return 0;
}

/* LCM/TCD x0 from the model output at alphas_cumprod a */
static float x0_of(int pred, float a, float xk, float mk)
{
    float b = 1.0f - a;
    return sched_x0_alpha(pred, sqrtf(a), sqrtf(b), xk, mk);
}

int sched_step_lcm(oma_scheduler *s, int i, const float *m, float *x, int batch, size_t per, oma_rng *rngs)
{
    if (sched_buffers(s, per, 1) != 0) return -1;
    int t = s->timesteps[i];
    int prev = i + 1 < s->n ? s->timesteps[i + 1] : t;
    float at = (float)s->alphas_cumprod[t];
    float ap = prev >= 0 ? (float)s->alphas_cumprod[prev] : (float)s->final_alpha_cumprod;
    float bp = 1.0f - ap;
    float st = (float)t * 10.0f;        /* timestep_scaling 10, sigma_data 0.5 */
    float c_skip = 0.25f / (st * st + 0.25f);
    float c_out = st / sqrtf(st * st + 0.25f);
    int last = i == s->steps - 1;
    float sap = sqrtf(ap), sbp = sqrtf(bp);
    for (int b = 0; b < batch; b++) {
        float *xb = x + (size_t)b * per;
        const float *mb = m + (size_t)b * per;
        for (size_t k = 0; k < per; k++) {
            float x0 = x0_of(s->pred, at, xb[k], mb[k]);
            if (s->clip_sample) x0 = x0 < -1.0f ? -1.0f : (x0 > 1.0f ? 1.0f : x0);
            xb[k] = c_out * x0 + c_skip * xb[k];
        }
        if (!last) {
            float *noise = s->buf[0];
            oma_rng_randn(&rngs[b], noise, per);
            for (size_t k = 0; k < per; k++) xb[k] = sap * xb[k] + sbp * noise[k];
        }
    }
    return 0;
}

int sched_step_tcd(oma_scheduler *s, int i, const float *m, float *x, int batch, size_t per, oma_rng *rngs)
{
    if (sched_buffers(s, per, 1) != 0) return -1;
    int t = s->timesteps[i];
    int prev = i + 1 < s->n ? s->timesteps[i + 1] : 0;
    /* floor((1 - eta) * prev) with torch's float32 product */
    float g = (float)(1.0 - s->eta);
    int ts = (int)floorf(g * (float)prev);
    if (ts < 0) ts = 0;
    if (ts >= s->train_steps) ts = s->train_steps - 1;
    float at = (float)s->alphas_cumprod[t], bt = 1.0f - at;
    float ap = (float)s->alphas_cumprod[prev];
    float as = (float)s->alphas_cumprod[ts], bs = 1.0f - as;
    float sat = sqrtf(at), sbt = sqrtf(bt), sas = sqrtf(as), sbs = sqrtf(bs);
    float r = ap / as;
    float c1 = sqrtf(r), c2 = sqrtf(1.0f - r);
    int noisy = s->eta > 0 && i != s->steps - 1;
    for (int b = 0; b < batch; b++) {
        float *xb = x + (size_t)b * per;
        const float *mb = m + (size_t)b * per;
        for (size_t k = 0; k < per; k++) {
            float x0, pe;
            if (s->pred == OMA_PRED_EPSILON) {
                x0 = (xb[k] - sbt * mb[k]) / sat;
                pe = mb[k];
            } else if (s->pred == OMA_PRED_SAMPLE) {
                x0 = mb[k];
                pe = (xb[k] - sat * x0) / sbt;
            } else {
                x0 = sat * xb[k] - sbt * mb[k];
                pe = sat * mb[k] + sbt * xb[k];
            }
            xb[k] = sas * x0 + sbs * pe;
        }
        if (noisy) {
            float *noise = s->buf[0];
            oma_rng_randn(&rngs[b], noise, per);
            for (size_t k = 0; k < per; k++) xb[k] = c1 * xb[k] + c2 * noise[k];
        }
    }
    return 0;
}
