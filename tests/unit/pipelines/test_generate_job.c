/* test_generate_job.c — the generate.txt2img / generate.img2img job kinds through the job-kind
 * interface with a fake job context: offered only when the models folder holds a model;
 * params validated (bad sampler, size not a multiple of 64, missing prompt, strength out of
 * range); a txt2img job on the tiny fixture model produces image-0.png equal (within 1/255) to
 * diffusers' image, with an A1111 parameters chunk, per-step progress with a preview and a
 * result summary; batch 2 gives two different candidates; cancelling stops the job; img2img
 * without its image fails cleanly. Precision: params.precision "fp32" gives diffusers' bits; left
 * out, the job runs at bf16 where the CPU runs it natively (within mean 1/255 of fp32), on its
 * own thread only. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/image.h"
#include "pipelines/generate/generate.h"
#include "pipelines/generate/scheduler.h"
#include "tensor/backend.h"
#include "pipelines/job_kind.h"
#include "tensor/threadpool.h"

#include "check.h"

typedef struct {
    oma_job_ctx ctx;
    int n_progress, n_previews, cancel_after;
    char names[4][32];
    uint8_t *data[4];
    size_t len[4];
    int n_out;
} fake;

static int on_progress(oma_job_ctx *c, double f, const char *msg, const uint8_t *png, size_t len)
{
    fake *fk = (fake *)c;
    (void)msg;
    if (!(f >= 0 && f <= 1)) failures++;
    fk->n_progress++;
    if (png && len > 8) fk->n_previews++;
    return fk->cancel_after && fk->n_progress >= fk->cancel_after;
}

static int on_output(oma_job_ctx *c, const char *name, const char *mime, const uint8_t *data, size_t len)
{
    fake *fk = (fake *)c;
    if (fk->n_out >= 4 || strcmp(mime, "image/png") != 0) return -1;
    snprintf(fk->names[fk->n_out], sizeof fk->names[0], "%s", name);
    fk->data[fk->n_out] = malloc(len);
    if (!fk->data[fk->n_out]) return -1;
    memcpy(fk->data[fk->n_out], data, len);
    fk->len[fk->n_out++] = len;
    return 0;
}

static void fake_init(fake *f, const char *models, json_t *params)
{
    memset(f, 0, sizeof *f);
    f->ctx.params = params;
    f->ctx.models_dir = models;
    f->ctx.progress = on_progress;
    f->ctx.add_output = on_output;
}

static void fake_free(fake *f)
{
    for (int i = 0; i < f->n_out; i++) free(f->data[i]);
    json_decref(f->ctx.result);
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

/* The job's first output against a reference PNG of w x h: the largest difference (of 255) and
 * the mean one; 999 when either cannot be read or the sizes differ. */
static int ref_diff(const fake *f, const char *ref_path, int w, int h, double *mean)
{
    oma_image got = {0}, ref = {0};
    char err[256];
    int mx = 999;
    double sum = 0;
    if (f->n_out >= 1 && oma_image_decode(f->data[0], f->len[0], 3, 0, NULL, &got, err, sizeof err) == 0 &&
        oma_image_load(ref_path, 3, NULL, &ref, err, sizeof err) == 0 && got.w == w && got.h == h && ref.w == w &&
        ref.h == h) {
        mx = 0;
        for (size_t i = 0; i < (size_t)w * h * 3; i++) {
            int d = abs((int)got.px[i] - (int)ref.px[i]);
            mx = d > mx ? d : mx;
            sum += d;
        }
    }
    if (mean) *mean = mx == 999 ? 999 : sum / ((double)w * h * 3);
    oma_image_free(&got);
    oma_image_free(&ref);
    return mx;
}

int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    char models[1024], path[2048];
    snprintf(models, sizeof models, "%s/tests/fixtures/sd", src ? src : ".");
    const oma_job_kind *t2i = oma_job_kind_find("generate.txt2img");
    const oma_job_kind *i2i = oma_job_kind_find("generate.img2img");
    CHECK(t2i && i2i);
    if (!t2i || !i2i) return 1;
    CHECK(t2i->available(models));
    CHECK(!t2i->available("/nonexistent-models-dir"));
    CHECK(!t2i->available(NULL));
    CHECK(i2i->required_inputs && !strcmp(i2i->required_inputs[0], "image"));
    /* a folder with only the single file (and its tokenizer/) is a models folder too; a
     * safetensors file that is not an SD checkpoint (the fixture's reference outputs) is not */
    snprintf(path, sizeof path, "%s/single", models);
    CHECK(t2i->available(path));
    snprintf(path, sizeof path, "%s/ref", models);
    CHECK(!t2i->available(path));

    CHECK(validate(t2i, "{\"prompt\": \"a cat\"}") == 0);
    CHECK(validate(t2i, "{\"prompt\": \"a cat\", \"sampler\": \"DPM fast\"}") == -1);
    for (int i = 0; i < oma_sampler_count(); i++) {     /* every listed sampler is accepted */
        char js[160];
        snprintf(js, sizeof js, "{\"prompt\": \"a cat\", \"sampler\": \"%s\"}", oma_sampler_name(oma_sampler_at(i)));
        CHECK(validate(t2i, js) == 0);
    }
    CHECK(validate(t2i, "{\"prompt\": \"a cat\", \"width\": 100}") == -1);
    CHECK(validate(t2i, "{\"prompt\": \"a cat\", \"width\": 96, \"height\": 72}") == 0);
    CHECK(validate(t2i, "{\"prompt\": \"a cat\", \"width\": 2056}") == -1);
    CHECK(validate(t2i, "{\"prompt\": \"a cat\", \"height\": 60}") == -1);
    CHECK(validate(t2i, "{\"negative\": \"x\"}") == -1);
    CHECK(validate(t2i, "{\"prompt\": \"a cat\", \"steps\": 0}") == -1);
    CHECK(validate(t2i, "{\"prompt\": \"a cat\", \"batch\": 99}") == -1);
    CHECK(validate(t2i, "{\"prompt\": 5}") == -1);
    CHECK(validate(t2i, "{\"prompt\": \"a\", \"model\": \"../etc\"}") == -1);
    CHECK(validate(i2i, "{\"prompt\": \"a cat\", \"strength\": 1.5}") == -1);
    CHECK(validate(i2i, "{\"prompt\": \"a cat\", \"strength\": 0.5}") == 0);
    CHECK(validate(i2i, "{\"prompt\": \"a cat\", \"candidates\": true}") == 0);
    CHECK(validate(i2i, "{\"prompt\": \"a cat\", \"candidates\": 1}") == -1);
    CHECK(validate(t2i, "{\"prompt\": \"a cat\", \"candidates\": true}") == -1);
    /* draft mode: interval 2..20 (0 = off), a branch number; the model checks the branch's range */
    CHECK(validate(t2i, "{\"prompt\": \"a cat\", \"draft\": 3}") == 0);
    CHECK(validate(t2i, "{\"prompt\": \"a cat\", \"draft\": 0}") == 0);
    CHECK(validate(t2i, "{\"prompt\": \"a cat\", \"draft\": 1}") == -1);
    CHECK(validate(t2i, "{\"prompt\": \"a cat\", \"draft\": 21}") == -1);
    CHECK(validate(t2i, "{\"prompt\": \"a cat\", \"draft\": true}") == -1);
    CHECK(validate(t2i, "{\"prompt\": \"a cat\", \"draft\": 3, \"draft_branch\": -1}") == -1);
    CHECK(validate(i2i, "{\"prompt\": \"a cat\", \"draft\": 3, \"draft_branch\": 1}") == 0);

    CHECK(validate(t2i, "{\"prompt\": \"a cat\", \"precision\": \"fp32\"}") == 0);
    CHECK(validate(t2i, "{\"prompt\": \"a cat\", \"precision\": \"fp16\"}") == -1);
    CHECK(validate(i2i, "{\"prompt\": \"a cat\", \"precision\": 16}") == -1);

    /* the DDIM fixture run as a job (fp32: diffusers' bits) */
    json_error_t je;
    json_t *params = json_loads("{\"prompt\": \"a city street at night in the rain\", \"negative\": \"lowres, bad "
                                "anatomy, blurry, worst quality\", \"steps\": 4, \"cfg\": 7.5, \"sampler\": \"DDIM\", "
                                "\"seed\": 1004, \"width\": 64, \"height\": 64, \"precision\": \"fp32\"}",
                                0, &je);
    fake f;
    fake_init(&f, models, params);
    int rc = t2i->run(&f.ctx);
    CHECK(rc == 0);
    if (rc != 0) fprintf(stderr, "run: %s\n", f.ctx.error);
    CHECK(f.n_out == 1 && !strcmp(f.names[0], "image-0.png"));
    CHECK(f.n_progress >= 5);       /* loading + 4 steps */
    CHECK(f.n_previews >= 0);
    CHECK(f.ctx.result && json_integer_value(json_object_get(f.ctx.result, "images")) == 1);
    {
        snprintf(path, sizeof path, "%s/ref/txt2img_ddim.png", models);
        CHECK(ref_diff(&f, path, 64, 64, NULL) <= 1);
        /* the parameters chunk is in the PNG */
        int found = 0;
        for (size_t i = 0; f.n_out == 1 && i + 10 < f.len[0]; i++)
            if (!memcmp(f.data[0] + i, "parameters", 10)) found = 1;
        CHECK(found);
    }
    fake_free(&f);
    json_decref(params);

    /* the same run in draft mode: the result and the PNG's parameters say so, the image differs */
    params = json_loads("{\"prompt\": \"a city street at night in the rain\", \"negative\": \"lowres, bad "
                        "anatomy, blurry, worst quality\", \"steps\": 4, \"cfg\": 7.5, \"sampler\": \"DDIM\", "
                        "\"seed\": 1004, \"width\": 64, \"height\": 64, \"draft\": 2, \"precision\": \"fp32\"}",
                        0, &je);
    fake_init(&f, models, params);
    CHECK(t2i->run(&f.ctx) == 0);
    json_t *dr = f.ctx.result ? json_object_get(f.ctx.result, "draft") : NULL;
    CHECK(dr && json_integer_value(json_object_get(dr, "interval")) == 2 &&
          json_integer_value(json_object_get(dr, "branch")) == 0 &&
          !strcmp(json_string_value(json_object_get(dr, "method")) ? json_string_value(json_object_get(dr, "method")) : "",
                  "DeepCache"));
    if (f.n_out == 1) {
        static const char tag[] = "Draft: DeepCache N=2 branch 0";
        int found = 0;
        for (size_t i = 0; i + sizeof tag - 1 <= f.len[0]; i++)
            if (!memcmp(f.data[0] + i, tag, sizeof tag - 1)) found = 1;
        CHECK(found);
        snprintf(path, sizeof path, "%s/ref/txt2img_ddim.png", models);
        int mx = ref_diff(&f, path, 64, 64, NULL);
        CHECK(mx > 1 && mx != 999);
        printf("  job DDIM 4 steps draft 2 vs the full image: max %d of 255\n", mx);
    }
    fake_free(&f);
    json_decref(params);

    /* the same job at the default precision: bf16 where this CPU runs it natively (the result
     * says which), within the quality bar of the fp32 image (mean <= 1 of 255); the precision is
     * the job's alone: the process-wide one is fp32 before and after */
    CHECK(!strcmp(oma_precision_name(), "fp32"));
    params = json_loads("{\"prompt\": \"a city street at night in the rain\", \"negative\": \"lowres, bad "
                        "anatomy, blurry, worst quality\", \"steps\": 4, \"cfg\": 7.5, \"sampler\": \"DDIM\", "
                        "\"seed\": 1004, \"width\": 64, \"height\": 64}",
                        0, &je);
    fake_init(&f, models, params);
    CHECK(t2i->run(&f.ctx) == 0);
    const char *want_prec = oma_precision_bf16_native() ? "bf16" : "fp32";
    const char *got_prec = f.ctx.result ? json_string_value(json_object_get(f.ctx.result, "precision")) : NULL;
    CHECK(got_prec && !strcmp(got_prec, want_prec) && !strcmp(oma_generate_precision_default(), want_prec));
    CHECK(!strcmp(oma_precision_name(), "fp32"));
    {
        double mean;
        snprintf(path, sizeof path, "%s/ref/txt2img_ddim.png", models);
        int mx = ref_diff(&f, path, 64, 64, &mean);
        CHECK(mean <= 1.0);
        if (!strcmp(want_prec, "fp32")) CHECK(mx <= 1);
        else CHECK(mx > 0);     /* bf16 did run: it cannot give diffusers' exact picture */
        printf("  job at the default precision (%s) vs diffusers fp32: mean %.3f, max %d of 255\n",
               got_prec ? got_prec : "?", mean, mx);
    }
    fake_free(&f);
    json_decref(params);

    /* 96x64 (not a multiple of 64) as a job, against diffusers' pipeline (tests/fixtures/sd_cfg) */
    params = json_loads("{\"prompt\": \"a city street at night in the rain\", \"negative\": \"lowres, bad "
                        "anatomy, blurry, worst quality\", \"steps\": 4, \"cfg\": 7.5, \"sampler\": \"DDIM\", "
                        "\"seed\": 2001, \"width\": 96, \"height\": 64, \"precision\": \"fp32\"}",
                        0, &je);
    fake_init(&f, models, params);
    CHECK(t2i->run(&f.ctx) == 0);
    CHECK(f.ctx.result && json_integer_value(json_object_get(f.ctx.result, "width")) == 96 &&
          json_integer_value(json_object_get(f.ctx.result, "height")) == 64);
    {
        snprintf(path, sizeof path, "%s/../sd_cfg/ref/txt2img_96x64_ddim.png", models);
        int mx = ref_diff(&f, path, 96, 64, NULL);
        CHECK(mx <= 2);
        printf("  job 96x64 DDIM vs diffusers: max %d of 255\n", mx);
    }
    fake_free(&f);
    json_decref(params);
    /* a models folder holding a single file with its LDM yaml beside (v-prediction): the job uses
     * the yaml (result "config") and draws diffusers' picture */
    params = json_loads("{\"prompt\": \"a city street at night in the rain\", \"negative\": \"lowres, bad "
                        "anatomy, blurry, worst quality\", \"steps\": 4, \"cfg\": 7.5, \"sampler\": \"DDIM\", "
                        "\"seed\": 2005, \"width\": 64, \"height\": 64, \"precision\": \"fp32\"}",
                        0, &je);
    char vdir[2048];
    snprintf(vdir, sizeof vdir, "%s/../sd_cfg/ldm-v", models);
    fake_init(&f, vdir, params);
    rc = t2i->run(&f.ctx);
    CHECK(rc == 0);
    if (rc) fprintf(stderr, "ldm-v job: %s\n", f.ctx.error);
    const char *cfgname = f.ctx.result ? json_string_value(json_object_get(f.ctx.result, "config")) : NULL;
    CHECK(cfgname && !strcmp(cfgname, "tiny-ldm-v.yaml"));
    {
        snprintf(path, sizeof path, "%s/../sd_cfg/ref/ldm_v_txt2img_64x64_ddim.png", models);
        int mx = ref_diff(&f, path, 64, 64, NULL);
        CHECK(mx <= 2);
        printf("  job on a folder with tiny-ldm-v.safetensors + .yaml: config %s, max %d of 255 vs diffusers\n",
               cfgname ? cfgname : "(none)", mx);
    }
    CHECK(f.ctx.result && json_is_null(json_object_get(f.ctx.result, "config")) == 0);
    fake_free(&f);
    json_decref(params);
    /* no width/height: the model's own size (tiny-sd: sample_size 8 x factor 8) */
    params = json_loads("{\"prompt\": \"x\", \"steps\": 1}", 0, &je);
    fake_init(&f, models, params);
    CHECK(t2i->run(&f.ctx) == 0);
    CHECK(f.ctx.result && json_integer_value(json_object_get(f.ctx.result, "width")) == 64 &&
          json_integer_value(json_object_get(f.ctx.result, "height")) == 64);
    CHECK(f.ctx.result && json_is_null(json_object_get(f.ctx.result, "config")));   /* a folder: no yaml */
    fake_free(&f);
    json_decref(params);

    /* batch of two with previews every 4 steps (8 steps): two different candidates */
    params = json_loads("{\"prompt\": \"a city street\", \"steps\": 8, \"seed\": 5, \"width\": 64, \"height\": 64, "
                        "\"batch\": 2, \"sampler\": \"Euler a\"}",
                        0, &je);
    fake_init(&f, models, params);
    CHECK(t2i->run(&f.ctx) == 0);
    CHECK(f.n_out == 2 && !strcmp(f.names[1], "image-1.png"));
    CHECK(f.n_previews >= 1);
    CHECK(f.n_out == 2 && (f.len[0] != f.len[1] || memcmp(f.data[0], f.data[1], f.len[0]) != 0));
    fake_free(&f);
    /* cancelled after the second step */
    fake_init(&f, models, params);
    f.cancel_after = 3;
    CHECK(t2i->run(&f.ctx) == -1 && f.n_out == 0);
    fake_free(&f);
    json_decref(params);

    /* img2img without an image */
    params = json_loads("{\"prompt\": \"x\", \"width\": 64, \"height\": 64, \"steps\": 2}", 0, &je);
    fake_init(&f, models, params);
    CHECK(i2i->run(&f.ctx) == -1 && strstr(f.ctx.error, "image") != NULL);
    fake_free(&f);
    /* no model in the folder */
    fake_init(&f, "/nonexistent-models-dir", params);
    CHECK(t2i->run(&f.ctx) == -1 && f.ctx.error[0]);
    fake_free(&f);
    json_decref(params);
    oma_threads_shutdown();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_generate_job: ok\n");
    return 0;
}
