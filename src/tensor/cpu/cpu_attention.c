/* cpu_attention.c — fused scaled-dot-product attention for the CPU backend: dispatch, packing,
 * and the portable kernels.
 *
 * The idea (FlashAttention's, on a CPU): never build the full [nq, nk] score matrix. Each task
 * takes one (batch, head, block of 32 queries), walks the keys in blocks (K transposed and V
 * packed once per head, zero-padded, shared by all query blocks), and keeps for every query row
 * a running max m, a running sum l and an unnormalised output O (the online softmax): for a new
 * block with scores S, m' = max(m, max S), O = O * e^(m - m') + e^(S - m') V,
 * l = l * e^(m - m') + sum e^(S - m'). Everything a block touches (a 32 x D query tile, a key
 * tile, a value tile, the block's scores) stays in L1/L2, so the 4096-token attentions of SD's
 * 64x64 latents run at arithmetic speed instead of streaming a 64 MB score matrix through memory.
 *
 * Kernels, picked at run time: on AVX-512 CPUs the hand-written ones in cpu_attention_avx512.c
 * (queries along the vector lanes; fp32, or bf16 products with AVX512_BF16 when the precision
 * mode is bf16). Elsewhere (and with OMA_ATTN_KERNEL=avx2|generic) the kernel in
 * cpu_attention_body.h, with query rows along the registers and head dims along the lanes, padded
 * to multiples of 16 floats so its loops are whole 16-wide vectors (GCC vector extensions,
 * compiled for AVX2 and a portable baseline); its exp is the Cephes expf polynomial (about 2
 * ulp), vectorised with the rest.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/backend.h"
#include "tensor/cpu/cpu_attention_impl.h"
#include "tensor/cpu/cpu_internal.h"
#include "tensor/tensor.h"
#include "tensor/threadpool.h"

#pragma GCC diagnostic ignored "-Wpsabi"

#define BQ 32       /* query rows per task */
#define BK 64       /* keys per block */
#define RB 8        /* query rows per register block */
#define VL ATTN_VL   /* floats per vector */

typedef float v16 __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));

#define LD(p) __extension__({ v16 v_; memcpy(&v_, (p), sizeof v_); v_; })
#define ST(p, v) do { v16 s_ = (v); memcpy((p), &s_, sizeof s_); } while (0)
#define SPLAT(x) splat((float)(x))
/* per lane: mask ? a : b (mask lanes are all ones or all zeros) */
#define SEL(mask, a, b) ((v16)(((v16i)(a) & (mask)) | ((v16i)(b) & ~(mask))))

#if defined(__x86_64__) && defined(__GNUC__)
#define OMA_X86 1
#else
#define OMA_X86 0
#endif

static inline __attribute__((always_inline)) v16 splat(float x)
{
    return (v16){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x};
}

/* e^x for a vector, Cephes expf polynomial; x <= -87 gives exactly 0 (masked scores). */
static inline __attribute__((always_inline)) void vexp(v16 *px)
{
    v16 x = *px;
    v16 zero_mask_src = x;
    v16 hi = SPLAT(88.0f), lo = SPLAT(-87.0f);
    x = SEL(x > hi, hi, x);
    x = SEL(x < lo, lo, x);
    v16 fx = x * SPLAT(1.44269504088896341f) + SPLAT(0.5f);
    v16i ix = __builtin_convertvector(fx, v16i);
    v16 fi = __builtin_convertvector(ix, v16);
    fi = SEL(fi > fx, fi - SPLAT(1.0f), fi);        /* floor */
    ix = __builtin_convertvector(fi, v16i);
    x = x - fi * SPLAT(0.693359375f) - fi * SPLAT(-2.12194440e-4f);
    v16 z = x * x;
    v16 y = SPLAT(1.9875691500e-4f);
    y = y * x + SPLAT(1.3981999507e-3f);
    y = y * x + SPLAT(8.3334519073e-3f);
    y = y * x + SPLAT(4.1665795894e-2f);
    y = y * x + SPLAT(1.6666665459e-1f);
    y = y * x + SPLAT(5.0000001201e-1f);
    y = y * z + x + SPLAT(1.0f);
    v16i pow2 = (ix + 127) << 23;
    v16 r = y * (v16)pow2;
    v16i keep = zero_mask_src > lo;                  /* -1 where x > -87 */
    *px = (v16)((v16i)r & keep);
}

static inline __attribute__((always_inline)) float hmax(const v16 *v)
{
    float m = (*v)[0];
    for (int i = 1; i < VL; i++) m = (*v)[i] > m ? (*v)[i] : m;
    return m;
}

static inline __attribute__((always_inline)) float hsum(const v16 *v)
{
    float s = 0.0f;
    for (int i = 0; i < VL; i++) s += (*v)[i];
    return s;
}

#if OMA_X86
/* AVX2 build of the portable loops (no FMA contraction in ISO C mode). */
#define ATTN_FN attn_task_avx2
#define ATTN_ATTR __attribute__((target("avx2")))
#include "tensor/cpu/cpu_attention_body.h"
#endif

/* Portable baseline. */
#define ATTN_FN attn_task_generic
#define ATTN_ATTR
#include "tensor/cpu/cpu_attention_body.h"

typedef void (*attn_fn)(const attn_ctx *, int64_t, float *);

enum { KERNEL_GENERIC, KERNEL_AVX2, KERNEL_AVX512, KERNEL_BF16 };

/* The best kernel this CPU runs: the bf16 one in bf16 mode on a CPU with AVX512_BF16, else the
 * fp32 AVX-512 one; OMA_ATTN_KERNEL=generic|avx2 forces a lesser fp32 one (tests). */
static int pick_kernel(void)
{
    const char *force = getenv("OMA_ATTN_KERNEL");
    if (force && strcmp(force, "generic") == 0) return KERNEL_GENERIC;
#if OMA_X86
    __builtin_cpu_init();
    if (force && strcmp(force, "avx2") == 0 && __builtin_cpu_supports("avx2")) return KERNEL_AVX2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) {
        if (strcmp(oma_precision_name(), "bf16") == 0 && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16"))
            return KERNEL_BF16;
        return KERNEL_AVX512;
    }
    if (__builtin_cpu_supports("avx2")) return KERNEL_AVX2;
#endif
    return KERNEL_GENERIC;
}

typedef struct {
    attn_ctx c;
    attn_fn fn;
    int64_t scratch;        /* floats per thread */
} attn_run;

static void attn_range(void *p, int64_t t0, int64_t t1)
{
    attn_run *r = p;
    /* per-thread scratch kept between calls: a fresh buffer per call was a page fault per
     * call on each thread */
    float *scratch = oma_cpu_scratch(10, (size_t)r->scratch * sizeof(float));
    if (!scratch) {
        __atomic_store_n(&r->c.failed, 1, __ATOMIC_RELAXED);
        return;
    }
    for (int64_t i = t0; i < t1; i++) r->fn(&r->c, i, scratch);
}

/* Packs K^T and V of each (batch, head) once, for every query block to share. */
static void pack_range(void *p, int64_t b0, int64_t b1)
{
    attn_ctx *t = p;
    const oma_attn_args *a = t->a;
    const int64_t D = a->head_dim, dp = t->dp, ld = t->nkp;
    for (int64_t bh = b0; bh < b1; bh++) {
        int64_t h = bh % a->heads, b = bh / a->heads;
        float *kt = t->kt + bh * dp * ld, *vp = t->vp + bh * ld * dp;
        memset(kt, 0, sizeof(float) * (size_t)(dp * ld));
        memset(vp, 0, sizeof(float) * (size_t)(ld * dp));
        for (int64_t j = 0; j < a->nk; j++) {
            const float *ks = a->k + (b * a->nk + j) * a->ldk + h * D;
            const float *vs = a->v + (b * a->nk + j) * a->ldv + h * D;
            for (int64_t d = 0; d < D; d++) kt[d * ld + j] = ks[d];
            memcpy(vp + j * dp, vs, sizeof(float) * (size_t)D);
        }
    }
}

#if OMA_X86
/* The same for the AVX-512 kernel (see cpu_attention_impl.h): K^T per key block, V unpadded. */
static void pack_range_x86(void *p, int64_t b0, int64_t b1)
{
    attn_ctx *t = p;
    const oma_attn_args *a = t->a;
    const int64_t D = a->head_dim, ld = t->nkp;
    for (int64_t bh = b0; bh < b1; bh++) {
        int64_t h = bh % a->heads, b = bh / a->heads;
        float *kt = t->kt + bh * D * ld, *vp = t->vp + bh * ld * D;
        memset(kt, 0, sizeof(float) * (size_t)(D * ld));
        memset(vp, 0, sizeof(float) * (size_t)(ld * D));
        for (int64_t j = 0; j < a->nk; j++) {
            const float *ks = a->k + (b * a->nk + j) * a->ldk + h * D;
            const float *vs = a->v + (b * a->nk + j) * a->ldv + h * D;
            float *kb = kt + (j / ATTN_X86_BK) * D * ATTN_X86_BK + j % ATTN_X86_BK;
            for (int64_t d = 0; d < D; d++) kb[d * ATTN_X86_BK] = ks[d];
            memcpy(vp + j * D, vs, sizeof(float) * (size_t)D);
        }
    }
}

#endif

int oma_cpu_attention(const oma_attn_args *a)
{
    if (a->batch <= 0 || a->heads <= 0 || a->nq <= 0 || a->nk <= 0 || a->head_dim <= 0) return 0;
    attn_run r;
    memset(&r, 0, sizeof r);
    attn_ctx *t = &r.c;
    const int64_t D = a->head_dim;
    t->a = a;
    t->dp = (D + VL - 1) / VL * VL;
    t->d2 = (D + 1) / 2;
    t->nkp = (a->nk + ATTN_KPAD - 1) / ATTN_KPAD * ATTN_KPAD;
    int kernel = pick_kernel();
    int64_t bq = BQ;
    r.scratch = 2 * BQ * t->dp + BQ * BK;
    switch (kernel) {
    case KERNEL_GENERIC: r.fn = attn_task_generic; break;
#if OMA_X86
    case KERNEL_AVX2: r.fn = attn_task_avx2; break;
    case KERNEL_AVX512: r.fn = oma_attn_task_avx512; break;
    case KERNEL_BF16: r.fn = oma_attn_task_bf16; break;
#endif
    default: return -1;
    }
#if OMA_X86
    if (kernel == KERNEL_AVX512 || kernel == KERNEL_BF16) {
        bq = ATTN_X86_BQ;
        r.scratch = oma_attn_avx512_scratch(D);
    }
#endif
    t->qblocks = (a->nq + bq - 1) / bq;
    size_t bh = (size_t)(a->batch * a->heads);
#if OMA_X86
    if (kernel == KERNEL_BF16) {
        size_t per = (size_t)(t->d2 * t->nkp + t->nkp / 2 * D);
        t->kt2 = oma_cpu_scratch(9, per * bh * sizeof(uint32_t));
        if (!t->kt2) return -1;
        t->vp2 = t->kt2 + (size_t)(t->d2 * t->nkp) * bh;
        oma_parallel_for(a->batch * a->heads, 1, oma_attn_pack_bf16, t);
    } else
#endif
    {
        size_t per = (size_t)(t->dp * t->nkp);
        t->kt = oma_cpu_scratch(9, 2 * per * bh * sizeof(float));
        if (!t->kt) return -1;
        t->vp = t->kt + per * bh;
        void (*pack)(void *, int64_t, int64_t) = pack_range;
#if OMA_X86
        if (kernel == KERNEL_AVX512) pack = pack_range_x86;
#endif
        oma_parallel_for(a->batch * a->heads, 1, pack, t);
    }
    oma_parallel_for(a->batch * a->heads * t->qblocks, 1, attn_range, &r);
    return __atomic_load_n(&t->failed, __ATOMIC_RELAXED) ? -1 : 0;
}
