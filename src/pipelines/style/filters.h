/* filters.h — image filters for the classic path, on float planes (row-major, w*h).
 *
 * Small, allocation-checked building blocks: separable Gaussian blur, Sobel magnitude,
 * separable bilateral smoothing of a 3-channel Lab image (edge-preserving, O(radius) per
 * pixel), exact Euclidean distance transform (Felzenszwalb-Huttenlocher), connected-component
 * clean-up and disc dilation of binary masks. Borders clamp to the edge.
 */
#ifndef OMA_PIPELINES_FILTERS_H
#define OMA_PIPELINES_FILTERS_H

#include <stdint.h>

/* dst may equal src. 0 on success, -1 on out of memory or bad arguments. */
int oma_gauss_blur(const float *src, float *dst, int w, int h, float sigma);

/* Sobel gradient magnitude of src into dst (dst != src). */
void oma_sobel_mag(const float *src, float *dst, int w, int h);

/* Smooths an interleaved Lab image (3 floats per pixel) in place: `iters` rounds of a
 * horizontal then vertical bilateral pass with spatial sigma_s (pixels) and range sigma_r
 * (Lab units). 0 on success, -1 on out of memory. */
int oma_bilateral_lab(float *lab, int w, int h, float sigma_s, float sigma_r, int iters);

/* For every pixel, the Euclidean distance to the nearest pixel whose mask is 0 (0 there).
 * 0 on success, -1 on out of memory. */
int oma_edt(const uint8_t *mask, int w, int h, float *dist);

/* Clears 8-connected components of non-zero mask pixels smaller than min_area.
 * Returns the number of components kept, -1 on out of memory. */
int oma_mask_remove_small(uint8_t *mask, int w, int h, int min_area);

/* Grows the non-zero pixels of mask by a disc of radius r (r <= 0: no change). */
int oma_mask_dilate(uint8_t *mask, int w, int h, float r);

#endif
