/* lineart.c — the LT conversion itself (see lineart.h for the steps and the idea). */
#include "pipelines/style/lineart.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/style/colorspace.h"
#include "pipelines/style/filters.h"

void oma_convert_opts_default(oma_convert_opts *o)
{
    o->line_width = 0;
    o->line_threshold = -1;
    o->tone_levels = 0;
    o->tone_type = -1;
    o->tone_frequency = 0;
    o->tone_angle = 45;
    o->color = -1;
    o->max_side = 4096;
}

int oma_convert_opts_check(const oma_convert_opts *o, char *err, size_t errlen)
{
    if (o->line_width != 0 && !(o->line_width >= 0.5f && o->line_width <= 32)) {
        snprintf(err, errlen, "line width must be in [0.5, 32] pixels");
        return -1;
    }
    if (o->line_threshold >= 0 ? !(o->line_threshold <= 1) : o->line_threshold != -1) {
        snprintf(err, errlen, "line threshold must be in [0, 1]");
        return -1;
    }
    if (o->tone_levels != 0 && (o->tone_levels < 2 || o->tone_levels > OMA_STYLE_MAX_TONES)) {
        snprintf(err, errlen, "tone levels must be in [2, %d]", OMA_STYLE_MAX_TONES);
        return -1;
    }
    if (o->tone_type < -1 || o->tone_type > OMA_TONE_LINES) {
        snprintf(err, errlen, "tone type must be none, dots or lines");
        return -1;
    }
    if (o->tone_frequency != 0 && !(o->tone_frequency >= 0.02f && o->tone_frequency <= 0.5f)) {
        snprintf(err, errlen, "tone frequency must be in [0.02, 0.5] cycles per pixel");
        return -1;
    }
    if (!(o->tone_angle >= -360 && o->tone_angle <= 360)) {
        snprintf(err, errlen, "tone angle must be in [-360, 360] degrees");
        return -1;
    }
    if (o->color < -1 || o->color > 1 || o->max_side < 16 || o->max_side > 8192) {
        snprintf(err, errlen, "bad colour or size option");
        return -1;
    }
    return 0;
}

void oma_convert_result_free(oma_convert_result *r)
{
    if (!r) return;
    oma_image_free(&r->composite);
    oma_image_free(&r->lines);
    oma_image_free(&r->flats);
    oma_image_free(&r->tones);
}

/* 3x3 majority filter on labels (ties keep the centre). */
static int majority(uint8_t *lab, int w, int h, int nlabels)
{
    size_t n = (size_t)w * h;
    uint8_t *out = malloc(n);
    if (!out) return -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int cnt[256];
            uint8_t seen[9];
            int ns = 0;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++) {
                    int qx = x + dx, qy = y + dy;
                    if (qx < 0 || qy < 0 || qx >= w || qy >= h) continue;
                    uint8_t l = lab[(size_t)qy * w + qx];
                    int k;
                    for (k = 0; k < ns; k++) if (seen[k] == l) break;
                    if (k == ns) { seen[ns++] = l; cnt[l] = 0; }
                    cnt[l]++;
                }
            uint8_t c = lab[(size_t)y * w + x], best = c;
            for (int k = 0; k < ns; k++) if (cnt[seen[k]] > cnt[best]) best = seen[k];
            out[(size_t)y * w + x] = best;
        }
    (void)nlabels;
    memcpy(lab, out, n);
    free(out);
    return 0;
}

/* RGB working copy: alpha composited over white, scaled to max_side. */
static int prepare(const oma_image *photo, int max_side, oma_image *rgb)
{
    oma_image tmp = {0};
    if (oma_image_rgb_on_white(photo, &tmp) != 0) return -1;
    int m = photo->w > photo->h ? photo->w : photo->h;
    if (m <= max_side) { *rgb = tmp; return 0; }
    int w = (int)((long)photo->w * max_side / m), h = (int)((long)photo->h * max_side / m);
    int rc = oma_image_resize(&tmp, w < 1 ? 1 : w, h < 1 ? 1 : h, rgb);
    oma_image_free(&tmp);
    return rc;
}

#define STEP(f, msg)                                                             \
    do {                                                                         \
        if (progress && progress(pctx, (f), (msg))) {                            \
            snprintf(err, errlen, "cancelled");                                  \
            goto fail;                                                           \
        }                                                                        \
    } while (0)

int oma_convert_lineart(const oma_image *photo, const oma_style_profile *style,
                        const oma_convert_opts *opts, oma_convert_progress progress, void *pctx,
                        oma_convert_result *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!photo || !photo->px || photo->w < 1 || photo->h < 1 || !style || !opts) {
        snprintf(err, errlen, "no image");
        return -1;
    }
    if (oma_convert_opts_check(opts, err, errlen) != 0) return -1;
    if (style->palette.n < 1 || style->n_tones < 1) {
        snprintf(err, errlen, "style has an empty palette or no tone levels");
        return -1;
    }
    oma_image rgb = {0};
    float *lab = NULL, *L = NULL, *g1 = NULL, *g2 = NULL;
    uint8_t *line = NULL, *cls = NULL, *tcls = NULL;
    if (prepare(photo, opts->max_side, &rgb) != 0) { snprintf(err, errlen, "out of memory"); return -1; }
    int w = rgb.w, h = rgb.h;
    size_t n = (size_t)w * h;
    lab = malloc(n * 3 * sizeof *lab);
    L = malloc(n * sizeof *L);
    g1 = malloc(n * sizeof *g1);
    g2 = malloc(n * sizeof *g2);
    line = malloc(n);
    cls = malloc(n);
    if (!lab || !L || !g1 || !g2 || !line || !cls) goto oom;

    /* Options resolved against the profile. */
    float lw = opts->line_width > 0 ? opts->line_width : style->line_weight_px;
    if (lw < 0.5f) lw = 0.5f;
    float lt = opts->line_threshold >= 0 ? opts->line_threshold : 0.5f;
    int color = opts->color >= 0 ? opts->color : style->saturation >= 0.12f;
    int levels = opts->tone_levels > 0 ? opts->tone_levels : style->n_tones;
    if (levels < 2) levels = 2;
    int ttype = opts->tone_type >= 0 ? opts->tone_type : style->screentone_present ? OMA_TONE_DOTS : OMA_TONE_NONE;
    float freq = opts->tone_frequency > 0 ? opts->tone_frequency
                 : style->screentone_frequency >= 0.02f && style->screentone_frequency <= 0.5f ? style->screentone_frequency
                 : 0.125f;

    STEP(0.05, "smoothing");
    for (size_t i = 0; i < n; i++) {
        oma_lab c = oma_rgb_to_lab(rgb.px[i * 3], rgb.px[i * 3 + 1], rgb.px[i * 3 + 2]);
        lab[i * 3] = c.L; lab[i * 3 + 1] = c.a; lab[i * 3 + 2] = c.b;
    }
    if (oma_bilateral_lab(lab, w, h, 3.0f, 8.0f, 2) != 0) goto oom;

    /* Lines: XDoG on lightness. Dark side of an edge: the narrow blur is darker than the wide. */
    STEP(0.35, "lines");
    for (size_t i = 0; i < n; i++) L[i] = lab[i * 3] / 100.0f;
    float sigma = 0.8f + 0.25f * lw;
    if (oma_gauss_blur(L, g1, w, h, sigma) != 0 || oma_gauss_blur(L, g2, w, h, 1.6f * sigma) != 0) goto oom;
    float eps = 0.003f + 0.03f * lt * lt;
    for (size_t i = 0; i < n; i++) line[i] = (g2[i] - g1[i]) > eps;
    int min_area = (int)(8.0f * lw + 4.0f);
    if (oma_mask_remove_small(line, w, h, min_area) < 0) goto oom;
    if (lw > 3.0f && oma_mask_dilate(line, w, h, (lw - 3.0f) / 2.0f) != 0) goto oom;

    /* Flats. */
    STEP(0.55, "flats");
    uint8_t pal_rgb[256][3];
    int nlabels;
    float tone_val[OMA_STYLE_MAX_TONES];
    int ntone = 0;
    if (color) {
        double m[3] = {0, 0, 0}, v[3] = {0, 0, 0};
        for (size_t i = 0; i < n; i++)
            for (int c = 0; c < 3; c++) m[c] += lab[i * 3 + c];
        for (int c = 0; c < 3; c++) m[c] /= (double)n;
        for (size_t i = 0; i < n; i++)
            for (int c = 0; c < 3; c++) { double d = lab[i * 3 + c] - m[c]; v[c] += d * d; }
        float pm[3], psd[3], scale[3];
        oma_palette_stats(&style->palette, pm, psd);
        for (int c = 0; c < 3; c++) {
            double sd = sqrt(v[c] / (double)n);
            scale[c] = sd > 1e-3 ? (float)(psd[c] / sd) : 1.0f;
            if (scale[c] > 4.0f) scale[c] = 4.0f; /* a grey photo onto a colourful palette */
        }
        for (size_t i = 0; i < n; i++) {
            oma_lab t = {(float)((lab[i * 3] - m[0]) * scale[0] + pm[0]),
                         (float)((lab[i * 3 + 1] - m[1]) * scale[1] + pm[1]),
                         (float)((lab[i * 3 + 2] - m[2]) * scale[2] + pm[2])};
            cls[i] = (uint8_t)oma_palette_nearest(&style->palette, t);
        }
        nlabels = style->palette.n;
        memcpy(pal_rgb, style->palette.rgb, (size_t)nlabels * 3);
    }
    /* Tone classes on lightness (0..255) for the screen, and the flats when grey. */
    tcls = malloc(n);
    if (!tcls) goto oom;
    for (size_t i = 0; i < n; i++) g1[i] = lab[i * 3] * 2.55f;
    float centres[OMA_STYLE_MAX_TONES];
    ntone = oma_tone_classes(g1, n, levels, centres, tcls);
    if (ntone < 1) goto oom;
    /* Class i (dark to light) takes the profile's tone level; other counts spread over its range. */
    for (int i = 0; i < ntone; i++) {
        if (ntone == style->n_tones) tone_val[i] = style->tones[i];
        else {
            float lo = style->tones[0], hi = style->n_tones > 1 ? style->tones[style->n_tones - 1] : 255.0f;
            tone_val[i] = ntone > 1 ? lo + (hi - lo) * (float)i / (float)(ntone - 1) : lo;
        }
    }
    if (majority(tcls, w, h, ntone) != 0) goto oom;
    if (!color) {
        memcpy(cls, tcls, n);
        nlabels = ntone;
        for (int i = 0; i < ntone; i++) {
            uint8_t g = ttype == OMA_TONE_NONE ? (uint8_t)lroundf(tone_val[i]) : 255;
            pal_rgb[i][0] = pal_rgb[i][1] = pal_rgb[i][2] = g;
        }
    }
    if (majority(cls, w, h, nlabels) != 0 || majority(cls, w, h, nlabels) != 0) goto oom;

    /* Layers and composite. */
    STEP(0.8, "layers");
    if (oma_image_alloc(&out->composite, w, h, 3) || oma_image_alloc(&out->lines, w, h, 4) ||
        oma_image_alloc(&out->flats, w, h, 4) || oma_image_alloc(&out->tones, w, h, 4))
        goto oom;
    oma_screen sc;
    oma_screen_init(&sc, (oma_tone_type)ttype, freq, opts->tone_angle);
    float dens[OMA_STYLE_MAX_TONES];
    for (int i = 0; i < ntone; i++) {
        float d = i == ntone - 1 ? 0.0f : 1.0f - tone_val[i] / 255.0f; /* highlights stay paper */
        if (color) d = 0.5f - tone_val[i] / 255.0f; /* colour carries the shading; dots only in shadow */
        dens[i] = d < 0.08f ? 0 : d > 0.95f ? 0.95f : d;
    }
    uint8_t ink = (uint8_t)lroundf((1.0f - style->line_darkness) * 255.0f);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            uint8_t *f = out->flats.px + i * 4, *t = out->tones.px + i * 4, *l = out->lines.px + i * 4;
            uint8_t *o = out->composite.px + i * 3;
            f[0] = pal_rgb[cls[i]][0]; f[1] = pal_rgb[cls[i]][1]; f[2] = pal_rgb[cls[i]][2]; f[3] = 255;
            o[0] = f[0]; o[1] = f[1]; o[2] = f[2];
            if (oma_screen_ink(&sc, x, y, dens[tcls[i]])) {
                t[3] = 255; /* black ink */
                o[0] = o[1] = o[2] = 0;
            }
            if (line[i]) {
                l[0] = l[1] = l[2] = ink; l[3] = 255;
                o[0] = o[1] = o[2] = ink;
            }
        }
    out->levels = ntone;
    out->color = color;
    out->tone = (oma_tone_type)ttype;
    STEP(1.0, "done");
    free(lab); free(L); free(g1); free(g2); free(line); free(cls); free(tcls);
    oma_image_free(&rgb);
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    free(lab); free(L); free(g1); free(g2); free(line); free(cls); free(tcls);
    oma_image_free(&rgb);
    oma_convert_result_free(out);
    return -1;
}
