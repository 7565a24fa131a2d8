/* pose_movenet.c — MoveNet MultiPose on the graph executor (see pose_movenet.h). The graph's
 * output [1, 6, 56] holds per person 17 x (y, x, score), then ymin, xmin, ymax, xmax, score,
 * all coordinates as fractions of the (padded) input; they are scaled back through the region. */
#include "models/pose/pose_movenet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/fail.h"

struct oma_movenet {
    oma_graph *g;
};

int oma_movenet_open(const char *dir, oma_movenet **out, char *err, size_t errlen)
{
    *out = NULL;
    char path[4200];
    snprintf(path, sizeof path, "%s/movenet-multipose.json", dir);
    oma_movenet *m = calloc(1, sizeof *m);
    if (!m) return oma_fail(err, errlen, "movenet: out of memory");
    if (oma_graph_load(path, &m->g, err, errlen)) {
        free(m);
        return -1;
    }
    *out = m;
    return 0;
}

void oma_movenet_close(oma_movenet *m)
{
    if (!m) return;
    oma_graph_free(m->g);
    free(m);
}

void oma_movenet_input_size(int w, int h, int *iw, int *ih, int *sw, int *sh)
{
    if (w < 1) w = 1;
    if (h < 1) h = 1;
    if (w >= h) {
        *sw = OMA_MN_SIDE;
        *sh = (int)(((long long)h * OMA_MN_SIDE + w / 2) / w);
    } else {
        *sh = OMA_MN_SIDE;
        *sw = (int)(((long long)w * OMA_MN_SIDE + h / 2) / h);
    }
    if (*sw < 1) *sw = 1;
    if (*sh < 1) *sh = 1;
    *iw = (*sw + 31) / 32 * 32;
    *ih = (*sh + 31) / 32 * 32;
}

void oma_movenet_prepare(const oma_image *img, int rx, int ry, int rw, int rh, int iw, int ih,
                         int sw, int sh, float *x)
{
    memset(x, 0, sizeof(float) * (size_t)iw * (size_t)ih * 3);
    const int c = img->c;
    for (int v = 0; v < sh; v++) {
        long long y0 = ry + (long long)v * rh / sh, y1 = ry + (long long)(v + 1) * rh / sh;
        if (y1 <= y0) y1 = y0 + 1;
        for (int u = 0; u < sw; u++) {
            long long x0 = rx + (long long)u * rw / sw, x1 = rx + (long long)(u + 1) * rw / sw;
            if (x1 <= x0) x1 = x0 + 1;
            long long sum[3] = {0, 0, 0}, cnt = (y1 - y0) * (x1 - x0);
            for (long long yy = y0; yy < y1; yy++) {
                if (yy < 0 || yy >= img->h) continue;   /* outside: black */
                for (long long xx = x0; xx < x1; xx++) {
                    if (xx < 0 || xx >= img->w) continue;
                    const uint8_t *p = img->px + ((size_t)yy * (size_t)img->w + (size_t)xx) * (size_t)c;
                    for (int k = 0; k < 3; k++) sum[k] += p[c >= 3 ? k : 0];
                }
            }
            float *o = x + ((size_t)v * (size_t)iw + (size_t)u) * 3;
            for (int k = 0; k < 3; k++) o[k] = (float)((sum[k] + cnt / 2) / cnt);
        }
    }
}

int oma_movenet_detect(oma_movenet *m, const oma_image *img, int rx, int ry, int rw, int rh,
                       float min_score, oma_mn_person *people, int max, int *n, char *err,
                       size_t errlen)
{
    *n = 0;
    if (!img || !img->px || img->w < 1 || img->h < 1 || (img->c != 1 && img->c != 3 && img->c != 4))
        return oma_fail(err, errlen, "movenet: bad image");
    if (rw < 1 || rh < 1) return oma_fail(err, errlen, "movenet: empty region");
    int iw, ih, sw, sh;
    oma_movenet_input_size(rw, rh, &iw, &ih, &sw, &sh);
    float *x = malloc(sizeof(float) * (size_t)iw * (size_t)ih * 3);
    if (!x) return oma_fail(err, errlen, "movenet: out of memory");
    oma_movenet_prepare(img, rx, ry, rw, rh, iw, ih, sw, sh, x);
    int64_t d[4] = {1, ih, iw, 3};
    oma_gt in = oma_gt_view_f32(x, 4, d), out;
    const char *oname = "Identity";
    int rc = oma_graph_run(m->g, "input", &in, 1, &oname, &out, err, errlen);
    free(x);
    if (rc) return -1;
    if (out.n != (size_t)OMA_MN_PEOPLE * 56) {
        oma_gt_free(&out);
        return oma_fail(err, errlen, "movenet: output has %zu values, expected %d", out.n, OMA_MN_PEOPLE * 56);
    }
    /* input fraction -> image pixels */
    const float fx = (float)iw * (float)rw / (float)sw, fy = (float)ih * (float)rh / (float)sh;
    int k = 0;
    for (int p = 0; p < OMA_MN_PEOPLE && k < max; p++) {
        const float *r = out.f + p * 56;
        if (!(r[55] >= min_score)) continue;
        oma_mn_person *q = &people[k++];
        q->score = r[55];
        q->y0 = ry + r[51] * fy;
        q->x0 = rx + r[52] * fx;
        q->y1 = ry + r[53] * fy;
        q->x1 = rx + r[54] * fx;
        for (int j = 0; j < OMA_MN_POINTS; j++) {
            q->kp[j][0] = rx + r[j * 3 + 1] * fx;
            q->kp[j][1] = ry + r[j * 3] * fy;
            q->kp[j][2] = r[j * 3 + 2];
        }
    }
    oma_gt_free(&out);
    /* best first (the graph gives them in its top-k order, which need not be by final score) */
    for (int i = 1; i < k; i++)
        for (int j = i; j > 0 && people[j].score > people[j - 1].score; j--) {
            oma_mn_person t = people[j];
            people[j] = people[j - 1];
            people[j - 1] = t;
        }
    *n = k;
    return 0;
}
