/* bench_pose_graph.c — the TFJS graph executor's kernels before and after they moved onto the
 * shared tensor backend, in one run: each packaged pose net (MoveNet MultiPose at 256x256,
 * BlazePose detector 224, BlazePose full landmarks 256, hand landmarks 224, palm detector 256,
 * face mesh 192) on a fixed
 * pattern input, first with the former kernels (oma_gop_set_legacy(1): one cblas_sgemm call
 * per product, serial im2col/depthwise loops), then with the backend's GEMM and thread pool.
 * Prints the best and median of N runs per net, the ratio old/new, and the largest difference
 * between the two outputs (they must agree to float rounding), CPU seconds (best, all
 * threads) and a hash of the backend output (equal hashes from two builds: the same bits).
 *   bench_pose_graph [runs=7]      (models from oma_pose_models_dir(); OMA_THREADS threads)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "models/pose/graph_exec.h"
#include "pipelines/pose/pose_estimate.h"
#include "tensor/cpu/blas.h"
#include "tensor/threadpool.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* FNV-1a over the output's bytes: equal hashes from two builds = the same output to the bit. */
static unsigned long long out_hash(const oma_gt *t)
{
    unsigned long long h = 1469598103934665603ULL;
    const unsigned char *b = (const unsigned char *)t->f;
    for (size_t i = 0; i < t->n * sizeof(float); i++) h = (h ^ b[i]) * 1099511628211ULL;
    return h;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct net {
    const char *model, *input, *output;
    int h, w;
    float lo, hi;
} net;

static const net nets[] = {
    {"movenet-multipose", "input", "Identity", 256, 256, 0, 255},
    {"blazepose-detector", "input", "Identity", 224, 224, -1, 1},
    {"blazepose-full", "input_1", "Identity_2", 256, 256, 0, 1},
    {"handlandmark-full", "input_1", "Identity", 224, 224, 0, 1},
    {"handdetect", "input", "Identity", 256, 256, -1, 1},
    {"facemesh", "input_1", "Identity_2", 192, 192, 0, 1},
};
#define NNETS (int)(sizeof nets / sizeof nets[0])

/* Times runs of one net; keeps its last output in *keep. */
static int time_net(oma_graph *g, const net *n, const oma_gt *x, int runs, double *best, double *med,
                    double *cpu_best, oma_gt *keep)
{
    double t[64], u[64];
    char err[512];
    for (int i = 0; i < runs; i++) {
        oma_gt r;
        double t0 = now(), c0 = cpu_now();
        if (oma_graph_run(g, n->input, x, 1, &n->output, &r, err, sizeof err)) {
            fprintf(stderr, "bench_pose_graph: %s: %s\n", n->model, err);
            return -1;
        }
        t[i] = now() - t0;
        u[i] = cpu_now() - c0;
        if (i == runs - 1) *keep = r;
        else oma_gt_free(&r);
    }
    qsort(t, (size_t)runs, sizeof t[0], cmp);
    qsort(u, (size_t)runs, sizeof u[0], cmp);
    *cpu_best = u[0];
    *best = t[0];
    *med = t[runs / 2];
    return 0;
}

int main(int argc, char **argv)
{
    oma_blas_fix_coretype();   /* passive OpenMP waits for oneDNN (may re-execute us) */
    int runs = argc > 1 ? atoi(argv[1]) : 7;
    if (runs < 1 || runs > 64) runs = 7;
    char dir[4096], path[4200], err[512];
    if (oma_pose_models_dir(dir, sizeof dir)) {
        fprintf(stderr, "bench_pose_graph: pose models not found (%s)\n", dir);
        return 1;
    }
    oma_graph *g[NNETS];
    float *x[NNETS];
    oma_gt xin[NNETS], out_old[NNETS];
    double ob[NNETS], om[NNETS], oc[NNETS];
    for (int k = 0; k < NNETS; k++) {
        snprintf(path, sizeof path, "%s/%s.json", dir, nets[k].model);
        if (oma_graph_load(path, &g[k], err, sizeof err)) {
            fprintf(stderr, "bench_pose_graph: %s\n", err);
            return 1;
        }
        size_t n = (size_t)nets[k].h * (size_t)nets[k].w * 3;
        x[k] = malloc(n * sizeof(float));
        if (!x[k]) return 1;
        for (size_t i = 0; i < n; i++)
            x[k][i] = nets[k].lo + (nets[k].hi - nets[k].lo) * (float)(0.5 + 0.5 * sin(0.0123 * (double)i));
        int64_t d[4] = {1, nets[k].h, nets[k].w, 3};
        xin[k] = oma_gt_view_f32(x[k], 4, d);
    }
    printf("== TFJS graph executor, %d threads: former kernels (cblas_sgemm, serial loops) vs shared backend\n",
           oma_threads());
    oma_gop_set_legacy(1);
    for (int k = 0; k < NNETS; k++)
        if (time_net(g[k], &nets[k], &xin[k], runs, &ob[k], &om[k], &oc[k], &out_old[k])) return 1;
    oma_gop_set_legacy(0);
    for (int k = 0; k < NNETS; k++) {
        double nb, nm, nc;
        oma_gt out_new;
        if (time_net(g[k], &nets[k], &xin[k], runs, &nb, &nm, &nc, &out_new)) return 1;
        double md = 0;
        for (size_t i = 0; i < out_new.n && i < out_old[k].n; i++)
            md = fmax(md, fabs((double)out_new.f[i] - (double)out_old[k].f[i]));
        printf("  %-20s former best %7.1f ms median %7.1f cpu %7.1f | backend best %7.1f ms median %7.1f "
               "cpu %7.1f | former/backend %.2fx | max |diff| %.2g | output hash %016llx\n",
               nets[k].model, ob[k] * 1e3, om[k] * 1e3, oc[k] * 1e3, nb * 1e3, nm * 1e3, nc * 1e3, om[k] / nm,
               md, out_hash(&out_new));
        oma_gt_free(&out_new);
        oma_gt_free(&out_old[k]);
        oma_graph_free(g[k]);
        free(x[k]);
    }
    return 0;
}
