/* image_job.h — the two ends every "one image in, image.png out" job kind shares: fetching and
 * decoding its input image, and encoding, storing and summarising the result (image.normalize,
 * pose.warp; convert.lineart stores its PNGs with oma_image_job_put_png). */
#ifndef OMA_PIPELINES_IMAGE_JOB_H
#define OMA_PIPELINES_IMAGE_JOB_H

#include <jansson.h>

#include "formats/image.h"
#include "pipelines/job_kind.h"

/* Reports "decoding" at 0.05 and decodes the input named name (EXIF orientation applied,
 * channels as stored) into img. 0, or -1 with ctx->error ("missing input: image",
 * "image: <why>", "cancelled"). */
int oma_image_job_decode(oma_job_ctx *ctx, const char *name, oma_image *img);

/* Encodes img as PNG and adds it as output name. 0, or -1 with ctx->error ("<name>: <why>",
 * "could not store <name>"). */
int oma_image_job_put_png(oma_job_ctx *ctx, const char *name, const oma_image *img);

/* Reports "encoding" at fraction at, stores out as image.png, makes res (taken; NULL counts as
 * out of memory) the job's result and reports "done". 0, or -1 with ctx->error. */
int oma_image_job_finish(oma_job_ctx *ctx, double at, const oma_image *out, json_t *res);

#endif
