/* cuda_internal.cuh — what the CUDA kernels share: the element-type helpers (load/store as fp32),
 * the error recorder and the launch check. Internal to src/tensor/cuda. */
#ifndef OMA_TENSOR_CUDA_INTERNAL_CUH
#define OMA_TENSOR_CUDA_INTERNAL_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "tensor/cuda/cuda_api.h"

/* Records "what: why" for oma_cuda_last_error(); returns -1. */
int oma_cuda_fail(const char *what, const char *why);
int oma_cuda_check(cudaError_t e, const char *what);           /* 0 or oma_cuda_fail */
cudaStream_t oma_cuda_stream_t(void);

__device__ __forceinline__ float oma_ld(const float *p) { return *p; }
__device__ __forceinline__ float oma_ld(const __half *p) { return __half2float(*p); }
__device__ __forceinline__ float oma_ld(const __nv_bfloat16 *p) { return __bfloat162float(*p); }
__device__ __forceinline__ void oma_st(float *p, float v) { *p = v; }
__device__ __forceinline__ void oma_st(__half *p, float v) { *p = __float2half_rn(v); }
__device__ __forceinline__ void oma_st(__nv_bfloat16 *p, float v) { *p = __float2bfloat16_rn(v); }

/* Grid size for n elements at `block` threads, capped (grid-stride loops cover the rest). */
static inline unsigned oma_grid(int64_t n, int block)
{
    int64_t g = (n + block - 1) / block;
    if (g < 1) g = 1;
    if (g > 65535 * 8) g = 65535 * 8;
    return (unsigned)g;
}

/* Launches KERNEL<T> for the runtime dtype t (no bf16 where a kernel lacks it). */
#define OMA_CUDA_DISPATCH(t, T, ...)                                   \
    do {                                                               \
        if ((t) == OMA_CUDA_F32) { typedef float T; __VA_ARGS__; }     \
        else if ((t) == OMA_CUDA_F16) { typedef __half T; __VA_ARGS__; } \
        else { typedef __nv_bfloat16 T; __VA_ARGS__; }                 \
    } while (0)

#define OMA_CUDA_LAUNCHED(what) oma_cuda_check(cudaGetLastError(), what)

#endif
