/* tone.h — tone levels and screentone, the way manga tones are drawn.
 *
 * Tone classes split a luminance plane into N levels by 1-D k-means on its histogram.
 * A screen turns a density (ink coverage 0..1) into binary ink at each pixel: round dots on
 * a lattice rotated by `angle` with `frequency` cycles per pixel (period = 1/frequency), the
 * dot radius chosen so the covered area equals the density exactly (discs clipped to the
 * cell once they touch), or parallel lines whose width is density x period (axis-aligned
 * lines are whole pixels wide, so their coverage steps by 1/period; rotated ones average out).
 */
#ifndef OMA_PIPELINES_TONE_H
#define OMA_PIPELINES_TONE_H

#include <stddef.h>
#include <stdint.h>

typedef enum { OMA_TONE_NONE = 0, OMA_TONE_DOTS, OMA_TONE_LINES } oma_tone_type;

/* "none" | "dots" | "lines" -> type; -1 if unknown. */
int oma_tone_type_parse(const char *s);
const char *oma_tone_type_name(oma_tone_type t);

typedef struct oma_screen {
    oma_tone_type type;
    float freq, c, s;
} oma_screen;

/* frequency in cycles per pixel (0.02..0.5), angle in degrees. */
void oma_screen_init(oma_screen *sc, oma_tone_type type, float frequency, float angle_deg);
/* 1 when pixel (x, y) is ink for a tone of this density. */
int oma_screen_ink(const oma_screen *sc, int x, int y, float density);
/* Fraction of a unit cell covered by a centred disc of radius r (0..1). */
float oma_disc_coverage(float r);

/* Splits lum (0..255, n values) into k classes (dark to light). centres gets the k sorted
 * class centres, cls (may equal NULL) each pixel's class. Returns the number of classes
 * found (<= k; fewer for a flat image), -1 on bad arguments or out of memory. */
int oma_tone_classes(const float *lum, size_t n, int k, float *centres, uint8_t *cls);

#endif
