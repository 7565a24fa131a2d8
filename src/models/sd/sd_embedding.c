/* sd_embedding.c — textual-inversion embeddings: which tensors of a file are token vectors.
 *
 * Standalone files: A1111 .pt ({"string_to_param": {"*": [n, H]}}), kohya/A1111 .safetensors
 * ({"emb_params": [n, H]}), diffusers learned_embeds ({"<tok>": [H]}), several tokens in one
 * dict of [H] vectors (lora_pti's step_inv files, DreamStyler's {"<x>-T0": [H], ...}), or any
 * single tensor; the prompt word is the "<tok>" key when there is one, else the file name
 * without extension; in a dict of several vectors each key is its own token.
 * Inside LoRA files: "<s1>" entries (lora_pti) and A1111's "bundle_emb.NAME.string_to_param.*".
 * SDXL embeddings (clip_l / clip_g) are refused by name.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/fail.h"
#include "models/sd/sd_lora_internal.h"

static int add_emb(const char *path, const oma_tf_tensor *t, const char *name, size_t name_len, int hidden,
                   lora_parsed *out, char *err, size_t errlen)
{
    int n;
    if (t->ndim == 1 && t->shape[0] == hidden) n = 1;
    else if (t->ndim == 2 && t->shape[1] == hidden && t->shape[0] >= 1 && t->shape[0] <= 75) n = (int)t->shape[0];
    else if (t->ndim == 2 && t->shape[0] == 1 && t->shape[1] == hidden) n = 1;
    else
        return oma_fail(err, errlen, "%s: tensor '%s': not %d-wide token vectors (the text encoder's width)", path,
                        t->name, hidden);
    if (name_len == 0 || name_len >= sizeof out->e[0].name)
        return oma_fail(err, errlen, "%s: tensor '%s': bad token name", path, t->name);
    lora_embedding *e = &out->e[out->n_e++];
    snprintf(e->name, sizeof e->name, "%.*s", (int)name_len, name);
    e->n = n;
    e->data = t->data;
    return 0;
}

static int is_token_key(const char *k)
{
    size_t l = strlen(k);
    return l >= 3 && k[0] == '<' && k[l - 1] == '>' && !strchr(k, '.');
}

int lora_take_embedding(const oma_tensor_file *f, const oma_tf_tensor *t, int hidden, lora_parsed *out, char *err,
                        size_t errlen)
{
    const char *k = t->name, *path = oma_tensor_file_path(f);
    const char *meta = oma_tensor_file_meta(f, k);
    if (is_token_key(k) || (meta && !strcmp(meta, "<embed>")))
        return add_emb(path, t, k, strlen(k), hidden, out, err, errlen);
    if (strncmp(k, "bundle_emb.", 11)) return 1;
    const char *name = k + 11, *stp = strstr(name, ".string_to_param");
    if (stp && (stp[16] == 0 || stp[16] == '.')) return add_emb(path, t, name, (size_t)(stp - name), hidden, out, err, errlen);
    if (strstr(name, ".clip_g") || strstr(name, ".clip_l"))
        return oma_fail(err, errlen, "%s: tensor '%s': an SDXL embedding (clip_l/clip_g) does not fit an SD 1.x model",
                        path, k);
    return oma_fail(err, errlen, "%s: tensor '%s': not an embedding entry", path, k);
}

int lora_parse_embedding(const char *path, int hidden, lora_parsed *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (oma_tensor_file_load(path, (size_t)256 << 20, &out->file, err, errlen) != 0) return -1;
    size_t n = oma_tensor_file_count(out->file);
    out->e = calloc(n ? n : 1, sizeof *out->e);
    if (!out->e) {
        lora_parsed_free(out);
        return oma_fail(err, errlen, "out of memory");
    }
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strchr(base, '.');
    size_t stem = dot ? (size_t)(dot - base) : strlen(base);
    int rc = 0;
    size_t n_stp = 0, n_tok = 0, n_vec = 0;
    const oma_tf_tensor *stp = NULL;
    for (size_t i = 0; i < n; i++) {
        const oma_tf_tensor *t = oma_tensor_file_at(out->file, i);
        if (!strncmp(t->name, "string_to_param.", 16)) n_stp++, stp = t;
        if (is_token_key(t->name)) n_tok++;
        if ((t->ndim == 1 && t->shape[0] == hidden) || (t->ndim == 2 && t->shape[0] == 1 && t->shape[1] == hidden)) n_vec++;
        if (!strcmp(t->name, "clip_g") || !strcmp(t->name, "clip_l") || strstr(t->name, ".clip_g"))
            rc = oma_fail(err, errlen, "%s: tensor '%s': an SDXL embedding (clip_l/clip_g) does not fit an SD 1.x model",
                          path, t->name);
    }
    if (rc == 0) {
        if (n_stp == 1) rc = add_emb(path, stp, base, stem, hidden, out, err, errlen);
        else if (n_stp > 1) rc = oma_fail(err, errlen, "%s: string_to_param holds %zu entries, one expected", path, n_stp);
        else if (oma_tensor_file_find(out->file, "emb_params"))
            rc = add_emb(path, oma_tensor_file_find(out->file, "emb_params"), base, stem, hidden, out, err, errlen);
        else if (n > 0 && (n_tok == n || (n > 1 && n_vec == n)))   /* {"<s1>": v, "<s2>": v}, {"<x>-T0": v, ...} */
            for (size_t i = 0; i < n && rc == 0; i++) {
                const oma_tf_tensor *t = oma_tensor_file_at(out->file, i);
                rc = add_emb(path, t, t->name, strlen(t->name), hidden, out, err, errlen);
            }
        else if (n == 1) rc = add_emb(path, oma_tensor_file_at(out->file, 0), base, stem, hidden, out, err, errlen);
        else if (n == 0) rc = oma_fail(err, errlen, "%s: no tensors in the file", path);
        else rc = oma_fail(err, errlen, "%s: tensor '%s': not an embedding file (%zu tensors, none of the known keys)",
                           path, oma_tensor_file_at(out->file, 0)->name, n);
    }
    if (rc) lora_parsed_free(out);
    return rc;
}
