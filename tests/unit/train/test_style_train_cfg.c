/* test_style_train_cfg.c — style training on models whose numbers are not SD 1.x's: tiny-f4
 * (tests/fixtures/sd_cfg: VAE factor 4, scaling factor 0.13025, a 2-block UNet) trains with
 * latents of resolution / 4 (this overflowed the latent buffer when res / 8 was assumed: ASan
 * heap-buffer-overflow in oma_style_trainer_encode) and writes its LoRA, embedding and a 64x64
 * sample; the v-prediction single file with its yaml (ldm-v) is refused by name, since the loss
 * here is epsilon prediction's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/image.h"
#include "train/style_train.h"

#include "check.h"

static int samples, sample_w, sample_h;

static void on_sample(void *ctx, const char *stage, int step, const uint8_t *rgb, int w, int h)
{
    (void)ctx, (void)stage, (void)step, (void)rgb;
    samples++;
    sample_w = w;
    sample_h = h;
}

int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    src = src ? src : ".";
    char tmp[] = "/tmp/oma-train-cfg-XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    char imgs[2][2048], err[512], model[2048], lora[2048], emb[2048];
    const char *list[2] = {imgs[0], imgs[1]};
    for (int i = 0; i < 2; i++) {
        oma_image im = {0};
        CHECK(oma_image_alloc(&im, 80, 64, 3) == 0);
        for (int k = 0; im.px && k < 80 * 64 * 3; k++) im.px[k] = (uint8_t)((k * (7 + i)) % 251);
        snprintf(imgs[i], sizeof imgs[i], "%s/s%d.png", tmp, i);
        CHECK(oma_image_save_png(imgs[i], &im, err, sizeof err) == 0);
        oma_image_free(&im);
    }
    oma_style_train_opts o;
    oma_style_train_defaults(&o);
    snprintf(model, sizeof model, "%s/tests/fixtures/sd_cfg/tiny-f4", src);
    o.model_path = model;
    o.name = "f4";
    o.images = list;
    o.n_images = 2;
    o.out_dir = tmp;
    o.resolution = 64;
    o.steps_ti = 2;
    o.steps_lora = 2;
    o.checkpoint_every = 0;
    o.sample_every = 2;
    oma_style_train_hooks hooks = {NULL, NULL, on_sample, NULL};
    int rc = oma_style_train(&o, &hooks, lora, sizeof lora, emb, sizeof emb, err, sizeof err);
    CHECK(rc == 0);
    if (rc) fprintf(stderr, "tiny-f4: %s\n", err);
    CHECK(rc != 0 || (access(lora, R_OK) == 0 && access(emb, R_OK) == 0));
    CHECK(samples >= 1 && sample_w == 64 && sample_h == 64);
    printf("  tiny-f4 (VAE factor 4): trained, %d samples of %dx%d\n", samples, sample_w, sample_h);

    snprintf(model, sizeof model, "%s/tests/fixtures/sd_cfg/ldm-v/tiny-ldm-v.safetensors", src);
    o.name = "v";
    rc = oma_style_train(&o, NULL, NULL, 0, NULL, 0, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "a v_prediction model cannot be trained"));
    printf("  ldm-v: %s\n", err);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    CHECK(system(cmd) == 0);
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures != 0;
}
