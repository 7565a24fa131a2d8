/* cuda_elementwise.cu — SiLU, GELU (erf), quick-GELU, GEGLU, nearest 2x upsample, add and bias:
 * one grid-stride kernel each, loads widened to fp32, stores rounded to the storage type.
 * STATUS: compiled here; unverified on a GPU. */
#include "tensor/cuda/cuda_internal.cuh"

#define OMA_FOR(i, n) \
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); \
         i += (int64_t)gridDim.x * blockDim.x)

__device__ __forceinline__ float f_silu(float v) { return v / (1.0f + expf(-v)); }
__device__ __forceinline__ float f_gelu(float v) { return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); }

template <typename T> __global__ void k_silu(const T *x, T *y, int64_t n)
{
    OMA_FOR(i, n) oma_st(y + i, f_silu(oma_ld(x + i)));
}
template <typename T> __global__ void k_gelu(const T *x, T *y, int64_t n)
{
    OMA_FOR(i, n) oma_st(y + i, f_gelu(oma_ld(x + i)));
}
template <typename T> __global__ void k_qgelu(const T *x, T *y, int64_t n)
{
    OMA_FOR(i, n) { float v = oma_ld(x + i); oma_st(y + i, v / (1.0f + expf(-1.702f * v))); }
}
template <typename T> __global__ void k_geglu(const T *x, int64_t rows, int64_t dim, T *y)
{
    OMA_FOR(i, rows * dim) {
        int64_t r = i / dim, j = i - r * dim;
        const T *row = x + r * 2 * dim;
        oma_st(y + i, oma_ld(row + j) * f_gelu(oma_ld(row + dim + j)));
    }
}
template <typename T> __global__ void k_up2(const T *x, int64_t nc, int64_t h, int64_t w, T *y)
{
    int64_t W = 2 * w, H = 2 * h;
    OMA_FOR(i, nc * H * W) {
        int64_t p = i / (H * W), r = i - p * H * W, yy = r / W, xx = r - yy * W;
        y[i] = x[(p * h + yy / 2) * w + xx / 2];
    }
}
template <typename T> __global__ void k_add(const T *a, const T *b, T *y, int64_t n)
{
    OMA_FOR(i, n) oma_st(y + i, oma_ld(a + i) + oma_ld(b + i));
}
template <typename T>
__global__ void k_bias(T *x, const float *bias, int64_t n, int64_t c, int64_t inner)
{
    OMA_FOR(i, n * c * inner) {
        int64_t ch = (i / inner) % c;
        oma_st(x + i, oma_ld(x + i) + bias[ch]);
    }
}

#define LAUNCH(kern, count, ...) \
    OMA_CUDA_DISPATCH(t, T, kern<T><<<oma_grid(count, 256), 256, 0, oma_cuda_stream_t()>>>(__VA_ARGS__))

extern "C" int oma_cuda_silu(oma_cuda_dtype t, const void *x, void *y, int64_t n)
{
    LAUNCH(k_silu, n, (const T *)x, (T *)y, n);
    return OMA_CUDA_LAUNCHED("cuda: silu");
}
extern "C" int oma_cuda_gelu(oma_cuda_dtype t, const void *x, void *y, int64_t n)
{
    LAUNCH(k_gelu, n, (const T *)x, (T *)y, n);
    return OMA_CUDA_LAUNCHED("cuda: gelu");
}
extern "C" int oma_cuda_quick_gelu(oma_cuda_dtype t, const void *x, void *y, int64_t n)
{
    LAUNCH(k_qgelu, n, (const T *)x, (T *)y, n);
    return OMA_CUDA_LAUNCHED("cuda: quick_gelu");
}
extern "C" int oma_cuda_geglu(oma_cuda_dtype t, const void *x, int64_t rows, int64_t dim, void *y)
{
    LAUNCH(k_geglu, rows * dim, (const T *)x, rows, dim, (T *)y);
    return OMA_CUDA_LAUNCHED("cuda: geglu");
}
extern "C" int oma_cuda_upsample_nearest2x(oma_cuda_dtype t, const void *x, int64_t nc, int64_t h,
                                           int64_t w, void *y)
{
    LAUNCH(k_up2, nc * 4 * h * w, (const T *)x, nc, h, w, (T *)y);
    return OMA_CUDA_LAUNCHED("cuda: upsample");
}
extern "C" int oma_cuda_add(oma_cuda_dtype t, const void *a, const void *b, void *y, int64_t n)
{
    LAUNCH(k_add, n, (const T *)a, (const T *)b, (T *)y, n);
    return OMA_CUDA_LAUNCHED("cuda: add");
}
extern "C" int oma_cuda_add_bias(oma_cuda_dtype t, void *x, const float *bias, int64_t n,
                                 int64_t c, int64_t inner)
{
    LAUNCH(k_bias, n * c * inner, (T *)x, bias, n, c, inner);
    return OMA_CUDA_LAUNCHED("cuda: add_bias");
}
