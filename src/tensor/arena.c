/* arena.c — chained bump allocator (see arena.h). */
#include "tensor/arena.h"

#include <stdlib.h>
#include <string.h>

struct oma_arena_chunk {
    oma_arena_chunk *prev;
    size_t cap;
    size_t off;
    unsigned char *mem;
};

void oma_arena_init(oma_arena *a, size_t chunk_size)
{
    memset(a, 0, sizeof *a);
    a->chunk_size = chunk_size ? chunk_size : ((size_t)64 << 20);
}

static void free_chunk(oma_arena_chunk *c)
{
    oma_aligned_free(c->mem);
    free(c);
}

void oma_arena_destroy(oma_arena *a)
{
    oma_arena_chunk *lists[2] = {a->head, a->spare};
    for (int i = 0; i < 2; i++) {
        oma_arena_chunk *c = lists[i];
        while (c) {
            oma_arena_chunk *p = c->prev;
            free_chunk(c);
            c = p;
        }
    }
    a->head = NULL;
    a->spare = NULL;
    a->used = 0;
}

void *oma_arena_alloc(oma_arena *a, size_t bytes)
{
    size_t need = (bytes + 63) & ~(size_t)63;
    if (need < bytes) return NULL;
    if (need == 0) need = 64;
    oma_arena_chunk *c = a->head;
    if (!c || c->cap - c->off < need) {
        /* reuse the smallest released chunk that is big enough (fresh memory costs page
         * faults; the first fit would hand a big chunk to a small tensor and leave the next
         * big one to fresh memory, growing the arena every pass) */
        oma_arena_chunk **best = NULL, *n = NULL;
        for (oma_arena_chunk **pp = &a->spare; *pp; pp = &(*pp)->prev)
            if ((*pp)->cap >= need && (!best || (*pp)->cap < (*best)->cap)) best = pp;
        if (best) {
            n = *best;
            *best = n->prev;
        }
        if (!n) {
            size_t cap = need > a->chunk_size ? need : a->chunk_size;
            n = malloc(sizeof *n);
            if (!n) return NULL;
            n->mem = oma_aligned_alloc(cap);
            if (!n->mem) {
                free(n);
                return NULL;
            }
            n->cap = cap;
        }
        n->off = 0;
        n->prev = c;
        a->head = c = n;
    }
    void *p = c->mem + c->off;
    c->off += need;
    a->used += need;
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

int oma_arena_tensor_uninit(oma_arena *a, oma_tensor *t, int ndim, const int64_t *shape)
{
    int64_t n = oma_shape_numel(ndim, shape);
    if (n < 0) return -1;
    float *d = oma_arena_alloc(a, (size_t)n * sizeof(float));
    if (!d) return -1;
#ifndef NDEBUG
    /* debug builds (the tests) fill it with NaN, so an op that leaves a gap shows at once
     * instead of reading zeros from fresh pages */
    memset(d, 0xff, (size_t)n * sizeof(float));
#endif
    return oma_tensor_view(t, d, ndim, shape);
}

int oma_arena_tensor(oma_arena *a, oma_tensor *t, int ndim, const int64_t *shape)
{
    if (oma_arena_tensor_uninit(a, t, ndim, shape) != 0) return -1;
    oma_buffer_zero(t->data, (size_t)oma_tensor_numel(t) * sizeof(float));
    return 0;
}

oma_arena_mark oma_arena_get_mark(const oma_arena *a)
{
    oma_arena_mark m = {a->head, a->head ? a->head->off : 0, a->used};
    return m;
}

void oma_arena_release(oma_arena *a, oma_arena_mark m)
{
    while (a->head && a->head != m.chunk) {
        oma_arena_chunk *p = a->head->prev;
        a->head->prev = a->spare;       /* kept for reuse until oma_arena_destroy */
        a->spare = a->head;
        a->head = p;
    }
    if (a->head) a->head->off = m.off;
    a->used = m.used;
}

size_t oma_arena_peak(const oma_arena *a) { return a->peak; }
