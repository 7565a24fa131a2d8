/* half.c — fp16/bf16 to float32 (see half.h). */
#include "tensor/half.h"

#include <string.h>

#include "tensor/threadpool.h"

static float f16_scalar(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);            /* inf / nan */
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);   /* normal: rebias 15 -> 127 */
    } else if (man == 0) {
        bits = sign;                                        /* zero */
    } else {                                                /* subnormal: normalise */
        int e = -1;
        do {
            man <<= 1;
            e++;
        } while (!(man & 0x400u));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ffu) << 13);
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

float oma_half_to_f32(uint16_t h, oma_half_kind kind)
{
    if (kind == OMA_HALF_BF16) {
        uint32_t bits = (uint32_t)h << 16;
        float f;
        memcpy(&f, &bits, sizeof f);
        return f;
    }
    return f16_scalar(h);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
__attribute__((target("avx2,f16c"))) static void f16_f16c(const uint16_t *src, float *dst, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++) dst[i] = f16_scalar(src[i]);
}
#define HAVE_F16C_PATH 1
#endif

typedef struct {
    const uint16_t *src;
    oma_half_kind kind;
    float *dst;
    int f16c;
} widen_ctx;

static void widen_range(void *p, int64_t b, int64_t e)
{
    const widen_ctx *t = p;
#ifdef HAVE_F16C_PATH
    if (t->kind == OMA_HALF_F16 && t->f16c) {
        f16_f16c(t->src + b, t->dst + b, (size_t)(e - b));
        return;
    }
#endif
    for (int64_t i = b; i < e; i++) t->dst[i] = oma_half_to_f32(t->src[i], t->kind);
}

void oma_half_widen(const uint16_t *src, oma_half_kind kind, float *dst, size_t n)
{
    widen_ctx t = {src, kind, dst, 0};
#ifdef HAVE_F16C_PATH
    __builtin_cpu_init();
    t.f16c = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx2");
#endif
    oma_parallel_for((int64_t)n, 1 << 16, widen_range, &t);
}
