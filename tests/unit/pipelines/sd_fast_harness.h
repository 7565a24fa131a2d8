/* sd_fast_harness.h — what test_generate_fast.c and test_generate_candidates.c share: the
 * tiny model loaded from tests/fixtures/sd, the reference text embeddings, a comparison with a
 * tests/fixtures/sd/fast reference (made by tools/make_fast_fixtures.py) and the run's params.
 * Included by exactly those single-file tests, after sd_fixture_harness.h. */
#ifndef OMA_TEST_SD_FAST_HARNESS_H
#define OMA_TEST_SD_FAST_HARNESS_H

#include "sd_fixture_harness.h"

#define PER 256                 /* 4 x 8 x 8 latents */
#define NPX (64 * 64 * 3)

static float emb[2 * 77 * 48];
static oma_tensor t_neg, t_pos;

/* Compares n candidates' latents and images with fast/<file>; returns 1 when within bounds. */
static int compare_ref(const char *file, int n, const float *lat, const oma_image *imgs)
{
    char rel[256];
    snprintf(rel, sizeof rel, "fast/%s", file);
    oma_safetensors *ref = open_st(rel);
    float *want = malloc(sizeof(float) * PER * (size_t)n), *px = malloc(sizeof(float) * NPX * (size_t)n);
    int ok = want && px && read_ref(ref, "final_latents", want, (size_t)n * PER) == 0 &&
             read_ref(ref, "image_u8", px, (size_t)n * NPX) == 0;
    CHECK(ok);
    double maxref = 0, maxerr = 0, sum = 0, mx = 0;
    for (int i = 0; ok && i < n * PER; i++) {
        maxref = fmax(maxref, fabs(want[i]));
        maxerr = fmax(maxerr, fabs((double)lat[i] - want[i]));
    }
    for (int b = 0; ok && b < n; b++)
        for (int i = 0; i < NPX; i++) {
            double d = fabs((double)imgs[b].px[i] - px[(size_t)b * NPX + i]);
            sum += d;
            mx = fmax(mx, d);
        }
    double mean = sum / ((double)n * NPX);
    ok = ok && maxerr <= 2e-5 * (1 + maxref) && mean <= 0.5 && mx <= 2;
    printf("  %-40s %d image(s): latents max err %.3g (max |ref| %.3g); images mean %.3f max %.0f of 255 %s\n",
           file, n, maxerr, maxref, mean, mx, ok ? "ok" : "FAIL");
    free(want);
    free(px);
    oma_st_close(ref);
    return ok;
}

static void params(oma_generate_params *p, oma_sampler_kind kind, int seed, float cfg, int steps)
{
    oma_generate_defaults(p);
    p->prompt = "(embeddings given)";
    p->steps = steps;
    p->cfg = cfg;
    p->sampler = kind;
    p->seed = (uint64_t)seed;
    p->width = p->height = 64;
}

/* Loads the tiny model, the embeddings and ref/init.png; 0, or -1 (failures counted). */
static int fast_setup(oma_sd_model *m, oma_image *init)
{
    (void)case_open, (void)case_close, (void)latent_error, (void)image_diff;   /* the harness's, unused here */
    const char *src = getenv("OMA_SOURCE_DIR");
    snprintf(root, sizeof root, "%s/tests/fixtures/sd", src ? src : ".");
    f_unet = open_st("tiny-sd/unet/diffusion_pytorch_model.safetensors");
    f_vae = open_st("tiny-sd/vae/diffusion_pytorch_model.safetensors");
    memset(m, 0, sizeof *m);
    tiny_config(&m->cfg);
    oma_weights w = {.ctx = NULL, .read = fx_read, .has = fx_has};
    char err[512], path[2048];
    CHECK(oma_unet_load(&m->unet, &w, "unet", &m->cfg.unet, err, sizeof err) == 0);
    CHECK(oma_vae_load(&m->vae, &w, "vae", &m->cfg.vae, 1, err, sizeof err) == 0);
    m->has_encoder = 1;
    oma_safetensors *e = open_st("ref/txt2img_ddim.safetensors");   /* [negative, prompt] */
    CHECK(read_ref(e, "prompt_embeds", emb, sizeof emb / sizeof emb[0]) == 0);
    oma_st_close(e);
    oma_tensor_view(&t_neg, emb, 3, (int64_t[]){1, 77, 48});
    oma_tensor_view(&t_pos, emb + 77 * 48, 3, (int64_t[]){1, 77, 48});
    snprintf(path, sizeof path, "%s/ref/init.png", root);
    CHECK(oma_image_load(path, 3, NULL, init, err, sizeof err) == 0);
    return m->unet.loaded && m->vae.loaded && init->px ? 0 : -1;
}

static int fast_teardown(oma_sd_model *m, oma_image *init, const char *name)
{
    oma_image_free(init);
    oma_unet_free(&m->unet);
    oma_vae_free(&m->vae);
    oma_st_close(f_unet);
    oma_st_close(f_vae);
    oma_threads_shutdown();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("%s: ok\n", name);
    return 0;
}

#endif
