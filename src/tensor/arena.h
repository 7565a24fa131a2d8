/* arena.h — a bump allocator for activations and scratch space.
 *
 * A forward pass allocates many short-lived buffers in a stack-like pattern. An arena hands
 * them out from one big block (64-byte aligned), and mark/release frees everything allocated
 * since a mark in O(1). The block grows by chaining new chunks when it runs out, so a caller
 * never has to know the peak in advance; oma_arena_peak() reports it for the memory plan.
 * Released chunks are kept and reused (a new chunk means page faults on fresh memory) until
 * oma_arena_destroy, so an arena holds on to its peak.
 */
#ifndef OMA_TENSOR_ARENA_H
#define OMA_TENSOR_ARENA_H

#include <stddef.h>

#include "tensor/tensor.h"

typedef struct oma_arena_chunk oma_arena_chunk;

typedef struct oma_arena {
    oma_arena_chunk *head;      /* newest chunk */
    oma_arena_chunk *spare;     /* released chunks, for reuse */
    size_t chunk_size;          /* default size of a new chunk */
    size_t used;                /* bytes in use over all chunks */
    size_t peak;                /* largest `used` seen */
} oma_arena;

typedef struct oma_arena_mark {
    oma_arena_chunk *chunk;
    size_t off;
    size_t used;
} oma_arena_mark;

/* chunk_size 0 picks 64 MiB. No memory is taken until the first allocation. */
void oma_arena_init(oma_arena *a, size_t chunk_size);
void oma_arena_destroy(oma_arena *a);

/* Uninitialised, 64-byte aligned memory; NULL when out of memory or on overflow. */
void *oma_arena_alloc(oma_arena *a, size_t bytes);
/* A zeroed tensor whose data lives in the arena. 0, or -1 on a bad shape / out of memory. */
int oma_arena_tensor(oma_arena *a, oma_tensor *t, int ndim, const int64_t *shape);
/* The same without the zero fill, for an op that writes every element of its output (a linear
 * layer's or a convolution's): zeroing a large activation only to overwrite it costs a
 * single-threaded pass over memory (3% of a UNet step). */
int oma_arena_tensor_uninit(oma_arena *a, oma_tensor *t, int ndim, const int64_t *shape);

oma_arena_mark oma_arena_get_mark(const oma_arena *a);
/* Frees everything allocated after the mark. The memory stays mapped (newer chunks go to the
 * spare list) until oma_arena_destroy: a caller may still read a released buffer, e.g. to move
 * a result down to the mark, until it allocates over it. */
void oma_arena_release(oma_arena *a, oma_arena_mark m);

size_t oma_arena_peak(const oma_arena *a);

#endif
