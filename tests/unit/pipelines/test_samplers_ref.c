/* test_samplers_ref.c — samplers end to end against diffusers' own scheduler classes on the tiny
 * SD model: the cases marked e2e in samplers_cases.h (one or two per family: float UNet timesteps,
 * two-evaluation steps, noise draws, img2img; every case is checked step by step on the scheduler
 * alone by test_samplers_steps.c; an argument runs the cases whose name contains it) (tests/fixtures/sd/samplers, made by tools/make_sampler_fixtures.py: diffusers v0.21.4, LCM and
 * TCD from v0.27.2). Each case: the scheduler config file read by the engine's JSON reader (SD
 * 1.5's own, which states no spacing / prediction type; Moore-AnimateAnyone's v-prediction +
 * trailing + zero-SNR + linear betas; "sample" + linspace; v-prediction + leading), our
 * txt2img loop with the reference's seed, steps and CFG 7.5 on the reference's text embeddings
 * (i2i_*: img2img of ref/init.png at strength 0.55, as StableDiffusionImg2ImgPipeline);
 * checked: the UNet timesteps as diffusers passed them (within 1e-3) and the final latents,
 * max abs err <= 2e-5 * (1 + max |ref|) as the other SD tests (noise-drawing samplers included:
 * their noise comes from our torch-compatible generator in diffusers' order). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/sd/sd_checkpoint_internal.h"
#include "pipelines/generate/generate.h"
#include "tensor/threadpool.h"

#include "samplers_cases.h"
#include "sd_fixture_harness.h"

static oma_image init_img;


static void run_ref(oma_sd_model *m, const sd_case *base, const ref_case *rc)
{
    char path[2048], err[512], rel[256];
    oma_sd_config cfg;
    oma_sd_config_defaults(&cfg);
    snprintf(path, sizeof path, "%s/samplers/%s.json", root, rc->config);
    if (sd_parse_scheduler_config(path, &cfg.scheduler, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", rc->file, err);
        failures++;
        return;
    }
    m->cfg.scheduler = cfg.scheduler;
    snprintf(rel, sizeof rel, "samplers/%s.safetensors", rc->file);
    oma_safetensors *ref = open_st(rel);
    float want[256], ts_ref[32];
    CHECK(read_ref(ref, "final_latents", want, 256) == 0);
    const oma_st_tensor *tt = oma_st_find(ref, "timesteps");
    int nts = tt ? (int)tt->numel : 0;
    CHECK(nts > 0 && nts <= 32 && read_ref(ref, "timesteps", ts_ref, (size_t)nts) == 0);

    /* the schedule: timesteps as diffusers handed them to the UNet */
    oma_scheduler s;
    CHECK(oma_scheduler_init(&s, rc->kind, &m->cfg.scheduler, rc->steps, err, sizeof err) == 0);
    int start = rc->strength > 0 ? oma_scheduler_img2img_start(&s, rc->strength) : 0;
    int ts_ok = s.n - start == nts;
    for (int i = 0; ts_ok && i < nts; i++)
        ts_ok = fabsf(oma_scheduler_timestep_f(&s, start + i) - ts_ref[i]) <= 1e-3f;
    if (!ts_ok) {
        fprintf(stderr, "  %s: timesteps differ (%d vs %d):", rc->file, s.n, nts);
        for (int i = 0; i < s.n && i < 32; i++) fprintf(stderr, " %g", (double)oma_scheduler_timestep_f(&s, i));
        fprintf(stderr, "\n");
    }
    CHECK(ts_ok);
    oma_scheduler_free(&s);

    oma_generate_params p = base->p;
    p.sampler = rc->kind;
    p.seed = (uint64_t)rc->seed;
    p.steps = rc->steps;
    p.init = rc->strength > 0 ? &init_img : NULL;
    p.strength = rc->strength;
    float lat[256];
    oma_image out = {0};
    int r = oma_generate_embeds(m, &p, &base->neg, &base->pos, &out, lat, err, sizeof err);
    CHECK(r == 0);
    if (r == 0) {
        double maxerr = 0, maxref = 0;
        for (int i = 0; i < 256; i++) {
            maxref = fmax(maxref, fabs(want[i]));
            maxerr = fmax(maxerr, fabs((double)lat[i] - want[i]));
        }
        int ok = maxerr <= 2e-5 * (1 + maxref);
        printf("  %-26s %-20s final latents max err %.3g (max |ref| %.3g) %s\n", rc->file,
               oma_sampler_name(rc->kind), maxerr, maxref, ok ? "ok" : "FAIL");
        CHECK(ok);
        oma_image_free(&out);
    } else {
        fprintf(stderr, "%s: %s\n", rc->file, err);
    }
    oma_st_close(ref);
}

int main(int argc, char **argv)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    snprintf(root, sizeof root, "%s/tests/fixtures/sd", src ? src : ".");
    f_unet = open_st("tiny-sd/unet/diffusion_pytorch_model.safetensors");
    f_vae = open_st("tiny-sd/vae/diffusion_pytorch_model.safetensors");
    oma_sd_model m;
    memset(&m, 0, sizeof m);
    tiny_config(&m.cfg);
    oma_weights w = {.ctx = NULL, .read = fx_read, .has = fx_has};
    char err[512];
    CHECK(oma_unet_load(&m.unet, &w, "unet", &m.cfg.unet, err, sizeof err) == 0);
    CHECK(oma_vae_load(&m.vae, &w, "vae", &m.cfg.vae, 1, err, sizeof err) == 0);
    m.has_encoder = 1;
    (void)latent_error;
    (void)image_diff;
    if (m.unet.loaded && m.vae.loaded) {
        sd_case base;    /* the embeddings and 64x64 CFG 7.5 params of the reference runs */
        char path[2048];
        snprintf(path, sizeof path, "%s/ref/init.png", root);
        CHECK(oma_image_load(path, 3, NULL, &init_img, err, sizeof err) == 0);
        if (case_open(&base, "txt2img_ddim.safetensors", OMA_SAMPLER_DDIM, 0, NULL, 0) == 0) {
            for (size_t i = 0; i < N_CASES; i++)
                if (argc < 2 ? cases[i].e2e : strstr(cases[i].file, argv[1]) != NULL) run_ref(&m, &base, &cases[i]);
            case_close(&base);
        }
        oma_image_free(&init_img);
    }
    oma_unet_free(&m.unet);
    oma_vae_free(&m.vae);
    oma_st_close(f_unet);
    oma_st_close(f_vae);
    oma_threads_shutdown();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("%s: ok\n", argv[0]);
    return 0;
}

