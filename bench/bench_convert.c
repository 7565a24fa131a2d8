/* bench_convert.c — times the LT conversion (oma convert) of a 1024x1024 photo: colour flats,
 * grey + dot screentone, and colour + dots including the PSD and PNG encoding of all layers;
 * and style learning from 5 samples of 1024x1024. Prints the best and median of N runs
 * (target in issue 5: conversion under 2 s). The photo is tests/data/classic/coffee.png
 * scaled to 1024x1024 (scripts/fetch-test-data.sh), or a synthetic picture without it.
 *   bench_convert [runs=5]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats/image.h"
#include "formats/psd.h"
#include "pipelines/style/lineart.h"
#include "pipelines/style/style_profile.h"

#define S 1024

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int photo(oma_image *out, const char **what)
{
    char err[256];
    oma_image src = {0};
    if (oma_image_load("tests/data/classic/coffee.png", 3, NULL, &src, err, sizeof err) == 0) {
        int rc = oma_image_resize(&src, S, S, out);
        oma_image_free(&src);
        *what = "coffee.png scaled to 1024x1024";
        return rc;
    }
    if (oma_image_alloc(out, S, S, 3) != 0) return -1;
    uint32_t s = 1;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            uint8_t *p = out->px + ((size_t)y * S + x) * 3;
            s = s * 1664525u + 1013904223u;
            int dx = x - 512, dy = y - 480, in = dx * dx + dy * dy < 300 * 300;
            p[0] = (uint8_t)(in ? 200 : x / 4 + (s >> 29));
            p[1] = (uint8_t)(in ? 90 : y / 4);
            p[2] = (uint8_t)(in ? 60 : 128 + (s >> 30));
        }
    *what = "synthetic 1024x1024 (run scripts/fetch-test-data.sh for the photo)";
    return 0;
}

static int encode_all(const oma_convert_result *r)
{
    char err[256];
    const oma_image *imgs[4] = {&r->composite, &r->lines, &r->flats, &r->tones};
    for (int i = 0; i < 4; i++) {
        uint8_t *png = NULL;
        size_t len = 0;
        if (oma_image_encode_png(imgs[i], NULL, NULL, &png, &len, err, sizeof err) != 0) return -1;
        free(png);
    }
    oma_psd_layer layers[3] = {{"flats", &r->flats}, {"tones", &r->tones}, {"lines", &r->lines}};
    uint8_t *psd = NULL;
    size_t len = 0;
    if (oma_psd_write(&r->composite, layers, 3, &psd, &len, err, sizeof err) != 0) return -1;
    free(psd);
    return 0;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 5;
    if (runs < 1 || runs > 100) runs = 5;
    const char *what = "";
    oma_image img = {0};
    if (photo(&img, &what) != 0) { fprintf(stderr, "bench_convert: no picture\n"); return 1; }
    char err[256];

    /* learn: 5 samples (the photo, flipped and shifted copies) */
    double *t = malloc((size_t)runs * sizeof *t);
    if (!t) return 1;
    oma_style_profile prof;
    for (int r = 0; r < runs; r++) {
        double t0 = now();
        oma_style_learner *l = oma_style_learner_new(8);
        if (!l) return 1;
        for (int s = 0; s < 5; s++) {
            if (s) /* a different sample each time: rotate rows */
                memmove(img.px, img.px + (size_t)S * 3 * 37, (size_t)S * 3 * (S - 37));
            if (oma_style_learner_add(l, &img, err, sizeof err) != 0) { fprintf(stderr, "%s\n", err); return 1; }
        }
        if (oma_style_learner_finish(l, &prof, err, sizeof err) != 0) { fprintf(stderr, "%s\n", err); return 1; }
        oma_style_learner_free(l);
        t[r] = now() - t0;
    }
    qsort(t, (size_t)runs, sizeof *t, cmpd);
    printf("style_learn 5x1024x1024 best %.3f s median %.3f s (%d runs)\n", t[0], t[runs / 2], runs);
    oma_image_free(&img);
    if (photo(&img, &what) != 0) return 1;

    static const char *names[3] = {"color_flats_lines", "grey_dots", "color_dots_encode_png_psd"};
    for (int mode = 0; mode < 3; mode++) {
        for (int r = 0; r < runs; r++) {
            oma_convert_opts o;
            oma_convert_opts_default(&o);
            o.color = mode != 1;
            o.tone_type = mode == 0 ? OMA_TONE_NONE : OMA_TONE_DOTS;
            oma_convert_result res;
            double t0 = now();
            if (oma_convert_lineart(&img, &prof, &o, NULL, NULL, &res, err, sizeof err) != 0) {
                fprintf(stderr, "bench_convert: %s\n", err);
                return 1;
            }
            if (mode == 2 && encode_all(&res) != 0) return 1;
            t[r] = now() - t0;
            oma_convert_result_free(&res);
        }
        qsort(t, (size_t)runs, sizeof *t, cmpd);
        printf("convert_%s 1024x1024 best %.3f s median %.3f s (%d runs; %s)\n", names[mode], t[0], t[runs / 2],
               runs, what);
    }
    free(t);
    oma_image_free(&img);
    return 0;
}
