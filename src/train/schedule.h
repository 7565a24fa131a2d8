/* schedule.h — learning-rate schedules with diffusers' get_scheduler semantics (v0.21.4,
 * optimization.py): a factor of the base learning rate as a function of the scheduler step,
 * which LambdaLR applies as lr = base_lr x factor(step). Step 0 is the value at construction.
 *   constant: 1;  constant_with_warmup: min(1, step/warmup);
 *   linear: warm-up, then max(0, (total - step) / (total - warmup));
 *   cosine: warm-up, then max(0, 0.5 (1 + cos(pi * 2 * 0.5 * progress))).
 */
#ifndef OMA_TRAIN_SCHEDULE_H
#define OMA_TRAIN_SCHEDULE_H

#include <stdint.h>

typedef enum {
    OMA_SCHED_CONSTANT = 0,
    OMA_SCHED_CONSTANT_WARMUP,
    OMA_SCHED_LINEAR,
    OMA_SCHED_COSINE,
} oma_schedule_kind;

/* "constant", "constant_with_warmup", "linear", "cosine"; -1 for anything else. */
int oma_schedule_parse(const char *name, oma_schedule_kind *out);
double oma_schedule_factor(oma_schedule_kind kind, int64_t step, int64_t warmup, int64_t total);

#endif
