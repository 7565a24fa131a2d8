/* cuda_norm.cu — group norm (+ fused SiLU), layer norm and row softmax. One block per
 * normalised group/row; two passes over the data in fp32 (mean, then the centred variance, as
 * the CPU kernels and PyTorch do: no E[x^2]-E[x]^2 cancellation), block-wide sums through warp
 * shuffles. STATUS: compiled here; unverified on a GPU. */
#include "tensor/cuda/cuda_internal.cuh"

#define NT 256

__device__ float block_sum(float v, float *sh)
{
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    float s = 0.0f;
    for (int i = 0; i < (int)(blockDim.x >> 5); i++) s += sh[i];
    return s;
}

__device__ float block_max(float v, float *sh)
{
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    __syncthreads();
    if (lane == 0) sh[wid] = v;
    __syncthreads();
    float s = -INFINITY;
    for (int i = 0; i < (int)(blockDim.x >> 5); i++) s = fmaxf(s, sh[i]);
    return s;
}

/* block (g, b): channels [g*cg, (g+1)*cg) of image b, cg*hw contiguous elements. */
template <typename T>
__global__ void k_group_norm(const T *x, int64_t c, int64_t hw, int64_t groups, const float *gamma,
                             const float *beta, float eps, int silu, T *y)
{
    __shared__ float sh[32];
    int64_t cg = c / groups, g = blockIdx.x, b = blockIdx.y, cnt = cg * hw;
    const T *xs = x + (b * c + g * cg) * hw;
    T *ys = y + (b * c + g * cg) * hw;
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < cnt; i += blockDim.x) s += oma_ld(xs + i);
    float mean = block_sum(s, sh) / (float)cnt;
    float v = 0.0f;
    for (int64_t i = threadIdx.x; i < cnt; i += blockDim.x) {
        float d = oma_ld(xs + i) - mean;
        v += d * d;
    }
    float rstd = rsqrtf(block_sum(v, sh) / (float)cnt + eps);
    for (int64_t i = threadIdx.x; i < cnt; i += blockDim.x) {
        int64_t ch = g * cg + i / hw;
        float o = (oma_ld(xs + i) - mean) * rstd * gamma[ch] + beta[ch];
        if (silu) o = o / (1.0f + expf(-o));
        oma_st(ys + i, o);
    }
}

template <typename T>
__global__ void k_layer_norm(const T *x, int64_t dim, const float *gamma, const float *beta,
                             float eps, T *y)
{
    __shared__ float sh[32];
    const T *xs = x + blockIdx.x * dim;
    T *ys = y + blockIdx.x * dim;
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) s += oma_ld(xs + i);
    float mean = block_sum(s, sh) / (float)dim;
    float v = 0.0f;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
        float d = oma_ld(xs + i) - mean;
        v += d * d;
    }
    float rstd = rsqrtf(block_sum(v, sh) / (float)dim + eps);
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x)
        oma_st(ys + i, (oma_ld(xs + i) - mean) * rstd * gamma[i] + beta[i]);
}

template <typename T> __global__ void k_softmax(T *x, int64_t dim)
{
    __shared__ float sh[32];
    T *xs = x + blockIdx.x * dim;
    float m = -INFINITY;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) m = fmaxf(m, oma_ld(xs + i));
    m = block_max(m, sh);
    float s = 0.0f;
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) s += expf(oma_ld(xs + i) - m);
    float inv = 1.0f / block_sum(s, sh);
    for (int64_t i = threadIdx.x; i < dim; i += blockDim.x)
        oma_st(xs + i, expf(oma_ld(xs + i) - m) * inv);
}

extern "C" int oma_cuda_group_norm(oma_cuda_dtype t, const void *x, int64_t n, int64_t c,
                                   int64_t hw, int64_t groups, const float *gamma,
                                   const float *beta, float eps, int silu, void *y)
{
    if (groups <= 0 || c % groups != 0 || n > 65535 || groups > 0x7fffffff)
        return oma_cuda_fail("cuda: group_norm", "bad shape");
    dim3 grid((unsigned)groups, (unsigned)n);
    OMA_CUDA_DISPATCH(t, T, k_group_norm<T><<<grid, NT, 0, oma_cuda_stream_t()>>>(
                                (const T *)x, c, hw, groups, gamma, beta, eps, silu, (T *)y));
    return OMA_CUDA_LAUNCHED("cuda: group_norm");
}

extern "C" int oma_cuda_layer_norm(oma_cuda_dtype t, const void *x, int64_t rows, int64_t dim,
                                   const float *gamma, const float *beta, float eps, void *y)
{
    if (rows <= 0 || rows > 0x7fffffff) return oma_cuda_fail("cuda: layer_norm", "bad shape");
    OMA_CUDA_DISPATCH(t, T, k_layer_norm<T><<<(unsigned)rows, NT, 0, oma_cuda_stream_t()>>>(
                                (const T *)x, dim, gamma, beta, eps, (T *)y));
    return OMA_CUDA_LAUNCHED("cuda: layer_norm");
}

extern "C" int oma_cuda_softmax(oma_cuda_dtype t, void *x, int64_t rows, int64_t dim)
{
    if (rows <= 0 || rows > 0x7fffffff) return oma_cuda_fail("cuda: softmax", "bad shape");
    OMA_CUDA_DISPATCH(t, T, k_softmax<T><<<(unsigned)rows, NT, 0, oma_cuda_stream_t()>>>((T *)x, dim));
    return OMA_CUDA_LAUNCHED("cuda: softmax");
}
