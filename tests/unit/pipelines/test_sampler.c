/* test_sampler.c — the samplers on the SD 1.x schedule (names, A1111 pairs, config defaults,
 * refusals; against diffusers itself: test_samplers_ref.c).
 * Facts checked: DDIM/Euler "leading" timesteps (4 steps: 751 501 251 1); the Karras timesteps
 * are unique, descending, from 999 towards 0; alphas_cumprod at the ends of the SD schedule
 * (0.99915 at t=0, 0.0046 at t=999, as diffusers prints them); Euler's sigma_max 14.6146; and
 * the exactness property every sampler has: when the model predicts exactly the noise that
 * was mixed into a fixed clean sample x0, one step lands on x0 mixed at the next step's noise
 * level (the last step returns x0 itself for Euler, and sqrt(a0) x0 + sqrt(1-a0) eps at t = 0
 * for DDIM, PLMS and the multistep ones; Heun checks after each of its two evaluations, DPM2
 * only at its end). Tolerance 1e-5 relative to |x0| (float32 arithmetic). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pipelines/generate/scheduler.h"

#include "check.h"

static oma_scheduler_config sd_cfg(void)
{
    oma_scheduler_config c;
    memset(&c, 0, sizeof c);
    c.num_train_timesteps = 1000;
    c.beta_start = 0.00085f;
    c.beta_end = 0.012f;
    strcpy(c.beta_schedule, "scaled_linear");
    strcpy(c.prediction_type, "epsilon");
    c.steps_offset = 1;
    strcpy(c.timestep_spacing, "leading");
    c.timestep_spacing_set = c.prediction_type_set = c.set_alpha_to_one_set = c.clip_sample_set = 1;
    return c;
}

#define N 32

static int sigma_family(oma_sampler_kind k)
{
    return k == OMA_SAMPLER_EULER_A || k == OMA_SAMPLER_EULER || k == OMA_SAMPLER_HEUN || k == OMA_SAMPLER_DPM2 ||
           k == OMA_SAMPLER_LMS;
}

static void exactness(oma_sampler_kind kind, int steps)
{
    oma_scheduler_config c = sd_cfg();
    oma_scheduler s;
    char err[128];
    CHECK(oma_scheduler_init(&s, kind, &c, steps, err, sizeof err) == 0);
    float x0[2 * N], eps[2 * N], x[2 * N];
    for (int k = 0; k < 2 * N; k++) {
        x0[k] = sinf(0.3f * (float)k);
        eps[k] = cosf(1.7f * (float)k + 0.2f);
    }
    oma_rng rngs[2];
    oma_rng_seed(&rngs[0], 1);
    oma_rng_seed(&rngs[1], 2);
    /* start: the clean sample noised to step 0's level (Euler: x0 + sigma eps) */
    oma_scheduler_add_noise(&s, 0, x0, eps, x, 2 * N);
    for (int i = 0; i < s.n; i++) {
        CHECK(oma_scheduler_step(&s, i, eps, x, 2, N, rngs) == 0);
        float want[2 * N];
        if (i + 1 < s.n) {
            oma_scheduler_add_noise(&s, i + 1, x0, eps, want, 2 * N);
        } else if (!sigma_family(kind)) {   /* these end at t = 0, not at x0 */
            float a = sqrtf((float)s.alphas_cumprod[0]), b = sqrtf(1.0f - (float)s.alphas_cumprod[0]);
            for (int k = 0; k < 2 * N; k++) want[k] = a * x0[k] + b * eps[k];
        } else {
            memcpy(want, x0, sizeof want);
        }
        /* ancestral noise: only a lone last step is exact (euler_last_step); DPM2's half steps sit
         * at midpoint sigmas, so only its end is checked */
        if (kind == OMA_SAMPLER_EULER_A && i + 1 < s.n) break;
        if (kind == OMA_SAMPLER_DPM2 && i + 1 < s.n) continue;
        float m = 0;
        for (int k = 0; k < 2 * N; k++) m = fmaxf(m, fabsf(x[k] - want[k]));
        if (!(m < 2e-5f)) {
            fprintf(stderr, "%s steps %d: step %d off by %g\n", oma_sampler_name(kind), steps, i, m);
            failures++;
        }
    }
    oma_scheduler_free(&s);
}

static void euler_last_step(void)
{
    /* a one-step Euler a run: sigma_to = 0 so the step is deterministic and returns x0 */
    oma_scheduler_config c = sd_cfg();
    oma_scheduler s;
    char err[128];
    CHECK(oma_scheduler_init(&s, OMA_SAMPLER_EULER_A, &c, 1, err, sizeof err) == 0);
    float x0[N], eps[N], x[N];
    for (int k = 0; k < N; k++) x0[k] = sinf((float)k), eps[k] = cosf(2.0f * (float)k);
    oma_scheduler_add_noise(&s, 0, x0, eps, x, N);
    oma_rng r;
    oma_rng_seed(&r, 3);
    CHECK(oma_scheduler_step(&s, 0, eps, x, 1, N, &r) == 0);
    float m = 0;
    for (int k = 0; k < N; k++) m = fmaxf(m, fabsf(x[k] - x0[k]));
    CHECK(m < 1e-4f);
    oma_scheduler_free(&s);
}

int main(void)
{
    oma_scheduler_config c = sd_cfg();
    oma_scheduler s;
    char err[128];
    CHECK(oma_scheduler_init(&s, OMA_SAMPLER_DDIM, &c, 4, err, sizeof err) == 0);
    CHECK(s.n == 4 && s.timesteps[0] == 751 && s.timesteps[1] == 501 && s.timesteps[2] == 251 &&
          s.timesteps[3] == 1);
    CHECK(fabs(s.alphas_cumprod[0] - 0.99915) < 1e-5);
    CHECK(fabs(s.alphas_cumprod[999] - 0.0046) < 1e-4);
    CHECK(oma_scheduler_img2img_start(&s, 0.55) == 2);      /* int(4 * 0.55) = 2 steps run */
    CHECK(oma_scheduler_init_sigma(&s) == 1.0);
    oma_scheduler_free(&s);

    CHECK(oma_scheduler_init(&s, OMA_SAMPLER_EULER_A, &c, 20, err, sizeof err) == 0);
    CHECK(s.timesteps[0] == 951 && s.timesteps[19] == 1);
    CHECK(s.sigmas[20] == 0.0 && s.sigmas[0] > s.sigmas[1]);
    oma_scheduler_free(&s);
    CHECK(oma_scheduler_init(&s, OMA_SAMPLER_EULER_A, &c, 500, err, sizeof err) == 0);
    CHECK(fabs(s.sigmas[0] - 14.6146) < 1e-3);              /* 500 steps: the first is t = 999 */
    oma_scheduler_free(&s);

    CHECK(oma_scheduler_init(&s, OMA_SAMPLER_DPMPP_2M_KARRAS, &c, 20, err, sizeof err) == 0);
    CHECK(s.n == 20 && s.timesteps[0] == 999);
    int ok = 1;
    for (int i = 1; i < s.n; i++) ok &= s.timesteps[i] < s.timesteps[i - 1];
    CHECK(ok && s.timesteps[s.n - 1] <= 1);
    oma_scheduler_free(&s);

    oma_sampler_kind k;
    CHECK(oma_sampler_parse("Euler a", &k) == 0 && k == OMA_SAMPLER_EULER_A);
    CHECK(oma_sampler_parse("dpm++ 2m karras", &k) == 0 && k == OMA_SAMPLER_DPMPP_2M_KARRAS);
    CHECK(oma_sampler_parse("PLMS", &k) == 0 && k == OMA_SAMPLER_PLMS);
    CHECK(oma_sampler_parse("DPM fast", &k) == -1);
    CHECK(oma_scheduler_init(&s, OMA_SAMPLER_DDIM, &c, 0, err, sizeof err) == -1);
    oma_scheduler_config bad = c;
    strcpy(bad.prediction_type, "x_prediction");
    CHECK(oma_scheduler_init(&s, OMA_SAMPLER_DDIM, &bad, 4, err, sizeof err) == -1);
    bad = c;
    strcpy(bad.timestep_spacing, "sideways");
    CHECK(oma_scheduler_init(&s, OMA_SAMPLER_EULER, &bad, 4, err, sizeof err) == -1);
    bad = c;
    strcpy(bad.prediction_type, "sample");                  /* diffusers' Euler a refuses it too */
    CHECK(oma_scheduler_init(&s, OMA_SAMPLER_EULER_A, &bad, 4, err, sizeof err) == -1);
    CHECK(oma_scheduler_init(&s, OMA_SAMPLER_LCM, &c, 51, err, sizeof err) == -1);
    /* unstated spacing: each class's default (Euler a linspace from 999, DDIM leading) */
    oma_scheduler_config unset = c;
    unset.timestep_spacing_set = 0;
    CHECK(oma_scheduler_init(&s, OMA_SAMPLER_EULER_A, &unset, 4, err, sizeof err) == 0);
    CHECK(s.timesteps[0] == 999 && s.timesteps[3] == 0);
    oma_scheduler_free(&s);
    CHECK(oma_scheduler_init(&s, OMA_SAMPLER_DDIM, &unset, 4, err, sizeof err) == 0);
    CHECK(s.timesteps[0] == 751);
    oma_scheduler_free(&s);
    /* every listed sampler has a unique name that parses back; A1111 pairs */
    for (int i = 0; i < oma_sampler_count(); i++) {
        oma_sampler_kind a = oma_sampler_at(i), b2;
        CHECK(oma_sampler_parse(oma_sampler_name(a), &b2) == 0 && b2 == a);
        CHECK(oma_scheduler_init(&s, a, &c, 4, err, sizeof err) == 0 && s.n >= 4);
        oma_scheduler_free(&s);
    }
    CHECK(oma_sampler_parse_a1111("DPM++ 2M", "Karras", &k) == 0 && k == OMA_SAMPLER_DPMPP_2M_KARRAS);
    CHECK(oma_sampler_parse_a1111("DPM++ 2M", "Automatic", &k) == 0 && k == OMA_SAMPLER_DPMPP_2M_KARRAS);
    CHECK(oma_sampler_parse_a1111("DPM++ 2M", "Uniform", &k) == 0 && k == OMA_SAMPLER_DPMPP_2M);
    CHECK(oma_sampler_parse_a1111("DPM++ 2M SDE", "Karras", &k) == 0 && k == OMA_SAMPLER_DPMPP_2M_SDE_KARRAS);
    CHECK(oma_sampler_parse_a1111("Euler a", NULL, &k) == 0 && k == OMA_SAMPLER_EULER_A);
    CHECK(oma_sampler_parse_a1111("Euler a", "Karras", &k) == -1);
    CHECK(oma_sampler_parse_a1111("UniPC", "", &k) == 0 && k == OMA_SAMPLER_UNIPC);
    CHECK(oma_sampler_parse_a1111("DPM++ 3M SDE", "", &k) == -1);

    exactness(OMA_SAMPLER_DDIM, 4);
    exactness(OMA_SAMPLER_DDIM, 20);
    exactness(OMA_SAMPLER_DPMPP_2M_KARRAS, 4);
    exactness(OMA_SAMPLER_DPMPP_2M_KARRAS, 20);
    exactness(OMA_SAMPLER_EULER_A, 4);
    /* the deterministic newcomers: Euler, Heun (2 evaluations a step), DPM2 (final), LMS (its
     * integrated coefficients must sum to the step: any error shows), DPM++ 2M, UniPC, PLMS */
    exactness(OMA_SAMPLER_EULER, 4);
    exactness(OMA_SAMPLER_EULER, 20);
    exactness(OMA_SAMPLER_HEUN, 4);
    exactness(OMA_SAMPLER_DPM2, 4);
    exactness(OMA_SAMPLER_LMS, 4);
    exactness(OMA_SAMPLER_LMS, 20);
    exactness(OMA_SAMPLER_DPMPP_2M, 4);
    exactness(OMA_SAMPLER_UNIPC, 4);
    exactness(OMA_SAMPLER_UNIPC, 20);
    exactness(OMA_SAMPLER_PLMS, 4);
    exactness(OMA_SAMPLER_PLMS, 20);
    euler_last_step();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_sampler: ok\n");
    return 0;
}
