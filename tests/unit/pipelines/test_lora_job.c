/* test_lora_job.c — LoRAs and embeddings through the generate.txt2img job kind, as a server runs
 * it: params "loras" / "embeddings" validated before queueing; a LoRA by name from
 * OMA_MODELS/Lora and a trained style's file by path inside the data folder give diffusers'
 * pictures (tests/fixtures/lora); a path outside the data and models folders is refused; a bad
 * file fails the job with its name and key; and a plain job after styled and failed ones draws
 * the plain picture again (the shared model never drifts from its base weights). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/image.h"
#include "formats/safetensors.h"
#include "pipelines/job_kind.h"
#include "tensor/threadpool.h"

#include "check.h"

typedef struct {
    oma_job_ctx ctx;
    uint8_t *png;
    size_t len;
} fake;

static int on_progress(oma_job_ctx *c, double f, const char *m, const uint8_t *p, size_t n)
{
    (void)c, (void)f, (void)m, (void)p, (void)n;
    return 0;
}

static int on_output(oma_job_ctx *c, const char *name, const char *mime, const uint8_t *data, size_t len)
{
    fake *fk = (fake *)c;
    (void)name, (void)mime;
    free(fk->png);
    fk->png = malloc(len);
    if (!fk->png) return -1;
    memcpy(fk->png, data, len);
    fk->len = len;
    return 0;
}

static int validate(const oma_job_kind *k, const char *json)
{
    json_error_t je;
    json_t *p = json_loads(json, 0, &je);
    char err[256] = "";
    int rc = p ? k->validate(p, err, sizeof err) : -2;
    json_decref(p);
    return rc;
}

static const char *BASE = "\"prompt\": \"a city street at night in the rain%s\", \"negative\": \"lowres, bad anatomy, "
                          "blurry, worst quality\", \"steps\": 4, \"cfg\": 7.5, \"sampler\": \"DDIM\", \"seed\": 1004, "
                          "\"width\": 64, \"height\": 64, \"precision\": \"fp32\"";

/* Runs txt2img with BASE + extra; compares with want_png (NULL: expect failure containing want_err). */
static void run_job(const oma_job_kind *k, const char *models, const char *data, const char *suffix, const char *extra,
                    const char *want_png, const char *want_err)
{
    char js[4096], base[1024], err[256];
    snprintf(base, sizeof base, BASE, suffix);
    snprintf(js, sizeof js, "{%s%s%s}", base, extra[0] ? ", " : "", extra);
    json_error_t je;
    json_t *params = json_loads(js, 0, &je);
    CHECK(params != NULL);
    if (!params) return;
    fake f;
    memset(&f, 0, sizeof f);
    f.ctx.params = params;
    f.ctx.models_dir = models;
    f.ctx.data_dir = data;
    f.ctx.progress = on_progress;
    f.ctx.add_output = on_output;
    int rc = k->run(&f.ctx);
    if (!want_png) {
        printf("  job %-40.40s -> %s\n", extra, f.ctx.error);
        CHECK(rc == -1 && strstr(f.ctx.error, want_err) != NULL);
    } else {
        CHECK(rc == 0);
        if (rc != 0) fprintf(stderr, "  job failed: %s\n", f.ctx.error);
        oma_image got = {0}, ref = {0};
        if (rc == 0 && oma_image_decode(f.png, f.len, 3, 0, NULL, &got, err, sizeof err) == 0 &&
            oma_image_load(want_png, 3, NULL, &ref, err, sizeof err) == 0) {
            int mx = 0;
            for (int i = 0; i < 64 * 64 * 3; i++) {
                int d = abs((int)got.px[i] - (int)ref.px[i]);
                mx = d > mx ? d : mx;
            }
            printf("  job %-40.40s -> max %d of 255 from %s\n", extra[0] ? extra : suffix[0] ? suffix : "(plain)", mx, strrchr(want_png, '/') + 1);
            CHECK(mx <= 1);
        } else {
            CHECK(!"decode");
        }
        oma_image_free(&got);
        oma_image_free(&ref);
    }
    free(f.png);
    json_decref(f.ctx.result);
    json_decref(params);
}

int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    char sd[1024], lroot[1024], absl[2048], abss[2048];
    snprintf(sd, sizeof sd, "%s/tests/fixtures/sd", src ? src : ".");
    snprintf(lroot, sizeof lroot, "%s/tests/fixtures/lora", src ? src : ".");
    CHECK(realpath(lroot, absl) != NULL && realpath(sd, abss) != NULL);
    const oma_job_kind *t2i = oma_job_kind_find("generate.txt2img");
    CHECK(t2i != NULL);
    if (!t2i) return 1;

    CHECK(validate(t2i, "{\"prompt\": \"a\", \"loras\": [{\"name\": \"x\", \"weight\": 0.8}]}") == 0);
    CHECK(validate(t2i, "{\"prompt\": \"a\", \"loras\": [{\"path\": \"/x/y.safetensors\", \"unet_weight\": 0.8, "
                        "\"text_weight\": 0.9}], \"embeddings\": [\"e\", {\"path\": \"/x/e.pt\"}]}") == 0);
    CHECK(validate(t2i, "{\"prompt\": \"a\", \"loras\": {\"name\": \"x\"}}") == -1);
    CHECK(validate(t2i, "{\"prompt\": \"a\", \"loras\": [\"x\"]}") == -1);
    CHECK(validate(t2i, "{\"prompt\": \"a\", \"loras\": [{\"weight\": 1}]}") == -1);
    CHECK(validate(t2i, "{\"prompt\": \"a\", \"loras\": [{\"name\": \"../x\"}]}") == -1);
    CHECK(validate(t2i, "{\"prompt\": \"a\", \"loras\": [{\"name\": \"x\", \"weight\": 99}]}") == -1);
    CHECK(validate(t2i, "{\"prompt\": \"a\", \"embeddings\": [5]}") == -1);

    /* a models folder as a user has it: the model, Lora/ and embeddings/ */
    char models[] = "/tmp/oma-lora-job-XXXXXX", p1[2048], p2[2048], p3[2048], data[1024], bad[2048], js[4096];
    CHECK(mkdtemp(models) != NULL);
    snprintf(p1, sizeof p1, "%s/tiny-sd", models);
    snprintf(p2, sizeof p2, "%s/Lora", models);
    snprintf(p3, sizeof p3, "%s/embeddings", models);
    char tiny[2100];
    snprintf(tiny, sizeof tiny, "%s/tiny-sd", abss);
    CHECK(symlink(tiny, p1) == 0 && symlink(absl, p2) == 0 && symlink(absl, p3) == 0);
    snprintf(data, sizeof data, "%s-data", models);
    snprintf(bad, sizeof bad, "%s/nan.safetensors", data);
    CHECK(mkdir(data, 0700) == 0);
    {   /* a bad file inside the data folder */
        oma_st_writer *w = oma_st_writer_new();
        float v[4 * 32];
        for (int i = 0; i < 4 * 32; i++) v[i] = i == 5 ? 0.0f / 0.0f : 0.01f;
        char e[256];
        CHECK(oma_st_writer_add_f32(w, "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight",
                                    OMA_ST_F32, 2, (int64_t[]){4, 32}, v, e, sizeof e) == 0);
        CHECK(oma_st_writer_save(w, bad, e, sizeof e) == 0);
        oma_st_writer_free(w);
    }
    char want[2200], plain[2200];
    snprintf(plain, sizeof plain, "%s/ref/txt2img_ddim.png", abss);

    snprintf(want, sizeof want, "%s/kohya_locon.png", absl);
    run_job(t2i, models, data, "", "\"loras\": [{\"name\": \"kohya_locon\"}]", want, NULL);
    run_job(t2i, models, data, "", "", plain, NULL);
    snprintf(want, sizeof want, "%s/lora_pti.png", absl);
    snprintf(js, sizeof js, "\"loras\": [{\"path\": \"%s/Lora/lora_pti.safetensors\", \"unet_weight\": 0.8, "
             "\"text_weight\": 0.9}]", models);
    run_job(t2i, models, data, " <s1><s2>", js, want, NULL);
    snprintf(want, sizeof want, "%s/embeddings.png", absl);
    run_job(t2i, models, data, " myemb kohyaemb <cat-toy> <dog>",
            "\"embeddings\": [\"learned_embeds\", {\"name\": \"learned_embeds_dog.bin\"}]", want, NULL);
    snprintf(want, sizeof want, "%s/diffusers_peft.png", absl);
    run_job(t2i, models, data, " <lora:diffusers_peft:0.5:0.7>", "", want, NULL);
    /* refused: outside the data and models folders; a bad file; a missing name */
    run_job(t2i, models, data, "", "\"loras\": [{\"path\": \"/etc/passwd\"}]", NULL, "inside the data or models folder");
    snprintf(js, sizeof js, "\"loras\": [{\"path\": \"%s/../../etc/passwd\"}]", models);
    run_job(t2i, models, data, "", js, NULL, "inside the data or models folder");
    snprintf(js, sizeof js, "\"loras\": [{\"path\": \"%s\"}]", bad);
    run_job(t2i, models, data, "", js, NULL, "nan.safetensors");
    run_job(t2i, models, data, "", "\"loras\": [{\"name\": \"nothere\"}]", NULL, "nothere");
    /* after all that, the shared model still draws the plain picture */
    run_job(t2i, models, data, "", "", plain, NULL);

    unlink(bad);
    rmdir(data);
    unlink(p1);
    unlink(p2);
    unlink(p3);
    rmdir(models);
    oma_threads_shutdown();
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
