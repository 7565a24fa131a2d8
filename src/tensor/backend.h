/* backend.h — the table of compute kernels the layers above call.
 *
 * Models and layers never call a kernel directly: they go through the current backend, a
 * struct of function pointers over raw float buffers (host memory for the CPU backend, device
 * memory for a future CUDA backend). Adding a backend means filling one such table; nothing
 * above src/tensor changes. Shapes are validated by the tensor-level wrappers in ops.h; the
 * kernels trust their arguments.
 */
#ifndef OMA_TENSOR_BACKEND_H
#define OMA_TENSOR_BACKEND_H

#include <stddef.h>
#include <stdint.h>

/* Scaled dot-product attention over token-major buffers: token t of batch b starts at
 * base + (b * n + t) * ld, and head h uses the head_dim floats at offset h * head_dim.
 * out = softmax(scale * q k^T [+ causal mask]) v, per batch and head. */
typedef struct oma_attn_args {
    const float *q, *k, *v;
    float *out;
    int64_t batch, heads, nq, nk, head_dim;
    int64_t ldq, ldk, ldv, ldo;     /* floats between consecutive tokens */
    float scale;
    int causal;                     /* query i sees keys j <= i only (CLIP text) */
} oma_attn_args;

/* Attention backward over the same layouts (flash-style: nothing n x n is kept, the scores
 * are recomputed per tile). o is the forward's output, dout its gradient (both with ldo);
 * dq/dk/dv are written whole (not accumulated) with the strides ldq/ldk/ldv of q/k/v. */
typedef struct oma_attn_bwd_args {
    const float *q, *k, *v, *o, *dout;
    float *dq, *dk, *dv;
    int64_t batch, heads, nq, nk, head_dim;
    int64_t ldq, ldk, ldv, ldo;
    float scale;
    int causal;
} oma_attn_bwd_args;

typedef struct oma_backend {
    const char *name;
    /* Row-major C[M,N] = alpha * op(A)[M,K] op(B)[K,N] + beta * C. */
    void (*gemm)(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                 float *c, int64_t ldc);
    /* y[N,OC,OH,OW] = conv(x[N,C,H,W], w[OC,C,KH,KW]) + bias[OC] (bias may be NULL).
     * weight_stamp: the weights' oma_tensor.stamp (0 when they are not long-lived weights); the
     * backend may keep a prepared form of the weights under it until forget_weights.
     * Returns 0, or -1 when scratch memory cannot be had. */
    int (*conv2d)(const float *x, int64_t n, int64_t c, int64_t h, int64_t w,
                  const float *weight, uint64_t weight_stamp, const float *bias, int64_t oc,
                  int64_t kh, int64_t kw, int stride, int pad, float *y, int64_t oh, int64_t ow);
    /* Optional (both NULL: not offered): y[N,OC,2H,2W] = conv3x3, pad 1, of
     * upsample_nearest2x(x) + bias, without the upsampled image (w [OC,C,3,3]). conv2d_up2x_work
     * says how many floats of the caller's workspace it wants for the problem, 0 when it
     * declines it (the caller then runs the two ops, and reserves nothing). Not the same bits
     * as the two ops: conv2d_up2x returns 0, -2 when it declines after all (the caller runs the
     * two ops), or -1 when memory cannot be had. */
    int64_t (*conv2d_up2x_work)(int64_t n, int64_t c, int64_t h, int64_t w, int64_t oc,
                                uint64_t weight_stamp);
    int (*conv2d_up2x)(const float *x, int64_t n, int64_t c, int64_t h, int64_t w,
                       const float *weight, uint64_t weight_stamp, const float *bias, int64_t oc,
                       float *y, float *work, int64_t work_floats);
    /* Drops whatever the backend keeps under this weight stamp (the layer changed or freed the
     * weights). */
    void (*forget_weights)(uint64_t weight_stamp);
    /* Optional (NULL: ignored): the caller will never read these float weights again (a
     * process that frees the model after one use) and they are the layer's own memory of
     * `bytes`; the backend may write a prepared form of them over it, keyed by the stamp like a
     * kept one (no new memory to fault in). From then on conv2d with this stamp either uses that
     * form or fails (-1); it never reads the floats. */
    void (*weights_consumable)(uint64_t weight_stamp, const float *data, size_t bytes);
    /* Group norm over x[N,C,HW] with per-channel affine; silu != 0 applies SiLU after it. */
    void (*group_norm)(const float *x, int64_t n, int64_t c, int64_t hw, int64_t groups,
                       const float *gamma, const float *beta, float eps, int silu, float *y);
    /* Layer norm over the last dim of x[rows, dim]. */
    void (*layer_norm)(const float *x, int64_t rows, int64_t dim, const float *gamma,
                       const float *beta, float eps, float *y);
    /* In-place softmax over the last dim of x[rows, dim]. */
    void (*softmax)(float *x, int64_t rows, int64_t dim);
    /* Fused attention; returns 0, or -1 when scratch memory cannot be had. */
    int (*attention)(const oma_attn_args *a);
    void (*gelu)(const float *x, float *y, int64_t n);          /* exact (erf) GELU */
    void (*quick_gelu)(const float *x, float *y, int64_t n);    /* x * sigmoid(1.702 x) */
    void (*silu)(const float *x, float *y, int64_t n);
    /* y[rows, dim] = x[:, :dim] * gelu(x[:, dim:]) for x[rows, 2*dim] (GEGLU). */
    void (*geglu)(const float *x, int64_t rows, int64_t dim, float *y);
    /* x[NC,H,W] -> y[NC,2H,2W], nearest. */
    void (*upsample_nearest2x)(const float *x, int64_t nc, int64_t h, int64_t w, float *y);
    /* y[N, ca+cb, HW] = cat(a[N,ca,HW], b[N,cb,HW]) along channels. */
    void (*concat_channels)(const float *a, int64_t ca, const float *b, int64_t cb,
                            int64_t n, int64_t hw, float *y);
    void (*add)(const float *a, const float *b, float *y, int64_t n);     /* y = a + b */
    void (*mul)(const float *a, const float *b, float *y, int64_t n);     /* y = a * b */
    void (*axpby)(float alpha, const float *x, float beta, float *y, int64_t n); /* y = a x + b y */
    /* y[b, j, i] = x[b, i, j] for x[batch, rows, cols] (NCHW <-> token-major). */
    void (*transpose)(const float *x, int64_t batch, int64_t rows, int64_t cols, float *y);
    /* x[N, C, inner] += bias[C] (inner = HW for images, 1 with C = dim for rows). */
    void (*add_bias)(float *x, const float *bias, int64_t n, int64_t c, int64_t inner);

    /* ---- backward (training): input gradients only; weights are frozen ---- */
    /* dx[N,C,H,W] = the gradient of conv2d's input for dy[N,OC,OH,OW] (written whole).
     * weight_stamp as for conv2d: the backend may keep a prepared form of the weights for the
     * backward too (forget_weights drops it with the rest). Returns 0, or -1 when scratch
     * memory cannot be had. */
    int (*conv2d_backward_data)(const float *dy, int64_t n, int64_t oc, int64_t oh, int64_t ow,
                                const float *weight, uint64_t weight_stamp, int64_t c,
                                int64_t kh, int64_t kw, int stride, int pad, float *dx,
                                int64_t h, int64_t w);
    /* dx for group norm (+ fused SiLU) of x[N,C,HW]; statistics recomputed from x. */
    void (*group_norm_backward)(const float *x, int64_t n, int64_t c, int64_t hw, int64_t groups,
                                const float *gamma, const float *beta, float eps, int silu,
                                const float *dy, float *dx);
    /* dx for layer norm over the last dim of x[rows, dim]. */
    void (*layer_norm_backward)(const float *x, int64_t rows, int64_t dim, const float *gamma,
                                float eps, const float *dy, float *dx);
    /* Returns 0, or -1 when scratch memory cannot be had. */
    int (*attention_backward)(const oma_attn_bwd_args *a);
    /* dx = dy * f'(x) for GELU (erf), quick-GELU, SiLU; n elements. dx may alias dy. */
    void (*gelu_backward)(const float *x, const float *dy, float *dx, int64_t n);
    void (*quick_gelu_backward)(const float *x, const float *dy, float *dx, int64_t n);
    void (*silu_backward)(const float *x, const float *dy, float *dx, int64_t n);
    /* GEGLU: dx[rows, 2*dim] from x[rows, 2*dim] and dy[rows, dim]. */
    void (*geglu_backward)(const float *x, const float *dy, int64_t rows, int64_t dim, float *dx);
    /* dx[NC,H,W] = the sum of each 2x2 block of dy[NC,2H,2W]. */
    void (*upsample_nearest2x_backward)(const float *dy, int64_t nc, int64_t h, int64_t w,
                                        float *dx);
    /* da[N,ca,HW], db[N,cb,HW] from dy[N,ca+cb,HW] (either may be NULL: not wanted). */
    void (*split_channels)(const float *dy, int64_t n, int64_t ca, int64_t cb, int64_t hw,
                           float *da, float *db);
    /* dtable[id[i], :] += dy[i, :] for i < count (ids already checked < rows of dtable). */
    void (*embedding_backward)(const int32_t *ids, int64_t count, const float *dy, int64_t dim,
                               float *dtable);
} oma_backend;

/* Frees the calling thread's cached convolution scratch (it is otherwise kept for reuse and
 * freed when the thread exits). */
void oma_cpu_scratch_release(void);
/* The same on every thread of the pool, the caller included (a long-lived server calls it after
 * a job, so idle workers do not hold a large model's buffers). */
void oma_cpu_scratch_release_all(void);
/* Bytes of scratch the calling thread holds now (what oma_cpu_scratch_release would free). */
size_t oma_cpu_scratch_bytes(void);

/* Bytes of prepared weights the CPU backend keeps now (Winograd-transformed convolution
 * weights; budget OMA_WEIGHT_CACHE_MB, see cpu_kept.c). */
size_t oma_cpu_kept_bytes(void);
/* Bytes of float weights handed over that now hold their prepared form (ops.h,
 * oma_op_weights_consumable), over the process's life; not counted in oma_cpu_kept_bytes. */
size_t oma_cpu_handed_over_bytes(void);
/* Whether new prepared weights may be kept (1, the default) or not (0: what is kept stays in
 * use; new layers take kernels that need none). For processes that draw once and end, where the
 * first use's cost is never paid back (cpu_kept.c). -1 when an explicit OMA_WEIGHT_CACHE_MB
 * decides instead (off is then refused), else 0. */
int oma_cpu_keep_weights(int on);
/* The CPU backend's convolution: "auto" (oneDNN, Winograd for large 3x3 layers; the default
 * when built in), "direct" (oneDNN's direct kernels only) or "im2col" (im2col + OpenBLAS GEMM).
 * _set returns -1 for an unknown or unavailable name. */
int oma_cpu_conv_set(const char *name);
const char *oma_cpu_conv_name(void);

/* The CPU backend's compute precision: "fp32" (the default: results match the reference) or
 * "bf16" (opt-in, faster on CPUs with AVX512_BF16: 3x3 convolutions and the large matrix
 * products round their inputs and weights to bfloat16 and accumulate in f32; activations stay
 * f32 between ops; attention, norms and activations stay f32). OMA_PRECISION=bf16 picks it at
 * first use. _set returns -1 for an unknown name, or bf16 without oneDNN. */
int oma_precision_set(const char *name);
const char *oma_precision_name(void);
/* The calling thread's own precision, over the process-wide one until called with NULL: a
 * server's generation job runs in bf16 while another worker trains in fp32. Ops read the
 * precision on the thread that calls them (work they hand to the thread pool follows that
 * decision); work a thread hands to oma_parallel_tasks runs at the process-wide one. -1 for an
 * unknown name or bf16 without oneDNN (nothing changes then). */
int oma_precision_set_thread(const char *name);
/* 1 when bf16 compute runs natively here: oneDNN in the build and a CPU with AVX512_BF16 (where
 * `oma generate` makes bf16 its default, README "Speed on the CPU"); 0 otherwise. */
int oma_precision_bf16_native(void);
/* 1 when bf16 compute can be asked for at all (oneDNN in the build; emulated and slow on a CPU
 * without AVX512_BF16), else 0. */
int oma_precision_bf16_available(void);

/* The CPU backend (OpenBLAS GEMM + our own kernels). */
const oma_backend *oma_backend_cpu(void);
/* The backend in use (the CPU one unless another was set). */
const oma_backend *oma_backend_current(void);
void oma_backend_set(const oma_backend *b);

#endif
