/* onnx_ops.h — the op kernels of the ONNX runtime (internal; see onnx_rt.h). Each op gets the
 * node (for attributes and messages), its inputs (NULL for an omitted optional one) and
 * fills its outputs, which it allocates. */
#ifndef OMA_MODELS_ONNX_OPS_H
#define OMA_MODELS_ONNX_OPS_H

#include "models/onnx/onnx_rt.h"

typedef struct ort_ctx {
    const oma_onnx_node *n;
    char *err;
    size_t errlen;
} ort_ctx;

typedef int (*ort_op_fn)(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout);

int ort_fail(ort_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The kernel for an op type; NULL when the runtime has none. */
ort_op_fn ort_find_op(const char *op_type);
/* Attribute helpers with defaults. */
int64_t ort_attr_int(const oma_onnx_node *n, const char *name, int64_t dflt);
float ort_attr_float(const oma_onnx_node *n, const char *name, float dflt);
/* ints attribute into dst (at most max); returns the count, -1 when absent. */
int ort_attr_ints(const oma_onnx_node *n, const char *name, int64_t *dst, int max);
/* Requires input i to be present and of dtype (0: any of float/int64). */
int ort_need(ort_ctx *c, oma_ort_value *const *in, int nin, int i, int dtype);
/* Normalises a possibly negative axis for rank r; -1 with an error when out of range. */
int ort_axis(ort_ctx *c, int64_t axis, int r);

/* SiLU fusion (onnx_rt.c): Mul(X, Sigmoid(X)) in one pass; the Sigmoid node then does nothing. */
int ort_op_silu(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout);
int ort_op_skip(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout);

/* onnx_ops_nn.c */
int ort_op_conv(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout);
int ort_op_maxpool(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout);
int ort_op_resize(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout);
int ort_op_matmul(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout);
int ort_op_gemm(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout);
int ort_op_softmax(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout);
int ort_op_reducemean(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout);
int ort_op_reducesum(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout);
int ort_op_global_avgpool(ort_ctx *c, oma_ort_value *const *in, int nin, oma_ort_value *out, int nout);

#endif
