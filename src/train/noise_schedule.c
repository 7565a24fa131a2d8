/* noise_schedule.c — alphas_cumprod and add_noise (noise_schedule.h). */
#include "train/noise_schedule.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "models/sd/sd_noise_schedule.h"

int oma_noise_schedule_init(oma_noise_schedule *s, const oma_scheduler_config *c, char *err,
                            size_t errlen)
{
    int T = c->num_train_timesteps;
    if (T < 2 || T > OMA_TRAIN_MAX_T) {
        snprintf(err, errlen, "train: noise schedule with %d steps not supported (2..%d)", T,
                 OMA_TRAIN_MAX_T);
        return -1;
    }
    double *ac = malloc(sizeof(double) * (size_t)T);
    if (!ac) {
        snprintf(err, errlen, "train: out of memory");
        return -1;
    }
    if (oma_sd_alphas_cumprod(c, 0, ac, err, errlen) != 0) {
        free(ac);
        return -1;
    }
    s->T = T;
    for (int i = 0; i < T; i++)
        s->alphas_cumprod[i] = (float)ac[i];     /* exact: each is a float32 value */
    free(ac);
    return 0;
}

void oma_noise_schedule_add(const oma_noise_schedule *s, int t, const float *x0,
                            const float *noise, float *out, int64_t n)
{
    float ac = s->alphas_cumprod[t];
    float sa = sqrtf(ac), sb = sqrtf(1.0f - ac);
    for (int64_t i = 0; i < n; i++) {
        float p = sa * x0[i], q = sb * noise[i];
        out[i] = p + q;
    }
}
