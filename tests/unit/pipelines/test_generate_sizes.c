/* test_generate_sizes.c — any multiple of 8, and the latent factor from the VAE config, against
 * diffusers 0.21.4's own pipelines (tests/fixtures/sd_cfg, tools/make_cfg_fixtures.py):
 *   - tiny-sd at 96x64 (DDIM) and 72x120 (Euler a) txt2img, 72x120 img2img (DDIM): latents the
 *     UNet's downsamplers do not divide, so the upsamplers must interpolate to the skips' sizes;
 *   - tiny-f4 (VAE with 3 blocks: factor 4, scaling factor 0.13025; a 2-block UNet) at 88x72.
 * Text embeddings are the reference's (order [negative, prompt]); the rest of the loop is ours.
 * Tolerances as test_generate.c: final latents max abs err <= 2e-5 * (1 + max |ref|), 8-bit image
 * mean abs difference <= 0.5 and max <= 2 of 255.
 * Then the rules: the default size is the model's (unet sample_size x factor; img2img the
 * picture's), and sizes that are not multiples of 8 or out of 64..2048 are refused clearly. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/image.h"
#include "formats/safetensors.h"
#include "pipelines/generate/generate.h"
#include "tensor/threadpool.h"

#include "check.h"

static char src_dir[1024];
static float emb[2 * 77 * 48];

static int read_t(oma_safetensors *st, const char *name, float *dst, size_t n)
{
    char err[256];
    const oma_st_tensor *t = oma_st_find(st, name);
    if (!t || (size_t)t->numel != n) {
        fprintf(stderr, "reference %s missing or of the wrong size\n", name);
        return -1;
    }
    return oma_st_read_f32(t, dst, n, err, sizeof err);
}

static int load(const char *rel, int encoder, oma_sd_model *m)
{
    char path[2048], err[512];
    snprintf(path, sizeof path, "%s/%s", src_dir, rel);
    if (oma_sd_model_load(path, NULL, encoder ? OMA_SD_LOAD_ENCODER : 0, m, err, sizeof err) != 0) {
        fprintf(stderr, "load %s: %s\n", rel, err);
        return -1;
    }
    return 0;
}

static void run_case(const oma_sd_model *m, const char *name, oma_sampler_kind kind, int seed, int W, int H,
                     const oma_image *init)
{
    char path[2048], err[512];
    snprintf(path, sizeof path, "%s/tests/fixtures/sd_cfg/ref/%s.safetensors", src_dir, name);
    oma_safetensors *ref = NULL;
    if (oma_st_open(path, &ref, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", path, err);
        CHECK(!"reference missing");
        return;
    }
    int F = oma_generate_latent_factor(m);
    size_t nl = (size_t)4 * (H / F) * (W / F), ni = (size_t)W * H * 3;
    float *want_lat = malloc(nl * sizeof(float)), *lat = malloc(nl * sizeof(float));
    float *want_img = malloc(ni * sizeof(float));
    CHECK(want_lat && lat && want_img);
    if (!want_lat || !lat || !want_img || read_t(ref, "final_latents", want_lat, nl) != 0 ||
        read_t(ref, "image_u8", want_img, ni) != 0) {
        CHECK(!"reference unreadable");
        goto out;
    }
    oma_tensor neg, pos;
    oma_tensor_view(&neg, emb, 3, (int64_t[]){1, 77, 48});
    oma_tensor_view(&pos, emb + 77 * 48, 3, (int64_t[]){1, 77, 48});
    oma_generate_params p;
    oma_generate_defaults(&p);
    p.prompt = "(embeddings given)";
    p.steps = 4;
    p.cfg = 7.5f;
    p.sampler = kind;
    p.seed = (uint64_t)seed;
    p.width = W;
    p.height = H;
    p.init = init;
    p.strength = 0.55f;
    oma_image img = {0};
    int rc = oma_generate_embeds(m, &p, &neg, &pos, &img, lat, err, sizeof err);
    CHECK(rc == 0);
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", name, err);
        goto out;
    }
    CHECK(img.w == W && img.h == H);
    double maxerr = 0, maxref = 0, sum = 0, mx = 0;
    for (size_t i = 0; i < nl; i++) {
        maxref = fmax(maxref, fabs(want_lat[i]));
        maxerr = fmax(maxerr, fabs((double)lat[i] - want_lat[i]));
    }
    if (img.w == W && img.h == H)
        for (size_t i = 0; i < ni; i++) {
            double d = fabs((double)img.px[i] - want_img[i]);
            sum += d;
            mx = fmax(mx, d);
        }
    int ok = maxerr <= 2e-5 * (1 + maxref) && sum / (double)ni <= 0.5 && mx <= 2;
    printf("  %-26s %3dx%-3d latent %dx%d: latents max err %.3g (max |ref| %.3g); image mean %.3f max %.0f %s\n",
           name, W, H, W / F, H / F, maxerr, maxref, sum / (double)ni, mx, ok ? "ok" : "FAIL");
    CHECK(ok);
    oma_image_free(&img);
out:
    free(want_lat);
    free(lat);
    free(want_img);
    oma_st_close(ref);
}

static void check_refused(int w, int h, const char *want)
{
    oma_generate_params p;
    oma_generate_defaults(&p);
    p.width = w;
    p.height = h;
    char err[256] = "";
    int rc = oma_generate_check(&p, err, sizeof err);
    CHECK(rc != 0 && strstr(err, want) != NULL);
    printf("  %4dx%-4d refused: %s\n", w, h, err);
}

static void check_sizes_rule(const oma_sd_model *tiny, const oma_sd_model *f4)
{
    oma_generate_params p;
    char err[256];
    oma_generate_defaults(&p);
    CHECK(p.width == 0 && p.height == 0 && oma_generate_check(&p, err, sizeof err) == 0);
    for (int v = 64; v <= 2048; v += 8) {
        p.width = v;
        p.height = 2112 - v;
        CHECK(oma_generate_check(&p, err, sizeof err) == 0);
    }
    check_refused(100, 64, "width 100: must be a multiple of 8 from 64 to 2048");
    check_refused(64, 60, "height 60");
    check_refused(56, 64, "width 56");
    check_refused(64, 2056, "height 2056");
    /* defaults: unet sample_size x the VAE factor (8 x 8 and 16 x 4), img2img the picture's */
    CHECK(oma_generate_latent_factor(tiny) == 8 && oma_generate_latent_factor(f4) == 4);
    oma_generate_defaults(&p);
    oma_generate_resolve_size(tiny, &p);
    CHECK(p.width == 64 && p.height == 64);
    oma_generate_defaults(&p);
    p.height = 96;
    oma_generate_resolve_size(f4, &p);
    CHECK(p.width == 64 && p.height == 96);
    oma_image pic = {203, 75, 3, NULL};
    oma_generate_defaults(&p);
    p.init = &pic;
    oma_generate_resolve_size(tiny, &p);
    CHECK(p.width == 200 && p.height == 72);
    oma_image huge = {5000, 1000, 3, NULL};
    p.width = p.height = 0;
    p.init = &huge;
    oma_generate_resolve_size(tiny, &p);
    CHECK(p.width == 2048 && p.height == 408);
    printf("  defaults: tiny-sd 64x64, tiny-f4 64 wide, img2img 203x75 -> 200x72, 5000x1000 -> 2048x408\n");
}

int main(void)
{
    const char *s = getenv("OMA_SOURCE_DIR");
    snprintf(src_dir, sizeof src_dir, "%s", s ? s : ".");
    char path[2048], err[512];
    snprintf(path, sizeof path, "%s/tests/fixtures/sd/ref/txt2img_ddim.safetensors", src_dir);
    oma_safetensors *e = NULL;
    if (oma_st_open(path, &e, err, sizeof err) != 0 || read_t(e, "prompt_embeds", emb, 2 * 77 * 48) != 0) {
        fprintf(stderr, "%s: %s\n", path, err);
        return 1;
    }
    oma_st_close(e);
    oma_sd_model tiny, f4;
    if (load("tests/fixtures/sd/tiny-sd", 1, &tiny) != 0) return 1;
    if (load("tests/fixtures/sd_cfg/tiny-f4", 0, &f4) != 0) {
        oma_sd_model_free(&tiny);
        return 1;
    }
    run_case(&tiny, "txt2img_96x64_ddim", OMA_SAMPLER_DDIM, 2001, 96, 64, NULL);
    run_case(&tiny, "txt2img_72x120_euler_a", OMA_SAMPLER_EULER_A, 2002, 72, 120, NULL);
    oma_image init = {0};
    snprintf(path, sizeof path, "%s/tests/fixtures/sd_cfg/ref/init_72x120.png", src_dir);
    CHECK(oma_image_load(path, 3, NULL, &init, err, sizeof err) == 0);
    if (init.px) run_case(&tiny, "img2img_72x120_ddim", OMA_SAMPLER_DDIM, 2003, 72, 120, &init);
    oma_image_free(&init);
    run_case(&f4, "f4_txt2img_88x72_ddim", OMA_SAMPLER_DDIM, 2004, 88, 72, NULL);
    check_sizes_rule(&tiny, &f4);
    oma_sd_model_free(&tiny);
    oma_sd_model_free(&f4);
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures != 0;
}
