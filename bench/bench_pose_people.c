/* bench_pose_people.c — whole-body pose estimation (people by MoveNet MultiPose, BlazePose
 * landmarks, palms, both hands, face) for everyone in a 512x512 picture, by person count: the
 * public-domain astronaut photo (tests/data/pose, scripts/fetch-test-data.sh) on a 1x1, 2x1,
 * 2x2 and 3x3 sheet (each copy shrunk to its cell). Prints people found, best and median of N
 * runs (wall and CPU seconds of the process, all threads), whole body and body only, and the
 * median time of each phase (finding the people, their landmarks, their hands and faces) so the
 * next lever shows; models loaded once, not counted. The bar: <= 0.3 s.
 *   bench_pose_people [IMAGE] [runs=5]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench_pose_common.h"
#include "pipelines/pose/pose_estimate.h"
#include "tensor/cpu/blas.h"

/* CPU seconds of the whole process (all threads): load on a shared machine disturbs it less
 * than wall time. */
static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int timeit(oma_pose_estimator *e, const oma_image *img, int parts, int runs, const char *what)
{
    double t[64], u[64], ph[3][64];
    char err[512];
    int people = 0;
    for (int i = 0; i < runs; i++) {
        oma_pose_result r;
        double t0 = now(), c0 = cpu_now();
        if (oma_pose_estimate(e, img, parts, parts, &r, err, sizeof err)) {
            fprintf(stderr, "bench_pose_people: %s\n", err);
            return -1;
        }
        t[i] = now() - t0;
        u[i] = cpu_now() - c0;
        ph[0][i] = r.find_s, ph[1][i] = r.landmarks_s, ph[2][i] = r.parts_s;
        people = r.pose.n_people;
        oma_pose_result_free(&r);
    }
    sort_times(t, runs);
    sort_times(u, runs);
    for (int k = 0; k < 3; k++) sort_times(ph[k], runs);
    printf("  %-9s %-12s %2d people found   wall best %7.1f ms median %7.1f ms   cpu best %7.1f ms median %7.1f ms   (%d runs)\n",
           what, parts ? "whole body" : "body only", people, t[0] * 1e3, t[runs / 2] * 1e3, u[0] * 1e3,
           u[runs / 2] * 1e3, runs);
    printf("  %-9s %-12s phases (wall medians): finding people %.1f ms, landmarks %.1f ms, hands and faces %.1f ms\n",
           what, parts ? "whole body" : "body only", ph[0][runs / 2] * 1e3, ph[1][runs / 2] * 1e3,
           ph[2][runs / 2] * 1e3);
    return 0;
}

int main(int argc, char **argv)
{
    oma_blas_fix_coretype();   /* passive OpenMP waits for oneDNN (may re-execute us) */
    const char *path = argc > 1 ? argv[1] : POSE_PHOTO;
    int runs = argc > 2 ? atoi(argv[2]) : 5;
    if (runs < 1 || runs > 64) runs = 5;
    char err[512];
    oma_image ph;
    if (load_photo("bench_pose_people", path, &ph)) return 1;
    oma_pose_estimator *e;
    double t0 = now();
    if (oma_pose_estimator_open(NULL, &e, err, sizeof err)) {
        fprintf(stderr, "bench_pose_people: %s\n", err);
        return 1;
    }
    printf("bench_pose_people: %s copies on a 512x512 sheet, models loaded in %.1f ms\n", path, (now() - t0) * 1e3);
    int rc = 0;
    for (int l = 0; l < POSE_SHEETS && !rc; l++) {
        const int *layout = pose_sheet_layout(l);
        oma_image img;
        char what[32];
        snprintf(what, sizeof what, "%dx%d", layout[0], layout[1]);
        if (pose_sheet(&ph, layout[0], layout[1], &img, NULL)) return 1;
        rc = timeit(e, &img, 1, runs, what) || timeit(e, &img, 0, runs, what);
        oma_image_free(&img);
    }
    oma_pose_estimator_close(e);
    oma_image_free(&ph);
    return rc ? 1 : 0;
}
