/* scheduler.h — the samplers of SD txt2img/img2img: DDIM, Euler ancestral, DPM++ 2M Karras.
 *
 * Names as A1111 names them ("DDIM", "Euler a", "DPM++ 2M Karras"); the maths is diffusers'
 * (v0.21) DDIMScheduler (eta 0), EulerAncestralDiscreteScheduler and DPMSolverMultistepScheduler
 * (dpmsolver++, order 2, midpoint, Karras sigmas, lower-order final step under 15 steps), so
 * a run matches diffusers step for step. The noise schedule comes from the model's scheduler
 * config (scaled_linear betas 0.00085..0.012 over 1000 steps, "leading" spacing, offset 1 for
 * SD 1.x). A step works on a whole batch; Euler ancestral draws its fresh noise per batch
 * item from that item's generator, as diffusers does with a list of generators.
 */
#ifndef OMA_PIPELINES_SCHEDULER_H
#define OMA_PIPELINES_SCHEDULER_H

#include <stddef.h>

#include "models/sd/sd_checkpoint.h"
#include "pipelines/generate/rng.h"

typedef enum {
    OMA_SAMPLER_DDIM = 0,
    OMA_SAMPLER_EULER_A = 1,
    OMA_SAMPLER_DPMPP_2M_KARRAS = 2,
} oma_sampler_kind;

#define OMA_SCHED_MAX_STEPS 1000

typedef struct oma_scheduler {
    oma_sampler_kind kind;
    int train_steps;
    double *alphas_cumprod;     /* [train_steps], float32-rounded as torch keeps them */
    int n;                      /* inference steps (after dedup for Karras) */
    int timesteps[OMA_SCHED_MAX_STEPS];
    double sigmas[OMA_SCHED_MAX_STEPS + 1];    /* Euler: per step, then 0 */
    int step_ratio;             /* DDIM: train_steps / steps */
    double final_alpha_cumprod;
    /* DPM++ 2M state */
    float *prev_x0;             /* previous data prediction, for the batch */
    size_t prev_len;
    int lower_order_nums;
} oma_scheduler;

/* "DDIM", "Euler a", "DPM++ 2M Karras" (case-insensitive; also "ddim", "euler_a",
 * "dpmpp_2m_karras"). 0, or -1 for an unknown name. */
int oma_sampler_parse(const char *name, oma_sampler_kind *out);
const char *oma_sampler_name(oma_sampler_kind k);
/* Every sampler, in A1111's listing order (for /sdapi/v1/samplers, the CLI help and the UI). */
int oma_sampler_count(void);
oma_sampler_kind oma_sampler_at(int i);
/* An A1111 request's pair: sampler_name ("DPM++ 2M", "Euler a", "DPM++ 2M Karras", ...) and
 * scheduler (NULL, "", "Automatic" = the sampler's own; "Karras", ...). 0, or -1 when the
 * pair names no sampler we have. */
int oma_sampler_parse_a1111(const char *sampler, const char *scheduler, oma_sampler_kind *out);

/* Sets the schedule for `steps` steps (1..OMA_SCHED_MAX_STEPS). 0, or -1 with err. */
int oma_scheduler_init(oma_scheduler *s, oma_sampler_kind kind, const oma_scheduler_config *cfg,
                       int steps, char *err, size_t errlen);
void oma_scheduler_free(oma_scheduler *s);

/* The std of the starting noise (multiply the initial randn by it). */
double oma_scheduler_init_sigma(const oma_scheduler *s);
/* Factor for the UNet input at step i (Euler: 1/sqrt(sigma^2+1); others 1). */
double oma_scheduler_input_scale(const oma_scheduler *s, int i);
/* The UNet timestep of step i. */
int oma_scheduler_timestep(const oma_scheduler *s, int i);
/* First step an img2img run with this strength performs (steps - int(steps*strength)). */
int oma_scheduler_img2img_start(const oma_scheduler *s, double strength);
/* out = the clean latents noised to the level of step i: DDIM/DPM sqrt(a) x + sqrt(1-a) n,
 * Euler x + sigma n. */
void oma_scheduler_add_noise(const oma_scheduler *s, int i, const float *orig, const float *noise,
                             float *out, size_t n);
/* One step i: latents (batch items of per_item floats each) updated in place from the guided
 * noise prediction eps. rngs: one per batch item (Euler ancestral draws from them). 0, or -1
 * out of memory. Steps must be called in order 0..n-1 (or from the img2img start). */
int oma_scheduler_step(oma_scheduler *s, int i, const float *eps, float *latents, int batch,
                       size_t per_item, oma_rng *rngs);

#endif
