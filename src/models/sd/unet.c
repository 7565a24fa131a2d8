/* unet.c — UNet2DConditionModel load and forward (see unet.h). */
#include "models/sd/unet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/ops.h"

#define TRY(x) do { if ((x) != 0) goto fail; } while (0)

static int is_cross(const char *type) { return strncmp(type, "CrossAttn", 9) == 0; }

static int check_config(const oma_unet_config *c, char *err, size_t errlen)
{
    if (c->n_blocks < 1 || c->n_blocks > OMA_SD_MAX_BLOCKS || c->layers_per_block < 1 ||
        c->layers_per_block + 1 > OMA_UNET_MAX_LAYERS || c->in_channels < 1 || c->out_channels < 1 ||
        c->cross_attention_dim < 1 || c->norm_num_groups < 1 ||
        c->transformer_layers_per_block < 1 || c->transformer_layers_per_block > OMA_MAX_TRANSFORMER_LAYERS) {
        snprintf(err, errlen, "unet: unsupported config");
        return -1;
    }
    for (int i = 0; i < c->n_blocks; i++) {
        if (c->block_out_channels[i] < 1 || c->block_out_channels[i] % c->norm_num_groups != 0 ||
            c->attention_head_dim[i] < 1) {
            snprintf(err, errlen, "unet: bad block %d config", i);
            return -1;
        }
        const char *d = c->down_block_types[i], *u = c->up_block_types[i];
        if ((strcmp(d, "CrossAttnDownBlock2D") && strcmp(d, "DownBlock2D")) ||
            (strcmp(u, "CrossAttnUpBlock2D") && strcmp(u, "UpBlock2D"))) {
            snprintf(err, errlen, "unet: block types '%s'/'%s' not supported", d, u);
            return -1;
        }
    }
    return 0;
}

static int unet_load(oma_unet *u, const oma_weights *w, const char *prefix,
                     const oma_unet_config *cfg, int body_only, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    if (errlen) err[0] = 0;
    if (check_config(cfg, err, errlen) != 0) return -1;
    u->cfg = *cfg;
    const oma_unet_config *c = cfg;
    int nb = c->n_blocks, lpb = c->layers_per_block, G = c->norm_num_groups;
    int64_t ch0 = c->block_out_channels[0], temb = ch0 * 4, cross = c->cross_attention_dim;
    float eps = c->norm_eps > 0 ? c->norm_eps : 1e-5f;
    char p[512];
#define P(...) (snprintf(p, sizeof p, __VA_ARGS__), p)
    TRY(oma_timestep_embedding_load(&u->time_emb, w, P("%s.time_embedding", prefix), ch0, temb, err, errlen));
    TRY(oma_conv2d_load(&u->conv_in, w, P("%s.conv_in", prefix), c->in_channels, ch0, 3, 1, 1, 1, err, errlen));
    int64_t out_ch = ch0;
    for (int i = 0; i < nb; i++) {
        oma_unet_block *b = &u->down[i];
        int64_t in_ch = out_ch;
        out_ch = c->block_out_channels[i];
        b->has_attn = is_cross(c->down_block_types[i]);
        for (int j = 0; j < lpb; j++) {
            TRY(oma_resnet_load(&b->res[j], w, P("%s.down_blocks.%d.resnets.%d", prefix, i, j),
                                j == 0 ? in_ch : out_ch, out_ch, temb, G, eps, err, errlen));
            b->n_res = j + 1;
            if (b->has_attn)
                TRY(oma_transformer2d_load(&b->attn[j], w, P("%s.down_blocks.%d.attentions.%d", prefix, i, j),
                                           out_ch, c->attention_head_dim[i], cross,
                                           c->transformer_layers_per_block, c->use_linear_projection,
                                           G, err, errlen));
        }
        if (i < nb - 1) {
            TRY(oma_downsample_load(&b->down, w, P("%s.down_blocks.%d.downsamplers.0", prefix, i), out_ch,
                                    c->downsample_padding, err, errlen));
            b->has_sampler = 1;
        }
    }
    int64_t top = c->block_out_channels[nb - 1];
    TRY(oma_resnet_load(&u->mid_res0, w, P("%s.mid_block.resnets.0", prefix), top, top, temb, G, eps, err, errlen));
    TRY(oma_transformer2d_load(&u->mid_attn, w, P("%s.mid_block.attentions.0", prefix), top,
                               c->attention_head_dim[nb - 1], cross, c->transformer_layers_per_block,
                               c->use_linear_projection, G, err, errlen));
    TRY(oma_resnet_load(&u->mid_res1, w, P("%s.mid_block.resnets.1", prefix), top, top, temb, G, eps, err, errlen));
    int64_t prev = top;
    for (int i = 0; i < nb; i++) {
        oma_unet_block *b = &u->up[i];
        int ri = nb - 1 - i;
        int64_t oc = c->block_out_channels[ri];
        int64_t ic = c->block_out_channels[ri > 0 ? ri - 1 : 0];
        b->has_attn = is_cross(c->up_block_types[i]);
        for (int j = 0; j < lpb + 1; j++) {
            int64_t skip = j == lpb ? ic : oc;
            int64_t rin = (j == 0 ? prev : oc) + skip;
            TRY(oma_resnet_load(&b->res[j], w, P("%s.up_blocks.%d.resnets.%d", prefix, i, j), rin, oc,
                                temb, G, eps, err, errlen));
            b->n_res = j + 1;
            if (b->has_attn)
                TRY(oma_transformer2d_load(&b->attn[j], w, P("%s.up_blocks.%d.attentions.%d", prefix, i, j),
                                           oc, c->attention_head_dim[ri], cross,
                                           c->transformer_layers_per_block, c->use_linear_projection,
                                           G, err, errlen));
        }
        if (i < nb - 1) {
            TRY(oma_upsample_load(&b->up, w, P("%s.up_blocks.%d.upsamplers.0", prefix, i), oc, err, errlen));
            b->has_sampler = 1;
        }
        prev = oc;
    }
    if (!body_only) {
        TRY(oma_group_norm_load(&u->norm_out, w, P("%s.conv_norm_out", prefix), ch0, G, eps, err, errlen));
        TRY(oma_conv2d_load(&u->conv_out, w, P("%s.conv_out", prefix), ch0, c->out_channels, 3, 1, 1, 1, err, errlen));
    }
    u->no_out = body_only;
#undef P
    u->loaded = 1;
    return 0;
fail:
    if (!err[0]) snprintf(err, errlen, "unet: cannot load (%s)", p);
    oma_unet_free(u);
    return -1;
}

int oma_unet_load(oma_unet *u, const oma_weights *w, const char *prefix, const oma_unet_config *cfg,
                  char *err, size_t errlen)
{
    return unet_load(u, w, prefix, cfg, 0, err, errlen);
}

int oma_unet_load_body(oma_unet *u, const oma_weights *w, const char *prefix,
                       const oma_unet_config *cfg, char *err, size_t errlen)
{
    return unet_load(u, w, prefix, cfg, 1, err, errlen);
}

static void block_free(oma_unet_block *b)
{
    for (int j = 0; j < OMA_UNET_MAX_LAYERS; j++) {
        oma_resnet_free(&b->res[j]);
        oma_transformer2d_free(&b->attn[j]);
    }
    oma_downsample_free(&b->down);
    oma_upsample_free(&b->up);
}

void oma_unet_free(oma_unet *u)
{
    oma_timestep_embedding_free(&u->time_emb);
    oma_conv2d_free(&u->conv_in);
    oma_conv2d_free(&u->conv_out);
    oma_norm_free(&u->norm_out);
    for (int i = 0; i < OMA_SD_MAX_BLOCKS; i++) {
        block_free(&u->down[i]);
        block_free(&u->up[i]);
    }
    oma_resnet_free(&u->mid_res0);
    oma_resnet_free(&u->mid_res1);
    oma_transformer2d_free(&u->mid_attn);
    u->loaded = 0;
}

static void res_forget(const oma_resnet *r)
{
    oma_op_forget_weights(&r->conv1.w);
    oma_op_forget_weights(&r->conv2.w);
    oma_op_forget_weights(&r->shortcut.w);
}

void oma_unet_forget_prepared(const oma_unet *u)
{
    oma_op_forget_weights(&u->conv_in.w);
    oma_op_forget_weights(&u->conv_out.w);
    const oma_unet_block *bl[2] = {u->down, u->up};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < OMA_SD_MAX_BLOCKS; i++) {
            for (int j = 0; j < OMA_UNET_MAX_LAYERS; j++) {
                res_forget(&bl[k][i].res[j]);
                oma_op_forget_weights(&bl[k][i].attn[j].proj_in_conv.w);
                oma_op_forget_weights(&bl[k][i].attn[j].proj_out_conv.w);
            }
            oma_op_forget_weights(&bl[k][i].down.conv.w);
            oma_op_forget_weights(&bl[k][i].up.conv.w);
        }
    res_forget(&u->mid_res0);
    res_forget(&u->mid_res1);
    oma_op_forget_weights(&u->mid_attn.proj_in_conv.w);
    oma_op_forget_weights(&u->mid_attn.proj_out_conv.w);
}

/* Upsample2D to an explicit size th x tw, as diffusers' forward_upsample_size path does when the
 * latent is not divisible by 2^(number of upsamplers): F.interpolate(size=skip size,
 * mode="nearest"), whose source index is torch's floor(dst * (float)in / out), then the 3x3 conv. */
static int upsample_to(const oma_upsample *u, const oma_tensor *x, int64_t th, int64_t tw, oma_arena *ar,
                       oma_tensor *y)
{
    if (x->ndim != 4 || th < 1 || tw < 1) return -1;
    if (th == 2 * x->shape[2] && tw == 2 * x->shape[3]) return oma_upsample_forward(u, x, ar, y);
    int64_t B = x->shape[0], C = x->shape[1], h = x->shape[2], w = x->shape[3];
    int64_t ys[4] = {B, u->conv.out, th, tw}, us[4] = {B, C, th, tw};
    if (oma_arena_tensor_uninit(ar, y, 4, ys) != 0) return -1;
    oma_arena_mark m = oma_arena_get_mark(ar);
    oma_tensor up;
    int rc = -1;
    if (oma_arena_tensor_uninit(ar, &up, 4, us) == 0) {
        float sy = (float)h / (float)th, sx = (float)w / (float)tw;
        for (int64_t c = 0; c < B * C; c++)
            for (int64_t oy = 0; oy < th; oy++) {
                int64_t iy = th == h ? oy : (th == 2 * h ? oy >> 1 : (int64_t)floorf((float)oy * sy));
                if (iy > h - 1) iy = h - 1;
                const float *src = x->data + (c * h + iy) * w;
                float *dst = up.data + (c * th + oy) * tw;
                for (int64_t ox = 0; ox < tw; ox++) {
                    int64_t ix = tw == w ? ox : (tw == 2 * w ? ox >> 1 : (int64_t)floorf((float)ox * sx));
                    dst[ox] = src[ix > w - 1 ? w - 1 : ix];
                }
            }
        rc = oma_conv2d_run(&u->conv, &up, 1, 1, y);
    }
    oma_arena_release(ar, m);
    return rc;
}

/* Runs one resnet (+ transformer) step: *h = attn(res(*h)), in the arena. */
static int res_attn(const oma_unet_block *b, int j, oma_tensor *h, const oma_tensor *temb,
                    const oma_tensor *ctx, oma_ref_bank *bank, oma_arena *ar)
{
    oma_tensor r;
    if (oma_resnet_forward(&b->res[j], h, temb, ar, &r) != 0) return -1;
    if (b->has_attn) {
        oma_tensor a;
        if (oma_transformer2d_forward_ref(&b->attn[j], &r, ctx, bank, ar, &a) != 0) return -1;
        r = a;
    }
    *h = r;
    return 0;
}

int oma_unet_forward(const oma_unet *u, const oma_tensor *latents, const float *timesteps,
                     const oma_tensor *context, oma_arena *ar, oma_tensor *out, char *err,
                     size_t errlen)
{
    return oma_unet_forward_ex(u, latents, timesteps, context, NULL, NULL, ar, out, err, errlen);
}

int oma_unet_draft_check(const oma_unet_config *c, int branch, char *err, size_t errlen)
{
    if (branch < 0 || branch >= c->n_blocks * (c->layers_per_block + 1)) {
        snprintf(err, errlen, "unet: draft branch must be 0..%d", c->n_blocks * (c->layers_per_block + 1) - 1);
        return -1;
    }
    return 0;
}

void oma_unet_draft_free(oma_unet_draft *d)
{
    free(d->feat);
    d->feat = NULL;
    d->cap = 0;
    d->valid = 0;
}

/* Keeps a copy of h as the draft's cached deep features. */
static int draft_store(oma_unet_draft *d, const oma_tensor *h)
{
    size_t n = (size_t)oma_tensor_numel(h);
    if (n > d->cap) {
        float *f = realloc(d->feat, n * sizeof(float));
        if (!f) return -1;
        d->feat = f, d->cap = n;
    }
    memcpy(d->feat, h->data, n * sizeof(float));
    for (int k = 0; k < 4; k++) d->shape[k] = h->shape[k];
    d->valid = 1;
    return 0;
}

/* The forward pass. draft NULL: the whole UNet. draft with reuse 0: the whole UNet, keeping the
 * input of the draft branch's up layer (before its skip concat); reuse 1: only the shallow path
 * (see unet.h), starting the up path at that layer from the kept features. */
static int forward_core(const oma_unet *u, const oma_tensor *latents, const float *timesteps,
                        const oma_tensor *context, const oma_tensor *add_after_conv_in,
                        oma_ref_bank *bank, oma_unet_draft *draft, int reuse, oma_arena *ar,
                        oma_tensor *out, char *err, size_t errlen)
{
    const oma_unet_config *c = &u->cfg;
    int nb = c->n_blocks;
    if (!u->loaded || latents->ndim != 4 || latents->shape[1] != c->in_channels) {
        snprintf(err, errlen, "unet: latents must be [B, %d, h, w]", c->in_channels);
        return -1;
    }
    int64_t B = latents->shape[0];
    if (latents->shape[2] < 1 || latents->shape[3] < 1) {
        snprintf(err, errlen, "unet: empty latents");
        return -1;
    }
    if (context->ndim != 3 || context->shape[0] != B || context->shape[2] != c->cross_attention_dim) {
        snprintf(err, errlen, "unet: context must be [%lld, n, %d]", (long long)B, c->cross_attention_dim);
        return -1;
    }
    if (!out && !u->no_out) {
        snprintf(err, errlen, "unet: no output tensor");
        return -1;
    }
    /* the draft branch: down block db stops before its layer dl on reuse; the up path starts at
     * up block nb-1-db, layer lpb-dl (DeepCacheSDHelper's cache_block_id / cache_layer_id) */
    int db = nb, dl = 0, eu = -1, ej = -1;
    if (draft) {
        if (oma_unet_draft_check(c, draft->branch, err, errlen) != 0) return -1;
        db = draft->branch / (c->layers_per_block + 1), dl = draft->branch % (c->layers_per_block + 1);
        eu = nb - 1 - db, ej = c->layers_per_block - dl;
        if (reuse && !draft->valid) {
            snprintf(err, errlen, "unet: draft step without cached features");
            return -1;
        }
    }
    int64_t os[4] = {B, c->out_channels, latents->shape[2], latents->shape[3]};
    if (out && oma_arena_tensor(ar, out, 4, os) != 0) goto oom;
    oma_arena_mark m = oma_arena_get_mark(ar);
    /* Everything below lives in the arena until the end of the pass; the skips must survive
     * until the up blocks, so the pass releases only at the end. */
    int64_t ch0 = c->block_out_channels[0];
    oma_tensor feat, temb, h;
    int64_t fs[2] = {B, ch0};
    TRY(oma_arena_tensor(ar, &feat, 2, fs));
    TRY(oma_timestep_features(timesteps, B, ch0, c->flip_sin_to_cos, (float)c->freq_shift, &feat));
    TRY(oma_timestep_embedding_forward(&u->time_emb, &feat, ar, &temb));
    TRY(oma_conv2d_forward(&u->conv_in, latents, ar, &h));
    if (add_after_conv_in) {
        if (!oma_tensor_same_shape(add_after_conv_in, &h)) {
            snprintf(err, errlen, "unet: features added after conv_in must be [%lld, %lld, %lld, %lld]",
                     (long long)B, (long long)ch0, (long long)h.shape[2], (long long)h.shape[3]);
            oma_arena_release(ar, m);
            return -1;
        }
        TRY(oma_op_add(&h, add_after_conv_in, &h));
    }
    oma_tensor skips[OMA_SD_MAX_BLOCKS * (OMA_UNET_MAX_LAYERS + 1) + 1];
    int ns = 0;
    skips[ns++] = h;
    for (int i = 0; i < nb; i++) {
        const oma_unet_block *b = &u->down[i];
        if (reuse && i == db && dl == 0) break;
        for (int j = 0; j < b->n_res; j++) {
            TRY(res_attn(b, j, &h, &temb, context, bank, ar));
            skips[ns++] = h;
            if (reuse && i == db && j + 1 == dl) break;
        }
        if (reuse && i == db) break;
        if (b->has_sampler) {
            oma_tensor d;
            TRY(oma_downsample_forward(&b->down, &h, ar, &d));
            h = d;
            skips[ns++] = h;
        }
    }
    if (reuse) {
        /* the kept deep features, for this batch and size only */
        int64_t want0 = B, ts4[4] = {draft->shape[0], draft->shape[1], draft->shape[2], draft->shape[3]};
        if (ts4[0] != want0 || ns == 0 || ts4[2] != skips[ns - 1].shape[2] || ts4[3] != skips[ns - 1].shape[3]) {
            snprintf(err, errlen, "unet: draft features were kept for another batch or size");
            oma_arena_release(ar, m);
            return -1;
        }
        TRY(oma_arena_tensor_uninit(ar, &h, 4, ts4));
        memcpy(h.data, draft->feat, sizeof(float) * (size_t)oma_tensor_numel(&h));
    } else {
        oma_tensor r, a;
        TRY(oma_resnet_forward(&u->mid_res0, &h, &temb, ar, &r));
        TRY(oma_transformer2d_forward_ref(&u->mid_attn, &r, context, bank, ar, &a));
        TRY(oma_resnet_forward(&u->mid_res1, &a, &temb, ar, &h));
    }
    for (int i = reuse ? eu : 0; i < nb; i++) {
        const oma_unet_block *b = &u->up[i];
        for (int j = reuse && i == eu ? ej : 0; j < b->n_res; j++) {
            if (ns == 0) goto fail;
            if (draft && !reuse && i == eu && j == ej) TRY(draft_store(draft, &h));
            oma_tensor s = skips[--ns], cat;
            int64_t cs[4] = {B, h.shape[1] + s.shape[1], h.shape[2], h.shape[3]};
            TRY(oma_arena_tensor(ar, &cat, 4, cs));
            TRY(oma_op_concat_channels(&h, &s, &cat));
            h = cat;
            TRY(res_attn(b, j, &h, &temb, context, bank, ar));
        }
        if (b->has_sampler) {
            /* to the size of the skip the next block takes first (2x unless a side was odd) */
            if (ns == 0) goto fail;
            oma_tensor up;
            TRY(upsample_to(&b->up, &h, skips[ns - 1].shape[2], skips[ns - 1].shape[3], ar, &up));
            h = up;
        }
    }
    if (out && !u->no_out) {
        oma_tensor n;
        TRY(oma_norm_forward(&u->norm_out, &h, 1, ar, &n));
        TRY(oma_conv2d_run(&u->conv_out, &n, 1, 1, out));
    }
    oma_arena_release(ar, m);
    return 0;
fail:
    oma_arena_release(ar, m);
oom:
    snprintf(err, errlen, "unet: forward failed (out of memory or shapes that do not fit)");
    return -1;
}

int oma_unet_forward_ex(const oma_unet *u, const oma_tensor *latents, const float *timesteps,
                        const oma_tensor *context, const oma_tensor *add_after_conv_in,
                        oma_ref_bank *bank, oma_arena *ar, oma_tensor *out, char *err,
                        size_t errlen)
{
    return forward_core(u, latents, timesteps, context, add_after_conv_in, bank, NULL, 0, ar, out, err,
                        errlen);
}

int oma_unet_forward_draft(const oma_unet *u, const oma_tensor *latents, const float *timesteps,
                           const oma_tensor *context, oma_unet_draft *draft, int reuse, oma_arena *ar,
                           oma_tensor *out, char *err, size_t errlen)
{
    if (!draft || !out) {
        snprintf(err, errlen, "unet: draft forward needs its cache and an output");
        return -1;
    }
    return forward_core(u, latents, timesteps, context, NULL, NULL, draft, reuse, ar, out, err, errlen);
}
