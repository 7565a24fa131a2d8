/* image_job.c — input decoding and image.png output for image-to-image job kinds
 * (see image_job.h). */
#include "pipelines/image_job.h"

#include <stdio.h>
#include <stdlib.h>

static int cancelled(oma_job_ctx *ctx, double fraction, const char *message)
{
    if (!ctx->progress || !ctx->progress(ctx, fraction, message, NULL, 0)) return 0;
    snprintf(ctx->error, sizeof ctx->error, "cancelled");
    return 1;
}

int oma_image_job_decode(oma_job_ctx *ctx, const char *name, oma_image *img)
{
    char err[256] = "";
    const oma_job_input *in = oma_job_input_find(ctx, name);
    if (!in) {
        snprintf(ctx->error, sizeof ctx->error, "missing input: %s", name);
        return -1;
    }
    if (cancelled(ctx, 0.05, "decoding")) return -1;
    if (oma_image_decode(in->data, in->len, 0, 1, NULL, img, err, sizeof err) != 0) {
        snprintf(ctx->error, sizeof ctx->error, "%s: %s", name, err);
        return -1;
    }
    return 0;
}

int oma_image_job_finish(oma_job_ctx *ctx, double at, const oma_image *out, json_t *res)
{
    uint8_t *png = NULL;
    size_t png_len = 0;
    char err[256] = "";
    int rc = -1;
    if (cancelled(ctx, at, "encoding")) goto done;
    if (oma_image_encode_png(out, NULL, NULL, &png, &png_len, err, sizeof err) != 0) {
        snprintf(ctx->error, sizeof ctx->error, "%s", err);
        goto done;
    }
    if (!ctx->add_output || ctx->add_output(ctx, "image.png", "image/png", png, png_len) != 0) {
        snprintf(ctx->error, sizeof ctx->error, "could not store image.png");
        goto done;
    }
    if (!res) {
        snprintf(ctx->error, sizeof ctx->error, "out of memory");
        goto done;
    }
    json_decref(ctx->result);
    ctx->result = res;
    res = NULL;
    if (cancelled(ctx, 1.0, "done")) goto done;
    rc = 0;
done:
    json_decref(res);
    free(png);
    return rc;
}
