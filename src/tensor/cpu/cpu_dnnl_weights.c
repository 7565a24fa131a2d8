/* cpu_dnnl_weights.c — float OIHW convolution weights into oneDNN's bf16 blocked layout, at
 * memory speed.
 *
 * The bf16 direct convolutions want their weights in a blocked layout like AcdB32a2b: blocks of
 * OB output channels times pairs of input channels, the pair innermost (what AVX512_BF16's dot
 * products read), the outer blocks in whatever order the primitive's strides say. oneDNN's own
 * reorder made that layout at ~5.5 GB/s on the development VM (14 ms for SD 1.5's 1280x1280x3x3
 * weights, 0.48 s of each UNet pass whose weights are not kept). This one walks the source one
 * block of OB output channels at a time (OB whole rows of the OIHW array, read once, in order)
 * and writes each (input pair, tap) line of 2*OB bf16 values whole: for every line it gathers
 * the OB x 2 floats from the block's rows (they stay in L1 across the kh*kw taps) and converts
 * them with the same instruction oneDNN's reorder uses on this CPU (round to nearest even,
 * denormals to zero), so the bytes are the same as oneDNN's (tests/unit/nn/test_conv_kept.c
 * compares whole convolutions both ways). Padding (output channels up to a multiple of OB, an
 * odd input-channel count) is written as zeros, as oneDNN pads.
 *
 * Only that one family of layouts is handled (4-D, blocked, inner blocks {OB of dim 0, 2 of
 * dim 1}); anything else returns -2 and the caller uses oneDNN's reorder.
 * OMA_BF16_REORDER=onednn turns this path off (for the tests' comparison).
 */
#include "tensor/cpu/cpu_internal.h"

#ifdef OMA_HAVE_DNNL

#include <immintrin.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/threadpool.h"

#define MAX_OB 64
#define CHUNK_FLOATS 288                   /* input channels x taps copied per row at a time */
#define TMP_STRIDE (CHUNK_FLOATS + 16)     /* 19 cache lines */

static int64_t done;    /* weights converted here (the tests check this path ran) */

typedef struct {
    const float *w;
    uint16_t *dst;
    int64_t O, I, KH, KW, PI, OB;
    int64_t s0, s1, s2, s3;     /* outer strides of the blocked layout, in elements */
} wb_ctx;

/* 3x3 weights, one input pair: each of the OB rows' 18 floats (9 taps of channel 2ip, then 9 of
 * 2ip+1) become 9 bf16 pairs with two permutes and one conversion, kept as a row of wt; then each
 * tap's line is a column of wt, gathered 16 rows at a time. */
__attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
static void pair_lines_3x3(const float *src, int64_t OB, uint16_t *base, int64_t s2, int64_t s3)
{
    uint32_t wt[MAX_OB * 16] __attribute__((aligned(64)));
    const __m512i first = _mm512_set_epi32(16, 7, 15, 6, 14, 5, 13, 4, 12, 3, 11, 2, 10, 1, 9, 0);
    const __m512i last = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 17, 8);
    for (int64_t oo = 0; oo < OB; oo++) {
        const float *f = src + oo * TMP_STRIDE;
        __m512 v0 = _mm512_loadu_ps(f), v1 = _mm512_maskz_loadu_ps(0x3, f + 16);
        __m512 a = _mm512_permutex2var_ps(v0, first, v1);
        __m512 b = _mm512_maskz_permutex2var_ps(0x3, v0, last, v1);
        _mm512_store_si512((void *)(wt + oo * 16), (__m512i)_mm512_cvtne2ps_pbh(b, a));
    }
    const __m512i rows = _mm512_set_epi32(240, 224, 208, 192, 176, 160, 144, 128, 112, 96, 80, 64, 48, 32, 16, 0);
    for (int t = 0; t < 9; t++) {
        uint16_t *line = base + (t / 3) * s2 + (t % 3) * s3;
        for (int64_t oo = 0; oo < OB; oo += 16) {
            __m512i idx = _mm512_add_epi32(rows, _mm512_set1_epi32((int)(oo * 16 + t)));
            _mm512_storeu_si512((void *)(line + 2 * oo), _mm512_i32gather_epi32(idx, (const void *)wt, 4));
        }
    }
}

/* The block's rows are first copied, a chunk of input channels at a time, into a small buffer
 * with a stride of an odd number of cache lines: read in place, the OB rows of SD's 1280-channel
 * weights lie 46080 bytes apart, which maps them onto 4 of L1's 64 sets, and the gathers missed
 * all the time (as slow as oneDNN's reorder). */

static void block_range(void *p, int64_t b0, int64_t b1)
{
    const wb_ctx *t = p;
    const int64_t taps = t->KH * t->KW, OB = t->OB;
    int64_t chunk = (CHUNK_FLOATS / taps) & ~(int64_t)1;   /* input channels, even */
    if (chunk < 2) chunk = 2;                               /* taps > 144: see the caller */
    float line[2 * MAX_OB];     /* 2*OB floats, a multiple of 32: whole vectors */
    static _Thread_local float tmp[MAX_OB * TMP_STRIDE];
    for (int64_t ob = b0; ob < b1; ob++) {
        int64_t o0 = ob * OB, on = t->O - o0 < OB ? t->O - o0 : OB;   /* real channels here */
        for (int64_t c0 = 0; c0 < t->PI; c0 += chunk) {
            int64_t cn = t->PI - c0 < chunk ? t->PI - c0 : chunk;     /* even */
            int64_t real = t->I - c0 < cn ? (t->I - c0 > 0 ? t->I - c0 : 0) : cn;
            for (int64_t oo = 0; oo < OB; oo++) {
                float *row = tmp + oo * TMP_STRIDE;
                int64_t have = oo < on ? real * taps : 0;
                if (have) memcpy(row, t->w + ((o0 + oo) * t->I + c0) * taps, sizeof(float) * (size_t)have);
                /* the same rows' next chunk: 32 short streams defeat the hardware prefetcher */
                if (oo < on && c0 + chunk < t->I) {
                    const char *next = (const char *)(t->w + ((o0 + oo) * t->I + c0 + chunk) * taps);
                    for (int64_t b = 0; b < (int64_t)sizeof(float) * chunk * taps; b += 64) __builtin_prefetch(next + b);
                }
                if (have < cn * taps) memset(row + have, 0, sizeof(float) * (size_t)(cn * taps - have));
            }
            if (taps == 9 && t->KW == 3) {
                for (int64_t ip = 0; ip < cn / 2; ip++)
                    pair_lines_3x3(tmp + 2 * ip * 9, OB, t->dst + ob * t->s0 + (c0 / 2 + ip) * t->s1, t->s2, t->s3);
                continue;
            }
            for (int64_t ip = 0; ip < cn / 2; ip++)
                for (int64_t kh = 0; kh < t->KH; kh++)
                    for (int64_t kw = 0; kw < t->KW; kw++) {
                        const float *src = tmp + 2 * ip * taps + kh * t->KW + kw;
                        for (int64_t oo = 0; oo < OB; oo++) {
                            line[2 * oo] = src[oo * TMP_STRIDE];
                            line[2 * oo + 1] = src[oo * TMP_STRIDE + taps];
                        }
                        oma_bf16_pack_row(line, t->dst + ob * t->s0 + (c0 / 2 + ip) * t->s1 + kh * t->s2 + kw * t->s3,
                                     2 * OB);
                    }
        }
    }
}

int oma_dnnl_weights_bf16(const float *w, const void *blocked_md, void *dst)
{
    const dnnl_memory_desc_t *md = blocked_md;
    const char *e = getenv("OMA_BF16_REORDER");   /* read per call: the tests switch it */
    if ((e && strcmp(e, "onednn") == 0) || !__builtin_cpu_supports("avx512bw") || !__builtin_cpu_supports("avx512vl") ||
        !__builtin_cpu_supports("avx512bf16"))
        return -2;
    if (md->ndims != 4 || md->data_type != dnnl_bf16 || md->format_kind != dnnl_blocked ||
        md->offset0 != 0 || md->extra.flags != 0)
        return -2;
    const dnnl_blocking_desc_t *b = &md->format_desc.blocking;
    if (b->inner_nblks != 2 || b->inner_idxs[0] != 0 || b->inner_idxs[1] != 1 || b->inner_blks[1] != 2)
        return -2;
    int64_t OB = b->inner_blks[0];
    if (OB < 16 || OB > MAX_OB || OB % 16 != 0) return -2;
    if (md->dims[2] * md->dims[3] > CHUNK_FLOATS / 2) return -2;   /* a pair of channels per chunk */
    wb_ctx t = {w, dst, md->dims[0], md->dims[1], md->dims[2], md->dims[3], md->padded_dims[1], OB,
                b->strides[0], b->strides[1], b->strides[2], b->strides[3]};
    int64_t PO = md->padded_dims[0];
    if (t.O < 1 || t.I < 1 || t.KH < 1 || t.KW < 1 || PO % OB != 0 || PO < t.O || t.PI % 2 != 0 ||
        t.PI < t.I || md->padded_dims[2] != t.KH || md->padded_dims[3] != t.KW)
        return -2;
    /* the inner block of OB x 2 is contiguous, every outer stride a multiple of it, and the
     * lines written cover the whole buffer (no gaps left unwritten) */
    if (t.s0 % (2 * OB) || t.s1 % (2 * OB) || t.s2 % (2 * OB) || t.s3 % (2 * OB)) return -2;
    if (dnnl_memory_desc_get_size(md) != (size_t)(PO * t.PI * t.KH * t.KW) * sizeof(uint16_t)) return -2;
    oma_parallel_for(PO / OB, 1, block_range, &t);
    __atomic_add_fetch(&done, 1, __ATOMIC_RELAXED);
    return 0;
}

int64_t oma_dnnl_weights_bf16_done(void) { return __atomic_load_n(&done, __ATOMIC_RELAXED); }

#else

int oma_dnnl_weights_bf16(const float *w, const void *blocked_md, void *dst)
{
    (void)w, (void)blocked_md, (void)dst;
    return -2;
}

int64_t oma_dnnl_weights_bf16_done(void) { return 0; }

#endif
