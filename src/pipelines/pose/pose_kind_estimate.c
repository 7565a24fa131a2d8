/* pose_kind_estimate.c — job kind "pose.estimate": a reference image in, the people's poses
 * out as pose.json (OpenPose), wholebody.json (133 points per person with scores),
 * skeleton.png (OpenPose colours on black, input size) and overlay.png (skeleton over the
 * dimmed photo); result {"people": N, "hands": bool, "face": bool, "hands_found": k,
 * "hands_from_palm": j, "faces_found": m, "model": "..."} — hands/face say whether those parts
 * were asked for, the counts how many were found (j of the k hands placed from a detected palm).
 * params.model picks who finds the people: "movenet-multipose" (default), "blazepose" (its
 * detector alone) or "dwpose" (DWPose's ONNX files under OMA_MODELS/dwpose, whole body in one
 * pass; hands/face do not apply). Available when the TFJS pose models are found
 * (pipelines/pose/pose_estimate.h says where it looks) or DWPose's files are
 * (pose_models.h; /api/capabilities reports each model). The models are loaded
 * once per process and shared by the workers: running them only reads the loaded graphs. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/fail.h"
#include "pipelines/job_kind.h"
#include "pipelines/pose/pose_dwpose.h"
#include "pipelines/pose/pose_estimate.h"
#include "pipelines/pose/pose_models.h"
#include "pipelines/pose/pose_render.h"

static const char *const required[] = {"image", NULL};

static const char *const model_names[] = {"movenet-multipose", "blazepose", "dwpose"};
enum { N_MODELS = 3, M_DWPOSE = 2 };

int oma_pose_model_count(void) { return N_MODELS; }
const char *oma_pose_model_name(int i) { return i >= 0 && i < N_MODELS ? model_names[i] : NULL; }

int oma_pose_model_available(const char *models_dir, int i)
{
    char d[4096];
    if (i == M_DWPOSE) return oma_pose_dwpose_available(models_dir, d, sizeof d);
    return i >= 0 && i < N_MODELS && oma_pose_models_dir(d, sizeof d) == 0;
}

static int available(const char *models_dir)
{
    for (int i = 0; i < N_MODELS; i++)
        if (oma_pose_model_available(models_dir, i)) return 1;
    return 0;
}

static int model_index(const json_t *params)
{
    const json_t *m = json_object_get(params, "model");
    if (!m) return 0;
    for (int i = 0; i < N_MODELS; i++)
        if (json_is_string(m) && !strcmp(json_string_value(m), model_names[i])) return i;
    return -1;
}

static int validate(const json_t *params, char *err, size_t errlen)
{
    if (params && !json_is_object(params))
        return oma_fail(err, errlen, "params must be an object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)params, key, v) {
        if (!strcmp(key, "hands") || !strcmp(key, "face")) {
            if (!json_is_boolean(v))
                return oma_fail(err, errlen, "params.%s must be true or false", key);
        } else if (!strcmp(key, "model")) {
            if (model_index(params) < 0)
                return oma_fail(err, errlen, "params.model must be \"movenet-multipose\", \"blazepose\" or \"dwpose\"");
        } else {
            return oma_fail(err, errlen, "unknown parameter %s", key);
        }
    }
    return 0;
}

static pthread_mutex_t est_lock = PTHREAD_MUTEX_INITIALIZER;
static oma_pose_estimator *shared_est[2];   /* per TFJS model choice; live until the process ends */

static oma_pose_estimator *get_estimator(int model, char *err, size_t errlen)
{
    pthread_mutex_lock(&est_lock);
    oma_pose_estimator **e = &shared_est[model];
    if (!*e && oma_pose_estimator_open(NULL, e, err, errlen)) *e = NULL;
    if (*e && oma_pose_estimator_set_model(*e, model_names[model], err, errlen)) {
        oma_pose_estimator_close(*e);
        *e = NULL;
    }
    oma_pose_estimator *got = *e;
    pthread_mutex_unlock(&est_lock);
    return got;
}

static int add_png(oma_job_ctx *ctx, const char *name, const oma_image *img)
{
    uint8_t *png = NULL;
    size_t len = 0;
    if (oma_image_encode_png(img, NULL, NULL, &png, &len, ctx->error, sizeof ctx->error)) return -1;
    int rc = ctx->add_output(ctx, name, "image/png", png, len);
    free(png);
    if (rc) snprintf(ctx->error, sizeof ctx->error, "could not store %s", name);
    return rc ? -1 : 0;
}

static int add_json(oma_job_ctx *ctx, const char *name, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(j);
    if (!s) {
        snprintf(ctx->error, sizeof ctx->error, "out of memory");
        return -1;
    }
    int rc = ctx->add_output(ctx, name, "application/json", (const uint8_t *)s, strlen(s));
    free(s);
    if (rc) snprintf(ctx->error, sizeof ctx->error, "could not store %s", name);
    return rc ? -1 : 0;
}

static int run(oma_job_ctx *ctx)
{
    const oma_job_input *in = oma_job_input_find(ctx, "image");
    if (!in) {
        snprintf(ctx->error, sizeof ctx->error, "input image is missing");
        return -1;
    }
    oma_image img = {0}, skel = {0}, over = {0};
    oma_pose_estimator *est = NULL;
    oma_pose_result res = {0};
    int rc = -1;
    /* native channels: the estimator puts a transparent background on white itself */
    if (oma_image_decode(in->data, in->len, 0, 1, NULL, &img, ctx->error, sizeof ctx->error)) goto end;
    int model = model_index(ctx->params);
    if (model < 0) model = 0;   /* validated before */
    if (ctx->progress && ctx->progress(ctx, 0.05, "loading pose models", NULL, 0)) goto end;
    if (model == M_DWPOSE) {
        if (ctx->progress && ctx->progress(ctx, 0.2, "finding people (DWPose)", NULL, 0)) goto end;
        if (oma_pose_estimate_dwpose(ctx->models_dir, &img, &res, ctx->error, sizeof ctx->error)) {
            if (!strncmp(ctx->error, "oma: ", 5)) memmove(ctx->error, ctx->error + 5, strlen(ctx->error + 5) + 1);
            goto end;
        }
    } else {
        if (!(est = get_estimator(model, ctx->error, sizeof ctx->error))) goto end;
        if (ctx->progress && ctx->progress(ctx, 0.2, "finding people", NULL, 0)) goto end;
        const json_t *h = json_object_get(ctx->params, "hands"), *f = json_object_get(ctx->params, "face");
        if (oma_pose_estimate(est, &img, h ? json_is_true(h) : 1, f ? json_is_true(f) : 1, &res,
                              ctx->error, sizeof ctx->error))
            goto end;
    }
    if (ctx->progress && ctx->progress(ctx, 0.8, "drawing the skeleton", NULL, 0)) goto end;
    if (add_json(ctx, "pose.json", oma_pose_to_json(&res.pose, 1)) ||
        add_json(ctx, "wholebody.json",
                 oma_pose_wholebody_json(img.w, img.h, res.wholebody, res.pose.n_people)))
        goto end;
    if (oma_pose_render(&res.pose, OMA_DRAW_ALL, &skel, ctx->error, sizeof ctx->error) ||
        add_png(ctx, "skeleton.png", &skel))
        goto end;
    if (oma_pose_overlay(&img, &res.pose, &over, ctx->error, sizeof ctx->error) ||
        add_png(ctx, "overlay.png", &over))
        goto end;
    ctx->result = json_pack("{s:i,s:b,s:b,s:i,s:i,s:i,s:s}", "people", res.pose.n_people, "hands",
                            res.hands_estimated, "face", res.face_estimated, "hands_found",
                            res.hands_found, "hands_from_palm", res.hands_from_palm, "faces_found",
                            res.faces_found, "model",
                            model == M_DWPOSE ? "dwpose (yolox_l + dw-ll_ucoco_384)"
                            : model == 1 ? "blazepose-detector + blazepose-full + handdetect + handlandmark-full + facemesh"
                                         : "movenet-multipose + blazepose-full + handdetect + handlandmark-full + facemesh");
    rc = 0;
end:
    oma_pose_result_free(&res);
    free(img.px);
    free(skel.px);
    free(over.px);
    return rc;
}

const oma_job_kind oma_kind_pose_estimate = {
    .name = "pose.estimate",
    .title = "Estimate the pose of people in an image",
    .required_inputs = required,
    .available = available,
    .validate = validate,
    .run = run,
};
