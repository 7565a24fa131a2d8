/* tensor.h — f32 tensors for the inference engine: up to 4-D, contiguous, row-major (NCHW).
 *
 * A tensor either owns its buffer (malloc'ed, 64-byte aligned) or is a view over memory owned
 * by someone else (an arena, a mapped checkpoint, another tensor). Shapes are checked on every
 * constructor so that a caller computing a size from untrusted input (a checkpoint header, an
 * image size) gets an error instead of an overflow. Nothing here knows about backends.
 */
#ifndef OMA_TENSOR_TENSOR_H
#define OMA_TENSOR_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define OMA_TENSOR_MAX_DIMS 4
/* Largest element count one tensor may hold (2^34 floats = 64 GiB): a bound, not a plan. */
#define OMA_TENSOR_MAX_NUMEL ((int64_t)1 << 34)

typedef struct oma_tensor {
    int ndim;
    int64_t shape[OMA_TENSOR_MAX_DIMS];
    float *data;
    int owns;           /* non-zero when data was allocated by oma_tensor_alloc */
    /* Non-zero for weights: a value from oma_stamp_next() that stays the same exactly as long as
     * the values do (a layer takes a new one when it changes them, e.g. a LoRA merge), so a
     * backend may keep a prepared copy of them keyed by it. 0 for everything else. */
    uint64_t stamp;
} oma_tensor;

/* A fresh, never-repeated stamp (thread-safe). */
uint64_t oma_stamp_next(void);

/* Element count of a shape; -1 when a dimension is < 0, ndim is out of range, or the count
 * overflows OMA_TENSOR_MAX_NUMEL. */
int64_t oma_shape_numel(int ndim, const int64_t *shape);

static inline int64_t oma_tensor_numel(const oma_tensor *t)
{
    return oma_shape_numel(t->ndim, t->shape);
}

/* Allocates a zeroed, owned tensor. 0 on success, -1 on a bad shape or out of memory. */
int oma_tensor_alloc(oma_tensor *t, int ndim, const int64_t *shape);
/* Convenience for up to four dims: pass ndim dims, e.g. oma_tensor_alloc4(&t, 2, 3, 4, 0, 0). */
int oma_tensor_alloc4(oma_tensor *t, int ndim, int64_t d0, int64_t d1, int64_t d2, int64_t d3);
/* A non-owning view of data with the given shape (no allocation). 0, or -1 on a bad shape. */
int oma_tensor_view(oma_tensor *t, float *data, int ndim, const int64_t *shape);
/* Frees an owned buffer (no-op for views) and clears the struct. */
void oma_tensor_free(oma_tensor *t);

/* Reshapes in place to a shape of the same element count. 0, or -1 when counts differ. */
int oma_tensor_reshape(oma_tensor *t, int ndim, const int64_t *shape);
/* Non-zero when both have the same ndim and dims. */
int oma_tensor_same_shape(const oma_tensor *a, const oma_tensor *b);
/* Writes "[2, 3, 4]" into buf; returns buf. */
const char *oma_tensor_shape_str(const oma_tensor *t, char *buf, size_t len);

/* Where engine buffers come from (oma_aligned_alloc, so tensors and arena chunks). Unset: host
 * memory. A device backend (tensor/device_backend.h) installs memory that both the host and the
 * device reach (CUDA managed memory), so the layers keep using t->data as before while the
 * kernels run on the device. free returns 0 when p was its own, -1 when not (then the host free
 * runs: buffers made before the hook was set stay host buffers). zero clears bytes at p
 * (a device memset, finished on return); NULL: memset. */
typedef struct oma_allocator {
    void *(*alloc)(size_t bytes);
    int (*free)(void *p);
    int (*zero)(void *p, size_t bytes);
} oma_allocator;
/* Installs a (NULL: back to host memory only; buffers of the old allocator must be freed before). */
void oma_allocator_set(const oma_allocator *a);
/* Zeroes a buffer from oma_aligned_alloc (through the allocator's zero when it has one). */
void oma_buffer_zero(void *p, size_t bytes);

/* Aligned allocation used for all engine buffers (64 bytes: a cache line, an AVX-512 vector;
 * from 4 MB up, 2 MB huge pages where the kernel gives them, see tensor.c). */
void *oma_aligned_alloc(size_t bytes);
void oma_aligned_free(void *p);
/* The same from host memory whatever allocator is set: for buffers only CPU kernels touch (the
 * CPU backend's per-thread scratch); oma_aligned_free frees them too. */
void *oma_host_alloc(size_t bytes);

#endif
