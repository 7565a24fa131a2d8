/* style_train_job.h — the pieces of the "style.train" job kind (style_train_kind.c) that are
 * worth testing on their own: reading its params into the engine's options, and the loss
 * history that makes the job's loss curve survive a restart.
 *
 * Params (all optional but name; anything else is refused so a typo is a 400, not a silent
 * default): name (1..100 chars, the style's name for people), model (a name in the models
 * folder), resolution (64..1024, a multiple of 64), steps_ti and steps_lora (0..5000 each,
 * at least one step in all), rank (1..128), lr_ti, lr_lora, lr_text (0 < x <= 0.1), grad_accum
 * (1..64), seed (0..2^53), checkpoint_every (1..10000 steps), sample_every (0..10000, 0 = no
 * sample images). Unset values are the recipe's (oma_style_train_defaults); the job
 * checkpoints every 50 steps and draws a sample every 100 unless told otherwise.
 *
 * The history is the list of (total_step, loss) pairs reported so far. A resumed run reports
 * again from the step after its checkpoint: recording step k first drops every entry at k or
 * later, so the curve continues without duplicates or a jump back.
 */
#ifndef OMA_PIPELINES_STYLE_TRAIN_JOB_H
#define OMA_PIPELINES_STYLE_TRAIN_JOB_H

#include <jansson.h>
#include <stddef.h>

#include "train/style_train.h"

#define OMA_TRAIN_MIN_SAMPLES 2
#define OMA_TRAIN_MAX_SAMPLES 50
#define OMA_TRAIN_MAX_STAGE_STEPS 5000
#define OMA_TRAIN_CHECKPOINT_EVERY 50
#define OMA_TRAIN_SAMPLE_EVERY 100

/* Checks params and fills o (defaults first; strings point into params). model receives
 * params.model or NULL. 0, or -1 with err naming the param. */
int oma_style_train_job_params(const json_t *params, oma_style_train_opts *o, const char **model,
                               char *err, size_t errlen);

typedef struct oma_loss_history {
    int *step;
    float *loss;
    size_t n, cap;
} oma_loss_history;

/* Records (step, loss): drops entries at step or later first. 0, or -1 out of memory. */
int oma_loss_history_add(oma_loss_history *h, int step, float loss);
/* Keeps the entries up to and including step (what a checkpoint at step holds). */
void oma_loss_history_cut(oma_loss_history *h, int step);
/* [[step, loss], ...] (non-finite losses as null), or NULL out of memory. */
json_t *oma_loss_history_json(const oma_loss_history *h);
/* Replaces h with the pairs of j (the form above); -1 with err when j is not that form. */
int oma_loss_history_from_json(oma_loss_history *h, const json_t *j, char *err, size_t errlen);
void oma_loss_history_free(oma_loss_history *h);

#endif
