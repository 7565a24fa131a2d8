/* bench_pose.c — times whole-body pose estimation (BlazePose detector + full landmarks + both
 * hands + face mesh, each hand/face run twice for refinement) on one 512x512 image: the
 * public-domain astronaut photo from tests/data/pose/ when scripts/fetch-test-data.sh has
 * fetched it (else the first argument). Prints model load time and the best and median of N
 * runs, plus the body-only time (--no-hands --no-face) for comparison.
 *   bench_pose [IMAGE] [runs=5]
 */
#include <stdio.h>
#include <stdlib.h>

#include "bench_pose_common.h"
#include "pipelines/pose/pose_estimate.h"

static int timeit(oma_pose_estimator *e, const oma_image *img, int parts, int runs, int *people)
{
    double t[64];
    char err[512];
    for (int i = 0; i < runs; i++) {
        oma_pose_result r;
        double t0 = now();
        if (oma_pose_estimate(e, img, parts, parts, &r, err, sizeof err)) {
            fprintf(stderr, "bench_pose: %s\n", err);
            return -1;
        }
        t[i] = now() - t0;
        *people = r.pose.n_people;
        oma_pose_result_free(&r);
    }
    sort_times(t, runs);
    printf("  %-26s best %7.1f ms   median %7.1f ms   (%d runs, %d people)\n",
           parts ? "whole body (hands+face)" : "body only", t[0] * 1e3, t[runs / 2] * 1e3, runs, *people);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : POSE_PHOTO;
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    if (runs < 1 || runs > 64) runs = 5;
    char err[512];
    oma_image img;
    if (load_photo("bench_pose", path, &img)) return 1;
    if (img.w != 512 || img.h != 512) {
        oma_image r;
        if (oma_image_resize(&img, 512, 512, &r)) {
            fprintf(stderr, "bench_pose: resize failed\n");
            return 1;
        }
        oma_image_free(&img);
        img = r;
    }
    double t0 = now();
    oma_pose_estimator *e;
    if (oma_pose_estimator_open(NULL, &e, err, sizeof err)) {
        fprintf(stderr, "bench_pose: %s\n", err);
        return 1;
    }
    printf("bench_pose: %s at 512x512, models loaded in %.1f ms\n", path, (now() - t0) * 1e3);
    int people = 0;
    int rc = timeit(e, &img, 1, runs, &people) || timeit(e, &img, 0, runs, &people);
    oma_pose_estimator_close(e);
    oma_image_free(&img);
    return rc ? 1 : 0;
}
