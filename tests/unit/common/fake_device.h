/* fake_device.h — a stand-in accelerator for tests of the device backend's host logic
 * (tensor/device_backend.h) on a machine without a GPU: its "device memory" is host memory it
 * hands out and counts, its kernels are the CPU backend's (so results must equal the CPU
 * path's bit for bit), each kernel call is counted, and a kernel can be made to fail once.
 * What it proves: which ops the table sends to the device, that every operand was device
 * memory, the allocator's bookkeeping. What it cannot prove: anything about real CUDA kernels
 * (tensor.test_cuda_kernels and bench/cuda/run_on_device.sh do that on a GPU). */
#ifndef OMA_TESTS_FAKE_DEVICE_H
#define OMA_TESTS_FAKE_DEVICE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/device_backend.h"

static struct {
    long allocs, frees, zeros, kernels, syncs;
    long fail_next;          /* 1: the next kernel returns -1 */
    char err[64];
} fake;

static void *fk_alloc(size_t bytes)
{
    fake.allocs++;
    return aligned_alloc(256, (bytes + 255) & ~(size_t)255);
}
static void fk_free(void *p) { fake.frees++; free(p); }
static int fk_zero(void *p, size_t bytes) { fake.zeros++; memset(p, 0, bytes); return 0; }
static int fk_sync(void) { fake.syncs++; return 0; }
static const char *fk_error(void) { return fake.err; }
static int fk_kernel(const char *name)
{
    fake.kernels++;
    if (fake.fail_next) {
        fake.fail_next = 0;
        snprintf(fake.err, sizeof fake.err, "fake: %s: injected failure", name);
        return -1;
    }
    return 0;
}
#define FK_CPU oma_backend_cpu()

static int fk_gemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float al, const float *a,
                   int64_t lda, const float *b, int64_t ldb, float be, float *c, int64_t ldc)
{
    if (fk_kernel("gemm")) return -1;
    FK_CPU->gemm(ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc);
    return 0;
}
static int fk_conv2d(const float *x, int64_t n, int64_t c, int64_t h, int64_t w, const float *wt,
                     uint64_t stamp, const float *bias, int64_t oc, int64_t kh, int64_t kw, int stride, int pad,
                     float *y, int64_t oh, int64_t ow)
{
    if (fk_kernel("conv2d")) return -1;
    return FK_CPU->conv2d(x, n, c, h, w, wt, stamp, bias, oc, kh, kw, stride, pad, y, oh, ow);
}
static int fk_group_norm(const float *x, int64_t n, int64_t c, int64_t hw, int64_t g,
                         const float *ga, const float *be, float eps, int silu, float *y)
{
    if (fk_kernel("group_norm")) return -1;
    FK_CPU->group_norm(x, n, c, hw, g, ga, be, eps, silu, y);
    return 0;
}
static int fk_layer_norm(const float *x, int64_t rows, int64_t dim, const float *ga,
                         const float *be, float eps, float *y)
{
    if (fk_kernel("layer_norm")) return -1;
    FK_CPU->layer_norm(x, rows, dim, ga, be, eps, y);
    return 0;
}
static int fk_softmax(float *x, int64_t rows, int64_t dim)
{
    if (fk_kernel("softmax")) return -1;
    FK_CPU->softmax(x, rows, dim);
    return 0;
}
static int fk_attention(const oma_attn_args *a)
{
    if (fk_kernel("attention")) return -1;
    return FK_CPU->attention(a);
}
#define FK_UNARY(fn)                                        \
    static int fk_##fn(const float *x, float *y, int64_t n) \
    {                                                       \
        if (fk_kernel(#fn)) return -1;                      \
        FK_CPU->fn(x, y, n);                                \
        return 0;                                           \
    }
FK_UNARY(gelu)
FK_UNARY(quick_gelu)
FK_UNARY(silu)
static int fk_geglu(const float *x, int64_t rows, int64_t dim, float *y)
{
    if (fk_kernel("geglu")) return -1;
    FK_CPU->geglu(x, rows, dim, y);
    return 0;
}
static int fk_up2(const float *x, int64_t nc, int64_t h, int64_t w, float *y)
{
    if (fk_kernel("upsample")) return -1;
    FK_CPU->upsample_nearest2x(x, nc, h, w, y);
    return 0;
}
static int fk_concat(const float *a, int64_t ca, const float *b, int64_t cb, int64_t n,
                     int64_t hw, float *y)
{
    if (fk_kernel("concat")) return -1;
    FK_CPU->concat_channels(a, ca, b, cb, n, hw, y);
    return 0;
}
static int fk_add(const float *a, const float *b, float *y, int64_t n)
{
    if (fk_kernel("add")) return -1;
    FK_CPU->add(a, b, y, n);
    return 0;
}
static int fk_mul(const float *a, const float *b, float *y, int64_t n)
{
    if (fk_kernel("mul")) return -1;
    FK_CPU->mul(a, b, y, n);
    return 0;
}
static int fk_axpby(float al, const float *x, float be, float *y, int64_t n)
{
    if (fk_kernel("axpby")) return -1;
    FK_CPU->axpby(al, x, be, y, n);
    return 0;
}
static int fk_transpose(const float *x, int64_t b, int64_t r, int64_t c, float *y)
{
    if (fk_kernel("transpose")) return -1;
    FK_CPU->transpose(x, b, r, c, y);
    return 0;
}
static int fk_add_bias(float *x, const float *bias, int64_t n, int64_t c, int64_t inner)
{
    if (fk_kernel("add_bias")) return -1;
    FK_CPU->add_bias(x, bias, n, c, inner);
    return 0;
}

static const oma_devops fake_devops = {
    .name = "fake",
    .alloc = fk_alloc, .free = fk_free, .zero = fk_zero, .sync = fk_sync,
    .last_error = fk_error,
    .gemm = fk_gemm, .conv2d = fk_conv2d, .group_norm = fk_group_norm,
    .layer_norm = fk_layer_norm, .softmax = fk_softmax, .attention = fk_attention,
    .gelu = fk_gelu, .quick_gelu = fk_quick_gelu, .silu = fk_silu, .geglu = fk_geglu,
    .upsample_nearest2x = fk_up2, .concat_channels = fk_concat, .add = fk_add, .mul = fk_mul,
    .axpby = fk_axpby, .transpose = fk_transpose, .add_bias = fk_add_bias,
};

#endif
