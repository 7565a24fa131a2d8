/* graph_ops_impl.h — private to the graph_ops*.c files: what the op families share (the error
 * helper, the input-count check, fused activations, convolution geometry) and each family's
 * entry point. The idea: one file per op family, each with its own list of op names and its
 * own dispatch; graph_ops.c asks them in turn (see graph_ops.h for the public calls). */
#ifndef OMA_MODELS_GRAPH_OPS_IMPL_H
#define OMA_MODELS_GRAPH_OPS_IMPL_H

#include "models/pose/graph_ops.h"

/* "graph: NODE (OP): why" into err; returns -1. */
int oma_gop_fail(char *err, size_t errlen, const oma_tfjs_node *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define NEED_IN(k)                                                                                 \
    do {                                                                                           \
        if (n_in < (k)) return oma_gop_fail(err, errlen, node, "needs %d inputs, has %d", (k), n_in); \
    } while (0)

static inline int is_f4(const oma_gt *t) { return t->dtype == OMA_TFJS_F32 && t->rank == 4; }

typedef enum { ACT_NONE, ACT_RELU, ACT_RELU6, ACT_PRELU, ACT_LEAKY, ACT_SIGMOID, ACT_ELU } oma_gop_act;

/* In place on x[0..n-1] (c channels, innermost; alpha per channel for PReLU). */
void oma_gop_apply_act(float *x, size_t n, int c, oma_gop_act a, const float *alpha, float leaky);

/* Output size and leading pad of one spatial axis (padding attribute SAME/VALID/EXPLICIT);
 * strides and dilations of an NHWC node. 0, or -1 when bad. */
int oma_gop_conv_geom(const oma_tfjs_node *node, int64_t in, int64_t k, int64_t s, int64_t dil,
                      int axis, int64_t *out, int64_t *pad);
int oma_gop_strides_dil(const oma_tfjs_node *node, int64_t *sh, int64_t *sw, int64_t *dh, int64_t *dw);

/* oma_gt_alloc without zeroing, for an op that writes every element of its output. */
int oma_gop_alloc_raw(oma_gt *t, oma_tfjs_dtype dt, int rank, const int64_t *dims);

/* A fresh copy of x with shape d (same element count). 0, or -1. */
int oma_gop_copy_shaped(const oma_gt *x, oma_gt *out, int rank, const int64_t *d);

/* The families. Each _run returns OMA_GOP_NOT_MINE for an op it does not implement, else 0 or
 * -1 with err; each _supported says whether op is one of its own. */
#define OMA_GOP_NOT_MINE (-2)
int oma_gop_conv_supported(const char *op);      /* graph_ops_conv.c: convolutions, MatMul */
int oma_gop_conv_run(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out, char *err,
                     size_t errlen);
int oma_gop_math_supported(const char *op);      /* graph_ops_math.c: element-wise, reductions, Cast */
int oma_gop_math_run(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out, char *err,
                     size_t errlen);
int oma_gop_shape_supported(const char *op);     /* graph_ops_shape.c: reshape, slice, concat */
int oma_gop_shape_run(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out, char *err,
                      size_t errlen);
int oma_gop_spatial_supported(const char *op);   /* graph_ops_spatial.c: pad, pool, resize */
int oma_gop_spatial_run(const oma_tfjs_node *node, oma_gt *const *in, int n_in, oma_gt *out, char *err,
                        size_t errlen);

/* A NULL-terminated name list lookup. */
int oma_gop_in_list(const char *const *names, const char *op);

#endif
