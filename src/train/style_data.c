/* style_data.c — caption templates and image preprocessing of the style recipe
 * (style_data.h). */
#include "train/style_data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const oma_style_templates[OMA_STYLE_N_TEMPLATES] = {
    "a painting in the style of {}",     "a rendering in the style of {}",
    "a cropped painting in the style of {}", "the painting in the style of {}",
    "a clean painting in the style of {}", "a dirty painting in the style of {}",
    "a dark painting in the style of {}", "a picture in the style of {}",
    "a cool painting in the style of {}", "a close-up painting in the style of {}",
    "a bright painting in the style of {}", "a cropped painting in the style of {}",
    "a good painting in the style of {}", "a close-up painting in the style of {}",
    "a rendition in the style of {}",    "a nice painting in the style of {}",
    "a small painting in the style of {}", "a weird painting in the style of {}",
    "a large painting in the style of {}",
};

int oma_style_caption_ids(const oma_clip_tokenizer *tok, int template_index, int vocab_size,
                          int32_t *ids, char *err, size_t errlen)
{
    if (template_index < 0 || template_index >= OMA_STYLE_N_TEMPLATES) {
        snprintf(err, errlen, "train: no caption template %d", template_index);
        return -1;
    }
    const char *tpl = oma_style_templates[template_index];
    const char *ph = strstr(tpl, "{}");
    char before[128];
    size_t nb = (size_t)(ph - tpl);
    if (nb >= sizeof before)
        nb = sizeof before - 1;
    memcpy(before, tpl, nb);
    before[nb] = 0;
    int *t = NULL;
    size_t n = 0;
    if (oma_clip_tokenize(tok, before, &t, &n, err, errlen) != 0)
        return -1;
    if (n + 4 > OMA_CLIP_CONTEXT) {
        free(t);
        snprintf(err, errlen, "train: caption too long");
        return -1;
    }
    int k = 0;
    ids[k++] = oma_clip_bos(tok);
    for (size_t i = 0; i < n; i++)
        ids[k++] = t[i];
    free(t);
    ids[k++] = vocab_size;
    ids[k++] = vocab_size + 1;
    ids[k++] = oma_clip_eos(tok);
    while (k < OMA_CLIP_CONTEXT)
        ids[k++] = oma_clip_pad(tok);
    return 0;
}

static float clamp01(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

/* torchvision's adjust_brightness / adjust_contrast on [0, 1] RGB floats (HWC here). */
static void brightness(float *px, int64_t n, float f)
{
    for (int64_t i = 0; i < n * 3; i++)
        px[i] = clamp01(px[i] * f);
}

static void contrast(float *px, int64_t n, float f)
{
    double mean = 0;
    for (int64_t i = 0; i < n; i++)
        mean += 0.299 * px[3 * i] + 0.587 * px[3 * i + 1] + 0.114 * px[3 * i + 2];
    float m = (float)(mean / (double)n);
    for (int64_t i = 0; i < n * 3; i++)
        px[i] = clamp01(f * px[i] + (1.0f - f) * m);
}

int oma_style_prepare_image(const oma_image *src, int res, int jitter, int flip,
                            oma_train_rng *rng, float *out, char *err, size_t errlen)
{
    if (res < 8 || src->w < 1 || src->h < 1) {
        snprintf(err, errlen, "train: bad image or resolution");
        return -1;
    }
    oma_image rgb = {0}, scaled = {0}, crop = {0};
    int rc = -1;
    if (oma_image_convert(src, 3, &rgb) != 0)
        goto oom;
    /* shorter side to res, aspect kept (torchvision Resize(int)) */
    int w, h;
    if (rgb.w <= rgb.h) {
        w = res;
        h = (int)((int64_t)rgb.h * res / rgb.w);
    } else {
        h = res;
        w = (int)((int64_t)rgb.w * res / rgb.h);
    }
    if (w == rgb.w && h == rgb.h) {
        scaled = rgb;
        memset(&rgb, 0, sizeof rgb);
    } else if (oma_image_resize(&rgb, w, h, &scaled) != 0)
        goto oom;
    if (oma_image_crop(&scaled, (w - res) / 2, (h - res) / 2, res, res, &crop) != 0)
        goto oom;
    int64_t n = (int64_t)res * res;
    float *px = malloc((size_t)n * 3 * sizeof(float));
    if (!px)
        goto oom;
    for (int64_t i = 0; i < n * 3; i++)
        px[i] = crop.px[i] / 255.0f;
    if (jitter) {
        float fb = (float)(0.9 + 0.2 * oma_train_rng_uniform(rng));
        float fc = (float)(0.9 + 0.2 * oma_train_rng_uniform(rng));
        if (oma_train_rng_below(rng, 2)) {
            brightness(px, n, fb);
            contrast(px, n, fc);
        } else {
            contrast(px, n, fc);
            brightness(px, n, fb);
        }
    }
    int mirror = flip && oma_train_rng_below(rng, 2);
    for (int y = 0; y < res; y++)
        for (int x = 0; x < res; x++) {
            int sx = mirror ? res - 1 - x : x;
            for (int c = 0; c < 3; c++)
                out[(int64_t)c * n + (int64_t)y * res + x] =
                    (px[((int64_t)y * res + sx) * 3 + c] - 0.5f) / 0.5f;
        }
    free(px);
    rc = 0;
    goto done;
oom:
    snprintf(err, errlen, "train: out of memory preparing an image");
done:
    oma_image_free(&rgb);
    oma_image_free(&scaled);
    oma_image_free(&crop);
    return rc;
}
