/* lineart.h — photo to line + tone art ("LT conversion") in an artist's style.
 *
 * Steps: edge-preserving smoothing (separable bilateral in Lab); lines by XDoG on the smoothed
 * lightness (difference of Gaussians, thresholded, specks removed) with width and threshold
 * from the profile or the options; flat regions by Reinhard colour transfer of the photo's Lab
 * statistics onto the palette's, then the nearest palette colour and a majority filter (so
 * every flat pixel is exactly a palette colour) — or, without colour, N grey tone levels;
 * screentone (dots or lines) for the darker tone levels. Out come the composite (RGB) and
 * three RGBA layers: lines, flats, tones.
 */
#ifndef OMA_PIPELINES_LINEART_H
#define OMA_PIPELINES_LINEART_H

#include <stddef.h>

#include "formats/image.h"
#include "pipelines/style/style_profile.h"
#include "pipelines/style/tone.h"

typedef struct oma_convert_opts {
    float line_width;       /* pixels, 0.5..32; 0 = from the profile */
    float line_threshold;   /* 0..1, higher keeps only stronger edges; <0 = default 0.5 */
    int tone_levels;        /* 2..8; 0 = from the profile */
    int tone_type;          /* oma_tone_type; -1 = dots if the profile uses screentone, else none */
    float tone_frequency;   /* cycles per pixel 0.02..0.5; 0 = from the profile (or 1/8) */
    float tone_angle;       /* degrees, -360..360 (default 45) */
    int color;              /* 1 colour flats, 0 grey tones, -1 = colour if the profile is saturated */
    int max_side;           /* larger photos are scaled down first (default 4096) */
} oma_convert_opts;

void oma_convert_opts_default(oma_convert_opts *o);
/* Checks ranges; 0 or -1 with err. */
int oma_convert_opts_check(const oma_convert_opts *o, char *err, size_t errlen);

typedef struct oma_convert_result {
    oma_image composite;    /* RGB */
    oma_image lines, flats, tones;  /* RGBA layers, same size */
    int levels;             /* tone levels used */
    int color;              /* whether flats are in colour */
    oma_tone_type tone;     /* screen used */
} oma_convert_result;

/* progress(ctx, fraction, message) may be NULL; non-zero return cancels (-1, err "cancelled"). */
typedef int (*oma_convert_progress)(void *ctx, double fraction, const char *message);

int oma_convert_lineart(const oma_image *photo, const oma_style_profile *style,
                        const oma_convert_opts *opts, oma_convert_progress progress, void *pctx,
                        oma_convert_result *out, char *err, size_t errlen);
void oma_convert_result_free(oma_convert_result *r);

#endif
