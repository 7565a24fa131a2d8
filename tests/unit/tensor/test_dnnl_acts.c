/* test_dnnl_acts.c — our conversions of a bf16 convolution's activations (NCHW f32 -> NHWC
 * bf16 in, NHWC f32 -> NCHW f32 out, tensor/cpu/cpu_dnnl_acts.c) give the bits of oneDNN's
 * reorders.
 *
 * Whole bf16 convolutions are run twice, with our conversions and with oneDNN's
 * (OMA_ACTS_REORDER=onednn), and must agree byte for byte: shapes with channels and widths that
 * are multiples of 16 (ours), a batch of two, bands of a taller image (OMA_CONV_BAND_BYTES: the
 * NCHW side is then a strided view), widths of 8 and odd channel counts (oneDNN's reorder for
 * those, still the same bits), inputs with denormals, infinities and halfway cases of the bf16
 * rounding. The conversions alone against a scalar reference: every element in its place.
 * Skipped without oneDNN or AVX512_BF16. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/backend.h"
#include "tensor/cpu/cpu_internal.h"
#include "tensor/threadpool.h"

#include "check.h"

static uint64_t rs = 0x2545f4914f6cdd1dull;
static float rnd(void)
{
    rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
    return (float)((rs >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

static float *conv(const float *x, int64_t n, int64_t c, int64_t h, int64_t w, const float *wt, int64_t oc,
                   const char *how)
{
    float *y = malloc(sizeof(float) * (size_t)(n * oc * h * w));
    if (!y) return NULL;
    if (how) setenv("OMA_ACTS_REORDER", how, 1);
    int rc = oma_backend_current()->conv2d(x, n, c, h, w, wt, 0, NULL, oc, 3, 3, 1, 1, y, h, w);
    unsetenv("OMA_ACTS_REORDER");
    if (rc != 0) {
        free(y);
        return NULL;
    }
    return y;
}

static void conv_case(int64_t n, int64_t c, int64_t h, int64_t w, int64_t oc, const char *band, int expected)
{
    size_t nx = (size_t)(n * c * h * w), nw = (size_t)(oc * c * 9), ny = (size_t)(n * oc * h * w);
    float *x = malloc(nx * sizeof(float)), *wt = malloc(nw * sizeof(float));
    CHECK(x && wt);
    if (!x || !wt) {
        free(x), free(wt);
        return;
    }
    for (size_t i = 0; i < nx; i++) x[i] = rnd();
    /* bf16 rounding's edge cases among the inputs: halfway, denormal, huge, infinite */
    static const float special[] = {1.00390625f, 1.01171875f, -2.00781250f, 1e-40f, -3e-39f, 3e38f, INFINITY};
    for (size_t i = 0; i < sizeof special / sizeof special[0] && i * 97 < nx; i++) x[i * 97] = special[i];
    for (size_t i = 0; i < nw; i++) wt[i] = 0.2f * rnd();
    if (band) setenv("OMA_CONV_BAND_BYTES", band, 1);
    int64_t before = oma_acts_done();
    float *ours = conv(x, n, c, h, w, wt, oc, NULL);
    int64_t ran = oma_acts_done() - before;
    float *theirs = conv(x, n, c, h, w, wt, oc, "onednn");
    unsetenv("OMA_CONV_BAND_BYTES");
    CHECK(ours && theirs);
    int same = ours && theirs && memcmp(ours, theirs, ny * sizeof(float)) == 0;
    printf("  conv n=%lld %lld->%lld %lldx%lld%s: same bits as with oneDNN's reorders: %s\n", (long long)n,
           (long long)c, (long long)oc, (long long)h, (long long)w, band ? " in bands" : "", same ? "yes" : "NO");
    CHECK(same);
    /* ours ran as expected: in and out once each (a band: each band), or only where they can */
    CHECK(expected < 0 ? ran >= -expected && ran % 2 == 0 : ran == expected);
    free(ours), free(theirs), free(x), free(wt);
}

/* The conversions alone: NCHW (channel stride padded, batch stride padded) -> NHWC bf16 and back. */
static void direct_case(int64_t n, int64_t c, int64_t h, int64_t w)
{
    int64_t sc = h * w + 32, sn = c * sc + 64;
    size_t nx = (size_t)(n * sn), nd = (size_t)(n * h * w * c);
    float *x = calloc(nx, sizeof(float)), *f = malloc(nd * sizeof(float)), *back = calloc(nx, sizeof(float));
    uint16_t *b = malloc(nd * sizeof(uint16_t)), *want = malloc(nd * sizeof(uint16_t));
    CHECK(x && f && back && b && want);
    if (x && f && back && b && want) {
        for (size_t i = 0; i < nx; i++) x[i] = rnd();
        CHECK(oma_acts_to_nhwc_bf16(x, n, c, h, w, sn, sc, b) == 0);
        int bad = 0;
        for (int64_t bi = 0; bi < n; bi++)
            for (int64_t y = 0; y < h; y++)
                for (int64_t xx = 0; xx < w; xx++) {
                    size_t o = (size_t)(((bi * h + y) * w + xx) * c);
                    for (int64_t ci = 0; ci < c; ci++) f[o + ci] = x[bi * sn + ci * sc + y * w + xx];
                    oma_bf16_pack_row(f + o, want + o, c);
                }
        bad |= memcmp(b, want, nd * sizeof(uint16_t)) != 0;
        CHECK(oma_acts_to_nchw_f32(f, n, c, h, w, back, sn, sc) == 0);
        for (int64_t bi = 0; bi < n; bi++)
            for (int64_t ci = 0; ci < c; ci++)
                for (int64_t i = 0; i < h * w; i++)
                    if (back[bi * sn + ci * sc + i] != x[bi * sn + ci * sc + i]) bad = 1;
        /* the gaps between channels and batches are left alone */
        for (int64_t bi = 0; bi < n; bi++)
            for (int64_t ci = 0; ci < c; ci++)
                for (int64_t i = h * w; i < sc; i++)
                    if (back[bi * sn + ci * sc + i] != 0.0f) bad = 1;
        printf("  conversions n=%lld c=%lld %lldx%lld (strided NCHW): %s\n", (long long)n, (long long)c, (long long)h,
               (long long)w, bad ? "WRONG" : "every element in its place");
        CHECK(!bad);
    }
    CHECK(oma_acts_to_nhwc_bf16(x, 1, 8, 4, 16, 64, 64, b) == -2);     /* channels not a multiple of 16 */
    CHECK(oma_acts_to_nchw_f32(f, 1, 16, 4, 8, back, 64, 32) == -2);   /* width not a multiple of 16 */
    free(x), free(f), free(back), free(b), free(want);
}

int main(void)
{
    if (!oma_precision_bf16_native() || oma_precision_set("bf16") != 0) {
        printf("test_dnnl_acts: skipped (no oneDNN or no AVX512_BF16)\n");
        return 0;
    }
    direct_case(1, 16, 2, 16);
    direct_case(2, 48, 5, 32);
    conv_case(1, 32, 16, 16, 48, NULL, 2);
    conv_case(2, 64, 8, 32, 32, NULL, 2);
    conv_case(1, 128, 24, 64, 128, "65536", -4);   /* bands of rows: strided views of the image */
    conv_case(1, 16, 8, 8, 16, NULL, 0);           /* width 8: oneDNN's reorders */
    conv_case(1, 20, 6, 16, 32, NULL, 1);          /* 20 channels in: oneDNN's reorder in, ours out */
    CHECK(oma_precision_set("fp32") == 0);
    oma_threads_shutdown();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_dnnl_acts: ok\n");
    return 0;
}
