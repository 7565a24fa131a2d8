/* safetensors.h — reading and writing .safetensors files (the format checkpoints and LoRAs ship in).
 *
 * A file is: 8 bytes little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {..}},
 * then the raw tensor bytes (offsets are relative to the end of the header). Everything in the
 * file is untrusted: the reader maps the file read-only (mmap), bounds the header length, parses
 * the JSON with jansson and validates every entry before anyone sees it — dtype is one of
 * F32/F16/BF16 (others are refused by name), shape dims are non-negative and their product does
 * not overflow, data_offsets lie inside the data area, end - begin == numel * dtype size, and no
 * two tensors overlap. Errors are one line naming the tensor ("tensor 'x.weight': ...").
 * Real checkpoints carry a few integer tensors nobody computes with (transformers' int64
 * "position_ids"): the other safetensors dtypes (F64, I64, I32, I16, I8, U8, BOOL, ...) are
 * validated for size and listed as OMA_ST_OTHER with their name in dtype_str, and any attempt to
 * read one as floats fails naming the tensor and dtype. A dtype outside the format is refused.
 *
 * Tensor data pointers point into the mapping and MAY BE UNALIGNED: read them with memcpy or use
 * oma_st_read_f32(), which converts F16/BF16 to float (F16C when the CPU has it). The host must be
 * little-endian. A mapped file that another process truncates while open would fault on access:
 * bytes that arrive by upload (a LoRA) go through oma_st_open_memory on the caller's copy instead.
 *
 * The writer collects named tensors (copied) and metadata strings, then writes a file whose
 * header is padded with spaces so that the data area starts at an 8-byte boundary.
 */
#ifndef OMA_FORMATS_SAFETENSORS_H
#define OMA_FORMATS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define OMA_ST_MAX_DIMS 8
/* Largest JSON header accepted (100 MB, as the reference implementation). */
#define OMA_ST_MAX_HEADER ((uint64_t)100 * 1024 * 1024)

typedef enum { OMA_ST_F32 = 0, OMA_ST_F16 = 1, OMA_ST_BF16 = 2, OMA_ST_OTHER = 3 } oma_st_dtype;

typedef struct oma_st_tensor {
    const char *name;               /* owned by the file handle */
    oma_st_dtype dtype;
    char dtype_str[8];              /* as in the file: "F32", "I64", ... */
    int ndim;                       /* 0..OMA_ST_MAX_DIMS (0 = scalar, numel 1) */
    int64_t shape[OMA_ST_MAX_DIMS];
    int64_t numel;
    size_t nbytes;                  /* numel * dtype size */
    const uint8_t *data;            /* into the mapping; may be unaligned */
} oma_st_tensor;

typedef struct oma_safetensors oma_safetensors;

/* "F32", "F16", "BF16" ("?" for OTHER); element size in bytes (4, 2, 2; 0 for OTHER). */
const char *oma_st_dtype_name(oma_st_dtype d);
size_t oma_st_dtype_size(oma_st_dtype d);
/* Parses "F32"/"F16"/"BF16"; -1 for anything else (OTHER dtypes included). */
int oma_st_dtype_parse(const char *s, oma_st_dtype *out);

/* Opens (mmap) and validates a file. 0 on success, -1 with err filled. */
int oma_st_open(const char *path, oma_safetensors **out, char *err, size_t errlen);
/* Same over bytes the caller keeps alive for the handle's life (not copied). */
int oma_st_open_memory(const void *data, size_t len, oma_safetensors **out, char *err,
                       size_t errlen);
void oma_st_close(oma_safetensors *st);

/* Tensors in header order (the file's JSON object order). */
size_t oma_st_count(const oma_safetensors *st);
const oma_st_tensor *oma_st_at(const oma_safetensors *st, size_t i);
/* By exact name; NULL when absent. */
const oma_st_tensor *oma_st_find(const oma_safetensors *st, const char *name);
/* A "__metadata__" string value; NULL when absent. */
const char *oma_st_metadata(const oma_safetensors *st, const char *key);
/* The path given to oma_st_open ("<memory>" for memory). */
const char *oma_st_path(const oma_safetensors *st);

/* Checks the tensor has exactly this shape; -1 with "tensor 'name': shape [a,b] expected [c,d]". */
int oma_st_check_shape(const oma_st_tensor *t, int ndim, const int64_t *shape, char *err,
                       size_t errlen);
/* Converts the tensor to float into dst, which holds n floats (n must equal numel). */
int oma_st_read_f32(const oma_st_tensor *t, float *dst, size_t n, char *err, size_t errlen);

/* Scalar conversions (IEEE half with subnormals/inf/nan; bfloat16 round-to-nearest-even). */
float oma_f16_to_f32(uint16_t h);
float oma_bf16_to_f32(uint16_t b);
uint16_t oma_f32_to_f16(float f);
uint16_t oma_f32_to_bf16(float f);

/* ---- writer ---- */
typedef struct oma_st_writer oma_st_writer;

oma_st_writer *oma_st_writer_new(void);            /* NULL when out of memory */
void oma_st_writer_free(oma_st_writer *w);
/* Adds a tensor whose bytes are already in dtype (copied). Names must be unique. */
int oma_st_writer_add(oma_st_writer *w, const char *name, oma_st_dtype dtype, int ndim,
                      const int64_t *shape, const void *data, char *err, size_t errlen);
/* Adds float data stored as dtype (converted while copying). */
int oma_st_writer_add_f32(oma_st_writer *w, const char *name, oma_st_dtype dtype, int ndim,
                          const int64_t *shape, const float *data, char *err, size_t errlen);
/* Adds/overwrites a "__metadata__" string entry. */
int oma_st_writer_set_metadata(oma_st_writer *w, const char *key, const char *value, char *err,
                               size_t errlen);
/* Writes the file (via a temporary file renamed into place). */
int oma_st_writer_save(const oma_st_writer *w, const char *path, char *err, size_t errlen);
/* Serialises to a malloc'ed buffer. */
int oma_st_writer_to_memory(const oma_st_writer *w, uint8_t **out, size_t *out_len, char *err,
                            size_t errlen);

#endif
