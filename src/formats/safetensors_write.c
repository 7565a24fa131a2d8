/* safetensors_write.c — building .safetensors files (LoRAs, fixtures written from C).
 *
 * Tensors are copied in as they are added and laid out back to back in add order; the JSON
 * header (metadata first) is padded with spaces so the data area starts 8-byte aligned, as the
 * reference writer does. Saving goes through "<path>.tmp" + rename so a crash never leaves a
 * half-written file under the real name.
 */
#include "formats/safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/fail.h"

typedef struct wt {
    char *name;
    oma_st_dtype dtype;
    int ndim;
    int64_t shape[OMA_ST_MAX_DIMS];
    uint8_t *bytes;
    size_t nbytes;
} wt;

struct oma_st_writer {
    wt *t;
    size_t n, cap;
    json_t *meta;
};

oma_st_writer *oma_st_writer_new(void) {
    oma_st_writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->meta = json_object();
    if (!w->meta) {
        free(w);
        return NULL;
    }
    return w;
}

void oma_st_writer_free(oma_st_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->t[i].name);
        free(w->t[i].bytes);
    }
    free(w->t);
    json_decref(w->meta);
    free(w);
}

/* Validates and reserves a slot; returns it with bytes allocated (nbytes), or NULL. */
static wt *reserve(oma_st_writer *w, const char *name, oma_st_dtype dtype, int ndim,
                   const int64_t *shape, char *err, size_t errlen) {
    if (!name || !*name || !strcmp(name, "__metadata__")) {
        oma_fail(err, errlen, "safetensors writer: bad tensor name");
        return NULL;
    }
    if (dtype != OMA_ST_F32 && dtype != OMA_ST_F16 && dtype != OMA_ST_BF16) {
        oma_fail(err, errlen, "tensor '%s': bad dtype", name);
        return NULL;
    }
    if (ndim < 0 || ndim > OMA_ST_MAX_DIMS) {
        oma_fail(err, errlen, "tensor '%s': %d dims", name, ndim);
        return NULL;
    }
    for (size_t i = 0; i < w->n; i++)
        if (!strcmp(w->t[i].name, name)) {
            oma_fail(err, errlen, "tensor '%s': added twice", name);
            return NULL;
        }
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (shape[i] && numel > (INT64_MAX / 8) / shape[i])) {
            oma_fail(err, errlen, "tensor '%s': bad shape", name);
            return NULL;
        }
        numel *= shape[i];
    }
    if (w->n == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 16;
        wt *nt = realloc(w->t, nc * sizeof *nt);
        if (!nt) {
            oma_fail(err, errlen, "out of memory");
            return NULL;
        }
        w->t = nt;
        w->cap = nc;
    }
    wt *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->nbytes = (size_t)numel * oma_st_dtype_size(dtype);
    t->name = strdup(name);
    t->bytes = malloc(t->nbytes ? t->nbytes : 1);
    if (!t->name || !t->bytes) {
        free(t->name);
        free(t->bytes);
        oma_fail(err, errlen, "out of memory");
        return NULL;
    }
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    return t;
}

int oma_st_writer_add(oma_st_writer *w, const char *name, oma_st_dtype dtype, int ndim,
                      const int64_t *shape, const void *data, char *err, size_t errlen) {
    wt *t = reserve(w, name, dtype, ndim, shape, err, errlen);
    if (!t) return -1;
    if (t->nbytes) memcpy(t->bytes, data, t->nbytes);
    w->n++;
    return 0;
}

int oma_st_writer_add_f32(oma_st_writer *w, const char *name, oma_st_dtype dtype, int ndim,
                          const int64_t *shape, const float *data, char *err, size_t errlen) {
    wt *t = reserve(w, name, dtype, ndim, shape, err, errlen);
    if (!t) return -1;
    size_t n = t->nbytes / oma_st_dtype_size(dtype);
    if (dtype == OMA_ST_F32) {
        if (n) memcpy(t->bytes, data, t->nbytes);
    } else {
        for (size_t i = 0; i < n; i++) {
            uint16_t h = dtype == OMA_ST_F16 ? oma_f32_to_f16(data[i]) : oma_f32_to_bf16(data[i]);
            memcpy(t->bytes + 2 * i, &h, 2);
        }
    }
    w->n++;
    return 0;
}

int oma_st_writer_set_metadata(oma_st_writer *w, const char *key, const char *value, char *err,
                               size_t errlen) {
    json_t *s = json_string(value);
    if (!s || json_object_set_new(w->meta, key, s))
        return oma_fail(err, errlen, "safetensors writer: bad metadata '%s'", key ? key : "");
    return 0;
}

int oma_st_writer_to_memory(const oma_st_writer *w, uint8_t **out, size_t *out_len, char *err,
                            size_t errlen) {
    *out = NULL;
    *out_len = 0;
    json_t *root = json_object();
    if (!root) return oma_fail(err, errlen, "out of memory");
    int bad = 0;
    if (json_object_size(w->meta)) bad |= json_object_set(root, "__metadata__", w->meta);
    uint64_t off = 0;
    for (size_t i = 0; i < w->n && !bad; i++) {
        const wt *t = &w->t[i];
        json_t *e = json_object(), *shape = json_array(), *offs = json_array();
        bad |= !e || !shape || !offs;
        for (int d = 0; !bad && d < t->ndim; d++)
            bad |= json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
        bad |= !bad && json_array_append_new(offs, json_integer((json_int_t)off));
        bad |= !bad && json_array_append_new(offs, json_integer((json_int_t)(off + t->nbytes)));
        bad |= !bad && json_object_set_new(e, "dtype", json_string(oma_st_dtype_name(t->dtype)));
        if (!bad) {
            bad |= json_object_set_new(e, "shape", shape);
            bad |= json_object_set_new(e, "data_offsets", offs);
            bad |= json_object_set_new(root, t->name, e);
        } else {
            json_decref(e);
            json_decref(shape);
            json_decref(offs);
        }
        off += t->nbytes;
    }
    char *hdr = bad ? NULL : json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!hdr) return oma_fail(err, errlen, "safetensors writer: header encoding failed");
    size_t hl = strlen(hdr);
    size_t padded = (hl + 7) / 8 * 8;
    size_t total = 8 + padded + (size_t)off;
    uint8_t *buf = malloc(total);
    if (!buf) {
        free(hdr);
        return oma_fail(err, errlen, "out of memory");
    }
    uint64_t h64 = padded;
    memcpy(buf, &h64, 8);
    memcpy(buf + 8, hdr, hl);
    memset(buf + 8 + hl, ' ', padded - hl);
    free(hdr);
    size_t p = 8 + padded;
    for (size_t i = 0; i < w->n; i++) {
        if (w->t[i].nbytes) memcpy(buf + p, w->t[i].bytes, w->t[i].nbytes);
        p += w->t[i].nbytes;
    }
    *out = buf;
    *out_len = total;
    return 0;
}

int oma_st_writer_save(const oma_st_writer *w, const char *path, char *err, size_t errlen) {
    uint8_t *buf;
    size_t len;
    if (oma_st_writer_to_memory(w, &buf, &len, err, errlen)) return -1;
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 5);
    if (!tmp) {
        free(buf);
        return oma_fail(err, errlen, "out of memory");
    }
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int e = errno;
        free(buf);
        free(tmp);
        return oma_fail(err, errlen, "%s: %s", path, strerror(e));
    }
    size_t wr = fwrite(buf, 1, len, f);
    int cl = fclose(f);
    free(buf);
    if (wr != len || cl != 0 || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        free(tmp);
        return oma_fail(err, errlen, "%s: write failed: %s", path, strerror(e));
    }
    free(tmp);
    return 0;
}
