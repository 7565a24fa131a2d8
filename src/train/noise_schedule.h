/* noise_schedule.h — the DDPM forward process the training loss needs: alphas_cumprod of the
 * model's scheduler config (models/sd/sd_noise_schedule.c, the samplers' own builder: torch's
 * float32 linspace, double-accumulated cumprod, as diffusers' DDPMScheduler) and add_noise,
 * noisy = sqrt(ac[t]) x0 + sqrt(1 - ac[t]) noise (DDPMScheduler.add_noise). */
#ifndef OMA_TRAIN_NOISE_SCHEDULE_H
#define OMA_TRAIN_NOISE_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#include "models/sd/sd_checkpoint.h"

#define OMA_TRAIN_MAX_T 4096

typedef struct oma_noise_schedule {
    int T;
    float alphas_cumprod[OMA_TRAIN_MAX_T];
} oma_noise_schedule;

/* From the config's betas ("linear" / "scaled_linear"; DDPMScheduler has no zero-SNR rescale).
 * 0, or -1 with err for an unsupported config or T out of 2..OMA_TRAIN_MAX_T. */
int oma_noise_schedule_init(oma_noise_schedule *s, const oma_scheduler_config *c, char *err,
                            size_t errlen);
void oma_noise_schedule_add(const oma_noise_schedule *s, int t, const float *x0,
                            const float *noise, float *out, int64_t n);

#endif
