/* onnx_rt.h — a small ONNX runtime for the pose models (DWPose's YOLOX detector and RTMPose):
 * runs a graph loaded and validated by formats/onnx.h, node by node in its topological order,
 * on float32 and int64 values. Convolutions and matrix products go through the shared tensor
 * backend (the same conv/GEMM kernels as SD); the rest are plain loops here. Every op checks
 * its input shapes and attributes and fails with "oma: onnx: node 'x' (Op): why" rather than
 * trusting the file. Intermediate values are freed after their last use.
 *
 * Ops: Conv (groups, asymmetric pads), MaxPool, GlobalAveragePool, Resize (nearest), MatMul,
 * Gemm, Add, Sub, Mul, Div, Pow, Sqrt, Exp, Sigmoid, HardSigmoid, Relu, Clip, Softmax,
 * ReduceMean, ReduceSum, Concat, Split, Slice, Gather,
 * Reshape, Transpose, Flatten, Shape, Unsqueeze, Squeeze, Cast, Constant, Identity. */
#ifndef OMA_MODELS_ONNX_RT_H
#define OMA_MODELS_ONNX_RT_H

#include <stddef.h>
#include <stdint.h>

#include "formats/onnx.h"

/* A runtime value: OMA_ONNX_FLOAT or OMA_ONNX_INT64 data, row-major. */
typedef struct oma_ort_value {
    int dtype;
    int ndim;
    int64_t dims[OMA_ONNX_MAX_DIMS];
    int64_t numel;
    void *data;
    int owned;                      /* data is malloc'd by this value */
} oma_ort_value;

/* Allocates a value of dtype and shape (zeroed); -1 on bad shape or no memory. */
int oma_ort_value_alloc(oma_ort_value *v, int dtype, int ndim, const int64_t *dims);
void oma_ort_value_free(oma_ort_value *v);

typedef struct oma_ort_session oma_ort_session;

/* Prepares a session over a loaded model (which must outlive it). */
int oma_ort_create(const oma_onnx_model *m, oma_ort_session **out, char *err, size_t errlen);
void oma_ort_destroy(oma_ort_session *s);
/* How many SiLU (Sigmoid + Mul) pairs create fused into one kernel (tests and benches). */
size_t oma_ort_n_fused(const oma_ort_session *s);
/* Runs the graph: inputs in the model's graph-input order (shapes checked against the declared
 * ones where fixed); outputs[] (m->n_outputs of them) are filled, owned by the caller
 * (oma_ort_value_free each). */
int oma_ort_run(oma_ort_session *s, const oma_ort_value *inputs, size_t n_inputs,
                oma_ort_value *outputs, char *err, size_t errlen);

#endif
