/* device_backend.h — the oma_backend table for an accelerator, over a small table of its kernels.
 *
 * The idea: memory that both the host and the device reach (CUDA managed memory) becomes the
 * engine's allocator (tensor.h oma_allocator), so every tensor the models make — weights when
 * loaded, activations in their arenas — lives in it, and the layers above keep their host code
 * unchanged. Each op of the backend table runs the device kernel when every operand is such
 * memory (a registry of the allocations made here answers that, by address range) and the
 * kernel covers the shape; otherwise it runs the CPU backend's kernel (correct, counted as a
 * host op: the device script checks there are none in a UNet step). Each device op waits for
 * the device before returning (the CPU backend's contract: results are there when the call
 * returns), so host code between ops is always safe. Weights migrate to the device on first
 * use and stay there while the host leaves them alone; activations are made, used and reused
 * on the device. A device error is sticky: later ops do nothing, and the pipeline reports it
 * (oma_devbackend_check) as one line.
 *
 * Pure host logic over function pointers: tests drive it with a fake device (CPU kernels over
 * registered host buffers); src/tensor/cuda/cuda_devops.cu fills the table for CUDA.
 */
#ifndef OMA_TENSOR_DEVICE_BACKEND_H
#define OMA_TENSOR_DEVICE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/backend.h"

/* A device's kernels, fp32 storage. Every pointer given is device-reachable memory from alloc.
 * Kernel entries may be NULL (that op then runs on the host). int returns: 0, or -1 with the
 * reason in last_error(). Kernels may return before they finish; sync waits. */
typedef struct oma_devops {
    const char *name;
    void *(*alloc)(size_t bytes);          /* host+device reachable, >= 64-byte aligned; NULL: OOM */
    void (*free)(void *p);
    int (*zero)(void *p, size_t bytes);    /* finished on return */
    int (*sync)(void);
    const char *(*last_error)(void);
    int (*gemm)(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                int64_t ldc);
    /* weight_stamp as in oma_backend: the device may keep a prepared form of the weights */
    int (*conv2d)(const float *x, int64_t n, int64_t c, int64_t h, int64_t w, const float *weight,
                  uint64_t weight_stamp, const float *bias, int64_t oc, int64_t kh, int64_t kw, int stride, int pad,
                  float *y, int64_t oh, int64_t ow);
    int (*group_norm)(const float *x, int64_t n, int64_t c, int64_t hw, int64_t groups,
                      const float *gamma, const float *beta, float eps, int silu, float *y);
    int (*layer_norm)(const float *x, int64_t rows, int64_t dim, const float *gamma,
                      const float *beta, float eps, float *y);
    int (*softmax)(float *x, int64_t rows, int64_t dim);
    int (*attention)(const oma_attn_args *a);
    int (*gelu)(const float *x, float *y, int64_t n);
    int (*quick_gelu)(const float *x, float *y, int64_t n);
    int (*silu)(const float *x, float *y, int64_t n);
    int (*geglu)(const float *x, int64_t rows, int64_t dim, float *y);
    int (*upsample_nearest2x)(const float *x, int64_t nc, int64_t h, int64_t w, float *y);
    int (*concat_channels)(const float *a, int64_t ca, const float *b, int64_t cb, int64_t n,
                           int64_t hw, float *y);
    int (*add)(const float *a, const float *b, float *y, int64_t n);
    int (*mul)(const float *a, const float *b, float *y, int64_t n);
    int (*axpby)(float alpha, const float *x, float beta, float *y, int64_t n);
    int (*transpose)(const float *x, int64_t batch, int64_t rows, int64_t cols, float *y);
    int (*add_bias)(float *x, const float *bias, int64_t n, int64_t c, int64_t inner);
} oma_devops;

typedef struct oma_devbackend_stats {
    uint64_t device_ops;     /* ops run by a device kernel */
    uint64_t host_ops;       /* ops run by the CPU backend (operand not device memory, no kernel
                              * for the op or the shape, or a backward op) */
    uint64_t host_unreachable; /* of host_ops: because an operand was not device memory */
    uint64_t host_shape;     /* of host_ops: the device kernel does not cover the shape */
    uint64_t allocs;         /* device allocations made */
    size_t live_bytes, peak_bytes;
    uint64_t last_host_op;   /* index (1-based, in the op order) of the latest host op, 0: none */
    char last_host_why[48];  /* "group_norm: shape not covered", "gemm: host memory", ... */
} oma_devbackend_stats;

/* Makes ops the engine's allocator and backend (oma_allocator_set + oma_backend_set). The
 * allocator stays installed afterwards (so device buffers are always freed by the device);
 * 0, or -1 when ops lacks alloc/free/sync/last_error. */
int oma_devbackend_install(const oma_devops *ops);
/* Back to the CPU backend and host allocations (device buffers still alive free normally). */
void oma_devbackend_uninstall(void);
/* 1 while installed. */
int oma_devbackend_active(void);
/* 1 when [p, p+bytes) lies inside one live device allocation. */
int oma_devbackend_reachable(const void *p, size_t bytes);
void oma_devbackend_stats_get(oma_devbackend_stats *s);
void oma_devbackend_stats_reset(void);
/* 0, or -1 with "NAME: what: why" in err when a device op failed since install (sticky) and the
 * device backend is still installed. */
int oma_devbackend_check(char *err, size_t errlen);

#endif
