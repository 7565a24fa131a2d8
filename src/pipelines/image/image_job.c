/* image_job.c — input decoding and image.png output for image-to-image job kinds
 * (see image_job.h). */
#include "pipelines/image/image_job.h"

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

int oma_image_job_put_png(oma_job_ctx *ctx, const char *name, const oma_image *img)
{
    uint8_t *png = NULL;
    size_t len = 0;
    char err[256];
    if (oma_image_encode_png(img, NULL, NULL, &png, &len, err, sizeof err) != 0) {
        snprintf(ctx->error, sizeof ctx->error, "%s: %s", name, err);
        return -1;
    }
    int rc = ctx->add_output ? ctx->add_output(ctx, name, "image/png", png, len) : -1;
    free(png);
    if (rc) snprintf(ctx->error, sizeof ctx->error, "could not store %s", name);
    return rc ? -1 : 0;
}

int oma_image_job_finish(oma_job_ctx *ctx, double at, const oma_image *out, json_t *res)
{
    if (cancelled(ctx, at, "encoding") || oma_image_job_put_png(ctx, "image.png", out) != 0) {
        json_decref(res);
        return -1;
    }
    if (!res) {
        snprintf(ctx->error, sizeof ctx->error, "out of memory");
        return -1;
    }
    json_decref(ctx->result);
    ctx->result = res;
    return cancelled(ctx, 1.0, "done") ? -1 : 0;
}
