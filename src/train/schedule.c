/* schedule.c — diffusers' learning-rate schedules as factors of the base rate (schedule.h). */
#include "train/schedule.h"

#include <math.h>
#include <string.h>

int oma_schedule_parse(const char *name, oma_schedule_kind *out)
{
    static const char *names[] = {"constant", "constant_with_warmup", "linear", "cosine"};
    for (int i = 0; i < 4; i++)
        if (name && strcmp(name, names[i]) == 0) {
            *out = (oma_schedule_kind)i;
            return 0;
        }
    return -1;
}

static double max1(int64_t v) { return (double)(v > 1 ? v : 1); }

double oma_schedule_factor(oma_schedule_kind kind, int64_t step, int64_t warmup, int64_t total)
{
    if (kind == OMA_SCHED_CONSTANT)
        return 1.0;
    if (step < warmup)
        return (double)step / max1(warmup);
    switch (kind) {
    case OMA_SCHED_CONSTANT_WARMUP:
        return 1.0;
    case OMA_SCHED_LINEAR: {
        double f = (double)(total - step) / max1(total - warmup);
        return f > 0 ? f : 0.0;
    }
    case OMA_SCHED_COSINE: {
        double progress = (double)(step - warmup) / max1(total - warmup);
        double f = 0.5 * (1.0 + cos(M_PI * 2.0 * 0.5 * progress));
        return f > 0 ? f : 0.0;
    }
    default:
        return 1.0;
    }
}
