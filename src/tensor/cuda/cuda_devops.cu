/* cuda_devops.cu — the CUDA kernels as the device backend's oma_devops table (fp32 storage), and
 * its install: device 0, managed memory (cudaMallocManaged: the host code of the layers keeps
 * reading and writing t->data; pages the kernels touch move to the GPU and stay there while the
 * host leaves them alone, so weights move once and activations live on the device).
 * The dispatch itself (which op runs where, the allocation registry, the sticky error) is host
 * C in tensor/device_backend.c, tested without a GPU; this file only adapts signatures.
 * STATUS: compiled here; unverified on a GPU (bench/cuda/run_on_device.sh runs it there). */
#include <stdio.h>

#include "tensor/cuda/cuda_internal.cuh"

#include "tensor/device_backend.h"

#define F32 OMA_CUDA_F32

extern "C" void *oma_cuda_malloc_managed(size_t bytes)
{
    void *p = NULL;
    if (oma_cuda_check(cudaMallocManaged(&p, bytes ? bytes : 1, cudaMemAttachGlobal),
                       "cuda: allocate") != 0)
        return NULL;
    return p;
}

extern "C" int oma_cuda_zero(void *p, size_t bytes)
{
    if (oma_cuda_check(cudaMemsetAsync(p, 0, bytes, oma_cuda_stream_t()), "cuda: zero") != 0)
        return -1;
    return oma_cuda_sync();
}

static void d_free(void *p) { oma_cuda_free(p); }

static int d_gemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float al, const float *a,
                  int64_t lda, const float *b, int64_t ldb, float be, float *c, int64_t ldc)
{
    return oma_cuda_gemm(F32, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc);
}
static int d_conv2d(const float *x, int64_t n, int64_t c, int64_t h, int64_t w, const float *wt,
                    uint64_t, const float *bias, int64_t oc, int64_t kh, int64_t kw, int stride, int pad,
                    float *y, int64_t oh, int64_t ow)
{
    return oma_cuda_conv2d(F32, x, n, c, h, w, wt, bias, oc, kh, kw, stride, pad, y, oh, ow);
}
static int d_group_norm(const float *x, int64_t n, int64_t c, int64_t hw, int64_t g,
                        const float *ga, const float *be, float eps, int silu, float *y)
{
    return oma_cuda_group_norm(F32, x, n, c, hw, g, ga, be, eps, silu, y);
}
static int d_layer_norm(const float *x, int64_t rows, int64_t dim, const float *ga,
                        const float *be, float eps, float *y)
{
    return oma_cuda_layer_norm(F32, x, rows, dim, ga, be, eps, y);
}
static int d_softmax(float *x, int64_t rows, int64_t dim) { return oma_cuda_softmax(F32, x, rows, dim); }
static int d_attention(const oma_attn_args *a)
{
    return oma_cuda_attention(F32, a->q, a->k, a->v, a->out, a->batch, a->heads, a->nq, a->nk,
                              a->head_dim, a->ldq, a->ldk, a->ldv, a->ldo, a->scale, a->causal);
}
static int d_gelu(const float *x, float *y, int64_t n) { return oma_cuda_gelu(F32, x, y, n); }
static int d_qgelu(const float *x, float *y, int64_t n) { return oma_cuda_quick_gelu(F32, x, y, n); }
static int d_silu(const float *x, float *y, int64_t n) { return oma_cuda_silu(F32, x, y, n); }
static int d_geglu(const float *x, int64_t rows, int64_t dim, float *y)
{
    return oma_cuda_geglu(F32, x, rows, dim, y);
}
static int d_up2(const float *x, int64_t nc, int64_t h, int64_t w, float *y)
{
    return oma_cuda_upsample_nearest2x(F32, x, nc, h, w, y);
}
static int d_concat(const float *a, int64_t ca, const float *b, int64_t cb, int64_t n, int64_t hw,
                    float *y)
{
    return oma_cuda_concat_channels(F32, a, ca, b, cb, n, hw, y);
}
static int d_add(const float *a, const float *b, float *y, int64_t n) { return oma_cuda_add(F32, a, b, y, n); }
static int d_mul(const float *a, const float *b, float *y, int64_t n) { return oma_cuda_mul(F32, a, b, y, n); }
static int d_axpby(float al, const float *x, float be, float *y, int64_t n)
{
    return oma_cuda_axpby(F32, al, x, be, y, n);
}
static int d_transpose(const float *x, int64_t b, int64_t r, int64_t c, float *y)
{
    return oma_cuda_transpose(F32, x, b, r, c, y);
}
static int d_add_bias(float *x, const float *bias, int64_t n, int64_t c, int64_t inner)
{
    return oma_cuda_add_bias(F32, x, bias, n, c, inner);
}

static oma_devops make_ops(void)
{
    oma_devops o = {};
    o.name = "cuda";
    o.alloc = oma_cuda_malloc_managed;
    o.free = d_free;
    o.zero = oma_cuda_zero;
    o.sync = oma_cuda_sync;
    o.last_error = oma_cuda_last_error;
    o.gemm = d_gemm;
    o.conv2d = d_conv2d;
    o.group_norm = d_group_norm;
    o.layer_norm = d_layer_norm;
    o.softmax = d_softmax;
    o.attention = d_attention;
    o.gelu = d_gelu;
    o.quick_gelu = d_qgelu;
    o.silu = d_silu;
    o.geglu = d_geglu;
    o.upsample_nearest2x = d_up2;
    o.concat_channels = d_concat;
    o.add = d_add;
    o.mul = d_mul;
    o.axpby = d_axpby;
    o.transpose = d_transpose;
    o.add_bias = d_add_bias;
    return o;
}

static oma_devops g_ops;

extern "C" const oma_devops *oma_cuda_devops(char *err, size_t errlen)
{
    if (oma_cuda_init(0) != 0) {
        snprintf(err, errlen, "%s", oma_cuda_last_error());
        return NULL;
    }
    int managed = 0;
    if (cudaDeviceGetAttribute(&managed, cudaDevAttrManagedMemory, 0) != cudaSuccess || !managed) {
        (void)cudaGetLastError();
        snprintf(err, errlen, "cuda: %s: the device does not support managed memory, which this "
                 "backend needs", oma_cuda_device_name());
        return NULL;
    }
    g_ops = make_ops();
    return &g_ops;
}
