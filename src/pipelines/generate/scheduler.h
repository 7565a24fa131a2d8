/* scheduler.h — the samplers of SD txt2img/img2img, each as diffusers computes it.
 *
 * Names as A1111 names them ("Euler a", "DPM++ 2M Karras", ...); the maths is diffusers' scheduler
 * class of the same sampler (v0.21.4; LCM and TCD from v0.27.2), step for step:
 *   DDIM      DDIMScheduler (eta 0)                 PLMS   PNDMScheduler (skip_prk_steps)
 *   Euler     EulerDiscreteScheduler                 Euler a EulerAncestralDiscreteScheduler
 *   LMS       LMSDiscreteScheduler (order 4)         Heun   HeunDiscreteScheduler
 *   DPM2      KDPM2DiscreteScheduler                 UniPC  UniPCMultistepScheduler (bh2, order 2)
 *   DPM++ 2M [Karras] / DPM++ 2M SDE Karras: DPMSolverMultistepScheduler (dpmsolver++ or
 *             sde-dpmsolver++, order 2, midpoint, lower-order final step under 15 steps)
 *   LCM       LCMScheduler (original_inference_steps 50)
 *   TCD       TCDScheduler (gamma = eta 0.3, original_inference_steps 50)
 * The noise schedule comes from the model's scheduler config; a field the config file does not
 * state takes that class's own default, as diffusers' from_config gives it (spacing: "linspace" for
 * the Euler/Heun/DPM2/LMS/DPM++/UniPC classes, "leading" for DDIM/PLMS/LCM/TCD; prediction
 * "epsilon"; DDIM: set_alpha_to_one and clip_sample true). A config filled in code states a field
 * by setting its *_set flag (oma_sd_config_defaults() sets them all, as diffusers' single-file
 * conversion states them); Moore-AnimateAnyone's scheduler, for one, is linear betas,
 * v_prediction, "trailing", rescale_betas_zero_snr 1, clip_sample 0 stated, set_alpha_to_one
 * unstated (true). rescale_betas_zero_snr is honoured where the v0.21.4/0.27.2 class has it (DDIM,
 * LCM, TCD) and ignored by the others, as diffusers does.
 *
 * A "step" is one model evaluation: Heun and DPM2 evaluate the model twice per inference step, so
 * n = 2 * steps - 1 for them (diffusers' timesteps list, which its pipelines loop over), and PLMS
 * n = steps + 1. A step works on a whole batch; samplers that draw noise (Euler a, DPM++ 2M SDE,
 * LCM, TCD) draw it per batch item from that item's generator, as diffusers does with a list of
 * generators, in the same order and shape.
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
    OMA_SAMPLER_EULER = 3,
    OMA_SAMPLER_LMS = 4,
    OMA_SAMPLER_HEUN = 5,
    OMA_SAMPLER_DPM2 = 6,
    OMA_SAMPLER_DPMPP_2M = 7,
    OMA_SAMPLER_DPMPP_2M_SDE_KARRAS = 8,
    OMA_SAMPLER_UNIPC = 9,
    OMA_SAMPLER_PLMS = 10,
    OMA_SAMPLER_LCM = 11,
    OMA_SAMPLER_TCD = 12,
} oma_sampler_kind;

#define OMA_SCHED_MAX_STEPS 1000
#define OMA_SCHED_MAX_EVALS (2 * OMA_SCHED_MAX_STEPS + 2)

enum { OMA_PRED_EPSILON = 0, OMA_PRED_V = 1, OMA_PRED_SAMPLE = 2 };

typedef struct oma_scheduler {
    oma_sampler_kind kind;
    int train_steps;
    double *alphas_cumprod;     /* [train_steps], float32-rounded as torch keeps them */
    int pred;                   /* OMA_PRED_* */
    int spacing_leading;        /* Euler family: init sigma sqrt(max^2+1) (leading) or max */
    int steps;                  /* inference steps asked for */
    int order;                  /* diffusers' scheduler.order (Heun, DPM2: 2), for img2img */
    int n;                      /* model evaluations (the length of diffusers' timesteps) */
    int timesteps[OMA_SCHED_MAX_EVALS];        /* rounded (what an integer caller sees) */
    float tsf[OMA_SCHED_MAX_EVALS];            /* the UNet timestep, as diffusers passes it */
    double sigmas[OMA_SCHED_MAX_EVALS + 1];    /* sigma samplers: per step, then 0 */
    double sigmas_interp[OMA_SCHED_MAX_EVALS + 1];  /* DPM2's midpoints */
    int step_ratio;             /* DDIM/PLMS: train_steps / steps */
    double final_alpha_cumprod;
    double eta;                 /* TCD's gamma */
    /* state between steps */
    float *buf[6];              /* history / saved samples, prev_len floats each */
    size_t prev_len;
    int hist_t[4];              /* timesteps of the saved model outputs (multistep) */
    int lower_order_nums, this_order, calls, nets;
    float heun_dt;              /* Heun: dt of the pending correction */
    int clip_sample;            /* DDIM/LCM: clamp x0 to [-1, 1] */
    float *prev_x0;             /* unused; kept for source compatibility */
} oma_scheduler;

/* "DDIM", "Euler a", "DPM++ 2M Karras", ... (case-insensitive; also snake_case forms such as
 * "euler_a", "dpmpp_2m_karras", "dpmpp_2m_sde_karras", "unipc"). 0, or -1 for an unknown name. */
int oma_sampler_parse(const char *name, oma_sampler_kind *out);
const char *oma_sampler_name(oma_sampler_kind k);
/* Every sampler, in A1111's listing order (for /sdapi/v1/samplers, the CLI help and the UI). */
int oma_sampler_count(void);
oma_sampler_kind oma_sampler_at(int i);
/* The names as one line, "\"DPM++ 2M Karras\", \"Euler a\", ..." (for error messages). */
const char *oma_sampler_names_line(void);
/* An A1111 request's pair: sampler_name ("DPM++ 2M", "Euler a", "DPM++ 2M Karras", ...) and
 * scheduler: NULL, "" or "Automatic" = the sampler's own schedule as A1111 1.9+ picks it (Karras
 * for "DPM++ 2M"; "DPM++ 2M SDE" would be Exponential, which we lack: -1); "Karras" (the Karras
 * variants of "DPM++ 2M" / "DPM++ 2M SDE"); "Uniform" (the plain schedule). 0, or -1 when the
 * pair names no sampler we have. */
int oma_sampler_parse_a1111(const char *sampler, const char *scheduler, oma_sampler_kind *out);

/* Sets the schedule for `steps` steps (1..OMA_SCHED_MAX_STEPS). 0, or -1 with err. */
int oma_scheduler_init(oma_scheduler *s, oma_sampler_kind kind, const oma_scheduler_config *cfg,
                       int steps, char *err, size_t errlen);
void oma_scheduler_free(oma_scheduler *s);

/* The std of the starting noise (multiply the initial randn by it). */
double oma_scheduler_init_sigma(const oma_scheduler *s);
/* Factor for the UNet input at step i (sigma samplers: 1/sqrt(sigma^2+1); others 1). */
double oma_scheduler_input_scale(const oma_scheduler *s, int i);
/* The UNet timestep of step i, rounded, and as diffusers passes it (fractional for the sigma
 * samplers' "linspace" and Karras schedules). */
int oma_scheduler_timestep(const oma_scheduler *s, int i);
float oma_scheduler_timestep_f(const oma_scheduler *s, int i);
/* First step an img2img run with this strength performs (diffusers: (steps - int(steps*strength))
 * * order). */
int oma_scheduler_img2img_start(const oma_scheduler *s, double strength);
/* out = the clean latents noised to the level of step i: alpha samplers sqrt(a) x + sqrt(1-a) n,
 * sigma samplers x + sigma n. */
void oma_scheduler_add_noise(const oma_scheduler *s, int i, const float *orig, const float *noise,
                             float *out, size_t n);
/* One step i: latents (batch items of per_item floats each) updated in place from the guided
 * model output. rngs: one per batch item (noise-drawing samplers draw from them). 0, or -1 out of
 * memory / bad call. Steps must be called in order 0..n-1 (or from the img2img start). */
int oma_scheduler_step(oma_scheduler *s, int i, const float *eps, float *latents, int batch,
                       size_t per_item, oma_rng *rngs);

#endif
