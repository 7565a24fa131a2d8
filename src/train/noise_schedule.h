/* noise_schedule.h — the DDPM forward process the training loss needs: alphas_cumprod of SD's
 * scaled_linear betas (computed in float32 as torch does) and add_noise,
 * noisy = sqrt(ac[t]) x0 + sqrt(1 - ac[t]) noise (diffusers DDPMScheduler.add_noise). */
#ifndef OMA_TRAIN_NOISE_SCHEDULE_H
#define OMA_TRAIN_NOISE_SCHEDULE_H

#include <stdint.h>

#define OMA_TRAIN_MAX_T 4096

typedef struct oma_noise_schedule {
    int T;
    float alphas_cumprod[OMA_TRAIN_MAX_T];
} oma_noise_schedule;

/* scaled: 1 for "scaled_linear", 0 for "linear". 0, or -1 for T out of range. */
int oma_noise_schedule_init(oma_noise_schedule *s, int T, float beta_start, float beta_end,
                            int scaled);
void oma_noise_schedule_add(const oma_noise_schedule *s, int t, const float *x0,
                            const float *noise, float *out, int64_t n);

#endif
