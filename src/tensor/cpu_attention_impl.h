/* cpu_attention_impl.h — what cpu_attention.c (dispatch, packing, portable kernels) shares with
 * cpu_attention_avx512.c (the AVX-512 fp32 and AVX512_BF16 kernels): the per-call context and
 * the packed layouts. See cpu_attention.c for the algorithm.
 */
#ifndef OMA_CPU_ATTENTION_IMPL_H
#define OMA_CPU_ATTENTION_IMPL_H

#include <stdint.h>

#include "tensor/backend.h"

#define ATTN_VL 16          /* floats per vector */
#define ATTN_KPAD 192       /* packed keys are zero-padded to a multiple of this (of every BK used) */

typedef struct {
    const oma_attn_args *a;
    int64_t dp;             /* head_dim padded to a multiple of ATTN_VL (portable kernels' rows) */
    int64_t d2;             /* head_dim pairs, (head_dim + 1) / 2 (bf16 kernel) */
    int64_t qblocks;        /* query blocks of the kernel in use */
    int64_t nkp;            /* keys padded to a multiple of ATTN_KPAD */
    /* fp32 packing, per (batch, head): K^T [dp][nkp] and V [nkp][dp], zero-padded */
    float *kt;
    float *vp;
    /* bf16 packing, per (batch, head): K^T as bf16 pairs of dims, [d2][nkp] (low half = even
     * dim), and V as bf16 pairs of keys, [nkp / 2][head_dim] (low half = even key); zero-padded */
    uint32_t *kt2;
    uint32_t *vp2;
    int failed;
} attn_ctx;

/* fp32 -> bf16 bits, round to nearest even (NaN stays NaN). */
static inline uint16_t oma_attn_bf16(float x)
{
    union { float f; uint32_t u; } c = {x};
    if ((c.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((c.u >> 16) | 0x40u);
    return (uint16_t)((c.u + 0x7fffu + ((c.u >> 16) & 1u)) >> 16);
}

#if defined(__x86_64__) && defined(__GNUC__)
/* query rows per task of the AVX-512 kernels, and their scratch (floats) */
#define ATTN_X86_BQ 32
int64_t oma_attn_avx512_scratch(int64_t head_dim);
void oma_attn_task_avx512(const attn_ctx *t, int64_t task, float *scratch);
void oma_attn_task_bf16(const attn_ctx *t, int64_t task, float *scratch);
#endif

#endif
