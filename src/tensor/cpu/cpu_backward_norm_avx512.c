/* cpu_backward_norm_avx512.c — one group of the group-norm backward (+ fused SiLU) on AVX-512.
 *
 * The same three passes as the portable kernel in cpu_backward.c: the group's statistics
 * (16 float lanes over chunks of 1024 values, each chunk's total added in double, the float
 * mean's error corrected: as the forward's AVX-512 kernel computes them), then per channel
 * g = dy * gamma (through SiLU's derivative s (1 + v (1 - s)) when fused, v the norm's output,
 * s = sigmoid v) stored into dx with the sums of g and g * xhat (float lanes per channel, double
 * across channels), then dx = inv (g - mean g - xhat mean(g xhat)). Masked loads take the tails.
 * cpu_backward.c calls it only when the CPU has AVX-512F and DQ.
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "tensor/cpu/cpu_internal.h"
#include "tensor/cpu/cpu_vexp_avx512.h"

#pragma GCC diagnostic ignored "-Wpsabi"

#define F512 __attribute__((target("avx512f,avx512dq")))
#define CHUNK 1024

static inline F512 __mmask16 mask_of(int64_t left)
{
    return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1u);
}

/* sum of f(x) over n values, in chunks of float lanes added in double */
static F512 double chunked_sum(const float *x, int64_t n, float shift, int square)
{
    double total = 0.0;
    __m512 vs = _mm512_set1_ps(shift);
    for (int64_t j = 0; j < n; j += CHUNK) {
        int64_t end = j + CHUNK < n ? j + CHUNK : n;
        __m512 acc = _mm512_setzero_ps();
        for (int64_t k = j; k < end; k += 16) {
            __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(mask_of(end - k), x + k), vs);
            d = _mm512_maskz_mov_ps(mask_of(end - k), d);
            acc = square ? _mm512_fmadd_ps(d, d, acc) : _mm512_add_ps(acc, d);
        }
        total += (double)_mm512_reduce_add_ps(acc);
    }
    return total;
}

F512 void oma_gn_backward_group_avx512(const float *xg, const float *dyg, float *dxg, int64_t cpg,
                                       int64_t hw, const float *gamma, const float *beta,
                                       int64_t ch0, float eps, int silu)
{
    int64_t cnt = cpg * hw;
    double mean = chunked_sum(xg, cnt, 0.0f, 0) / (double)cnt;
    float fm = (float)mean;
    double dm = (double)fm - mean;
    double var = chunked_sum(xg, cnt, fm, 1) / (double)cnt - dm * dm;
    if (var < 0.0) var = 0.0;
    float inv = (float)(1.0 / sqrt(var + eps));
    const __m512 one = _mm512_set1_ps(1.0f), vfm = _mm512_set1_ps(fm), vinv = _mm512_set1_ps(inv);
    double s1 = 0.0, s2 = 0.0;
    for (int64_t cc = 0; cc < cpg; cc++) {
        int64_t ch = ch0 + cc;
        __m512 g = _mm512_set1_ps(gamma ? gamma[ch] : 1.0f), b = _mm512_set1_ps(beta ? beta[ch] : 0.0f);
        const float *xs = xg + cc * hw, *dys = dyg + cc * hw;
        float *dxs = dxg + cc * hw;
        __m512 a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps();
        for (int64_t i = 0; i < hw; i += 16) {
            __mmask16 m = mask_of(hw - i);
            __m512 xh = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, xs + i), vfm), vinv);
            __m512 d = _mm512_maskz_loadu_ps(m, dys + i);
            if (silu) {
                __m512 v = _mm512_fmadd_ps(xh, g, b);
                __m512 s = _mm512_div_ps(one, _mm512_add_ps(one, oma_vexp_f32(_mm512_sub_ps(_mm512_setzero_ps(), v))));
                d = _mm512_mul_ps(d, _mm512_mul_ps(s, _mm512_fmadd_ps(v, _mm512_sub_ps(one, s), one)));
            }
            d = _mm512_maskz_mov_ps(m, _mm512_mul_ps(d, g));
            _mm512_mask_storeu_ps(dxs + i, m, d);
            a1 = _mm512_add_ps(a1, d);
            a2 = _mm512_fmadd_ps(d, xh, a2);
        }
        s1 += (double)_mm512_reduce_add_ps(a1);
        s2 += (double)_mm512_reduce_add_ps(a2);
    }
    __m512 m1 = _mm512_set1_ps((float)(s1 / (double)cnt)), m2 = _mm512_set1_ps((float)(s2 / (double)cnt));
    for (int64_t j = 0; j < cnt; j += 16) {
        __mmask16 m = mask_of(cnt - j);
        __m512 xh = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, xg + j), vfm), vinv);
        __m512 d = _mm512_sub_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, dxg + j), m1), _mm512_mul_ps(xh, m2));
        _mm512_mask_storeu_ps(dxg + j, m, _mm512_mul_ps(vinv, d));
    }
}
