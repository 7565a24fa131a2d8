/* noise_schedule.c — alphas_cumprod and add_noise (noise_schedule.h). */
#include "train/noise_schedule.h"

#include <math.h>

int oma_noise_schedule_init(oma_noise_schedule *s, int T, float beta_start, float beta_end,
                            int scaled)
{
    if (T < 2 || T > OMA_TRAIN_MAX_T)
        return -1;
    s->T = T;
    /* torch.linspace in float32 fills from both ends; then squared, 1 - beta, float cumprod */
    float a = scaled ? (float)sqrt((double)beta_start) : beta_start;
    float b = scaled ? (float)sqrt((double)beta_end) : beta_end;
    float step = (b - a) / (float)(T - 1), cum = 1.0f;
    for (int i = 0; i < T; i++) {
        float v = i < T / 2 ? a + step * (float)i : b - step * (float)(T - 1 - i);
        float beta = scaled ? v * v : v;
        cum *= 1.0f - beta;
        s->alphas_cumprod[i] = cum;
    }
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
