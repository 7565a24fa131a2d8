/* scheduler.c — set-up of every sampler (see scheduler.h) and the calls a generation loop makes:
 * each sampler's diffusers class defaults applied to what the config file left out, its
 * timesteps / sigmas built once (scheduler_schedule.c), then per step the input scale, the UNet
 * timestep and the update (scheduler_alpha.c, scheduler_sigma.c, scheduler_multistep.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/generate/scheduler_internal.h"

typedef enum { FAM_ALPHA, FAM_SIGMA, FAM_MULTI } family;

static family family_of(oma_sampler_kind k)
{
    switch (k) {
    case OMA_SAMPLER_EULER:
    case OMA_SAMPLER_EULER_A:
    case OMA_SAMPLER_HEUN:
    case OMA_SAMPLER_DPM2:
    case OMA_SAMPLER_LMS: return FAM_SIGMA;
    case OMA_SAMPLER_DPMPP_2M:
    case OMA_SAMPLER_DPMPP_2M_KARRAS:
    case OMA_SAMPLER_DPMPP_2M_SDE_KARRAS:
    case OMA_SAMPLER_UNIPC: return FAM_MULTI;
    default: return FAM_ALPHA;
    }
}

/* diffusers' class default for timestep_spacing */
static const char *default_spacing(oma_sampler_kind k)
{
    return (k == OMA_SAMPLER_DDIM || k == OMA_SAMPLER_PLMS || k == OMA_SAMPLER_LCM || k == OMA_SAMPLER_TCD)
               ? "leading"
               : "linspace";
}

static int fail(oma_scheduler *s, char *err, size_t errlen, const char *msg, const char *arg)
{
    snprintf(err, errlen, msg, arg);
    oma_scheduler_free(s);
    return -1;
}

static int init_alpha(oma_scheduler *s, const oma_scheduler_config *cfg, const char *spacing, double *tmp,
                      char *err, size_t errlen)
{
    int T = s->train_steps, steps = s->steps;
    if (s->kind == OMA_SAMPLER_LCM || s->kind == OMA_SAMPLER_TCD) {
        /* original_inference_steps 50: k = T // 50, origin = [1..50] * k - 1, every
         * floor(i * 50 / steps)-th of them from the top */
        const int orig = 50;
        if (orig > T || steps > orig)
            return fail(s, err, errlen, "scheduler: %s takes at most 50 steps", oma_sampler_name(s->kind));
        int k = T / orig;
        for (int i = 0; i < steps; i++) {
            int idx = (int)floor((double)i * ((double)orig / (double)steps));
            s->timesteps[i] = (orig - idx) * k - 1;
        }
        s->n = steps;
        return 0;
    }
    int cnt = sched_spacing(spacing, T, steps, cfg->steps_offset, 0, tmp);
    if (cnt < 0) return fail(s, err, errlen, "scheduler: timestep spacing '%s' not supported", spacing);
    if (s->kind == OMA_SAMPLER_DDIM) {
        for (int i = 0; i < cnt; i++) s->timesteps[i] = (int)tmp[i];
        s->n = cnt;
        return 0;
    }
    /* PLMS: ascending a = reversed(tmp); list = reversed(a[:-1] + a[-2:-1] + a[-1:]) */
    int m = 0, asc[OMA_SCHED_MAX_EVALS];
    for (int i = 0; i < cnt; i++) asc[i] = (int)tmp[cnt - 1 - i];
    int list[OMA_SCHED_MAX_EVALS];
    for (int i = 0; i < cnt - 1; i++) list[m++] = asc[i];
    if (cnt >= 2) list[m++] = asc[cnt - 2];
    list[m++] = asc[cnt - 1];
    for (int i = 0; i < m; i++) s->timesteps[i] = list[m - 1 - i];
    s->n = m;
    return 0;
}

static int init_sigma(oma_scheduler *s, const oma_scheduler_config *cfg, const char *spacing, double *tmp,
                      char *err, size_t errlen)
{
    int T = s->train_steps, steps = s->steps;
    int cnt = sched_spacing(spacing, T, steps, cfg->steps_offset, 1, tmp);
    if (cnt < 0) return fail(s, err, errlen, "scheduler: timestep spacing '%s' not supported", spacing);
    s->spacing_leading = !strcmp(spacing, "leading");
    double sb[OMA_SCHED_MAX_EVALS + 1];
    float tb[OMA_SCHED_MAX_EVALS];
    for (int i = 0; i < cnt; i++) {
        tb[i] = (float)tmp[i];
        sb[i] = (double)(float)sched_interp_sigma(s, tb[i]);
    }
    sb[cnt] = 0.0;
    if (s->kind == OMA_SAMPLER_HEUN || s->kind == OMA_SAMPLER_DPM2) {
        s->order = 2;
        s->n = 2 * cnt - 1;
        /* sigmas [s0, s1, s1, ..., s_{n-1}, s_{n-1}, 0 (, 0 for DPM2)] */
        s->sigmas[0] = sb[0];
        for (int j = 1; j <= 2 * cnt + 1; j++) s->sigmas[j] = sb[(j + 1) / 2 <= cnt ? (j + 1) / 2 : cnt];
        if (s->kind == OMA_SAMPLER_HEUN) {
            s->tsf[0] = tb[0];
            for (int j = 1; j < s->n; j++) s->tsf[j] = tb[(j + 1) / 2];
        } else {
            /* midpoints in log sigma (torch lerp, weight 0.5), their timesteps (float32) */
            float si[OMA_SCHED_MAX_EVALS + 1], ti[OMA_SCHED_MAX_EVALS + 1];
            float *ls = malloc(sizeof(float) * (size_t)T);
            if (!ls) return fail(s, err, errlen, "scheduler: %s", "out of memory");
            for (int t = 0; t < T; t++) ls[t] = logf((float)sched_sigma_of(s, t));
            for (int k = 0; k <= cnt; k++) {
                float self = logf((float)sb[k]), end = logf((float)sb[k == 0 ? cnt : k - 1]);
                si[k] = expf(end - (end - self) * 0.5f);
                float lsig = logf(si[k]);
                int count = 0, best = 0, bestc = -1;
                for (int t = 0; t < T; t++) {
                    count += (lsig - ls[t] >= 0);
                    if (count > bestc) bestc = count, best = t;
                }
                int low = best > T - 2 ? T - 2 : best;
                float w = (ls[low] - lsig) / (ls[low] - ls[low + 1]);
                w = w < 0 ? 0 : (w > 1 ? 1 : w);
                if (w != w) w = 0;
                ti[k] = (1.0f - w) * (float)low + w * (float)(low + 1);
            }
            free(ls);
            s->sigmas_interp[0] = si[0];
            for (int j = 1; j <= 2 * cnt + 1; j++) s->sigmas_interp[j] = si[(j + 1) / 2 <= cnt ? (j + 1) / 2 : cnt];
            s->tsf[0] = tb[0];
            for (int k = 1; k < cnt; k++) {
                s->tsf[2 * k - 1] = ti[k];
                s->tsf[2 * k] = tb[k];
            }
        }
    } else {
        s->n = cnt;
        for (int i = 0; i <= cnt; i++) s->sigmas[i] = sb[i];
        for (int i = 0; i < cnt; i++) s->tsf[i] = tb[i];
    }
    for (int i = 0; i < s->n; i++) s->timesteps[i] = (int)nearbyintf(s->tsf[i]);
    return 0;
}

static int init_multi(oma_scheduler *s, const oma_scheduler_config *cfg, const char *spacing, double *tmp,
                      char *err, size_t errlen)
{
    int T = s->train_steps, steps = s->steps;
    int ts[OMA_SCHED_MAX_EVALS], cnt;
    if (s->kind == OMA_SAMPLER_DPMPP_2M_KARRAS || s->kind == OMA_SAMPLER_DPMPP_2M_SDE_KARRAS) {
        /* Karras sigmas between the schedule's ends pick the timesteps */
        double *log_sigmas = malloc(sizeof(double) * (size_t)T);
        if (!log_sigmas) return fail(s, err, errlen, "scheduler: %s", "out of memory");
        for (int i = 0; i < T; i++) log_sigmas[i] = log(sched_sigma_of(s, i));
        double smin = sched_sigma_of(s, 0), smax = sched_sigma_of(s, T - 1), rho = 7.0;
        double min_inv = pow(smin, 1 / rho), max_inv = pow(smax, 1 / rho);
        for (int i = 0; i < steps; i++) {
            double ramp = steps == 1 ? 0.0 : (double)i / (double)(steps - 1);
            /* diffusers names them the other way round: ascending sigmas, then flipped */
            double sg = pow(min_inv + ramp * (max_inv - min_inv), rho);
            ts[steps - 1 - i] = (int)nearbyint(sched_sigma_to_t(log_sigmas, T, sg));
        }
        free(log_sigmas);
        cnt = steps;
    } else {
        cnt = sched_spacing(spacing, T, steps, cfg->steps_offset, 2, tmp);
        if (cnt < 0) return fail(s, err, errlen, "scheduler: timestep spacing '%s' not supported", spacing);
        for (int i = 0; i < cnt; i++) ts[i] = (int)tmp[i];
    }
    int n = 0;
    for (int i = 0; i < cnt; i++) {
        int dup = 0;
        for (int j = 0; j < n; j++) dup |= s->timesteps[j] == ts[i];
        if (!dup) s->timesteps[n++] = ts[i];
    }
    s->n = n;
    return 0;
}

int oma_scheduler_init(oma_scheduler *s, oma_sampler_kind kind, const oma_scheduler_config *cfg,
                       int steps, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->order = 1;
    s->steps = steps;
    s->eta = kind == OMA_SAMPLER_TCD ? 0.3 : 0.0;
    /* unstated: DDIM clips and sets the final alpha to 1, LCM/TCD only the latter, PNDM neither */
    int alpha_one_default = kind == OMA_SAMPLER_DDIM || kind == OMA_SAMPLER_LCM || kind == OMA_SAMPLER_TCD;
    int set_alpha_to_one = cfg->set_alpha_to_one_set ? cfg->set_alpha_to_one : alpha_one_default;
    int clip = cfg->clip_sample_set ? cfg->clip_sample : kind == OMA_SAMPLER_DDIM;
    s->clip_sample = clip && (kind == OMA_SAMPLER_DDIM || kind == OMA_SAMPLER_LCM);
    if (!strcmp(oma_sampler_name(kind), "?")) return fail(s, err, errlen, "scheduler: %s", "unknown sampler");
    if (steps < 1 || steps > OMA_SCHED_MAX_STEPS || steps > cfg->num_train_timesteps) {
        snprintf(err, errlen, "scheduler: steps must be 1..%d", OMA_SCHED_MAX_STEPS);
        return -1;
    }
    const char *pt = cfg->prediction_type[0] ? cfg->prediction_type : "epsilon";
    if (!strcmp(pt, "epsilon")) s->pred = OMA_PRED_EPSILON;
    else if (!strcmp(pt, "v_prediction")) s->pred = OMA_PRED_V;
    else if (!strcmp(pt, "sample")) s->pred = OMA_PRED_SAMPLE;
    else return fail(s, err, errlen, "scheduler: prediction type '%s' not supported", pt);
    if (s->pred == OMA_PRED_SAMPLE &&
        (kind == OMA_SAMPLER_EULER_A || kind == OMA_SAMPLER_DPM2 || kind == OMA_SAMPLER_PLMS)) {
        snprintf(err, errlen, "scheduler: %s does not support prediction type 'sample' (diffusers neither)",
                 oma_sampler_name(kind));
        return -1;
    }
    /* zero-SNR rescale where the diffusers class has it */
    int zero_snr = cfg->rescale_betas_zero_snr &&
                   (kind == OMA_SAMPLER_DDIM || kind == OMA_SAMPLER_LCM || kind == OMA_SAMPLER_TCD);
    if (sched_make_alphas(s, cfg, zero_snr, err, errlen) != 0) return -1;
    s->final_alpha_cumprod = set_alpha_to_one ? 1.0 : s->alphas_cumprod[0];
    const char *spacing = cfg->timestep_spacing_set && cfg->timestep_spacing[0] ? cfg->timestep_spacing
                                                                               : default_spacing(kind);
    double *tmp = malloc(sizeof(double) * (OMA_SCHED_MAX_STEPS + 2));
    if (!tmp) return fail(s, err, errlen, "scheduler: %s", "out of memory");
    int rc;
    switch (family_of(kind)) {
    case FAM_SIGMA: rc = init_sigma(s, cfg, spacing, tmp, err, errlen); break;
    case FAM_MULTI: rc = init_multi(s, cfg, spacing, tmp, err, errlen); break;
    default: rc = init_alpha(s, cfg, spacing, tmp, err, errlen); break;
    }
    free(tmp);
    if (rc != 0) return -1;
    s->step_ratio = s->train_steps / steps;
    for (int i = 0; i < s->n; i++) {
        if (s->timesteps[i] < 0 || s->timesteps[i] >= s->train_steps)
            return fail(s, err, errlen, "scheduler: timestep out of range%s", "");
        if (family_of(kind) != FAM_SIGMA) s->tsf[i] = (float)s->timesteps[i];
    }
    return 0;
}

void oma_scheduler_free(oma_scheduler *s)
{
    free(s->alphas_cumprod);
    s->alphas_cumprod = NULL;
    for (int j = 0; j < 6; j++) {
        free(s->buf[j]);
        s->buf[j] = NULL;
    }
    free(s->prev_x0);
    s->prev_x0 = NULL;
    s->prev_len = 0;
}

double oma_scheduler_init_sigma(const oma_scheduler *s)
{
    if (family_of(s->kind) != FAM_SIGMA) return 1.0;
    float m = 0;
    for (int i = 0; i <= s->n; i++) m = (float)s->sigmas[i] > m ? (float)s->sigmas[i] : m;
    return s->spacing_leading ? (double)sqrtf(m * m + 1.0f) : (double)m;
}

double oma_scheduler_input_scale(const oma_scheduler *s, int i)
{
    if (family_of(s->kind) != FAM_SIGMA || i < 0 || i >= s->n) return 1.0;
    double sg = (s->kind == OMA_SAMPLER_DPM2 && s->this_order) ? s->sigmas_interp[i] : s->sigmas[i];
    float f = (float)sg;
    return 1.0 / (double)sqrtf(f * f + 1.0f);
}

int oma_scheduler_timestep(const oma_scheduler *s, int i)
{
    return (i >= 0 && i < s->n) ? s->timesteps[i] : 0;
}

float oma_scheduler_timestep_f(const oma_scheduler *s, int i)
{
    return (i >= 0 && i < s->n) ? s->tsf[i] : 0.0f;
}

int oma_scheduler_img2img_start(const oma_scheduler *s, double strength)
{
    if (!(strength > 0)) strength = 0;
    if (strength > 1) strength = 1;
    int init_t = (int)(s->steps * strength);
    if (init_t > s->steps) init_t = s->steps;
    int start = (s->steps - init_t) * s->order;
    return start < 0 ? 0 : start;
}

void oma_scheduler_add_noise(const oma_scheduler *s, int i, const float *orig, const float *noise,
                             float *out, size_t n)
{
    if (family_of(s->kind) == FAM_SIGMA) {
        float sg = (float)s->sigmas[i < s->n ? i : s->n];
        for (size_t k = 0; k < n; k++) out[k] = orig[k] + noise[k] * sg;
        return;
    }
    int t = oma_scheduler_timestep(s, i);
    float ac = (float)s->alphas_cumprod[t];
    float a = sqrtf(ac), b = sqrtf(1.0f - ac);
    for (size_t k = 0; k < n; k++) out[k] = a * orig[k] + b * noise[k];
}

int oma_scheduler_step(oma_scheduler *s, int i, const float *eps, float *latents, int batch,
                       size_t per_item, oma_rng *rngs)
{
    if (i < 0 || i >= s->n || batch < 1 || !s->alphas_cumprod) return -1;
    size_t n = (size_t)batch * per_item;
    switch (s->kind) {
    case OMA_SAMPLER_DDIM: return sched_step_ddim(s, i, eps, latents, n);
    case OMA_SAMPLER_PLMS: return sched_step_plms(s, i, eps, latents, n);
    case OMA_SAMPLER_LCM: return sched_step_lcm(s, i, eps, latents, batch, per_item, rngs);
    case OMA_SAMPLER_TCD: return sched_step_tcd(s, i, eps, latents, batch, per_item, rngs);
    case OMA_SAMPLER_EULER: return sched_step_euler(s, i, eps, latents, n);
    case OMA_SAMPLER_EULER_A: return sched_step_euler_a(s, i, eps, latents, batch, per_item, rngs);
    case OMA_SAMPLER_HEUN: return sched_step_heun(s, i, eps, latents, n);
    case OMA_SAMPLER_DPM2: return sched_step_dpm2(s, i, eps, latents, n);
    case OMA_SAMPLER_LMS: return sched_step_lms(s, i, eps, latents, n);
    case OMA_SAMPLER_DPMPP_2M:
    case OMA_SAMPLER_DPMPP_2M_KARRAS:
    case OMA_SAMPLER_DPMPP_2M_SDE_KARRAS:
        return sched_step_dpmpp(s, i, eps, latents, batch, per_item, rngs);
    case OMA_SAMPLER_UNIPC: return sched_step_unipc(s, i, eps, latents, n);
    }
    return -1;
}
