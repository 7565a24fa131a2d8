/* brownian_tree.h — torchsde's BrownianTree (v0.2.6), value for value, for DPM++ SDE.
 *
 * diffusers' DPMSolverSDEScheduler draws its noise as increments W(ta, tb) of a Brownian motion
 * on [sigma_min, sigma_max] from torchsde.BrownianTree(t0, zeros, t1, entropy=seed): a
 * BrownianInterval with halfway_tree=True, tol=1e-6 (every time rounded to 6 decimals as
 * Python's round does), pool_size=24 and no Levy area. The interval is split at (rounded)
 * halves until a query's ends are split points; each split node draws one torch.randn of the
 * sample's shape from torch.Generator().manual_seed(its W seed), and the children's increments
 * are the Brownian bridge: left = (l/h) W + sqrt(l r / h) Z, right = W - left. The seeds come
 * from numpy's SeedSequence: the root's from (entropy, pool 24).generate_state(3) (W seed first),
 * a split node's from (entropy, spawn_key (k, depth), pool 24).generate_state(4) with k = 2 k' + (0
 * left, 1 right) from its parent's k' (root: k = 0, depth 0). Values therefore depend only on the
 * entropy and the query points, not on the query order or on torchsde's LRU cache (checked by
 * the fixture script). Bounded: at most OMA_BT_MAX_NODES nodes, split depth OMA_BT_MAX_DEPTH (spawn keys stay under 2^61).
 */
#ifndef OMA_PIPELINES_BROWNIAN_TREE_H
#define OMA_PIPELINES_BROWNIAN_TREE_H

#include <stddef.h>
#include <stdint.h>

#define OMA_BT_MAX_NODES (1 << 20)
#define OMA_BT_MAX_DEPTH 60

/* numpy.random.SeedSequence(entropy, spawn_key=spawn[0..n_spawn), pool_size).generate_state(n_out)
 * (uint32 words). entropy and spawn key entries are non-negative integers (< 2^64 here). */
void oma_seedseq_state(uint64_t entropy, const uint64_t *spawn, int n_spawn, int pool_size,
                       uint32_t *out, int n_out);
/* Python's round(x, 6) for finite x of moderate size (correctly rounded, ties to even). */
double oma_round6(double x);

typedef struct oma_brownian_tree oma_brownian_tree;

/* torchsde.BrownianTree(t0, torch.zeros(n), t1, entropy=entropy) with t0 < t1 (diffusers sorts
 * them first). NULL with err on bad arguments or out of memory. */
oma_brownian_tree *oma_brownian_tree_new(double t0, double t1, uint64_t entropy, size_t n, char *err,
                                         size_t errlen);
/* tree(ta, tb) for ta <= tb (clamped to [t0, t1] as torchsde does): n floats into out. 0, or -1
 * (ta > tb, too many nodes, out of memory). */
int oma_brownian_tree_w(oma_brownian_tree *t, double ta, double tb, float *out);
void oma_brownian_tree_free(oma_brownian_tree *t);

#endif
