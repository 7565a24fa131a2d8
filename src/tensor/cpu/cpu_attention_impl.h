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
    /* fp32 packing, per (batch, head), zero-padded. Portable kernels: K^T [dp][nkp] and V
     * [nkp][dp]. AVX-512 kernel: K^T per block of ATTN_X86_BK keys, [nkp / BK][head_dim][BK],
     * and V [nkp][head_dim], so a key block is two contiguous tiles. */
    float *kt;
    float *vp;
    /* bf16 packing, per (batch, head), zero-padded: K^T as bf16 pairs of dims (low half = even
     * dim) per block of ATTN_X86_BK keys, [nkp / BK][d2][BK], and V as bf16 pairs of keys (low
     * half = even key), [nkp / 2][head_dim] */
    uint32_t *kt2;
    uint32_t *vp2;
    int failed;
} attn_ctx;

#if defined(__x86_64__) && defined(__GNUC__)
/* query rows per task of the AVX-512 kernels, and their scratch (floats) */
#define ATTN_X86_BQ 32
/* keys per block of the AVX-512 kernels (divides ATTN_KPAD, even) */
#define ATTN_X86_BK 96
int64_t oma_attn_avx512_scratch(int64_t head_dim);
void oma_attn_task_avx512(const attn_ctx *t, int64_t task, float *scratch);
void oma_attn_task_bf16(const attn_ctx *t, int64_t task, float *scratch);
/* oma_parallel_for body over (batch, head): the bf16 packing of K and V (ctx: an attn_ctx) */
void oma_attn_pack_bf16(void *ctx, int64_t bh0, int64_t bh1);
#endif

#endif
