/* cuda_api.h — the C face of the CUDA backend's kernels (the .cu files beside it).
 *
 * Built only when CMake finds the CUDA toolkit (OMA_HAVE_CUDA). Every pointer here is DEVICE
 * memory; every launch goes on the one stream of oma_cuda_stream() and returns at once (no
 * synchronisation inside). Element type: OMA_CUDA_F32 or OMA_CUDA_F16 (storage); the arithmetic
 * (sums, norms' statistics, softmax, GEMM accumulation) is fp32 in both. Functions returning int
 * give 0, or -1 with the reason in oma_cuda_last_error().
 * STATUS: compiled with nvcc here; none of it has run on a GPU yet (see docs/cuda.md).
 */
#ifndef OMA_TENSOR_CUDA_API_H
#define OMA_TENSOR_CUDA_API_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { OMA_CUDA_F32 = 0, OMA_CUDA_F16 = 1, OMA_CUDA_BF16 = 2 } oma_cuda_dtype;

/* ---- runtime (cuda_runtime.cu) ---- */
/* Number of visible devices; -1 with oma_cuda_last_error() set when the runtime cannot talk to a
 * driver (no driver, driver older than the toolkit, ...). Never aborts. */
int oma_cuda_device_count(void);
/* Makes device `ordinal` current, creates the stream and the cuBLASLt handle. 0 or -1. */
int oma_cuda_init(int ordinal);
void oma_cuda_shutdown(void);
/* Free / total bytes on the current device; -1 on error. */
int oma_cuda_mem_info(size_t *free_bytes, size_t *total_bytes);
/* Device name ("NVIDIA H100 80GB HBM3"), or "" before init. */
const char *oma_cuda_device_name(void);
const char *oma_cuda_last_error(void);
void *oma_cuda_stream(void);                       /* the cudaStream_t, as void * for C */
/* Device allocation (cudaMalloc) and copies on the stream; copies are followed by a stream sync
 * only in the _sync variants. */
void *oma_cuda_malloc(size_t bytes);
void oma_cuda_free(void *p);
int oma_cuda_upload(void *dst, const void *src, size_t bytes);
int oma_cuda_download(void *dst, const void *src, size_t bytes);   /* waits for the stream */
int oma_cuda_sync(void);
/* Converts n floats to the given dtype on the device (dst may not alias src). */
int oma_cuda_convert_from_f32(const float *src, void *dst, oma_cuda_dtype t, int64_t n);
int oma_cuda_convert_to_f32(const void *src, oma_cuda_dtype t, float *dst, int64_t n);

/* ---- GEMM (cuda_gemm.cu): row-major C[M,N] = alpha op(A) op(B) + beta C, fp32 accumulate ---- */
int oma_cuda_gemm(oma_cuda_dtype t, int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                  float alpha, const void *a, int64_t lda, const void *b, int64_t ldb, float beta,
                  void *c, int64_t ldc);

/* ---- convolution (cuda_conv.cu): implicit GEMM, NCHW, weights [OC,C,KH,KW] ---- */
int oma_cuda_conv2d(oma_cuda_dtype t, const void *x, int64_t n, int64_t c, int64_t h, int64_t w,
                    const void *weight, const void *bias, int64_t oc, int64_t kh, int64_t kw,
                    int stride, int pad, void *y, int64_t oh, int64_t ow);

/* ---- norms and softmax (cuda_norm.cu) ---- */
int oma_cuda_group_norm(oma_cuda_dtype t, const void *x, int64_t n, int64_t c, int64_t hw,
                        int64_t groups, const float *gamma, const float *beta, float eps, int silu,
                        void *y);
int oma_cuda_layer_norm(oma_cuda_dtype t, const void *x, int64_t rows, int64_t dim,
                        const float *gamma, const float *beta, float eps, void *y);
int oma_cuda_softmax(oma_cuda_dtype t, void *x, int64_t rows, int64_t dim);

/* ---- element-wise (cuda_elementwise.cu) ---- */
int oma_cuda_silu(oma_cuda_dtype t, const void *x, void *y, int64_t n);
int oma_cuda_gelu(oma_cuda_dtype t, const void *x, void *y, int64_t n);
int oma_cuda_quick_gelu(oma_cuda_dtype t, const void *x, void *y, int64_t n);
int oma_cuda_geglu(oma_cuda_dtype t, const void *x, int64_t rows, int64_t dim, void *y);
int oma_cuda_upsample_nearest2x(oma_cuda_dtype t, const void *x, int64_t nc, int64_t h, int64_t w,
                                void *y);
int oma_cuda_add(oma_cuda_dtype t, const void *a, const void *b, void *y, int64_t n);
int oma_cuda_add_bias(oma_cuda_dtype t, void *x, const float *bias, int64_t n, int64_t c,
                      int64_t inner);

/* ---- layout and small arithmetic (cuda_layout.cu) ---- */
int oma_cuda_concat_channels(oma_cuda_dtype t, const void *a, int64_t ca, const void *b,
                             int64_t cb, int64_t n, int64_t hw, void *y);
int oma_cuda_transpose(oma_cuda_dtype t, const void *x, int64_t batch, int64_t rows, int64_t cols,
                       void *y);
int oma_cuda_mul(oma_cuda_dtype t, const void *a, const void *b, void *y, int64_t n);
int oma_cuda_axpby(oma_cuda_dtype t, float alpha, const void *x, float beta, void *y, int64_t n);

/* ---- managed memory and the backend table (cuda_devops.cu) ---- */
/* Memory the host and the device both reach (cudaMallocManaged); NULL with the reason set. */
void *oma_cuda_malloc_managed(size_t bytes);
/* Zeroes device-reachable memory and waits. */
int oma_cuda_zero(void *p, size_t bytes);
/* Initialises device 0 and returns the kernels and managed memory as the device backend's table
 * (tensor/device_backend.h; fp32), or NULL with one line in err. */
struct oma_devops;
const struct oma_devops *oma_cuda_devops(char *err, size_t errlen);

/* ---- attention (cuda_attention.cu): flash-style, online softmax, nothing n x n is stored.
 * Same layout as oma_attn_args (token-major, strides in elements). head_dim 40, 64, 80, 160
 * (SD 1.x) and any other head_dim up to 160 through the generic paths. ---- */
int oma_cuda_attention(oma_cuda_dtype t, const void *q, const void *k, const void *v, void *out,
                       int64_t batch, int64_t heads, int64_t nq, int64_t nk, int64_t head_dim,
                       int64_t ldq, int64_t ldk, int64_t ldv, int64_t ldo, float scale,
                       int causal);

#ifdef __cplusplus
}
#endif
#endif
