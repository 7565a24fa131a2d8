/* cpu_vexp_avx512.h — 2^t over the 16 lanes of an AVX-512 vector, for the kernels that need an
 * exponential (attention's softmax, the activations). Header-only: each user compiles it with
 * its own target attribute (OMA_VEXP_ATTR), so the build stays generic.
 *
 * 2^t = 2^floor(t) * 2^f with f = t - floor(t) in [0, 1] (vreduceps, exact), 2^f by a degree-6
 * polynomial (our own Remez fit for relative error: 6e-8 in float arithmetic, as accurate as a
 * float exp gets), and the 2^floor(t) scaling by vscalefps (which takes floor(t) itself, gives
 * 0 below the float range and inf above it). t = -inf gives 0; NaN stays NaN.
 */
#ifndef OMA_TENSOR_CPU_VEXP_AVX512_H
#define OMA_TENSOR_CPU_VEXP_AVX512_H

#include <immintrin.h>

#define OMA_VEXP_ATTR static inline __attribute__((always_inline, target("avx512f,avx512dq")))

/* 2^(t + dt) for a small correction dt (|dt| < 2^-10): the polynomial takes f + dt, so a caller
 * that knows the rounding error of t (see oma_vexp_f32) keeps it. */
OMA_VEXP_ATTR __m512 oma_vexp2_f32_corr(__m512 t, __m512 dt)
{
    __m512 f = _mm512_add_ps(_mm512_reduce_ps(t, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC), dt);
    __m512 p = _mm512_set1_ps(2.170225489e-04f);
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.243968727e-03f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(9.678840637e-03f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(5.548334122e-02f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(2.402298301e-01f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(6.931470037e-01f));
    p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, t);
}

OMA_VEXP_ATTR __m512 oma_vexp2_f32(__m512 t) { return oma_vexp2_f32_corr(t, _mm512_setzero_ps()); }

/* e^(x + x_lo) for any x and a small x_lo (the rounding error of however x was computed; 0 if
 * none), to a couple of float steps: x log2 e is split so that the rounding of the product (up
 * to 2^-24 |x log2 e|, which would be 1e-6 relative at x = -100) goes into the correction too:
 * hi = fl(x L), dt = fma(x, L, -hi) + x L_lo + x_lo L, with L + L_lo = log2 e. */
OMA_VEXP_ATTR __m512 oma_vexp_f32_hilo(__m512 x, __m512 x_lo)
{
    /* past these e^x is 0 or inf anyway; the clamp keeps inf - inf out of dt (NaN stays NaN:
     * min/max return their second operand when one is NaN) */
    x = _mm512_max_ps(_mm512_set1_ps(-104.0f), _mm512_min_ps(_mm512_set1_ps(89.0f), x));
    const __m512 L = _mm512_set1_ps(1.44269502163e+00f), L_lo = _mm512_set1_ps(1.92596299e-08f);
    __m512 hi = _mm512_mul_ps(x, L);
    __m512 dt = _mm512_fmadd_ps(x, L_lo, _mm512_fmsub_ps(x, L, hi));
    dt = _mm512_fmadd_ps(x_lo, L, dt);
    return oma_vexp2_f32_corr(hi, dt);
}

OMA_VEXP_ATTR __m512 oma_vexp_f32(__m512 x) { return oma_vexp_f32_hilo(x, _mm512_setzero_ps()); }

#endif
