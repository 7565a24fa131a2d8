/* style_measure.h — per-image measurements behind a style profile, on a grey plane (0..255).
 *
 * Line weight: dark pixels (below a threshold from Otsu's method, capped) are distance-
 * transformed; local maxima of the distance (the medial axis) at thin strokes give the stroke
 * width 2d-1 and the ink darkness there. Screentone: tiles of the high-passed image with the
 * most texture are autocorrelated over small 2-D lags; a strong off-centre peak means a
 * periodic pattern. Its period is the lattice spacing: the area per dot when ink (or paper)
 * forms separate dots, so rotated screens measure right (whole-pixel lags miss a rotated
 * lattice), else the shortest strong autocorrelation lag.
 */
#ifndef OMA_PIPELINES_STYLE_MEASURE_H
#define OMA_PIPELINES_STYLE_MEASURE_H

#include <stddef.h>
#include <stdint.h>

#define OMA_LINE_MAX_WIDTH 15

typedef struct oma_line_stats {
    double width_hist[OMA_LINE_MAX_WIDTH + 1];  /* ridge pixels per stroke width 1..MAX */
    double darkness_sum;                        /* sum of (1 - grey/255) over ridge pixels */
    double n;                                   /* ridge pixels */
} oma_line_stats;

typedef struct oma_tone_stats {
    int tiles;              /* textured tiles examined */
    int tone_tiles;         /* of those, periodic ones */
    double period_sum;      /* sum of periods (pixels) over periodic tiles */
    double density_sum;     /* sum of ink coverage over periodic tiles */
} oma_tone_stats;

/* Adds the line measurements of grey (w x h, opaque mask may be NULL) to st. 0 / -1 (memory). */
int oma_measure_lines(const float *grey, const uint8_t *opaque, int w, int h, oma_line_stats *st);

/* Adds the screentone measurements of grey to st. 0 / -1 (memory). */
int oma_measure_screentone(const float *grey, int w, int h, oma_tone_stats *st);

/* Otsu threshold of values 0..255. */
float oma_otsu(const float *v, const uint8_t *mask, size_t n);

#endif
