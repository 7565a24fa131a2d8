/* sd_model.c — loading the SD 1.x networks from a checkpoint (see sd_model.h). */
#include "models/sd/sd_model.h"

#include <stdio.h>
#include <string.h>

#include "tensor/half.h"

static int ck_read(void *ctx, const char *name, int ndim, const int64_t *shape, float *dst,
                   char *err, size_t errlen)
{
    int64_t n = oma_shape_numel(ndim, shape);
    if (n < 0) {
        snprintf(err, errlen, "sd: tensor '%s': bad shape", name);
        return -1;
    }
    return oma_sd_read_f32((const oma_sd_checkpoint *)ctx, name, ndim, shape, dst, (size_t)n, err, errlen);
}

static int ck_has(void *ctx, const char *name)
{
    return oma_sd_find((const oma_sd_checkpoint *)ctx, name) != NULL;
}

static int ck_read_half(void *ctx, const char *name, int ndim, const int64_t *shape, uint16_t *dst,
                        int *kind, char *err, size_t errlen)
{
    const oma_st_tensor *t = NULL;
    if (oma_sd_get((const oma_sd_checkpoint *)ctx, name, ndim, shape, &t, err, errlen) != 0) return -1;
    if (t->dtype != OMA_ST_F16 && t->dtype != OMA_ST_BF16) return 1;
    memcpy(dst, t->data, (size_t)t->numel * 2);     /* the mapping may be unaligned */
    *kind = t->dtype == OMA_ST_F16 ? OMA_HALF_F16 : OMA_HALF_BF16;
    return 0;
}

oma_weights oma_sd_weights(oma_sd_checkpoint *ck, int keep_half)
{
    oma_weights w = {ck, ck_read, ck_has, ck_read_half, keep_half};
    return w;
}

oma_clip_text_params oma_sd_clip_params(const oma_text_config *t)
{
    oma_clip_text_params p;
    p.vocab_size = t->vocab_size;
    p.hidden_size = t->hidden_size;
    p.intermediate_size = t->intermediate_size;
    p.num_layers = t->num_hidden_layers;
    p.num_heads = t->num_attention_heads;
    p.max_positions = t->max_position_embeddings;
    p.eps = t->layer_norm_eps > 0 ? t->layer_norm_eps : 1e-5f;
    p.quick_gelu = strcmp(t->hidden_act, "gelu") != 0;
    return p;
}

int oma_sd_model_load(const char *path, const oma_sd_open_opts *opts, int flags, oma_sd_model *m,
                      char *err, size_t errlen)
{
    int with_encoder = (flags & OMA_SD_LOAD_ENCODER) != 0;
    memset(m, 0, sizeof *m);
    oma_sd_checkpoint *ck = NULL;
    oma_sd_open_opts none;
    memset(&none, 0, sizeof none);
    if (oma_sd_open_ex(path, opts ? opts : &none, &ck, err, errlen) != 0) return -1;
    m->cfg = *oma_sd_config_of(ck);
    if (oma_sd_config_path(ck)) snprintf(m->config_path, sizeof m->config_path, "%s", oma_sd_config_path(ck));
    const char *tdir = oma_sd_tokenizer_dir(ck);
    if (!tdir) {
        snprintf(err, errlen, "sd: %s: no tokenizer (vocab.json + merges.txt) found; pass a tokenizer folder", path);
        goto fail;
    }
    if (oma_clip_tokenizer_load(tdir, &m->tok, err, errlen) != 0) goto fail;
    oma_weights w = oma_sd_weights(ck, (flags & OMA_SD_LOAD_HALF) != 0);
    oma_clip_text_params cp = oma_sd_clip_params(&m->cfg.text);
    if (oma_clip_text_load(&m->text, &w, "text_encoder", &cp, err, errlen) != 0) goto fail;
    if (oma_unet_load(&m->unet, &w, "unet", &m->cfg.unet, err, errlen) != 0) goto fail;
    if (oma_vae_load(&m->vae, &w, "vae", &m->cfg.vae, with_encoder, err, errlen) != 0) goto fail;
    m->has_encoder = with_encoder;
    oma_sd_close(ck);
    return 0;
fail:
    oma_sd_close(ck);
    oma_sd_model_free(m);
    return -1;
}

void oma_sd_model_free(oma_sd_model *m)
{
    if (m->tok) oma_clip_tokenizer_free(m->tok);
    m->tok = NULL;
    oma_clip_text_free(&m->text);
    oma_unet_free(&m->unet);
    oma_vae_free(&m->vae);
}

static size_t res_bytes(const oma_resnet *r)
{
    return oma_conv2d_bytes(&r->conv1) + oma_conv2d_bytes(&r->conv2) + oma_conv2d_bytes(&r->shortcut) +
           oma_linear_bytes(&r->time_emb_proj);
}

static size_t attn_bytes(const oma_attention *a)
{
    return oma_linear_bytes(&a->to_q) + oma_linear_bytes(&a->to_k) + oma_linear_bytes(&a->to_v) +
           oma_linear_bytes(&a->to_out);
}

static size_t t2d_bytes(const oma_transformer2d *t)
{
    size_t n = oma_conv2d_bytes(&t->proj_in_conv) + oma_conv2d_bytes(&t->proj_out_conv) +
               oma_linear_bytes(&t->proj_in_lin) + oma_linear_bytes(&t->proj_out_lin);
    for (int i = 0; i < t->n_blocks; i++)
        n += attn_bytes(&t->blocks[i].attn1) + attn_bytes(&t->blocks[i].attn2) +
             oma_linear_bytes(&t->blocks[i].ff.proj) + oma_linear_bytes(&t->blocks[i].ff.out);
    return n;
}

size_t oma_sd_model_unet_bytes(const oma_sd_model *m)
{
    const oma_unet *u = &m->unet;
    size_t n = oma_conv2d_bytes(&u->conv_in) + oma_conv2d_bytes(&u->conv_out) +
               oma_linear_bytes(&u->time_emb.linear_1) + oma_linear_bytes(&u->time_emb.linear_2);
    const oma_unet_block *bl[2] = {u->down, u->up};
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < OMA_SD_MAX_BLOCKS; i++) {
            const oma_unet_block *b = &bl[k][i];
            for (int j = 0; j < OMA_UNET_MAX_LAYERS; j++) n += res_bytes(&b->res[j]) + t2d_bytes(&b->attn[j]);
            n += oma_conv2d_bytes(&b->down.conv) + oma_conv2d_bytes(&b->up.conv);
        }
    return n + res_bytes(&u->mid_res0) + res_bytes(&u->mid_res1) + t2d_bytes(&u->mid_attn);
}
