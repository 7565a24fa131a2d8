/* test_generate_one_shot.c — oma generate's memory-saving run gives the same images.
 *
 * oma_generate_one_shot (the CLI's call) frees the text encoder after the prompts and the UNet
 * before the VAE decode; oma_generate keeps the model whole. On the tiny SD model (the diffusers
 * folder, loaded as the CLI loads it): txt2img DDIM with CFG, Euler a batch 2 without guidance,
 * img2img at 0.6 — the images must be byte for byte those of oma_generate run with the same
 * kernels (these short runs keep no prepared weights: oma_cpu_keep_weights(0) for the
 * reference too), and within 1 of 255 of oma_generate's with kept Winograd weights (other
 * kernels, same maths); afterwards the one-shot model has no UNet and no text encoder left (and
 * frees cleanly). With a style applied (an embedding file) the text encoder is kept (it is
 * restored after the run). In bf16 the one-shot run hands the UNet's float weights over to their
 * bf16 form and must still give oma_generate's bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/sd/sd_model.h"
#include "pipelines/generate/generate.h"
#include "tensor/backend.h"
#include "tensor/threadpool.h"

#include "check.h"

static char root[1024];
static int kept_tol = 1;    /* of 255, against oma_generate with kept weights */

static int load(oma_sd_model *m, int encoder)
{
    char path[1200], err[512];
    snprintf(path, sizeof path, "%s/tests/fixtures/sd/tiny-sd", root);
    if (oma_sd_model_load(path, NULL, encoder ? OMA_SD_LOAD_ENCODER : 0, m, err, sizeof err) != 0) {
        fprintf(stderr, "load: %s\n", err);
        return -1;
    }
    return 0;
}

static void one_case(const char *what, oma_generate_params p, int encoder)
{
    if (p.batch > 4) {
        CHECK(0);
        return;
    }
    oma_sd_model a, b, k;
    char err[512];
    if (load(&a, encoder) != 0 || load(&b, encoder) != 0 || load(&k, encoder) != 0) {
        CHECK(0);
        return;
    }
    oma_image ia[4], ib[4], ik[4];     /* batch <= 4 here */
    memset(ia, 0, sizeof ia);
    memset(ib, 0, sizeof ib);
    memset(ik, 0, sizeof ik);
    CHECK(oma_generate(&k, &p, ik, err, sizeof err) == 0);     /* prepared weights kept */
    CHECK(oma_cpu_keep_weights(0) == 0);
    CHECK(oma_generate(&a, &p, ia, err, sizeof err) == 0);
    CHECK(oma_cpu_keep_weights(1) == 0);
    p.one_shot = 1;
    int rc = oma_generate_one_shot(&b, &p, ib, err, sizeof err);
    CHECK(rc == 0);
    if (rc != 0) fprintf(stderr, "%s: %s\n", what, err);
    int same = rc == 0;
    for (int i = 0; same && i < p.batch; i++)
        same = ia[i].w == ib[i].w && ia[i].h == ib[i].h && ia[i].px && ib[i].px &&
               !memcmp(ia[i].px, ib[i].px, (size_t)ia[i].w * ia[i].h * 3);
    CHECK(same);
    int worst = rc == 0 ? 0 : 256;
    for (int i = 0; rc == 0 && i < p.batch; i++) {
        CHECK(ik[i].px && ik[i].w == ib[i].w && ik[i].h == ib[i].h);
        if (!ik[i].px || ik[i].w != ib[i].w || ik[i].h != ib[i].h) {
            worst = 256;
            break;
        }
        for (size_t j = 0; j < (size_t)ib[i].w * ib[i].h * 3; j++) {
            int d = abs((int)ik[i].px[j] - (int)ib[i].px[j]);
            if (d > worst) worst = d;
        }
    }
    CHECK(worst <= kept_tol);
    CHECK(!b.unet.loaded);
    int styled = p.n_embeddings > 0;
    CHECK(styled ? b.text.tok_emb.data != NULL : b.text.tok_emb.data == NULL);
    printf("  %-28s one-shot images %s oma_generate's (max %d of 255 from its run with kept weights); UNet freed, "
           "text encoder %s\n", what, same ? "==" : "!=", worst, b.text.tok_emb.data ? "kept" : "freed");
    for (int i = 0; i < 4; i++) oma_image_free(&ia[i]), oma_image_free(&ib[i]), oma_image_free(&ik[i]);
    oma_sd_model_free(&a);
    oma_sd_model_free(&b);
    oma_sd_model_free(&k);
}

/* An explicit OMA_WEIGHT_CACHE_MB (a number) outranks a one-shot run's choice not to keep
 * prepared weights; anything else in it counts as unset, as for the budget. */
static void keep_rule(void)
{
    setenv("OMA_WEIGHT_CACHE_MB", "512", 1);
    CHECK(oma_cpu_keep_weights(0) == -1);
    setenv("OMA_WEIGHT_CACHE_MB", "0", 1);
    CHECK(oma_cpu_keep_weights(0) == -1);
    setenv("OMA_WEIGHT_CACHE_MB", "lots", 1);
    CHECK(oma_cpu_keep_weights(0) == 0);
    CHECK(oma_cpu_keep_weights(1) == 0);
    setenv("OMA_WEIGHT_CACHE_MB", "", 1);
    CHECK(oma_cpu_keep_weights(0) == 0);
    CHECK(oma_cpu_keep_weights(1) == 0);
    unsetenv("OMA_WEIGHT_CACHE_MB");
}

int main(void)
{
    keep_rule();
    const char *src = getenv("OMA_SOURCE_DIR");
    snprintf(root, sizeof root, "%s", src ? src : ".");
    oma_generate_params p;
    oma_generate_defaults(&p);
    p.prompt = "a city street at night in the rain";
    p.negative = "lowres, blurry";
    p.steps = 4;
    p.sampler = OMA_SAMPLER_DDIM;
    p.seed = 11;
    p.width = p.height = 64;
    one_case("txt2img DDIM cfg 7.5", p, 0);
    oma_generate_params q = p;
    q.sampler = OMA_SAMPLER_EULER_A;
    q.cfg = 1.0f;
    q.batch = 2;
    one_case("txt2img Euler a cfg 1 batch 2", q, 0);
    oma_image init = {0};
    char path[1200], err[512];
    snprintf(path, sizeof path, "%s/tests/fixtures/sd/ref/init.png", root);
    CHECK(oma_image_load(path, 3, NULL, &init, err, sizeof err) == 0);
    q = p;
    q.init = &init;
    q.strength = 0.6f;
    one_case("img2img DDIM 0.6", q, 1);
    oma_image_free(&init);
    /* a style applied: the text encoder stays (the embedding is taken off after the run) */
    char emb[1200];
    snprintf(emb, sizeof emb, "%s/tests/fixtures/lora/learned_embeds.safetensors", root);
    FILE *f = fopen(emb, "rb");
    if (f) {
        fclose(f);
        const char *embs[1] = {emb};
        q = p;
        q.embeddings = embs;
        q.n_embeddings = 1;
        one_case("txt2img with an embedding", q, 0);
    } else {
        printf("  (no %s: the styled case was skipped)\n", emb);
    }
    /* bf16 (where native): the one-shot run hands the UNet's 3x3 float weights over to their
     * bf16 form (nn/layers.h, oma_layers_hand_over), the same bits as per-call conversion: the
     * images stay byte for byte oma_generate's with the same kernels; kept weights take the
     * upsamplers' phase convolutions (other rounding), hence the wider bound there */
    if (oma_precision_bf16_native() && oma_precision_set("bf16") == 0) {
        kept_tol = 8;
        size_t handed = oma_cpu_handed_over_bytes();
        one_case("bf16 txt2img DDIM cfg 7.5", p, 0);
        CHECK(oma_cpu_handed_over_bytes() > handed);
        printf("  bf16: %.2f MB of float weights handed over\n", (oma_cpu_handed_over_bytes() - handed) / 1048576.0);
        q = p;
        q.sampler = OMA_SAMPLER_EULER_A;
        q.cfg = 1.0f;
        q.batch = 2;
        one_case("bf16 txt2img Euler a batch 2", q, 0);
        /* passes of two sizes (3 images, 2 a pass): the pass of one may want another weight
         * layout, made from the handed-over form */
        q.batch = 3;
        q.max_pass_images = 2;
        one_case("bf16 batch 3 in passes of 2+1", q, 0);
        CHECK(oma_precision_set("fp32") == 0);
    }
    oma_threads_shutdown();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_generate_one_shot: ok\n");
    return 0;
}
