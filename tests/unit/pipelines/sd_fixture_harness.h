/* sd_fixture_harness.h — what test_generate.c and test_generate_bf16.c share: the tiny SD
 * fixture model (tests/fixtures/sd) read straight from its safetensors files, its config, the
 * reference tensors, and a CHECK that counts failures instead of stopping. Included by exactly
 * those single-file tests; each defines main() and sets `root` to the fixture folder. */
#ifndef OMA_TEST_SD_FIXTURE_HARNESS_H
#define OMA_TEST_SD_FIXTURE_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/image.h"
#include "formats/safetensors.h"
#include "pipelines/generate/generate.h"

#include "check.h"

static char root[1024];
static oma_safetensors *f_unet, *f_vae;

static oma_safetensors *open_st(const char *rel)
{
    char p[2048], err[256];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    oma_safetensors *st = NULL;
    if (oma_st_open(p, &st, err, sizeof err) != 0) {
        fprintf(stderr, "open %s: %s\n", p, err);
        exit(1);
    }
    return st;
}

static const oma_st_tensor *lookup(const char *name)
{
    if (!strncmp(name, "unet.", 5)) return oma_st_find(f_unet, name + 5);
    if (!strncmp(name, "vae.", 4)) return oma_st_find(f_vae, name + 4);
    return NULL;
}

static int fx_has(void *ctx, const char *name)
{
    (void)ctx;
    return lookup(name) != NULL;
}

static int fx_read(void *ctx, const char *name, int ndim, const int64_t *shape, float *dst, char *err,
                   size_t errlen)
{
    (void)ctx;
    const oma_st_tensor *t = lookup(name);
    if (!t) {
        snprintf(err, errlen, "tensor '%s': missing", name);
        return -1;
    }
    if (oma_st_check_shape(t, ndim, shape, err, errlen) != 0) return -1;
    return oma_st_read_f32(t, dst, (size_t)oma_shape_numel(ndim, shape), err, errlen);
}

static void tiny_config(oma_sd_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    oma_unet_config *c = &cfg->unet;
    c->in_channels = c->out_channels = 4;
    c->n_blocks = 4;
    for (int i = 0; i < 4; i++) {
        c->block_out_channels[i] = 32;
        c->attention_head_dim[i] = 8;
        strcpy(c->down_block_types[i], i < 3 ? "CrossAttnDownBlock2D" : "DownBlock2D");
        strcpy(c->up_block_types[i], i == 0 ? "UpBlock2D" : "CrossAttnUpBlock2D");
    }
    c->layers_per_block = 2;
    c->cross_attention_dim = 48;
    c->norm_num_groups = 8;
    c->norm_eps = 1e-5f;
    c->transformer_layers_per_block = 1;
    c->flip_sin_to_cos = 1;
    c->downsample_padding = 1;
    oma_vae_config *v = &cfg->vae;
    v->in_channels = v->out_channels = 3;
    v->latent_channels = 4;
    v->n_blocks = 4;
    for (int i = 0; i < 4; i++) v->block_out_channels[i] = 32;
    v->layers_per_block = 2;
    v->norm_num_groups = 8;
    v->scaling_factor = 0.18215f;
    oma_scheduler_config *s = &cfg->scheduler;
    s->num_train_timesteps = 1000;
    s->beta_start = 0.00085f;
    s->beta_end = 0.012f;
    strcpy(s->beta_schedule, "scaled_linear");
    strcpy(s->prediction_type, "epsilon");
    s->steps_offset = 1;
    strcpy(s->timestep_spacing, "leading");
    s->timestep_spacing_set = s->prediction_type_set = s->set_alpha_to_one_set = s->clip_sample_set = 1;   /* tiny-sd's config states both */
}

static int read_ref(oma_safetensors *st, const char *name, float *dst, size_t n)
{
    const oma_st_tensor *t = oma_st_find(st, name);
    char err[256];
    if (!t || (size_t)t->numel != n) {
        fprintf(stderr, "reference %s missing or wrong size\n", name);
        return -1;
    }
    return oma_st_read_f32(t, dst, n, err, sizeof err);
}

/* One reference run (ref/<file>): its text embeddings as the negative/prompt pair, its final
 * latents and 8-bit image, and generation params set as the reference ran (4 steps, CFG 7.5,
 * 64x64). case_open returns 0, or -1 (counted as a failure) when the reference can't be read. */
typedef struct sd_case {
    oma_safetensors *ref;
    float emb[2 * 77 * 48], want_lat[256];
    float *img_ref;                 /* 64 * 64 * 3 */
    oma_tensor neg, pos;
    oma_generate_params p;
} sd_case;

static int case_open(sd_case *c, const char *file, oma_sampler_kind kind, int seed, const oma_image *init,
                     float strength)
{
    char rel[256];
    snprintf(rel, sizeof rel, "ref/%s", file);
    c->ref = open_st(rel);
    c->img_ref = malloc(sizeof(float) * 64 * 64 * 3);
    CHECK(c->img_ref != NULL);
    if (!c->img_ref) {
        oma_st_close(c->ref);
        return -1;
    }
    CHECK(read_ref(c->ref, "prompt_embeds", c->emb, sizeof c->emb / sizeof c->emb[0]) == 0);
    CHECK(read_ref(c->ref, "final_latents", c->want_lat, 256) == 0);
    CHECK(read_ref(c->ref, "image_u8", c->img_ref, 64 * 64 * 3) == 0);
    oma_tensor_view(&c->neg, c->emb, 3, (int64_t[]){1, 77, 48});
    oma_tensor_view(&c->pos, c->emb + 77 * 48, 3, (int64_t[]){1, 77, 48});
    oma_generate_defaults(&c->p);
    c->p.prompt = "(embeddings given)";
    c->p.steps = 4;
    c->p.cfg = 7.5f;
    c->p.sampler = kind;
    c->p.seed = (uint64_t)seed;
    c->p.width = c->p.height = 64;
    c->p.init = init;
    c->p.strength = strength;
    return 0;
}

static void case_close(sd_case *c)
{
    free(c->img_ref);
    oma_st_close(c->ref);
}

/* Largest |lat - reference| over the final latents, and the reference's largest |value|. */
static void latent_error(const sd_case *c, const float *lat, double *maxerr, double *maxref)
{
    *maxref = *maxerr = 0;
    for (int i = 0; i < 256; i++) {
        *maxref = fmax(*maxref, fabs(c->want_lat[i]));
        *maxerr = fmax(*maxerr, fabs((double)lat[i] - c->want_lat[i]));
    }
}

/* Mean and largest absolute difference between a 64x64 RGB image and 64*64*3 values. */
static void image_diff(const oma_image *img, const float *ref, double *mean, double *mx)
{
    double sum = 0;
    *mx = 0;
    for (int i = 0; i < 64 * 64 * 3; i++) {
        double d = fabs((double)img->px[i] - ref[i]);
        sum += d;
        *mx = fmax(*mx, d);
    }
    *mean = sum / (64 * 64 * 3);
}

#endif
