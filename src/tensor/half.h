/* half.h — 16-bit float weights (IEEE fp16 and bfloat16) widened to float32.
 *
 * Checkpoints ship fp16 or bf16; keeping the weights in that form halves the memory of a
 * model, at the cost of widening a layer's weights just before its GEMM. The conversions are
 * exact (every fp16/bf16 value is a float32 value); fp16 uses the F16C instructions when the
 * CPU has them, with a portable fallback that handles subnormals, infinities and NaN.
 */
#ifndef OMA_TENSOR_HALF_H
#define OMA_TENSOR_HALF_H

#include <stddef.h>
#include <stdint.h>

typedef enum { OMA_HALF_F16 = 1, OMA_HALF_BF16 = 2 } oma_half_kind;

float oma_half_to_f32(uint16_t h, oma_half_kind kind);
/* dst[i] = widen(src[i]) for n values (parallel for large n). */
void oma_half_widen(const uint16_t *src, oma_half_kind kind, float *dst, size_t n);

#endif
