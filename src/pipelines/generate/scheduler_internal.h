/* scheduler_internal.h — what the scheduler_*.c files share: the schedule builders
 * (scheduler_schedule.c) and the per-family step functions (scheduler_alpha.c: DDIM, PLMS, LCM,
 * TCD; scheduler_sigma.c: Euler, Euler a, Heun, DPM2, LMS; scheduler_multistep.c: DPM++ 2M [SDE],
 * UniPC). Arithmetic follows diffusers' float32 tensor maths where the order matters. */
#ifndef OMA_PIPELINES_SCHEDULER_INTERNAL_H
#define OMA_PIPELINES_SCHEDULER_INTERNAL_H

#include "pipelines/generate/scheduler.h"

/* alphas_cumprod from the config's betas (linear / scaled_linear, float32 as torch), rescaled to
 * zero terminal SNR when zero_snr. 0, or -1 with err. */
int sched_make_alphas(oma_scheduler *s, const oma_scheduler_config *c, int zero_snr, char *err,
                      size_t errlen);
/* sqrt((1 - a) / a) in float32, for train step t. */
double sched_sigma_of(const oma_scheduler *s, int t);
/* diffusers' _sigma_to_t over log sigmas (double, numpy). */
double sched_sigma_to_t(const double *log_sigmas, int T, double sigma);
/* Timesteps (descending, as doubles) for `steps` by spacing: "linspace" (float32 linspace as the
 * Euler family keeps it when round_lin is 0; rounded to integers when 1), "leading", "trailing".
 * 0, or -1 for an unknown spacing. */
int sched_spacing(const char *spacing, int T, int steps, int offset, int round_lin, double *out);
/* numpy.interp of the training sigmas at t (float32 sigmas, double result). */
double sched_interp_sigma(const oma_scheduler *s, double t);

/* Make sure s->buf[0..k-1] hold n floats each (reset state when n changes). 0, or -1. */
int sched_buffers(oma_scheduler *s, size_t n, int k);

/* x0 from a model output under s->pred, for an alpha schedule (a = alphas_cumprod at t). */
static inline float sched_x0_alpha(int pred, float sa, float sb, float x, float m)
{
    if (pred == OMA_PRED_V) return sa * x - sb * m;
    if (pred == OMA_PRED_SAMPLE) return m;
    return (x - sb * m) / sa;
}

int sched_step_ddim(oma_scheduler *s, int i, const float *m, float *x, size_t n);
int sched_step_plms(oma_scheduler *s, int i, const float *m, float *x, size_t n);
int sched_step_lcm(oma_scheduler *s, int i, const float *m, float *x, int batch, size_t per, oma_rng *rngs);
int sched_step_tcd(oma_scheduler *s, int i, const float *m, float *x, int batch, size_t per, oma_rng *rngs);
int sched_step_euler(oma_scheduler *s, int i, const float *m, float *x, size_t n);
int sched_step_euler_a(oma_scheduler *s, int i, const float *m, float *x, int batch, size_t per,
                       oma_rng *rngs);
int sched_step_heun(oma_scheduler *s, int i, const float *m, float *x, size_t n);
int sched_step_dpm2(oma_scheduler *s, int i, const float *m, float *x, size_t n);
int sched_step_lms(oma_scheduler *s, int i, const float *m, float *x, size_t n);
int sched_step_dpmpp(oma_scheduler *s, int i, const float *m, float *x, int batch, size_t per,
                     oma_rng *rngs);
int sched_step_unipc(oma_scheduler *s, int i, const float *m, float *x, size_t n);

#endif
