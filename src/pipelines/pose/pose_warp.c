/* pose_warp.c — the pose warp end to end, and the pose.warp job kind.
 *
 * Steps: pose pairs -> handles; the figure's mask (pose_warp_mask.c says how); a background
 * plate with the figure's old place emptied (transparent for cut-outs, push-pull filled on a
 * flat backdrop; on a busy backdrop the plate is the picture itself and the region round the
 * figure is deformed as a whole with its rim pinned); the figure drawn deformed over the
 * plate. Pixels away from the old and the new figure are copied unchanged.
 */
#include "pipelines/pose/pose_warp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/image/image_job.h"
#include "pipelines/job_kind.h"

oma_warp_opts oma_warp_defaults(void)
{
    oma_warp_opts o = {8, 3.0f, 3};
    return o;
}

/* Dilates a 0/non-zero mask by r (square) into a new 0/1 buffer. */
static uint8_t *dilate(const uint8_t *m, int w, int h, int r)
{
    uint8_t *t = calloc((size_t)w * h, 1), *o = calloc((size_t)w * h, 1);
    if (!t || !o) {
        free(t);
        free(o);
        return NULL;
    }
    for (int y = 0; y < h; y++) {
        int run = -1;   /* last x with mask set */
        for (int x = 0; x < w + r; x++) {
            if (x < w && m[(size_t)y * w + x]) run = x;
            int cx = x - r;
            if (cx >= 0 && run >= 0 && run >= cx - r) t[(size_t)y * w + cx] = 1;
        }
    }
    for (int x = 0; x < w; x++) {
        int run = -1;
        for (int y = 0; y < h + r; y++) {
            if (y < h && t[(size_t)y * w + x]) run = y;
            int cy = y - r;
            if (cy >= 0 && run >= 0 && run >= cy - r) o[(size_t)cy * w + x] = 1;
        }
    }
    free(t);
    return o;
}

int oma_pose_warp(const oma_image *img, const oma_pose *from, const oma_pose *to,
                  const oma_warp_opts *o, oma_image *out, char *err, size_t errlen)
{
    oma_warp_opts def = oma_warp_defaults();
    oma_image rgb = {0}, plate = {0};
    const oma_image *src = img;
    oma_warp_handle *h = NULL;
    uint8_t *mask = NULL, *hole = NULL;
    int n = 0, mode = 0, rc = -1;
    memset(out, 0, sizeof *out);
    if (!o) o = &def;
    if (!img || !img->px || img->w <= 0 || img->h <= 0) return oma_fail(err, errlen, "pose warp: no image");
    if ((int64_t)img->w * img->h > OMA_WARP_MAX_PIXELS)
        return oma_fail(err, errlen, "pose warp: the image is %dx%d, over %d pixels (normalise it first)",
                        img->w, img->h, OMA_WARP_MAX_PIXELS);
    if (img->c == 1) {
        if (oma_image_convert(img, 3, &rgb) != 0) return oma_fail(err, errlen, "pose warp: out of memory");
        src = &rgb;
    }
    if (oma_warp_handles(from, to, src->w, src->h, o->bone_samples, &h, &n, err, errlen) != 0) goto done;
    const int grid = o->grid < 2 ? 2 : o->grid > 64 ? 64 : o->grid;
    if (oma_warp_mask(src, h, n, 2 * grid + 4, &mask, &mode, err, errlen) != 0) goto done;
    if (oma_image_convert(src, 4, &plate) != 0) {
        oma_fail(err, errlen, "pose warp: out of memory");
        goto done;
    }
    const size_t np = (size_t)src->w * src->h;
    if (mode == OMA_WARP_MASK_ALPHA) {
        for (size_t i = 0; i < np; i++)
            if (mask[i]) plate.px[i * 4 + 3] = 0;
    } else if (mode == OMA_WARP_MASK_COLOR || mode == OMA_WARP_MASK_CUT) {
        hole = dilate(mask, src->w, src->h, 2);
        if (!hole || oma_warp_fill(&plate, hole) != 0) {
            oma_fail(err, errlen, "pose warp: out of memory");
            goto done;
        }
    } else if (oma_warp_anchors(mask, src->w, src->h, 2 * grid, &h, &n, err, errlen) != 0) {
        goto done;   /* REGION: the plate stays the picture; the region's rim is pinned */
    }
    if (oma_warp_render(src, mask, h, n, o, mode != OMA_WARP_MASK_ALPHA, &plate, err, errlen) != 0) goto done;
    if (mode == OMA_WARP_MASK_ALPHA || img->c == 4) {
        *out = plate;
        plate.px = NULL;
    } else if (oma_image_convert(&plate, 3, out) != 0) {
        oma_fail(err, errlen, "pose warp: out of memory");
        goto done;
    }
    rc = 0;
done:
    oma_image_free(&rgb);
    oma_image_free(&plate);
    free(h);
    free(mask);
    free(hole);
    return rc;
}

/* ---- the job kind: inputs {image}, params {"from": OpenPose JSON, "to": OpenPose JSON,
 *      "grid"?: 2..64} -> image.png */

static int read_poses(const json_t *params, int dw, int dh, oma_pose *from, oma_pose *to, char *err,
                      size_t errlen)
{
    char e[256];
    memset(from, 0, sizeof *from);
    memset(to, 0, sizeof *to);
    if (!json_is_object(params)) return oma_fail(err, errlen, "params: must be an object");
    const json_t *f = json_object_get(params, "from"), *t = json_object_get(params, "to");
    if (!f || !t) return oma_fail(err, errlen, "params: \"from\" and \"to\" (OpenPose JSON) are required");
    if (oma_pose_from_json(f, dw, dh, from, e, sizeof e) != 0) return oma_fail(err, errlen, "from: %s", e);
    if (oma_pose_from_json(t, dw, dh, to, e, sizeof e) != 0) {
        oma_pose_free(from);
        return oma_fail(err, errlen, "to: %s", e);
    }
    return 0;
}

static int read_grid(const json_t *params, int *grid, char *err, size_t errlen)
{
    const json_t *g = json_object_get(params, "grid");
    if (!g || json_is_null(g)) return 0;
    if (!json_is_integer(g) || json_integer_value(g) < 2 || json_integer_value(g) > 64)
        return oma_fail(err, errlen, "grid: must be an integer in 2..64");
    *grid = (int)json_integer_value(g);
    return 0;
}

static int kind_available(const char *models_dir)
{
    (void)models_dir;
    return 1;
}

static int kind_validate(const json_t *params, char *err, size_t errlen)
{
    oma_pose from, to;
    oma_warp_opts o = oma_warp_defaults();
    if (read_grid(params, &o.grid, err, errlen) != 0) return -1;
    /* the canvas may be left out (it is then the image's size); 512 stands in for it here */
    if (read_poses(params, 512, 512, &from, &to, err, errlen) != 0) return -1;
    oma_warp_handle *h = NULL;
    int n = 0;
    int rc = oma_warp_handles(&from, &to, 512, 512, o.bone_samples, &h, &n, err, errlen);
    free(h);
    oma_pose_free(&from);
    oma_pose_free(&to);
    return rc;
}

static int kind_run(oma_job_ctx *ctx)
{
    oma_image img = {0}, out = {0};
    oma_pose from = {0}, to = {0};
    oma_warp_opts o = oma_warp_defaults();
    char err[256] = "";
    int rc = -1;
    if (oma_image_job_decode(ctx, "image", &img) != 0) goto done;
    if (read_grid(ctx->params, &o.grid, err, sizeof err) != 0 ||
        read_poses(ctx->params, img.w, img.h, &from, &to, err, sizeof err) != 0) {
        snprintf(ctx->error, sizeof ctx->error, "%s", err);
        goto done;
    }
    if (ctx->progress && ctx->progress(ctx, 0.2, "warping", NULL, 0)) {
        snprintf(ctx->error, sizeof ctx->error, "cancelled");
        goto done;
    }
    if (oma_pose_warp(&img, &from, &to, &o, &out, err, sizeof err) != 0) {
        snprintf(ctx->error, sizeof ctx->error, "%s", err);
        goto done;
    }
    rc = oma_image_job_finish(ctx, 0.8, &out,
                              json_pack("{s:i,s:i,s:s}", "width", out.w, "height", out.h,
                                        "method", "mls-rigid-mesh"));
done:
    oma_image_free(&img);
    oma_image_free(&out);
    oma_pose_free(&from);
    oma_pose_free(&to);
    return rc;
}

static const char *const required_inputs[] = {"image", NULL};

const oma_job_kind oma_kind_pose_warp = {
    .name = "pose.warp",
    .title = "Warp a character into a new pose (no weights)",
    .required_inputs = required_inputs,
    .available = kind_available,
    .validate = kind_validate,
    .run = kind_run,
};
