/* pose_parts.c — hand landmarks and face mesh on rotated crops (see pose_parts.h). Both nets
 * output pixel coordinates inside their crop; they are projected back exactly like BlazePose's
 * (rotate about the crop centre, scale by the crop side). The 68-point face subset picks, for
 * each iBUG point (jaw 17, brows 5+5, nose 4+5, eyes 6+6, lips 12+8), the mesh vertex at the
 * same anatomical place. */
#include "models/pose/pose_parts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/fail.h"

const int oma_face68_from_mesh[68] = {
    127, 234, 132, 58, 172, 150, 149, 148, 152, 377, 378, 379, 397, 288, 361, 454, 356,   /* jaw */
    70, 63, 105, 66, 107,          /* right brow */
    336, 296, 334, 293, 300,       /* left brow */
    168, 197, 5, 4,                /* nose bridge */
    75, 97, 2, 326, 305,           /* nose base */
    33, 160, 158, 133, 153, 144,   /* right eye */
    362, 385, 387, 263, 373, 380,  /* left eye */
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,   /* outer lips */
    78, 82, 13, 312, 308, 317, 14, 87,                     /* inner lips */
};

int oma_pose_parts_open(const char *dir, int hands, int face, oma_pose_parts **out, char *err,
                        size_t errlen)
{
    *out = NULL;
    oma_pose_parts *p = calloc(1, sizeof *p);
    if (!p)
        return oma_fail(err, errlen, "pose parts: out of memory");
    char path[4096];
    if (hands) {
        snprintf(path, sizeof path, "%s/handlandmark-full.json", dir);
        if (oma_graph_load(path, &p->hand, err, errlen)) goto fail;
        snprintf(path, sizeof path, "%s/handdetect.json", dir);
        if (access(path, R_OK) == 0 && oma_graph_load(path, &p->palm, err, errlen)) goto fail;
        oma_palm_anchors(p->palm_anchors);
    }
    if (face) {
        snprintf(path, sizeof path, "%s/facemesh.json", dir);
        if (oma_graph_load(path, &p->face, err, errlen)) goto fail;
    }
    *out = p;
    return 0;
fail:
    oma_pose_parts_close(p);
    return -1;
}

void oma_pose_parts_close(oma_pose_parts *p)
{
    if (!p) return;
    oma_graph_free(p->hand);
    oma_graph_free(p->face);
    oma_graph_free(p->palm);
    free(p);
}

/* Runs a crop net: crop roi at size, outputs pts (n points with `stride` floats each, in crop
 * pixels) and a presence score. */
static int run_crop(oma_graph *g, const oma_image *rgb, const oma_bp_roi *roi, int size,
                    const char *pts_name, const char *score_name, int n, int stride,
                    float (*xy)[2], float *score, char *err, size_t errlen)
{
    if (!g)
        return oma_fail(err, errlen, "pose parts: model not loaded");
    if (!(roi->size > 1) || !isfinite(roi->cx) || !isfinite(roi->cy) || !isfinite(roi->angle))
        return oma_fail(err, errlen, "pose parts: degenerate region");
    float *x = malloc(sizeof(float) * (size_t)size * (size_t)size * 3);
    if (!x)
        return oma_fail(err, errlen, "pose parts: out of memory");
    oma_blazepose_crop(rgb, roi, size, 1.0f / 255.0f, 0.0f, x);
    int64_t d[4] = {1, size, size, 3};
    oma_gt in = oma_gt_view_f32(x, 4, d), out[2];
    const char *names[2] = {pts_name, score_name};
    int rc = oma_graph_run(g, "input_1", &in, 2, names, out, err, errlen);
    free(x);
    if (rc) return -1;
    if (out[0].n != (size_t)n * (size_t)stride || out[1].n != 1) {
        oma_fail(err, errlen, "pose parts: outputs have %zu/%zu values", out[0].n, out[1].n);
        oma_gt_free(&out[0]);
        oma_gt_free(&out[1]);
        return -1;
    }
    float ca = cosf(roi->angle), sa = sinf(roi->angle);
    for (int i = 0; i < n; i++) {
        float nx = out[0].f[i * stride] / (float)size - 0.5f, ny = out[0].f[i * stride + 1] / (float)size - 0.5f;
        xy[i][0] = roi->cx + (nx * ca - ny * sa) * roi->size;
        xy[i][1] = roi->cy + (nx * sa + ny * ca) * roi->size;
    }
    *score = out[1].f[0];
    oma_gt_free(&out[0]);
    oma_gt_free(&out[1]);
    return 0;
}

int oma_pose_hand(oma_pose_parts *p, const oma_image *rgb, const oma_bp_roi *roi,
                  float xy[OMA_HAND_POINTS][2], float *score, char *err, size_t errlen)
{
    return run_crop(p->hand, rgb, roi, OMA_HAND_SIZE, "Identity", "Identity_1", OMA_HAND_POINTS, 3,
                    xy, score, err, errlen);
}

int oma_pose_face(oma_pose_parts *p, const oma_image *rgb, const oma_bp_roi *roi,
                  float xy[OMA_FACE_MESH_POINTS][2], float *score, char *err, size_t errlen)
{
    return run_crop(p->face, rgb, roi, OMA_FACE_SIZE, "Identity_2", "Identity_1",
                    OMA_FACE_MESH_POINTS, 3, xy, score, err, errlen);
}

void oma_palm_anchors(float anchors[OMA_PALM_ANCHORS][2])
{
    /* 32x32x2 + 16x16x2 + 8x8x6 = 2944 */
    oma_ssd_anchors(OMA_PALM_SIZE, anchors, OMA_PALM_ANCHORS);
}

int oma_palm_decode(const float anchors[OMA_PALM_ANCHORS][2], const float *raw, float min_score,
                    oma_palm *out, int max)
{
    enum { NF = 5 + 2 * OMA_PALM_KP };   /* also the raw output's row length */
    const float S = (float)OMA_PALM_SIZE;
    float *cand = malloc(sizeof(float) * NF * OMA_PALM_ANCHORS);
    if (!cand) return -1;
    int nc = 0;
    for (int i = 0; i < OMA_PALM_ANCHORS; i++) {
        const float *r = raw + (size_t)i * NF;
        int finite = 1;
        for (int k = 0; k < NF; k++) finite &= isfinite(r[k]) != 0;
        if (!finite) continue;
        float l = r[0] < -100 ? -100 : r[0] > 100 ? 100 : r[0];
        float s = 1.0f / (1.0f + expf(-l));
        if (s < min_score || !(r[3] > 0) || !(r[4] > 0)) continue;
        float *d = cand + (size_t)nc++ * NF;
        float ax = anchors[i][0] * S, ay = anchors[i][1] * S;
        d[0] = s;
        d[1] = r[1] + ax;
        d[2] = r[2] + ay;
        d[3] = r[3];
        d[4] = r[4];
        for (int k = 0; k < OMA_PALM_KP; k++) {
            d[5 + 2 * k] = r[5 + 2 * k] + ax;
            d[6 + 2 * k] = r[6 + 2 * k] + ay;
        }
    }
    int n = oma_ssd_weighted_nms(cand, nc, NF, 0.3f, max);
    for (int i = 0; i < n; i++) {
        const float *d = cand + (size_t)i * NF;
        oma_palm *o = &out[i];
        o->score = d[0];
        o->cx = d[1];
        o->cy = d[2];
        o->w = d[3];
        o->h = d[4];
        for (int k = 0; k < OMA_PALM_KP; k++) {
            o->kp[k][0] = d[5 + 2 * k];
            o->kp[k][1] = d[6 + 2 * k];
        }
    }
    free(cand);
    return n;
}

int oma_pose_palms(oma_pose_parts *p, const oma_image *rgb, const oma_bp_roi *region,
                   float min_score, oma_palm *out, int max, int *n, char *err, size_t errlen)
{
    *n = 0;
    if (!p->palm || max <= 0) return 0;
    if (!(region->size > 1) || !isfinite(region->size) || !isfinite(region->cx) || !isfinite(region->cy))
        return oma_fail(err, errlen, "pose parts: degenerate palm region");
    const int S = OMA_PALM_SIZE;
    oma_bp_roi r = *region;
    r.angle = 0;
    float *x = malloc(sizeof(float) * (size_t)S * (size_t)S * 3);
    if (!x)
        return oma_fail(err, errlen, "pose parts: out of memory");
    oma_blazepose_crop(rgb, &r, S, 1.0f / 127.5f, -1.0f, x);
    int64_t d[4] = {1, S, S, 3};
    oma_gt in = oma_gt_view_f32(x, 4, d), o;
    const char *oname = "Identity";
    int rc = oma_graph_run(p->palm, "input", &in, 1, &oname, &o, err, errlen);
    free(x);
    if (rc) return -1;
    if (o.n != (size_t)OMA_PALM_ANCHORS * (5 + 2 * OMA_PALM_KP)) {
        oma_fail(err, errlen, "pose parts: palm detector output has %zu values", o.n);
        oma_gt_free(&o);
        return -1;
    }
    int k = oma_palm_decode((const float(*)[2])p->palm_anchors, o.f, min_score, out, max);
    oma_gt_free(&o);
    if (k < 0)
        return oma_fail(err, errlen, "pose parts: out of memory");
    /* crop pixels -> image pixels */
    float sc = r.size / (float)S, ox = r.cx - r.size / 2, oy = r.cy - r.size / 2;
    for (int i = 0; i < k; i++) {
        oma_palm *e = &out[i];
        e->cx = e->cx * sc + ox;
        e->cy = e->cy * sc + oy;
        e->w *= sc;
        e->h *= sc;
        for (int q = 0; q < OMA_PALM_KP; q++) {
            e->kp[q][0] = e->kp[q][0] * sc + ox;
            e->kp[q][1] = e->kp[q][1] * sc + oy;
        }
    }
    *n = k;
    return 0;
}

oma_bp_roi oma_palm_hand_roi(const oma_palm *d)
{
    float x0 = d->kp[0][0], y0 = d->kp[0][1], x1 = d->kp[2][0], y1 = d->kp[2][1];
    float a = (float)(M_PI / 2) - atan2f(-(y1 - y0), x1 - x0);
    a = a - 2.0f * (float)M_PI * floorf((a + (float)M_PI) / (2.0f * (float)M_PI));
    float side = fmaxf(d->w, d->h);
    oma_bp_roi r;
    r.angle = a;
    r.cx = d->cx + 0.5f * side * sinf(a);
    r.cy = d->cy - 0.5f * side * cosf(a);
    r.size = side * 2.6f;
    return r;
}
