/* pose_kind_transfer.c — job kind "pose.transfer": the character (input "character") drawn in
 * a target pose with AnimateAnyone stage 1 (pose_transfer.h). The pose is params.pose
 * (OpenPose JSON, drawn DWPose-style at the output size) or an input "pose" (a skeleton
 * picture). Params: width, height (multiples of 8 in 64..2048, default 512 x 768), steps
 * (1..200, default 20), cfg (0..30, default 3.5), seed (default 42). A transparent character is
 * put on white. Progress after every step with a cheap preview (latents -> RGB by a fixed
 * linear map, no VAE). Offered only when the weights are in OMA_MODELS/animate-anyone (the
 * weight-free pose.warp stays the fallback).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/fail.h"
#include "pipelines/image/image_job.h"
#include "pipelines/job_kind.h"
#include "pipelines/pose/pose_transfer.h"

static int available(const char *models_dir)
{
    char dir[1024];
    if (!oma_aa_default_dir(models_dir, dir, sizeof dir)) return 0;
    oma_aa_files f;
    return oma_aa_files_find(dir, &f) == 0;
}

static int get_int(const json_t *params, const char *k, int lo, int hi, int mult, int *out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(params, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi ||
        json_integer_value(v) % mult)
        return oma_fail(err, errlen, "%s: must be an integer in %d..%d%s", k, lo, hi,
                        mult > 1 ? " (a multiple of 8)" : "");
    *out = (int)json_integer_value(v);
    return 0;
}

static int read_params(const json_t *params, oma_transfer_params *tp, char *err, size_t errlen)
{
    *tp = oma_transfer_defaults();
    if (!json_is_object(params)) return oma_fail(err, errlen, "params: must be an object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)params, key, v) {
        if (strcmp(key, "pose") && strcmp(key, "width") && strcmp(key, "height") && strcmp(key, "steps") &&
            strcmp(key, "cfg") && strcmp(key, "seed"))
            return oma_fail(err, errlen, "unknown parameter %s", key);
    }
    if (get_int(params, "width", 64, 2048, 8, &tp->width, err, errlen) ||
        get_int(params, "height", 64, 2048, 8, &tp->height, err, errlen) ||
        get_int(params, "steps", 1, 200, 1, &tp->steps, err, errlen))
        return -1;
    const json_t *c = json_object_get(params, "cfg");
    if (c && !json_is_null(c)) {
        if (!json_is_number(c) || json_number_value(c) < 0 || json_number_value(c) > 30)
            return oma_fail(err, errlen, "cfg: must be a number in 0..30");
        tp->cfg = (float)json_number_value(c);
    }
    const json_t *s = json_object_get(params, "seed");
    if (s && !json_is_null(s)) {
        if (!json_is_integer(s) || json_integer_value(s) < 0)
            return oma_fail(err, errlen, "seed: must be a non-negative integer");
        tp->seed = (uint64_t)json_integer_value(s);
    }
    const json_t *p = json_object_get(params, "pose");
    if (p && !json_is_null(p)) {
        oma_pose pose;
        char e[256];
        if (oma_pose_from_json(p, tp->width, tp->height, &pose, e, sizeof e) != 0)
            return oma_fail(err, errlen, "pose: %s", e);
        oma_pose_free(&pose);
    }
    return 0;
}

static int validate(const json_t *params, char *err, size_t errlen)
{
    oma_transfer_params tp;
    return read_params(params, &tp, err, errlen);
}

typedef struct step_ctx {
    oma_job_ctx *job;
} step_ctx;

static int on_step(void *ctx, int step, int steps, const oma_tensor *lat)
{
    static const float F[4][3] = {{0.298f, 0.207f, 0.208f},
                                  {0.187f, 0.286f, 0.173f},
                                  {-0.158f, 0.189f, 0.264f},
                                  {-0.184f, -0.271f, -0.473f}};
    step_ctx *s = ctx;
    int64_t h = lat->shape[2], w = lat->shape[3];
    oma_image pv = {0};
    uint8_t *png = NULL;
    size_t len = 0;
    char e[128];
    if (oma_image_alloc(&pv, (int)w, (int)h, 3) == 0) {
        for (int64_t i = 0; i < h * w; i++)
            for (int c = 0; c < 3; c++) {
                float v = 0;
                for (int k = 0; k < 4; k++) v += lat->data[k * h * w + i] * F[k][c];
                v = (v + 1) * 127.5f;
                pv.px[i * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
        if (oma_image_encode_png(&pv, NULL, NULL, &png, &len, e, sizeof e) != 0) png = NULL, len = 0;
    }
    char msg[64];
    snprintf(msg, sizeof msg, "step %d/%d", step, steps);
    int stop = 0;
    if (s->job->progress_detail) {
        json_t *d = json_pack("{s:s,s:i,s:i}", "stage", "denoise", "step", step, "steps", steps);
        stop = s->job->progress_detail(s->job, 0.15 + 0.75 * step / steps, msg, d, png, len);
        json_decref(d);
    } else if (s->job->progress) {
        stop = s->job->progress(s->job, 0.15 + 0.75 * step / steps, msg, png, len);
    }
    free(png);
    oma_image_free(&pv);
    return stop;
}

static int run(oma_job_ctx *ctx)
{
    oma_transfer_params tp;
    oma_image character = {0}, pic = {0}, out = {0};
    oma_aa_model m;
    memset(&m, 0, sizeof m);
    char dir[1024];
    int rc = -1;
    if (read_params(ctx->params, &tp, ctx->error, sizeof ctx->error) != 0) return -1;
    if (!oma_aa_default_dir(ctx->models_dir, dir, sizeof dir)) {
        snprintf(ctx->error, sizeof ctx->error, "no OMA_MODELS folder (AnimateAnyone weights)");
        return -1;
    }
    if (oma_image_job_decode(ctx, "character", &character) != 0) goto done;
    const json_t *p = json_object_get(ctx->params, "pose");
    if (p && !json_is_null(p)) {
        oma_pose pose;
        if (oma_pose_from_json(p, tp.width, tp.height, &pose, ctx->error, sizeof ctx->error) != 0) goto done;
        int r = oma_transfer_pose_image(&pose, tp.width, tp.height, &pic, ctx->error, sizeof ctx->error);
        oma_pose_free(&pose);
        if (r != 0) goto done;
    } else if (oma_image_job_decode(ctx, "pose", &pic) != 0) {
        snprintf(ctx->error, sizeof ctx->error, "a target pose is required: params.pose (OpenPose JSON) or input pose");
        goto done;
    }
    if (ctx->progress && ctx->progress(ctx, 0.08, "loading AnimateAnyone", NULL, 0)) {
        snprintf(ctx->error, sizeof ctx->error, "cancelled");
        goto done;
    }
    if (oma_aa_model_load(&m, dir, ctx->error, sizeof ctx->error) != 0) goto done;
    step_ctx sc = {ctx};
    tp.on_step = on_step;
    tp.ctx = &sc;
    int r = oma_pose_transfer(&m, &character, &pic, &tp, &out, ctx->error, sizeof ctx->error);
    if (r != 0) goto done;
    rc = oma_image_job_finish(ctx, 0.95, &out,
                              json_pack("{s:i,s:i,s:i,s:f,s:I,s:s}", "width", out.w, "height", out.h, "steps",
                                        tp.steps, "cfg", (double)tp.cfg, "seed", (json_int_t)tp.seed, "method",
                                        "animate-anyone"));
done:
    oma_aa_model_free(&m);
    oma_image_free(&character);
    oma_image_free(&pic);
    oma_image_free(&out);
    return rc;
}

static const char *const required_inputs[] = {"character", NULL};

const oma_job_kind oma_kind_pose_transfer = {
    .name = "pose.transfer",
    .title = "Draw the character in this pose (AnimateAnyone)",
    .required_inputs = required_inputs,
    .available = available,
    .validate = validate,
    .run = run,
};
