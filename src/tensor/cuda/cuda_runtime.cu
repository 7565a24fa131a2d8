/* cuda_runtime.cu — the CUDA backend's runtime: device discovery that never aborts (no driver,
 * driver older than the toolkit and out of memory all become one line in oma_cuda_last_error),
 * the one stream, plain cudaMalloc allocations and the copies.
 * STATUS: compiled here; unverified on a GPU. */
#include <stdio.h>
#include <string.h>

#include "tensor/cuda/cuda_internal.cuh"

static char g_err[256];
static cudaStream_t g_stream;
static int g_ready;
static char g_name[256];
/* cuda_gemm.cu's cuBLASLt handle is made on the first GEMM and dropped here, through a hook, so
 * a program that never multiplies never loads libcublasLt (it costs seconds to map). */
void (*oma_cuda_gemm_shutdown_hook)(void);

extern "C" const char *oma_cuda_last_error(void) { return g_err; }

int oma_cuda_fail(const char *what, const char *why)
{
    snprintf(g_err, sizeof g_err, "%s: %s", what, why);
    return -1;
}

int oma_cuda_check(cudaError_t e, const char *what)
{
    if (e == cudaSuccess) return 0;
    const char *why;
    switch (e) {
    case cudaErrorNoDevice: why = "no CUDA device is visible"; break;
    case cudaErrorInsufficientDriver:
        why = "the NVIDIA driver is older than this build's CUDA toolkit (update the driver)";
        break;
    case cudaErrorMemoryAllocation: why = "out of device memory"; break;
    default: why = cudaGetErrorString(e); break;
    }
    (void)cudaGetLastError();   /* clear a sticky-free error so the next call starts clean */
    return oma_cuda_fail(what, why);
}

cudaStream_t oma_cuda_stream_t(void) { return g_stream; }
extern "C" void *oma_cuda_stream(void) { return (void *)g_stream; }
extern "C" const char *oma_cuda_device_name(void) { return g_name; }

extern "C" int oma_cuda_device_count(void)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e == cudaErrorInsufficientDriver) {   /* also what a machine with no driver gets */
        (void)cudaGetLastError();
        int drv = 0, rt = 0;
        cudaDriverGetVersion(&drv);
        cudaRuntimeGetVersion(&rt);
        char why[160];
        if (drv == 0)
            snprintf(why, sizeof why, "no NVIDIA driver is installed (libcuda not found), so no "
                                      "CUDA device is visible");
        else
            snprintf(why, sizeof why, "the NVIDIA driver supports CUDA %d.%d, older than this "
                     "build's CUDA %d.%d (update the driver)", drv / 1000, drv % 1000 / 10,
                     rt / 1000, rt % 1000 / 10);
        return oma_cuda_fail("cuda", why);
    }
    if (e == cudaErrorNoDevice) {
        (void)cudaGetLastError();
        return 0;
    }
    if (oma_cuda_check(e, "cuda") != 0) return -1;
    return n;
}

extern "C" int oma_cuda_init(int ordinal)
{
    if (g_ready) return 0;
    int n = oma_cuda_device_count();
    if (n < 0) return -1;
    if (n == 0) return oma_cuda_fail("cuda", "no CUDA device is visible");
    if (ordinal < 0 || ordinal >= n) return oma_cuda_fail("cuda", "no such device ordinal");
    if (oma_cuda_check(cudaSetDevice(ordinal), "cuda: select device") != 0) return -1;
    cudaDeviceProp p;
    if (oma_cuda_check(cudaGetDeviceProperties(&p, ordinal), "cuda: device properties") != 0)
        return -1;
    snprintf(g_name, sizeof g_name, "%s", p.name);
    if (p.major * 10 + p.minor < 75)
        return oma_cuda_fail("cuda", "device older than compute capability 7.5 (Turing), which "
                                     "this build's CUDA 13 kernels need");
    if (oma_cuda_check(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking),
                       "cuda: stream") != 0)
        return -1;
    g_ready = 1;
    return 0;
}

extern "C" void oma_cuda_shutdown(void)
{
    if (!g_ready) return;
    cudaStreamSynchronize(g_stream);
    if (oma_cuda_gemm_shutdown_hook) oma_cuda_gemm_shutdown_hook();
    cudaStreamDestroy(g_stream);
    g_ready = 0;
}

extern "C" int oma_cuda_mem_info(size_t *free_bytes, size_t *total_bytes)
{
    return oma_cuda_check(cudaMemGetInfo(free_bytes, total_bytes), "cuda: memory info");
}

extern "C" void *oma_cuda_malloc(size_t bytes)
{
    void *p = NULL;
    if (oma_cuda_check(cudaMalloc(&p, bytes ? bytes : 1), "cuda: allocate") != 0) return NULL;
    return p;
}

extern "C" void oma_cuda_free(void *p)
{
    if (p) cudaFree(p);
}

extern "C" int oma_cuda_upload(void *dst, const void *src, size_t bytes)
{
    return oma_cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, g_stream),
                          "cuda: upload");
}

extern "C" int oma_cuda_download(void *dst, const void *src, size_t bytes)
{
    if (oma_cuda_check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, g_stream),
                       "cuda: download") != 0)
        return -1;
    return oma_cuda_sync();
}

extern "C" int oma_cuda_sync(void)
{
    return oma_cuda_check(cudaStreamSynchronize(g_stream), "cuda: run");
}

template <typename T> __global__ void k_from_f32(const float *s, T *d, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        oma_st(d + i, s[i]);
}

template <typename T> __global__ void k_to_f32(const T *s, float *d, int64_t n)
{
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n;
         i += (int64_t)gridDim.x * blockDim.x)
        d[i] = oma_ld(s + i);
}

extern "C" int oma_cuda_convert_from_f32(const float *src, void *dst, oma_cuda_dtype t, int64_t n)
{
    OMA_CUDA_DISPATCH(t, T, k_from_f32<T><<<oma_grid(n, 256), 256, 0, g_stream>>>(src, (T *)dst, n));
    return OMA_CUDA_LAUNCHED("cuda: convert");
}

extern "C" int oma_cuda_convert_to_f32(const void *src, oma_cuda_dtype t, float *dst, int64_t n)
{
    OMA_CUDA_DISPATCH(t, T, k_to_f32<T><<<oma_grid(n, 256), 256, 0, g_stream>>>((const T *)src, dst, n));
    return OMA_CUDA_LAUNCHED("cuda: convert");
}
