/* graph_ops.h — the small tensor type and the CPU ops the TFJS pose graphs use (fused conv2d
 * and depthwise conv with bias + ReLU/ReLU6/PReLU, add/mul/sub, pad, max/avg pool, bilinear
 * resize, sigmoid, depth-to-space, matmul, reshape, concat, strided slice, ..., and the
 * picking ops MoveNet MultiPose decodes with), one file per op family: graph_ops_conv.c,
 * _math.c, _shape.c, _spatial.c, _select.c; graph_ops.c holds the tensors and the dispatch.
 *
 * Plain C over NHWC float32; the heavy part — the matrix products of convolutions (im2col)
 * and MatMul — runs on the shared tensor backend's GEMM (src/tensor/backend.h), the kernel
 * SD uses, and the convolution loops on its thread pool. Every op checks its inputs' dtypes
 * and shapes and refuses with an error rather than trusting the graph.
 */
#ifndef OMA_MODELS_GRAPH_OPS_H
#define OMA_MODELS_GRAPH_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "formats/tfjs.h"

#define OMA_GT_MAX_RANK 6
#define OMA_GT_MAX_ELEMS ((size_t)1 << 28)

typedef struct oma_gt {
    oma_tfjs_dtype dtype;   /* OMA_TFJS_F32 or OMA_TFJS_I32 */
    int rank;
    int64_t d[OMA_GT_MAX_RANK];
    size_t n;
    float *f;
    int32_t *i;
    int borrowed;           /* data belongs to someone else (a weight, the caller's input) */
} oma_gt;

/* Allocates data for the given shape (zeroed). 0 on success, -1 if too large / out of memory. */
int oma_gt_alloc(oma_gt *t, oma_tfjs_dtype dt, int rank, const int64_t *dims);
void oma_gt_free(oma_gt *t);
/* A fresh copy of x into out (its own data, never borrowed). 0, or -1 when out of memory. */
int oma_gt_copy(const oma_gt *x, oma_gt *out);
/* A borrowed float view (no copy). */
oma_gt oma_gt_view_f32(float *data, int rank, const int64_t *dims);

/* Runs node's op on in[0..n_in-1] into out (fresh). 0 on success, -1 with err. */
int oma_gop_run(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out, char *err,
                size_t errlen);

/* Benches only: 1 = the former kernels (one cblas_sgemm call, serial loops) instead of the
 * shared tensor backend's GEMM and thread pool; set before any run. */
void oma_gop_set_legacy(int on);

/* Non-zero if the op is one we implement. */
int oma_gop_supported(const char *op);

/* Ops with several outputs (Unpack, Split, TopKV2): runs node into outs[0..n_outs-1], the
 * first n_outs of its outputs (the graph reads no later one). 0, or -1 with err and nothing
 * left allocated. oma_gop_multi_ok says whether op can have n_outs outputs read. */
#define OMA_GOP_MAX_OUTS 64
int oma_gop_run_multi(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *outs,
                      int n_outs, char *err, size_t errlen);
int oma_gop_multi_ok(const char *op, int n_outs);

/* graph_ops_select.c: comparisons, Select, Range, Fill, Tile, GatherNd, ArgMax, Max, ...
 * (booleans are int32 0/1). Reached through oma_gop_run / oma_gop_supported. */
int oma_gop_select_supported(const char *op);
int oma_gop_select_run(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out,
                       char *err, size_t errlen);

/* Broadcasting (numpy rules): the shape of a op b, 0 or -1; and the offset in t of the output
 * multi-index idx (rank r). */
int oma_gt_bcast_shape(const oma_gt *a, const oma_gt *b, int *rank, int64_t *d);
size_t oma_gt_bcast_off(const oma_gt *t, int r, const int64_t *idx);

#endif
