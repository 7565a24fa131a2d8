/* clip_vision.c — CLIP vision encoder with projection and its preprocessing (see clip_vision.h). */
#include "models/animate/clip_vision.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/fail.h"
#include "tensor/ops.h"

#define TRY(x) do { if ((x) != 0) goto fail; } while (0)

void oma_clip_vision_defaults(oma_clip_vision_params *p)
{
    *p = (oma_clip_vision_params){.hidden_size = 1024, .intermediate_size = 4096, .num_layers = 24,
                                  .num_heads = 16, .image_size = 224, .patch_size = 14, .projection_dim = 768,
                                  .eps = 1e-5f, .quick_gelu = 1};
}

static int get_int(json_t *o, const char *k, int lo, int hi, int *out, const char *path, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return oma_fail(err, errlen, "%s: '%s' must be an integer in [%d, %d]", path, k, lo, hi);
    *out = (int)json_integer_value(v);
    return 0;
}

int oma_clip_vision_parse_config(const char *path, oma_clip_vision_params *p, char *err, size_t errlen)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) return oma_fail(err, errlen, "%s: %s", path, je.text);
    json_t *o = json_object_get(root, "vision_config");   /* a full CLIPConfig: its vision part */
    if (!json_is_object(o)) o = root;
    int rc = -1;
    if (!json_is_object(o)) {
        oma_fail(err, errlen, "%s: not a JSON object", path);
        goto out;
    }
    if (get_int(o, "hidden_size", 1, 16384, &p->hidden_size, path, err, errlen) ||
        get_int(o, "intermediate_size", 1, 65536, &p->intermediate_size, path, err, errlen) ||
        get_int(o, "num_hidden_layers", 1, 256, &p->num_layers, path, err, errlen) ||
        get_int(o, "num_attention_heads", 1, 1024, &p->num_heads, path, err, errlen) ||
        get_int(o, "image_size", 1, 4096, &p->image_size, path, err, errlen) ||
        get_int(o, "patch_size", 1, 4096, &p->patch_size, path, err, errlen) ||
        get_int(o, "projection_dim", 1, 16384, &p->projection_dim, path, err, errlen))
        goto out;
    json_t *pd = json_object_get(root, "projection_dim");      /* CLIPConfig keeps it at the top */
    if (o != root && json_is_integer(pd) && json_integer_value(pd) >= 1 && json_integer_value(pd) <= 16384)
        p->projection_dim = (int)json_integer_value(pd);
    json_t *eps = json_object_get(o, "layer_norm_eps");
    if (json_is_number(eps)) {
        double e = json_number_value(eps);
        if (!(e > 0 && e < 1)) {
            oma_fail(err, errlen, "%s: bad layer_norm_eps", path);
            goto out;
        }
        p->eps = (float)e;
    }
    json_t *act = json_object_get(o, "hidden_act");
    if (json_is_string(act)) {
        const char *a = json_string_value(act);
        if (!strcmp(a, "quick_gelu")) p->quick_gelu = 1;
        else if (!strcmp(a, "gelu")) p->quick_gelu = 0;
        else {
            oma_fail(err, errlen, "%s: hidden_act '%.40s' not supported", path, a);
            goto out;
        }
    }
    if (p->hidden_size % p->num_heads || p->image_size % p->patch_size) {
        oma_fail(err, errlen, "%s: sizes do not divide (hidden %d / heads %d, image %d / patch %d)", path,
                 p->hidden_size, p->num_heads, p->image_size, p->patch_size);
        goto out;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int oma_clip_vision_load(oma_clip_vision *m, const oma_weights *w, const char *prefix,
                         const oma_clip_vision_params *p, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    if (errlen) err[0] = 0;
    if (p->hidden_size < 1 || p->num_heads < 1 || p->hidden_size % p->num_heads || p->num_layers < 1 ||
        p->num_layers > 256 || p->patch_size < 1 || p->image_size % p->patch_size || p->projection_dim < 1)
        return oma_fail(err, errlen, "clip vision: bad config");
    m->p = *p;
    int64_t H = p->hidden_size, np = (int64_t)(p->image_size / p->patch_size) * (p->image_size / p->patch_size);
    char name[512];
#define N(...) (snprintf(name, sizeof name, __VA_ARGS__), name)
    TRY(oma_conv2d_load(&m->patch, w, N("%s.vision_model.embeddings.patch_embedding", prefix), 3, H, p->patch_size,
                        p->patch_size, 0, 0, err, errlen));
    int64_t cs[1] = {H}, ps[2] = {np + 1, H};
    TRY(oma_weights_load(w, N("%s.vision_model.embeddings", prefix), "class_embedding", 1, cs, &m->class_emb, err,
                         errlen));
    TRY(oma_weights_load(w, N("%s.vision_model.embeddings.position_embedding", prefix), "weight", 2, ps, &m->pos_emb,
                         err, errlen));
    TRY(oma_layer_norm_load(&m->pre_ln, w, N("%s.vision_model.pre_layrnorm", prefix), H, p->eps, err, errlen));
    m->layers = calloc((size_t)p->num_layers, sizeof *m->layers);
    if (!m->layers) {
        oma_fail(err, errlen, "clip vision: out of memory");
        goto fail;
    }
    for (int i = 0; i < p->num_layers; i++) {
        oma_clip_layer *l = &m->layers[i];
        m->n_loaded = i + 1;
        TRY(oma_clip_layer_load(l, w, N("%s.vision_model.encoder.layers.%d", prefix, i), H, p->intermediate_size,
                                p->eps, err, errlen));
    }
    TRY(oma_layer_norm_load(&m->post_ln, w, N("%s.vision_model.post_layernorm", prefix), H, p->eps, err, errlen));
    TRY(oma_linear_load(&m->proj, w, N("%s.visual_projection", prefix), H, p->projection_dim, 0, err, errlen));
#undef N
    return 0;
fail:
    if (!err[0]) oma_fail(err, errlen, "clip vision: cannot load");
    oma_clip_vision_free(m);
    return -1;
}

void oma_clip_vision_free(oma_clip_vision *m)
{
    oma_conv2d_free(&m->patch);
    oma_tensor_free(&m->class_emb);
    oma_tensor_free(&m->pos_emb);
    oma_norm_free(&m->pre_ln);
    oma_norm_free(&m->post_ln);
    for (int i = 0; i < m->n_loaded; i++) oma_clip_layer_free(&m->layers[i]);
    free(m->layers);
    m->layers = NULL;
    m->n_loaded = 0;
    oma_linear_free(&m->proj);
}

int oma_clip_vision_forward(const oma_clip_vision *m, const oma_tensor *pixels, oma_arena *ar, oma_tensor *embeds,
                            char *err, size_t errlen)
{
    const oma_clip_vision_params *p = &m->p;
    int64_t S = p->image_size, H = p->hidden_size, g = S / p->patch_size, n = g * g + 1;
    if (pixels->ndim != 4 || pixels->shape[0] != 1 || pixels->shape[1] != 3 || pixels->shape[2] != S ||
        pixels->shape[3] != S)
        return oma_fail(err, errlen, "clip vision: pixels must be [1, 3, %lld, %lld]", (long long)S, (long long)S);
    int64_t es[2] = {1, p->projection_dim};
    if (oma_arena_tensor(ar, embeds, 2, es) != 0) return oma_fail(err, errlen, "clip vision: out of memory");
    oma_arena_mark mk = oma_arena_get_mark(ar);
    oma_tensor pt, x, h;
    int64_t xs[3] = {1, n, H};
    TRY(oma_conv2d_forward(&m->patch, pixels, ar, &pt));        /* [1, H, g, g] */
    TRY(oma_arena_tensor(ar, &x, 3, xs));
    for (int64_t j = 0; j < H; j++) x.data[j] = m->class_emb.data[j] + m->pos_emb.data[j];
    for (int64_t t = 1; t < n; t++)
        for (int64_t j = 0; j < H; j++)
            x.data[t * H + j] = pt.data[j * (n - 1) + (t - 1)] + m->pos_emb.data[t * H + j];
    TRY(oma_norm_forward(&m->pre_ln, &x, 0, ar, &h));
    x = h;
    for (int i = 0; i < p->num_layers; i++)      /* the text tower's layer, no causal mask */
        TRY(oma_clip_layer_forward(&m->layers[i], p->num_heads, 0, p->quick_gelu, &x, ar, NULL));
    {
        oma_tensor cls, pooled, e;
        int64_t cs[2] = {1, H};
        TRY(oma_tensor_view(&cls, x.data, 2, cs));
        TRY(oma_norm_forward(&m->post_ln, &cls, 0, ar, &pooled));
        TRY(oma_linear_forward(&m->proj, &pooled, ar, &e));
        memcpy(embeds->data, e.data, sizeof(float) * (size_t)p->projection_dim);
    }
    oma_arena_release(ar, mk);
    return 0;
fail:
    oma_arena_release(ar, mk);
    return oma_fail(err, errlen, "clip vision: forward failed (out of memory or bad shapes)");
}

int oma_clip_preprocess(const oma_image *rgb, int size, oma_tensor *pixels, char *err, size_t errlen)
{
    static const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float std_[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    memset(pixels, 0, sizeof *pixels);
    if (!rgb->px || rgb->c != 3 || size < 1 || size > 4096) return oma_fail(err, errlen, "clip: need an RGB image");
    oma_image r;
    if (oma_image_resize_pil(rgb, size, size, OMA_PIL_BICUBIC, &r) != 0)
        return oma_fail(err, errlen, "clip: cannot resize (out of memory)");
    int rc = oma_tensor_alloc4(pixels, 4, 1, 3, size, size);
    if (rc == 0) {
        int64_t hw = (int64_t)size * size;
        for (int64_t i = 0; i < hw; i++)
            for (int c = 0; c < 3; c++) {
                float x = (float)((double)r.px[i * 3 + c] * (1.0 / 255.0));
                pixels->data[c * hw + i] = (x - mean[c]) / std_[c];
            }
    } else {
        oma_fail(err, errlen, "clip: out of memory");
    }
    oma_image_free(&r);
    return rc;
}
