/* dwpose_post.c — DWPose's post-processing (see dwpose_post.h), following onnxdet.py,
 * onnxpose.py and wholebody.py step by step so the results match the Python reference on the
 * same network outputs (tests/unit/models/test_dwpose_post.c). */
#include "models/dwpose/dwpose_post.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cand { float x1, y1, x2, y2, s; } cand;

static int by_score_desc(const void *a, const void *b)
{
    float x = ((const cand *)a)->s, y = ((const cand *)b)->s;
    return x < y ? 1 : x > y ? -1 : 0;
}

int oma_dwpose_yolox_boxes(const float *pred, int64_t n_anchors, int n_cls, int in_h, int in_w,
                           const int *strides, int n_strides, float ratio, float *boxes,
                           float *scores, int max_boxes)
{
    int64_t total = 0;
    for (int i = 0; i < n_strides; i++) {
        if (strides[i] < 1) return -1;
        total += (int64_t)(in_h / strides[i]) * (in_w / strides[i]);
    }
    if (total != n_anchors || n_cls < 1 || !(ratio > 0)) return -1;
    int64_t ch = 5 + n_cls;
    cand *c = malloc((size_t)(n_anchors ? n_anchors : 1) * sizeof *c);
    if (!c) return -1;
    int64_t n = 0, a = 0;
    for (int si = 0; si < n_strides; si++) {
        int s = strides[si], gh = in_h / s, gw = in_w / s;
        for (int gy = 0; gy < gh; gy++)
            for (int gx = 0; gx < gw; gx++, a++) {
                const float *p = pred + a * ch;
                /* only class 0 is kept in the end and the NMS is per class: class 0 alone */
                float score = p[4] * p[5];
                if (!(score > 0.1f)) continue;
                float cx = (p[0] + (float)gx) * (float)s, cy = (p[1] + (float)gy) * (float)s;
                float w = expf(p[2]) * (float)s, h = expf(p[3]) * (float)s;
                c[n].x1 = (cx - w / 2.0f) / ratio;
                c[n].y1 = (cy - h / 2.0f) / ratio;
                c[n].x2 = (cx + w / 2.0f) / ratio;
                c[n].y2 = (cy + h / 2.0f) / ratio;
                c[n].s = score;
                n++;
            }
    }
    qsort(c, (size_t)n, sizeof *c, by_score_desc);
    char *dead = calloc((size_t)(n ? n : 1), 1);
    if (!dead) { free(c); return -1; }
    int out = 0;
    for (int64_t i = 0; i < n; i++) {
        if (dead[i]) continue;
        float ai = (c[i].x2 - c[i].x1 + 1) * (c[i].y2 - c[i].y1 + 1);
        for (int64_t j = i + 1; j < n; j++) {
            if (dead[j]) continue;
            float w = fmaxf(0.0f, fminf(c[i].x2, c[j].x2) - fmaxf(c[i].x1, c[j].x1) + 1);
            float h = fmaxf(0.0f, fminf(c[i].y2, c[j].y2) - fmaxf(c[i].y1, c[j].y1) + 1);
            float inter = w * h, aj = (c[j].x2 - c[j].x1 + 1) * (c[j].y2 - c[j].y1 + 1);
            if (!(inter / (ai + aj - inter) <= 0.45f)) dead[j] = 1;
        }
        if (c[i].s > 0.3f && out < max_boxes) {
            boxes[4 * out] = c[i].x1; boxes[4 * out + 1] = c[i].y1;
            boxes[4 * out + 2] = c[i].x2; boxes[4 * out + 3] = c[i].y2;
            scores[out++] = c[i].s;
        }
    }
    free(dead);
    free(c);
    return out;
}

void oma_dwpose_simcc_decode(const float *simcc_x, const float *simcc_y, int k, int wx, int wy,
                             float split_ratio, const float input_size[2], const float center[2],
                             const float scale[2], float *kp, float *score)
{
    for (int j = 0; j < k; j++) {
        const float *sx = simcc_x + (int64_t)j * wx, *sy = simcc_y + (int64_t)j * wy;
        int bx = 0, by = 0;
        for (int i = 1; i < wx; i++) if (sx[i] > sx[bx]) bx = i;
        for (int i = 1; i < wy; i++) if (sy[i] > sy[by]) by = i;
        float v = sx[bx] > sy[by] ? sy[by] : sx[bx];
        float lx = (float)bx, ly = (float)by;
        if (v <= 0.0f) lx = ly = -1.0f;
        lx /= split_ratio;
        ly /= split_ratio;
        kp[2 * j] = lx / input_size[0] * scale[0] + center[0] - scale[0] / 2;
        kp[2 * j + 1] = ly / input_size[1] * scale[1] + center[1] - scale[1] / 2;
        score[j] = v;
    }
}

void oma_dwpose_to_openpose(const float *kp133, const float *sc133, float *kp134, float *sc134)
{
    static const int mm[15] = {17, 6, 8, 10, 7, 9, 12, 14, 16, 13, 15, 2, 1, 4, 3};
    static const int op[15] = {1, 2, 3, 4, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17};
    float k[134 * 2], s[134];
    memcpy(k, kp133, 17 * 2 * sizeof(float));
    memcpy(s, sc133, 17 * sizeof(float));
    k[34] = (kp133[10] + kp133[12]) / 2;
    k[35] = (kp133[11] + kp133[13]) / 2;
    s[17] = sc133[5] > 0.3f && sc133[6] > 0.3f ? 1.0f : 0.0f;
    memcpy(k + 36, kp133 + 34, (133 - 17) * 2 * sizeof(float));
    memcpy(s + 18, sc133 + 17, (133 - 17) * sizeof(float));
    memcpy(kp134, k, sizeof k);
    memcpy(sc134, s, sizeof s);
    for (int i = 0; i < 15; i++) {
        kp134[2 * op[i]] = k[2 * mm[i]];
        kp134[2 * op[i] + 1] = k[2 * mm[i] + 1];
        sc134[op[i]] = s[mm[i]];
    }
}
