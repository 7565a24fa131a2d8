/* test_generate_bf16.c — the opt-in bf16 compute mode (oma_precision_set("bf16"): 3x3
 * convolutions and large matrix products with bf16 inputs/weights and f32 accumulation) on the
 * same complete runs as test_generate.c (tiny SD fixtures, diffusers 0.21.4 reference, 4 steps,
 * CFG 7.5, DDIM / Euler a / DPM++ 2M Karras txt2img and DDIM img2img at strength 0.55).
 * bf16 keeps 8 significant bits, so this is not a conformance test: it guards against the mode
 * silently breaking (wrong layout, wrong operand, garbage) with a loose bound on the 8-bit
 * images against the reference: mean abs difference <= 2 and max <= 16 of 255 (measured on
 * AVX512_BF16: mean 0.52-0.61, max 4-6; fp32 gives mean 0.000, max 1), and final latents
 * within 0.03 * (1 + max |ref|) (measured 0.008 relative at most). Each case also runs in fp32 first and
 * prints how far bf16 lands from our own fp32 image. Skipped (passes) where the build has no
 * oneDNN. The default (fp32) mode's tolerances stay test_generate.c's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/image.h"
#include "formats/safetensors.h"
#include "pipelines/generate/generate.h"
#include "tensor/backend.h"
#include "tensor/threadpool.h"

/* loose bounds for bf16 vs the fp32 reference, 8-bit images (measured: see the header) */
#define BF16_MEAN 2.0
#define BF16_MAX 16.0
#define BF16_LAT 0.03   /* final latents: max abs err <= BF16_LAT * (1 + max |ref|) */

#include "sd_fixture_harness.h"

static void run_case(const oma_sd_model *m, const char *file, oma_sampler_kind kind, int seed,
                     const oma_image *init, float strength)
{
    sd_case c;
    if (case_open(&c, file, kind, seed, init, strength) != 0) return;
    char err[512];
    float lat[256];
    oma_image out = {0}, out32 = {0};
    CHECK(oma_precision_set("fp32") == 0);
    int rc = oma_generate_embeds(m, &c.p, &c.neg, &c.pos, &out32, lat, err, sizeof err);
    CHECK(rc == 0);
    CHECK(oma_precision_set("bf16") == 0);
    if (rc == 0) rc = oma_generate_embeds(m, &c.p, &c.neg, &c.pos, &out, lat, err, sizeof err);
    CHECK(rc == 0);
    oma_precision_set("fp32");
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", file, err);
        oma_image_free(&out32);
        case_close(&c);
        return;
    }
    double maxerr, maxref, mean, mx, mean32 = 0, mx32 = 0;
    latent_error(&c, lat, &maxerr, &maxref);
    image_diff(&out, c.img_ref, &mean, &mx);
    float *own = malloc(sizeof(float) * 64 * 64 * 3);   /* our fp32 image, as floats */
    CHECK(own != NULL);
    if (own) {
        for (int i = 0; i < 64 * 64 * 3; i++) own[i] = out32.px[i];
        image_diff(&out, own, &mean32, &mx32);
        free(own);
    }
    int ok = maxerr <= BF16_LAT * (1 + maxref) && mean <= BF16_MEAN && mx <= BF16_MAX;
    printf("  %-32s bf16: latents max err %.3g (max |ref| %.3g); image vs reference mean %.3f max %.0f, "
           "vs our fp32 mean %.3f max %.0f of 255 %s\n", file, maxerr, maxref, mean, mx, mean32, mx32,
           ok ? "ok" : "FAIL");
    CHECK(ok);
    oma_image_free(&out32);
    oma_image_free(&out);
    case_close(&c);
}


int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    snprintf(root, sizeof root, "%s/tests/fixtures/sd", src ? src : ".");
    f_unet = open_st("tiny-sd/unet/diffusion_pytorch_model.safetensors");
    f_vae = open_st("tiny-sd/vae/diffusion_pytorch_model.safetensors");
    oma_sd_model m;
    memset(&m, 0, sizeof m);
    tiny_config(&m.cfg);
    oma_weights w = {.ctx = NULL, .read = fx_read, .has = fx_has};
    char err[512], path[2048];
    CHECK(oma_unet_load(&m.unet, &w, "unet", &m.cfg.unet, err, sizeof err) == 0);
    CHECK(oma_vae_load(&m.vae, &w, "vae", &m.cfg.vae, 1, err, sizeof err) == 0);
    m.has_encoder = 1;
    /* seeds as tools/make_sd_fixtures.py sets them (1000 + len(sampler key); img2img 77), also in
     * ref/index.json (which jansson cannot read: it holds a -Infinity) */
    int have_bf16 = oma_precision_set("bf16") == 0;
    if (!have_bf16) printf("test_generate_bf16: skipped (no bf16 mode in this build: oneDNN missing)\n");
    oma_precision_set("fp32");
    if (have_bf16 && m.unet.loaded && m.vae.loaded) {
        run_case(&m, "txt2img_ddim.safetensors", OMA_SAMPLER_DDIM, 1004, NULL, 0);
        run_case(&m, "txt2img_euler_a.safetensors", OMA_SAMPLER_EULER_A, 1007, NULL, 0);
        run_case(&m, "txt2img_dpmpp_2m_karras.safetensors", OMA_SAMPLER_DPMPP_2M_KARRAS, 1015, NULL, 0);
        oma_image init = {0};
        snprintf(path, sizeof path, "%s/ref/init.png", root);
        CHECK(oma_image_load(path, 3, NULL, &init, err, sizeof err) == 0);
        run_case(&m, "img2img_ddim.safetensors", OMA_SAMPLER_DDIM, 77, &init, 0.55f);
        oma_image_free(&init);
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
    printf("test_generate_bf16: ok\n");
    return 0;
}
