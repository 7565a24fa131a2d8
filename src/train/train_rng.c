/* train_rng.c — xoshiro256** and its draws (train_rng.h). */
#include "train/train_rng.h"

#include <math.h>

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void oma_train_rng_seed(oma_train_rng *r, uint64_t seed)
{
    uint64_t z = seed;
    for (int i = 0; i < 4; i++) {       /* splitmix64 */
        z += 0x9e3779b97f4a7c15ULL;
        uint64_t x = z;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        r->s[i] = x ^ (x >> 31);
    }
    r->has_normal = 0;
    r->cached_normal = 0;
}

uint64_t oma_train_rng_u64(oma_train_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

int64_t oma_train_rng_below(oma_train_rng *r, int64_t n)
{
    if (n <= 1)
        return 0;
    uint64_t un = (uint64_t)n, lim = UINT64_MAX - UINT64_MAX % un;
    uint64_t x;
    do
        x = oma_train_rng_u64(r);
    while (x >= lim);
    return (int64_t)(x % un);
}

double oma_train_rng_uniform(oma_train_rng *r)
{
    return (double)(oma_train_rng_u64(r) >> 11) * 0x1.0p-53;
}

double oma_train_rng_normal(oma_train_rng *r)
{
    if (r->has_normal) {
        r->has_normal = 0;
        return r->cached_normal;
    }
    double u1 = oma_train_rng_uniform(r), u2 = oma_train_rng_uniform(r);
    double rad = sqrt(-2.0 * log(1.0 - u1)), th = 2.0 * M_PI * u2;
    r->cached_normal = rad * sin(th);
    r->has_normal = 1;
    return rad * cos(th);
}

float oma_train_rng_randn_cb(void *rng) { return (float)oma_train_rng_normal(rng); }
