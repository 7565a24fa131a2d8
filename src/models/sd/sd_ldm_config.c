/* sd_ldm_config.c — a single-file checkpoint's original LDM yaml (v1-inference.yaml,
 * v2-inference-v.yaml, ...) turned into the diffusers configs, as diffusers' own conversion
 * (download_from_original_stable_diffusion_ckpt in v0.21.4) reads it.
 *
 * Honoured: model.params.parameterization ("v" -> v_prediction), linear_start / linear_end /
 * timesteps, scale_factor; unet_config.params in/out_channels, model_channels x channel_mult,
 * num_res_blocks, attention_resolutions (which levels get cross-attention), num_heads or
 * num_head_channels (LDM's rule: a fixed head width gives channels / width heads per level),
 * context_dim, transformer_depth, use_linear_in_transformer; first_stage_config ddconfig ch x
 * ch_mult, z_channels, num_res_blocks, in_channels, out_ch, embed_dim; cond_stage_config must be
 * SD 1.x's FrozenCLIPEmbedder (its size comes from the tensors). The scheduler becomes the one
 * the conversion builds (DDIM-style: scaled_linear betas, steps_offset 1, "leading" spacing,
 * stated). The default picture size is 512 (768 for "v"), as the conversion picks. Anything the
 * engine cannot build (other model or encoder classes, class conditioning, scale-shift norms,
 * res-block up/down sampling, attention inside VAE blocks, ...) is refused by name.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "formats/fail.h"
#include "formats/yaml.h"
#include "models/sd/sd_checkpoint_internal.h"

typedef struct lctx {
    const char *path;
    char *err;
    size_t errlen;
} lctx;

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* An integer under key in m: 0 when absent (*out kept), -1 with err when malformed. */
static int get_i(const lctx *c, const oma_yaml_node *m, const char *where, const char *key, long long lo,
                 long long hi, int *out)
{
    const oma_yaml_node *v = oma_yaml_get(m, key);
    if (!v || v->kind == OMA_YAML_NULL) return 0;
    long long x;
    if (oma_yaml_int(v, lo, hi, &x))
        return oma_fail(c->err, c->errlen, "%s: %s.%s must be an integer in %lld..%lld", c->path, where, key, lo, hi);
    *out = (int)x;
    return 0;
}

static int get_f(const lctx *c, const oma_yaml_node *m, const char *where, const char *key, double lo, double hi,
                 float *out)
{
    const oma_yaml_node *v = oma_yaml_get(m, key);
    if (!v || v->kind == OMA_YAML_NULL) return 0;
    double x;
    if (oma_yaml_num(v, lo, hi, &x))
        return oma_fail(c->err, c->errlen, "%s: %s.%s must be a number in %g..%g", c->path, where, key, lo, hi);
    *out = (float)x;
    return 0;
}

static int get_b(const lctx *c, const oma_yaml_node *m, const char *where, const char *key, int *out)
{
    const oma_yaml_node *v = oma_yaml_get(m, key);
    if (!v || v->kind == OMA_YAML_NULL) return 0;
    if (oma_yaml_bool(v, out)) return oma_fail(c->err, c->errlen, "%s: %s.%s must be true or false", c->path, where, key);
    return 0;
}

/* A list of at most OMA_SD_MAX_BLOCKS integers (at least one unless allow_empty); *n set. */
static int get_list(const lctx *c, const oma_yaml_node *m, const char *where, const char *key, int lo, int hi,
                    int *out, int *n, int allow_empty)
{
    const oma_yaml_node *v = oma_yaml_get(m, key);
    if (!v) return 0;
    if (v->kind != OMA_YAML_LIST || v->n > OMA_SD_MAX_BLOCKS || (!allow_empty && v->n == 0))
        return oma_fail(c->err, c->errlen, "%s: %s.%s must be a list of %d..%d integers", c->path, where, key,
                        allow_empty ? 0 : 1, OMA_SD_MAX_BLOCKS);
    for (size_t i = 0; i < v->n; i++) {
        long long x;
        if (oma_yaml_int(&v->items[i], lo, hi, &x))
            return oma_fail(c->err, c->errlen, "%s: %s.%s[%zu] must be an integer in %d..%d", c->path, where, key,
                            i, lo, hi);
        out[i] = (int)x;
    }
    *n = (int)v->n;
    return 0;
}

/* Refuses keys whose stated value would change the architecture into one the engine lacks. */
static int refuse(const lctx *c, const oma_yaml_node *m, const char *where, const char *const *keys,
                  const char *const *fine)
{
    for (int i = 0; keys[i]; i++) {
        const oma_yaml_node *v = oma_yaml_get(m, keys[i]);
        if (!v || v->kind == OMA_YAML_NULL) continue;
        const char *s = oma_yaml_str(v);
        if (s && fine[i] && !strcasecmp(s, fine[i])) continue;
        return oma_fail(c->err, c->errlen, "%s: %s.%s%s%s is not supported", c->path, where, keys[i],
                        s ? " = " : "", s ? s : "");
    }
    return 0;
}

static int unet_part(const lctx *c, const oma_yaml_node *up, oma_unet_config *u)
{
    const char *W = "unet_config.params";
    static const char *const bad[] = {"num_classes", "use_scale_shift_norm", "resblock_updown", "dims",
                                      "disable_self_attentions", "num_attention_blocks", "adm_in_channels",
                                      "use_spatial_transformer", "conv_resample", "disable_middle_self_attn",
                                      "n_embed", NULL};
    static const char *const ok[] = {NULL, "false", "false", "2", NULL, NULL, NULL, "true", "true", "false", NULL};
    if (refuse(c, up, W, bad, ok)) return -1;
    int mc = 320, mult[OMA_SD_MAX_BLOCKS] = {1, 2, 4, 4}, nm = 4, attn[OMA_SD_MAX_BLOCKS] = {4, 2, 1}, na = 3;
    int heads = 8, head_ch = -1, ctx = u->cross_attention_dim, depth = 1, linear = 0, lpb = u->layers_per_block;
    const oma_yaml_node *nr = oma_yaml_get(up, "num_res_blocks");
    if (nr && nr->kind == OMA_YAML_LIST)
        return oma_fail(c->err, c->errlen, "%s: %s.num_res_blocks as a per-level list is not supported", c->path, W);
    const oma_yaml_node *td = oma_yaml_get(up, "transformer_depth");
    if (td && td->kind == OMA_YAML_LIST)
        return oma_fail(c->err, c->errlen, "%s: %s.transformer_depth as a per-level list is not supported", c->path, W);
    const oma_yaml_node *cd = oma_yaml_get(up, "context_dim");
    if (cd && cd->kind == OMA_YAML_LIST)
        return oma_fail(c->err, c->errlen, "%s: %s.context_dim as a list is not supported", c->path, W);
    if (get_i(c, up, W, "in_channels", 1, 64, &u->in_channels) ||
        get_i(c, up, W, "out_channels", 1, 64, &u->out_channels) ||
        get_i(c, up, W, "model_channels", 1, 16384, &mc) ||
        get_list(c, up, W, "channel_mult", 1, 64, mult, &nm, 0) ||
        get_i(c, up, W, "num_res_blocks", 1, 16, &lpb) ||
        get_list(c, up, W, "attention_resolutions", 1, 1 << 20, attn, &na, 1) ||
        get_i(c, up, W, "num_heads", -1, 1024, &heads) ||
        get_i(c, up, W, "num_head_channels", -1, 16384, &head_ch) ||
        get_i(c, up, W, "context_dim", 1, 16384, &ctx) ||
        get_i(c, up, W, "transformer_depth", 1, 16, &depth) ||
        get_b(c, up, W, "use_linear_in_transformer", &linear))
        return -1;
    u->n_blocks = nm;
    u->layers_per_block = lpb;
    u->cross_attention_dim = ctx;
    u->transformer_layers_per_block = depth;
    u->use_linear_projection = linear;
    for (int i = 0; i < nm; i++) {
        int ch = mc * mult[i];
        u->block_out_channels[i] = ch;
        /* LDM: a head width (num_head_channels) gives ch / width heads; else num_heads heads */
        if (head_ch > 0) {
            if (ch % head_ch)
                return oma_fail(c->err, c->errlen, "%s: %s: %d channels do not split into heads of %d", c->path, W,
                                ch, head_ch);
            u->attention_head_dim[i] = ch / head_ch;
        } else if (heads > 0) {
            u->attention_head_dim[i] = heads;
        } else {
            return oma_fail(c->err, c->errlen, "%s: %s: num_heads or num_head_channels must be set", c->path, W);
        }
        if (ch % u->attention_head_dim[i])
            return oma_fail(c->err, c->errlen, "%s: %s: %d channels do not split into %d heads", c->path, W, ch,
                            u->attention_head_dim[i]);
        /* diffusers: level i (resolution 2^i) has attention when 2^i is in attention_resolutions */
        int res_down = 1 << i, res_up = 1 << (nm - 1 - i), down_attn = 0, up_attn = 0;
        for (int k = 0; k < na; k++) {
            down_attn |= attn[k] == res_down;
            up_attn |= attn[k] == res_up;
        }
        snprintf(u->down_block_types[i], sizeof u->down_block_types[i], "%s",
                 down_attn ? "CrossAttnDownBlock2D" : "DownBlock2D");
        snprintf(u->up_block_types[i], sizeof u->up_block_types[i], "%s",
                 up_attn ? "CrossAttnUpBlock2D" : "UpBlock2D");
    }
    u->norm_num_groups = 32;    /* LDM's normalization(): GroupNorm32(32, ch), eps 1e-5 */
    u->norm_eps = 1e-5f;
    return 0;
}

static int vae_part(const lctx *c, const oma_yaml_node *fp, oma_vae_config *v)
{
    const char *W = "first_stage_config.params.ddconfig";
    const oma_yaml_node *dd = oma_yaml_get(fp, "ddconfig");
    if (!dd || dd->kind != OMA_YAML_MAP)
        return oma_fail(c->err, c->errlen, "%s: first_stage_config.params.ddconfig is missing", c->path);
    int ch = 128, mult[OMA_SD_MAX_BLOCKS] = {1, 2, 4, 4}, nm = 4, ar[OMA_SD_MAX_BLOCKS], na = 0, dz = 1;
    int embed = -1;
    if (get_i(c, dd, W, "ch", 1, 16384, &ch) || get_list(c, dd, W, "ch_mult", 1, 64, mult, &nm, 0) ||
        get_i(c, dd, W, "z_channels", 1, 64, &v->latent_channels) ||
        get_i(c, dd, W, "num_res_blocks", 1, 16, &v->layers_per_block) ||
        get_i(c, dd, W, "in_channels", 1, 64, &v->in_channels) || get_i(c, dd, W, "out_ch", 1, 64, &v->out_channels) ||
        get_list(c, dd, W, "attn_resolutions", 0, 1 << 20, ar, &na, 1) || get_b(c, dd, W, "double_z", &dz) ||
        get_i(c, fp, "first_stage_config.params", "embed_dim", 1, 64, &embed))
        return -1;
    if (na > 0)
        return oma_fail(c->err, c->errlen, "%s: %s.attn_resolutions: attention inside VAE blocks is not supported",
                        c->path, W);
    if (!dz) return oma_fail(c->err, c->errlen, "%s: %s.double_z = false is not supported", c->path, W);
    if (embed > 0 && embed != v->latent_channels)
        return oma_fail(c->err, c->errlen, "%s: first_stage_config.params.embed_dim %d differs from z_channels %d",
                        c->path, embed, v->latent_channels);
    static const char *const bad[] = {"attn_type", "tanh_out", "give_pre_end", "use_linear_attn", NULL};
    static const char *const ok[] = {"vanilla", "false", "false", "false"};
    if (refuse(c, dd, W, bad, ok)) return -1;
    v->n_blocks = nm;
    for (int i = 0; i < nm; i++) v->block_out_channels[i] = ch * mult[i];
    v->norm_num_groups = 32;
    return 0;
}

static const char *target_of(const oma_yaml_node *m) { return oma_yaml_str(oma_yaml_get(m, "target")); }

static int ldm_config(const lctx *c, const oma_yaml_node *root, oma_sd_config *cfg, int *image_size)
{
    const oma_yaml_node *model = oma_yaml_get(root, "model");
    const oma_yaml_node *mp = oma_yaml_get(model, "params");
    if (!mp || mp->kind != OMA_YAML_MAP)
        return oma_fail(c->err, c->errlen, "%s: model.params is missing (not an LDM config)", c->path);
    const char *mt = target_of(model);
    if (mt && !ends_with(mt, ".LatentDiffusion"))
        return oma_fail(c->err, c->errlen, "%s: model.target %s is not supported (only ...ddpm.LatentDiffusion)",
                        c->path, mt);
    if (oma_yaml_get(mp, "network_config"))
        return oma_fail(c->err, c->errlen, "%s: model.params.network_config (SDXL) is not supported", c->path);
    static const char *const bad[] = {"control_stage_config", "noise_aug_config", "embedder_config", NULL};
    static const char *const ok[] = {NULL, NULL, NULL};
    if (refuse(c, mp, "model.params", bad, ok)) return -1;

    oma_scheduler_config *s = &cfg->scheduler;
    const char *param = oma_yaml_str(oma_yaml_get(mp, "parameterization"));
    *image_size = 512;
    snprintf(s->prediction_type, sizeof s->prediction_type, "epsilon");
    if (param && !strcmp(param, "v")) {
        snprintf(s->prediction_type, sizeof s->prediction_type, "v_prediction");
        *image_size = 768;
    } else if (param && strcmp(param, "eps")) {
        return oma_fail(c->err, c->errlen, "%s: model.params.parameterization \"%s\" is not supported (eps or v)",
                        c->path, param);
    }
    s->prediction_type_set = 1;
    const char *bs = oma_yaml_str(oma_yaml_get(mp, "beta_schedule"));
    if (bs && strcmp(bs, "linear"))   /* LDM's "linear" is linear in sqrt(beta): diffusers' scaled_linear */
        return oma_fail(c->err, c->errlen, "%s: model.params.beta_schedule \"%s\" is not supported (linear)", c->path,
                        bs);
    snprintf(s->beta_schedule, sizeof s->beta_schedule, "scaled_linear");
    if (get_f(c, mp, "model.params", "linear_start", 1e-8, 0.5, &s->beta_start) ||
        get_f(c, mp, "model.params", "linear_end", 1e-8, 0.999, &s->beta_end) ||
        get_i(c, mp, "model.params", "timesteps", 2, 100000, &s->num_train_timesteps) ||
        get_f(c, mp, "model.params", "scale_factor", 1e-6, 1e3, &cfg->vae.scaling_factor))
        return -1;
    if (!(s->beta_start < s->beta_end))
        return oma_fail(c->err, c->errlen, "%s: model.params.linear_start must be below linear_end", c->path);
    s->steps_offset = 1;
    s->clip_sample = 0;
    s->set_alpha_to_one = 0;
    snprintf(s->timestep_spacing, sizeof s->timestep_spacing, "leading");
    s->timestep_spacing_set = 1;

    const oma_yaml_node *uc = oma_yaml_get(mp, "unet_config"), *fc = oma_yaml_get(mp, "first_stage_config");
    const oma_yaml_node *cc = oma_yaml_get(mp, "cond_stage_config");
    if (!uc || !oma_yaml_get(uc, "params") || !fc || !oma_yaml_get(fc, "params"))
        return oma_fail(c->err, c->errlen, "%s: model.params needs unet_config.params and first_stage_config.params",
                        c->path);
    const char *ut = target_of(uc), *ft = target_of(fc), *ct = cc ? target_of(cc) : NULL;
    if (ut && !ends_with(ut, "openaimodel.UNetModel"))
        return oma_fail(c->err, c->errlen, "%s: unet_config.target %s is not supported", c->path, ut);
    if (ft && !ends_with(ft, ".AutoencoderKL"))
        return oma_fail(c->err, c->errlen, "%s: first_stage_config.target %s is not supported (AutoencoderKL)",
                        c->path, ft);
    if (ct && !ends_with(ct, ".FrozenCLIPEmbedder"))
        return oma_fail(c->err, c->errlen,
                        "%s: cond_stage_config.target %s is not supported (SD 1.x's FrozenCLIPEmbedder only)", c->path,
                        ct);
    if (cc) {
        const char *layer = oma_yaml_str(oma_yaml_path(cc, "params.layer"));
        if (layer && strcmp(layer, "last"))
            return oma_fail(c->err, c->errlen,
                            "%s: cond_stage_config.params.layer \"%s\" is not supported (use clip skip instead)",
                            c->path, layer);
    }
    if (unet_part(c, oma_yaml_get(uc, "params"), &cfg->unet) ||
        vae_part(c, oma_yaml_get(fc, "params"), &cfg->vae))
        return -1;
    int f = 1 << (cfg->vae.n_blocks - 1);
    cfg->unet.sample_size = *image_size / f;
    cfg->vae.sample_size = *image_size;
    return 0;
}

int sd_parse_ldm_yaml(const char *path, oma_sd_config *cfg, char *err, size_t errlen)
{
    oma_yaml_node *root = NULL;
    if (oma_yaml_load(path, &root, err, errlen)) return -1;
    lctx c = {path, err, errlen};
    int image_size = 512;
    int rc = ldm_config(&c, root, cfg, &image_size);
    oma_yaml_free(root);
    return rc;
}

/* "[320, 640, 1280, 1280]" */
static void list_text(const int *v, int n, char *out, size_t len)
{
    size_t k = 0;
    k += (size_t)snprintf(out, len, "[");
    for (int i = 0; i < n && k < len; i++) k += (size_t)snprintf(out + k, len - k, "%s%d", i ? ", " : "", v[i]);
    if (k < len) snprintf(out + k, len - k, "]");
}

static int differ(const char *path, const char *what, const int *a, int na, const int *b, int nb, char *err,
                  size_t errlen)
{
    int same = na == nb;
    for (int i = 0; same && i < na; i++) same = a[i] == b[i];
    if (same) return 0;
    char ya[128], tb[128];
    list_text(a, na, ya, sizeof ya);
    list_text(b, nb, tb, sizeof tb);
    return oma_fail(err, errlen, "sd: %s: the yaml says %s %s, the checkpoint's tensors %s", path, what, ya, tb);
}

int sd_check_yaml_against_shapes(const char *path, const oma_sd_config *y, const oma_sd_config *t, char *err,
                                 size_t errlen)
{
    const oma_unet_config *yu = &y->unet, *tu = &t->unet;
    const oma_vae_config *yv = &y->vae, *tv = &t->vae;
    int ya[OMA_SD_MAX_BLOCKS], ta[OMA_SD_MAX_BLOCKS];
    for (int i = 0; i < yu->n_blocks; i++) ya[i] = strncmp(yu->down_block_types[i], "CrossAttn", 9) == 0;
    for (int i = 0; i < tu->n_blocks; i++) ta[i] = strncmp(tu->down_block_types[i], "CrossAttn", 9) == 0;
    if (differ(path, "UNet block widths (model_channels x channel_mult)", yu->block_out_channels, yu->n_blocks,
               tu->block_out_channels, tu->n_blocks, err, errlen) ||
        differ(path, "UNet num_res_blocks", &yu->layers_per_block, 1, &tu->layers_per_block, 1, err, errlen) ||
        differ(path, "UNet in_channels", &yu->in_channels, 1, &tu->in_channels, 1, err, errlen) ||
        differ(path, "UNet out_channels", &yu->out_channels, 1, &tu->out_channels, 1, err, errlen) ||
        differ(path, "UNet context_dim", &yu->cross_attention_dim, 1, &tu->cross_attention_dim, 1, err, errlen) ||
        differ(path, "use_linear_in_transformer", &yu->use_linear_projection, 1, &tu->use_linear_projection, 1,
               err, errlen) ||
        differ(path, "cross-attention per level (attention_resolutions)", ya, yu->n_blocks, ta, tu->n_blocks, err,
               errlen) ||
        differ(path, "VAE block widths (ch x ch_mult)", yv->block_out_channels, yv->n_blocks, tv->block_out_channels,
               tv->n_blocks, err, errlen) ||
        differ(path, "VAE num_res_blocks", &yv->layers_per_block, 1, &tv->layers_per_block, 1, err, errlen) ||
        differ(path, "VAE z_channels", &yv->latent_channels, 1, &tv->latent_channels, 1, err, errlen))
        return -1;
    return 0;
}
