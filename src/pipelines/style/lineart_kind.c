/* lineart_kind.c — job kind "convert.lineart": input "image", params {style?, style_id?,
 * line_width?, line_threshold?, tone_levels?, tone_type?, tone_frequency?, tone_angle?,
 * color?, psd?}. "style" is a style profile object the worker copies from the artist's style
 * named by style_id (without one, a neutral grey profile). Outputs image.png (composite),
 * lines.png, flats.png, tones.png (RGBA layers) and layers.psd (unless psd is false);
 * result {"width","height","levels","color","tone"}. Progress follows the conversion steps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/image.h"
#include "formats/psd.h"
#include "pipelines/image/image_job.h"
#include "pipelines/job_kind.h"
#include "pipelines/style/lineart.h"

static int always(const char *models_dir)
{
    (void)models_dir;
    return 1;
}

static int get_num(const json_t *params, const char *key, double *out, int *present, char *err, size_t errlen)
{
    const json_t *v = json_object_get(params, key);
    *present = v != NULL && !json_is_null(v);
    if (!*present) return 0;
    if (!json_is_number(v)) { snprintf(err, errlen, "params.%s must be a number", key); return -1; }
    *out = json_number_value(v);
    return 0;
}

/* params -> options and profile. 0 or -1 with err. */
static int read_params(const json_t *params, oma_convert_opts *o, oma_style_profile *prof, int *psd,
                       char *err, size_t errlen)
{
    if (!json_is_object(params)) { snprintf(err, errlen, "params must be an object"); return -1; }
    oma_convert_opts_default(o);
    double d;
    int has;
    if (get_num(params, "line_width", &d, &has, err, errlen)) return -1;
    if (has) {
        if (!(d >= 0.5 && d <= 32)) { snprintf(err, errlen, "params.line_width must be in [0.5, 32]"); return -1; }
        o->line_width = (float)d;
    }
    if (get_num(params, "line_threshold", &d, &has, err, errlen)) return -1;
    if (has) {
        if (!(d >= 0 && d <= 1)) { snprintf(err, errlen, "params.line_threshold must be in [0, 1]"); return -1; }
        o->line_threshold = (float)d;
    }
    const json_t *tl = json_object_get(params, "tone_levels");
    if (tl && !json_is_null(tl)) {
        if (!json_is_integer(tl) || json_integer_value(tl) < 2 || json_integer_value(tl) > OMA_STYLE_MAX_TONES) {
            snprintf(err, errlen, "params.tone_levels must be an integer in [2, %d]", OMA_STYLE_MAX_TONES);
            return -1;
        }
        o->tone_levels = (int)json_integer_value(tl);
    }
    const json_t *tt = json_object_get(params, "tone_type");
    if (tt && !json_is_null(tt)) {
        o->tone_type = json_is_string(tt) ? oma_tone_type_parse(json_string_value(tt)) : -1;
        if (o->tone_type < 0) { snprintf(err, errlen, "params.tone_type must be \"none\", \"dots\" or \"lines\""); return -1; }
    }
    if (get_num(params, "tone_frequency", &d, &has, err, errlen)) return -1;
    if (has) {
        if (!(d >= 0.02 && d <= 0.5)) { snprintf(err, errlen, "params.tone_frequency must be in [0.02, 0.5] cycles per pixel"); return -1; }
        o->tone_frequency = (float)d;
    }
    if (get_num(params, "tone_angle", &d, &has, err, errlen)) return -1;
    if (has) {
        if (!(d >= -360 && d <= 360)) { snprintf(err, errlen, "params.tone_angle must be in [-360, 360]"); return -1; }
        o->tone_angle = (float)d;
    }
    const json_t *c = json_object_get(params, "color");
    if (c && !json_is_null(c)) {
        if (!json_is_boolean(c)) { snprintf(err, errlen, "params.color must be true or false"); return -1; }
        o->color = json_is_true(c);
    }
    const json_t *p = json_object_get(params, "psd");
    if (p && !json_is_null(p) && !json_is_boolean(p)) { snprintf(err, errlen, "params.psd must be true or false"); return -1; }
    *psd = !p || json_is_null(p) || json_is_true(p);
    const json_t *sid = json_object_get(params, "style_id");
    if (sid && !json_is_null(sid) && !json_is_string(sid)) { snprintf(err, errlen, "params.style_id must be a string"); return -1; }
    const json_t *st = json_object_get(params, "style");
    if (st && !json_is_null(st)) {
        char e2[400];
        if (oma_style_profile_from_json(st, prof, e2, sizeof e2) != 0) {
            snprintf(err, errlen, "params.style: %s", e2);
            return -1;
        }
    } else {
        oma_style_profile_default(prof);
    }
    return oma_convert_opts_check(o, err, errlen);
}

static int validate(const json_t *params, char *err, size_t errlen)
{
    oma_convert_opts o;
    oma_style_profile p;
    int psd;
    return read_params(params, &o, &p, &psd, err, errlen);
}

static int on_progress(void *pctx, double f, const char *msg)
{
    oma_job_ctx *ctx = pctx;
    return ctx->progress ? ctx->progress(ctx, 0.9 * f, msg, NULL, 0) : 0;
}

static int run(oma_job_ctx *ctx)
{
    oma_convert_opts o;
    oma_style_profile prof;
    int want_psd;
    if (read_params(ctx->params, &o, &prof, &want_psd, ctx->error, sizeof ctx->error)) return -1;
    const oma_job_input *in = oma_job_input_find(ctx, "image");
    if (!in) { snprintf(ctx->error, sizeof ctx->error, "inputs.image is required"); return -1; }
    oma_image photo = {0};
    oma_image_limits lim = oma_image_default_limits();
    char err[256];
    if (oma_image_decode(in->data, in->len, 0, 1, &lim, &photo, err, sizeof err) != 0) {
        snprintf(ctx->error, sizeof ctx->error, "inputs.image is not a usable image: %s", err);
        return -1;
    }
    oma_convert_result r;
    int rc = oma_convert_lineart(&photo, &prof, &o, on_progress, ctx, &r, ctx->error, sizeof ctx->error);
    oma_image_free(&photo);
    if (rc) return -1;
    rc = -1;
    if (oma_image_job_put_png(ctx, "image.png", &r.composite) ||
        oma_image_job_put_png(ctx, "lines.png", &r.lines) ||
        oma_image_job_put_png(ctx, "flats.png", &r.flats) ||
        oma_image_job_put_png(ctx, "tones.png", &r.tones))
        goto end;
    if (want_psd) {
        oma_psd_layer layers[3] = {{"flats", &r.flats}, {"tones", &r.tones}, {"lines", &r.lines}};
        uint8_t *buf = NULL;
        size_t len = 0;
        if (oma_psd_write(&r.composite, layers, 3, &buf, &len, ctx->error, sizeof ctx->error)) goto end;
        int a = ctx->add_output(ctx, "layers.psd", "image/vnd.adobe.photoshop", buf, len);
        free(buf);
        if (a) { snprintf(ctx->error, sizeof ctx->error, "could not store layers.psd"); goto end; }
    }
    ctx->result = json_pack("{s:i,s:i,s:i,s:b,s:s}", "width", r.composite.w, "height", r.composite.h,
                            "levels", r.levels, "color", r.color, "tone", oma_tone_type_name(r.tone));
    if (!ctx->result) { snprintf(ctx->error, sizeof ctx->error, "out of memory"); goto end; }
    if (ctx->progress && ctx->progress(ctx, 1.0, "done", NULL, 0)) {
        /* cancelled at the very end: the contract still says stop (job_kind.h) */
        json_decref(ctx->result);
        ctx->result = NULL;
        snprintf(ctx->error, sizeof ctx->error, "cancelled");
        goto end;
    }
    rc = 0;
end:
    oma_convert_result_free(&r);
    return rc;
}

static const char *const required[] = {"image", NULL};

const oma_job_kind oma_kind_convert_lineart = {
    .name = "convert.lineart",
    .title = "Convert a photo to line + tone art (weight-free)",
    .required_inputs = required,
    .available = always,
    .validate = validate,
    .run = run,
};
