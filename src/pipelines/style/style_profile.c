/* style_profile.c — learns a style profile from samples fed one at a time.
 *
 * Each sample contributes equally whatever its size: colours go into an RGB555 histogram and
 * luma into a 256-bin histogram, both normalised per image; line and screentone statistics are
 * pooled. finish() clusters the colour histogram (k-means++ in Lab, bins as weighted points)
 * and finds tone levels as the prominent peaks of the luma histogram refined by 1-D k-means.
 */
#include "pipelines/style/style_profile.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/style/colorspace.h"
#include "pipelines/style/style_measure.h"

#define ANALYSIS_SIDE 512     /* palette/tones/saturation/contrast work on this size */
#define DETAIL_SIDE 2048      /* lines/screentone keep detail up to this size */

struct oma_style_learner {
    int k, n;
    double *rgb_hist;         /* 32768 bins (RGB555), weight per bin */
    double *rgb_sum;          /* 3 x 32768: weighted colour sums, so a bin stands for its mean */
    double luma_hist[256];
    double sat_sum, contrast_sum;
    oma_line_stats lines;
    oma_tone_stats tone;
};

oma_style_learner *oma_style_learner_new(int palette_k)
{
    if (palette_k < 0 || palette_k > OMA_PALETTE_MAX) return NULL;
    oma_style_learner *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->k = palette_k ? palette_k : 8;
    l->rgb_hist = calloc(32768, sizeof *l->rgb_hist);
    l->rgb_sum = calloc(3 * 32768, sizeof *l->rgb_sum);
    if (!l->rgb_hist || !l->rgb_sum) { free(l->rgb_hist); free(l->rgb_sum); free(l); return NULL; }
    return l;
}

void oma_style_learner_free(oma_style_learner *l)
{
    if (!l) return;
    free(l->rgb_hist);
    free(l->rgb_sum);
    free(l);
}

/* RGBA copy of img scaled so its longer side is at most side. */
static int scaled_rgba(const oma_image *img, int side, oma_image *out)
{
    oma_image rgba = {0};
    if (oma_image_convert(img, 4, &rgba) != 0) return -1;
    int m = img->w > img->h ? img->w : img->h;
    if (m <= side) { *out = rgba; return 0; }
    int w = (int)((long)img->w * side / m), h = (int)((long)img->h * side / m);
    if (w < 1) w = 1;
    if (h < 1) h = 1;
    int rc = oma_image_resize(&rgba, w, h, out);
    oma_image_free(&rgba);
    return rc;
}

int oma_style_learner_add(oma_style_learner *l, const oma_image *img, char *err, size_t errlen)
{
    if (!l || !img || !img->px || img->w <= 0 || img->h <= 0) {
        snprintf(err, errlen, "not an image");
        return -1;
    }
    if (l->n >= OMA_STYLE_MAX_SAMPLES) {
        snprintf(err, errlen, "too many samples (at most %d)", OMA_STYLE_MAX_SAMPLES);
        return -1;
    }
    oma_image small = {0}, big = {0};
    if (scaled_rgba(img, ANALYSIS_SIDE, &small) != 0 || scaled_rgba(img, DETAIL_SIDE, &big) != 0) {
        oma_image_free(&small);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = -1;
    size_t ns = (size_t)small.w * small.h, nb = (size_t)big.w * big.h;
    float *grey = malloc(nb * sizeof *grey);
    uint8_t *opaque = malloc(nb);
    double *hist = calloc(4 * 32768, sizeof *hist);   /* counts, then R, G, B sums */
    if (!grey || !opaque || !hist) { snprintf(err, errlen, "out of memory"); goto done; }

    /* Colour, luma, saturation, contrast on the small copy. */
    double luma[256] = {0}, cnt = 0, sat = 0, s1 = 0, s2 = 0;
    for (size_t i = 0; i < ns; i++) {
        const uint8_t *p = small.px + i * 4;
        if (p[3] < 128) continue;
        int bin = ((p[0] >> 3) << 10) | ((p[1] >> 3) << 5) | (p[2] >> 3);
        hist[bin] += 1;
        for (int c = 0; c < 3; c++) hist[32768 * (c + 1) + bin] += p[c];
        float y = oma_luma(p[0], p[1], p[2]);
        int b = (int)lroundf(y);
        luma[b > 255 ? 255 : b] += 1;
        sat += oma_hsv_saturation(p[0], p[1], p[2]);
        s1 += y; s2 += (double)y * y;
        cnt += 1;
    }
    if (cnt < 1) { snprintf(err, errlen, "image has no opaque pixels"); goto done; }
    for (int i = 0; i < 32768; i++) {
        l->rgb_hist[i] += hist[i] / cnt;
        for (int c = 0; c < 3; c++) l->rgb_sum[c * 32768 + i] += hist[32768 * (c + 1) + i] / cnt;
    }
    for (int i = 0; i < 256; i++) l->luma_hist[i] += luma[i] / cnt;
    l->sat_sum += sat / cnt;
    double mean = s1 / cnt, var = s2 / cnt - mean * mean;
    l->contrast_sum += sqrt(var > 0 ? var : 0) / 255.0;

    /* Lines and screentone on the detailed copy. */
    for (size_t i = 0; i < nb; i++) {
        const uint8_t *p = big.px + i * 4;
        opaque[i] = p[3] >= 128;
        grey[i] = opaque[i] ? oma_luma(p[0], p[1], p[2]) : 255.0f;
    }
    if (oma_measure_lines(grey, opaque, big.w, big.h, &l->lines) != 0 ||
        oma_measure_screentone(grey, big.w, big.h, &l->tone) != 0) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    l->n++;
    rc = 0;
done:
    free(grey); free(opaque); free(hist);
    oma_image_free(&small);
    oma_image_free(&big);
    return rc;
}

/* Tone levels: prominent peaks of the smoothed luma histogram seed a 1-D k-means. */
static int tone_levels(const double *hist, float *out)
{
    double sm[256];
    for (int i = 0; i < 256; i++) {
        double a = 0, ws = 0;
        for (int d = -4; d <= 4; d++) {
            int j = i + d;
            if (j < 0 || j > 255) continue;
            double wt = exp(-(double)(d * d) / 8.0);
            a += wt * hist[j]; ws += wt;
        }
        sm[i] = a / ws;
    }
    double mx = 0;
    for (int i = 0; i < 256; i++) if (sm[i] > mx) mx = sm[i];
    float peaks[64];
    int np = 0;
    for (int i = 0; i < 256 && np < 64; i++) {
        double v = sm[i];
        if ((i > 0 && sm[i - 1] >= v) || (i < 255 && sm[i + 1] > v)) continue;
        /* prominence: height above the higher of the lowest points on either side, up to a
         * higher peak */
        double lmin = v, rmin = v;
        int j, lopen, ropen;  /* a side that reaches the end of the range without a higher
                               * peak does not bound the prominence */
        for (j = i - 1; j >= 0 && sm[j] <= v; j--) if (sm[j] < lmin) lmin = sm[j];
        lopen = j < 0;
        for (j = i + 1; j <= 255 && sm[j] <= v; j++) if (sm[j] < rmin) rmin = sm[j];
        ropen = j > 255;
        double base = lopen && ropen ? (lmin < rmin ? lmin : rmin)
                      : lopen ? rmin : ropen ? lmin : (lmin > rmin ? lmin : rmin);
        if (v - base >= 0.05 * mx && v >= 0.02 * mx) peaks[np++] = (float)i;
    }
    int k = np < 2 ? 2 : np > OMA_STYLE_MAX_TONES ? OMA_STYLE_MAX_TONES : np;
    /* Keep the k highest peaks as seeds (sorted by position). */
    float seeds[OMA_STYLE_MAX_TONES];
    if (np >= k) {
        for (int a = 0; a < np; a++)
            for (int b = a + 1; b < np; b++)
                if (sm[(int)peaks[b]] > sm[(int)peaks[a]]) { float t = peaks[a]; peaks[a] = peaks[b]; peaks[b] = t; }
        for (int j = 0; j < k; j++) seeds[j] = peaks[j];
        for (int a = 1; a < k; a++)
            for (int b = a; b > 0 && seeds[b] < seeds[b - 1]; b--) { float t = seeds[b]; seeds[b] = seeds[b - 1]; seeds[b - 1] = t; }
    }
    float v[256], w[256];
    for (int i = 0; i < 256; i++) { v[i] = (float)i; w[i] = (float)hist[i]; }
    return oma_kmeans_1d(v, w, 256, k, np >= k ? seeds : NULL, out);
}

int oma_style_learner_finish(oma_style_learner *l, oma_style_profile *out, char *err, size_t errlen)
{
    if (!l || !out) { snprintf(err, errlen, "no learner"); return -1; }
    if (l->n < OMA_STYLE_MIN_SAMPLES) {
        snprintf(err, errlen, "need at least %d sample images, got %d", OMA_STYLE_MIN_SAMPLES, l->n);
        return -1;
    }
    memset(out, 0, sizeof *out);
    oma_lab *pts = malloc(32768 * sizeof *pts);
    float *w = malloc(32768 * sizeof *w);
    if (!pts || !w) { free(pts); free(w); snprintf(err, errlen, "out of memory"); return -1; }
    size_t n = 0;
    for (int i = 0; i < 32768; i++) {
        if (l->rgb_hist[i] <= 0) continue;
        double wi = l->rgb_hist[i];
        uint8_t r = (uint8_t)lround(l->rgb_sum[i] / wi), g = (uint8_t)lround(l->rgb_sum[32768 + i] / wi),
                b = (uint8_t)lround(l->rgb_sum[2 * 32768 + i] / wi);
        pts[n] = oma_rgb_to_lab(r, g, b);
        w[n] = (float)l->rgb_hist[i];
        n++;
    }
    int rc = oma_palette_kmeans(pts, w, n, l->k, 0x6f6d61u /* "oma" */, &out->palette);
    free(pts);
    free(w);
    if (rc != 0) { snprintf(err, errlen, "palette clustering failed"); return -1; }

    out->n_tones = tone_levels(l->luma_hist, out->tones);
    if (out->n_tones < 1) { snprintf(err, errlen, "tone clustering failed"); return -1; }

    if (l->lines.n > 0) {
        double half = l->lines.n / 2, acc = 0;
        int med = 1;
        for (int i = 1; i <= OMA_LINE_MAX_WIDTH; i++) {
            acc += l->lines.width_hist[i];
            if (acc >= half) { med = i; break; }
        }
        out->line_weight_px = (float)med;
        out->line_darkness = (float)(l->lines.darkness_sum / l->lines.n);
    } else {
        out->line_weight_px = 2.0f;
        out->line_darkness = 0.9f;
    }
    /* Screentone: periodic tiles in at least a fifth of the textured tiles, and at least 2. */
    out->screentone_present = l->tone.tone_tiles >= 2 && l->tone.tone_tiles * 5 >= l->tone.tiles;
    if (l->tone.tone_tiles > 0) {
        out->screentone_density = (float)(l->tone.density_sum / l->tone.tone_tiles);
        out->screentone_frequency = (float)(l->tone.tone_tiles / l->tone.period_sum);
    }
    out->saturation = (float)(l->sat_sum / l->n);
    out->contrast = (float)(l->contrast_sum / l->n);
    out->n_samples = l->n;
    return 0;
}

void oma_style_profile_default(oma_style_profile *p)
{
    memset(p, 0, sizeof *p);
    p->palette.n = 8;
    for (int i = 0; i < 8; i++) {
        uint8_t g = (uint8_t)(i * 255 / 7);
        p->palette.rgb[i][0] = p->palette.rgb[i][1] = p->palette.rgb[i][2] = g;
        p->palette.lab[i] = oma_rgb_to_lab(g, g, g);
        p->palette.weight[i] = 1.0f / 8;
    }
    p->n_tones = 3;
    p->tones[0] = 40; p->tones[1] = 150; p->tones[2] = 255;
    p->line_weight_px = 2.0f;
    p->line_darkness = 0.95f;
    p->screentone_frequency = 0.125f;
    p->screentone_density = 0.3f;
    p->saturation = 0.0f;
    p->contrast = 0.25f;
}
