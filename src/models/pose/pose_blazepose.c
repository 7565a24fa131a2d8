/* pose_blazepose.c — BlazePose detector + landmarks (see pose_blazepose.h). Constants follow
 * MediaPipe's pose_detection graph: 5 SSD layers with strides 8,16,32,32,32 (layers of equal
 * stride share a grid), 2 anchors per layer and cell (aspect 1 + interpolated), fixed anchor
 * size; box/keypoint regressions are in input pixels (scale 224); score = sigmoid(clip(l,100));
 * weighted NMS with IoU 0.3; ROI from keypoints 0 (centre) and 1 (scale), rotation target 90
 * degrees, enlarged 1.25x and made square. */
#include "models/pose/pose_blazepose.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/fail.h"

void oma_ssd_anchors(int size, float (*anchors)[2], int max)
{
    static const int strides[5] = {8, 16, 32, 32, 32};
    int n = 0, layer = 0;
    while (layer < 5) {
        int per_cell = 0, last = layer;
        while (last < 5 && strides[last] == strides[layer]) {
            per_cell += 2;
            last++;
        }
        int fm = (size + strides[layer] - 1) / strides[layer];
        for (int y = 0; y < fm; y++)
            for (int x = 0; x < fm; x++)
                for (int a = 0; a < per_cell && n < max; a++) {
                    anchors[n][0] = ((float)x + 0.5f) / (float)fm;
                    anchors[n][1] = ((float)y + 0.5f) / (float)fm;
                    n++;
                }
        layer = last;
    }
}

void oma_blazepose_anchors(float anchors[OMA_BP_ANCHORS][2])
{
    oma_ssd_anchors(OMA_BP_DET_SIZE, anchors, OMA_BP_ANCHORS);
}

/* IoU of two rows' boxes (centre x, y, width, height at 1..4). */
static float box_iou(const float *a, const float *b)
{
    float iw = fminf(a[1] + a[3] / 2, b[1] + b[3] / 2) - fmaxf(a[1] - a[3] / 2, b[1] - b[3] / 2);
    float ih = fminf(a[2] + a[4] / 2, b[2] + b[4] / 2) - fmaxf(a[2] - a[4] / 2, b[2] - b[4] / 2);
    if (iw <= 0 || ih <= 0) return 0;
    float inter = iw * ih, uni = a[3] * a[4] + b[3] * b[4] - inter;
    return uni > 0 ? inter / uni : 0;
}

static int by_score(const void *pa, const void *pb)
{
    float a = *(const float *)pa, b = *(const float *)pb;
    return (a < b) - (a > b);
}

int oma_ssd_weighted_nms(float *rows, int n, int nf, float thr, int max)
{
    if (nf < 5 || nf > OMA_SSD_MAX_ROW) return 0;
    char *used = calloc(n > 0 ? (size_t)n : 1, 1);
    if (!used) return -1;
    qsort(rows, (size_t)n, sizeof(float) * (size_t)nf, by_score);
    int kept = 0;
    for (int i = 0; i < n && kept < max; i++) {
        if (used[i]) continue;
        const float *lead = rows + (size_t)i * (size_t)nf;
        double wsum = 0, acc[OMA_SSD_MAX_ROW] = {0};
        for (int j = i; j < n; j++) {
            const float *r = rows + (size_t)j * (size_t)nf;
            if (used[j] || (j != i && box_iou(lead, r) <= thr)) continue;
            used[j] = 1;
            double w = r[0];
            wsum += w;
            for (int k = 1; k < nf; k++) acc[k] += w * r[k];
        }
        /* every row before i is taken, so the kept row can go to the front (at or before i) */
        float *o = rows + (size_t)kept * (size_t)nf;
        o[0] = lead[0];
        for (int k = 1; k < nf; k++) o[k] = (float)(acc[k] / wsum);
        kept++;
    }
    free(used);
    return kept;
}

int oma_blazepose_decode(const float anchors[OMA_BP_ANCHORS][2], const float *raw, float min_score,
                         oma_bp_detection *out, int max)
{
    enum { NF = 5 + 2 * 4 };
    const float S = (float)OMA_BP_DET_SIZE;
    float *cand = malloc(sizeof(float) * NF * OMA_BP_ANCHORS);
    if (!cand) return -1;
    int nc = 0;
    for (int i = 0; i < OMA_BP_ANCHORS; i++) {
        const float *r = raw + (size_t)i * 13;
        float l = r[0] < -100 ? -100 : r[0] > 100 ? 100 : r[0];
        if (!isfinite(l)) continue;
        float s = 1.0f / (1.0f + expf(-l));
        if (s < min_score) continue;
        float *d = cand + (size_t)nc++ * NF;
        float ax = anchors[i][0], ay = anchors[i][1];
        d[0] = s;
        d[1] = (r[1] / S + ax) * S;
        d[2] = (r[2] / S + ay) * S;
        d[3] = r[3];
        d[4] = r[4];
        for (int k = 0; k < 4; k++) {
            d[5 + 2 * k] = (r[5 + 2 * k] / S + ax) * S;
            d[6 + 2 * k] = (r[6 + 2 * k] / S + ay) * S;
        }
    }
    int n = oma_ssd_weighted_nms(cand, nc, NF, 0.3f, max);
    for (int i = 0; i < n; i++) {
        const float *d = cand + (size_t)i * NF;
        oma_bp_detection *o = &out[i];
        o->score = d[0];
        o->cx = d[1];
        o->cy = d[2];
        o->w = d[3];
        o->h = d[4];
        for (int k = 0; k < 4; k++) {
            o->kp[k][0] = d[5 + 2 * k];
            o->kp[k][1] = d[6 + 2 * k];
        }
    }
    free(cand);
    return n;
}

oma_bp_roi oma_blazepose_roi(const oma_bp_detection *d)
{
    oma_bp_roi r;
    float x0 = d->kp[0][0], y0 = d->kp[0][1], x1 = d->kp[1][0], y1 = d->kp[1][1];
    float a = (float)(M_PI / 2) - atan2f(-(y1 - y0), x1 - x0);
    /* normalise to [-pi, pi) */
    a = a - 2.0f * (float)M_PI * floorf((a + (float)M_PI) / (2.0f * (float)M_PI));
    r.cx = x0;
    r.cy = y0;
    r.size = 2.0f * hypotf(x1 - x0, y1 - y0) * 1.25f;
    r.angle = a;
    return r;
}

/* The three channels at (x, y) (a grey image gives its one channel three times): x, y in
 * pixel-index space; bilinear; zero outside (also for NaN and huge values from a region a
 * hostile model placed, before any float -> int conversion). The four weights are worked out
 * once for the three channels; each channel sums them in the same order as one at a time. */
static void sample3(const oma_image *img, float x, float y, float v[3])
{
    v[0] = v[1] = v[2] = 0;
    if (!(x > -2.0f && x < (float)img->w + 1.0f && y > -2.0f && y < (float)img->h + 1.0f)) return;
    float fx = floorf(x), fy = floorf(y);
    int x0 = (int)fx, y0 = (int)fy;
    float ax = x - fx, ay = y - fy;
    size_t step = img->c >= 3 ? 1 : 0;
    for (int dy = 0; dy < 2; dy++)
        for (int dx = 0; dx < 2; dx++) {
            int xx = x0 + dx, yy = y0 + dy;
            if (xx < 0 || yy < 0 || xx >= img->w || yy >= img->h) continue;
            float w = (dx ? ax : 1 - ax) * (dy ? ay : 1 - ay);
            const uint8_t *p = img->px + ((size_t)yy * (size_t)img->w + (size_t)xx) * (size_t)img->c;
            v[0] += w * p[0];
            v[1] += w * p[step];
            v[2] += w * p[2 * step];
        }
}

void oma_blazepose_crop(const oma_image *img, const oma_bp_roi *roi, int size, float scale,
                        float offset, float *out)
{
    float ca = cosf(roi->angle), sa = sinf(roi->angle);
    for (int v = 0; v < size; v++)
        for (int u = 0; u < size; u++) {
            float nx = ((float)u + 0.5f) / (float)size - 0.5f, ny = ((float)v + 0.5f) / (float)size - 0.5f;
            float px = roi->cx + (nx * ca - ny * sa) * roi->size;
            float py = roi->cy + (nx * sa + ny * ca) * roi->size;
            float *o = out + ((size_t)v * (size_t)size + (size_t)u) * 3, s3[3];
            sample3(img, px - 0.5f, py - 0.5f, s3);
            for (int c = 0; c < 3; c++) o[c] = s3[c] * scale + offset;
        }
}

int oma_blazepose_open(const char *dir, const char *variant, oma_blazepose **out, char *err,
                       size_t errlen)
{
    *out = NULL;
    if (strcmp(variant, "lite") && strcmp(variant, "full") && strcmp(variant, "heavy"))
        return oma_fail(err, errlen, "blazepose: unknown variant %s", variant);
    oma_blazepose *bp = calloc(1, sizeof *bp);
    if (!bp)
        return oma_fail(err, errlen, "blazepose: out of memory");
    char path[4096];
    snprintf(path, sizeof path, "%s/blazepose-detector.json", dir);
    if (oma_graph_load(path, &bp->detector, err, errlen)) goto fail;
    snprintf(path, sizeof path, "%s/blazepose-%s.json", dir, variant);
    if (oma_graph_load(path, &bp->landmarks, err, errlen)) goto fail;
    oma_blazepose_anchors(bp->anchors);
    *out = bp;
    return 0;
fail:
    oma_blazepose_close(bp);
    return -1;
}

void oma_blazepose_close(oma_blazepose *bp)
{
    if (!bp) return;
    oma_graph_free(bp->detector);
    oma_graph_free(bp->landmarks);
    free(bp);
}

int oma_blazepose_detect(oma_blazepose *bp, const oma_image *rgb, float min_score,
                         oma_bp_detection *dets, int max, int *n, char *err, size_t errlen)
{
    *n = 0;
    if (!rgb || !rgb->px || rgb->w < 1 || rgb->h < 1 || (rgb->c != 3 && rgb->c != 4 && rgb->c != 1))
        return oma_fail(err, errlen, "blazepose: bad image");
    /* Letterbox: the long side fills 224, the image is centred, black around it. A square
     * "roi" covering the padded frame lets the rotated-crop sampler do the resize. */
    float side = (float)(rgb->w > rgb->h ? rgb->w : rgb->h);
    oma_bp_roi frame = {rgb->w / 2.0f, rgb->h / 2.0f, side, 0};
    return oma_blazepose_detect_region(bp, rgb, &frame, min_score, dets, max, n, err, errlen);
}

int oma_blazepose_detect_region(oma_blazepose *bp, const oma_image *rgb, const oma_bp_roi *region,
                                float min_score, oma_bp_detection *dets, int max, int *n, char *err,
                                size_t errlen)
{
    *n = 0;
    if (!rgb || !rgb->px || rgb->w < 1 || rgb->h < 1 || (rgb->c != 3 && rgb->c != 4 && rgb->c != 1))
        return oma_fail(err, errlen, "blazepose: bad image");
    if (!(region->size >= 1) || !isfinite(region->size) || !isfinite(region->cx) || !isfinite(region->cy))
        return oma_fail(err, errlen, "blazepose: degenerate detection region");
    const int S = OMA_BP_DET_SIZE;
    oma_bp_roi frame = *region;
    frame.angle = 0;
    float *x = malloc(sizeof(float) * S * S * 3);
    if (!x)
        return oma_fail(err, errlen, "blazepose: out of memory");
    oma_blazepose_crop(rgb, &frame, S, 1.0f / 127.5f, -1.0f, x);
    /* outside the image the sampler gives 0 -> -1 after the offset; MediaPipe pads with black
     * (-1 in this range) too. */
    int64_t d[4] = {1, S, S, 3};
    oma_gt in = oma_gt_view_f32(x, 4, d), out;
    const char *oname = "Identity";
    int rc = oma_graph_run(bp->detector, "input", &in, 1, &oname, &out, err, errlen);
    free(x);
    if (rc) return -1;
    if (out.n != (size_t)OMA_BP_ANCHORS * 13) {
        oma_gt_free(&out);
        return oma_fail(err, errlen, "blazepose: detector output has %zu values", out.n);
    }
    int k = oma_blazepose_decode((const float(*)[2])bp->anchors, out.f, min_score, dets, max);
    oma_gt_free(&out);
    if (k < 0)
        return oma_fail(err, errlen, "blazepose: out of memory");
    /* region pixels (0..224) -> image pixels */
    float sc = frame.size / (float)S, ox = frame.cx - frame.size / 2, oy = frame.cy - frame.size / 2;
    for (int i = 0; i < k; i++) {
        oma_bp_detection *e = &dets[i];
        e->cx = e->cx * sc + ox;
        e->cy = e->cy * sc + oy;
        e->w *= sc;
        e->h *= sc;
        for (int q = 0; q < 4; q++) {
            e->kp[q][0] = e->kp[q][0] * sc + ox;
            e->kp[q][1] = e->kp[q][1] * sc + oy;
        }
    }
    *n = k;
    return 0;
}

static float sigm(float v) { return 1.0f / (1.0f + expf(-v)); }

int oma_blazepose_landmarks(oma_blazepose *bp, const oma_image *rgb, const oma_bp_roi *roi,
                            oma_bp_landmark lm[OMA_BP_LANDMARKS], float *flag, char *err,
                            size_t errlen)
{
    const int S = OMA_BP_LM_SIZE;
    if (!(roi->size > 1) || !isfinite(roi->cx) || !isfinite(roi->cy) || !isfinite(roi->angle))
        return oma_fail(err, errlen, "blazepose: degenerate region");
    float *x = malloc(sizeof(float) * S * S * 3);
    if (!x)
        return oma_fail(err, errlen, "blazepose: out of memory");
    oma_blazepose_crop(rgb, roi, S, 1.0f / 255.0f, 0.0f, x);
    int64_t d[4] = {1, S, S, 3};
    oma_gt in = oma_gt_view_f32(x, 4, d), out[2];
    const char *names[2] = {"Identity_2", "Identity_3"};
    int rc = oma_graph_run(bp->landmarks, "input_1", &in, 2, names, out, err, errlen);
    free(x);
    if (rc) return -1;
    if (out[0].n != OMA_BP_LANDMARKS * 5 || out[1].n != 1) {
        oma_fail(err, errlen, "blazepose: landmark outputs have %zu/%zu values", out[0].n, out[1].n);
        oma_gt_free(&out[0]);
        oma_gt_free(&out[1]);
        return -1;
    }
    float ca = cosf(roi->angle), sa = sinf(roi->angle);
    for (int i = 0; i < OMA_BP_LANDMARKS; i++) {
        const float *r = out[0].f + i * 5;
        float nx = r[0] / (float)S - 0.5f, ny = r[1] / (float)S - 0.5f;
        lm[i].x = roi->cx + (nx * ca - ny * sa) * roi->size;
        lm[i].y = roi->cy + (nx * sa + ny * ca) * roi->size;
        lm[i].z = r[2] / (float)S * roi->size;
        lm[i].visibility = sigm(r[3]);
        lm[i].presence = sigm(r[4]);
    }
    *flag = out[1].f[0];
    oma_gt_free(&out[0]);
    oma_gt_free(&out[1]);
    return 0;
}
