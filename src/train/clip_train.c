/* clip_train.c — CLIP text encoder forward with a tape, and its backward (clip_train.h). Both
 * run the layers through models/sd/clip_text.c's one layer forward; the backward recomputes a
 * layer from its taped input, keeping its intermediates for the call. */
#include "train/clip_train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/backward.h"
#include "tensor/ops.h"
#include "tensor/ops_backward.h"

#define TRY(x) do { if ((x) != 0) goto fail; } while (0)

int oma_clip_train_forward(const oma_clip_text *m, const int32_t *ids, int64_t n_tokens,
                           const float *extra, int n_extra, oma_arena *ar, oma_clip_tape *tape,
                           oma_tensor *out, char *err, size_t errlen)
{
    const oma_clip_text_params *p = &m->p;
    int64_t H = p->hidden_size;
    if (n_tokens < 1 || n_tokens > p->max_positions || n_extra < 0 || (n_extra && !extra)) {
        snprintf(err, errlen, "train: clip: %lld tokens (at most %d)", (long long)n_tokens,
                 p->max_positions);
        return -1;
    }
    int64_t s[3] = {1, n_tokens, H};
    memset(tape, 0, sizeof *tape);
    tape->n_tokens = n_tokens;
    tape->n_layers = p->num_layers;
    tape->layer_in = oma_arena_alloc(ar, sizeof(oma_tensor) * (size_t)(p->num_layers + 1));
    if (!tape->layer_in)
        goto oom;
    oma_tensor x;
    if (oma_arena_tensor_uninit(ar, &x, 3, s) != 0)
        goto oom;
    for (int64_t t = 0; t < n_tokens; t++) {
        int32_t id = ids[t];
        const float *te;
        if (id >= 0 && id < p->vocab_size)
            te = m->tok_emb.data + (int64_t)id * H;
        else if (id >= p->vocab_size && id < p->vocab_size + n_extra)
            te = extra + (int64_t)(id - p->vocab_size) * H;
        else {
            snprintf(err, errlen, "train: clip: token id %d outside the vocabulary", id);
            return -1;
        }
        const float *pe = m->pos_emb.data + t * H;
        float *dst = x.data + t * H;
        for (int64_t j = 0; j < H; j++)
            dst[j] = te[j] + pe[j];
    }
    for (int i = 0; i < p->num_layers; i++) {
        const oma_clip_layer *l = &m->layers[i];
        tape->layer_in[i] = x;
        oma_tensor xn;
        if (oma_arena_tensor_uninit(ar, &xn, 3, s) != 0)
            goto oom;
        memcpy(xn.data, x.data, (size_t)(n_tokens * H) * sizeof(float));
        TRY(oma_clip_layer_forward(l, p->num_heads, 1, p->quick_gelu, &xn, ar, NULL));
        x = xn;
    }
    tape->layer_in[p->num_layers] = x;
    if (oma_arena_tensor_uninit(ar, out, 3, s) != 0)
        goto oom;
    TRY(oma_op_layer_norm(&x, &m->final_ln.gamma, &m->final_ln.beta, p->eps, out));
    return 0;
fail:
oom:
    snprintf(err, errlen, "train: clip forward failed (out of memory or bad shapes)");
    return -1;
}

static int add_to(oma_tensor *acc, const oma_tensor *x) { return oma_op_add(acc, x, acc); }

/* One layer backward: x its input, g the gradient of its output (overwritten with dx). */
static int layer_backward(const oma_clip_text *m, const oma_clip_layer *l, const oma_tensor *x,
                          oma_tensor *g, oma_arena *ar)
{
    const oma_clip_text_params *p = &m->p;
    oma_arena_mark mk = oma_arena_get_mark(ar);
    oma_tensor xo, d, dq, dk, dv, dh, t;
    oma_clip_layer_keep k;
    /* recompute, keeping what the backward needs */
    TRY(oma_arena_like(ar, x, &xo));
    memcpy(xo.data, x->data, sizeof(float) * (size_t)oma_tensor_numel(x));
    TRY(oma_clip_layer_forward(l, p->num_heads, 1, p->quick_gelu, &xo, ar, &k));
    /* MLP: g is the gradient of x2 = x1 + fc2(act(fc1(ln2 x1))) */
    TRY(oma_linear_backward(&l->fc2, &k.f1a, g, ar, &d));
    TRY(p->quick_gelu ? oma_op_quick_gelu_backward(&k.f1, &d, &d)
                      : oma_op_gelu_backward(&k.f1, &d, &d));
    TRY(oma_linear_backward(&l->fc1, &k.h2, &d, ar, &dh));
    TRY(oma_norm_backward(&l->ln2, &k.x1, 0, &dh, ar, &t));
    TRY(add_to(g, &t));                         /* g = dx1 */
    /* attention: x1 = x + out(attn(q, k, v)) */
    TRY(oma_linear_backward(&l->out, &k.o, g, ar, &d));
    TRY(oma_arena_like(ar, &k.q, &dq));
    TRY(oma_arena_like(ar, &k.k, &dk));
    TRY(oma_arena_like(ar, &k.v, &dv));
    TRY(oma_op_attention_backward(&k.q, &k.k, &k.v, &k.o, &d, p->num_heads, 0.0f, 1, &dq, &dk, &dv));
    TRY(oma_linear_backward(&l->q, &k.h, &dq, ar, &dh));
    TRY(oma_linear_backward(&l->k, &k.h, &dk, ar, &t));
    TRY(add_to(&dh, &t));
    TRY(oma_linear_backward(&l->v, &k.h, &dv, ar, &t));
    TRY(add_to(&dh, &t));
    TRY(oma_norm_backward(&l->ln1, x, 0, &dh, ar, &t));
    TRY(add_to(g, &t));                         /* g = dx */
    oma_arena_release(ar, mk);
    return 0;
fail:
    oma_arena_release(ar, mk);
    return -1;
}

int oma_clip_train_backward(const oma_clip_text *m, const int32_t *ids, int n_extra,
                            const oma_clip_tape *tape, const oma_tensor *dout, oma_arena *ar,
                            float *dextra, char *err, size_t errlen)
{
    const oma_clip_text_params *p = &m->p;
    int64_t H = p->hidden_size, N = tape->n_tokens;
    oma_arena_mark mk = oma_arena_get_mark(ar);
    oma_tensor g, t;
    int64_t s[3] = {1, N, H};
    if (dout->ndim != 3 || dout->shape[1] != N || dout->shape[2] != H)
        goto fail;
    TRY(oma_norm_backward(&m->final_ln, &tape->layer_in[tape->n_layers], 0, dout, ar, &t));
    TRY(oma_arena_tensor_uninit(ar, &g, 3, s));
    memcpy(g.data, t.data, sizeof(float) * (size_t)(N * H));
    for (int i = tape->n_layers - 1; i >= 0; i--)
        TRY(layer_backward(m, &m->layers[i], &tape->layer_in[i], &g, ar));
    if (dextra)
        for (int64_t tk = 0; tk < N; tk++) {
            int32_t id = ids[tk];
            if (id >= p->vocab_size && id < p->vocab_size + n_extra) {
                float *row = dextra + (int64_t)(id - p->vocab_size) * H;
                for (int64_t j = 0; j < H; j++)
                    row[j] += g.data[tk * H + j];
            }
        }
    oma_arena_release(ar, mk);
    return 0;
fail:
    oma_arena_release(ar, mk);
    snprintf(err, errlen, "train: clip backward failed (out of memory or bad shapes)");
    return -1;
}
