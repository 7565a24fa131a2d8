/* cuda_layout.cu — the data-movement and small arithmetic kernels the backend table needs
 * besides cuda_elementwise.cu's: channel concat, batched transpose, element-wise multiply and
 * y = a x + b y. Grid-stride, fp32 arithmetic, any storage type.
 * STATUS: compiled here; unverified on a GPU (tensor.test_cuda_kernels checks them there). */
#include "tensor/cuda/cuda_internal.cuh"

#define OMA_FOR(i, n) \
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < (n); \
         i += (int64_t)gridDim.x * blockDim.x)

template <typename T>
__global__ void k_concat(const T *a, int64_t ca, const T *b, int64_t cb, int64_t n, int64_t hw,
                         T *y)
{
    int64_t c = ca + cb;
    OMA_FOR(i, n * c * hw) {
        int64_t s = i / hw, p = i - s * hw, img = s / c, ch = s - img * c;
        y[i] = ch < ca ? a[(img * ca + ch) * hw + p] : b[(img * cb + ch - ca) * hw + p];
    }
}
/* y[b, j, i] = x[b, i, j]: one thread per output element (reads strided, writes coalesced) */
template <typename T>
__global__ void k_transpose(const T *x, int64_t batch, int64_t rows, int64_t cols, T *y)
{
    OMA_FOR(o, batch * rows * cols) {
        int64_t bb = o / (rows * cols), r = o - bb * rows * cols, j = r / rows, i = r - j * rows;
        y[o] = x[(bb * rows + i) * cols + j];
    }
}
template <typename T> __global__ void k_mul(const T *a, const T *b, T *y, int64_t n)
{
    OMA_FOR(i, n) oma_st(y + i, oma_ld(a + i) * oma_ld(b + i));
}
template <typename T> __global__ void k_axpby(float al, const T *x, float be, T *y, int64_t n)
{
    OMA_FOR(i, n) oma_st(y + i, al * oma_ld(x + i) + be * oma_ld(y + i));
}

#define LAUNCH(kern, count, ...) \
    OMA_CUDA_DISPATCH(t, T, kern<T><<<oma_grid(count, 256), 256, 0, oma_cuda_stream_t()>>>(__VA_ARGS__))

extern "C" int oma_cuda_concat_channels(oma_cuda_dtype t, const void *a, int64_t ca,
                                        const void *b, int64_t cb, int64_t n, int64_t hw, void *y)
{
    LAUNCH(k_concat, n * (ca + cb) * hw, (const T *)a, ca, (const T *)b, cb, n, hw, (T *)y);
    return OMA_CUDA_LAUNCHED("cuda: concat");
}
extern "C" int oma_cuda_transpose(oma_cuda_dtype t, const void *x, int64_t batch, int64_t rows,
                                  int64_t cols, void *y)
{
    LAUNCH(k_transpose, batch * rows * cols, (const T *)x, batch, rows, cols, (T *)y);
    return OMA_CUDA_LAUNCHED("cuda: transpose");
}
extern "C" int oma_cuda_mul(oma_cuda_dtype t, const void *a, const void *b, void *y, int64_t n)
{
    LAUNCH(k_mul, n, (const T *)a, (const T *)b, (T *)y, n);
    return OMA_CUDA_LAUNCHED("cuda: mul");
}
extern "C" int oma_cuda_axpby(oma_cuda_dtype t, float alpha, const void *x, float beta, void *y,
                              int64_t n)
{
    LAUNCH(k_axpby, n, alpha, (const T *)x, beta, (T *)y, n);
    return OMA_CUDA_LAUNCHED("cuda: axpby");
}
