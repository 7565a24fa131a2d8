/* unet_train.c — the UNet's training pass: block inputs and, within a memory budget, each
 * block's intermediates kept; blocks beyond the budget recomputed in reverse (see
 * unet_train.h). */
#include "train/unet_train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/backward.h"
#include "tensor/ops.h"

#define TRY(x) do { if ((x) != 0) goto fail; } while (0)
#define MAX_SKIPS (OMA_SD_MAX_BLOCKS * (OMA_UNET_MAX_LAYERS + 1) + 1)

/* What the forward keeps of one block: the inputs of its resnets and transformers and of its
 * sampler (the up blocks' resnet inputs are the concatenations). */
typedef struct kept_block {
    oma_tensor res_in[OMA_UNET_MAX_LAYERS], attn_in[OMA_UNET_MAX_LAYERS];
    oma_tensor sampler_in;
    /* the intermediates, where has_* says they were kept */
    int has_res[OMA_UNET_MAX_LAYERS], has_attn[OMA_UNET_MAX_LAYERS];
    oma_resnet_keep res[OMA_UNET_MAX_LAYERS];
    oma_transformer2d_keep attn[OMA_UNET_MAX_LAYERS];
} kept_block;

typedef struct kept {
    oma_tensor temb;
    kept_block down[OMA_SD_MAX_BLOCKS], up[OMA_SD_MAX_BLOCKS];
    oma_tensor mid_in, mid_attn_in, mid_res1_in;
    int has_mid[3];
    oma_resnet_keep mid_res[2];
    oma_transformer2d_keep mid_attn;
    oma_tensor up_out;              /* the last up block's output: norm_out's input */
    oma_tensor skips[MAX_SKIPS];
    int n_skips;
    size_t budget;                  /* arena bytes up to which intermediates are kept */
} kept;

/* The memory the kept intermediates may take (arena bytes used by the whole forward):
 * OMA_TRAIN_KEEP_MB (a number, fractions allowed), default 6144 (SD 1.5 at 512x512 keeps about
 * 2 GB). Blocks are kept in forward order while the arena is under it; 0 keeps nothing: every
 * block is recomputed in the backward (the least memory, about a third more time). */
static size_t keep_budget(void)
{
    const char *e = getenv("OMA_TRAIN_KEEP_MB");
    double mb = 6144;
    if (e && *e) {
        char *end;
        double v = strtod(e, &end);
        if (*end == 0 && v >= 0 && v <= 1e9) mb = v;
    }
    return (size_t)(mb * 1048576.0);
}

/* A resnet forward, keeping its state when under the budget. */
static int res_fwd(const oma_resnet *r, const oma_tensor *x, kept *k, oma_arena *ar, int *has,
                   oma_resnet_keep *rk, oma_tensor *y)
{
    *has = ar->used < k->budget;
    return *has ? oma_resnet_forward_keep(r, x, &k->temb, ar, y, rk)
                : oma_resnet_forward(r, x, &k->temb, ar, y);
}

static int res_bwd(const oma_resnet *r, const oma_tensor *x, const kept *k, int has,
                   const oma_resnet_keep *rk, const oma_tensor *g, oma_arena *ar, oma_tensor *d)
{
    return has ? oma_resnet_backward_kept(r, x, rk, g, ar, d)
               : oma_resnet_backward(r, x, &k->temb, g, ar, d);
}

static int attn_fwd(const oma_transformer2d *t, const oma_tensor *x, const oma_tensor *ctx,
                    kept *k, oma_arena *ar, int *has, oma_transformer2d_keep *tk, oma_tensor *y)
{
    *has = ar->used < k->budget;
    return *has ? oma_transformer2d_forward_keep(t, x, ctx, ar, y, tk)
                : oma_transformer2d_forward(t, x, ctx, ar, y);
}

static int attn_bwd(const oma_transformer2d *t, const oma_tensor *x, int has,
                    const oma_transformer2d_keep *tk, const oma_tensor *ctx, const oma_tensor *g,
                    oma_arena *ar, oma_tensor *d, oma_tensor *dctx)
{
    return has ? oma_transformer2d_backward_kept(t, x, tk, ctx, g, ar, d, dctx)
               : oma_transformer2d_backward(t, x, ctx, g, ar, d, dctx);
}

/* g := backward result copied into the persistent buffer (then the call's arena freed). */
static int settle(oma_arena *ar, oma_arena_mark m, const oma_tensor *dx, float *buf, oma_tensor *g)
{
    int64_t n = oma_tensor_numel(dx);
    memmove(buf, dx->data, (size_t)n * sizeof(float));
    oma_arena_release(ar, m);
    return oma_tensor_view(g, buf, dx->ndim, dx->shape);
}

static int add_into(oma_tensor *g, const oma_tensor *s)
{
    return oma_op_add(g, s, g);
}

static int forward(const oma_unet *u, const oma_tensor *x0, const float *t,
                   const oma_tensor *ctx, oma_arena *ar, kept *k, oma_tensor *pred)
{
    const oma_unet_config *c = &u->cfg;
    int nb = c->n_blocks;
    int64_t B = x0->shape[0], ch0 = c->block_out_channels[0];
    oma_tensor feat, h;
    int64_t fs[2] = {B, ch0};
    TRY(oma_arena_tensor(ar, &feat, 2, fs));
    TRY(oma_timestep_features(t, B, ch0, c->flip_sin_to_cos, (float)c->freq_shift, &feat));
    TRY(oma_timestep_embedding_forward(&u->time_emb, &feat, ar, &k->temb));
    TRY(oma_conv2d_forward(&u->conv_in, x0, ar, &h));
    k->n_skips = 0;
    k->skips[k->n_skips++] = h;
    for (int i = 0; i < nb; i++) {
        const oma_unet_block *b = &u->down[i];
        kept_block *kb = &k->down[i];
        for (int j = 0; j < b->n_res; j++) {
            kb->res_in[j] = h;
            if (i == 0 && j == 0)   /* its backward is never run (see the backward) */
                TRY(oma_resnet_forward(&b->res[j], &kb->res_in[j], &k->temb, ar, &h));
            else
                TRY(res_fwd(&b->res[j], &kb->res_in[j], k, ar, &kb->has_res[j], &kb->res[j], &h));
            if (b->has_attn) {
                kb->attn_in[j] = h;
                TRY(attn_fwd(&b->attn[j], &kb->attn_in[j], ctx, k, ar, &kb->has_attn[j],
                             &kb->attn[j], &h));
            }
            k->skips[k->n_skips++] = h;
        }
        if (b->has_sampler) {
            kb->sampler_in = h;
            TRY(oma_downsample_forward(&b->down, &kb->sampler_in, ar, &h));
            k->skips[k->n_skips++] = h;
        }
    }
    k->mid_in = h;
    TRY(res_fwd(&u->mid_res0, &k->mid_in, k, ar, &k->has_mid[0], &k->mid_res[0], &k->mid_attn_in));
    TRY(attn_fwd(&u->mid_attn, &k->mid_attn_in, ctx, k, ar, &k->has_mid[1], &k->mid_attn,
                 &k->mid_res1_in));
    TRY(res_fwd(&u->mid_res1, &k->mid_res1_in, k, ar, &k->has_mid[2], &k->mid_res[1], &h));
    int ns = k->n_skips;
    for (int i = 0; i < nb; i++) {
        const oma_unet_block *b = &u->up[i];
        kept_block *kb = &k->up[i];
        for (int j = 0; j < b->n_res; j++) {
            if (ns == 0)
                return -1;
            const oma_tensor *s = &k->skips[--ns];
            int64_t cs[4] = {B, h.shape[1] + s->shape[1], h.shape[2], h.shape[3]};
            TRY(oma_arena_tensor_uninit(ar, &kb->res_in[j], 4, cs));
            TRY(oma_op_concat_channels(&h, s, &kb->res_in[j]));
            TRY(res_fwd(&b->res[j], &kb->res_in[j], k, ar, &kb->has_res[j], &kb->res[j], &h));
            if (b->has_attn) {
                kb->attn_in[j] = h;
                TRY(attn_fwd(&b->attn[j], &kb->attn_in[j], ctx, k, ar, &kb->has_attn[j],
                             &kb->attn[j], &h));
            }
        }
        if (b->has_sampler) {
            kb->sampler_in = h;
            TRY(oma_upsample_forward(&b->up, &kb->sampler_in, ar, &h));
        }
    }
    k->up_out = h;
    oma_tensor n;
    TRY(oma_norm_forward(&u->norm_out, &k->up_out, 1, ar, &n));
    TRY(oma_conv2d_forward(&u->conv_out, &n, ar, pred));
    return 0;
fail:
    return -1;
}

/* dcat [B, Ch + Cs, H, W] -> g (first Ch channels, into buf) and skip grad += the rest. */
static int split_concat(const oma_tensor *dcat, int64_t ch, float *buf, oma_tensor *g,
                        oma_tensor *gskip)
{
    int64_t B = dcat->shape[0], C = dcat->shape[1], hw = dcat->shape[2] * dcat->shape[3];
    int64_t cs = C - ch;
    if (cs != gskip->shape[1] || gskip->shape[0] != B)
        return -1;
    for (int64_t b = 0; b < B; b++) {
        const float *src = dcat->data + b * C * hw;
        float *dst = gskip->data + b * cs * hw;
        for (int64_t i = 0; i < cs * hw; i++)
            dst[i] += src[ch * hw + i];
        memmove(buf + b * ch * hw, src, (size_t)(ch * hw) * sizeof(float));
    }
    int64_t s[4] = {B, ch, dcat->shape[2], dcat->shape[3]};
    return oma_tensor_view(g, buf, 4, s);
}

int oma_unet_train_pass(const oma_unet *u, const oma_tensor *noisy, const float *timesteps,
                        const oma_tensor *context, const oma_tensor *target, float grad_scale,
                        oma_arena *ar, float *loss, oma_tensor *dcontext, char *err,
                        size_t errlen)
{
    const oma_unet_config *c = &u->cfg;
    int nb = c->n_blocks;
    if (!u->loaded || noisy->ndim != 4 || noisy->shape[1] != c->in_channels ||
        !oma_tensor_same_shape(noisy, target) || context->ndim != 3 ||
        context->shape[0] != noisy->shape[0] || context->shape[2] != c->cross_attention_dim ||
        (dcontext && !oma_tensor_same_shape(dcontext, context)) ||
        c->out_channels != c->in_channels) {
        snprintf(err, errlen, "train: unet pass: shapes do not fit the model");
        return -1;
    }
    int64_t factor = (int64_t)1 << (nb - 1);
    if (noisy->shape[2] % factor || noisy->shape[3] % factor) {
        snprintf(err, errlen, "train: latent size not a multiple of %lld", (long long)factor);
        return -1;
    }
    oma_arena_mark m0 = oma_arena_get_mark(ar);
    kept *k = calloc(1, sizeof *k);     /* tensor headers only (~300 kB: not on the stack) */
    if (!k) {
        snprintf(err, errlen, "train: out of memory");
        return -1;
    }
    k->budget = keep_budget();
    oma_tensor pred, g, d;
    TRY(forward(u, noisy, timesteps, context, ar, k, &pred));

    /* loss and its gradient 2 (pred - target) / N * grad_scale */
    int64_t n = oma_tensor_numel(&pred);
    double sq = 0;
    float *gbuf = NULL;
    int64_t maxn = n;
    for (int i = 0; i < k->n_skips; i++)
        if (oma_tensor_numel(&k->skips[i]) * 2 > maxn)
            maxn = oma_tensor_numel(&k->skips[i]) * 2;
    for (int i = 0; i < nb; i++)
        for (int j = 0; j < u->up[i].n_res; j++)
            if (oma_tensor_numel(&k->up[i].res_in[j]) > maxn)
                maxn = oma_tensor_numel(&k->up[i].res_in[j]);
    if (oma_tensor_numel(&k->up_out) > maxn)
        maxn = oma_tensor_numel(&k->up_out);
    gbuf = oma_arena_alloc(ar, (size_t)maxn * sizeof(float));
    if (!gbuf)
        goto fail;
    for (int64_t i = 0; i < n; i++) {
        double e = (double)pred.data[i] - target->data[i];
        sq += e * e;
        gbuf[i] = (float)(2.0 * e / (double)n * grad_scale);
    }
    *loss = (float)(sq / (double)n);
    TRY(oma_tensor_view(&g, gbuf, 4, pred.shape));
    /* skip gradients, zeroed */
    oma_tensor gskip[MAX_SKIPS];
    for (int i = 0; i < k->n_skips; i++)
        TRY(oma_arena_tensor(ar, &gskip[i], 4, k->skips[i].shape));

    oma_arena_mark m;
    {   /* conv_out(silu(norm_out(h))) */
        m = oma_arena_get_mark(ar);
        oma_tensor nrm, dn;
        TRY(oma_norm_forward(&u->norm_out, &k->up_out, 1, ar, &nrm));
        TRY(oma_conv2d_backward(&u->conv_out, &nrm, &g, ar, &dn));
        TRY(oma_norm_backward(&u->norm_out, &k->up_out, 1, &dn, ar, &d));
        TRY(settle(ar, m, &d, gbuf, &g));
    }
    int ns = k->n_skips;
    for (int i = nb - 1; i >= 0; i--) {
        const oma_unet_block *b = &u->up[i];
        kept_block *kb = &k->up[i];
        if (b->has_sampler) {
            m = oma_arena_get_mark(ar);
            TRY(oma_upsample_backward(&b->up, &kb->sampler_in, &g, ar, &d));
            TRY(settle(ar, m, &d, gbuf, &g));
        }
        for (int j = b->n_res - 1; j >= 0; j--) {
            if (b->has_attn) {
                m = oma_arena_get_mark(ar);
                TRY(attn_bwd(&b->attn[j], &kb->attn_in[j], kb->has_attn[j], &kb->attn[j], context,
                             &g, ar, &d, dcontext));
                TRY(settle(ar, m, &d, gbuf, &g));
            }
            m = oma_arena_get_mark(ar);
            TRY(res_bwd(&b->res[j], &kb->res_in[j], k, kb->has_res[j], &kb->res[j], &g, ar, &d));
            /* which skip fed this resnet: they were taken in reverse order up the blocks */
            int up_index = 0;
            for (int ii = 0; ii < i; ii++)
                up_index += u->up[ii].n_res;
            int si = k->n_skips - 1 - (up_index + j);
            if (si < 0)
                goto fail;
            int64_t ch = kb->res_in[j].shape[1] - k->skips[si].shape[1];
            /* copy out before releasing: d lives above the mark */
            TRY(split_concat(&d, ch, gbuf, &g, &gskip[si]));
            oma_arena_release(ar, m);
            ns--;
        }
    }
    (void)ns;
    /* mid block */
    m = oma_arena_get_mark(ar);
    TRY(res_bwd(&u->mid_res1, &k->mid_res1_in, k, k->has_mid[2], &k->mid_res[1], &g, ar, &d));
    TRY(settle(ar, m, &d, gbuf, &g));
    m = oma_arena_get_mark(ar);
    TRY(attn_bwd(&u->mid_attn, &k->mid_attn_in, k->has_mid[1], &k->mid_attn, context, &g, ar, &d,
                 dcontext));
    TRY(settle(ar, m, &d, gbuf, &g));
    m = oma_arena_get_mark(ar);
    TRY(res_bwd(&u->mid_res0, &k->mid_in, k, k->has_mid[0], &k->mid_res[0], &g, ar, &d));
    TRY(settle(ar, m, &d, gbuf, &g));
    /* down blocks: at each skip point the skip's gradient joins the main one */
    int si = k->n_skips - 1;
    for (int i = nb - 1; i >= 0; i--) {
        const oma_unet_block *b = &u->down[i];
        kept_block *kb = &k->down[i];
        if (b->has_sampler) {
            TRY(add_into(&g, &gskip[si--]));
            m = oma_arena_get_mark(ar);
            TRY(oma_downsample_backward(&b->down, &kb->sampler_in, &g, ar, &d));
            TRY(settle(ar, m, &d, gbuf, &g));
        }
        for (int j = b->n_res - 1; j >= 0; j--) {
            TRY(add_into(&g, &gskip[si--]));
            /* below resnet 0 of block 0 (and conv_in) nothing is trainable: the attention over
             * it forms no input gradient (the lowest trainable layer's), nothing runs after */
            int lowest = i == 0 && j == 0;
            if (b->has_attn) {
                m = oma_arena_get_mark(ar);
                TRY(attn_bwd(&b->attn[j], &kb->attn_in[j], kb->has_attn[j], &kb->attn[j], context,
                             &g, ar, lowest ? NULL : &d, dcontext));
                if (lowest) {
                    oma_arena_release(ar, m);
                    break;
                }
                TRY(settle(ar, m, &d, gbuf, &g));
            }
            if (lowest)
                break;
            m = oma_arena_get_mark(ar);
            TRY(res_bwd(&b->res[j], &kb->res_in[j], k, kb->has_res[j], &kb->res[j], &g, ar, &d));
            TRY(settle(ar, m, &d, gbuf, &g));
        }
    }
    oma_arena_release(ar, m0);
    free(k);
    return 0;
fail:
    oma_arena_release(ar, m0);
    free(k);
    snprintf(err, errlen, "train: unet pass failed (out of memory or shapes that do not fit)");
    return -1;
}
