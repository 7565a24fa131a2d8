/* sd_model.c — loading the SD 1.x networks from a checkpoint (see sd_model.h). */
#include "models/sd_model.h"

#include <stdio.h>
#include <string.h>

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

oma_weights oma_sd_weights(oma_sd_checkpoint *ck)
{
    oma_weights w = {ck, ck_read, ck_has};
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

int oma_sd_model_load(const char *path, const oma_sd_open_opts *opts, int with_encoder,
                      oma_sd_model *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    oma_sd_checkpoint *ck = NULL;
    oma_sd_open_opts none;
    memset(&none, 0, sizeof none);
    if (oma_sd_open_ex(path, opts ? opts : &none, &ck, err, errlen) != 0) return -1;
    m->cfg = *oma_sd_config_of(ck);
    const char *tdir = oma_sd_tokenizer_dir(ck);
    if (!tdir) {
        snprintf(err, errlen, "sd: %s: no tokenizer (vocab.json + merges.txt) found; pass a tokenizer folder", path);
        goto fail;
    }
    if (oma_clip_tokenizer_load(tdir, &m->tok, err, errlen) != 0) goto fail;
    oma_weights w = oma_sd_weights(ck);
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
