/* sd_checkpoint_config.c — SD 1.x configs: defaults, diffusers JSON files, and shapes.
 *
 * A diffusers folder states its configs in JSON; every number read is bounded (a config is
 * untrusted input too). A single file states nothing, so the SD 1.x defaults
 * (v1-inference.yaml: 4 blocks 320/640/1280/1280, 2 layers, 8 heads, 32 groups, CLIP-L 768 x 12
 * layers x 12 heads) are refined by what the tensors show: widths, block count, block types,
 * layers per block, cross-attention width, vocab, text depth. Heads and groups cannot be seen
 * in shapes and stay at the defaults (or come from a config_dir). Finally a few shapes are
 * cross-checked against the config so a mismatch is reported at open, naming the tensor.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "formats/fail.h"
#include "models/sd/sd_checkpoint_internal.h"

#define MAX_CH 16384

void oma_sd_config_defaults(oma_sd_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    oma_unet_config *u = &cfg->unet;
    u->in_channels = 4;
    u->out_channels = 4;
    u->sample_size = 64;
    u->n_blocks = 4;
    static const int boc[4] = {320, 640, 1280, 1280};
    for (int i = 0; i < 4; i++) {
        u->block_out_channels[i] = boc[i];
        u->attention_head_dim[i] = 8;
        snprintf(u->down_block_types[i], sizeof u->down_block_types[i], "%s",
                 i < 3 ? "CrossAttnDownBlock2D" : "DownBlock2D");
        snprintf(u->up_block_types[i], sizeof u->up_block_types[i], "%s",
                 i == 0 ? "UpBlock2D" : "CrossAttnUpBlock2D");
    }
    u->layers_per_block = 2;
    u->cross_attention_dim = 768;
    u->norm_num_groups = 32;
    u->norm_eps = 1e-5f;
    u->transformer_layers_per_block = 1;
    u->use_linear_projection = 0;
    u->flip_sin_to_cos = 1;
    u->freq_shift = 0;
    u->downsample_padding = 1;
    snprintf(u->act_fn, sizeof u->act_fn, "silu");

    oma_vae_config *v = &cfg->vae;
    v->in_channels = 3;
    v->out_channels = 3;
    v->latent_channels = 4;
    v->sample_size = 512;
    v->n_blocks = 4;
    static const int vb[4] = {128, 256, 512, 512};
    for (int i = 0; i < 4; i++) v->block_out_channels[i] = vb[i];
    v->layers_per_block = 2;
    v->norm_num_groups = 32;
    v->scaling_factor = 0.18215f;
    snprintf(v->act_fn, sizeof v->act_fn, "silu");

    oma_text_config *t = &cfg->text;
    t->vocab_size = 49408;
    t->hidden_size = 768;
    t->intermediate_size = 3072;
    t->num_hidden_layers = 12;
    t->num_attention_heads = 12;
    t->max_position_embeddings = 77;
    t->layer_norm_eps = 1e-5f;
    snprintf(t->hidden_act, sizeof t->hidden_act, "quick_gelu");
    t->bos_token_id = 49406;
    t->eos_token_id = 49407;
    t->pad_token_id = 49407;

    oma_scheduler_config *s = &cfg->scheduler;
    s->num_train_timesteps = 1000;
    s->beta_start = 0.00085f;
    s->beta_end = 0.012f;
    snprintf(s->beta_schedule, sizeof s->beta_schedule, "scaled_linear");
    snprintf(s->prediction_type, sizeof s->prediction_type, "epsilon");
    s->steps_offset = 1;
    s->set_alpha_to_one = 0;
    s->clip_sample = 0;
    snprintf(s->timestep_spacing, sizeof s->timestep_spacing, "leading");
    /* as stated by diffusers' single-file conversion (its DDIMScheduler config); a folder's
     * scheduler_config.json then says which fields it states itself */
    s->timestep_spacing_set = s->prediction_type_set = s->set_alpha_to_one_set = s->clip_sample_set = 1;
}

/* ---- JSON helpers: absent keys keep the default; present ones must be well-formed ---- */
typedef struct jctx {
    const char *path;
    char *err;
    size_t errlen;
} jctx;

static int get_int(const jctx *c, json_t *o, const char *k, int lo, int hi, int *out) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (json_is_boolean(v) && json_is_true(v) >= lo && json_is_true(v) <= hi) { /* false/true: 0/1 */
        *out = json_is_true(v);
        return 0;
    }
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return oma_fail(c->err, c->errlen, "%s: '%s' must be an integer in [%d, %d]", c->path, k, lo, hi);
    *out = (int)json_integer_value(v);
    return 0;
}

static int get_float(const jctx *c, json_t *o, const char *k, double lo, double hi, float *out) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi)
        return oma_fail(c->err, c->errlen, "%s: '%s' must be a number in [%g, %g]", c->path, k, lo, hi);
    *out = (float)json_number_value(v);
    return 0;
}

static int get_str(const jctx *c, json_t *o, const char *k, char *out, size_t outlen) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_string(v) || strlen(json_string_value(v)) >= outlen)
        return oma_fail(c->err, c->errlen, "%s: '%s' must be a short string", c->path, k);
    snprintf(out, outlen, "%s", json_string_value(v));
    return 0;
}

/* An int list of 1..OMA_SD_MAX_BLOCKS items into out; *n set. */
static int get_int_list(const jctx *c, json_t *o, const char *k, int lo, int hi, int *out, int *n) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > OMA_SD_MAX_BLOCKS)
        return oma_fail(c->err, c->errlen, "%s: '%s' must be a list of 1..%d integers", c->path, k,
                        OMA_SD_MAX_BLOCKS);
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *e = json_array_get(v, i);
        if (!json_is_integer(e) || json_integer_value(e) < lo || json_integer_value(e) > hi)
            return oma_fail(c->err, c->errlen, "%s: '%s'[%zu] must be an integer in [%d, %d]", c->path,
                            k, i, lo, hi);
        out[i] = (int)json_integer_value(e);
    }
    *n = (int)json_array_size(v);
    return 0;
}

static int get_str_list(const jctx *c, json_t *o, const char *k, char (*out)[40], int want) {
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_array(v) || (int)json_array_size(v) != want)
        return oma_fail(c->err, c->errlen, "%s: '%s' must list %d block types", c->path, k, want);
    for (int i = 0; i < want; i++) {
        json_t *e = json_array_get(v, (size_t)i);
        if (!json_is_string(e) || strlen(json_string_value(e)) >= 40)
            return oma_fail(c->err, c->errlen, "%s: '%s'[%d] must be a block type name", c->path, k, i);
        snprintf(out[i], 40, "%s", json_string_value(e));
    }
    return 0;
}

/* A run of scalar fields read the same way: a table of key, kind, bounds and where it goes. */
typedef enum { F_INT, F_FLOAT, F_STR } fkind;
typedef struct field {
    const char *key;
    fkind kind;
    double lo, hi;
    size_t off, len; /* offset in the config struct; the char array's size for F_STR */
} field;
/* the _Generic term is 0, and does not compile unless the member has the kind's C type */
#define KIND_IS(st, k, type) (0 * sizeof(char[_Generic(((st *)0)->k, type: 1)]))
#define FI(st, k, lo, hi) {#k, F_INT, lo, hi, offsetof(st, k) + KIND_IS(st, k, int), 0}
#define FF(st, k, lo, hi) {#k, F_FLOAT, lo, hi, offsetof(st, k) + KIND_IS(st, k, float), 0}
#define FS(st, k) {#k, F_STR, 0, 0, offsetof(st, k) + KIND_IS(st, k, char *), sizeof((st *)0)->k}
#define NFIELDS(a) (sizeof(a) / sizeof(a)[0])

/* Reads each field in order; the first bad one fails (as a chain of get_* calls would). */
static int get_fields(const jctx *c, json_t *o, const field *f, size_t n, void *cfg) {
    char *base = cfg;
    for (size_t i = 0; i < n; i++) {
        int rc = f[i].kind == F_INT     ? get_int(c, o, f[i].key, (int)f[i].lo, (int)f[i].hi, (int *)(base + f[i].off))
                 : f[i].kind == F_FLOAT ? get_float(c, o, f[i].key, f[i].lo, f[i].hi, (float *)(base + f[i].off))
                                        : get_str(c, o, f[i].key, base + f[i].off, f[i].len);
        if (rc) return rc;
    }
    return 0;
}

/* Loads path as a JSON object and hands it to section (which fills cfg); 0 or -1 with err. */
static int parse_file(const char *path, int (*section)(const jctx *c, json_t *o, void *cfg), void *cfg, char *err,
                      size_t errlen) {
    json_error_t je;
    json_t *o = json_load_file(path, 0, &je);
    if (!o) return oma_fail(err, errlen, "%s: %s", path, je.text);
    int rc;
    if (!json_is_object(o)) rc = oma_fail(err, errlen, "%s: not a JSON object", path);
    else rc = section(&(jctx){path, err, errlen}, o, cfg);
    json_decref(o);
    return rc;
}

static const field unet_head[] = {
    FI(oma_unet_config, in_channels, 1, 64),
    FI(oma_unet_config, out_channels, 1, 64),
    FI(oma_unet_config, sample_size, 1, 4096),
};
static const field unet_body[] = {
    FI(oma_unet_config, layers_per_block, 1, 16),
    FI(oma_unet_config, cross_attention_dim, 1, MAX_CH),
    FI(oma_unet_config, norm_num_groups, 1, 1024),
    FF(oma_unet_config, norm_eps, 1e-12, 1.0),
    FI(oma_unet_config, transformer_layers_per_block, 1, 16),
    FI(oma_unet_config, use_linear_projection, 0, 1),
    FI(oma_unet_config, flip_sin_to_cos, 0, 1),
    FI(oma_unet_config, freq_shift, 0, 16),
    FI(oma_unet_config, downsample_padding, 0, 4),
    FS(oma_unet_config, act_fn),
};

static int unet_section(const jctx *c, json_t *o, void *cfg) {
    oma_unet_config *u = cfg;
    const char *path = c->path;
    char *err = c->err;
    size_t errlen = c->errlen;
    int n = u->n_blocks, heads[OMA_SD_MAX_BLOCKS], nh = 0;
    if (get_fields(c, o, unet_head, NFIELDS(unet_head), u) ||
        get_int_list(c, o, "block_out_channels", 1, MAX_CH, u->block_out_channels, &n))
        return -1;
    u->n_blocks = n;
    if (json_is_array(json_object_get(o, "layers_per_block")) ||
        json_is_array(json_object_get(o, "cross_attention_dim")) ||
        json_is_array(json_object_get(o, "transformer_layers_per_block")))
        return oma_fail(err, errlen, "%s: per-block layers / cross-attention widths (SDXL-style) are not supported",
                        path);
    if (get_fields(c, o, unet_body, NFIELDS(unet_body), u) ||
        get_str_list(c, o, "down_block_types", u->down_block_types, n) ||
        get_str_list(c, o, "up_block_types", u->up_block_types, n))
        return -1;
    /* heads: num_attention_heads when given, else attention_head_dim (diffusers' SD 1.x naming) */
    const char *hk = json_is_null(json_object_get(o, "num_attention_heads")) ||
                             !json_object_get(o, "num_attention_heads")
                         ? "attention_head_dim"
                         : "num_attention_heads";
    json_t *hv = json_object_get(o, hk);
    if (json_is_integer(hv)) {
        int h = 0;
        if (get_int(c, o, hk, 1, 1024, &h)) return -1;
        for (int i = 0; i < n; i++) u->attention_head_dim[i] = h;
    } else if (json_is_array(hv)) {
        if (get_int_list(c, o, hk, 1, 1024, heads, &nh)) return -1;
        if (nh != n) return oma_fail(err, errlen, "%s: '%s' lists %d blocks, block_out_channels %d", path, hk, nh, n);
        for (int i = 0; i < n; i++) u->attention_head_dim[i] = heads[i];
    } else if (hv && !json_is_null(hv)) {
        return oma_fail(err, errlen, "%s: '%s' must be an integer or a list", path, hk);
    } else {
        for (int i = 0; i < n; i++)
            if (u->attention_head_dim[i] < 1) u->attention_head_dim[i] = 8;
    }
    for (int i = 0; i < n; i++) {
        if (u->block_out_channels[i] % u->norm_num_groups)
            return oma_fail(err, errlen, "%s: block %d has %d channels, not a multiple of %d groups", path, i,
                            u->block_out_channels[i], u->norm_num_groups);
        if (u->block_out_channels[i] % u->attention_head_dim[i])
            return oma_fail(err, errlen, "%s: block %d: %d channels do not split into %d heads", path, i,
                            u->block_out_channels[i], u->attention_head_dim[i]);
    }
    return 0;
}

int sd_parse_unet_config(const char *path, oma_unet_config *u, char *err, size_t errlen) {
    return parse_file(path, unet_section, u, err, errlen);
}

static const field vae_head[] = {
    FI(oma_vae_config, in_channels, 1, 64),
    FI(oma_vae_config, out_channels, 1, 64),
    FI(oma_vae_config, latent_channels, 1, 64),
    FI(oma_vae_config, sample_size, 1, 16384),
};
static const field vae_body[] = {
    FI(oma_vae_config, layers_per_block, 1, 16),
    FI(oma_vae_config, norm_num_groups, 1, 1024),
    FF(oma_vae_config, scaling_factor, 1e-6, 1e3),
    FS(oma_vae_config, act_fn),
};

static int vae_section(const jctx *c, json_t *o, void *cfg) {
    oma_vae_config *v = cfg;
    int n = v->n_blocks;
    if (get_fields(c, o, vae_head, NFIELDS(vae_head), v) ||
        get_int_list(c, o, "block_out_channels", 1, MAX_CH, v->block_out_channels, &n) ||
        get_fields(c, o, vae_body, NFIELDS(vae_body), v))
        return -1;
    v->n_blocks = n;
    for (int i = 0; i < n; i++)
        if (v->block_out_channels[i] % v->norm_num_groups)
            return oma_fail(c->err, c->errlen, "%s: block %d has %d channels, not a multiple of %d groups", c->path,
                            i, v->block_out_channels[i], v->norm_num_groups);
    return 0;
}

int sd_parse_vae_config(const char *path, oma_vae_config *v, char *err, size_t errlen) {
    return parse_file(path, vae_section, v, err, errlen);
}

static const field text_fields[] = {
    FI(oma_text_config, vocab_size, 1, 1000000),
    FI(oma_text_config, hidden_size, 1, MAX_CH),
    FI(oma_text_config, intermediate_size, 1, 4 * MAX_CH),
    FI(oma_text_config, num_hidden_layers, 1, 128),
    FI(oma_text_config, num_attention_heads, 1, 1024),
    FI(oma_text_config, max_position_embeddings, 1, 4096),
    FF(oma_text_config, layer_norm_eps, 1e-12, 1.0),
    FS(oma_text_config, hidden_act),
    FI(oma_text_config, bos_token_id, 0, 1000000),
    FI(oma_text_config, eos_token_id, 0, 1000000),
    FI(oma_text_config, pad_token_id, 0, 1000000),
};

static int text_section(const jctx *c, json_t *o, void *cfg) {
    oma_text_config *t = cfg;
    if (get_fields(c, o, text_fields, NFIELDS(text_fields), t)) return -1;
    if (t->hidden_size % t->num_attention_heads)
        return oma_fail(c->err, c->errlen, "%s: hidden_size %d does not split into %d heads", c->path,
                        t->hidden_size, t->num_attention_heads);
    return 0;
}

int sd_parse_text_config(const char *path, oma_text_config *t, char *err, size_t errlen) {
    return parse_file(path, text_section, t, err, errlen);
}

static const field scheduler_fields[] = {
    FI(oma_scheduler_config, num_train_timesteps, 1, 100000),
    FF(oma_scheduler_config, beta_start, 0, 1),
    FF(oma_scheduler_config, beta_end, 0, 1),
    FS(oma_scheduler_config, beta_schedule),
    FS(oma_scheduler_config, prediction_type),
    FI(oma_scheduler_config, steps_offset, 0, 1000),
    FI(oma_scheduler_config, set_alpha_to_one, 0, 1),
    FI(oma_scheduler_config, clip_sample, 0, 1),
    FS(oma_scheduler_config, timestep_spacing),
    FI(oma_scheduler_config, rescale_betas_zero_snr, 0, 1),
};

/* 1 when o states key (present and not null). */
static int stated(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    return v && !json_is_null(v);
}

static int scheduler_section(const jctx *c, json_t *o, void *cfg) {
    oma_scheduler_config *s = cfg;
    if (get_fields(c, o, scheduler_fields, NFIELDS(scheduler_fields), s)) return -1;
    /* absent (or null) fields take each sampler's own diffusers default */
    s->timestep_spacing_set = stated(o, "timestep_spacing");
    s->prediction_type_set = stated(o, "prediction_type");
    s->set_alpha_to_one_set = stated(o, "set_alpha_to_one");
    s->clip_sample_set = stated(o, "clip_sample");
    return 0;
}

int sd_parse_scheduler_config(const char *path, oma_scheduler_config *s, char *err, size_t errlen) {
    return parse_file(path, scheduler_section, s, err, errlen);
}

/* ---- from shapes ---- */
static const oma_st_tensor *T(const oma_sd_checkpoint *ck, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return oma_sd_find(ck, name);
}

int sd_infer_config(const oma_sd_checkpoint *ck, oma_sd_config *cfg, char *err, size_t errlen) {
    oma_unet_config *u = &cfg->unet;
    const oma_st_tensor *t;
    int n = 0;
    while (n < OMA_SD_MAX_BLOCKS && T(ck, "unet.down_blocks.%d.resnets.0.conv1.weight", n)) n++;
    if (n == 0) return oma_fail(err, errlen, "sd: tensor 'unet.down_blocks.0.resnets.0.conv1.weight': missing");
    int heads = u->attention_head_dim[0] > 0 ? u->attention_head_dim[0] : 8;
    u->n_blocks = n;
    for (int i = 0; i < n; i++) {
        t = T(ck, "unet.down_blocks.%d.resnets.0.conv1.weight", i);
        if (t->ndim != 4 || t->shape[0] < 1 || t->shape[0] > MAX_CH)
            return oma_fail(err, errlen, "sd: tensor '%s': not a conv weight", t->name);
        u->block_out_channels[i] = (int)t->shape[0];
        u->attention_head_dim[i] = heads;
        int down_attn = T(ck, "unet.down_blocks.%d.attentions.0.proj_in.weight", i) != NULL;
        int up_attn = T(ck, "unet.up_blocks.%d.attentions.0.proj_in.weight", i) != NULL;
        snprintf(u->down_block_types[i], 40, "%s", down_attn ? "CrossAttnDownBlock2D" : "DownBlock2D");
        snprintf(u->up_block_types[i], 40, "%s", up_attn ? "CrossAttnUpBlock2D" : "UpBlock2D");
    }
    int L = 0;
    while (L < 16 && T(ck, "unet.down_blocks.0.resnets.%d.conv1.weight", L)) L++;
    u->layers_per_block = L;
    if ((t = T(ck, "unet.conv_in.weight")) && t->ndim == 4) u->in_channels = (int)t->shape[1];
    if ((t = T(ck, "unet.conv_out.weight")) && t->ndim == 4) u->out_channels = (int)t->shape[0];
    for (int i = 0; i < n; i++)
        if ((t = T(ck, "unet.down_blocks.%d.attentions.0.transformer_blocks.0.attn2.to_k.weight", i)) &&
            t->ndim == 2) {
            u->cross_attention_dim = (int)t->shape[1];
            break;
        }
    if ((t = T(ck, "unet.mid_block.attentions.0.proj_in.weight"))) u->use_linear_projection = t->ndim == 2;

    oma_vae_config *v = &cfg->vae;
    n = 0;
    while (n < OMA_SD_MAX_BLOCKS && T(ck, "vae.encoder.down_blocks.%d.resnets.0.conv1.weight", n)) n++;
    if (n == 0)
        return oma_fail(err, errlen, "sd: tensor 'vae.encoder.down_blocks.0.resnets.0.conv1.weight': missing");
    v->n_blocks = n;
    for (int i = 0; i < n; i++) {
        t = T(ck, "vae.encoder.down_blocks.%d.resnets.0.conv1.weight", i);
        if (t->ndim != 4 || t->shape[0] < 1 || t->shape[0] > MAX_CH)
            return oma_fail(err, errlen, "sd: tensor '%s': not a conv weight", t->name);
        v->block_out_channels[i] = (int)t->shape[0];
    }
    L = 0;
    while (L < 16 && T(ck, "vae.encoder.down_blocks.0.resnets.%d.conv1.weight", L)) L++;
    v->layers_per_block = L;
    if ((t = T(ck, "vae.encoder.conv_in.weight")) && t->ndim == 4) v->in_channels = (int)t->shape[1];
    if ((t = T(ck, "vae.decoder.conv_out.weight")) && t->ndim == 4) v->out_channels = (int)t->shape[0];
    if ((t = T(ck, "vae.decoder.conv_in.weight")) && t->ndim == 4) v->latent_channels = (int)t->shape[1];

    oma_text_config *x = &cfg->text;
    if ((t = T(ck, "text_encoder.text_model.embeddings.token_embedding.weight")) && t->ndim == 2) {
        x->vocab_size = (int)t->shape[0];
        x->hidden_size = (int)t->shape[1];
    }
    if ((t = T(ck, "text_encoder.text_model.embeddings.position_embedding.weight")) && t->ndim == 2)
        x->max_position_embeddings = (int)t->shape[0];
    if ((t = T(ck, "text_encoder.text_model.encoder.layers.0.mlp.fc1.weight")) && t->ndim == 2)
        x->intermediate_size = (int)t->shape[0];
    L = 0;
    while (L < 128 && T(ck, "text_encoder.text_model.encoder.layers.%d.self_attn.q_proj.weight", L)) L++;
    x->num_hidden_layers = L;
    return 0;
}

static int expect(const oma_sd_checkpoint *ck, const char *name, int ndim, int64_t a, int64_t b,
                  int64_t c, int64_t d, char *err, size_t errlen) {
    int64_t shape[4] = {a, b, c, d};
    const oma_st_tensor *t;
    return oma_sd_get(ck, name, ndim, shape, &t, err, errlen);
}

int sd_validate_config(const oma_sd_checkpoint *ck, const oma_sd_config *cfg, char *err,
                       size_t errlen) {
    const oma_unet_config *u = &cfg->unet;
    const oma_vae_config *v = &cfg->vae;
    const oma_text_config *t = &cfg->text;
    if (u->n_blocks < 1 || v->n_blocks < 1 || u->layers_per_block < 1 || v->layers_per_block < 1 ||
        t->num_hidden_layers < 1 || t->hidden_size < 1 || t->num_attention_heads < 1 ||
        t->hidden_size % t->num_attention_heads)
        return oma_fail(err, errlen, "sd: the model's configuration is incomplete or inconsistent");
    if (expect(ck, "unet.conv_in.weight", 4, u->block_out_channels[0], u->in_channels, 3, 3, err, errlen) ||
        expect(ck, "unet.conv_out.weight", 4, u->out_channels, u->block_out_channels[0], 3, 3, err, errlen) ||
        expect(ck, "vae.encoder.conv_in.weight", 4, v->block_out_channels[0], v->in_channels, 3, 3, err, errlen) ||
        expect(ck, "vae.decoder.conv_in.weight", 4, v->block_out_channels[v->n_blocks - 1],
               v->latent_channels, 3, 3, err, errlen) ||
        expect(ck, "text_encoder.text_model.embeddings.token_embedding.weight", 2, t->vocab_size,
               t->hidden_size, 0, 0, err, errlen) ||
        expect(ck, "text_encoder.text_model.embeddings.position_embedding.weight", 2,
               t->max_position_embeddings, t->hidden_size, 0, 0, err, errlen))
        return -1;
    char name[160];
    snprintf(name, sizeof name, "text_encoder.text_model.encoder.layers.%d.mlp.fc1.weight",
             t->num_hidden_layers - 1);
    if (expect(ck, name, 2, t->intermediate_size, t->hidden_size, 0, 0, err, errlen)) return -1;
    for (int i = 0; i < u->n_blocks; i++) {
        if (strstr(u->down_block_types[i], "CrossAttn")) {
            snprintf(name, sizeof name, "unet.down_blocks.%d.attentions.0.transformer_blocks.0.attn2.to_k.weight", i);
            int64_t inner = u->block_out_channels[i];
            if (expect(ck, name, 2, inner, u->cross_attention_dim, 0, 0, err, errlen)) return -1;
        }
    }
    return 0;
}
