/* palette.h — a weighted colour palette learned by k-means in CIELAB.
 *
 * Points are Lab colours with weights (pixel counts). Seeds are chosen by k-means++ from a
 * fixed-seed generator, so the same samples always give the same palette. Colours are sorted
 * by weight (most used first) and weights sum to 1.
 */
#ifndef OMA_PIPELINES_PALETTE_H
#define OMA_PIPELINES_PALETTE_H

#include <stddef.h>
#include <stdint.h>

#include "pipelines/style/colorspace.h"

#define OMA_PALETTE_MAX 32

typedef struct oma_palette {
    int n;
    oma_lab lab[OMA_PALETTE_MAX];
    uint8_t rgb[OMA_PALETTE_MAX][3];
    float weight[OMA_PALETTE_MAX];
} oma_palette;

/* Clusters n points (weights may be NULL = all 1) into at most k colours (1..OMA_PALETTE_MAX).
 * Fewer come back when the points hold fewer distinct colours. 0 on success, -1 on bad
 * arguments or out of memory. */
int oma_palette_kmeans(const oma_lab *pts, const float *w, size_t n, int k, uint64_t seed,
                       oma_palette *out);

/* Index of the palette colour nearest to c. */
int oma_palette_nearest(const oma_palette *p, oma_lab c);

/* Weighted mean and standard deviation of the palette per Lab channel. */
void oma_palette_stats(const oma_palette *p, float mean[3], float sd[3]);

/* Generic 1-D weighted k-means used for tone levels: values v[0..n) with weights w; k centres
 * initialised from init (may be NULL: spread over the range). Writes sorted centres to out;
 * returns how many (<= k), -1 on bad arguments. */
int oma_kmeans_1d(const float *v, const float *w, size_t n, int k, const float *init, float *out);

#endif
