/* sd_lora_keys.c — what each key of a LoRA file means: which layer, up or down or alpha.
 *
 * The idea: every format is reduced to (layer in the target table, part). kohya names may be
 * diffusers- or CompVis/LDM-named (sd_lora_ldm.c); LyCORIS LoHa/LoKr parts go to sd_lora_lyco.c. Keys are grouped per
 * layer, then each layer must have both halves with one rank and shapes that fit it. lora_pti's
 * positional keys are tried in diffusers' newer registration order and, if the shapes do not
 * fit, in the older one. Any key that is none of these is an error naming it: a file that is
 * half understood is not applied.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "formats/fail.h"
#include "models/sd/sd_lora_internal.h"

enum { PART_DOWN, PART_UP, PART_ALPHA, PART_LY0 };   /* PART_LY0 + LY_*: LyCORIS parts */

typedef struct slot {
    const oma_tf_tensor *down, *up, *alpha;
    const oma_tf_tensor *ly[LY_N];
    int has_ly;
} slot;

static int ends(const char *s, const char *suf, size_t *stem)
{
    size_t a = strlen(s), b = strlen(suf);
    if (a < b || strcmp(s + a - b, suf)) return 0;
    *stem = a - b;
    return 1;
}

static void shape_str(const oma_tf_tensor *t, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < t->ndim && o < len; i++) o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? "," : "", (long long)t->shape[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

/* diffusers / PEFT names: layer and part of a key, or -1. */
static int diffusers_key(const lora_targets *tt, const char *key, int *part)
{
    static const struct {
        const char *suf, *module_suffix;
        int part;
    } sufs[] = {
        {".processor.to_q_lora.down.weight", ".to_q", PART_DOWN}, {".processor.to_q_lora.up.weight", ".to_q", PART_UP},
        {".processor.to_k_lora.down.weight", ".to_k", PART_DOWN}, {".processor.to_k_lora.up.weight", ".to_k", PART_UP},
        {".processor.to_v_lora.down.weight", ".to_v", PART_DOWN}, {".processor.to_v_lora.up.weight", ".to_v", PART_UP},
        {".processor.to_out_lora.down.weight", ".to_out.0", PART_DOWN},
        {".processor.to_out_lora.up.weight", ".to_out.0", PART_UP},
        {".lora_linear_layer.down.weight", "", PART_DOWN}, {".lora_linear_layer.up.weight", "", PART_UP},
        {".lora.down.weight", "", PART_DOWN}, {".lora.up.weight", "", PART_UP},
        {".lora_A.weight", "", PART_DOWN}, {".lora_B.weight", "", PART_UP},
        {".lora_A.default.weight", "", PART_DOWN}, {".lora_B.default.weight", "", PART_UP},
        {".alpha", "", PART_ALPHA},
    };
    const char *body = key, *area = "unet.";
    if (!strncmp(key, "base_model.model.", 17)) {
        body = key + 17;
        if (!strncmp(body, "text_model.", 11)) area = "text_encoder.";
    } else if (!strncmp(key, "unet.", 5)) {
        body = key + 5;
    } else if (!strncmp(key, "text_encoder.", 13)) {
        body = key + 13;
        area = "text_encoder.";
    }
    /* diffusers <= 0.20 wrote the text encoder's attention LoRA with processor-style names */
    static const struct {
        const char *suf, *proj;
        int part;
    } te_sufs[] = {
        {".to_q_lora.down.weight", ".q_proj", PART_DOWN}, {".to_q_lora.up.weight", ".q_proj", PART_UP},
        {".to_k_lora.down.weight", ".k_proj", PART_DOWN}, {".to_k_lora.up.weight", ".k_proj", PART_UP},
        {".to_v_lora.down.weight", ".v_proj", PART_DOWN}, {".to_v_lora.up.weight", ".v_proj", PART_UP},
        {".to_out_lora.down.weight", ".out_proj", PART_DOWN}, {".to_out_lora.up.weight", ".out_proj", PART_UP},
    };
    for (size_t i = 0; area[0] == 't' && i < sizeof te_sufs / sizeof te_sufs[0]; i++) {
        size_t stem;
        if (!ends(body, te_sufs[i].suf, &stem)) continue;
        char name[256];
        if (snprintf(name, sizeof name, "%s%.*s%s", area, (int)stem, body, te_sufs[i].proj) >= (int)sizeof name)
            return -1;
        *part = te_sufs[i].part;
        return lora_targets_find(tt, name);
    }
    for (size_t i = 0; i < sizeof sufs / sizeof sufs[0]; i++) {
        size_t stem;
        if (!ends(body, sufs[i].suf, &stem)) continue;
        char name[256];
        if (snprintf(name, sizeof name, "%s%.*s%s", area, (int)stem, body, sufs[i].module_suffix) >= (int)sizeof name)
            return -1;
        *part = sufs[i].part;
        return lora_targets_find(tt, name);
    }
    return -1;
}

static int kohya_key(const lora_targets *tt, const char *key, int *part)
{
    char te[256];
    if (!strncmp(key, "lora_te1_", 9)) {     /* diffusers' kohya export names SD 1.x's one encoder te1 */
        if (snprintf(te, sizeof te, "lora_te_%s", key + 9) >= (int)sizeof te) return -1;
        key = te;
    }
    const char *dot = strchr(key, '.');
    if (!dot || dot - key >= 200) return -1;
    const char *suf = dot + 1;
    if (!strcmp(suf, "lora_down.weight") || !strcmp(suf, "lora_A.weight")) *part = PART_DOWN;
    else if (!strcmp(suf, "lora_up.weight") || !strcmp(suf, "lora_B.weight")) *part = PART_UP;
    else if (!strcmp(suf, "alpha")) *part = PART_ALPHA;
    else if (lora_lyco_part(suf) >= 0) *part = PART_LY0 + lora_lyco_part(suf);
    else return -1;
    char base[208];
    snprintf(base, sizeof base, "%.*s", (int)(dot - key), key);
    int li = lora_targets_find_kohya(tt, base);
    char ours[256];
    if (li < 0 && lora_ldm_kohya_name(tt->unet_layers, base, ours, sizeof ours) == 0)
        li = lora_targets_find_kohya(tt, ours);  /* CompVis/LDM-named (input_blocks_1_1_...) */
    return li;
}

/* The PEFT adapter_config.json beside the file: lora_alpha / r (or / sqrt(r)). 0 when absent. */
static int peft_scale(const char *path, float *scale, char *err, size_t errlen)
{
    char cfg[4096];
    const char *slash = strrchr(path, '/');
    int dl = slash ? (int)(slash - path) : 1;
    if (snprintf(cfg, sizeof cfg, "%.*s/adapter_config.json", dl, slash ? path : ".") >= (int)sizeof cfg) return 0;
    FILE *f = fopen(cfg, "rb");
    if (!f) return 0;
    fclose(f);
    json_error_t je;
    json_t *j = json_load_file(cfg, JSON_REJECT_DUPLICATES, &je);
    if (!j) return oma_fail(err, errlen, "%s: %s", cfg, je.text);
    json_t *a = json_object_get(j, "lora_alpha"), *r = json_object_get(j, "r");
    int rc = 0;
    if (!json_is_number(a) || !json_is_number(r) || json_number_value(r) < 1 || !isfinite(json_number_value(a))) {
        rc = oma_fail(err, errlen, "%s: lora_alpha and r must be numbers", cfg);
    } else {
        double rr = json_number_value(r);
        *scale = (float)(json_number_value(a) / (json_is_true(json_object_get(j, "use_rslora")) ? sqrt(rr) : rr));
    }
    json_decref(j);
    return rc;
}

/* lora_pti "unet:12:up": area 0 unet / 1 text, index, part; 0 if it is one. */
static int pti_key(const char *key, int *area, long *idx, int *part)
{
    const char *rest;
    if (!strncmp(key, "unet:", 5)) *area = 0, rest = key + 5;
    else if (!strncmp(key, "text_encoder:", 13)) *area = 1, rest = key + 13;
    else return -1;
    char *end;
    *idx = strtol(rest, &end, 10);
    if (end == rest || *idx < 0 || *idx > 100000) return -1;
    if (!strcmp(end, ":up")) *part = PART_UP;
    else if (!strcmp(end, ":down")) *part = PART_DOWN;
    else return -1;
    return 0;
}

static int put(slot *s, int part, const oma_tf_tensor *t)
{
    if (part >= PART_LY0) {
        if (s->ly[part - PART_LY0]) return -1;
        s->ly[part - PART_LY0] = t;
        s->has_ly = 1;
        return 0;
    }
    const oma_tf_tensor **dst = part == PART_UP ? &s->up : part == PART_DOWN ? &s->down : &s->alpha;
    if (*dst) return -1;
    *dst = t;
    return 0;
}

/* Checks the pair fits the layer; fills the delta. */
static int check_pair(const char *path, const lora_target *lt, const slot *s, float file_scale, lora_delta *d,
                      char *err, size_t errlen)
{
    const oma_tf_tensor *up = s->up, *down = s->down;
    if (!up || !down)
        return oma_fail(err, errlen, "%s: tensor '%s': its %s half is missing", path, (up ? up : down)->name,
                        up ? "down" : "up");
    int64_t r = down->shape[0], in = lora_target_in(lt), out = lora_target_out(lt);
    int down_ok = down->ndim >= 2 && r >= 1 && down->numel == r * in && down->shape[1] == (lt->conv ? lt->conv->in : in);
    if (down_ok && down->ndim == 4 && lt->conv) down_ok = down->shape[2] == lt->conv->k && down->shape[3] == lt->conv->k;
    if (down_ok && down->ndim == 4 && lt->lin) down_ok = down->shape[2] == 1 && down->shape[3] == 1;
    if (down_ok && down->ndim == 2 && lt->conv) down_ok = lt->conv->k == 1;
    if (down_ok && down->ndim != 2 && down->ndim != 4) down_ok = 0;
    int up_ok = (up->ndim == 2 || (up->ndim == 4 && up->shape[2] == 1 && up->shape[3] == 1)) && up->shape[0] == out &&
                up->shape[1] == r;
    if (!down_ok || !up_ok) {
        const oma_tf_tensor *bad = down_ok ? up : down;
        char got[96];
        shape_str(bad, got, sizeof got);
        if (lt->conv)
            return oma_fail(err, errlen, "%s: tensor '%s': shape %s does not fit %s (conv %lld->%lld, %lldx%lld)", path,
                            bad->name, got, lt->name, (long long)lt->conv->in, (long long)out,
                            (long long)lt->conv->k, (long long)lt->conv->k);
        return oma_fail(err, errlen, "%s: tensor '%s': shape %s does not fit %s (linear %lld->%lld)", path, bad->name,
                        got, lt->name, (long long)in, (long long)out);
    }
    float scale = file_scale;
    if (s->alpha) {
        if (s->alpha->numel != 1) return oma_fail(err, errlen, "%s: tensor '%s': alpha must be a scalar", path, s->alpha->name);
        scale = s->alpha->data[0] / (float)r;
    }
    d->up = up;
    d->down = down;
    d->scale = scale;
    d->kind = LORA_LOW_RANK;
    return 0;
}

int lora_parse_file(const char *path, const lora_targets *tt, int hidden, lora_parsed *out, char *err,
                    size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (oma_tensor_file_load(path, OMA_LORA_MAX_FILE_BYTES, &out->file, err, errlen) != 0) return -1;
    size_t n = oma_tensor_file_count(out->file);
    slot *slots = calloc(tt->n, sizeof *slots);
    slot *pti[2] = {calloc(tt->n, sizeof(slot)), calloc(tt->n, sizeof(slot))};
    out->d = calloc(tt->n, sizeof *out->d);
    out->e = calloc(n ? n : 1, sizeof *out->e);
    int rc = (!slots || !pti[0] || !pti[1] || !out->d || !out->e) ? oma_fail(err, errlen, "out of memory") : 0;
    int has_pti = 0;
    size_t pti_len[2] = {tt->n_pti_unet, tt->n_pti_text};
    for (size_t i = 0; i < n && rc == 0; i++) {
        const oma_tf_tensor *t = oma_tensor_file_at(out->file, i);
        const char *k = t->name;
        int part = 0, area;
        long idx;
        if (!strncmp(k, "lora_te2_", 9)) {
            rc = oma_fail(err, errlen, "%s: tensor '%s': an SDXL LoRA (two text encoders) does not fit an SD 1.x model",
                          path, k);
            break;
        }
        int e = lora_take_embedding(out->file, t, hidden, out, err, errlen);
        if (e <= 0) {
            rc = e;
            continue;
        }
        if (pti_key(k, &area, &idx, &part) == 0) {
            if ((size_t)idx >= pti_len[area]) {
                rc = oma_fail(err, errlen, "%s: tensor '%s': this model has only %zu such layers", path, k, pti_len[area]);
                break;
            }
            if (put(&pti[area][idx], part, t)) rc = oma_fail(err, errlen, "%s: tensor '%s' given twice", path, k);
            has_pti = 1;
            continue;
        }
        int li = !strncmp(k, "lora_unet_", 10) || !strncmp(k, "lora_te_", 8) || !strncmp(k, "lora_te1_", 9)
                     ? kohya_key(tt, k, &part)
                                                                               : diffusers_key(tt, k, &part);
        if (li < 0) {
            size_t kl = strlen(k);
            if (kl >= 11 && !strcmp(k + kl - 11, ".dora_scale"))
                rc = oma_fail(err, errlen, "%s: tensor '%s': DoRA (weight-decomposed) files are not supported", path, k);
            else rc = oma_fail(err, errlen, "%s: tensor '%s': not a LoRA key of an SD 1.x model", path, k);
            break;
        }
        if (put(&slots[li], part, t)) rc = oma_fail(err, errlen, "%s: tensor '%s' given twice", path, k);
    }
    float file_scale = 1.0f;
    if (rc == 0 && oma_tensor_file_count(out->file) > 0 &&
        !strncmp(oma_tensor_file_at(out->file, 0)->name, "base_model.model.", 17))
        rc = peft_scale(path, &file_scale, err, errlen);
    for (size_t li = 0; li < tt->n && rc == 0; li++) {
        if (slots[li].has_ly) {
            lora_delta *d = &out->d[out->n_d];
            d->target = (int)li;
            if (slots[li].up || slots[li].down)
                rc = oma_fail(err, errlen, "%s: tensor '%s': LoRA and LyCORIS keys for one layer", path,
                              (slots[li].up ? slots[li].up : slots[li].down)->name);
            else if (lora_lyco_check(path, &tt->t[li], slots[li].ly, slots[li].alpha, d, err, errlen)) rc = -1;
            else out->n_d++;
            continue;
        }
        if (!slots[li].up && !slots[li].down) {
            if (slots[li].alpha) rc = oma_fail(err, errlen, "%s: tensor '%s': alpha without weights", path, slots[li].alpha->name);
            continue;
        }
        lora_delta *d = &out->d[out->n_d];
        d->target = (int)li;
        if (check_pair(path, &tt->t[li], &slots[li], file_scale, d, err, errlen)) rc = -1;
        else out->n_d++;
    }
    if (rc == 0 && has_pti) {
        /* positional: the newer order, or the older one when that is the one whose shapes fit */
        char first[512] = "";
        for (int order = 0; order < 2; order++) {
            size_t start = out->n_d;
            int orc = 0;
            for (int area = 0; area < 2 && orc == 0; area++)
                for (size_t i = 0; i < pti_len[area] && orc == 0; i++) {
                    if (!pti[area][i].up && !pti[area][i].down) continue;
                    int li = area ? tt->pti_text[i] : (order ? tt->pti_old[i] : tt->pti_new[i]);
                    lora_delta *d = &out->d[out->n_d];
                    d->target = li;
                    if (out->n_d >= tt->n) orc = oma_fail(err, errlen, "%s: layers given twice", path);
                    else if (check_pair(path, &tt->t[li], &pti[area][i], 1.0f, d, err, errlen)) orc = -1;
                    else out->n_d++;
                }
            if (orc == 0) break;
            if (order == 0) snprintf(first, sizeof first, "%s", err);
            out->n_d = start;
            if (order == 1) rc = oma_fail(err, errlen, "%s", first);
        }
    }
    if (rc == 0 && out->n_d == 0 && out->n_e == 0) rc = oma_fail(err, errlen, "%s: no LoRA weights in the file", path);
    int te1 = 0;
    for (size_t i = 0; rc && i < n; i++) te1 |= !strncmp(oma_tensor_file_at(out->file, i)->name, "lora_te1_", 9);
    if (rc && te1 && !strstr(err, "SDXL")) {
        size_t l = strlen(err);
        snprintf(err + l, errlen > l ? errlen - l : 0, " (lora_te1_ keys: an SDXL LoRA?)");
    }
    free(slots);
    free(pti[0]);
    free(pti[1]);
    if (rc) lora_parsed_free(out);
    return rc;
}

void lora_parsed_free(lora_parsed *p)
{
    oma_tensor_file_free(p->file);
    free(p->d);
    free(p->e);
    memset(p, 0, sizeof *p);
}
