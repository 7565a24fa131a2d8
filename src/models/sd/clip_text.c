/* clip_text.c — CLIP text encoder forward pass (see clip_text.h). */
#include "models/sd/clip_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/ops.h"

#define TRY(x) do { if ((x) != 0) goto fail; } while (0)

void oma_clip_layer_free(oma_clip_layer *l)
{
    oma_norm_free(&l->ln1);
    oma_norm_free(&l->ln2);
    oma_linear_free(&l->q);
    oma_linear_free(&l->k);
    oma_linear_free(&l->v);
    oma_linear_free(&l->out);
    oma_linear_free(&l->fc1);
    oma_linear_free(&l->fc2);
}

/* One encoder layer's weights under base ("...encoder.layers.N": layer_norm1/2,
 * self_attn.{q,k,v,out}_proj, mlp.fc1/fc2), the naming CLIP's text and vision towers share. */
int oma_clip_layer_load(oma_clip_layer *l, const oma_weights *w, const char *base, int64_t H,
                        int64_t inter, float eps, char *err, size_t errlen)
{
    char name[600];
#define L(part) (snprintf(name, sizeof name, "%s." part, base), name)
    TRY(oma_layer_norm_load(&l->ln1, w, L("layer_norm1"), H, eps, err, errlen));
    TRY(oma_layer_norm_load(&l->ln2, w, L("layer_norm2"), H, eps, err, errlen));
    TRY(oma_linear_load(&l->q, w, L("self_attn.q_proj"), H, H, 1, err, errlen));
    TRY(oma_linear_load(&l->k, w, L("self_attn.k_proj"), H, H, 1, err, errlen));
    TRY(oma_linear_load(&l->v, w, L("self_attn.v_proj"), H, H, 1, err, errlen));
    TRY(oma_linear_load(&l->out, w, L("self_attn.out_proj"), H, H, 1, err, errlen));
    TRY(oma_linear_load(&l->fc1, w, L("mlp.fc1"), H, inter, 1, err, errlen));
    TRY(oma_linear_load(&l->fc2, w, L("mlp.fc2"), inter, H, 1, err, errlen));
#undef L
    return 0;
fail:
    return -1;
}

int oma_clip_text_load(oma_clip_text *m, const oma_weights *w, const char *prefix,
                       const oma_clip_text_params *p, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    if (errlen) err[0] = 0;
    if (p->hidden_size < 1 || p->num_heads < 1 || p->hidden_size % p->num_heads != 0 ||
        p->num_layers < 1 || p->num_layers > 256 || p->vocab_size < 1 || p->max_positions < 1 ||
        p->intermediate_size < 1) {
        snprintf(err, errlen, "clip: bad text encoder config");
        return -1;
    }
    m->p = *p;
    char base[256], name[512];
    snprintf(base, sizeof base, "%s%stext_model", prefix, *prefix ? "." : "");
    int64_t H = p->hidden_size;
    int64_t ts[2] = {p->vocab_size, H}, ps[2] = {p->max_positions, H};
    snprintf(name, sizeof name, "%s.embeddings.token_embedding", base);
    TRY(oma_weights_load(w, name, "weight", 2, ts, &m->tok_emb, err, errlen));
    snprintf(name, sizeof name, "%s.embeddings.position_embedding", base);
    TRY(oma_weights_load(w, name, "weight", 2, ps, &m->pos_emb, err, errlen));
    m->layers = calloc((size_t)p->num_layers, sizeof *m->layers);
    if (!m->layers) {
        snprintf(err, errlen, "clip: out of memory");
        goto fail;
    }
    for (int i = 0; i < p->num_layers; i++) {
        oma_clip_layer *l = &m->layers[i];
        m->n_loaded = i + 1;
        snprintf(name, sizeof name, "%s.encoder.layers.%d", base, i);
        TRY(oma_clip_layer_load(l, w, name, H, p->intermediate_size, p->eps, err, errlen));
    }
    snprintf(name, sizeof name, "%s.final_layer_norm", base);
    TRY(oma_layer_norm_load(&m->final_ln, w, name, H, p->eps, err, errlen));
    return 0;
fail:
    if (!err[0]) snprintf(err, errlen, "clip: cannot load");
    oma_clip_text_free(m);
    return -1;
}

void oma_clip_text_free(oma_clip_text *m)
{
    oma_tensor_free(&m->tok_emb);
    oma_tensor_free(&m->pos_emb);
    for (int i = 0; i < m->n_loaded; i++) oma_clip_layer_free(&m->layers[i]);
    free(m->layers);
    m->layers = NULL;
    m->n_loaded = 0;
    oma_norm_free(&m->final_ln);
}

int oma_clip_text_forward(const oma_clip_text *m, const int32_t *ids, int64_t batch,
                          int64_t n_tokens, int clip_skip, oma_arena *ar, oma_tensor *out,
                          char *err, size_t errlen)
{
    const oma_clip_text_params *p = &m->p;
    int64_t H = p->hidden_size;
    if (batch < 1 || n_tokens < 1 || n_tokens > p->max_positions) {
        snprintf(err, errlen, "clip: %lld tokens (at most %d)", (long long)n_tokens, p->max_positions);
        return -1;
    }
    if (clip_skip < 0 || clip_skip >= p->num_layers) {
        snprintf(err, errlen, "clip: clip skip %d out of range", clip_skip);
        return -1;
    }
    int64_t s[3] = {batch, n_tokens, H};
    if (oma_arena_tensor(ar, out, 3, s) != 0) goto oom;
    oma_arena_mark mk = oma_arena_get_mark(ar);
    oma_tensor x;
    if (oma_arena_tensor(ar, &x, 3, s) != 0) goto oom;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t t = 0; t < n_tokens; t++) {
            int32_t id = ids[b * n_tokens + t];
            if (id < 0 || id >= p->vocab_size) {
                snprintf(err, errlen, "clip: token id %d outside the vocabulary (%d)", id, p->vocab_size);
                oma_arena_release(ar, mk);
                return -1;
            }
            float *dst = x.data + (b * n_tokens + t) * H;
            const float *te = m->tok_emb.data + (int64_t)id * H, *pe = m->pos_emb.data + t * H;
            for (int64_t j = 0; j < H; j++) dst[j] = te[j] + pe[j];
        }
    int run = p->num_layers - clip_skip;
    for (int i = 0; i < run; i++) TRY(oma_clip_layer_forward(&m->layers[i], p->num_heads, 1, p->quick_gelu, &x, ar, NULL));
    TRY(oma_op_layer_norm(&x, &m->final_ln.gamma, &m->final_ln.beta, p->eps, out));
    oma_arena_release(ar, mk);
    return 0;
fail:
    oma_arena_release(ar, mk);
oom:
    snprintf(err, errlen, "clip: forward failed (out of memory or bad shapes)");
    return -1;
}

int oma_clip_layer_forward(const oma_clip_layer *l, int num_heads, int causal, int quick_gelu, oma_tensor *x,
                           oma_arena *ar, oma_clip_layer_keep *keep)
{
    oma_arena_mark lm = oma_arena_get_mark(ar);
    oma_clip_layer_keep tmp, *k = keep ? keep : &tmp;
    oma_tensor a, f2;
    /* x += out(attention(q, k, v of ln1 x)), causal for the text tower */
    TRY(oma_norm_forward(&l->ln1, x, 0, ar, &k->h));
    TRY(oma_linear_forward(&l->q, &k->h, ar, &k->q));
    TRY(oma_linear_forward(&l->k, &k->h, ar, &k->k));
    TRY(oma_linear_forward(&l->v, &k->h, ar, &k->v));
    TRY(oma_arena_like(ar, &k->q, &k->o));
    TRY(oma_op_attention(&k->q, &k->k, &k->v, num_heads, 0.0f, causal, &k->o));
    TRY(oma_linear_forward(&l->out, &k->o, ar, &a));
    TRY(oma_op_add(x, &a, x));
    /* x += fc2(act(fc1(ln2 x))) */
    if (keep) {
        TRY(oma_arena_like(ar, x, &k->x1));
        memcpy(k->x1.data, x->data, sizeof(float) * (size_t)oma_tensor_numel(x));
    }
    TRY(oma_norm_forward(&l->ln2, x, 0, ar, &k->h2));
    TRY(oma_linear_forward(&l->fc1, &k->h2, ar, &k->f1));
    k->f1a = k->f1;                             /* in place unless kept */
    if (keep) TRY(oma_arena_like(ar, &k->f1, &k->f1a));
    TRY(quick_gelu ? oma_op_quick_gelu(&k->f1, &k->f1a) : oma_op_gelu(&k->f1, &k->f1a));
    TRY(oma_linear_forward(&l->fc2, &k->f1a, ar, &f2));
    TRY(oma_op_add(x, &f2, x));
    if (!keep) oma_arena_release(ar, lm);
    return 0;
fail:
    oma_arena_release(ar, lm);
    return -1;
}
