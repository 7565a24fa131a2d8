/* train_rng.h — the training loop's random numbers: xoshiro256** seeded by splitmix64, with
 * uniform integers (no modulo bias), uniform floats and Box-Muller normals.
 *
 * Deterministic for a seed and small enough to store whole in a checkpoint (four words plus a
 * cached normal), so a resumed run draws exactly what the uninterrupted one would have drawn.
 * (Torch-compatible noise is not needed here: the reference comparison feeds both sides the
 * same draws, see tools/train_reference.py.)
 */
#ifndef OMA_TRAIN_TRAIN_RNG_H
#define OMA_TRAIN_TRAIN_RNG_H

#include <stdint.h>

typedef struct oma_train_rng {
    uint64_t s[4];
    int has_normal;
    double cached_normal;
} oma_train_rng;

void oma_train_rng_seed(oma_train_rng *r, uint64_t seed);
uint64_t oma_train_rng_u64(oma_train_rng *r);
/* Uniform integer in [0, n) (n >= 1). */
int64_t oma_train_rng_below(oma_train_rng *r, int64_t n);
/* Uniform double in [0, 1). */
double oma_train_rng_uniform(oma_train_rng *r);
/* Standard normal. */
double oma_train_rng_normal(oma_train_rng *r);
/* oma_randn_fn (nn/lora.h) over an oma_train_rng. */
float oma_train_rng_randn_cb(void *rng);

#endif
