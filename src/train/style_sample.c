/* style_sample.c — DDIM preview of a style in training (style_sample.h). */
#include "train/style_sample.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/clip_train.h"
#include "train/style_data.h"
#include "train/train_rng.h"

#define GUIDANCE 7.5f

static int encode(oma_style_trainer *tr, const int32_t *ids, oma_tensor *ctx, char *err,
                  size_t errlen)
{
    oma_clip_tape tape;
    return oma_clip_train_forward(&tr->m->text, ids, 77, tr->emb, 2, &tr->ar, &tape, ctx, err,
                                  errlen);
}

int oma_style_sample_image(oma_style_trainer *tr, int size, int steps, uint64_t seed,
                           uint8_t *rgb, char *err, size_t errlen)
{
    oma_sd_model *m = tr->m;
    if (size < 64 || size % 64 || steps < 1 || steps > 1000) {
        snprintf(err, errlen, "train: preview size %d / %d steps not supported", size, steps);
        return -1;
    }
    oma_arena *ar = &tr->ar;
    oma_arena_mark mk = oma_arena_get_mark(ar);
    int32_t ids[77], un[77];
    int rc = -1;
    if (oma_style_caption_ids(m->tok, 0, m->text.p.vocab_size, ids, err, errlen) != 0)
        return -1;
    un[0] = oma_clip_bos(m->tok);
    un[1] = oma_clip_eos(m->tok);
    for (int i = 2; i < 77; i++)
        un[i] = oma_clip_pad(m->tok);
    oma_tensor c1, c0, ctx, x, in, eps, img;
    if (encode(tr, ids, &c1, err, errlen) || encode(tr, un, &c0, err, errlen))
        goto done;
    int64_t H = c1.shape[2], cs[3] = {2, 77, H};
    int64_t lc = tr->lat_c, lh = size / oma_style_trainer_factor(tr), ls[4] = {1, lc, lh, lh}, ls2[4] = {2, lc, lh, lh};
    if (oma_arena_tensor_uninit(ar, &ctx, 3, cs) || oma_arena_tensor_uninit(ar, &x, 4, ls) ||
        oma_arena_tensor_uninit(ar, &in, 4, ls2))
        goto oom;
    memcpy(ctx.data, c0.data, sizeof(float) * (size_t)(77 * H));
    memcpy(ctx.data + 77 * H, c1.data, sizeof(float) * (size_t)(77 * H));
    oma_train_rng rng;
    oma_train_rng_seed(&rng, seed);
    int64_t n = lc * lh * lh;
    for (int64_t i = 0; i < n; i++)
        x.data[i] = (float)oma_train_rng_normal(&rng);
    const float *ac = tr->ns.alphas_cumprod;
    int T = tr->ns.T, stride = T / steps;
    for (int s = steps - 1; s >= 0; s--) {
        int t = s * stride + 1, tp = t - stride;
        double at = ac[t], ap = tp >= 0 ? ac[tp] : ac[0];
        memcpy(in.data, x.data, sizeof(float) * (size_t)n);
        memcpy(in.data + n, x.data, sizeof(float) * (size_t)n);
        float tt[2] = {(float)t, (float)t};
        oma_arena_mark sm = oma_arena_get_mark(ar);
        if (oma_unet_forward(&m->unet, &in, tt, &ctx, ar, &eps, err, errlen) != 0)
            goto done;
        for (int64_t i = 0; i < n; i++) {
            double e = eps.data[i] + GUIDANCE * (eps.data[n + i] - eps.data[i]);
            double x0 = (x.data[i] - sqrt(1.0 - at) * e) / sqrt(at);
            x.data[i] = (float)(sqrt(ap) * x0 + sqrt(1.0 - ap) * e);
        }
        oma_arena_release(ar, sm);
    }
    for (int64_t i = 0; i < n; i++)
        x.data[i] /= m->cfg.vae.scaling_factor;
    if (oma_vae_decode(&m->vae, &x, ar, &img, err, errlen) != 0)
        goto done;
    int64_t hw = (int64_t)size * size;
    for (int64_t p = 0; p < hw; p++)
        for (int c = 0; c < 3; c++) {
            double v = (img.data[c * hw + p] / 2.0 + 0.5) * 255.0;
            rgb[p * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : lrint(v));
        }
    rc = 0;
    goto done;
oom:
    snprintf(err, errlen, "train: out of memory drawing a preview");
done:
    oma_arena_release(ar, mk);
    return rc;
}
