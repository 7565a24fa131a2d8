/* tone.c — tone classes (1-D k-means on the histogram) and halftone screens (see tone.h). */
#include "pipelines/style/tone.h"

#include <math.h>
#include <string.h>

#include "pipelines/style/palette.h"

int oma_tone_type_parse(const char *s)
{
    if (!s) return -1;
    if (strcmp(s, "none") == 0) return OMA_TONE_NONE;
    if (strcmp(s, "dots") == 0) return OMA_TONE_DOTS;
    if (strcmp(s, "lines") == 0) return OMA_TONE_LINES;
    return -1;
}

const char *oma_tone_type_name(oma_tone_type t)
{
    return t == OMA_TONE_DOTS ? "dots" : t == OMA_TONE_LINES ? "lines" : "none";
}

void oma_screen_init(oma_screen *sc, oma_tone_type type, float frequency, float angle_deg)
{
    const float pi = 3.14159265358979f;
    sc->type = type;
    sc->freq = frequency;
    sc->c = cosf(angle_deg * pi / 180.0f);
    sc->s = sinf(angle_deg * pi / 180.0f);
}

float oma_disc_coverage(float r)
{
    const float pi = 3.14159265358979f;
    if (r <= 0) return 0;
    if (r <= 0.5f) return pi * r * r;
    if (r >= 0.70710678f) return 1;
    /* disc minus the four caps outside the cell */
    float cap = r * r * acosf(0.5f / r) - 0.5f * sqrtf(r * r - 0.25f);
    float a = pi * r * r - 4 * cap;
    return a > 1 ? 1 : a;
}

int oma_screen_ink(const oma_screen *sc, int x, int y, float density)
{
    if (sc->type == OMA_TONE_NONE || density <= 0) return 0;
    if (density >= 1) return 1;
    float px = (float)x + 0.5f, py = (float)y + 0.5f;
    float u = (px * sc->c + py * sc->s) * sc->freq, v = (-px * sc->s + py * sc->c) * sc->freq;
    float fv = v - floorf(v) - 0.5f;
    if (sc->type == OMA_TONE_LINES) return fabsf(fv) < density * 0.5f;
    float fu = u - floorf(u) - 0.5f;
    return oma_disc_coverage(sqrtf(fu * fu + fv * fv)) < density;
}

int oma_tone_classes(const float *lum, size_t n, int k, float *centres, uint8_t *cls)
{
    if (!lum || !centres || n == 0 || k < 1 || k > 64) return -1;
    float v[256], w[256];
    for (int i = 0; i < 256; i++) { v[i] = (float)i; w[i] = 0; }
    for (size_t i = 0; i < n; i++) {
        int b = (int)lroundf(lum[i]);
        w[b < 0 ? 0 : b > 255 ? 255 : b] += 1;
    }
    /* Seed at quantiles so every class starts with pixels. */
    float seeds[64], acc = 0;
    int j = 0;
    for (int i = 0; i < 256 && j < k; i++) {
        acc += w[i];
        while (j < k && acc >= ((float)j + 0.5f) * (float)n / (float)k) seeds[j++] = (float)i;
    }
    while (j < k) { seeds[j] = 255; j++; }
    /* Seeds may repeat on a peaky histogram; k-means then leaves some classes empty. */
    int m = oma_kmeans_1d(v, w, 256, k, seeds, centres);
    if (m < 1) return -1;
    if (cls) {
        uint8_t map[256];
        for (int i = 0; i < 256; i++) {
            int best = 0;
            for (int c = 1; c < m; c++)
                if (fabsf((float)i - centres[c]) < fabsf((float)i - centres[best])) best = c;
            map[i] = (uint8_t)best;
        }
        for (size_t i = 0; i < n; i++) {
            int b = (int)lroundf(lum[i]);
            cls[i] = map[b < 0 ? 0 : b > 255 ? 255 : b];
        }
    }
    return m;
}
