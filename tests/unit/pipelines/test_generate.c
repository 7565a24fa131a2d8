/* test_generate.c — complete txt2img runs (DDIM, Euler a, DPM++ 2M Karras; 4 steps, CFG 7.5)
 * and an img2img run (DDIM, strength 0.55) against diffusers 0.21.4's on the tiny SD fixtures
 * (tests/fixtures/sd/ref/txt2img_*.safetensors, img2img_ddim.safetensors).
 * The text embeddings come from the reference (prompt_embeds, order [negative, prompt]); the
 * noise comes from our torch-compatible generator with the reference's seed, so the whole loop
 * is checked: noise, init sigma, input scaling, UNet, CFG, sampler steps (Euler a drawing its
 * step noise from the same generator), posterior sampling for img2img, VAE decode, 8-bit
 * conversion. Tolerances: final latents max abs err <= 2e-5 * (1 + max |ref|) (measured
 * 1e-5..2e-4 on latents up to 54); 8-bit images: mean abs difference <= 0.5 and max <= 2 of
 * 255 (measured: mean 0.000, max 1). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/image.h"
#include "formats/safetensors.h"
#include "pipelines/generate/generate.h"
#include "tensor/threadpool.h"

#include "sd_fixture_harness.h"

static void run_case(const oma_sd_model *m, const char *file, oma_sampler_kind kind, int seed,
                     const oma_image *init, float strength)
{
    sd_case c;
    if (case_open(&c, file, kind, seed, init, strength) != 0) return;
    char err[512];
    float lat[256];
    oma_image out = {0};
    int rc = oma_generate_embeds(m, &c.p, &c.neg, &c.pos, &out, lat, err, sizeof err);
    CHECK(rc == 0);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", file, err);
        case_close(&c);
        return;
    }
    double maxerr, maxref, mean, mx;
    latent_error(&c, lat, &maxerr, &maxref);
    image_diff(&out, c.img_ref, &mean, &mx);
    int ok = maxerr <= 2e-5 * (1 + maxref) && mean <= 0.5 && mx <= 2;
    printf("  %-32s final latents max err %.3g (max |ref| %.3g); image mean %.3f max %.0f of 255 %s\n", file,
           maxerr, maxref, mean, mx, ok ? "ok" : "FAIL");
    CHECK(ok);
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
    if (m.unet.loaded && m.vae.loaded) {
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
    printf("test_generate: ok\n");
    return 0;
}
