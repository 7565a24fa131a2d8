/* test_samplers_steps.c — every sampler case of tests/fixtures/sd/samplers step by step, on the
 * scheduler alone: set up from the case's scheduler config file (read by the engine's JSON
 * reader), the starting latents diffusers had, then each step fed the guided model output
 * diffusers' UNet gave at that step (stepN.model_output), our latents carried from step to step.
 * Checked: the timesteps as diffusers passed them to the UNet (within 1e-3), the initial noise
 * scale, and the latents after every step, max abs err <= 2e-5 * (1 + max |ref|) (the SD tests'
 * tolerance). Samplers that draw noise draw it from a generator seeded as the reference's, after
 * the draws the pipeline made first (txt2img: the initial noise; img2img: posterior + noise).
 * No UNet runs, so the whole table takes well under a second; test_samplers_ref.c runs some of
 * the cases end to end. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/safetensors.h"
#include "models/sd/sd_checkpoint_internal.h"

#include "check.h"
#include "samplers_cases.h"

#define PER 256

static char root[1024];

static int read_t(oma_safetensors *st, const char *name, float *dst, size_t n)
{
    const oma_st_tensor *t = oma_st_find(st, name);
    char err[256];
    if (!t || (size_t)t->numel != n) return -1;
    return oma_st_read_f32(t, dst, n, err, sizeof err);
}

static double maxabs(const float *a, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i]));
    return m;
}

static void run_case(const ref_case *rc)
{
    char path[2048], err[512];
    oma_sd_config cfg;
    oma_sd_config_defaults(&cfg);
    snprintf(path, sizeof path, "%s/samplers/%s.json", root, rc->config);
    if (sd_parse_scheduler_config(path, &cfg.scheduler, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", rc->file, err);
        failures++;
        return;
    }
    snprintf(path, sizeof path, "%s/samplers/%s.safetensors", root, rc->file);
    oma_safetensors *st = NULL;
    if (oma_st_open(path, &st, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", path, err);
        failures++;
        return;
    }
    oma_scheduler s;
    if (oma_scheduler_init(&s, rc->kind, &cfg.scheduler, rc->steps, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", rc->file, err);
        failures++;
        oma_st_close(st);
        return;
    }
    float ts[64], x[PER], noise[PER], m[PER], want[PER];
    const oma_st_tensor *tt = oma_st_find(st, "timesteps");
    int nts = tt ? (int)tt->numel : 0;
    int start = rc->strength > 0 ? oma_scheduler_img2img_start(&s, rc->strength) : 0;
    int ok = nts > 0 && nts <= 64 && read_t(st, "timesteps", ts, (size_t)nts) == 0 && s.n - start == nts;
    for (int i = 0; ok && i < nts; i++) ok = fabsf(oma_scheduler_timestep_f(&s, start + i) - ts[i]) <= 1e-3f;
    if (!ok) fprintf(stderr, "  %s: timesteps differ (n %d, start %d, reference %d)\n", rc->file, s.n, start, nts);
    CHECK(ok);
    /* the generator as the pipeline left it, and the starting latents */
    oma_rng rng;
    oma_rng_seed(&rng, (uint64_t)rc->seed);
    oma_rng_randn(&rng, noise, PER);
    if (rc->strength > 0) oma_rng_randn(&rng, noise, PER);
    float ref_noise[PER];
    CHECK(read_t(st, "noise", ref_noise, PER) == 0 && read_t(st, "start_latents", want, PER) == 0);
    double nerr = 0;
    for (int k = 0; k < PER; k++) nerr = fmax(nerr, fabs(noise[k] - ref_noise[k]));
    CHECK(nerr <= 1e-5);                 /* our generator drew what torch drew */
    if (rc->strength > 0) {
        memcpy(x, want, sizeof x);       /* add_noise of the posterior sample: test_samplers_ref */
    } else {
        float sg = (float)oma_scheduler_init_sigma(&s);
        for (int k = 0; k < PER; k++) x[k] = noise[k] * sg;
        double e = 0;
        for (int k = 0; k < PER; k++) e = fmax(e, fabs(x[k] - want[k]));
        CHECK(e <= 1e-5 * (1 + maxabs(want, PER)));
    }
    double worst = 0, worst_rel = 0;
    int steps_ok = ok;
    for (int i = 0; steps_ok && i < nts; i++) {
        char name[64];
        snprintf(name, sizeof name, "step%d.model_output", i);
        if (read_t(st, name, m, PER) != 0) break;
        snprintf(name, sizeof name, "step%d.latents", i);
        if (read_t(st, name, want, PER) != 0) break;
        if (oma_scheduler_step(&s, start + i, m, x, 1, PER, &rng) != 0) {
            steps_ok = 0;
            break;
        }
        double e = 0, mr = maxabs(want, PER);
        for (int k = 0; k < PER; k++) e = fmax(e, fabs(x[k] - want[k]));
        worst = fmax(worst, e);
        worst_rel = fmax(worst_rel, e / (1 + mr));
        if (!(e <= 2e-5 * (1 + mr))) {
            fprintf(stderr, "  %s: step %d off by %.3g (max |ref| %.3g)\n", rc->file, i, e, mr);
            steps_ok = 0;
        }
    }
    printf("  %-26s %-20s %2d steps, worst step err %.3g (%.2g of 1+max|ref|) %s\n", rc->file,
           oma_sampler_name(rc->kind), nts, worst, worst_rel, steps_ok ? "ok" : "FAIL");
    CHECK(steps_ok);
    oma_scheduler_free(&s);
    oma_st_close(st);
}

/* The JSON reader says which fields a file states: SD 1.5's own config states no spacing or
 * prediction type; Moore's states clip_sample but not set_alpha_to_one, and zero-SNR. */
static void reader_flags(void)
{
    char path[2048], err[256];
    oma_sd_config c;
    oma_sd_config_defaults(&c);
    snprintf(path, sizeof path, "%s/samplers/sd15.json", root);
    CHECK(sd_parse_scheduler_config(path, &c.scheduler, err, sizeof err) == 0);
    CHECK(!c.scheduler.timestep_spacing_set && !c.scheduler.prediction_type_set);
    CHECK(c.scheduler.set_alpha_to_one_set && c.scheduler.clip_sample_set && !c.scheduler.rescale_betas_zero_snr);
    oma_sd_config_defaults(&c);
    snprintf(path, sizeof path, "%s/samplers/vtz.json", root);
    CHECK(sd_parse_scheduler_config(path, &c.scheduler, err, sizeof err) == 0);
    CHECK(c.scheduler.timestep_spacing_set && !strcmp(c.scheduler.timestep_spacing, "trailing"));
    CHECK(c.scheduler.prediction_type_set && !strcmp(c.scheduler.prediction_type, "v_prediction"));
    CHECK(!c.scheduler.set_alpha_to_one_set && c.scheduler.clip_sample_set && c.scheduler.rescale_betas_zero_snr);
    CHECK(!strcmp(c.scheduler.beta_schedule, "linear"));
}

int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    snprintf(root, sizeof root, "%s/tests/fixtures/sd", src ? src : ".");
    reader_flags();
    for (size_t i = 0; i < N_CASES; i++) run_case(&cases[i]);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_samplers_steps: ok\n");
    return 0;
}
