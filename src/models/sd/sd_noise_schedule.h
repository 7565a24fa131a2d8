/* sd_noise_schedule.h — the DDPM noise schedule of an SD scheduler config, computed as diffusers
 * does it in torch (float32): betas from torch.linspace (filled from both ends, its vector kernel's
 * lane order), squared for "scaled_linear"; optional zero-terminal-SNR rescale; alphas_cumprod by
 * torch.cumprod, whose CPU kernel accumulates float32 in double and rounds each output to float.
 * The one builder the samplers (pipelines/generate) and the training loss (train/) share. */
#ifndef OMA_MODELS_SD_NOISE_SCHEDULE_H
#define OMA_MODELS_SD_NOISE_SCHEDULE_H

#include <stddef.h>

#include "models/sd/sd_checkpoint.h"

#define OMA_SD_MAX_TRAIN_T 100000

/* out[0..c->num_train_timesteps-1] = alphas_cumprod (each a float32 value held in a double), for
 * "linear" / "scaled_linear" betas; zero_snr applies diffusers' rescale_zero_terminal_snr.
 * 0, or -1 with err ("scheduler: ...") for a bad or unsupported config or no memory. */
int oma_sd_alphas_cumprod(const oma_scheduler_config *c, int zero_snr, double *out, char *err,
                          size_t errlen);

#endif
