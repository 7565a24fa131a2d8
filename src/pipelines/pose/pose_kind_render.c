/* pose_kind_render.c — job kind "pose.render": an (edited) OpenPose JSON object in params.pose
 * becomes skeleton.png at its canvas size. The pose is validated before the job is queued, and
 * the canvas is held to the same 8192-per-side / 40-megapixel limits as uploaded images; any
 * parameter besides pose is refused (as pose.estimate does). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/fail.h"
#include "pipelines/job_kind.h"
#include "pipelines/pose/pose_render.h"

#define RENDER_MAX_SIDE 8192
#define RENDER_MAX_PIXELS (40LL * 1000 * 1000)

static int always(const char *models_dir)
{
    (void)models_dir;
    return 1;
}

static int read_pose(const json_t *params, oma_pose *pose, char *err, size_t errlen)
{
    const json_t *p = json_is_object(params) ? json_object_get(params, "pose") : NULL;
    if (!p)
        return oma_fail(err, errlen, "params.pose (an OpenPose JSON object) is required");
    if (oma_pose_from_json(p, 0, 0, pose, err, errlen)) return -1;
    if (pose->canvas_w > RENDER_MAX_SIDE || pose->canvas_h > RENDER_MAX_SIDE ||
        (long long)pose->canvas_w * pose->canvas_h > RENDER_MAX_PIXELS) {
        oma_fail(err, errlen, "pose canvas %dx%d is larger than %d per side / 40 megapixels",
                 pose->canvas_w, pose->canvas_h, RENDER_MAX_SIDE);
        oma_pose_free(pose);
        return -1;
    }
    return 0;
}

static int validate(const json_t *params, char *err, size_t errlen)
{
    const char *key;
    json_t *v;
    if (json_is_object(params))
        json_object_foreach((json_t *)params, key, v) {
            if (strcmp(key, "pose"))
                return oma_fail(err, errlen, "unknown parameter %s", key);
        }
    oma_pose pose;
    if (read_pose(params, &pose, err, errlen)) return -1;
    oma_pose_free(&pose);
    return 0;
}

static int run(oma_job_ctx *ctx)
{
    oma_pose pose;
    oma_image img = {0};
    uint8_t *png = NULL;
    size_t len = 0;
    int rc = -1;
    if (read_pose(ctx->params, &pose, ctx->error, sizeof ctx->error)) return -1;
    if (oma_pose_render(&pose, OMA_DRAW_ALL, &img, ctx->error, sizeof ctx->error)) goto end;
    if (oma_image_encode_png(&img, NULL, NULL, &png, &len, ctx->error, sizeof ctx->error)) goto end;
    if (ctx->add_output(ctx, "skeleton.png", "image/png", png, len)) {
        snprintf(ctx->error, sizeof ctx->error, "could not store skeleton.png");
        goto end;
    }
    ctx->result = json_pack("{s:i,s:i,s:i}", "people", pose.n_people, "width", pose.canvas_w,
                            "height", pose.canvas_h);
    rc = 0;
end:
    free(png);
    free(img.px);
    oma_pose_free(&pose);
    return rc;
}

const oma_job_kind oma_kind_pose_render = {
    .name = "pose.render",
    .title = "Render an OpenPose skeleton",
    .required_inputs = NULL,
    .available = always,
    .validate = validate,
    .run = run,
};
