/* job_kinds.c — the table of built-in job kinds. Each pipeline exports one
 * `const oma_job_kind` and gets one line here; the server asks this table what it can run. */
#include "pipelines/job_kind.h"

#include <string.h>

/* One extern line per kind, and the same name in the table below. */
extern const oma_job_kind oma_kind_image_normalize;
extern const oma_job_kind oma_kind_pose_estimate;
extern const oma_job_kind oma_kind_pose_render;
extern const oma_job_kind oma_kind_pose_warp;
extern const oma_job_kind oma_kind_pose_transfer;
extern const oma_job_kind oma_kind_generate_txt2img;
extern const oma_job_kind oma_kind_generate_img2img;
extern const oma_job_kind oma_kind_style_profile;
extern const oma_job_kind oma_kind_style_train;
extern const oma_job_kind oma_kind_convert_lineart;

static const oma_job_kind *const kinds[] = {
    &oma_kind_image_normalize,
    &oma_kind_pose_estimate,
    &oma_kind_pose_render,
    &oma_kind_pose_warp,
    &oma_kind_pose_transfer,
    &oma_kind_generate_txt2img,
    &oma_kind_generate_img2img,
    &oma_kind_style_profile,
    &oma_kind_style_train,
    &oma_kind_convert_lineart,
};

size_t oma_job_kinds_count(void) { return sizeof kinds / sizeof kinds[0]; }

const oma_job_kind *oma_job_kind_at(size_t i)
{
    return i < oma_job_kinds_count() ? kinds[i] : NULL;
}

const oma_job_kind *oma_job_kind_find(const char *name)
{
    if (!name) return NULL;
    for (size_t i = 0; i < oma_job_kinds_count(); i++)
        if (strcmp(kinds[i]->name, name) == 0) return kinds[i];
    return NULL;
}

const oma_job_input *oma_job_input_find(const oma_job_ctx *ctx, const char *name)
{
    for (size_t i = 0; i < ctx->n_inputs; i++)
        if (strcmp(ctx->inputs[i].name, name) == 0) return &ctx->inputs[i];
    return NULL;
}
