/* rng.h — a random generator that reproduces torch.Generator("cpu") bit for bit.
 *
 * So that `--seed N` gives the same starting noise as diffusers with
 * torch.Generator("cpu").manual_seed(N), this is PyTorch's CPU generator: a 32-bit Mersenne
 * Twister (mt19937) seeded with the low 32 bits of the seed, and torch.randn's two paths:
 *  - 16 or more floats: first every element gets a uniform float (the low 24 bits of one
 *    32-bit draw, times 2^-24); then each group of 16 is turned into normals by Box-Muller,
 *    u1 = 1 - x[j], u2 = x[j+8], x[j] = r cos(2 pi u2), x[j+8] = r sin(2 pi u2) for j < 8; a
 *    tail that is not a multiple of 16 is redone as the last 16 elements with 16 fresh uniforms.
 *  - fewer than 16: per element, a double normal from two 53-bit uniforms (each from two
 *    32-bit draws, the first being the high word), r = sqrt(-2 log(1 - u2)), theta = 2 pi u1,
 *    returning r cos(theta) and keeping r sin(theta) for the next call (the generator's cache).
 * PyTorch's AVX2 build evaluates log/sin/cos of the >= 16 path with its own approximations, so
 * values can differ from ours in the last bit or two of a float.
 */
#ifndef OMA_PIPELINES_RNG_H
#define OMA_PIPELINES_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct oma_rng {
    uint32_t state[624];
    int next;
    int has_normal;         /* cached second value of the last double Box-Muller pair */
    double cached_normal;
    uint64_t seed;          /* the seed given to oma_rng_seed (torch's initial_seed()) */
} oma_rng;

/* torch.Generator().manual_seed(seed) */
void oma_rng_seed(oma_rng *r, uint64_t seed);
/* One 32-bit draw (mt19937 output). */
uint32_t oma_rng_u32(oma_rng *r);
/* torch.randn(n, generator=r) into out: n floats, mean 0, std 1. */
void oma_rng_randn(oma_rng *r, float *out, size_t n);
/* torch.rand(n) as floats in [0, 1). */
void oma_rng_rand(oma_rng *r, float *out, size_t n);

#endif
