/* pose_parts.c — hand landmarks and face mesh on rotated crops (see pose_parts.h). Both nets
 * output pixel coordinates inside their crop; they are projected back exactly like BlazePose's
 * (rotate about the crop centre, scale by the crop side). The 68-point face subset picks, for
 * each iBUG point (jaw 17, brows 5+5, nose 4+5, eyes 6+6, lips 12+8), the mesh vertex at the
 * same anatomical place. */
#include "models/pose_parts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    if (!p) {
        snprintf(err, errlen, "pose parts: out of memory");
        return -1;
    }
    char path[4096];
    if (hands) {
        snprintf(path, sizeof path, "%s/handlandmark-full.json", dir);
        if (oma_graph_load(path, &p->hand, err, errlen)) goto fail;
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
    free(p);
}

/* Runs a crop net: crop roi at size, outputs pts (n points with `stride` floats each, in crop
 * pixels) and a presence score. */
static int run_crop(oma_graph *g, const oma_image *rgb, const oma_bp_roi *roi, int size,
                    const char *pts_name, const char *score_name, int n, int stride,
                    float (*xy)[2], float *score, char *err, size_t errlen)
{
    if (!g) {
        snprintf(err, errlen, "pose parts: model not loaded");
        return -1;
    }
    if (!(roi->size > 1) || !isfinite(roi->cx) || !isfinite(roi->cy) || !isfinite(roi->angle)) {
        snprintf(err, errlen, "pose parts: degenerate region");
        return -1;
    }
    float *x = malloc(sizeof(float) * (size_t)size * (size_t)size * 3);
    if (!x) {
        snprintf(err, errlen, "pose parts: out of memory");
        return -1;
    }
    oma_blazepose_crop(rgb, roi, size, 1.0f / 255.0f, 0.0f, x);
    int64_t d[4] = {1, size, size, 3};
    oma_gt in = oma_gt_view_f32(x, 4, d), out[2];
    const char *names[2] = {pts_name, score_name};
    int rc = oma_graph_run(g, "input_1", &in, 2, names, out, err, errlen);
    free(x);
    if (rc) return -1;
    if (out[0].n != (size_t)n * (size_t)stride || out[1].n != 1) {
        snprintf(err, errlen, "pose parts: outputs have %zu/%zu values", out[0].n, out[1].n);
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
