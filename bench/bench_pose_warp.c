/* bench_pose_warp.c — times the pose warp on a 1024x1024 picture in each of its three mask
 * modes (alpha cut-out, flat backdrop, busy backdrop), with a figure drawn from an OpenPose
 * skeleton whose right arm is raised and left leg kicked out in the target. Prints the best
 * and median of N runs (target in issue 5: under 2 s).
 *   bench_pose_warp [runs=5]        (OMA_BENCH_OUT=DIR also writes the pictures there)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipelines/pose/pose_warp.h"

#define S 1024

static const float SRC[18][2] = {
    {512, 200}, {512, 320}, {400, 320}, {320, 460}, {280, 600}, {624, 320}, {704, 460}, {744, 600}, {448, 600},
    {440, 760}, {432, 920}, {576, 600}, {584, 760}, {592, 920}, {-1, -1}, {-1, -1}, {-1, -1}, {-1, -1},
};
static const int BONES[][2] = {{1, 2}, {2, 3}, {3, 4}, {1, 5}, {5, 6}, {6, 7}, {1, 8}, {8, 9}, {9, 10},
                               {1, 11}, {11, 12}, {12, 13}, {1, 0}, {2, 8}, {5, 11}, {8, 11}};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void draw(oma_image *img, int busy, int alpha)
{
    uint32_t s = 7;
    for (size_t i = 0; i < (size_t)S * S; i++) {
        uint8_t *p = img->px + i * img->c;
        s = s * 1664525u + 1013904223u;
        int x = (int)(i % S), y = (int)(i / S);
        int v = busy ? ((x / 37 + y / 53) % 2 ? 40 : 220) + (int)(s >> 28) : 230;
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(busy ? (x * 255 / S) : v);
        p[2] = (uint8_t)(busy ? (y * 255 / S) : v);
        if (img->c == 4) p[3] = alpha ? 0 : 255;
    }
    for (size_t b = 0; b < sizeof BONES / sizeof BONES[0]; b++) {
        const float *a = SRC[BONES[b][0]], *c = SRC[BONES[b][1]];
        float dx = c[0] - a[0], dy = c[1] - a[1], L2 = dx * dx + dy * dy;
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                float px = x - a[0], py = y - a[1], t = (px * dx + py * dy) / L2;
                t = t < 0 ? 0 : t > 1 ? 1 : t;
                float ex = px - t * dx, ey = py - t * dy;
                if (ex * ex + ey * ey > 28 * 28) continue;
                uint8_t *p = img->px + ((size_t)y * S + x) * img->c;
                p[0] = 40, p[1] = 80, p[2] = 160;
                if (img->c == 4) p[3] = 255;
            }
    }
}

static void pose(const float k[18][2], oma_pose *p)
{
    if (oma_pose_init(p, S, S, 1) != 0) exit(1);
    for (int i = 0; i < 18; i++)
        if (k[i][0] >= 0) p->people[0].body[i] = (oma_kp){k[i][0], k[i][1], 1};
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    if (runs < 1 || runs > 100) runs = 5;
    float tk[18][2];
    memcpy(tk, SRC, sizeof tk);
    tk[3][0] = 272, tk[3][1] = 220, tk[4][0] = 160, tk[4][1] = 140;   /* right arm up */
    tk[12][0] = 660, tk[12][1] = 740, tk[13][0] = 740, tk[13][1] = 880; /* left leg out */
    oma_pose from, to;
    pose(SRC, &from);
    pose(tk, &to);
    const char *names[3] = {"alpha cut-out", "flat backdrop", "busy backdrop"};
    printf("pose warp %dx%d, %d runs each (grid %d px)\n", S, S, runs, oma_warp_defaults().grid);
    for (int mode = 0; mode < 3; mode++) {
        oma_image img, out;
        if (oma_image_alloc(&img, S, S, mode == 0 ? 4 : 3) != 0) return 1;
        draw(&img, mode == 2, mode == 0);
        double *t = malloc(sizeof *t * (size_t)runs);
        if (!t) return 1;
        for (int r = 0; r < runs; r++) {
            char err[256];
            double t0 = now();
            if (oma_pose_warp(&img, &from, &to, NULL, &out, err, sizeof err) != 0) {
                fprintf(stderr, "bench_pose_warp: %s\n", err);
                return 1;
            }
            t[r] = now() - t0;
            const char *dir = getenv("OMA_BENCH_OUT");
            if (dir && r == 0) {
                char path[1024];
                snprintf(path, sizeof path, "%s/warp_bench_%d_in.png", dir, mode);
                oma_image_save_png(path, &img, err, sizeof err);
                snprintf(path, sizeof path, "%s/warp_bench_%d_out.png", dir, mode);
                oma_image_save_png(path, &out, err, sizeof err);
            }
            oma_image_free(&out);
        }
        qsort(t, (size_t)runs, sizeof *t, cmp);
        printf("  %-14s best %7.1f ms   median %7.1f ms\n", names[mode], t[0] * 1e3, t[runs / 2] * 1e3);
        free(t);
        oma_image_free(&img);
    }
    oma_pose_free(&from);
    oma_pose_free(&to);
    return 0;
}
