/* style_profile_kind.c — job kind "style.profile": inputs "samples" (3..50 image uploads, one
 * oma_job_input each), params {"name": "...", "colors"?: K}; result {"style": <profile JSON>,
 * "samples": N}. The worker stores result.style as one of the webtoon's styles named
 * params.name. Each sample is decoded and analysed in turn; progress follows the samples. */
#include <stdio.h>
#include <string.h>

#include "formats/image.h"
#include "pipelines/job_kind.h"
#include "pipelines/style/style_profile.h"

static int always(const char *models_dir)
{
    (void)models_dir;
    return 1;
}

static int validate(const json_t *params, char *err, size_t errlen)
{
    if (!json_is_object(params)) { snprintf(err, errlen, "params must be an object"); return -1; }
    const json_t *name = json_object_get(params, "name");
    if (!json_is_string(name) || json_string_length(name) < 1 || json_string_length(name) > 100) {
        snprintf(err, errlen, "params.name must be a string of 1..100 characters");
        return -1;
    }
    const json_t *k = json_object_get(params, "colors");
    if (k && (!json_is_integer(k) || json_integer_value(k) < 1 || json_integer_value(k) > OMA_PALETTE_MAX)) {
        snprintf(err, errlen, "params.colors must be an integer in [1, %d]", OMA_PALETTE_MAX);
        return -1;
    }
    return 0;
}

static int run(oma_job_ctx *ctx)
{
    if (validate(ctx->params, ctx->error, sizeof ctx->error)) return -1;
    size_t n = 0;
    for (size_t i = 0; i < ctx->n_inputs; i++) n += strcmp(ctx->inputs[i].name, "samples") == 0;
    if (n < OMA_STYLE_MIN_SAMPLES || n > OMA_STYLE_MAX_SAMPLES) {
        snprintf(ctx->error, sizeof ctx->error, "need %d..%d sample images in inputs.samples, got %zu",
                 OMA_STYLE_MIN_SAMPLES, OMA_STYLE_MAX_SAMPLES, n);
        return -1;
    }
    const json_t *k = json_object_get(ctx->params, "colors");
    oma_style_learner *l = oma_style_learner_new(k ? (int)json_integer_value(k) : 0);
    if (!l) { snprintf(ctx->error, sizeof ctx->error, "out of memory"); return -1; }
    int rc = -1;
    size_t done = 0;
    oma_image_limits lim = oma_image_default_limits();
    for (size_t i = 0; i < ctx->n_inputs; i++) {
        const oma_job_input *in = &ctx->inputs[i];
        if (strcmp(in->name, "samples") != 0) continue;
        oma_image img = {0};
        char err[256];
        if (oma_image_decode(in->data, in->len, 0, 1, &lim, &img, err, sizeof err) != 0) {
            snprintf(ctx->error, sizeof ctx->error, "sample %zu is not a usable image: %s", done + 1, err);
            goto end;
        }
        int r = oma_style_learner_add(l, &img, err, sizeof err);
        oma_image_free(&img);
        if (r != 0) { snprintf(ctx->error, sizeof ctx->error, "sample %zu: %s", done + 1, err); goto end; }
        done++;
        char msg[64];
        snprintf(msg, sizeof msg, "sample %zu/%zu", done, n);
        if (ctx->progress && ctx->progress(ctx, 0.95 * (double)done / (double)n, msg, NULL, 0)) {
            snprintf(ctx->error, sizeof ctx->error, "cancelled");
            goto end;
        }
    }
    oma_style_profile p;
    if (oma_style_learner_finish(l, &p, ctx->error, sizeof ctx->error) != 0) goto end;
    json_t *style = oma_style_profile_to_json(&p);
    ctx->result = style ? json_pack("{s:o,s:I}", "style", style, "samples", (json_int_t)done) : NULL;
    if (!ctx->result) { snprintf(ctx->error, sizeof ctx->error, "out of memory"); goto end; }
    if (ctx->progress && ctx->progress(ctx, 1.0, "done", NULL, 0)) {
        /* cancelled at the very end: the contract still says stop (job_kind.h) */
        json_decref(ctx->result);
        ctx->result = NULL;
        snprintf(ctx->error, sizeof ctx->error, "cancelled");
        goto end;
    }
    rc = 0;
end:
    oma_style_learner_free(l);
    return rc;
}

static const char *const required[] = {"samples", NULL};

const oma_job_kind oma_kind_style_profile = {
    .name = "style.profile",
    .title = "Learn a style profile (palette, tones, lines, screentone)",
    .required_inputs = required,
    .available = always,
    .validate = validate,
    .run = run,
};
