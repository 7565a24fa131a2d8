/* test_dwpose_pre.c — DWPose's letterbox and affine crop in C against DWPose's own Python
 * preprocessing run with OpenCV 4.6 (tools/make_dwpose_pre_fixtures.py) on the same synthetic
 * 200x300 image: a 64x64 letterbox (ratio 0.2133), an exact 2x shrink (OpenCV's area path) and
 * two 36x48 crops (one box partly outside the image: black border). Pixels must agree to one
 * grey level; the count of exact matches is printed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/check.h"
#include "models/dwpose/dwpose_pre.h"

static void *load(const char *dir, const char *name, size_t *n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) { *n = 0; return NULL; }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc((size_t)len + 4);
    if (p && fread(p, 1, (size_t)len, f) != (size_t)len) { free(p); p = NULL; }
    fclose(f);
    *n = (size_t)len;
    return p;
}

/* Compares n values; unit is one grey level in the values' scale. */
static void compare(const char *what, const float *got, const float *want, size_t n, float unit)
{
    size_t exact = 0;
    float worst = 0;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(got[i] - want[i]) / unit;
        if (d < 1e-3f) exact++;
        if (d > worst) worst = d;
    }
    printf("%s: %zu/%zu values exact, max diff %.3f grey levels\n", what, exact, n, worst);
    CHECK(worst <= 1.001f);
}

int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/onnx", src ? src : "..");
    size_t n, nd, nd2, nc;
    uint8_t *img = load(dir, "dwpose_pre.img.bin", &n);
    float *det = load(dir, "dwpose_pre.det.bin", &nd), *det2 = load(dir, "dwpose_pre.det2.bin", &nd2);
    float *crop = load(dir, "dwpose_pre.crop.bin", &nc);
    const int w = 200, h = 300;
    CHECK(img && n == (size_t)w * h * 3 && det && nd == 3 * 64 * 64 * 4 && det2 && nd2 == 3 * 128 * 128 * 4);
    CHECK(crop && nc == 2 * (3 * 48 * 36 + 4) * 4);
    if (!img || !det || !det2 || !crop || n != (size_t)w * h * 3) return 1;

    float *out = malloc(sizeof(float) * 3 * 128 * 128), r = 0;
    CHECK(oma_dwpose_letterbox(img, w, h, 64, out, &r) == 0);
    CHECK(fabsf(r - 64.0f / 300.0f) < 1e-6f);
    compare("letterbox 200x300 -> 64", out, det, 3 * 64 * 64, 1.0f);
    /* the top-left 128x256 of the image, shrunk exactly 2x into a 128 letterbox */
    uint8_t *part = malloc(128 * 256 * 3);
    for (int y = 0; y < 256; y++) memcpy(part + (size_t)y * 128 * 3, img + (size_t)y * w * 3, 128 * 3);
    CHECK(oma_dwpose_letterbox(part, 128, 256, 128, out, &r) == 0 && r == 0.5f);
    compare("letterbox 128x256 -> 128 (2x, area)", out, det2, 3 * 128 * 128, 1.0f);
    free(part);

    const float boxes[2][4] = {{30.5f, 60.25f, 150.0f, 260.75f}, {-20.0f, 250.0f, 120.0f, 340.0f}};
    for (int b = 0; b < 2; b++) {
        float center[2], scale[2];
        const float *ref = crop + (size_t)b * (3 * 48 * 36 + 4);
        CHECK(oma_dwpose_crop(img, w, h, boxes[b], 36, 48, out, center, scale) == 0);
        char what[64];
        snprintf(what, sizeof what, "crop %d (36x48, normalised)", b);
        compare(what, out, ref, 3 * 48 * 36, 1.0f / 57.12f);
        const float *rc = ref + 3 * 48 * 36;
        CHECK(fabsf(center[0] - rc[0]) < 1e-4f && fabsf(center[1] - rc[1]) < 1e-4f);
        CHECK(fabsf(scale[0] - rc[2]) < 1e-3f && fabsf(scale[1] - rc[3]) < 1e-3f);
    }
    /* bad sizes fail instead of crashing */
    CHECK(oma_dwpose_letterbox(img, 0, h, 64, out, &r) == -1);
    const float empty[4] = {10, 10, 10, 10};
    float c2[2], s2[2];
    CHECK(oma_dwpose_crop(img, w, h, empty, 36, 48, out, c2, s2) == -1);
    free(out); free(img); free(det); free(det2); free(crop);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    return failures != 0;
}
