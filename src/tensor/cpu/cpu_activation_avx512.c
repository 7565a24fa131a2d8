/* cpu_activation_avx512.c — GELU, GEGLU's gate, SiLU and quick-GELU over AVX-512 vectors.
 *
 * The portable loops in cpu_backend.c call libm's erff/expf once per element, which the
 * compiler cannot vectorise: in SD's UNet the GEGLU gate alone was 8% of a bf16-mode step.
 * Here 16 lanes go at once, with masked loads and stores for the tail.
 *
 * GELU is 0.5 v (1 + erf(v / sqrt 2)), and what it needs is 1 + erf(x), which we compute
 * without cancellation: for |x| < 1/2 as 1 + x A(x^2); for |x| >= 1/2 from erfc(|x|) =
 * exp(-x^2) B(1 / (1 + |x|)), giving erfc(|x|) itself for negative x (so GELU's small negative
 * tail keeps its relative precision, better than 1 + erff does) and 2 - erfc(x) for positive x.
 * A and B are our own fits (tools/fit_erf.py prints them, with their errors); exp is
 * cpu_vexp_avx512.h's, and x^2's rounding goes into its correction. SiLU and quick-GELU are
 * v / (1 + e^(-a v)). Accuracy: a few float steps of the exact result (tests check 6e-7
 * relative for GELU, 4e-7 for SiLU), everywhere, GELU's negative tail included.
 *
 * The backward (training) kernels at the end give dy times the derivatives, from the same
 * pieces: GELU' = (1 + erf)/2 + v e^(-v^2/2) / sqrt(2 pi), (v s(a v))' = s + a v s (1 - s).
 *
 * Each function carries its own target attribute; cpu_backend.c and cpu_backward.c call them
 * only when the CPU has AVX-512F and DQ.
 */
#include <immintrin.h>
#include <stdint.h>

#include "tensor/cpu/cpu_internal.h"
#include "tensor/cpu/cpu_vexp_avx512.h"

#pragma GCC diagnostic ignored "-Wpsabi"

#define INL static inline __attribute__((always_inline, target("avx512f,avx512dq")))
#define F512 __attribute__((target("avx512f,avx512dq")))

/* p(t) = c[0] t^(n-1) + ... + c[n-1] (highest first, as tools/fit_erf.py prints them) */
INL __m512 horner(__m512 t, const float *c, int n)
{
    __m512 p = _mm512_set1_ps(c[0]);
    for (int i = 1; i < n; i++) p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(c[i]));
    return p;
}

static const float ERF_A[7] = {7.853936989e-05f, -8.010219422e-04f, 5.188330937e-03f,
                               -2.685381381e-02f, 1.128358520e-01f, -3.761262583e-01f,
                               1.128379166e+00f};
static const float ERFC_B[11] = {-1.325282726e+00f, 4.724359121e+00f, -6.508082023e+00f,
                                 3.579265620e+00f, 4.939821651e-01f, -1.229460747e+00f,
                                 -1.272574482e-01f, 2.565502212e-01f, 5.666561437e-01f,
                                 5.640595690e-01f, 2.883796500e-06f};

/* 1 + erf(x + x_lo) per lane, x_lo the rounding error of x (GELU's v / sqrt 2: at v = -4 its
 * rounding alone would move erfc by 1e-6 relative) */
INL __m512 one_plus_erf(__m512 x, __m512 x_lo)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    __m512 ax = _mm512_abs_ps(x);
    /* small: 1 + (x + x_lo) A(x^2) */
    __m512 a = horner(_mm512_mul_ps(x, x), ERF_A, 7);
    __m512 small = _mm512_fmadd_ps(x_lo, a, _mm512_fmadd_ps(x, a, one));
    /* large: erfc(|x|) = exp(-x^2) B(1/(1+|x|)), |x| clamped to 10 (erfc(10) = 2e-45); -x^2
     * is passed to exp as -(x2 + lo): lo = fma(x, x, -x2) + 2 x x_lo, the roundings of the
     * square and of x itself */
    __m512 xc = _mm512_min_ps(_mm512_set1_ps(10.0f), ax);
    __m512 xc_lo = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ), x_lo,
                                        _mm512_sub_ps(_mm512_setzero_ps(), x_lo));
    __m512 x2 = _mm512_mul_ps(xc, xc);
    __m512 lo = _mm512_fmadd_ps(_mm512_add_ps(xc, xc), xc_lo, _mm512_fmsub_ps(xc, xc, x2));
    __m512 ex = oma_vexp_f32_hilo(_mm512_sub_ps(_mm512_setzero_ps(), x2), _mm512_sub_ps(_mm512_setzero_ps(), lo));
    __m512 t = _mm512_div_ps(one, _mm512_add_ps(one, xc));
    __m512 ec = _mm512_mul_ps(ex, horner(t, ERFC_B, 11));
    __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    __m512 large = _mm512_mask_blend_ps(neg, _mm512_sub_ps(_mm512_set1_ps(2.0f), ec), ec);
    __mmask16 is_small = _mm512_cmp_ps_mask(ax, _mm512_set1_ps(0.5f), _CMP_LT_OQ);
    /* NaN compares false everywhere: it takes the large branch, where it stays NaN */
    return _mm512_mask_blend_ps(is_small, large, small);
}

INL __m512 gelu16(__m512 v)
{
    /* x = v / sqrt 2 with its rounding error: C + C_lo = 1 / sqrt 2 */
    const __m512 C = _mm512_set1_ps(7.07106769e-01f), C_lo = _mm512_set1_ps(1.21016175e-08f);
    __m512 x = _mm512_mul_ps(v, C);
    __m512 x_lo = _mm512_fmadd_ps(v, C_lo, _mm512_fmsub_ps(v, C, x));
    return _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v), one_plus_erf(x, x_lo));
}

/* v / (1 + e^(-a v)), -a v with its rounding error */
INL __m512 sigmoid_mul16(__m512 v, float a)
{
    __m512 na = _mm512_set1_ps(-a);
    __m512 u = _mm512_mul_ps(v, na);
    __m512 e = oma_vexp_f32_hilo(u, _mm512_fmsub_ps(v, na, u));
    return _mm512_div_ps(v, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

static inline __mmask16 tail_mask(int64_t left) { return (__mmask16)((1u << left) - 1u); }

F512 void oma_gelu_avx512(const float *x, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, gelu16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, gelu16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

F512 void oma_geglu_avx512(const float *a, const float *gate, float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(a + i), gelu16(_mm512_loadu_ps(gate + i))));
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        __m512 g = gelu16(_mm512_maskz_loadu_ps(m, gate + i));
        _mm512_mask_storeu_ps(y + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, a + i), g));
    }
}

F512 void oma_sigmoid_mul_avx512(const float *x, float *y, int64_t n, float a)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, sigmoid_mul16(_mm512_loadu_ps(x + i), a));
    if (i < n) {
        __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, sigmoid_mul16(_mm512_maskz_loadu_ps(m, x + i), a));
    }
}

/* ---- backward ---- */

/* GELU's value and derivative at v */
INL void gelu_grad16(__m512 v, __m512 *g, __m512 *d)
{
    const __m512 C = _mm512_set1_ps(7.07106769e-01f), C_lo = _mm512_set1_ps(1.21016175e-08f);
    __m512 x = _mm512_mul_ps(v, C);
    __m512 x_lo = _mm512_fmadd_ps(v, C_lo, _mm512_fmsub_ps(v, C, x));
    __m512 cdf = _mm512_mul_ps(_mm512_set1_ps(0.5f), one_plus_erf(x, x_lo));
    __m512 e = oma_vexp_f32(_mm512_mul_ps(_mm512_set1_ps(-0.5f), _mm512_mul_ps(v, v)));
    *g = _mm512_mul_ps(v, cdf);
    *d = _mm512_fmadd_ps(_mm512_mul_ps(v, _mm512_set1_ps(0.398942280401432678f)), e, cdf);
}

F512 void oma_gelu_backward_avx512(const float *x, const float *dy, float *dx, int64_t n)
{
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
        __m512 g, d;
        gelu_grad16(_mm512_maskz_loadu_ps(m, x + i), &g, &d);
        _mm512_mask_storeu_ps(dx + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, dy + i), d));
    }
}

F512 void oma_geglu_backward_avx512(const float *a, const float *gate, const float *dy, float *da,
                                    float *dg, int64_t n)
{
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
        __m512 g, d, y = _mm512_maskz_loadu_ps(m, dy + i);
        gelu_grad16(_mm512_maskz_loadu_ps(m, gate + i), &g, &d);
        _mm512_mask_storeu_ps(da + i, m, _mm512_mul_ps(y, g));
        _mm512_mask_storeu_ps(dg + i, m, _mm512_mul_ps(_mm512_mul_ps(y, _mm512_maskz_loadu_ps(m, a + i)), d));
    }
}

F512 void oma_sigmoid_mul_backward_avx512(const float *x, const float *dy, float *dx, int64_t n, float a)
{
    const __m512 one = _mm512_set1_ps(1.0f), va = _mm512_set1_ps(a), na = _mm512_set1_ps(-a);
    for (int64_t i = 0; i < n; i += 16) {
        __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : tail_mask(n - i);
        __m512 v = _mm512_maskz_loadu_ps(m, x + i), u = _mm512_mul_ps(v, na);
        __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, oma_vexp_f32_hilo(u, _mm512_fmsub_ps(v, na, u))));
        /* s + a v s (1 - s) */
        __m512 d = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_mul_ps(va, v), s), _mm512_sub_ps(one, s), s);
        _mm512_mask_storeu_ps(dx + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, dy + i), d));
    }
}
