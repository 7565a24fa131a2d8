/* normalize.h — bring any uploaded picture to the shape the pipelines want: EXIF rotation
 * applied, resized to fit a longest side or an exact width x height (contain / cover / none),
 * both sides a multiple of N. Used by the image.normalize job kind and `oma normalize`. */
#ifndef OMA_PIPELINES_NORMALIZE_H
#define OMA_PIPELINES_NORMALIZE_H

#include <jansson.h>
#include <stddef.h>

#include "formats/image.h"

typedef enum { OMA_FIT_CONTAIN = 0, OMA_FIT_COVER, OMA_FIT_NONE } oma_fit;

#define OMA_NORMALIZE_MAX_SIDE 8192
#define OMA_NORMALIZE_MAX_MULTIPLE 256

typedef struct oma_normalize_opts {
    int max_side;      /* used when width and height are both 0; default 1024 */
    int width, height; /* 0 = not given; one alone keeps the aspect ratio */
    oma_fit fit;       /* how width x height is filled when both are given */
    int multiple_of;   /* both output sides are multiples of this; default 8 */
} oma_normalize_opts;

oma_normalize_opts oma_normalize_defaults(void);

/* Checks opts (sizes in range, sides not below multiple_of). 0, or -1 with err. */
int oma_normalize_check(const oma_normalize_opts *o, char *err, size_t errlen);

/* Reads the job params (an object; missing keys keep their defaults) and checks them.
 * 0, or -1 with err ("width: must be an integer in 1..8192"). */
int oma_normalize_opts_from_json(const json_t *params, oma_normalize_opts *o, char *err, size_t errlen);

/* The output size for a w x h source under opts (after EXIF rotation). */
void oma_normalize_target(const oma_normalize_opts *o, int w, int h, int *out_w, int *out_h);

/* Resizes/crops/letterboxes src into out (a new image). Letterboxing (contain with bars) gives
 * RGBA with transparent bars; otherwise out keeps src's channel count. 0, or -1 with err. */
int oma_normalize_image(const oma_image *src, const oma_normalize_opts *o, oma_image *out,
                        char *err, size_t errlen);

#endif
