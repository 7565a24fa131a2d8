/* sd_lora.c — apply LoRAs and embeddings to a loaded model, all or nothing, and undo exactly.
 *
 * The idea: first read and check every file (sd_lora_keys.c, sd_embedding.c); only then touch
 * the model. Before a layer's first merge its weight is copied (the float values — packed to
 * 16 bits when every one of them is an fp16 or bf16 value, as checkpoint weights are — or the
 * layer's own 16-bit values when it keeps them), so restoring is a copy back — bit-exact, no drift
 * however many styles a server switches through. The token-embedding table is swapped for a
 * longer one holding the new vectors; the original tensor is kept and swapped back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "formats/fail.h"
#include "formats/safetensors.h"
#include "models/sd/sd_lora_internal.h"
#include "tensor/backend.h"
#include "tensor/half.h"
#include "tensor/ops.h"

typedef struct saved_layer {
    oma_tensor *w;          /* the layer's weight tensor */
    uint16_t **w16;         /* the layer's 16-bit pointer */
    float *f;               /* copy of the float weights, or NULL */
    uint16_t *p16;          /* or the same values packed as bf16/fp16 (when all of them are such values) */
    int kind16;
    uint16_t *h;            /* the original 16-bit weights (taken over from the layer), or NULL */
    oma_tensor orig;        /* with h: the layer's tensor as it was (shape, no data) */
    int64_t n;
} saved_layer;

struct oma_sd_patch {
    saved_layer *layers;
    size_t n_layers;
    int tok_swapped;
    oma_tensor tok_emb;     /* the original table */
    int vocab_size;
    size_t tok_added;       /* tokenizer's added count before */
    size_t n_tokens;
};

size_t oma_sd_patch_layers(const oma_sd_patch *p) { return p ? p->n_layers : 0; }
size_t oma_sd_patch_tokens(const oma_sd_patch *p) { return p ? p->n_tokens : 0; }

/* A copy of float weights in half the room when every value is a bf16 or an fp16 value (as the
 * weights of fp16/bf16 checkpoints are): widening it back is exact. 0, or -1 when they are not. */
static int pack16(saved_layer *s, const float *w)
{
    size_t n = (size_t)s->n;
    uint32_t b = 0;
    size_t i = 0;
    for (; i < n; i++) {
        memcpy(&b, &w[i], 4);
        if (b & 0xFFFFu) break;
    }
    int bf16 = i == n;
    if (!bf16) {            /* the first value tells quickly whether fp16 can hold them */
        float back = oma_f16_to_f32(oma_f32_to_f16(w[0]));
        if (memcmp(&back, &w[0], 4) != 0) return -1;
    }
    s->p16 = malloc(n * sizeof *s->p16);
    if (!s->p16) return -1;
    for (i = 0; i < n; i++) {
        if (bf16) {
            memcpy(&b, &w[i], 4);
            s->p16[i] = (uint16_t)(b >> 16);
            continue;
        }
        uint16_t h = oma_f32_to_f16(w[i]);
        float back = oma_f16_to_f32(h);
        if (memcmp(&back, &w[i], 4) != 0) break;
        s->p16[i] = h;
    }
    if (i < n) {
        free(s->p16);
        s->p16 = NULL;
        return -1;
    }
    s->kind16 = bf16 ? OMA_HALF_BF16 : OMA_HALF_F16;
    return 0;
}

static int save_layer(oma_sd_patch *p, const lora_target *lt)
{
    oma_tensor *w = lt->lin ? &lt->lin->w : &lt->conv->w;
    uint16_t **w16 = lt->lin ? &lt->lin->w16 : &lt->conv->w16;
    for (size_t i = 0; i < p->n_layers; i++)
        if (p->layers[i].w == w) return 0;
    saved_layer *s = &p->layers[p->n_layers];
    memset(s, 0, sizeof *s);
    s->w = w;
    s->w16 = w16;
    s->n = oma_tensor_numel(w);
    if (*w16) {
        /* keep the 16-bit original; the layer gets float weights widened from it */
        oma_tensor f;
        if (oma_tensor_alloc(&f, w->ndim, w->shape) != 0) return -1;
        oma_half_widen(*w16, (oma_half_kind)(lt->lin ? lt->lin->w16_kind : lt->conv->w16_kind), f.data, (size_t)s->n);
        f.stamp = w->stamp;
        s->orig = *w;
        s->h = *w16;
        *w16 = NULL;
        *w = f;
    } else if (pack16(s, w->data) != 0) {
        s->f = malloc((size_t)s->n * sizeof(float));
        if (!s->f) return -1;
        memcpy(s->f, w->data, (size_t)s->n * sizeof(float));
    }
    p->n_layers++;
    return 0;
}

static void restore_layers(oma_sd_patch *p)
{
    for (size_t i = p->n_layers; i-- > 0;) {
        saved_layer *s = &p->layers[i];
        oma_op_forget_weights(s->w);
        if (s->h) {
            oma_tensor_free(s->w);
            *s->w = s->orig;        /* shape, no data: the layer reads its 16-bit weights again */
            *s->w16 = s->h;
        } else if (s->p16) {
            oma_half_widen(s->p16, (oma_half_kind)s->kind16, s->w->data, (size_t)s->n);
            free(s->p16);
        } else {
            memcpy(s->w->data, s->f, (size_t)s->n * sizeof(float));
            free(s->f);
        }
        s->w->stamp = oma_stamp_next();
    }
    free(p->layers);
    p->layers = NULL;
    p->n_layers = 0;
}

static int merge(const lora_target *lt, const lora_delta *d, float weight)
{
    if (d->kind != LORA_LOW_RANK) {     /* LyCORIS: the full change, built for this layer only */
        int64_t n = lora_target_out(lt) * lora_target_in(lt);
        float *full = malloc((size_t)n * sizeof *full);
        int rc = (!full || lora_lyco_delta(lt, d, full)) ? -1
                 : lt->lin ? oma_linear_add_delta(lt->lin, full, weight * d->scale)
                           : oma_conv2d_add_delta(lt->conv, full, weight * d->scale);
        free(full);
        return rc;
    }
    int64_t r = d->down->shape[0];
    oma_tensor up, down;
    oma_tensor_view(&up, d->up->data, 2, (int64_t[]){d->up->shape[0], r});
    if (lt->lin) {
        oma_tensor_view(&down, d->down->data, 2, (int64_t[]){r, lt->lin->in});
        return oma_linear_merge_lora(lt->lin, &up, &down, weight * d->scale);
    }
    if (d->down->ndim == 4) oma_tensor_view(&down, d->down->data, 4, d->down->shape);
    else oma_tensor_view(&down, d->down->data, 2, (int64_t[]){r, lt->conv->in});
    return oma_conv2d_merge_lora(lt->conv, &up, &down, weight * d->scale);
}

/* Adds every embedding's tokens and a longer token table. */
static int add_embeddings(oma_sd_model *m, oma_sd_patch *p, lora_parsed *parsed, size_t n_parsed, char *err,
                          size_t errlen)
{
    size_t n_emb = 0;
    for (size_t i = 0; i < n_parsed; i++) n_emb += parsed[i].n_e;
    if (n_emb == 0) return 0;
    int64_t H = m->text.p.hidden_size;
    if (m->text.tok_emb.shape[0] != (int64_t)oma_clip_total_ids(m->tok))
        return oma_fail(err, errlen, "the text encoder's table has %lld rows for %zu token ids",
                        (long long)m->text.tok_emb.shape[0], oma_clip_total_ids(m->tok));
    p->tok_added = oma_clip_added_count(m->tok);
    p->vocab_size = m->text.p.vocab_size;
    for (size_t i = 0; i < n_parsed; i++)
        for (size_t j = 0; j < parsed[i].n_e; j++) {
            lora_embedding *e = &parsed[i].e[j];
            /* the same token twice (a style's file carries its embedding and the embeddings folder
             * holds it too): loaded once when the vectors are the same, refused when they differ */
            const lora_embedding *first = NULL;
            const char *first_path = NULL;
            for (size_t a = 0; a <= i && !first; a++)
                for (size_t b = 0; b < (a == i ? j : parsed[a].n_e) && !first; b++)
                    if (parsed[a].e[b].n > 0 && !strcasecmp(parsed[a].e[b].name, e->name))
                        first = &parsed[a].e[b], first_path = oma_tensor_file_path(parsed[a].file);
            if (first) {
                if (first->n != e->n || memcmp(first->data, e->data, (size_t)(e->n * H) * sizeof(float)) != 0) {
                    oma_clip_drop_added(m->tok, p->tok_added);
                    p->n_tokens = 0;
                    return oma_fail(err, errlen, "%s: token '%s' is also in %s, with other vectors",
                                    oma_tensor_file_path(parsed[i].file), e->name, first_path);
                }
                e->n = 0;   /* skipped */
                continue;
            }
            char e2[256] = "";
            if (oma_clip_token_id(m->tok, e->name) >= 0 ||
                oma_clip_add_token(m->tok, e->name, e->n, e2, sizeof e2) < 0) {
                if (!e2[0] || oma_clip_token_id(m->tok, e->name) >= 0) snprintf(e2, sizeof e2, "'%s' is already a token", e->name);
                oma_clip_drop_added(m->tok, p->tok_added);
                p->n_tokens = 0;
                return oma_fail(err, errlen, "%s: %s", oma_tensor_file_path(parsed[i].file), e2);
            }
            p->n_tokens++;
        }
    int64_t rows = (int64_t)oma_clip_total_ids(m->tok), old_rows = m->text.tok_emb.shape[0];
    oma_tensor t;
    if (rows > (1 << 24) || oma_tensor_alloc(&t, 2, (int64_t[]){rows, H}) != 0) {
        oma_clip_drop_added(m->tok, p->tok_added);
        return oma_fail(err, errlen, "out of memory");
    }
    memset(t.data, 0, (size_t)(rows * H) * sizeof(float));
    memcpy(t.data, m->text.tok_emb.data, (size_t)(old_rows * H) * sizeof(float));
    /* the new ids follow the vocabulary in the order they were added */
    int64_t row = old_rows;
    for (size_t i = 0; i < n_parsed; i++)
        for (size_t j = 0; j < parsed[i].n_e; j++) {
            const lora_embedding *e = &parsed[i].e[j];
            if (e->n == 0) continue;
            memcpy(t.data + row * H, e->data, (size_t)(e->n * H) * sizeof(float));
            row += e->n;
        }
    p->tok_emb = m->text.tok_emb;
    m->text.tok_emb = t;
    m->text.p.vocab_size = (int)rows;
    p->tok_swapped = 1;
    return 0;
}

int oma_sd_patch_apply(oma_sd_model *m, const oma_sd_lora *loras, size_t n_loras, const char *const *embeddings,
                       size_t n_embeddings, oma_sd_patch **out, char *err, size_t errlen)
{
    *out = NULL;
    if (n_loras == 0 && n_embeddings == 0) return 0;
    if (n_loras + n_embeddings > OMA_LORA_MAX_FILES)
        return oma_fail(err, errlen, "more than %d LoRA/embedding files", OMA_LORA_MAX_FILES);
    lora_targets tt;
    if (lora_targets_build(m, &tt, err, errlen) != 0) return -1;
    size_t np = n_loras + n_embeddings;
    lora_parsed *parsed = calloc(np, sizeof *parsed);
    oma_sd_patch *p = calloc(1, sizeof *p);
    int rc = (!parsed || !p) ? oma_fail(err, errlen, "out of memory") : 0;
    int hidden = m->text.p.hidden_size;
    char e[768];
    for (size_t i = 0; i < n_loras && rc == 0; i++)
        if (lora_parse_file(loras[i].path, &tt, hidden, &parsed[i], e, sizeof e) != 0)
            rc = oma_fail(err, errlen, "lora %s", e);
    for (size_t i = 0; i < n_embeddings && rc == 0; i++)
        if (lora_parse_embedding(embeddings[i], hidden, &parsed[n_loras + i], e, sizeof e) != 0)
            rc = oma_fail(err, errlen, "embedding %s", e);
    /* everything read and checked: now change the model */
    size_t n_d = 0;
    for (size_t i = 0; i < n_loras; i++) n_d += parsed[i].n_d;
    if (rc == 0 && n_d > 0 && !(p->layers = calloc(n_d, sizeof *p->layers))) rc = oma_fail(err, errlen, "out of memory");
    if (rc == 0) rc = add_embeddings(m, p, parsed, np, err, errlen);
    for (size_t i = 0; i < n_loras && rc == 0; i++)
        for (size_t j = 0; j < parsed[i].n_d && rc == 0; j++) {
            const lora_delta *d = &parsed[i].d[j];
            const lora_target *lt = &tt.t[d->target];
            float w = lt->text ? loras[i].text_weight : loras[i].unet_weight;
            if (save_layer(p, lt) != 0) rc = oma_fail(err, errlen, "out of memory");
            else if (w != 0.0f && merge(lt, d, w) != 0)
                rc = oma_fail(err, errlen, "lora %s: cannot merge into %s", loras[i].path, lt->name);
        }
    for (size_t i = 0; parsed && i < np; i++) lora_parsed_free(&parsed[i]);
    free(parsed);
    lora_targets_free(&tt);
    if (rc != 0) {
        if (p) oma_sd_patch_restore(m, p);
        return -1;
    }
    *out = p;
    return 0;
}

void oma_sd_patch_restore(oma_sd_model *m, oma_sd_patch *p)
{
    if (!p) return;
    restore_layers(p);
    if (p->tok_swapped) {
        oma_tensor_free(&m->text.tok_emb);
        m->text.tok_emb = p->tok_emb;
        m->text.p.vocab_size = p->vocab_size;
        oma_clip_drop_added(m->tok, p->tok_added);
    }
    free(p);
}
