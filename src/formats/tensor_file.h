/* tensor_file.h — the named float tensors of a small weights file, whatever its container.
 *
 * LoRAs and textual-inversion embeddings come as .safetensors or as torch.save archives (.pt,
 * .bin: a zip holding a pickle, read by the safe reader in formats/torch_pickle.h). Both are
 * turned into one flat list of float32 tensors with their names (nested pickle dicts joined
 * with '.', e.g. "string_to_param.*"), so the code that interprets LoRA keys sees one shape of
 * data. The container is chosen by content (a zip starts with "PK"), not by extension.
 * Everything is bounded: the file size (max_bytes), the tensor count, and every value must be
 * finite — a NaN or Inf is refused with the tensor's name.
 */
#ifndef OMA_FORMATS_TENSOR_FILE_H
#define OMA_FORMATS_TENSOR_FILE_H

#include <stddef.h>
#include <stdint.h>

#define OMA_TF_MAX_DIMS 8
#define OMA_TF_MAX_TENSORS 100000

typedef struct oma_tf_tensor {
    char *name;
    int ndim;                           /* 0 = scalar */
    int64_t shape[OMA_TF_MAX_DIMS];
    int64_t numel;
    float *data;                        /* numel floats (owned) */
} oma_tf_tensor;

typedef struct oma_tensor_file oma_tensor_file;

/* Loads every float tensor of path (.safetensors, or a torch zip archive). Integer tensors of
 * a safetensors file are skipped. 0, or -1 with err "PATH: why". */
int oma_tensor_file_load(const char *path, size_t max_bytes, oma_tensor_file **out, char *err,
                         size_t errlen);
void oma_tensor_file_free(oma_tensor_file *f);
size_t oma_tensor_file_count(const oma_tensor_file *f);
const oma_tf_tensor *oma_tensor_file_at(const oma_tensor_file *f, size_t i);
const oma_tf_tensor *oma_tensor_file_find(const oma_tensor_file *f, const char *name);
/* A safetensors "__metadata__" string (NULL when absent or for torch archives). */
const char *oma_tensor_file_meta(const oma_tensor_file *f, const char *key);
const char *oma_tensor_file_path(const oma_tensor_file *f);

/* For the readers: appends a tensor (takes ownership of data, copies name). 0 or -1 (memory,
 * too many tensors, non-finite values; err names the tensor). */
int oma_tensor_file_add(oma_tensor_file *f, const char *name, int ndim, const int64_t *shape,
                        float *data, char *err, size_t errlen);

#endif
