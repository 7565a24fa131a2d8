/* style_profile_json.c — the style profile's JSON form (the contract in docs/API.md):
 * {"palette":[{"rgb":"#rrggbb","lab":[L,a,b],"weight":w}],"tone_levels":[...],
 *  "line":{"weight_px":w,"darkness":d},"screentone":{"present":b,"density":d,"frequency":f},
 *  "saturation":s,"contrast":c,"samples":n,"version":1}
 * Reading trusts nothing: every field is type- and range-checked; "rgb" is authoritative and
 * "lab" is recomputed from it. Optional fields fall back to the default profile's values. */
#include "pipelines/style/style_profile.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static json_t *num(double v) { return json_real(round(v * 10000.0) / 10000.0); }

json_t *oma_style_profile_to_json(const oma_style_profile *p)
{
    json_t *j = json_object(), *pal = json_array(), *tones = json_array();
    json_t *line = json_object(), *st = json_object();
    if (!j || !pal || !tones || !line || !st) goto fail;
    for (int i = 0; i < p->palette.n; i++) {
        char hex[8];
        snprintf(hex, sizeof hex, "#%02x%02x%02x", p->palette.rgb[i][0], p->palette.rgb[i][1], p->palette.rgb[i][2]);
        json_t *lab = json_pack("[o,o,o]", num(p->palette.lab[i].L), num(p->palette.lab[i].a), num(p->palette.lab[i].b));
        json_t *e = lab ? json_pack("{s:s,s:o,s:o}", "rgb", hex, "lab", lab, "weight", num(p->palette.weight[i])) : NULL;
        if (!e || json_array_append_new(pal, e) != 0) goto fail;
    }
    for (int i = 0; i < p->n_tones; i++)
        if (json_array_append_new(tones, num(p->tones[i])) != 0) goto fail;
    if (json_object_set_new(line, "weight_px", num(p->line_weight_px)) ||
        json_object_set_new(line, "darkness", num(p->line_darkness)) ||
        json_object_set_new(st, "present", json_boolean(p->screentone_present)) ||
        json_object_set_new(st, "density", num(p->screentone_density)) ||
        json_object_set_new(st, "frequency", num(p->screentone_frequency)))
        goto fail;
    int bad = json_object_set_new(j, "palette", pal);
    pal = NULL;
    bad |= json_object_set_new(j, "tone_levels", tones);
    tones = NULL;
    bad |= json_object_set_new(j, "line", line);
    line = NULL;
    bad |= json_object_set_new(j, "screentone", st);
    st = NULL;
    bad |= json_object_set_new(j, "saturation", num(p->saturation));
    bad |= json_object_set_new(j, "contrast", num(p->contrast));
    bad |= json_object_set_new(j, "samples", json_integer(p->n_samples));
    bad |= json_object_set_new(j, "version", json_integer(1));
    if (bad) goto fail;
    return j;
fail:
    json_decref(j); json_decref(pal); json_decref(tones); json_decref(line); json_decref(st);
    return NULL;
}

/* Reads an optional number in [lo, hi]; 0 ok, -1 bad type/range. */
static int get_num(const json_t *obj, const char *key, double lo, double hi, float *out,
                   const char *where, char *err, size_t errlen)
{
    const json_t *v = obj ? json_object_get(obj, key) : NULL;
    if (!v) return 0;
    if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < lo ||
        json_number_value(v) > hi) {
        snprintf(err, errlen, "%s%s must be a number in [%g, %g]", where, key, lo, hi);
        return -1;
    }
    *out = (float)json_number_value(v);
    return 0;
}

static int parse_hex(const char *s, uint8_t rgb[3])
{
    if (!s || strlen(s) != 7 || s[0] != '#') return -1;
    for (int i = 0; i < 3; i++) {
        int v = 0;
        for (int k = 0; k < 2; k++) {
            char c = s[1 + 2 * i + k];
            int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
            if (d < 0) return -1;
            v = v * 16 + d;
        }
        rgb[i] = (uint8_t)v;
    }
    return 0;
}

int oma_style_profile_from_json(const json_t *j, oma_style_profile *out, char *err, size_t errlen)
{
    oma_style_profile p;
    oma_style_profile_default(&p);
    if (!json_is_object(j)) { snprintf(err, errlen, "style must be an object"); return -1; }
    const json_t *pal = json_object_get(j, "palette");
    if (!json_is_array(pal) || json_array_size(pal) < 1 || json_array_size(pal) > OMA_PALETTE_MAX) {
        snprintf(err, errlen, "style.palette must be an array of 1..%d colours", OMA_PALETTE_MAX);
        return -1;
    }
    p.palette.n = (int)json_array_size(pal);
    double tw = 0;
    for (int i = 0; i < p.palette.n; i++) {
        const json_t *e = json_array_get(pal, (size_t)i);
        const json_t *rgb = json_object_get(e, "rgb");
        if (!json_is_object(e) || !json_is_string(rgb) || parse_hex(json_string_value(rgb), p.palette.rgb[i]) != 0) {
            snprintf(err, errlen, "style.palette[%d].rgb must be \"#rrggbb\"", i);
            return -1;
        }
        p.palette.lab[i] = oma_rgb_to_lab(p.palette.rgb[i][0], p.palette.rgb[i][1], p.palette.rgb[i][2]);
        p.palette.weight[i] = 1.0f;
        if (get_num(e, "weight", 0, 1e9, &p.palette.weight[i], "style.palette[].", err, errlen)) return -1;
        tw += p.palette.weight[i];
    }
    for (int i = 0; i < p.palette.n; i++)
        p.palette.weight[i] = tw > 0 ? (float)(p.palette.weight[i] / tw) : 1.0f / (float)p.palette.n;

    const json_t *tones = json_object_get(j, "tone_levels");
    if (tones) {
        if (!json_is_array(tones) || json_array_size(tones) < 1 || json_array_size(tones) > OMA_STYLE_MAX_TONES) {
            snprintf(err, errlen, "style.tone_levels must be an array of 1..%d numbers", OMA_STYLE_MAX_TONES);
            return -1;
        }
        p.n_tones = (int)json_array_size(tones);
        for (int i = 0; i < p.n_tones; i++) {
            const json_t *v = json_array_get(tones, (size_t)i);
            if (!json_is_number(v) || !(json_number_value(v) >= 0 && json_number_value(v) <= 255)) {
                snprintf(err, errlen, "style.tone_levels[%d] must be a number in [0, 255]", i);
                return -1;
            }
            p.tones[i] = (float)json_number_value(v);
        }
        for (int a = 1; a < p.n_tones; a++)
            for (int b = a; b > 0 && p.tones[b] < p.tones[b - 1]; b--) {
                float t = p.tones[b]; p.tones[b] = p.tones[b - 1]; p.tones[b - 1] = t;
            }
    }
    const json_t *line = json_object_get(j, "line"), *st = json_object_get(j, "screentone");
    if ((line && !json_is_object(line)) || (st && !json_is_object(st))) {
        snprintf(err, errlen, "style.line and style.screentone must be objects");
        return -1;
    }
    if (get_num(line, "weight_px", 0.5, 32, &p.line_weight_px, "style.line.", err, errlen) ||
        get_num(line, "darkness", 0, 1, &p.line_darkness, "style.line.", err, errlen) ||
        get_num(st, "density", 0, 1, &p.screentone_density, "style.screentone.", err, errlen) ||
        get_num(st, "frequency", 0, 0.5, &p.screentone_frequency, "style.screentone.", err, errlen) ||
        get_num(j, "saturation", 0, 1, &p.saturation, "style.", err, errlen) ||
        get_num(j, "contrast", 0, 1, &p.contrast, "style.", err, errlen))
        return -1;
    const json_t *present = st ? json_object_get(st, "present") : NULL;
    if (present && !json_is_boolean(present)) {
        snprintf(err, errlen, "style.screentone.present must be true or false");
        return -1;
    }
    p.screentone_present = present ? json_is_true(present) : 0;
    const json_t *ns = json_object_get(j, "samples");
    p.n_samples = json_is_integer(ns) && json_integer_value(ns) >= 0 && json_integer_value(ns) <= 1000
                      ? (int)json_integer_value(ns) : 0;
    *out = p;
    return 0;
}
