/* test_sd_layouts.c — the whole chain from checkpoint file to PNG pixels, in both layouts:
 * oma_sd_model_load on the tiny diffusers folder and on the single-file checkpoint (with the
 * folder as config source), and on the folder with 16-bit weights kept in memory (half the
 * bytes, same pixels), then oma_generate from the prompt text (tokenizer + text encoder
 * included) for the DDIM fixture run; the 8-bit image must match diffusers' within mean 0.5 and
 * max 2 of 255; A1111 emphasis weights are applied to the right tokens with the mean kept.
 * Then bad checkpoints: a single file missing one tensor, one with a tensor of the
 * wrong shape, and a truncated file must fail to load with an error naming the problem. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/safetensors.h"
#include "pipelines/generate/generate.h"
#include "tensor/threadpool.h"

#include "check.h"

static char root[1024];

static void run_ddim(const char *what, const oma_sd_model *m)
{
    char path[2048], err[512];
    oma_generate_params p;
    oma_generate_defaults(&p);
    p.prompt = "a city street at night in the rain";
    p.negative = "lowres, bad anatomy, blurry, worst quality";
    p.steps = 4;
    p.cfg = 7.5f;
    p.sampler = OMA_SAMPLER_DDIM;
    p.seed = 1004;
    p.width = p.height = 64;
    oma_image out = {0}, ref = {0};
    CHECK(oma_generate(m, &p, &out, err, sizeof err) == 0);
    snprintf(path, sizeof path, "%s/ref/txt2img_ddim.png", root);
    CHECK(oma_image_load(path, 3, NULL, &ref, err, sizeof err) == 0);
    if (out.px && ref.px && out.w == ref.w && out.h == ref.h) {
        double sum = 0;
        int mx = 0;
        for (int i = 0; i < out.w * out.h * 3; i++) {
            int d = abs((int)out.px[i] - (int)ref.px[i]);
            sum += d;
            mx = d > mx ? d : mx;
        }
        double mean = sum / (out.w * out.h * 3);
        printf("  %-12s DDIM txt2img vs diffusers: mean %.4f max %d of 255\n", what, mean, mx);
        CHECK(mean <= 0.5 && mx <= 2);
    } else {
        CHECK(!"image sizes differ");
    }
    oma_image_free(&out);
    oma_image_free(&ref);
}

/* A1111 emphasis: "(city street:1.5)" scales those tokens' embeddings by 1.5 and the whole
 * embedding is rescaled to keep its original mean. Checked against the formula on the ids and
 * weights the tokenizer gives (the tokenizer itself is checked by sd-formats' tests). */
static void check_emphasis(const oma_sd_model *m)
{
    char err[512];
    oma_arena ar;
    oma_arena_init(&ar, 1 << 20);
    const char *prompt = "a (city street:1.5) at [night]";
    oma_clip_tokens tk;
    CHECK(oma_clip_encode_weighted(m->tok, prompt, &tk, err, sizeof err) == 0);
    int weighted = 0;
    for (int i = 0; i < OMA_CLIP_CONTEXT; i++) weighted += tk.weights[i] != 1.0f;
    CHECK(weighted >= 3);
    int32_t ids[OMA_CLIP_CONTEXT];
    for (int i = 0; i < OMA_CLIP_CONTEXT; i++) ids[i] = tk.ids[i];
    oma_tensor z, got;
    CHECK(oma_clip_text_forward(&m->text, ids, 1, OMA_CLIP_CONTEXT, 0, &ar, &z, err, sizeof err) == 0);
    CHECK(oma_generate_embed(m, prompt, 0, &ar, &got, err, sizeof err) == 0);
    int64_t H = z.shape[2], n = oma_tensor_numel(&z);
    double before = 0, after = 0;
    for (int64_t i = 0; i < n; i++) before += z.data[i];
    for (int64_t i = 0; i < n; i++) after += z.data[i] * tk.weights[i / H];
    double f = before / after, maxerr = 0, gsum = 0;
    for (int64_t i = 0; i < n; i++) {
        double want = z.data[i] * tk.weights[i / H] * f;
        maxerr = fmax(maxerr, fabs(want - got.data[i]));
        gsum += got.data[i];
    }
    printf("  emphasis: %d weighted tokens, max err %.3g, mean kept %.6f vs %.6f\n", weighted, maxerr,
           gsum / n, before / n);
    CHECK(maxerr < 1e-4 && fabs(gsum - before) / n < 1e-5);
    oma_arena_destroy(&ar);
}

/* Writes a copy of the single file with one tensor dropped (drop) or replaced by a wrong shape
 * (reshape); returns 0. */
static int write_variant(const char *src, const char *dst, const char *drop, const char *reshape)
{
    char err[256];
    oma_safetensors *st = NULL;
    if (oma_st_open(src, &st, err, sizeof err) != 0) return -1;
    oma_st_writer *w = oma_st_writer_new();
    int rc = w ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < oma_st_count(st); i++) {
        const oma_st_tensor *t = oma_st_at(st, i);
        if (drop && !strcmp(t->name, drop)) continue;
        if (reshape && !strcmp(t->name, reshape)) {
            int64_t s[1] = {t->numel};      /* same bytes, flattened */
            rc = oma_st_writer_add(w, t->name, t->dtype, 1, s, t->data, err, sizeof err);
            continue;
        }
        if (t->dtype != OMA_ST_F32 && t->dtype != OMA_ST_F16 && t->dtype != OMA_ST_BF16) continue;
        rc = oma_st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data, err, sizeof err);
    }
    if (rc == 0) rc = oma_st_writer_save(w, dst, err, sizeof err);
    if (rc != 0) fprintf(stderr, "write_variant: %s\n", err);
    oma_st_writer_free(w);
    oma_st_close(st);
    return rc;
}

int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    snprintf(root, sizeof root, "%s/tests/fixtures/sd", src ? src : ".");
    char folder[2048], single[2048], err[512];
    snprintf(folder, sizeof folder, "%s/tiny-sd", root);
    snprintf(single, sizeof single, "%s/single/tiny-sd-v1.safetensors", root);

    oma_sd_model m;
    int rc0 = oma_sd_model_load(folder, NULL, 0, &m, err, sizeof err);
    CHECK(rc0 == 0);
    if (rc0 == 0) {
        run_ddim("folder", &m);
        check_emphasis(&m);
    }
    else fprintf(stderr, "%s\n", err);
    oma_sd_model_free(&m);

    /* 16-bit weights kept in memory: half the bytes, the same pixels */
    size_t full = 0;
    if (oma_sd_model_load(folder, NULL, 0, &m, err, sizeof err) == 0) full = oma_sd_model_unet_bytes(&m);
    oma_sd_model_free(&m);
    rc0 = oma_sd_model_load(folder, NULL, OMA_SD_LOAD_HALF, &m, err, sizeof err);
    CHECK(rc0 == 0);
    if (rc0 == 0) {
        size_t half = oma_sd_model_unet_bytes(&m);
        printf("  UNet weights: %zu bytes as float32, %zu kept 16-bit\n", full, half);
        CHECK(half < full * 0.55 && half > full * 0.45);
        run_ddim("folder, half", &m);
    }
    oma_sd_model_free(&m);

    oma_sd_open_opts o;
    memset(&o, 0, sizeof o);
    o.config_dir = folder;
    err[0] = 0;
    int rc = oma_sd_model_load(single, &o, 0, &m, err, sizeof err);
    CHECK(rc == 0);
    if (rc == 0) run_ddim("single file", &m);
    else fprintf(stderr, "%s\n", err);
    oma_sd_model_free(&m);

    /* bad checkpoints */
    char tmp[] = "/tmp/oma_sd_bad_XXXXXX";
    CHECK(mkdtemp(tmp) != NULL);
    char bad[2100];
    snprintf(bad, sizeof bad, "%s/missing.safetensors", tmp);
    CHECK(write_variant(single, bad, "model.diffusion_model.output_blocks.2.1.conv.weight", NULL) == 0);
    CHECK(oma_sd_model_load(bad, &o, 0, &m, err, sizeof err) == -1);
    printf("  missing tensor: %s\n", err);
    CHECK(strstr(err, "unet.up_blocks.0.upsamplers.0.conv.weight") != NULL);
    snprintf(bad, sizeof bad, "%s/shape.safetensors", tmp);
    CHECK(write_variant(single, bad, NULL, "first_stage_model.decoder.conv_in.weight") == 0);
    CHECK(oma_sd_model_load(bad, &o, 0, &m, err, sizeof err) == -1);
    printf("  wrong shape: %s\n", err);
    CHECK(strstr(err, "decoder.conv_in.weight") != NULL);
    /* truncated: the first half of the file */
    snprintf(bad, sizeof bad, "%s/truncated.safetensors", tmp);
    FILE *in = fopen(single, "rb"), *out = fopen(bad, "wb");
    CHECK(in && out);
    if (in && out) {
        static unsigned char buf[1 << 20];
        size_t n = fread(buf, 1, sizeof buf, in);
        fwrite(buf, 1, n / 2, out);
    }
    if (in) fclose(in);
    if (out) fclose(out);
    CHECK(oma_sd_model_load(bad, &o, 0, &m, err, sizeof err) == -1);
    printf("  truncated: %s\n", err);
    snprintf(bad, sizeof bad, "%s/missing.safetensors", tmp);
    unlink(bad);
    snprintf(bad, sizeof bad, "%s/shape.safetensors", tmp);
    unlink(bad);
    snprintf(bad, sizeof bad, "%s/truncated.safetensors", tmp);
    unlink(bad);
    rmdir(tmp);
    oma_threads_shutdown();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_sd_layouts: ok\n");
    return 0;
}
