/* test_generate_fast.c — no guidance at cfg <= 1 (issue 15) against diffusers 0.21.4 on the
 * tiny SD fixtures (tests/fixtures/sd/fast, made by tools/make_fast_fixtures.py): diffusers then
 * runs the UNet on the prompt alone (do_classifier_free_guidance = guidance_scale > 1; the
 * conditional prediction is the step's eps, whatever the value <= 1): txt2img DDIM / Euler a /
 * DPM++ 2M Karras and img2img DDIM at cfg 1, and DDIM at cfg 0.5 against the same reference
 * (before the change cfg 0.5 mixed in the unconditional prediction: far off).
 * Tolerances as test_generate.c: final latents max abs err <= 2e-5 * (1 + max |ref|); 8-bit
 * images mean abs difference <= 0.5, max <= 2 of 255. The six img2img candidates are
 * test_generate_candidates.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/image.h"
#include "formats/safetensors.h"
#include "pipelines/generate/generate.h"
#include "tensor/threadpool.h"

#include "sd_fast_harness.h"

static void cfg1_case(const oma_sd_model *m, const char *file, oma_sampler_kind kind, int seed, float cfg,
                      const oma_image *init)
{
    oma_generate_params p;
    params(&p, kind, seed, cfg, 4);
    p.init = init;
    p.strength = 0.55f;
    float lat[PER];
    oma_image out = {0};
    char err[512];
    int rc = oma_generate_embeds(m, &p, &t_neg, &t_pos, &out, lat, err, sizeof err);
    CHECK(rc == 0);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", file, err);
        return;
    }
    printf("  cfg %.1f:", (double)cfg);
    CHECK(compare_ref(file, 1, lat, &out));
    oma_image_free(&out);
}

int main(void)
{
    oma_sd_model m;
    oma_image init = {0};
    if (fast_setup(&m, &init) == 0) {
        cfg1_case(&m, "cfg1_txt2img_ddim.safetensors", OMA_SAMPLER_DDIM, 2001, 1.0f, NULL);
        cfg1_case(&m, "cfg1_txt2img_ddim.safetensors", OMA_SAMPLER_DDIM, 2001, 0.5f, NULL);
        cfg1_case(&m, "cfg1_txt2img_euler_a.safetensors", OMA_SAMPLER_EULER_A, 2002, 1.0f, NULL);
        cfg1_case(&m, "cfg1_txt2img_dpmpp_2m_karras.safetensors", OMA_SAMPLER_DPMPP_2M_KARRAS, 2003, 1.0f, NULL);
        cfg1_case(&m, "cfg1_img2img_ddim.safetensors", OMA_SAMPLER_DDIM, 2010, 1.0f, &init);
    }
    return fast_teardown(&m, &init, "test_generate_fast");
}
