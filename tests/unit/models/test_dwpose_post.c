/* test_dwpose_post.c — DWPose's post-processing in C against DWPose's own Python functions on
 * the same random network outputs (tools/make_dwpose_post_fixtures.py runs onnxdet.py,
 * onnxpose.py and wholebody.py from IDEA-Research/DWPose): YOLOX decode + NMS boxes (8400
 * anchors, 640x640, ratio 0.8), SimCC decode + rescale (133 keypoints, 2 boxes), and the
 * 133 -> OpenPose-134 reordering. Plus: an anchor count that does not fit the strides fails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/check.h"
#include "models/dwpose/dwpose_post.h"

static float *load(const char *dir, const char *name, size_t *n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) { *n = 0; return NULL; }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *p = malloc((size_t)len + 4);
    if (p && fread(p, 1, (size_t)len, f) != (size_t)len) { free(p); p = NULL; }
    fclose(f);
    *n = (size_t)len / 4;
    return p;
}

static int close_to(float a, float b, float tol) { return fabsf(a - b) <= tol * (1 + fabsf(b)); }

int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/onnx", src ? src : "..");
    size_t n_in, n_ref;

    /* detector */
    float *pred = load(dir, "dwpose_post_det.in.bin", &n_in), *ref = load(dir, "dwpose_post_det.ref.bin", &n_ref);
    CHECK(pred && ref && n_in == 8400 * 6 && n_ref % 4 == 0);
    if (pred && ref) {
        int strides[3] = {8, 16, 32};
        float *boxes = malloc(4 * 8400 * sizeof(float)), *scores = malloc(8400 * sizeof(float));
        int nb = oma_dwpose_yolox_boxes(pred, 8400, 1, 640, 640, strides, 3, 0.8f, boxes, scores, 8400);
        printf("detector: %d boxes (DWPose's Python: %zu)\n", nb, n_ref / 4);
        CHECK(nb == (int)(n_ref / 4));
        int bad = 0;
        for (int i = 0; i < nb && i < (int)(n_ref / 4); i++)
            for (int j = 0; j < 4; j++)
                if (!close_to(boxes[4 * i + j], ref[4 * i + j], 1e-5f) && bad++ < 5)
                    fprintf(stderr, "box %d[%d]: %g vs %g\n", i, j, boxes[4 * i + j], ref[4 * i + j]);
        CHECK(bad == 0);
        CHECK(oma_dwpose_yolox_boxes(pred, 8399, 1, 640, 640, strides, 3, 0.8f, boxes, scores, 8400) == -1);
        free(boxes);
        free(scores);
    }
    free(pred);
    free(ref);

    /* SimCC */
    const int K = 133, wx = 72, wy = 96;
    float *in = load(dir, "dwpose_post_simcc.in.bin", &n_in);
    ref = load(dir, "dwpose_post_simcc.ref.bin", &n_ref);
    CHECK(in && ref && n_in == (size_t)(2 * K * (wx + wy) + 8) && n_ref == (size_t)(2 * K * 3));
    if (in && ref && n_ref == (size_t)(2 * K * 3)) {
        const float *sx = in, *sy = in + 2 * K * wx, *center = sy + 2 * K * wy, *scale = center + 4;
        const float size[2] = {36, 48};
        int bad = 0;
        for (int b = 0; b < 2; b++) {
            float kp[133 * 2], sc[133];
            oma_dwpose_simcc_decode(sx + b * K * wx, sy + b * K * wy, K, wx, wy, 2.0f, size, center + 2 * b, scale + 2 * b, kp, sc);
            for (int j = 0; j < K; j++) {
                bad += !close_to(kp[2 * j], ref[(b * K + j) * 2], 1e-5f) + !close_to(kp[2 * j + 1], ref[(b * K + j) * 2 + 1], 1e-5f);
                bad += sc[j] != ref[2 * K * 2 + b * K + j];
            }
        }
        CHECK(bad == 0);
    }
    free(in);
    free(ref);

    /* 133 -> 134 */
    in = load(dir, "dwpose_post_op.in.bin", &n_in);
    ref = load(dir, "dwpose_post_op.ref.bin", &n_ref);
    CHECK(in && ref && n_in == 2 * 133 * 3 && n_ref == 2 * 134 * 3);
    if (in && ref && n_in == 2 * 133 * 3 && n_ref == 2 * 134 * 3) {
        int bad = 0;
        for (int b = 0; b < 2; b++) {
            float k134[134 * 2], s134[134];
            oma_dwpose_to_openpose(in + b * 133 * 2, in + 2 * 133 * 2 + b * 133, k134, s134);
            for (int j = 0; j < 134; j++) {
                bad += !close_to(k134[2 * j], ref[(b * 134 + j) * 2], 1e-6f) + !close_to(k134[2 * j + 1], ref[(b * 134 + j) * 2 + 1], 1e-6f);
                bad += !close_to(s134[j], ref[2 * 134 * 2 + b * 134 + j], 1e-6f);
            }
        }
        CHECK(bad == 0);
    }
    free(in);
    free(ref);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    return failures != 0;
}
