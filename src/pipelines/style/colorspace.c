/* colorspace.c — sRGB <-> CIELAB (D65 white, 2° observer) and luma.
 * sRGB decoding uses a 256-entry table built once (pthread_once, so worker threads may race). */
#include "pipelines/style/colorspace.h"

#include <math.h>
#include <pthread.h>

static float srgb_lin[256];
static pthread_once_t srgb_once = PTHREAD_ONCE_INIT;

static void build_table(void)
{
    for (int i = 0; i < 256; i++) {
        double c = i / 255.0;
        srgb_lin[i] = (float)(c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4));
    }
}

static float lab_f(float t)
{
    const float d = 6.0f / 29.0f;
    return t > d * d * d ? cbrtf(t) : t / (3 * d * d) + 4.0f / 29.0f;
}

static float lab_finv(float t)
{
    const float d = 6.0f / 29.0f;
    return t > d ? t * t * t : 3 * d * d * (t - 4.0f / 29.0f);
}

oma_lab oma_rgb_to_lab(uint8_t r8, uint8_t g8, uint8_t b8)
{
    pthread_once(&srgb_once, build_table);
    float r = srgb_lin[r8], g = srgb_lin[g8], b = srgb_lin[b8];
    float x = (0.4124564f * r + 0.3575761f * g + 0.1804375f * b) / 0.95047f;
    float y = 0.2126729f * r + 0.7151522f * g + 0.0721750f * b;
    float z = (0.0193339f * r + 0.1191920f * g + 0.9503041f * b) / 1.08883f;
    float fx = lab_f(x), fy = lab_f(y), fz = lab_f(z);
    oma_lab o = {116.0f * fy - 16.0f, 500.0f * (fx - fy), 200.0f * (fy - fz)};
    return o;
}

static uint8_t to8(float lin)
{
    if (lin <= 0) return 0;
    if (lin >= 1) return 255;
    float c = lin <= 0.0031308f ? 12.92f * lin : 1.055f * powf(lin, 1.0f / 2.4f) - 0.055f;
    long v = lroundf(c * 255.0f);
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

void oma_lab_to_rgb(oma_lab lab, uint8_t rgb[3])
{
    float fy = (lab.L + 16.0f) / 116.0f, fx = fy + lab.a / 500.0f, fz = fy - lab.b / 200.0f;
    float x = 0.95047f * lab_finv(fx), y = lab_finv(fy), z = 1.08883f * lab_finv(fz);
    float r = 3.2404542f * x - 1.5371385f * y - 0.4985314f * z;
    float g = -0.9692660f * x + 1.8760108f * y + 0.0415560f * z;
    float b = 0.0556434f * x - 0.2040259f * y + 1.0572252f * z;
    rgb[0] = to8(r);
    rgb[1] = to8(g);
    rgb[2] = to8(b);
}

float oma_luma(uint8_t r, uint8_t g, uint8_t b)
{
    return 0.2126f * r + 0.7152f * g + 0.0722f * b;
}

float oma_hsv_saturation(uint8_t r, uint8_t g, uint8_t b)
{
    int mx = r > g ? (r > b ? r : b) : (g > b ? g : b);
    int mn = r < g ? (r < b ? r : b) : (g < b ? g : b);
    return mx == 0 ? 0.0f : (float)(mx - mn) / (float)mx;
}
