/* layers_internal.h — what layers.c shares with the backward passes (not for use outside nn). */
#ifndef OMA_NN_LAYERS_INTERNAL_H
#define OMA_NN_LAYERS_INTERNAL_H

#include <stdint.h>

#include "tensor/tensor.h"

/* The float32 weights of a layer: t's own data, or its 16-bit weights w16 widened into this
 * thread's buffer (valid until the next call on this thread). NULL when out of memory. */
const float *oma_layer_weights_f32(const oma_tensor *t, const uint16_t *w16, int kind);

#endif
