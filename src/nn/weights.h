/* weights.h — where layers get their weights from, without knowing file formats.
 *
 * src/nn sits below src/formats, so a layer loads through this small interface: "give me the
 * tensor called NAME with this exact shape, as float". A model implements it over a
 * checkpoint (sd_checkpoint), a test over a map of random numbers. Every layer's load function
 * takes a name prefix ("unet.down_blocks.0.resnets.0") and appends its own parts.
 */
#ifndef OMA_NN_WEIGHTS_H
#define OMA_NN_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/tensor.h"

typedef struct oma_weights {
    void *ctx;
    /* Fills dst (numel(shape) floats) with tensor `name`, which must have exactly this shape.
     * 0, or -1 with err naming the tensor (missing, wrong shape, bad data). */
    int (*read)(void *ctx, const char *name, int ndim, const int64_t *shape, float *dst,
                char *err, size_t errlen);
    /* Non-zero when the tensor exists (for optional parts: biases, shortcuts). */
    int (*has)(void *ctx, const char *name);
    /* Optional (may be NULL): the raw values of a tensor stored as fp16 (*kind = 1) or bf16
     * (*kind = 2), for keep_half loading. 0 on success, 1 when the tensor is not 16-bit (read it
     * as float instead), -1 with err. */
    int (*read_half)(void *ctx, const char *name, int ndim, const int64_t *shape, uint16_t *dst,
                     int *kind, char *err, size_t errlen);
    /* Non-zero: linear and conv weights stored as fp16/bf16 stay 16-bit in memory. */
    int keep_half;
} oma_weights;

/* Allocates t with the shape and reads prefix + suffix into it. 0, or -1 with err. */
int oma_weights_load(const oma_weights *w, const char *prefix, const char *suffix, int ndim,
                     const int64_t *shape, oma_tensor *t, char *err, size_t errlen);
int oma_weights_has(const oma_weights *w, const char *prefix, const char *suffix);
/* Joins prefix + "." + part into buf (no dot when prefix is empty); -1 when too long. */
int oma_weights_join(char *buf, size_t len, const char *prefix, const char *part);

#endif
