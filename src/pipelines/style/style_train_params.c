/* style_train_params.c — the style.train job's params (style_train_job.h). */
#include "pipelines/style/style_train_job.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/generate/sd_find.h"

static const char *const known[] = {"name", "model", "resolution", "steps_ti", "steps_lora", "rank",
                                    "lr_ti", "lr_lora", "lr_text", "grad_accum", "seed",
                                    "checkpoint_every", "sample_every"};

static int int_param(const json_t *o, const char *k, long long lo, long long hi, int *v, char *err, size_t errlen)
{
    const json_t *j = json_object_get(o, k);
    if (!j) return 0;
    if (!json_is_integer(j) || json_integer_value(j) < lo || json_integer_value(j) > hi) {
        snprintf(err, errlen, "params.%s must be an integer in %lld..%lld", k, lo, hi);
        return -1;
    }
    *v = (int)json_integer_value(j);
    return 0;
}

static int lr_param(const json_t *o, const char *k, float *v, char *err, size_t errlen)
{
    const json_t *j = json_object_get(o, k);
    if (!j) return 0;
    double x = json_is_number(j) ? json_number_value(j) : -1;
    if (!(x > 0 && x <= 0.1)) {
        snprintf(err, errlen, "params.%s must be a number in (0, 0.1]", k);
        return -1;
    }
    *v = (float)x;
    return 0;
}

int oma_style_train_job_params(const json_t *params, oma_style_train_opts *o, const char **model,
                               char *err, size_t errlen)
{
    oma_style_train_defaults(o);
    o->checkpoint_every = OMA_TRAIN_CHECKPOINT_EVERY;
    o->sample_every = OMA_TRAIN_SAMPLE_EVERY;
    *model = NULL;
    if (!json_is_object(params)) {
        snprintf(err, errlen, "params must be an object");
        return -1;
    }
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)params, key, v) {
        size_t i = 0;
        while (i < sizeof known / sizeof known[0] && strcmp(known[i], key) != 0) i++;
        if (i == sizeof known / sizeof known[0]) {
            snprintf(err, errlen, "params.%.60s is not a style.train parameter", key);
            return -1;
        }
    }
    const json_t *name = json_object_get(params, "name");
    if (!json_is_string(name) || json_string_length(name) < 1 || json_string_length(name) > 100) {
        snprintf(err, errlen, "params.name must be a string of 1..100 characters");
        return -1;
    }
    const json_t *m = json_object_get(params, "model");
    if (m) {
        if (!json_is_string(m) || !oma_sd_model_name_ok(json_string_value(m))) {
            snprintf(err, errlen, "params.model must be a name inside the models folder");
            return -1;
        }
        *model = json_string_value(m);
    }
    long long seed = 0;
    const json_t *s = json_object_get(params, "seed");
    if (s) {
        if (!json_is_integer(s) || json_integer_value(s) < 0 || json_integer_value(s) > (1LL << 53)) {
            snprintf(err, errlen, "params.seed must be an integer in 0..%lld", 1LL << 53);
            return -1;
        }
        seed = json_integer_value(s);
        o->seed = (uint64_t)seed;
    }
    if (int_param(params, "resolution", 64, 1024, &o->resolution, err, errlen) ||
        int_param(params, "steps_ti", 0, OMA_TRAIN_MAX_STAGE_STEPS, &o->steps_ti, err, errlen) ||
        int_param(params, "steps_lora", 0, OMA_TRAIN_MAX_STAGE_STEPS, &o->steps_lora, err, errlen) ||
        int_param(params, "rank", 1, 128, &o->rank, err, errlen) ||
        int_param(params, "grad_accum", 1, 64, &o->grad_accum, err, errlen) ||
        int_param(params, "checkpoint_every", 1, 10000, &o->checkpoint_every, err, errlen) ||
        int_param(params, "sample_every", 0, 10000, &o->sample_every, err, errlen) ||
        lr_param(params, "lr_ti", &o->lr_ti, err, errlen) || lr_param(params, "lr_lora", &o->lr_lora_unet, err, errlen) ||
        lr_param(params, "lr_text", &o->lr_lora_text, err, errlen))
        return -1;
    if (o->resolution % 64 != 0) {
        snprintf(err, errlen, "params.resolution must be a multiple of 64");
        return -1;
    }
    if (o->steps_ti + o->steps_lora < 1) {
        snprintf(err, errlen, "params.steps_ti + params.steps_lora must be at least 1");
        return -1;
    }
    return 0;
}
