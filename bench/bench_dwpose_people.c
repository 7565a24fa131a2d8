/* bench_dwpose_people.c — DWPose whole body (133 points) for everyone in a 512x512 picture, by
 * person count, on our ONNX runtime: the astronaut photo (tests/data/pose, fetched by
 * scripts/fetch-test-data.sh) on a 1x1, 2x1, 2x2 and 3x3 sheet, as bench_pose_people does for
 * the TFJS path. Per sheet: the YOLOX detector once on the 640 letterbox, then RTMPose on one
 * box per person — the sheet's cells, because the models this runs on are usually the
 * full-size random-weight graphs of tools/make_dwpose_bench_models.py (the real weights cannot
 * be downloaded here, and random weights find nobody in particular); with the real files it is
 * the same work. Prints detector ms, pose ms per person, total and s/person (best and median
 * of N runs; models loaded once, not counted). No assertions: a figure to compare with
 * onnxruntime-node on the same files in the same run (tools/bench_dwpose_ort.mjs, bench/run.sh).
 *   bench_dwpose_people [MODELS_DIR (default $OMA_MODELS/dwpose)] [IMAGE] [runs=3]
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench_pose_common.h"
#include "models/dwpose/dwpose.h"
#include "tensor/cpu/blas.h"
#include "tensor/threadpool.h"

int main(int argc, char **argv)
{
    oma_blas_fix_coretype();   /* passive OpenMP waits for oneDNN (may re-execute us) */
    char dirbuf[4096];
    const char *m = getenv("OMA_MODELS");
    snprintf(dirbuf, sizeof dirbuf, "%s/dwpose", m && *m ? m : "models");
    const char *dir = argc > 1 ? argv[1] : dirbuf;
    const char *path = argc > 2 ? argv[2] : POSE_PHOTO;
    int runs = argc > 3 ? atoi(argv[3]) : 3;
    if (runs < 1 || runs > 64) runs = 3;
    char err[512];
    oma_image ph;
    if (load_photo("bench_dwpose_people", path, &ph)) return 1;
    oma_dwpose *d;
    double t0 = now();
    if (oma_dwpose_open(dir, &d, err, sizeof err)) {
        printf("bench_dwpose_people: skipped: %s (tools/make_dwpose_bench_models.py DIR makes full-size random-weight ones)\n", err);
        oma_image_free(&ph);
        return 0;
    }
    printf("bench_dwpose_people: %s, %s copies on a 512x512 sheet, %d threads, models loaded in %.1f s\n", dir, path,
           oma_threads(), now() - t0);
    int rc = 0;
    for (int l = 0; l < POSE_SHEETS && !rc; l++) {
        const int *layout = pose_sheet_layout(l);
        oma_image img;
        float boxes[9 * 4];
        int n = layout[0] * layout[1];
        if (pose_sheet(&ph, layout[0], layout[1], &img, boxes)) return 1;
        double td[64], tp[64], tt[64];
        int found = 0;
        for (int i = 0; i < runs && !rc; i++) {
            float det_boxes[OMA_DWPOSE_MAX_PEOPLE * 4];
            oma_dwpose_person *p = NULL;
            double a = now();
            rc = oma_dwpose_detect(d, img.px, img.w, img.h, det_boxes, &found, err, sizeof err);
            double b = now();
            if (!rc) rc = oma_dwpose_pose_boxes(d, img.px, img.w, img.h, boxes, n, &p, err, sizeof err);
            double c = now();
            free(p);
            td[i] = b - a;
            tp[i] = (c - b) / n;
            tt[i] = c - a;
        }
        if (rc) {
            fprintf(stderr, "bench_dwpose_people: %s\n", err);
            oma_image_free(&img);
            break;
        }
        sort_times(td, runs);
        sort_times(tp, runs);
        sort_times(tt, runs);
        printf("dwpose_people %dx%d people %d  detector %.0f ms  pose %.0f ms/person  total best %.2f s median %.2f s"
               "  = %.2f s/person  (detector boxes %d, %d runs)\n",
               layout[0], layout[1], n, td[runs / 2] * 1e3, tp[runs / 2] * 1e3, tt[0], tt[runs / 2], tt[runs / 2] / n,
               found, runs);
        oma_image_free(&img);
    }
    oma_dwpose_close(d);
    oma_image_free(&ph);
    return rc ? 1 : 0;
}
