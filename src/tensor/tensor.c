/* tensor.c — construction, views and shape helpers for oma_tensor (see tensor.h). */
#include "tensor/tensor.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int64_t oma_shape_numel(int ndim, const int64_t *shape)
{
    if (ndim < 0 || ndim > OMA_TENSOR_MAX_DIMS) return -1;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        if (shape[i] != 0 && n > OMA_TENSOR_MAX_NUMEL / shape[i]) return -1;
        n *= shape[i];
    }
    return n;
}

uint64_t oma_stamp_next(void)
{
    static atomic_uint_fast64_t counter;
    return (uint64_t)atomic_fetch_add(&counter, 1) + 1;
}

/* Big buffers (activations, arena chunks, kept weights, scratch) start on a 2 MB boundary and ask
 * the kernel for transparent huge pages over their whole 2 MB pages: first touching a fresh 4 KB page
 * costs a fault, and on a virtual machine faults are dear; at 2 MB the SD 1.5 VAE decode went
 * from 19.2 s to 8.4 s on 2 threads (half its time had been page faults). The hint is only a
 * hint: where THP is off the buffer is an ordinary one. */
#define OMA_HUGE_FROM ((size_t)4 << 20)
#define OMA_HUGE_PAGE ((size_t)2 << 20)

static const oma_allocator *_Atomic g_alloc;

void oma_allocator_set(const oma_allocator *a) { g_alloc = a; }

void oma_buffer_zero(void *p, size_t bytes)
{
    const oma_allocator *a = g_alloc;
    if (a && a->zero && a->zero(p, bytes) == 0) return;
    memset(p, 0, bytes);
}

void *oma_aligned_alloc(size_t bytes)
{
    const oma_allocator *a = g_alloc;
    if (a) return a->alloc(bytes == 0 ? 64 : bytes);
    return oma_host_alloc(bytes);
}

void *oma_host_alloc(size_t bytes)
{
    if (bytes == 0) bytes = 64;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded < bytes) return NULL;
    if (rounded < OMA_HUGE_FROM) return aligned_alloc(64, rounded);
    void *p = NULL;     /* posix_memalign: aligned_alloc wants the size a multiple of 2 MB */
    if (posix_memalign(&p, OMA_HUGE_PAGE, rounded) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    /* whole huge pages only: the tail stays in small pages, so nothing past the end is touched */
    (void)madvise(p, rounded & ~(OMA_HUGE_PAGE - 1), MADV_HUGEPAGE);
#endif
    return p;
}

void oma_aligned_free(void *p)
{
    const oma_allocator *a = g_alloc;
    if (p && a && a->free(p) == 0) return;
    free(p);
}

static int set_shape(oma_tensor *t, int ndim, const int64_t *shape)
{
    if (oma_shape_numel(ndim, shape) < 0) return -1;
    t->ndim = ndim;
    for (int i = 0; i < OMA_TENSOR_MAX_DIMS; i++) t->shape[i] = i < ndim ? shape[i] : 1;
    return 0;
}

int oma_tensor_alloc(oma_tensor *t, int ndim, const int64_t *shape)
{
    memset(t, 0, sizeof *t);
    if (set_shape(t, ndim, shape) != 0) return -1;
    size_t bytes = (size_t)oma_tensor_numel(t) * sizeof(float);
    t->data = oma_aligned_alloc(bytes);
    if (!t->data) {
        memset(t, 0, sizeof *t);
        return -1;
    }
    oma_buffer_zero(t->data, bytes);
    t->owns = 1;
    return 0;
}

int oma_tensor_alloc4(oma_tensor *t, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    int64_t s[4] = {d0, d1, d2, d3};
    return oma_tensor_alloc(t, ndim, s);
}

int oma_tensor_view(oma_tensor *t, float *data, int ndim, const int64_t *shape)
{
    memset(t, 0, sizeof *t);
    if (set_shape(t, ndim, shape) != 0) return -1;
    t->data = data;
    return 0;
}

void oma_tensor_free(oma_tensor *t)
{
    if (!t) return;
    if (t->owns) oma_aligned_free(t->data);
    memset(t, 0, sizeof *t);
}

int oma_tensor_reshape(oma_tensor *t, int ndim, const int64_t *shape)
{
    int64_t n = oma_shape_numel(ndim, shape);
    if (n < 0 || n != oma_tensor_numel(t)) return -1;
    return set_shape(t, ndim, shape);
}

int oma_tensor_same_shape(const oma_tensor *a, const oma_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return 0;
    return 1;
}

const char *oma_tensor_shape_str(const oma_tensor *t, char *buf, size_t len)
{
    size_t off = 0;
    if (len == 0) return buf;
    buf[0] = 0;
    off += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < t->ndim && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (off < len) snprintf(buf + off, len - off, "]");
    return buf;
}
