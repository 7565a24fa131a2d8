/* style_profile.h — a compact, weight-free description of an artist's drawing style.
 *
 * Learned from 3..50 of the artist's images: the palette they use (k-means in CIELAB with
 * weights), the grey tone levels (peaks of the luminance histogram, refined by 1-D k-means),
 * line weight and darkness (medial axis of thin dark strokes via a distance transform),
 * screentone use (periodicity of high-pass tiles by autocorrelation, no FFT), saturation and
 * contrast. Images are fed one at a time so memory stays flat with 50 large samples.
 * The JSON form is the contract shared with the server and the UI (docs/API.md).
 */
#ifndef OMA_PIPELINES_STYLE_PROFILE_H
#define OMA_PIPELINES_STYLE_PROFILE_H

#include <jansson.h>
#include <stddef.h>

#include "formats/image.h"
#include "pipelines/style/palette.h"

#define OMA_STYLE_MIN_SAMPLES 3
#define OMA_STYLE_MAX_SAMPLES 50
#define OMA_STYLE_MAX_TONES 8

typedef struct oma_style_profile {
    oma_palette palette;
    int n_tones;
    float tones[OMA_STYLE_MAX_TONES];   /* grey levels 0..255, ascending */
    float line_weight_px;               /* typical stroke width in pixels */
    float line_darkness;                /* 0 (white) .. 1 (black) */
    int screentone_present;
    float screentone_density;           /* ink coverage inside toned areas, 0..1 */
    float screentone_frequency;         /* cycles per pixel (1 / period) */
    float saturation;                   /* mean HSV saturation, 0..1 */
    float contrast;                     /* RMS contrast: sd of luma / 255 */
    int n_samples;
} oma_style_profile;

typedef struct oma_style_learner oma_style_learner;

/* palette_k: colours to learn (1..OMA_PALETTE_MAX; 0 = default 8). NULL on out of memory. */
oma_style_learner *oma_style_learner_new(int palette_k);
void oma_style_learner_free(oma_style_learner *l);
/* Analyses one sample (1, 3 or 4 channels; transparent pixels are ignored).
 * 0 on success, -1 with err ("too many samples", "image has no opaque pixels", ...). */
int oma_style_learner_add(oma_style_learner *l, const oma_image *img, char *err, size_t errlen);
/* Builds the profile; -1 with err when fewer than 3 samples were added. */
int oma_style_learner_finish(oma_style_learner *l, oma_style_profile *out, char *err, size_t errlen);

/* Profile <-> JSON. to_json returns a new reference (NULL on out of memory). from_json
 * validates everything (types, ranges, sizes) and fills defaults for optional fields. */
json_t *oma_style_profile_to_json(const oma_style_profile *p);
int oma_style_profile_from_json(const json_t *j, oma_style_profile *out, char *err, size_t errlen);

/* A neutral profile used when no style is given: 8 greys, 3 tone levels, 2 px lines. */
void oma_style_profile_default(oma_style_profile *out);

#endif
