/* scheduler.c — DDIM, Euler ancestral and DPM++ 2M Karras as diffusers computes them
 * (see scheduler.h). The schedule is computed once in set-up; a step is a few vector loops. */
#include "pipelines/generate/scheduler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int oma_sampler_parse(const char *name, oma_sampler_kind *out)
{
    if (!name) return -1;
    if (!strcasecmp(name, "DDIM")) *out = OMA_SAMPLER_DDIM;
    else if (!strcasecmp(name, "Euler a") || !strcasecmp(name, "euler_a") ||
             !strcasecmp(name, "euler_ancestral"))
        *out = OMA_SAMPLER_EULER_A;
    else if (!strcasecmp(name, "DPM++ 2M Karras") || !strcasecmp(name, "dpmpp_2m_karras"))
        *out = OMA_SAMPLER_DPMPP_2M_KARRAS;
    else
        return -1;
    return 0;
}

const char *oma_sampler_name(oma_sampler_kind k)
{
    switch (k) {
    case OMA_SAMPLER_DDIM: return "DDIM";
    case OMA_SAMPLER_EULER_A: return "Euler a";
    case OMA_SAMPLER_DPMPP_2M_KARRAS: return "DPM++ 2M Karras";
    }
    return "?";
}

static const oma_sampler_kind all_samplers[] = {
    OMA_SAMPLER_DPMPP_2M_KARRAS, OMA_SAMPLER_EULER_A, OMA_SAMPLER_DDIM,
};

int oma_sampler_count(void) { return (int)(sizeof all_samplers / sizeof all_samplers[0]); }

oma_sampler_kind oma_sampler_at(int i)
{
    if (i < 0 || i >= oma_sampler_count()) return all_samplers[0];
    return all_samplers[i];
}

int oma_sampler_parse_a1111(const char *sampler, const char *scheduler, oma_sampler_kind *out)
{
    if (!sampler) return -1;
    int automatic = !scheduler || !scheduler[0] || !strcasecmp(scheduler, "Automatic");
    if (automatic) return oma_sampler_parse(sampler, out);
    if (!strcasecmp(scheduler, "Karras") && !strcasecmp(sampler, "DPM++ 2M")) {
        *out = OMA_SAMPLER_DPMPP_2M_KARRAS;
        return 0;
    }
    if (oma_sampler_parse(sampler, out) != 0) return -1;
    /* A sampler whose own schedule is already the one asked for. */
    if (!strcasecmp(scheduler, "Karras") && *out == OMA_SAMPLER_DPMPP_2M_KARRAS) return 0;
    return -1;
}

static int make_alphas(oma_scheduler *s, const oma_scheduler_config *c, char *err, size_t errlen)
{
    int T = c->num_train_timesteps;
    if (T < 2 || T > 100000 || !(c->beta_start > 0) || !(c->beta_end > c->beta_start) ||
        c->beta_end >= 1.0f) {
        snprintf(err, errlen, "scheduler: bad noise schedule config");
        return -1;
    }
    int scaled = strcmp(c->beta_schedule, "scaled_linear") == 0;
    if (!scaled && strcmp(c->beta_schedule, "linear") != 0) {
        snprintf(err, errlen, "scheduler: beta schedule '%s' not supported", c->beta_schedule);
        return -1;
    }
    if (c->prediction_type[0] && strcmp(c->prediction_type, "epsilon") != 0) {
        snprintf(err, errlen, "scheduler: prediction type '%s' not supported", c->prediction_type);
        return -1;
    }
    s->alphas_cumprod = malloc(sizeof(double) * (size_t)T);
    if (!s->alphas_cumprod) {
        snprintf(err, errlen, "scheduler: out of memory");
        return -1;
    }
    s->train_steps = T;
    /* torch: linspace in float32 (filled from both ends), squared, 1 - b, cumprod in float32 */
    double a = scaled ? sqrt((double)c->beta_start) : c->beta_start;
    double b = scaled ? sqrt((double)c->beta_end) : c->beta_end;
    float fa = (float)a, fb = (float)b;
    float step = (fb - fa) / (float)(T - 1);
    float cum = 1.0f;
    for (int i = 0; i < T; i++) {
        float v = i < T / 2 ? fa + step * (float)i : fb - step * (float)(T - 1 - i);
        float beta = scaled ? v * v : v;
        cum *= 1.0f - beta;
        s->alphas_cumprod[i] = cum;
    }
    return 0;
}

static double sigma_of(const oma_scheduler *s, int t)
{
    float ac = (float)s->alphas_cumprod[t];
    return (double)sqrtf((1.0f - ac) / ac);
}

/* diffusers' _sigma_to_t: piecewise-linear interpolation of log sigma over t. */
static double sigma_to_t(const double *log_sigmas, int T, double sigma)
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

int oma_scheduler_init(oma_scheduler *s, oma_sampler_kind kind, const oma_scheduler_config *cfg,
                       int steps, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    s->kind = kind;
    if (steps < 1 || steps > OMA_SCHED_MAX_STEPS || steps > cfg->num_train_timesteps) {
        snprintf(err, errlen, "scheduler: steps must be 1..%d", OMA_SCHED_MAX_STEPS);
        return -1;
    }
    if (make_alphas(s, cfg, err, errlen) != 0) return -1;
    int T = s->train_steps;
    const char *spacing = cfg->timestep_spacing[0] ? cfg->timestep_spacing : "leading";
    if (strcmp(spacing, "leading") != 0) {
        snprintf(err, errlen, "scheduler: timestep spacing '%s' not supported", spacing);
        oma_scheduler_free(s);
        return -1;
    }
    s->final_alpha_cumprod = cfg->set_alpha_to_one ? 1.0 : s->alphas_cumprod[0];
    if (kind == OMA_SAMPLER_DDIM || kind == OMA_SAMPLER_EULER_A) {
        s->step_ratio = T / steps;
        s->n = steps;
        for (int i = 0; i < steps; i++) s->timesteps[i] = (steps - 1 - i) * s->step_ratio + cfg->steps_offset;
        for (int i = 0; i < steps; i++) {
            int t = s->timesteps[i];
            if (t < 0 || t >= T) {
                snprintf(err, errlen, "scheduler: timestep %d out of range", t);
                oma_scheduler_free(s);
                return -1;
            }
            s->sigmas[i] = (double)(float)sigma_of(s, t);
        }
        s->sigmas[steps] = 0.0;
        return 0;
    }
    /* DPM++ 2M Karras: Karras sigmas between the schedule's ends pick the timesteps */
    double *log_sigmas = malloc(sizeof(double) * (size_t)T);
    if (!log_sigmas) {
        snprintf(err, errlen, "scheduler: out of memory");
        oma_scheduler_free(s);
        return -1;
    }
    for (int i = 0; i < T; i++) log_sigmas[i] = log(sigma_of(s, i));
    double smin = sigma_of(s, 0), smax = sigma_of(s, T - 1), rho = 7.0;
    double min_inv = pow(smin, 1 / rho), max_inv = pow(smax, 1 / rho);
    int ts[OMA_SCHED_MAX_STEPS];
    for (int i = 0; i < steps; i++) {
        double ramp = steps == 1 ? 0.0 : (double)i / (double)(steps - 1);
        /* diffusers names them the other way round: ascending sigmas, then flipped */
        double sg = pow(min_inv + ramp * (max_inv - min_inv), rho);
        ts[steps - 1 - i] = (int)nearbyint(sigma_to_t(log_sigmas, T, sg));
    }
    free(log_sigmas);
    int n = 0;
    for (int i = 0; i < steps; i++) {
        int dup = 0;
        for (int j = 0; j < n; j++) dup |= s->timesteps[j] == ts[i];
        if (!dup) s->timesteps[n++] = ts[i];
    }
    s->n = n;
    return 0;
}

void oma_scheduler_free(oma_scheduler *s)
{
    free(s->alphas_cumprod);
    free(s->prev_x0);
    s->alphas_cumprod = NULL;
    s->prev_x0 = NULL;
}

double oma_scheduler_init_sigma(const oma_scheduler *s)
{
    if (s->kind != OMA_SAMPLER_EULER_A) return 1.0;
    double m = 0;
    for (int i = 0; i <= s->n; i++) m = s->sigmas[i] > m ? s->sigmas[i] : m;
    return (double)(float)sqrt(m * m + 1.0);
}

double oma_scheduler_input_scale(const oma_scheduler *s, int i)
{
    if (s->kind != OMA_SAMPLER_EULER_A || i < 0 || i >= s->n) return 1.0;
    return 1.0 / sqrt(s->sigmas[i] * s->sigmas[i] + 1.0);
}

int oma_scheduler_timestep(const oma_scheduler *s, int i)
{
    return (i >= 0 && i < s->n) ? s->timesteps[i] : 0;
}

int oma_scheduler_img2img_start(const oma_scheduler *s, double strength)
{
    if (!(strength > 0)) strength = 0;
    if (strength > 1) strength = 1;
    int init_t = (int)(s->n * strength);
    if (init_t > s->n) init_t = s->n;
    int start = s->n - init_t;
    return start < 0 ? 0 : start;
}

void oma_scheduler_add_noise(const oma_scheduler *s, int i, const float *orig, const float *noise,
                             float *out, size_t n)
{
    if (s->kind == OMA_SAMPLER_EULER_A) {
        float sg = (float)s->sigmas[i < s->n ? i : s->n];
        for (size_t k = 0; k < n; k++) out[k] = orig[k] + noise[k] * sg;
        return;
    }
    int t = oma_scheduler_timestep(s, i);
    float ac = (float)s->alphas_cumprod[t];
    float a = sqrtf(ac), b = sqrtf(1.0f - ac);
    for (size_t k = 0; k < n; k++) out[k] = a * orig[k] + b * noise[k];
}

static int step_ddim(oma_scheduler *s, int i, const float *eps, float *x, size_t n)
{
    int t = s->timesteps[i], prev = t - s->step_ratio;
    double at = s->alphas_cumprod[t];
    double ap = prev >= 0 ? s->alphas_cumprod[prev] : s->final_alpha_cumprod;
    float sa = (float)sqrt(at), sb = (float)sqrt(1.0 - at);
    float spa = (float)sqrt(ap), spb = (float)sqrt(1.0 - ap);
    for (size_t k = 0; k < n; k++) {
        float x0 = (x[k] - sb * eps[k]) / sa;
        x[k] = spa * x0 + spb * eps[k];
    }
    return 0;
}

static int step_euler_a(oma_scheduler *s, int i, const float *eps, float *x, int batch,
                        size_t per_item, oma_rng *rngs)
{
    float sigma = (float)s->sigmas[i], to = (float)s->sigmas[i + 1];
    float up = sqrtf(to * to * (sigma * sigma - to * to) / (sigma * sigma));
    float down = sqrtf(to * to - up * up);
    float dt = down - sigma;
    float *noise = malloc(sizeof(float) * per_item);
    if (!noise) return -1;
    for (int b = 0; b < batch; b++) {
        float *xb = x + (size_t)b * per_item;
        const float *eb = eps + (size_t)b * per_item;
        for (size_t k = 0; k < per_item; k++) {
            float x0 = xb[k] - sigma * eb[k];
            float d = (xb[k] - x0) / sigma;
            xb[k] = xb[k] + d * dt;
        }
        oma_rng_randn(&rngs[b], noise, per_item);
        for (size_t k = 0; k < per_item; k++) xb[k] += noise[k] * up;
    }
    free(noise);
    return 0;
}

typedef struct {
    double alpha, sigma, lambda;
} dpm_coef;

static dpm_coef coef_at(const oma_scheduler *s, int t)
{
    float ac = (float)s->alphas_cumprod[t];
    float a = sqrtf(ac), sg = sqrtf(1.0f - ac);
    dpm_coef c = {a, sg, (double)(logf(a) - logf(sg))};
    return c;
}

static int step_dpm(oma_scheduler *s, int i, const float *eps, float *x, size_t n)
{
    if (s->prev_len != n) {
        free(s->prev_x0);
        s->prev_x0 = malloc(sizeof(float) * n);
        if (!s->prev_x0) return -1;
        s->prev_len = n;
        s->lower_order_nums = 0;
    }
    int t = s->timesteps[i];
    int prev = i == s->n - 1 ? 0 : s->timesteps[i + 1];
    int lower_final = i == s->n - 1 && s->n < 15;
    dpm_coef cs = coef_at(s, t), ct = coef_at(s, prev);
    double h = ct.lambda - cs.lambda;
    float r1 = (float)(ct.sigma / cs.sigma), r2 = (float)(ct.alpha * (exp(-h) - 1.0));
    if (s->lower_order_nums < 1 || lower_final) {
        for (size_t k = 0; k < n; k++) {
            float x0 = (x[k] - (float)cs.sigma * eps[k]) / (float)cs.alpha;
            s->prev_x0[k] = x0;     /* kept for the next step */
            x[k] = r1 * x[k] - r2 * x0;
        }
    } else {
        int s1 = s->timesteps[i - 1];
        dpm_coef c1 = coef_at(s, s1);
        double h0 = cs.lambda - c1.lambda;
        float inv_r0 = (float)(h / h0);
        for (size_t k = 0; k < n; k++) {
            float m0 = (x[k] - (float)cs.sigma * eps[k]) / (float)cs.alpha;
            float d1 = inv_r0 * (m0 - s->prev_x0[k]);
            s->prev_x0[k] = m0;
            x[k] = r1 * x[k] - r2 * m0 - 0.5f * r2 * d1;
        }
    }
    if (s->lower_order_nums < 2) s->lower_order_nums++;
    return 0;
}

int oma_scheduler_step(oma_scheduler *s, int i, const float *eps, float *latents, int batch,
                       size_t per_item, oma_rng *rngs)
{
    if (i < 0 || i >= s->n || batch < 1) return -1;
    size_t n = (size_t)batch * per_item;
    switch (s->kind) {
    case OMA_SAMPLER_DDIM: return step_ddim(s, i, eps, latents, n);
    case OMA_SAMPLER_EULER_A: return step_euler_a(s, i, eps, latents, batch, per_item, rngs);
    case OMA_SAMPLER_DPMPP_2M_KARRAS: return step_dpm(s, i, eps, latents, n);
    }
    return -1;
}
