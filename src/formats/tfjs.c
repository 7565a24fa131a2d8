/* tfjs.c — TensorFlow.js graph-model loader (see tfjs.h). The weights manifest lists groups,
 * each with shard files (concatenated in order) and weights laid out back to back inside them;
 * a weight's stored size is its element count times the stored dtype's width (float32/int32:
 * 4, float16: 2, uint16: 2, uint8: 1). Quantised values decode as q * scale + min. */
#include "formats/tfjs.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/fail.h"

#define MAX_JSON_BYTES (64u << 20)
#define MAX_WEIGHT_BYTES ((size_t)1 << 30)
#define MAX_NODES 20000   /* the packaged models have at most ~2100 nodes */

float oma_tfjs_half_to_float(uint16_t h)
{
    int sign = h >> 15, exp = (h >> 10) & 31, man = h & 1023;
    float v;
    if (exp == 0) v = ldexpf((float)man, -24);
    else if (exp == 31) v = man ? NAN : INFINITY;
    else v = ldexpf((float)(man | 1024), exp - 25);
    return sign ? -v : v;
}

/* Reads a whole file (at most max bytes). */
static int read_file(const char *path, size_t max, uint8_t **out, size_t *len, char *err,
                     size_t errlen)
{
    *out = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return oma_fail(err, errlen, "tfjs: %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) goto oom;
    for (;;) {
        if (n == cap) {
            if (cap >= max + 1) break;
            size_t nc = cap * 2 > max + 1 ? max + 1 : cap * 2;
            uint8_t *nb = realloc(buf, nc);
            if (!nb) goto oom;
            buf = nb;
            cap = nc;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    if (ferror(f)) {
        oma_fail(err, errlen, "tfjs: %s: read error", path);
        goto fail;
    }
    if (n > max) {
        oma_fail(err, errlen, "tfjs: %s: larger than %zu bytes", path, max);
        goto fail;
    }
    fclose(f);
    *out = buf;
    *len = n;
    return 0;
oom:
    oma_fail(err, errlen, "tfjs: %s: out of memory", path);
fail:
    free(buf);
    fclose(f);
    return -1;
}

static int parse_nodes(oma_tfjs_model *m, char *err, size_t errlen)
{
    json_t *topo = json_object_get(m->root, "modelTopology");
    json_t *nodes = topo ? json_object_get(topo, "node") : NULL;
    if (!json_is_array(nodes) || json_array_size(nodes) == 0 || json_array_size(nodes) > MAX_NODES)
        return oma_fail(err, errlen, "tfjs: modelTopology.node missing or too large");
    size_t nn = json_array_size(nodes);
    m->nodes = calloc(nn, sizeof *m->nodes);
    if (!m->nodes)
        return oma_fail(err, errlen, "tfjs: out of memory");
    for (size_t i = 0; i < nn; i++) {
        json_t *n = json_array_get(nodes, i);
        oma_tfjs_node *d = &m->nodes[i];
        m->n_nodes = (int)i + 1;
        const char *name = json_string_value(json_object_get(n, "name"));
        const char *op = json_string_value(json_object_get(n, "op"));
        if (!name || !op || !*name)
            return oma_fail(err, errlen, "tfjs: node %zu has no name or op", i);
        d->name = name;
        d->op = op;
        json_t *attr = json_object_get(n, "attr");
        d->attr = json_is_object(attr) ? attr : NULL;
        json_t *ins = json_object_get(n, "input");
        if (ins && !json_is_array(ins))
            return oma_fail(err, errlen, "tfjs: node %s: input is not a list", name);
        size_t ni = json_array_size(ins);
        if (ni > 1024)
            return oma_fail(err, errlen, "tfjs: node %s: too many inputs", name);
        if (ni) {
            d->inputs = calloc(ni, sizeof *d->inputs);
            if (!d->inputs)
                return oma_fail(err, errlen, "tfjs: out of memory");
        }
        for (size_t k = 0; k < ni; k++) {
            const char *s = json_string_value(json_array_get(ins, k));
            if (!s || !*s)
                return oma_fail(err, errlen, "tfjs: node %s: input %zu is not a name", name, k);
            if (s[0] == '^') continue;   /* control dependency: order only */
            d->inputs[d->n_inputs++] = s;
        }
    }
    return 0;
}

static int stored_width(const char *dt)
{
    if (!strcmp(dt, "float32") || !strcmp(dt, "int32")) return 4;
    if (!strcmp(dt, "float16") || !strcmp(dt, "uint16")) return 2;
    if (!strcmp(dt, "uint8")) return 1;
    return 0;
}

/* Decodes one weight from p (already bounds-checked for n * width bytes). */
static int decode_weight(oma_tfjs_weight *w, const uint8_t *p, const char *qdt, double scale,
                         double mn, char *err, size_t errlen)
{
    if (w->dtype == OMA_TFJS_F32) w->f = malloc((w->n ? w->n : 1) * sizeof(float));
    else w->i = malloc((w->n ? w->n : 1) * sizeof(int32_t));
    if (!w->f && !w->i)
        return oma_fail(err, errlen, "tfjs: out of memory for %s", w->name);
    for (size_t k = 0; k < w->n; k++) {
        double v;
        if (!qdt) {
            uint32_t u = (uint32_t)p[4 * k] | (uint32_t)p[4 * k + 1] << 8 |
                         (uint32_t)p[4 * k + 2] << 16 | (uint32_t)p[4 * k + 3] << 24;
            if (w->dtype == OMA_TFJS_F32) {
                float f;
                memcpy(&f, &u, 4);
                w->f[k] = f;
            } else {
                int32_t s;
                memcpy(&s, &u, 4);
                w->i[k] = s;
            }
            continue;
        }
        if (!strcmp(qdt, "float16")) v = oma_tfjs_half_to_float((uint16_t)(p[2 * k] | p[2 * k + 1] << 8));
        else if (!strcmp(qdt, "uint16")) v = (double)(p[2 * k] | p[2 * k + 1] << 8) * scale + mn;
        else v = (double)p[k] * scale + mn;
        if (w->dtype == OMA_TFJS_F32) {
            w->f[k] = (float)v;
        } else {
            double r = round(v);
            if (!(r >= INT32_MIN && r <= INT32_MAX))
                return oma_fail(err, errlen, "tfjs: %s: quantised int out of range", w->name);
            w->i[k] = (int32_t)r;
        }
    }
    if (w->dtype == OMA_TFJS_F32)
        for (size_t k = 0; k < w->n; k++)
            if (!isfinite(w->f[k]))
                return oma_fail(err, errlen, "tfjs: %s: value %zu is not finite", w->name, k);
    return 0;
}

static int parse_weights(oma_tfjs_model *m, const char *dir, char *err, size_t errlen)
{
    json_t *man = json_object_get(m->root, "weightsManifest");
    if (!json_is_array(man))
        return oma_fail(err, errlen, "tfjs: weightsManifest missing");
    size_t total = 0;
    for (size_t g = 0; g < json_array_size(man); g++) {
        json_t *ws = json_object_get(json_array_get(man, g), "weights");
        if (!json_is_array(ws))
            return oma_fail(err, errlen, "tfjs: weightsManifest[%zu].weights missing", g);
        total += json_array_size(ws);
        if (total > MAX_NODES)
            return oma_fail(err, errlen, "tfjs: too many weights");
    }
    m->weights = calloc(total ? total : 1, sizeof *m->weights);
    if (!m->weights)
        return oma_fail(err, errlen, "tfjs: out of memory");
    size_t all_bytes = 0;
    for (size_t g = 0; g < json_array_size(man); g++) {
        json_t *grp = json_array_get(man, g);
        json_t *paths = json_object_get(grp, "paths"), *ws = json_object_get(grp, "weights");
        if (!json_is_array(paths))
            return oma_fail(err, errlen, "tfjs: weightsManifest[%zu].paths missing", g);
        /* Concatenate this group's shards. */
        uint8_t *buf = NULL;
        size_t len = 0;
        for (size_t k = 0; k < json_array_size(paths); k++) {
            const char *p = json_string_value(json_array_get(paths, k));
            if (!p || !*p || strstr(p, "..") || p[0] == '/' || strlen(p) > 255) {
                free(buf);
                return oma_fail(err, errlen, "tfjs: bad shard path in manifest");
            }
            char full[4400];
            int fl = snprintf(full, sizeof full, "%s/%s", dir, p);
            if (fl < 0 || (size_t)fl >= sizeof full) {
                free(buf);
                return oma_fail(err, errlen, "tfjs: shard path too long");
            }
            uint8_t *part;
            size_t plen;
            if (read_file(full, MAX_WEIGHT_BYTES - all_bytes, &part, &plen, err, errlen)) {
                free(buf);
                return -1;
            }
            uint8_t *nb = realloc(buf, len + plen + 1);
            if (!nb) {
                free(part);
                free(buf);
                return oma_fail(err, errlen, "tfjs: out of memory");
            }
            buf = nb;
            memcpy(buf + len, part, plen);
            len += plen;
            all_bytes += plen;
            free(part);
        }
        size_t off = 0;
        for (size_t k = 0; k < json_array_size(ws); k++) {
            json_t *wj = json_array_get(ws, k);
            oma_tfjs_weight *w = &m->weights[m->n_weights];
            const char *name = json_string_value(json_object_get(wj, "name"));
            const char *dt = json_string_value(json_object_get(wj, "dtype"));
            json_t *shape = json_object_get(wj, "shape");
            if (!name || !dt || !json_is_array(shape)) {
                oma_fail(err, errlen, "tfjs: weight %zu of group %zu lacks name/dtype/shape", k, g);
                goto gfail;
            }
            m->n_weights++;
            w->name = name;
            if (!strcmp(dt, "float32")) w->dtype = OMA_TFJS_F32;
            else if (!strcmp(dt, "int32")) w->dtype = OMA_TFJS_I32;
            else {
                oma_fail(err, errlen, "tfjs: %s: unsupported dtype %s", name, dt);
                goto gfail;
            }
            if (json_array_size(shape) > OMA_TFJS_MAX_RANK) {
                oma_fail(err, errlen, "tfjs: %s: rank too large", name);
                goto gfail;
            }
            w->rank = (int)json_array_size(shape);
            size_t n = 1;
            for (int d = 0; d < w->rank; d++) {
                json_t *v = json_array_get(shape, (size_t)d);
                json_int_t s = json_is_integer(v) ? json_integer_value(v) : -1;
                if (s < 0 || s > (1 << 24) || (s && n > (MAX_WEIGHT_BYTES / 4) / (size_t)s)) {
                    oma_fail(err, errlen, "tfjs: %s: bad shape", name);
                    goto gfail;
                }
                w->shape[d] = s;
                n *= (size_t)s;
            }
            w->n = n;
            json_t *q = json_object_get(wj, "quantization");
            const char *qdt = NULL;
            double scale = 1, mn = 0;
            if (q) {
                qdt = json_string_value(json_object_get(q, "dtype"));
                if (!qdt || !stored_width(qdt) || !strcmp(qdt, "float32") || !strcmp(qdt, "int32")) {
                    oma_fail(err, errlen, "tfjs: %s: unsupported quantisation", name);
                    goto gfail;
                }
                if (strcmp(qdt, "float16") != 0) {
                    json_t *sj = json_object_get(q, "scale"), *mj = json_object_get(q, "min");
                    if (!json_is_number(sj) || !json_is_number(mj)) {
                        oma_fail(err, errlen, "tfjs: %s: quantisation lacks scale/min", name);
                        goto gfail;
                    }
                    scale = json_number_value(sj);
                    mn = json_number_value(mj);
                    if (!isfinite(scale) || !isfinite(mn)) {
                        oma_fail(err, errlen, "tfjs: %s: bad scale/min", name);
                        goto gfail;
                    }
                } else if (w->dtype != OMA_TFJS_F32) {
                    oma_fail(err, errlen, "tfjs: %s: float16 quantised int", name);
                    goto gfail;
                }
            }
            size_t bytes = n * (size_t)stored_width(qdt ? qdt : dt);
            if (bytes > len - off) {
                oma_fail(err, errlen, "tfjs: weights truncated at %s (shards hold %zu bytes)", name, len);
                goto gfail;
            }
            if (decode_weight(w, buf + off, qdt, scale, mn, err, errlen)) goto gfail;
            off += bytes;
        }
        if (off != len) {
            oma_fail(err, errlen, "tfjs: shards of group %zu hold %zu bytes, manifest needs %zu", g, len, off);
            goto gfail;
        }
        free(buf);
        continue;
    gfail:
        free(buf);
        return -1;
    }
    return 0;
}

int oma_tfjs_load(const char *path, oma_tfjs_model *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    uint8_t *txt;
    size_t len;
    if (read_file(path, MAX_JSON_BYTES, &txt, &len, err, errlen)) return -1;
    json_error_t je;
    m->root = json_loadb((const char *)txt, len, 0, &je);
    free(txt);
    if (!m->root || !json_is_object(m->root)) {
        oma_fail(err, errlen, "tfjs: %s: invalid JSON: %s", path, m->root ? "not an object" : je.text);
        oma_tfjs_free(m);
        return -1;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    if (parse_nodes(m, err, errlen) || parse_weights(m, dir, err, errlen)) {
        oma_tfjs_free(m);
        return -1;
    }
    return 0;
}

void oma_tfjs_free(oma_tfjs_model *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_nodes; i++) free(m->nodes[i].inputs);
    free(m->nodes);
    for (int i = 0; i < m->n_weights; i++) {
        free(m->weights[i].f);
        free(m->weights[i].i);
    }
    free(m->weights);
    json_decref(m->root);
    memset(m, 0, sizeof *m);
}

const oma_tfjs_node *oma_tfjs_node_find(const oma_tfjs_model *m, const char *name)
{
    for (int i = 0; i < m->n_nodes; i++)
        if (!strcmp(m->nodes[i].name, name)) return &m->nodes[i];
    return NULL;
}

const oma_tfjs_weight *oma_tfjs_weight_find(const oma_tfjs_model *m, const char *name)
{
    for (int i = 0; i < m->n_weights; i++)
        if (!strcmp(m->weights[i].name, name)) return &m->weights[i];
    return NULL;
}

static const json_t *attr(const oma_tfjs_node *n, const char *key)
{
    return n->attr ? json_object_get(n->attr, key) : NULL;
}

/* Numbers in TF's JSON are sometimes strings ("i": "2"). */
static int json_to_i64(const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    const char *s = json_string_value(v);
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (*end || errno) return -1;
    *out = x;
    return 0;
}

int oma_tfjs_attr_int(const oma_tfjs_node *n, const char *key, int64_t *out)
{
    const json_t *a = attr(n, key);
    return a ? json_to_i64(json_object_get(a, "i"), out) : -1;
}

int oma_tfjs_attr_float(const oma_tfjs_node *n, const char *key, double *out)
{
    const json_t *a = attr(n, key), *v = a ? json_object_get(a, "f") : NULL;
    if (!json_is_number(v)) return -1;
    *out = json_number_value(v);
    return 0;
}

int oma_tfjs_attr_bool(const oma_tfjs_node *n, const char *key, int *out)
{
    const json_t *a = attr(n, key), *v = a ? json_object_get(a, "b") : NULL;
    if (!json_is_boolean(v)) return -1;
    *out = json_is_true(v);
    return 0;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

static int b64decode(const char *s, char *buf, size_t buflen)
{
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (; *s && *s != '='; s++) {
        int v = b64val((unsigned char)*s);
        if (v < 0) return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= buflen) return -1;
            buf[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    if (!buflen) return -1;
    buf[o] = 0;
    return 0;
}

int oma_tfjs_attr_str(const oma_tfjs_node *n, const char *key, char *buf, size_t buflen)
{
    const json_t *a = attr(n, key);
    const char *s = a ? json_string_value(json_object_get(a, "s")) : NULL;
    return s ? b64decode(s, buf, buflen) : -1;
}

int oma_tfjs_attr_ints(const oma_tfjs_node *n, const char *key, int64_t *out, int max, int *count)
{
    const json_t *a = attr(n, key), *l = a ? json_object_get(a, "list") : NULL;
    *count = 0;
    if (!json_is_object(l)) return -1;
    const json_t *is = json_object_get(l, "i");
    if (!is) return 0;   /* an empty list */
    if (!json_is_array(is) || json_array_size(is) > (size_t)max) return -1;
    for (size_t k = 0; k < json_array_size(is); k++)
        if (json_to_i64(json_array_get(is, k), &out[k])) return -1;
    *count = (int)json_array_size(is);
    return 0;
}

int oma_tfjs_attr_strs_at(const oma_tfjs_node *n, const char *key, int k, char *buf, size_t buflen)
{
    const json_t *a = attr(n, key), *l = a ? json_object_get(a, "list") : NULL;
    const json_t *ss = l ? json_object_get(l, "s") : NULL;
    const char *s = json_string_value(json_array_get(ss, (size_t)k));
    return s ? b64decode(s, buf, buflen) : -1;
}
