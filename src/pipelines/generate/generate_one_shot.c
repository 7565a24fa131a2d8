/* generate_one_shot.c — oma generate's run: the images with the UNet's memory given back first.
 *
 * A process that makes one batch and ends (the CLI) has no use for the UNet once the last step
 * is done, yet the VAE decode, the peak of a run (full-size activations), would otherwise sit on
 * top of the UNet's 3.4 GB of weights. So the sampling runs as usual (styles applied and taken
 * off by oma_generate_styled) with the latents handed back, the UNet is freed, and the latents
 * are decoded one image at a time exactly as oma_generate does (same ops: same images). Without
 * styles the text encoder goes too, once the prompts are encoded (oma_generate_text_once).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats/fail.h"
#include "pipelines/generate/generate.h"
#include "nn/layers.h"
#include "tensor/backend.h"
#include "tensor/device_backend.h"

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int oma_generate_text_once(oma_sd_model *m, const oma_generate_params *p, oma_image *out, char *err,
                           size_t errlen)
{
    /* oma_generate's run, the encoder's 0.5 GB (SD 1.5) freed before the UNet's steps */
    if (oma_generate_check(p, err, errlen) != 0) return -1;
    return oma_generate_prompts(m, p, &m->text, out, err, errlen);
}

/* Whether a one-shot run keeps prepared weights: images through the UNet (steps actually run,
 * each image of the batch at its own strength when img2img gives one per candidate, times two
 * with CFG) against the break-even measured for the precision. fp32 keeps Winograd forms (a slow
 * transform); bf16 keeps the convolutions' bf16 blocked weights (0.85 GB for SD 1.5's UNet,
 * made by the reorder every call would do, but first-touching new memory costs ~1.2 ms a MB on
 * the development VM). Measured, bf16, 512x512 (bench_generate, alternating): 4 images (LCM 4
 * steps) 11.8 / 13.1 s kept against 11.8 / 11.9 s not; 8 (4 steps with CFG) 18.8 / 18.7 against
 * 18.9 / 19.4; 40 (20 steps with CFG) 63.3 against 67.2 s: from 16 images on. */
static int one_shot_keeps(const oma_generate_params *q)
{
    int batch = q->batch > 0 ? q->batch : 1;
    double images = 0;
    for (int b = 0; b < batch; b++) {
        double st = q->strengths ? q->strengths[b] : q->strength;
        images += q->init ? q->steps * (st > 0 && st <= 1 ? st : 1) : q->steps;
    }
    images *= q->cfg > 1.0f ? 2 : 1;
    return images >= (strcmp(oma_precision_name(), "bf16") == 0 ? 16 : 10);
}

static int hand_over_ok(const oma_generate_params *q)
{
    const char *e = getenv("OMA_WEIGHT_HAND_OVER");    /* "0": off (A/B comparisons) */
    if (e && strcmp(e, "0") == 0) return 0;
    return !q->strengths && !oma_devbackend_active() && strcmp(oma_precision_name(), "bf16") == 0;
}

int oma_generate_one_shot(oma_sd_model *m, const oma_generate_params *p, oma_image *out, char *err,
                          size_t errlen)
{
    oma_generate_params q = *p;
    oma_generate_resolve_size(m, &q);
    if (oma_generate_check(&q, err, errlen) != 0) return -1;
    const int F = oma_generate_latent_factor(m);
    const int64_t lc = m->cfg.unet.in_channels, h = q.height / F, w = q.width / F;
    if (lc < 1 || h < 1 || w < 1) return oma_fail(err, errlen, "generate: bad latent size");
    const size_t per = (size_t)(lc * h * w);
    float *lat = calloc((size_t)q.batch * per, sizeof(float));
    if (!lat) return oma_fail(err, errlen, "generate: out of memory");
    q.latents_out = lat;
    q.one_shot = 1;
    int keep_off = !one_shot_keeps(&q) && oma_cpu_keep_weights(0) == 0;
    /* bf16: the 3x3 convolutions run while sampling (the UNet's; in img2img the VAE encoder's
     * too, used once) write their bf16 blocked weights over their float ones (nn/layers.h,
     * oma_layers_hand_over): kept at no new memory, so every pass after the first skips the
     * conversion (first-touching new memory for them costs more than it saves below 16 images
     * here); a pass wanting another layout makes it from that form. Not for candidates (their
     * passes take kept forms as before), nor with a device (its backend keeps its own). */
    int hand_over = hand_over_ok(&q);
    if (hand_over) oma_layers_hand_over(1);
    int rc = oma_generate_styled(m, &q, out, err, errlen);
    if (hand_over) oma_layers_hand_over(0);
    if (rc == 0) {
        oma_unet_free(&m->unet);    /* done with it: its weights go before the decoder's peak */
        const float SF = m->cfg.vae.scaling_factor > 0 ? m->cfg.vae.scaling_factor : 0.18215f;
        double t0 = wall();
        oma_arena ar;
        oma_arena_init(&ar, 0);
        oma_arena_mark mk = oma_arena_get_mark(&ar);
        for (int b = 0; b < q.batch && rc == 0; b++) {
            oma_tensor one;
            int64_t os[4] = {1, lc, h, w};
            if (oma_arena_tensor(&ar, &one, 4, os) != 0) {
                rc = oma_fail(err, errlen, "generate: out of memory");
                break;
            }
            for (size_t k = 0; k < per; k++) one.data[k] = lat[(size_t)b * per + k] / SF;
            if (oma_generate_decode(m, &one, &ar, &out[b], err, errlen) != 0) rc = -1;
            oma_arena_release(&ar, mk);
        }
        if (rc != 0)
            for (int b = 0; b < q.batch; b++) oma_image_free(&out[b]);
        if (q.times) q.times->decode_s = wall() - t0;
        oma_arena_destroy(&ar);
    }
    if (keep_off) oma_cpu_keep_weights(1);   /* the one way out: keeping is restored */
    free(lat);
    return rc;
}
