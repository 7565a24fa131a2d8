/* tfjs.h — the TensorFlow.js graph-model format: model.json (a GraphDef topology as JSON plus
 * a weights manifest) and its binary weight shards.
 *
 * The idea: read everything that comes from disk defensively, once, into plain arrays — nodes
 * (name, op, input names, raw attribute JSON) and decoded weights (float32 or int32, with
 * float16 and uint8/uint16 affine-quantised weights expanded to float32) — so an executor
 * above never touches the file format. Sizes, ranks, dtypes, shard lengths and name
 * uniqueness are all checked; a truncated or corrupted shard is a clear error.
 */
#ifndef OMA_FORMATS_TFJS_H
#define OMA_FORMATS_TFJS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define OMA_TFJS_MAX_RANK 6

typedef enum { OMA_TFJS_F32 = 1, OMA_TFJS_I32 = 2 } oma_tfjs_dtype;

typedef struct oma_tfjs_node {
    const char *name;        /* points into the JSON (kept alive by the model) */
    const char *op;
    int n_inputs;            /* data inputs only ("^ctrl" inputs are dropped) */
    const char **inputs;     /* "node" or "node:k" */
    const json_t *attr;      /* the node's "attr" object, or NULL */
} oma_tfjs_node;

typedef struct oma_tfjs_weight {
    const char *name;
    oma_tfjs_dtype dtype;
    int rank;
    int64_t shape[OMA_TFJS_MAX_RANK];
    size_t n;                /* element count */
    float *f;                /* dtype F32 */
    int32_t *i;              /* dtype I32 */
} oma_tfjs_weight;

typedef struct oma_tfjs_model {
    json_t *root;
    int n_nodes;
    oma_tfjs_node *nodes;
    int n_weights;
    oma_tfjs_weight *weights;
} oma_tfjs_model;

/* Loads model.json at path and the shards it names from the same folder. 0 on success, -1 with
 * err ("tfjs: blazepose.bin: 1024 bytes, manifest needs 2048"). */
int oma_tfjs_load(const char *path, oma_tfjs_model *m, char *err, size_t errlen);
void oma_tfjs_free(oma_tfjs_model *m);

/* Lookups (linear; models have a few hundred nodes). NULL when absent. */
const oma_tfjs_node *oma_tfjs_node_find(const oma_tfjs_model *m, const char *name);
const oma_tfjs_weight *oma_tfjs_weight_find(const oma_tfjs_model *m, const char *name);

/* Attribute helpers: return 0 and fill out when the attribute exists with the right kind. */
int oma_tfjs_attr_int(const oma_tfjs_node *n, const char *key, int64_t *out);
int oma_tfjs_attr_float(const oma_tfjs_node *n, const char *key, double *out);
int oma_tfjs_attr_bool(const oma_tfjs_node *n, const char *key, int *out);
/* String attributes are base64 in the JSON; decoded into buf (NUL-terminated). */
int oma_tfjs_attr_str(const oma_tfjs_node *n, const char *key, char *buf, size_t buflen);
/* list.i (up to max values); *count receives how many. */
int oma_tfjs_attr_ints(const oma_tfjs_node *n, const char *key, int64_t *out, int max, int *count);
/* list.s entry k, base64-decoded. */
int oma_tfjs_attr_strs_at(const oma_tfjs_node *n, const char *key, int k, char *buf, size_t buflen);

/* IEEE half -> float (exposed for tests). */
float oma_tfjs_half_to_float(uint16_t h);

#endif
