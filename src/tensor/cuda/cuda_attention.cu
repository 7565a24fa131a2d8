/* cuda_attention.cu — fused attention of our own, flash style: keys/values stream through shared
 * memory in tiles of 32 and every query keeps a running max, running sum and fp32 accumulator
 * (online softmax), so nothing nq x nk is ever stored. One warp owns a query: lane j scores key j
 * of the tile, the warp reduces max/sum by shuffles, and each lane accumulates the output
 * channels lane, lane+32, ... . Specialised for SD 1.x head dims 40/64/80/160 (template D);
 * other head dims up to 160 take the smallest instance D >= head_dim (32 or 160), channels past
 * head_dim held at zero.
 * STATUS: correctness-first, untuned (no tensor cores yet); compiled here; unverified on a GPU. */
#include "tensor/cuda/cuda_internal.cuh"

#define BK 32          /* keys per tile = warp size */
#define QW 2           /* queries per warp */
#define WARPS 4

template <typename T, int D>
__global__ void __launch_bounds__(WARPS * 32)
k_flash(const T *q, const T *k, const T *v, T *o, int64_t heads, int64_t nq, int64_t nk, int hd,
        int64_t ldq, int64_t ldk, int64_t ldv, int64_t ldo, float scale, int causal)
{
    constexpr int DC = (D + 31) / 32;             /* output channels per lane */
    __shared__ float ks[BK][D + 1], vs[BK][D];
    __shared__ float qs[WARPS * QW][D];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int64_t bh = blockIdx.y, b = bh / heads, h = bh - b * heads;
    int64_t q0 = (int64_t)blockIdx.x * WARPS * QW;
    const T *qb = q + b * nq * ldq + h * hd;
    const T *kb = k + b * nk * ldk + h * hd;
    const T *vb = v + b * nk * ldv + h * hd;
    T *ob = o + b * nq * ldo + h * hd;

    for (int i = threadIdx.x; i < WARPS * QW * D; i += blockDim.x) {
        int r = i / D, d = i - r * D;
        int64_t qi = q0 + r;
        qs[r][d] = (qi < nq && d < hd) ? oma_ld(qb + qi * ldq + d) * scale : 0.0f;
    }
    float m[QW], l[QW], acc[QW][DC];
    for (int s = 0; s < QW; s++) {
        m[s] = -INFINITY;
        l[s] = 0.0f;
        for (int c = 0; c < DC; c++) acc[s][c] = 0.0f;
    }
    int64_t kend = nk;
    if (causal) kend = min(nk, q0 + WARPS * QW);   /* no query of the block sees past this */
    for (int64_t k0 = 0; k0 < kend; k0 += BK) {
        __syncthreads();
        for (int i = threadIdx.x; i < BK * D; i += blockDim.x) {
            int r = i / D, d = i - r * D;
            int64_t kj = k0 + r;
            bool ok = kj < nk && d < hd;
            ks[r][d] = ok ? oma_ld(kb + kj * ldk + d) : 0.0f;
            vs[r][d] = ok ? oma_ld(vb + kj * ldv + d) : 0.0f;
        }
        __syncthreads();
        for (int s = 0; s < QW; s++) {
            int r = warp * QW + s;
            int64_t qi = q0 + r, kj = k0 + lane;
            float sc = 0.0f;
            for (int d = 0; d < D; d++) sc += qs[r][d] * ks[lane][d];
            bool valid = kj < nk && (!causal || kj <= qi);
            if (!valid) sc = -INFINITY;
            float mx = sc;
            for (int off = 16; off > 0; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, off));
            float mn = fmaxf(m[s], mx);
            if (mn == -INFINITY) continue;             /* nothing visible yet for this query */
            float p = valid ? __expf(sc - mn) : 0.0f;
            float corr = __expf(m[s] - mn);
            float ps = p;
            for (int off = 16; off > 0; off >>= 1) ps += __shfl_xor_sync(0xffffffffu, ps, off);
            l[s] = l[s] * corr + ps;
            m[s] = mn;
            for (int c = 0; c < DC; c++) acc[s][c] *= corr;
            for (int j = 0; j < BK; j++) {
                float pj = __shfl_sync(0xffffffffu, p, j);
                for (int c = 0; c < DC; c++) {
                    int d = lane + 32 * c;
                    if (d < D) acc[s][c] += pj * vs[j][d];
                }
            }
        }
    }
    for (int s = 0; s < QW; s++) {
        int64_t qi = q0 + warp * QW + s;
        if (qi >= nq) continue;
        float inv = l[s] > 0.0f ? 1.0f / l[s] : 0.0f;
        for (int c = 0; c < DC; c++) {
            int d = lane + 32 * c;
            if (d < hd) oma_st(ob + qi * ldo + d, acc[s][c] * inv);
        }
    }
}

template <int D>
static void launch(oma_cuda_dtype t, const void *q, const void *k, const void *v, void *out,
                   int64_t batch, int64_t heads, int64_t nq, int64_t nk, int hd, int64_t ldq,
                   int64_t ldk, int64_t ldv, int64_t ldo, float scale, int causal)
{
    dim3 grid((unsigned)((nq + WARPS * QW - 1) / (WARPS * QW)), (unsigned)(batch * heads));
    OMA_CUDA_DISPATCH(t, T, k_flash<T, D><<<grid, WARPS * 32, 0, oma_cuda_stream_t()>>>(
                                (const T *)q, (const T *)k, (const T *)v, (T *)out, heads, nq, nk,
                                hd, ldq, ldk, ldv, ldo, scale, causal));
}

extern "C" int oma_cuda_attention(oma_cuda_dtype t, const void *q, const void *k, const void *v,
                                  void *out, int64_t batch, int64_t heads, int64_t nq, int64_t nk,
                                  int64_t head_dim, int64_t ldq, int64_t ldk, int64_t ldv,
                                  int64_t ldo, float scale, int causal)
{
    if (head_dim <= 0 || head_dim > 160 || nq <= 0 || nk <= 0 || batch * heads > 65535 ||
        (nq + 7) / 8 > 0x7fffffff)
        return oma_cuda_fail("cuda: attention", "unsupported shape (head_dim must be 1..160)");
    int hd = (int)head_dim;
    switch (hd) {
    case 40: launch<40>(t, q, k, v, out, batch, heads, nq, nk, hd, ldq, ldk, ldv, ldo, scale, causal); break;
    case 64: launch<64>(t, q, k, v, out, batch, heads, nq, nk, hd, ldq, ldk, ldv, ldo, scale, causal); break;
    case 80: launch<80>(t, q, k, v, out, batch, heads, nq, nk, hd, ldq, ldk, ldv, ldo, scale, causal); break;
    default:
        if (hd <= 32) launch<32>(t, q, k, v, out, batch, heads, nq, nk, hd, ldq, ldk, ldv, ldo, scale, causal);
        else launch<160>(t, q, k, v, out, batch, heads, nq, nk, hd, ldq, ldk, ldv, ldo, scale, causal); break;
    }
    return OMA_CUDA_LAUNCHED("cuda: attention");
}
