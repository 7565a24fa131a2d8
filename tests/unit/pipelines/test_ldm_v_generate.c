/* test_ldm_v_generate.c — a v-prediction single file with its LDM yaml beside it, end to end:
 * tests/fixtures/sd_cfg/ldm-v/tiny-ldm-v.safetensors opened by path alone (the yaml beside is
 * picked up), 4 DDIM steps at its 64x64 (latent 16x16, VAE factor 4, scaling factor 0.2), against
 * what diffusers v0.21.4 draws after converting the same file with the same yaml
 * (tests/fixtures/sd_cfg/ref/ldm_v_txt2img_64x64_ddim, tools/make_cfg_fixtures.py). Text
 * embeddings are the reference's; tolerances as test_generate.c (latents max abs err <=
 * 2e-5 * (1 + max |ref|), image mean <= 0.5, max <= 2 of 255). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/safetensors.h"
#include "pipelines/generate/generate.h"

#include "check.h"

static int read_t(oma_safetensors *st, const char *name, float *dst, size_t n)
{
    char err[256];
    const oma_st_tensor *t = st ? oma_st_find(st, name) : NULL;
    if (!t || (size_t)t->numel != n) {
        fprintf(stderr, "reference %s missing or of the wrong size\n", name);
        return -1;
    }
    return oma_st_read_f32(t, dst, n, err, sizeof err);
}

int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    src = src ? src : ".";
    char path[2048], err[512];
    static float emb[2 * 77 * 48], want_lat[4 * 16 * 16], lat[4 * 16 * 16], want_img[64 * 64 * 3];
    oma_safetensors *e = NULL, *r = NULL;
    snprintf(path, sizeof path, "%s/tests/fixtures/sd/ref/txt2img_ddim.safetensors", src);
    CHECK(oma_st_open(path, &e, err, sizeof err) == 0);
    snprintf(path, sizeof path, "%s/tests/fixtures/sd_cfg/ref/ldm_v_txt2img_64x64_ddim.safetensors", src);
    CHECK(oma_st_open(path, &r, err, sizeof err) == 0);
    if (read_t(e, "prompt_embeds", emb, 2 * 77 * 48) || read_t(r, "final_latents", want_lat, 1024) ||
        read_t(r, "image_u8", want_img, 64 * 64 * 3)) {
        oma_st_close(e);
        oma_st_close(r);
        return 1;
    }
    oma_st_close(e);
    oma_st_close(r);
    snprintf(path, sizeof path, "%s/tests/fixtures/sd_cfg/ldm-v/tiny-ldm-v.safetensors", src);
    oma_sd_model m;
    if (oma_sd_model_load(path, NULL, 0, &m, err, sizeof err) != 0) {
        fprintf(stderr, "load: %s\n", err);
        return 1;
    }
    CHECK(!strcmp(m.cfg.scheduler.prediction_type, "v_prediction"));
    oma_tensor neg, pos;
    oma_tensor_view(&neg, emb, 3, (int64_t[]){1, 77, 48});
    oma_tensor_view(&pos, emb + 77 * 48, 3, (int64_t[]){1, 77, 48});
    oma_generate_params p;
    oma_generate_defaults(&p);
    p.prompt = "(embeddings given)";
    p.steps = 4;
    p.cfg = 7.5f;
    p.sampler = OMA_SAMPLER_DDIM;
    p.seed = 2005;
    p.width = p.height = 64;
    oma_image img = {0};
    int rc = oma_generate_embeds(&m, &p, &neg, &pos, &img, lat, err, sizeof err);
    CHECK(rc == 0);
    if (rc == 0) {
        double maxerr = 0, maxref = 0, sum = 0, mx = 0;
        for (int i = 0; i < 1024; i++) {
            maxref = fmax(maxref, fabs(want_lat[i]));
            maxerr = fmax(maxerr, fabs((double)lat[i] - want_lat[i]));
        }
        for (int i = 0; i < 64 * 64 * 3; i++) {
            double d = fabs((double)img.px[i] - want_img[i]);
            sum += d;
            mx = fmax(mx, d);
        }
        int ok = maxerr <= 2e-5 * (1 + maxref) && sum / (64 * 64 * 3) <= 0.5 && mx <= 2;
        printf("  ldm-v (yaml beside, v-prediction) DDIM 64x64: latents max err %.3g (max |ref| %.3g); image mean "
               "%.3f max %.0f %s\n",
               maxerr, maxref, sum / (64 * 64 * 3), mx, ok ? "ok" : "FAIL");
        CHECK(ok);
        oma_image_free(&img);
    } else {
        fprintf(stderr, "generate: %s\n", err);
    }
    oma_sd_model_free(&m);
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures != 0;
}
