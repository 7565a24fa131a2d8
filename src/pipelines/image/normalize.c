/* normalize.c — the image.normalize job kind: EXIF rotation, resize, crop or letterbox.
 *
 * The idea: every mode reduces to "fill a W x H box": with width and height the caller picks
 * the fit (contain = whole picture inside, transparent bars; cover = fill and centre-crop;
 * none = stretch); with one side, or with max_side (which only ever shrinks), the box has the
 * picture's own aspect and "cover" absorbs the few pixels lost to rounding both sides down to
 * a multiple of multiple_of. Params are checked up front so a bad request never queues.
 */
#include "pipelines/image/normalize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/image/image_job.h"
#include "pipelines/job_kind.h"

oma_normalize_opts oma_normalize_defaults(void)
{
    oma_normalize_opts o = {1024, 0, 0, OMA_FIT_CONTAIN, 8};
    return o;
}

int oma_normalize_check(const oma_normalize_opts *o, char *err, size_t errlen)
{
    const int M = OMA_NORMALIZE_MAX_SIDE;
    if (o->multiple_of < 1 || o->multiple_of > OMA_NORMALIZE_MAX_MULTIPLE)
        return oma_fail(err, errlen, "multiple_of: must be in 1..%d", OMA_NORMALIZE_MAX_MULTIPLE);
    if (o->max_side < 1 || o->max_side > M) return oma_fail(err, errlen, "max_side: must be in 1..%d", M);
    if (o->width < 0 || o->width > M) return oma_fail(err, errlen, "width: must be in 1..%d", M);
    if (o->height < 0 || o->height > M) return oma_fail(err, errlen, "height: must be in 1..%d", M);
    if (o->max_side < o->multiple_of) return oma_fail(err, errlen, "max_side: must be at least multiple_of");
    if (o->width && o->width < o->multiple_of) return oma_fail(err, errlen, "width: must be at least multiple_of");
    if (o->height && o->height < o->multiple_of)
        return oma_fail(err, errlen, "height: must be at least multiple_of");
    oma_image_limits lim = oma_image_default_limits();
    if ((int64_t)o->width * o->height > lim.max_pixels)
        return oma_fail(err, errlen, "width x height: over %lld pixels", (long long)lim.max_pixels);
    if (o->fit != OMA_FIT_CONTAIN && o->fit != OMA_FIT_COVER && o->fit != OMA_FIT_NONE)
        return oma_fail(err, errlen, "fit: must be contain, cover or none");
    return 0;
}

/* An integer param in 1..max: a JSON integer, or a real with an integral value (512.0). */
static int get_int(const json_t *params, const char *key, int max, int *out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(params, key);
    if (!v || json_is_null(v)) return 0;
    double d;
    if (json_is_integer(v)) d = (double)json_integer_value(v);
    else if (json_is_real(v)) d = json_real_value(v);
    else return oma_fail(err, errlen, "%s: must be an integer in 1..%d", key, max);
    if (!(d >= 1 && d <= max) || d != floor(d))
        return oma_fail(err, errlen, "%s: must be an integer in 1..%d", key, max);
    *out = (int)d;
    return 0;
}

int oma_normalize_opts_from_json(const json_t *params, oma_normalize_opts *o, char *err, size_t errlen)
{
    *o = oma_normalize_defaults();
    if (!params) return 0;
    if (!json_is_object(params)) return oma_fail(err, errlen, "params: must be an object");
    const int M = OMA_NORMALIZE_MAX_SIDE;
    if (get_int(params, "max_side", M, &o->max_side, err, errlen) != 0 ||
        get_int(params, "width", M, &o->width, err, errlen) != 0 ||
        get_int(params, "height", M, &o->height, err, errlen) != 0 ||
        get_int(params, "multiple_of", OMA_NORMALIZE_MAX_MULTIPLE, &o->multiple_of, err, errlen) != 0)
        return -1;
    const json_t *fit = json_object_get(params, "fit");
    if (fit && !json_is_null(fit)) {
        const char *f = json_string_value(fit);
        if (!f) return oma_fail(err, errlen, "fit: must be contain, cover or none");
        if (strcmp(f, "contain") == 0) o->fit = OMA_FIT_CONTAIN;
        else if (strcmp(f, "cover") == 0) o->fit = OMA_FIT_COVER;
        else if (strcmp(f, "none") == 0) o->fit = OMA_FIT_NONE;
        else return oma_fail(err, errlen, "fit: must be contain, cover or none");
    }
    return oma_normalize_check(o, err, errlen);
}

static int round_down(double v, int m)
{
    int r = (int)floor(v / m) * m;
    return r < m ? m : r;
}

void oma_normalize_target(const oma_normalize_opts *o, int w, int h, int *out_w, int *out_h)
{
    const int m = o->multiple_of;
    if (o->width && o->height) {
        *out_w = round_down(o->width, m);
        *out_h = round_down(o->height, m);
        return;
    }
    double tw, th;
    if (o->width) {
        tw = o->width;
        th = (double)h * o->width / w;
    } else if (o->height) {
        th = o->height;
        tw = (double)w * o->height / h;
    } else {
        double s = (double)o->max_side / (w > h ? w : h);
        if (s > 1) s = 1;
        tw = w * s;
        th = h * s;
    }
    /* a very thin picture with one side given may ask for the other beyond the maximum */
    double big = tw > th ? tw : th;
    if (big > OMA_NORMALIZE_MAX_SIDE) {
        tw *= OMA_NORMALIZE_MAX_SIDE / big;
        th *= OMA_NORMALIZE_MAX_SIDE / big;
    }
    *out_w = round_down(tw + 1e-6, m);
    *out_h = round_down(th + 1e-6, m);
}

int oma_normalize_image(const oma_image *src, const oma_normalize_opts *o, oma_image *out,
                        char *err, size_t errlen)
{
    int W, H;
    memset(out, 0, sizeof *out);
    if (oma_normalize_check(o, err, errlen) != 0) return -1;
    if (!src || !src->px) return oma_fail(err, errlen, "normalize: no image");
    oma_normalize_target(o, src->w, src->h, &W, &H);
    oma_fit fit = (o->width && o->height) ? o->fit : OMA_FIT_COVER;
    if (fit == OMA_FIT_NONE || (W == src->w && H == src->h)) {
        if (oma_image_resize(src, W, H, out) != 0) return oma_fail(err, errlen, "normalize: out of memory");
        return 0;
    }
    double sx = (double)W / src->w, sy = (double)H / src->h;
    double s = fit == OMA_FIT_COVER ? (sx > sy ? sx : sy) : (sx < sy ? sx : sy);
    /* scaled size: covers (>=) or fits inside (<=) the box, at least 1 pixel */
    int rw = (int)lround(src->w * s), rh = (int)lround(src->h * s);
    if (fit == OMA_FIT_COVER) {
        if (rw < W) rw = W;
        if (rh < H) rh = H;
    } else {
        if (rw > W) rw = W;
        if (rh > H) rh = H;
    }
    if (rw < 1) rw = 1;
    if (rh < 1) rh = 1;
    oma_image scaled;
    if (oma_image_resize(src, rw, rh, &scaled) != 0) return oma_fail(err, errlen, "normalize: out of memory");
    int rc = 0;
    if (fit == OMA_FIT_COVER) {
        rc = oma_image_crop(&scaled, (rw - W) / 2, (rh - H) / 2, W, H, out);
    } else if (rw == W && rh == H) {
        *out = scaled;
        scaled.px = NULL;
    } else {
        /* letterbox: transparent canvas, picture centred */
        oma_image rgba;
        const oma_image *pic = &scaled;
        rgba.px = NULL;
        if (scaled.c != 4) {
            rc = oma_image_convert(&scaled, 4, &rgba);
            pic = &rgba;
        }
        if (rc == 0) rc = oma_image_alloc(out, W, H, 4);
        if (rc == 0) {
            int ox = (W - rw) / 2, oy = (H - rh) / 2;
            for (int y = 0; y < rh; y++)
                memcpy(out->px + ((size_t)(oy + y) * W + (size_t)ox) * 4, pic->px + (size_t)y * rw * 4,
                       (size_t)rw * 4);
        }
        oma_image_free(&rgba);
    }
    oma_image_free(&scaled);
    if (rc != 0) {
        oma_image_free(out);
        return oma_fail(err, errlen, "normalize: out of memory");
    }
    return 0;
}

/* ---- the job kind */

static int kind_available(const char *models_dir)
{
    (void)models_dir;
    return 1;
}

static int kind_validate(const json_t *params, char *err, size_t errlen)
{
    /* like the other kinds, a parameter we do not know is an error, not ignored (style_id:
     * any job may name one of the artist's styles; the server checks it) */
    static const char *const known[] = {"max_side", "width", "height", "multiple_of", "fit", "style_id", NULL};
    const char *key;
    json_t *v;
    if (json_is_object(params))
        json_object_foreach((json_t *)params, key, v) {
            int ok = 0;
            for (const char *const *k = known; *k && !ok; k++) ok = strcmp(key, *k) == 0;
            if (!ok) return oma_fail(err, errlen, "unknown parameter %.64s", key);
        }
    oma_normalize_opts o;
    return oma_normalize_opts_from_json(params, &o, err, errlen);
}

static int kind_run(oma_job_ctx *ctx)
{
    oma_normalize_opts o;
    oma_image src = {0}, out = {0};
    int rc = -1;
    char err[256] = "";
    if (oma_normalize_opts_from_json(ctx->params, &o, err, sizeof err) != 0) {
        snprintf(ctx->error, sizeof ctx->error, "invalid params: %s", err);
        return -1;
    }
    if (oma_image_job_decode(ctx, "image", &src) != 0) goto done;
    if (ctx->progress && ctx->progress(ctx, 0.3, "resizing", NULL, 0)) {
        snprintf(ctx->error, sizeof ctx->error, "cancelled");
        goto done;
    }
    if (oma_normalize_image(&src, &o, &out, err, sizeof err) != 0) {
        snprintf(ctx->error, sizeof ctx->error, "%s", err);
        goto done;
    }
    rc = oma_image_job_finish(ctx, 0.7, &out,
                              json_pack("{s:i,s:i,s:i,s:i}", "width", out.w, "height", out.h,
                                        "source_width", src.w, "source_height", src.h));
done:
    oma_image_free(&out);
    oma_image_free(&src);
    return rc;
}

static const char *const required_inputs[] = {"image", NULL};

const oma_job_kind oma_kind_image_normalize = {
    .name = "image.normalize",
    .title = "Normalise an image (rotate, resize, crop)",
    .required_inputs = required_inputs,
    .available = kind_available,
    .validate = kind_validate,
    .run = kind_run,
};
