/* cpu_internal.h — what the CPU backend's files share (not for use above src/tensor). */
#ifndef OMA_TENSOR_CPU_INTERNAL_H
#define OMA_TENSOR_CPU_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Per-thread scratch buffer number `slot` (0..OMA_CPU_SCRATCH_SLOTS-1) of at least `bytes`,
 * 64-byte aligned, kept between calls (freed by oma_cpu_scratch_release or at thread exit).
 * Slot 0 is im2col's; 1..5 are the oneDNN convolution's (4 also the bf16 matmul's); 6..7 the
 * bf16 matmul's packed operands; 8 the convolution backward's flipped weights (5 also the
 * attention backward's score slabs: no convolution runs inside it); 9 the attention's packed
 * keys and values (the calling thread's), 10 its per-task tiles. NULL when memory cannot be
 * had. */
#define OMA_CPU_SCRATCH_SLOTS 11
void *oma_cpu_scratch(int slot, size_t bytes);

/* Convolution on oneDNN (cpu_dnnl.c), same contract as oma_backend.conv2d. winograd: 0 direct;
 * 1 Winograd on transformed weights kept under the stamp (kept now if the budget allows, see
 * cpu_dnnl.c), else direct; 2 the same, else Winograd transforming the weights in this call;
 * -1 Winograd on kept weights or nothing (-2). Large images are done in bands of rows
 * (cpu_dnnl.c). Direct where oneDNN has no Winograd for the
 * shape. Returns 0, -1 when memory cannot be had, -2 when oneDNN is not built in or cannot do
 * this (the caller then uses im2col + GEMM). bf16 != 0: bf16 input and weights, f32
 * accumulation and output, direct (-2 where oneDNN has no fast bf16 kernel for it). */
int oma_dnnl_conv2d(const float *x, int64_t n, int64_t c, int64_t h, int64_t w,
                    const float *weight, uint64_t stamp, const float *bias, int64_t oc, int64_t kh,
                    int64_t kw, int stride, int pad_h, int pad_w, float *y, int64_t oh, int64_t ow,
                    int winograd, int bf16);
/* conv3x3 (pad 1) of the nearest-2x upsampled x as four 2x2 "phase" convolutions of x on
 * oneDNN in bf16 (cpu_conv_up2x.c); the contract of oma_backend.conv2d_up2x. */
int64_t oma_cpu_conv2d_up2x_work(int64_t n, int64_t c, int64_t h, int64_t w, int64_t oc, uint64_t stamp);
int oma_cpu_conv2d_up2x(const float *x, int64_t n, int64_t c, int64_t h, int64_t w,
                        const float *weight, uint64_t stamp, const float *bias, int64_t oc, float *y,
                        float *work, int64_t work_floats);
/* Float OIHW weights into the bf16 blocked layout `blocked_md` (a dnnl_memory_desc_t) at dst,
 * byte for byte what oneDNN's reorder writes, ~3x its speed (cpu_dnnl_weights.c). 0, or -2 when
 * the layout is not one it handles (the caller reorders with oneDNN). */
int oma_dnnl_weights_bf16(const float *w, const void *blocked_md, void *dst);
/* n floats to bf16 (round to nearest even) with AVX512_BF16's converter, 32 at a time (float
 * denormals become zero, as in oneDNN's reorders), a scalar tail; call only on CPUs with
 * AVX512_BF16 (cpu_dnnl.c). */
void oma_bf16_pack_row(const float *s, uint16_t *d, int64_t n);
/* A bf16 convolution's activations (cpu_dnnl_acts.c): x, f32 NCHW [n][c][h][w] with batch and
 * channel strides sn, sc (rows w apart), into y, bf16 NHWC dense; and back, x f32 NHWC dense
 * into y, f32 NCHW with strides sn, sc. 0, or -2 (channels or width not a multiple of 16, or a
 * CPU without AVX512_BF16): the caller uses oneDNN's reorder. */
int oma_acts_to_nhwc_bf16(const float *x, int64_t n, int64_t c, int64_t h, int64_t w, int64_t sn, int64_t sc,
                          uint16_t *y);
int oma_acts_to_nchw_f32(const float *x, int64_t n, int64_t c, int64_t h, int64_t w, float *y, int64_t sn,
                         int64_t sc);
/* How many of those conversions this process has made. */
int64_t oma_acts_done(void);
/* How many weights that path has converted in this process. */
int64_t oma_dnnl_weights_bf16_done(void);
/* Prepared weights kept between calls (cpu_kept.c), keyed by weight stamp and a key naming the
 * exact prepared form. oma_kept_acquire returns the kept buffer of `bytes` for (stamp, form); when there is none
 * and the budget allows, it makes one, sets *fresh = 1 and returns with the store locked: the
 * caller fills it and calls oma_kept_filled (ok = 0 drops it again). NULL when there is none
 * and none can be made (over budget, stamp 0, out of memory). */
void *oma_kept_acquire(uint64_t stamp, uint64_t form, size_t bytes, int *fresh);
void oma_kept_filled(uint64_t stamp, uint64_t form, int ok);
/* The kept form for (stamp, form) of `bytes` if there is one (never makes one), else NULL. */
void *oma_kept_find(uint64_t stamp, uint64_t form, size_t bytes);
/* Float weights handed over (oma_backend.weights_consumable, a process that frees the model
 * after one use): the memory of the weights under `stamp`, `bytes` long, may hold a prepared
 * form of them instead of new memory (on this VM first-touching new memory costs ~1.2 ms a MB).
 * oma_kept_may_take: whether a form of `bytes` may be written over them (data must be the
 * handed-over pointer: a layer's 16-bit weights widened into a temporary buffer never are).
 * oma_kept_take copies the form (`bytes` at src, made by the caller elsewhere) over them and
 * files it, with a copy of its description (desc_len bytes, e.g. a dnnl_memory_desc_t), all
 * under the store's lock; -1 when it cannot (nothing written). oma_kept_taken: 1 when the float
 * values under this stamp (or the layer's base stamp) are gone — readers of the floats must then
 * refuse (-1), or make another form from the taken one: oma_kept_taken_form gives its
 * description and sets *data to it (NULL when not taken). One caller per layer at a time. */
void oma_kept_offer(uint64_t stamp, const float *data, size_t bytes);
int oma_kept_may_take(uint64_t stamp, const void *data, size_t bytes);
int oma_kept_take(uint64_t stamp, uint64_t form, void *data, size_t bytes, const void *src, const void *desc,
                  size_t desc_len);
int oma_kept_taken(uint64_t stamp);
const void *oma_kept_taken_form(uint64_t stamp, const void **data);
/* How many weight forms cpu_dnnl.c has made from a taken form (another layout) so far. */
int64_t oma_dnnl_from_taken_done(void);
/* Whether new forms are kept now (keeping on, a non-zero budget). */
int oma_kept_keeping(void);
/* Frees everything kept under this stamp (oma_backend.forget_weights). */
void oma_kept_forget(uint64_t stamp);

/* C[M,N] = op(A) op(B) (row-major, alpha 1, beta 0) with A and B rounded to bf16 and f32
 * accumulation, on oneDNN's matmul. Returns 0, -1 when scratch memory cannot be had, -2 when
 * oneDNN is not built in or has no fast bf16 kernel (the caller then uses f32 GEMM). */
int oma_dnnl_matmul_bf16(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a,
                         int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc);
/* The activations on AVX-512 (cpu_activation_avx512.c; call only when the CPU has AVX-512F
 * and DQ): y = gelu(x) (the exact, erf one); y = a * gelu(gate) (GEGLU's second half);
 * y = x / (1 + e^(-a x)) (SiLU with a = 1, quick-GELU with a = 1.702). n elements each. */
void oma_gelu_avx512(const float *x, float *y, int64_t n);
void oma_geglu_avx512(const float *a, const float *gate, float *y, int64_t n);
void oma_sigmoid_mul_avx512(const float *x, float *y, int64_t n, float a);
/* Their backward: dx = dy * gelu'(x); GEGLU da = dy * gelu(gate), dg = dy * a * gelu'(gate);
 * dx = dy * (x sigmoid(a x))'. n elements each. */
void oma_gelu_backward_avx512(const float *x, const float *dy, float *dx, int64_t n);
void oma_geglu_backward_avx512(const float *a, const float *gate, const float *dy, float *da,
                               float *dg, int64_t n);
void oma_sigmoid_mul_backward_avx512(const float *x, const float *dy, float *dx, int64_t n, float a);

/* The same in f32 on oneDNN's matmul, operands read in place (strict f32 math). */
int oma_dnnl_matmul_f32(int ta, int tb, int64_t m, int64_t n, int64_t k, const float *a,
                        int64_t lda, const float *b, int64_t ldb, float *c, int64_t ldc);
/* The backward kernels (cpu_backward*.c, cpu_attention_backward.c): the contracts of the
 * same-named oma_backend members. */
struct oma_attn_bwd_args;
int oma_cpu_conv2d_backward_data(const float *dy, int64_t n, int64_t oc, int64_t oh, int64_t ow,
                                 const float *weight, uint64_t stamp, int64_t c, int64_t kh,
                                 int64_t kw, int stride, int pad, float *dx, int64_t h, int64_t w);
/* What the backward keeps of a layer's weights is filed under the weight stamp with this bit
 * set (stamps count up from 1 and never reach it); the upsampling convolution's summed kernels
 * under OMA_STAMP_UP2X, each phase's under OMA_STAMP_UP2X | phase << 56. oma_kept_forget drops
 * every stamp whose low bits (OMA_STAMP_BASE) are the layer's. */
#define OMA_STAMP_BACKWARD ((uint64_t)1 << 63)
#define OMA_STAMP_UP2X ((uint64_t)1 << 62)
#define OMA_STAMP_BASE (((uint64_t)1 << 56) - 1)
void oma_cpu_group_norm_backward(const float *x, int64_t n, int64_t c, int64_t hw, int64_t groups,
                                 const float *gamma, const float *beta, float eps, int silu,
                                 const float *dy, float *dx);
/* One group of the group-norm backward on AVX-512 (cpu_backward_norm_avx512.c): x, dy, dx of
 * the group's cpg channels of hw values, its channels starting at ch0. */
void oma_gn_backward_group_avx512(const float *xg, const float *dyg, float *dxg, int64_t cpg,
                                  int64_t hw, const float *gamma, const float *beta,
                                  int64_t ch0, float eps, int silu);
void oma_cpu_layer_norm_backward(const float *x, int64_t rows, int64_t dim, const float *gamma,
                                 float eps, const float *dy, float *dx);
int oma_cpu_attention_backward(const struct oma_attn_bwd_args *a);
void oma_cpu_gelu_backward(const float *x, const float *dy, float *dx, int64_t n);
void oma_cpu_quick_gelu_backward(const float *x, const float *dy, float *dx, int64_t n);
void oma_cpu_silu_backward(const float *x, const float *dy, float *dx, int64_t n);
void oma_cpu_geglu_backward(const float *x, const float *dy, int64_t rows, int64_t dim, float *dx);
void oma_cpu_upsample_nearest2x_backward(const float *dy, int64_t nc, int64_t h, int64_t w,
                                         float *dx);
void oma_cpu_split_channels(const float *dy, int64_t n, int64_t ca, int64_t cb, int64_t hw,
                            float *da, float *db);
void oma_cpu_embedding_backward(const int32_t *ids, int64_t count, const float *dy, int64_t dim,
                                float *dtable);

/* 1 when oneDNN is built in and its CPU engine works. */
int oma_dnnl_available(void);
/* Drops the cached oneDNN primitives. */
void oma_dnnl_release(void);

#endif
