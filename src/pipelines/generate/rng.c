/* rng.c — mt19937 and torch.randn's CPU algorithm (see rng.h). */
#include "pipelines/generate/rng.h"

#include <math.h>

#define MT_N 624
#define MT_M 397

void oma_rng_seed(oma_rng *r, uint64_t seed)
{
    r->seed = seed;
    r->state[0] = (uint32_t)(seed & 0xffffffffu);
    for (int j = 1; j < MT_N; j++)
        r->state[j] = 1812433253u * (r->state[j - 1] ^ (r->state[j - 1] >> 30)) + (uint32_t)j;
    r->next = MT_N;         /* regenerate on first draw */
    r->has_normal = 0;
    r->cached_normal = 0.0;
}

static void twist(oma_rng *r)
{
    uint32_t *s = r->state;
    for (int i = 0; i < MT_N; i++) {
        uint32_t y = (s[i] & 0x80000000u) | (s[(i + 1) % MT_N] & 0x7fffffffu);
        uint32_t v = s[(i + MT_M) % MT_N] ^ (y >> 1);
        if (y & 1u) v ^= 0x9908b0dfu;
        s[i] = v;
    }
    r->next = 0;
}

uint32_t oma_rng_u32(oma_rng *r)
{
    if (r->next >= MT_N) twist(r);
    uint32_t y = r->state[r->next++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

static float uniform_f(oma_rng *r)
{
    return (float)(oma_rng_u32(r) & 0xffffffu) * (1.0f / 16777216.0f);
}

static double uniform_d(oma_rng *r)
{
    uint64_t hi = oma_rng_u32(r), lo = oma_rng_u32(r);
    uint64_t v = (hi << 32) | lo;
    return (double)(v & ((UINT64_C(1) << 53) - 1)) * (1.0 / 9007199254740992.0);
}

static double normal_d(oma_rng *r)
{
    if (r->has_normal) {
        r->has_normal = 0;
        return r->cached_normal;
    }
    double u1 = uniform_d(r), u2 = uniform_d(r);
    double rad = sqrt(-2.0 * log1p(-u2));
    double theta = 2.0 * M_PI * u1;
    r->cached_normal = rad * sin(theta);
    r->has_normal = 1;
    return rad * cos(theta);
}

static void fill16(float *d)
{
    for (int j = 0; j < 8; j++) {
        float u1 = 1.0f - d[j], u2 = d[j + 8];
        float radius = sqrtf(-2.0f * logf(u1));
        float theta = (float)(2.0 * M_PI * (double)u2);
        d[j] = radius * cosf(theta);
        d[j + 8] = radius * sinf(theta);
    }
}

void oma_rng_randn(oma_rng *r, float *out, size_t n)
{
    if (n < 16) {
        for (size_t i = 0; i < n; i++) out[i] = (float)normal_d(r);
        return;
    }
    for (size_t i = 0; i < n; i++) out[i] = uniform_f(r);
    for (size_t i = 0; i + 16 <= n; i += 16) fill16(out + i);
    if (n % 16 != 0) {
        float *tail = out + n - 16;
        for (int i = 0; i < 16; i++) tail[i] = uniform_f(r);
        fill16(tail);
    }
}

void oma_rng_rand(oma_rng *r, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = uniform_f(r);
}
