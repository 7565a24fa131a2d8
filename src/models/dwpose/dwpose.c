/* dwpose.c — the DWPose pipeline (see dwpose.h): letterbox -> YOLOX -> boxes -> per box
 * affine crop -> RTMPose -> SimCC decode -> OpenPose order. The model interfaces are checked
 * at open time (detector [1,3,S,S] -> [1,A,5+C] with A matching strides 8/16/32(/64);
 * pose [1,3,H,W] -> [1,133,Wx], [1,133,Wy]) so a wrong file gives a message, not a crash. */
#include "models/dwpose/dwpose.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/fail.h"
#include "formats/onnx.h"
#include "models/dwpose/dwpose_post.h"
#include "models/dwpose/dwpose_pre.h"
#include "models/onnx/onnx_rt.h"

struct oma_dwpose {
    oma_onnx_model det_m, pose_m;
    oma_ort_session *det, *pose;
    int det_size, pose_w, pose_h;
};

void oma_dwpose_close(oma_dwpose *d)
{
    if (!d) return;
    oma_ort_destroy(d->det);
    oma_ort_destroy(d->pose);
    oma_onnx_free(&d->det_m);
    oma_onnx_free(&d->pose_m);
    free(d);
}

static int load_one(const char *dir, const char *file, oma_onnx_model *m, oma_ort_session **s,
                    char *err, size_t errlen)
{
    char path[4096];
    struct stat st;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, file) >= sizeof path)
        return oma_fail(err, errlen, "oma: dwpose: model folder path too long");
    if (stat(path, &st) != 0)
        return oma_fail(err, errlen, "oma: dwpose: %s: not found (DWPose needs %s/%s and %s/%s)", path, dir,
                        OMA_DWPOSE_DET_FILE, dir, OMA_DWPOSE_POSE_FILE);
    if (oma_onnx_load(path, m, err, errlen) != 0) return -1;
    return oma_ort_create(m, s, err, errlen);
}

int oma_dwpose_open(const char *dir, oma_dwpose **out, char *err, size_t errlen)
{
    *out = NULL;
    oma_dwpose *d = calloc(1, sizeof *d);
    if (!d) return oma_fail(err, errlen, "oma: dwpose: out of memory");
    if (load_one(dir, OMA_DWPOSE_DET_FILE, &d->det_m, &d->det, err, errlen) != 0 ||
        load_one(dir, OMA_DWPOSE_POSE_FILE, &d->pose_m, &d->pose, err, errlen) != 0) {
        oma_dwpose_close(d);
        return -1;
    }
    const oma_onnx_value *di = d->det_m.n_inputs == 1 ? &d->det_m.inputs[0] : NULL;
    if (!di || di->ndim != 4 || di->dims[1] != 3 || di->dims[2] != di->dims[3] || di->dims[2] < 32 || di->dims[2] > 4096 ||
        d->det_m.n_outputs != 1) {
        oma_dwpose_close(d);
        return oma_fail(err, errlen, "oma: dwpose: %s/%s: not a YOLOX detector (one [1,3,S,S] input and one output expected)", dir, OMA_DWPOSE_DET_FILE);
    }
    d->det_size = (int)di->dims[2];
    const oma_onnx_value *pi = d->pose_m.n_inputs == 1 ? &d->pose_m.inputs[0] : NULL;
    if (!pi || pi->ndim != 4 || pi->dims[1] != 3 || pi->dims[2] < 8 || pi->dims[3] < 8 || pi->dims[2] > 2048 ||
        pi->dims[3] > 2048 || d->pose_m.n_outputs != 2) {
        oma_dwpose_close(d);
        return oma_fail(err, errlen, "oma: dwpose: %s/%s: not an RTMPose SimCC model (one [1,3,H,W] input, simcc_x and simcc_y outputs expected)", dir, OMA_DWPOSE_POSE_FILE);
    }
    d->pose_h = (int)pi->dims[2];
    d->pose_w = (int)pi->dims[3];
    *out = d;
    return 0;
}

static int run1(oma_ort_session *s, int c, int h, int w, const float *chw, oma_ort_value *outs, char *err, size_t errlen)
{
    oma_ort_value in;
    int64_t dims[4] = {1, c, h, w};
    if (oma_ort_value_alloc(&in, OMA_ONNX_FLOAT, 4, dims) != 0) return oma_fail(err, errlen, "oma: dwpose: out of memory");
    memcpy(in.data, chw, sizeof(float) * (size_t)(c * h * w));
    int rc = oma_ort_run(s, &in, 1, outs, err, errlen);
    oma_ort_value_free(&in);
    return rc;
}

int oma_dwpose_detect(oma_dwpose *d, const uint8_t *rgb, int w, int h, float *boxes, int *n, char *err, size_t errlen)
{
    *n = 0;
    if (w < 1 || h < 1 || w > 16384 || h > 16384) return oma_fail(err, errlen, "oma: dwpose: image size %dx%d out of range", w, h);
    int S = d->det_size;
    float *buf = malloc(sizeof(float) * 3 * (size_t)S * S), ratio = 0;
    if (!buf) return oma_fail(err, errlen, "oma: dwpose: out of memory");
    if (oma_dwpose_letterbox(rgb, w, h, S, buf, &ratio) != 0) { free(buf); return oma_fail(err, errlen, "oma: dwpose: letterbox failed"); }
    oma_ort_value o[2];
    memset(o, 0, sizeof o);
    if (run1(d->det, 3, S, S, buf, o, err, errlen) != 0) { free(buf); return -1; }
    free(buf);
    float scores[OMA_DWPOSE_MAX_PEOPLE];
    int nb = -1;
    if (o[0].ndim == 3 && o[0].dims[0] == 1 && o[0].dims[2] >= 6) {
        static const int strides[4] = {8, 16, 32, 64};
        for (int ns = 1; ns <= 4 && nb < 0; ns++)
            nb = oma_dwpose_yolox_boxes(o[0].data, o[0].dims[1], (int)o[0].dims[2] - 5, S, S, strides, ns, ratio,
                                        boxes, scores, OMA_DWPOSE_MAX_PEOPLE);
    }
    oma_ort_value_free(&o[0]);
    if (nb < 0) return oma_fail(err, errlen, "oma: dwpose: the detector's output is not [1, anchors, 5+classes] over strides 8/16/32");
    *n = nb;
    return 0;
}

int oma_dwpose_pose_boxes(oma_dwpose *d, const uint8_t *rgb, int w, int h, const float *boxes, int nb,
                          oma_dwpose_person **people, char *err, size_t errlen)
{
    *people = NULL;
    if (w < 1 || h < 1 || w > 16384 || h > 16384) return oma_fail(err, errlen, "oma: dwpose: image size %dx%d out of range", w, h);
    if (nb < 1 || nb > OMA_DWPOSE_MAX_PEOPLE) return oma_fail(err, errlen, "oma: dwpose: %d boxes (1..%d)", nb, OMA_DWPOSE_MAX_PEOPLE);
    oma_ort_value o[2];
    oma_dwpose_person *ps = calloc((size_t)nb, sizeof *ps);
    float *crop = malloc(sizeof(float) * 3 * (size_t)d->pose_w * d->pose_h);
    if (!ps || !crop) { free(ps); free(crop); return oma_fail(err, errlen, "oma: dwpose: out of memory"); }
    for (int b = 0; b < nb; b++) {
        float center[2], scale[2], kp[133 * 2], sc[133];
        memcpy(ps[b].box, boxes + 4 * b, sizeof ps[b].box);
        if (oma_dwpose_crop(rgb, w, h, boxes + 4 * b, d->pose_w, d->pose_h, crop, center, scale) != 0) {
            /* a degenerate box: no keypoints */
            for (int k = 0; k < 134; k++) { ps[b].kp[2 * k] = ps[b].kp[2 * k + 1] = -1; ps[b].score[k] = 0; }
            for (int k = 0; k < 133; k++) { ps[b].wb[2 * k] = ps[b].wb[2 * k + 1] = -1; ps[b].wb_score[k] = 0; }
            continue;
        }
        memset(o, 0, sizeof o);
        if (run1(d->pose, 3, d->pose_h, d->pose_w, crop, o, err, errlen) != 0) { free(ps); free(crop); return -1; }
        int ok = o[0].ndim == 3 && o[1].ndim == 3 && o[0].dims[1] == 133 && o[1].dims[1] == 133 && o[0].dims[0] == 1 &&
                 o[1].dims[0] == 1 && o[0].dims[2] > 0 && o[1].dims[2] > 0;
        if (!ok) {
            oma_ort_value_free(&o[0]); oma_ort_value_free(&o[1]); free(ps); free(crop);
            return oma_fail(err, errlen, "oma: dwpose: the pose model's outputs are not simcc_x [1,133,Wx] and simcc_y [1,133,Wy]");
        }
        const float in_size[2] = {(float)d->pose_w, (float)d->pose_h};
        oma_dwpose_simcc_decode(o[0].data, o[1].data, 133, (int)o[0].dims[2], (int)o[1].dims[2], 2.0f, in_size, center, scale, kp, sc);
        oma_ort_value_free(&o[0]);
        oma_ort_value_free(&o[1]);
        memcpy(ps[b].wb, kp, sizeof ps[b].wb);
        memcpy(ps[b].wb_score, sc, sizeof ps[b].wb_score);
        oma_dwpose_to_openpose(kp, sc, ps[b].kp, ps[b].score);
    }
    free(crop);
    *people = ps;
    return 0;
}

int oma_dwpose_run(oma_dwpose *d, const uint8_t *rgb, int w, int h, oma_dwpose_person **people,
                   int *n, char *err, size_t errlen)
{
    *people = NULL;
    *n = 0;
    float boxes[OMA_DWPOSE_MAX_PEOPLE * 4];
    int nb = 0;
    if (oma_dwpose_detect(d, rgb, w, h, boxes, &nb, err, errlen) != 0) return -1;
    if (nb == 0) {                  /* DWPose: no person found -> the whole image */
        boxes[0] = 0; boxes[1] = 0; boxes[2] = (float)w; boxes[3] = (float)h;
        nb = 1;
    }
    if (oma_dwpose_pose_boxes(d, rgb, w, h, boxes, nb, people, err, errlen) != 0) return -1;
    *n = nb;
    return 0;
}
