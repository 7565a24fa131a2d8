/* cpu_dnnl_acts.c — a bf16 convolution's activations between our NCHW floats and oneDNN's NHWC,
 * at memory speed.
 *
 * The bf16 direct convolutions (brgconv) read bf16 NHWC input and write f32 NHWC output, while
 * the engine keeps activations as f32 NCHW. oneDNN's own reorders did the two conversions at
 * 12-19 GB/s on the development VM: 0.52 s of a 3.5 s SD VAE decode at 512x512, 3% of a UNet
 * pass. These walk 16 channels x 16 pixels at a time: 16 rows loaded, transposed in registers
 * (three rounds of shuffles), and written 16 values at a time, converted to bf16 with the same
 * instruction oneDNN's reorder uses on this CPU (round to nearest even, denormals to zero: the
 * same bytes, tests/unit/tensor/test_dnnl_acts.c compares them with oneDNN's reorder).
 *
 * Only what the convolutions use: 4-D, channels and width multiples of 16, the NCHW side with
 * any batch and channel strides (a band of a taller image), the NHWC side dense; the caller
 * (cpu_dnnl.c) checks the layouts and uses oneDNN's reorder for anything else.
 */
#include "tensor/cpu/cpu_internal.h"

#include "tensor/threadpool.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* r[i] lane j -> r[j] lane i */
__attribute__((target("avx512f"), always_inline)) static inline void tr16(__m512 r[16])
{
    __m512 t[16];
    for (int k = 0; k < 8; k++) {
        t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    /* s[4k + m], 128-bit lane L: rows 4k..4k+3 of column 4L + m */
    __m512 s[16];
    for (int k = 0; k < 4; k++) {
        __m512d a = _mm512_castps_pd(t[4 * k]), b = _mm512_castps_pd(t[4 * k + 1]);
        __m512d c = _mm512_castps_pd(t[4 * k + 2]), d = _mm512_castps_pd(t[4 * k + 3]);
        s[4 * k] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        s[4 * k + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        s[4 * k + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        s[4 * k + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int m = 0; m < 4; m++) {
        __m512 a0 = _mm512_shuffle_f32x4(s[m], s[4 + m], _MM_SHUFFLE(2, 0, 2, 0));
        __m512 a1 = _mm512_shuffle_f32x4(s[m], s[4 + m], _MM_SHUFFLE(3, 1, 3, 1));
        __m512 b0 = _mm512_shuffle_f32x4(s[8 + m], s[12 + m], _MM_SHUFFLE(2, 0, 2, 0));
        __m512 b1 = _mm512_shuffle_f32x4(s[8 + m], s[12 + m], _MM_SHUFFLE(3, 1, 3, 1));
        r[m] = _mm512_shuffle_f32x4(a0, b0, _MM_SHUFFLE(2, 0, 2, 0));         /* column m */
        r[8 + m] = _mm512_shuffle_f32x4(a0, b0, _MM_SHUFFLE(3, 1, 3, 1));     /* column 8 + m */
        r[4 + m] = _mm512_shuffle_f32x4(a1, b1, _MM_SHUFFLE(2, 0, 2, 0));     /* column 4 + m */
        r[12 + m] = _mm512_shuffle_f32x4(a1, b1, _MM_SHUFFLE(3, 1, 3, 1));    /* column 12 + m */
    }
}

typedef struct {
    const float *x;
    void *y;
    int64_t c, h, w, sn, sc;    /* NCHW strides of batch and channel (rows are w apart) */
} acts_ctx;

/* rows [r0, r1) of n*h: NCHW f32 -> NHWC bf16 */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static void to_nhwc_range(void *p, int64_t r0, int64_t r1)
{
    const acts_ctx *t = p;
    uint16_t *y = t->y;
    for (int64_t r = r0; r < r1; r++) {
        int64_t b = r / t->h, row = r % t->h;
        const float *xr = t->x + b * t->sn + row * t->w;
        uint16_t *yr = y + r * t->w * t->c;
        for (int64_t c0 = 0; c0 < t->c; c0 += 16)
            for (int64_t x0 = 0; x0 < t->w; x0 += 16) {
                __m512 v[16];
                for (int i = 0; i < 16; i++) v[i] = _mm512_loadu_ps(xr + (c0 + i) * t->sc + x0);
                tr16(v);
                for (int j = 0; j < 16; j++)
                    _mm256_storeu_si256((__m256i *)(yr + (x0 + j) * t->c + c0), (__m256i)_mm512_cvtneps_pbh(v[j]));
            }
    }
}

/* rows [r0, r1) of n*h: NHWC f32 -> NCHW f32 */
__attribute__((target("avx512f")))
static void to_nchw_range(void *p, int64_t r0, int64_t r1)
{
    const acts_ctx *t = p;
    float *y = t->y;
    for (int64_t r = r0; r < r1; r++) {
        int64_t b = r / t->h, row = r % t->h;
        const float *xr = t->x + r * t->w * t->c;
        float *yr = y + b * t->sn + row * t->w;
        for (int64_t c0 = 0; c0 < t->c; c0 += 16)
            for (int64_t x0 = 0; x0 < t->w; x0 += 16) {
                __m512 v[16];
                for (int j = 0; j < 16; j++) v[j] = _mm512_loadu_ps(xr + (x0 + j) * t->c + c0);
                tr16(v);
                for (int i = 0; i < 16; i++) _mm512_storeu_ps(yr + (c0 + i) * t->sc + x0, v[i]);
            }
    }
}

static _Atomic int64_t done;    /* conversions made here (the tests check this path ran) */

int64_t oma_acts_done(void) { return done; }

static int shape_ok(int64_t n, int64_t c, int64_t h, int64_t w)
{
    return n > 0 && h > 0 && c > 0 && w > 0 && c % 16 == 0 && w % 16 == 0 && __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bf16");
}

int oma_acts_to_nhwc_bf16(const float *x, int64_t n, int64_t c, int64_t h, int64_t w, int64_t sn, int64_t sc,
                          uint16_t *y)
{
    if (!shape_ok(n, c, h, w)) return -2;
    acts_ctx t = {x, y, c, h, w, sn, sc};
    oma_parallel_for(n * h, 1, to_nhwc_range, &t);
    done++;
    return 0;
}

int oma_acts_to_nchw_f32(const float *x, int64_t n, int64_t c, int64_t h, int64_t w, float *y, int64_t sn,
                         int64_t sc)
{
    if (!shape_ok(n, c, h, w)) return -2;
    acts_ctx t = {x, y, c, h, w, sn, sc};
    oma_parallel_for(n * h, 1, to_nchw_range, &t);
    done++;
    return 0;
}

#else

int64_t oma_acts_done(void) { return 0; }

int oma_acts_to_nhwc_bf16(const float *x, int64_t n, int64_t c, int64_t h, int64_t w, int64_t sn, int64_t sc,
                          uint16_t *y)
{
    (void)x, (void)n, (void)c, (void)h, (void)w, (void)sn, (void)sc, (void)y;
    return -2;
}

int oma_acts_to_nchw_f32(const float *x, int64_t n, int64_t c, int64_t h, int64_t w, float *y, int64_t sn,
                         int64_t sc)
{
    (void)x, (void)n, (void)c, (void)h, (void)w, (void)y, (void)sn, (void)sc;
    return -2;
}

#endif
