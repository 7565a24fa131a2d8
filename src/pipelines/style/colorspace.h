/* colorspace.h — sRGB <-> CIELAB (D65) and luminance, for the classic (weight-free) path.
 *
 * Palettes are learned and matched in CIELAB because distances there follow what a person
 * sees; sRGB decoding goes through a 256-entry table so converting a whole photo is cheap.
 */
#ifndef OMA_PIPELINES_COLORSPACE_H
#define OMA_PIPELINES_COLORSPACE_H

#include <stdint.h>

typedef struct oma_lab { float L, a, b; } oma_lab;

/* 8-bit sRGB to CIELAB (L in 0..100). */
oma_lab oma_rgb_to_lab(uint8_t r, uint8_t g, uint8_t b);
/* CIELAB to 8-bit sRGB, clamped to the gamut. */
void oma_lab_to_rgb(oma_lab lab, uint8_t rgb[3]);
/* Rec. 709 luma of 8-bit sRGB, 0..255. */
float oma_luma(uint8_t r, uint8_t g, uint8_t b);
/* HSV saturation 0..1. */
float oma_hsv_saturation(uint8_t r, uint8_t g, uint8_t b);
/* Squared distance in Lab. */
static inline float oma_lab_dist2(oma_lab x, oma_lab y)
{
    float dl = x.L - y.L, da = x.a - y.a, db = x.b - y.b;
    return dl * dl + da * da + db * db;
}

#endif
