/* onnx.h — reading ONNX model files (DWPose's yolox_l.onnx and dw-ll_ucoco_384.onnx) into a
 * validated graph a runtime can execute.
 *
 * An .onnx file is a protobuf ModelProto. The reader decodes the wire format by hand (no
 * protobuf library) and keeps only what inference needs: the opset, the graph's inputs and
 * outputs (ValueInfoProto: element type and shape, symbolic dims as -1), the initializers
 * (TensorProto: dims, data_type, raw_data or the typed repeated fields, or external data), and
 * the nodes (op_type, domain, inputs, outputs, attributes). Everything in the file is
 * untrusted: every length is checked against the bytes left, dims are bounded, element counts
 * cannot overflow, data sizes must equal numel * element size, external data files are
 * confined to the model's folder (absolute paths and ".." components are refused, symlinks
 * leaving the folder too), and the graph is checked: every value is defined once, every node
 * input is defined (graph input, initializer or a node output), and the nodes are put in
 * topological order — a cycle is an error naming a node on it. Errors are one line:
 * "oma: onnx: <file>: <what>: <why>".
 *
 * Subgraph attributes (If/Loop bodies), sparse tensors and string tensors are refused by name:
 * the pose models do not use them.
 */
#ifndef OMA_FORMATS_ONNX_H
#define OMA_FORMATS_ONNX_H

#include <stddef.h>
#include <stdint.h>

#define OMA_ONNX_MAX_DIMS 8
/* Bounds on what a file may declare (the largest real model here is ~230 MB, ~1500 nodes). */
#define OMA_ONNX_MAX_FILE   ((uint64_t)2 * 1024 * 1024 * 1024)   /* protobuf's own 2 GiB limit */
#define OMA_ONNX_MAX_NODES  200000
#define OMA_ONNX_MAX_IO     64          /* node inputs or outputs */
#define OMA_ONNX_MAX_ATTRS  64          /* attributes per node */
#define OMA_ONNX_MAX_LIST   65536       /* elements of an ints/floats attribute */
#define OMA_ONNX_MAX_DIM    ((int64_t)1 << 31)
#define OMA_ONNX_MAX_NUMEL  ((int64_t)1 << 32)
#define OMA_ONNX_MAX_NAME   4096

/* TensorProto.DataType values the reader accepts (others are refused by number). */
typedef enum {
    OMA_ONNX_FLOAT = 1, OMA_ONNX_UINT8 = 2, OMA_ONNX_INT8 = 3, OMA_ONNX_INT32 = 6,
    OMA_ONNX_INT64 = 7, OMA_ONNX_BOOL = 9, OMA_ONNX_FLOAT16 = 10, OMA_ONNX_DOUBLE = 11
} oma_onnx_dtype;

typedef struct oma_onnx_tensor {
    char *name;
    int dtype;                      /* oma_onnx_dtype */
    int ndim;
    int64_t dims[OMA_ONNX_MAX_DIMS];
    int64_t numel;
    size_t nbytes;                  /* numel * element size */
    void *data;                     /* owned, malloc-aligned, little-endian native values */
} oma_onnx_tensor;

typedef enum {
    OMA_ONNX_ATTR_FLOAT = 1, OMA_ONNX_ATTR_INT = 2, OMA_ONNX_ATTR_STRING = 3,
    OMA_ONNX_ATTR_TENSOR = 4, OMA_ONNX_ATTR_FLOATS = 6, OMA_ONNX_ATTR_INTS = 7,
    OMA_ONNX_ATTR_STRINGS = 8
} oma_onnx_attr_type;

typedef struct oma_onnx_attr {
    char *name;
    int type;                       /* oma_onnx_attr_type */
    float f;
    int64_t i;
    char *s;                        /* STRING (NUL-terminated copy; slen bytes) */
    size_t slen;
    float *floats;                  /* FLOATS */
    int64_t *ints;                  /* INTS */
    size_t n;                       /* elements of floats/ints, or strings counted */
    oma_onnx_tensor *t;             /* TENSOR */
} oma_onnx_attr;

typedef struct oma_onnx_node {
    char *name, *op_type, *domain;
    char **inputs;                  /* "" for an omitted optional input */
    int n_inputs;
    char **outputs;
    int n_outputs;
    oma_onnx_attr *attrs;
    int n_attrs;
} oma_onnx_node;

typedef struct oma_onnx_value {
    char *name;
    int dtype;                      /* 0 when the file does not say */
    int ndim;                       /* -1 when the shape is unknown */
    int64_t dims[OMA_ONNX_MAX_DIMS];/* -1 for a symbolic dim */
} oma_onnx_value;

typedef struct oma_onnx_model {
    int64_t ir_version;
    int64_t opset;                  /* of the default ("" / "ai.onnx") domain */
    char *producer;
    oma_onnx_node *nodes;           /* in topological order after loading */
    size_t n_nodes;
    oma_onnx_tensor *inits;
    size_t n_inits;
    oma_onnx_value *inputs;         /* graph inputs that are not initializers */
    size_t n_inputs;
    oma_onnx_value *outputs;
    size_t n_outputs;
} oma_onnx_model;

/* Loads and validates a model file; external data is read relative to its folder. 0 on
 * success, -1 with err filled (*m is then empty and need not be freed). */
int oma_onnx_load(const char *path, oma_onnx_model *m, char *err, size_t errlen);
/* Same over bytes in memory; dir is the folder external data lives in (NULL: refused). */
int oma_onnx_load_memory(const uint8_t *buf, size_t len, const char *dir, oma_onnx_model *m,
                         char *err, size_t errlen);
void oma_onnx_free(oma_onnx_model *m);

/* Element size of a dtype (0 for one the reader refuses); its name ("float", "int64", ...). */
size_t oma_onnx_dtype_size(int dtype);
const char *oma_onnx_dtype_name(int dtype);

/* Lookups (NULL when absent). */
const oma_onnx_tensor *oma_onnx_find_init(const oma_onnx_model *m, const char *name);
const oma_onnx_attr *oma_onnx_find_attr(const oma_onnx_node *n, const char *name);

#endif
