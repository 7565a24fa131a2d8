/* style_trainer.h — the style recipe's training state and its two kinds of step, without any
 * file, progress or policy around them (style_train.c drives it; the reference test feeds it
 * torch's draws directly).
 *
 * State: the model (borrowed; LoRA adapters are attached to it during stage 2 and detached by
 * oma_style_trainer_free), the placeholder embeddings emb [2, hidden] and their gradient, the
 * cached samples (latent + caption ids), and the stage's AdamW.
 *   stage 1 (TI): one group, the embedding rows at lr_ti x accum, weight decay 0; after each
 *     update the rows' norms are pulled toward 0.4 (clip_ti_decay, lambda = min(1, 100 lr)).
 *   stage 2 (LoRA): groups UNet adapters (lr_unet x accum), text adapters (lr_text x accum),
 *     embedding rows (lr_emb, unscaled); gradients clipped to global norm 1.0 over all of them.
 * A micro-step is one sample: text encoder forward (placeholders from emb), add_noise at t,
 * UNet pass with loss MSE(eps, noise) scaled by 1/accum, backward through the text encoder;
 * gradients accumulate until oma_style_trainer_update.
 */
#ifndef OMA_TRAIN_STYLE_TRAINER_H
#define OMA_TRAIN_STYLE_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#include "models/sd/sd_model.h"
#include "train/adamw.h"
#include "train/noise_schedule.h"
#include "train/style_net.h"
#include "tensor/arena.h"

typedef struct oma_style_sample {
    float *latent;                  /* [4, lh, lw], scaled by the VAE's scaling factor */
    int32_t ids[77];
} oma_style_sample;

typedef struct oma_style_trainer {
    oma_sd_model *m;
    int64_t hidden;
    float *emb, *g_emb;             /* [2, hidden] */
    int n_samples, cap_samples;
    oma_style_sample *samples;
    int64_t lat_c, lat_h, lat_w;
    oma_noise_schedule ns;
    oma_style_net net;              /* planned at init, allocated for stage 2 */
    int stage;                      /* 0 none, 1 TI, 2 LoRA */
    oma_adamw opt;
    float clip_norm;                /* stage 2: 1.0 */
    oma_arena ar;
} oma_style_trainer;

int oma_style_trainer_init(oma_style_trainer *tr, oma_sd_model *m, char *err, size_t errlen);
void oma_style_trainer_free(oma_style_trainer *tr);
/* The VAE's latent factor 2^(blocks - 1) (8 for SD 1.x): latents are res / factor wide. */
int oma_style_trainer_factor(const oma_style_trainer *tr);
/* Copies a latent [lat_c, lh, lw] (all samples the same size) and its caption ids. */
int oma_style_trainer_add_sample(oma_style_trainer *tr, const float *latent, int64_t lh,
                                 int64_t lw, const int32_t *ids, char *err, size_t errlen);
/* VAE-encodes image [3, res, res] in [-1, 1] and samples the latent with noise (like the
 * latent, [lat_c, res/f, res/f], f the VAE factor): (mean + exp(logvar/2) noise) x scaling_factor. */
int oma_style_trainer_encode(oma_style_trainer *tr, const float *image, int res,
                             const float *noise, float *latent, char *err, size_t errlen);
/* Stage 1: the optimizer over the embedding rows. */
int oma_style_trainer_begin_ti(oma_style_trainer *tr, double lr, char *err, size_t errlen);
/* Stage 2: allocates and attaches the adapters (down drawn with randn, or left zero when NULL
 * for the caller to fill), then the three-group optimizer. */
int oma_style_trainer_begin_lora(oma_style_trainer *tr, int rank, oma_randn_fn randn, void *rng,
                                 double lr_unet, double lr_text, double lr_emb, char *err,
                                 size_t errlen);
/* One sample's forward + backward, gradients added; *loss the unscaled MSE. */
int oma_style_trainer_micro(oma_style_trainer *tr, int sample, const float *noise, int t,
                            float grad_scale, float *loss, char *err, size_t errlen);
/* Applies the accumulated gradients with the schedule's factor, then zeroes them. */
void oma_style_trainer_update(oma_style_trainer *tr, double lr_factor);

#endif
