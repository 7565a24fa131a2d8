/* safetensors.c — the .safetensors reader: map, bound, parse, validate, then index by name.
 *
 * Nothing is trusted. The header length is bounded (OMA_ST_MAX_HEADER and the file size)
 * before the JSON is parsed; every tensor entry is checked (dtype by name, shape dims >= 0 with
 * an overflow-safe element count, data_offsets inside the data area and equal to
 * numel * dtype size) and then all entries are sorted by offset to refuse overlaps. Only after
 * that is a handle returned, so callers never see a half-validated tensor.
 */
#include "formats/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/fail.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian; this reader assumes a little-endian host"
#endif

typedef struct meta_kv {
    char *key, *value;
} meta_kv;

struct oma_safetensors {
    char *path;
    const uint8_t *base;      /* whole file */
    size_t len;
    int mapped;               /* 1: munmap on close */
    oma_st_tensor *tensors;   /* header order */
    size_t n;
    oma_st_tensor **by_name;  /* sorted by name */
    meta_kv *meta;
    size_t n_meta;
};

const char *oma_st_dtype_name(oma_st_dtype d) {
    switch (d) {
    case OMA_ST_F32: return "F32";
    case OMA_ST_F16: return "F16";
    case OMA_ST_BF16: return "BF16";
    case OMA_ST_OTHER: break;
    }
    return "?";
}

size_t oma_st_dtype_size(oma_st_dtype d) {
    switch (d) {
    case OMA_ST_F32: return 4;
    case OMA_ST_F16:
    case OMA_ST_BF16: return 2;
    case OMA_ST_OTHER: break;
    }
    return 0;
}

/* The format's other dtypes: accepted in a file (sized), never converted. */
static const struct { const char *name; size_t size; } other_dtypes[] = {
    {"F64", 8}, {"I64", 8}, {"U64", 8}, {"I32", 4}, {"U32", 4}, {"I16", 2}, {"U16", 2},
    {"I8", 1}, {"U8", 1}, {"BOOL", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
};

int oma_st_dtype_parse(const char *s, oma_st_dtype *out) {
    if (!s) return -1;
    if (!strcmp(s, "F32")) *out = OMA_ST_F32;
    else if (!strcmp(s, "F16")) *out = OMA_ST_F16;
    else if (!strcmp(s, "BF16")) *out = OMA_ST_BF16;
    else return -1;
    return 0;
}

void oma_st_close(oma_safetensors *st) {
    if (!st) return;
    for (size_t i = 0; i < st->n; i++) free((char *)st->tensors[i].name);
    free(st->tensors);
    free(st->by_name);
    for (size_t i = 0; i < st->n_meta; i++) {
        free(st->meta[i].key);
        free(st->meta[i].value);
    }
    free(st->meta);
    if (st->mapped && st->base) munmap((void *)st->base, st->len);
    free(st->path);
    free(st);
}

static int cmp_by_name(const void *a, const void *b) {
    const oma_st_tensor *x = *(const oma_st_tensor *const *)a;
    const oma_st_tensor *y = *(const oma_st_tensor *const *)b;
    return strcmp(x->name, y->name);
}

static int cmp_by_offset(const void *a, const void *b) {
    const oma_st_tensor *x = *(const oma_st_tensor *const *)a;
    const oma_st_tensor *y = *(const oma_st_tensor *const *)b;
    if (x->data != y->data) return x->data < y->data ? -1 : 1;
    return x->nbytes < y->nbytes ? -1 : (x->nbytes > y->nbytes);
}

/* A JSON integer that is >= 0. */
static int json_nonneg(const json_t *v, int64_t *out) {
    if (!json_is_integer(v)) return -1;
    json_int_t x = json_integer_value(v);
    if (x < 0) return -1;
    *out = (int64_t)x;
    return 0;
}

static int parse_tensor(const char *name, const json_t *v, const uint8_t *data, uint64_t data_len,
                        oma_st_tensor *t, char *err, size_t errlen) {
    if (!json_is_object(v)) return oma_fail(err, errlen, "tensor '%s': entry is not an object", name);
    const json_t *jd = json_object_get(v, "dtype");
    const json_t *js = json_object_get(v, "shape");
    const json_t *jo = json_object_get(v, "data_offsets");
    if (!json_is_string(jd)) return oma_fail(err, errlen, "tensor '%s': missing dtype", name);
    const char *ds = json_string_value(jd);
    size_t esize = 0;
    if (oma_st_dtype_parse(ds, &t->dtype) == 0) {
        esize = oma_st_dtype_size(t->dtype);
    } else {
        for (size_t i = 0; i < sizeof other_dtypes / sizeof other_dtypes[0]; i++)
            if (!strcmp(ds, other_dtypes[i].name)) esize = other_dtypes[i].size;
        if (!esize)
            return oma_fail(err, errlen, "tensor '%s': unknown dtype '%.16s'", name, ds);
        t->dtype = OMA_ST_OTHER;
    }
    snprintf(t->dtype_str, sizeof t->dtype_str, "%s", ds);
    if (!json_is_array(js)) return oma_fail(err, errlen, "tensor '%s': missing shape", name);
    size_t nd = json_array_size(js);
    if (nd > OMA_ST_MAX_DIMS)
        return oma_fail(err, errlen, "tensor '%s': %zu dims (at most %d)", name, nd, OMA_ST_MAX_DIMS);
    t->ndim = (int)nd;
    int64_t numel = 1;
    const int64_t limit = INT64_MAX / 8;
    for (size_t i = 0; i < nd; i++) {
        int64_t d;
        if (json_nonneg(json_array_get(js, i), &d))
            return oma_fail(err, errlen, "tensor '%s': shape[%zu] is not a non-negative integer", name, i);
        t->shape[i] = d;
        if (d != 0 && numel > limit / d)
            return oma_fail(err, errlen, "tensor '%s': shape too large", name);
        numel *= d;
    }
    t->numel = numel;
    if (!json_is_array(jo) || json_array_size(jo) != 2)
        return oma_fail(err, errlen, "tensor '%s': data_offsets must be [begin, end]", name);
    int64_t b, e;
    if (json_nonneg(json_array_get(jo, 0), &b) || json_nonneg(json_array_get(jo, 1), &e))
        return oma_fail(err, errlen, "tensor '%s': data_offsets are not non-negative integers", name);
    if (b > e) return oma_fail(err, errlen, "tensor '%s': data_offsets begin %lld > end %lld", name,
                               (long long)b, (long long)e);
    if ((uint64_t)e > data_len)
        return oma_fail(err, errlen, "tensor '%s': data_offsets end %lld beyond the data (%llu bytes)",
                        name, (long long)e, (unsigned long long)data_len);
    uint64_t want = (uint64_t)numel * esize;
    if ((uint64_t)(e - b) != want)
        return oma_fail(err, errlen, "tensor '%s': %lld bytes in file but shape and dtype need %llu",
                        name, (long long)(e - b), (unsigned long long)want);
    t->nbytes = (size_t)want;
    t->data = data + b;
    return 0;
}

static int parse_metadata(oma_safetensors *st, const json_t *m, char *err, size_t errlen) {
    if (!json_is_object(m)) return oma_fail(err, errlen, "__metadata__ is not an object");
    size_t n = json_object_size(m);
    st->meta = calloc(n ? n : 1, sizeof *st->meta);
    if (!st->meta) return oma_fail(err, errlen, "out of memory");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)m, k, v) {
        if (!json_is_string(v)) return oma_fail(err, errlen, "__metadata__ '%s' is not a string", k);
        meta_kv *kv = &st->meta[st->n_meta];
        kv->key = strdup(k);
        kv->value = strdup(json_string_value(v));
        if (!kv->key || !kv->value) {
            free(kv->key);
            free(kv->value);
            return oma_fail(err, errlen, "out of memory");
        }
        st->n_meta++;
    }
    return 0;
}

static int parse_all(oma_safetensors *st, char *err, size_t errlen) {
    if (st->len < 8) return oma_fail(err, errlen, "safetensors: file too short (%zu bytes)", st->len);
    uint64_t hlen;
    memcpy(&hlen, st->base, 8);
    if (hlen > OMA_ST_MAX_HEADER)
        return oma_fail(err, errlen, "safetensors: header length %llu over the %llu limit",
                        (unsigned long long)hlen, (unsigned long long)OMA_ST_MAX_HEADER);
    if (hlen > st->len - 8)
        return oma_fail(err, errlen, "safetensors: truncated (header says %llu bytes, file has %zu)",
                        (unsigned long long)hlen, st->len - 8);
    if (hlen < 2) return oma_fail(err, errlen, "safetensors: header too short");
    const uint8_t *data = st->base + 8 + hlen;
    uint64_t data_len = st->len - 8 - hlen;

    json_error_t je;
    json_t *root = json_loadb((const char *)st->base + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!root) return oma_fail(err, errlen, "safetensors: header JSON: %s", je.text);
    int rc = -1;
    if (!json_is_object(root)) {
        oma_fail(err, errlen, "safetensors: header is not a JSON object");
        goto out;
    }
    size_t n = json_object_size(root);
    st->tensors = calloc(n ? n : 1, sizeof *st->tensors);
    st->by_name = calloc(n ? n : 1, sizeof *st->by_name);
    if (!st->tensors || !st->by_name) {
        oma_fail(err, errlen, "out of memory");
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        if (!strcmp(k, "__metadata__")) {
            if (parse_metadata(st, v, err, errlen)) goto out;
            continue;
        }
        oma_st_tensor *t = &st->tensors[st->n];
        if (parse_tensor(k, v, data, data_len, t, err, errlen)) goto out;
        t->name = strdup(k);
        if (!t->name) {
            oma_fail(err, errlen, "out of memory");
            goto out;
        }
        st->by_name[st->n] = t;
        st->n++;
    }
    /* overlaps: sort a copy of the pointers by offset */
    oma_st_tensor **ord = malloc((st->n ? st->n : 1) * sizeof *ord);
    if (!ord) {
        oma_fail(err, errlen, "out of memory");
        goto out;
    }
    memcpy(ord, st->by_name, st->n * sizeof *ord);
    qsort(ord, st->n, sizeof *ord, cmp_by_offset);
    for (size_t i = 1; i < st->n; i++) {
        const oma_st_tensor *a = ord[i - 1], *b = ord[i];
        if (a->nbytes && b->nbytes && b->data < a->data + a->nbytes) {
            oma_fail(err, errlen, "tensor '%s': data overlaps tensor '%s'", b->name, a->name);
            free(ord);
            goto out;
        }
    }
    free(ord);
    qsort(st->by_name, st->n, sizeof *st->by_name, cmp_by_name);
    rc = 0;
out:
    json_decref(root);
    return rc;
}

int oma_st_open_memory(const void *data, size_t len, oma_safetensors **out, char *err,
                       size_t errlen) {
    *out = NULL;
    oma_safetensors *st = calloc(1, sizeof *st);
    if (!st) return oma_fail(err, errlen, "out of memory");
    st->path = strdup("<memory>");
    st->base = data;
    st->len = len;
    if (!st->path || parse_all(st, err, errlen)) {
        if (!st->path) oma_fail(err, errlen, "out of memory");
        oma_st_close(st);
        return -1;
    }
    *out = st;
    return 0;
}

int oma_st_open(const char *path, oma_safetensors **out, char *err, size_t errlen) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return oma_fail(err, errlen, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
        close(fd);
        return oma_fail(err, errlen, "%s: not a regular file", path);
    }
    oma_safetensors *st = calloc(1, sizeof *st);
    if (!st) {
        close(fd);
        return oma_fail(err, errlen, "out of memory");
    }
    st->path = strdup(path);
    st->len = (size_t)sb.st_size;
    if (!st->path) {
        close(fd);
        oma_st_close(st);
        return oma_fail(err, errlen, "out of memory");
    }
    if (st->len > 0) {
        void *m = mmap(NULL, st->len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            int e = errno;
            close(fd);
            oma_st_close(st);
            return oma_fail(err, errlen, "%s: mmap: %s", path, strerror(e));
        }
        st->base = m;
        st->mapped = 1;
    }
    close(fd);
    char inner[384];
    if (parse_all(st, inner, sizeof inner)) {
        oma_fail(err, errlen, "%s: %s", path, inner);
        oma_st_close(st);
        return -1;
    }
    *out = st;
    return 0;
}

size_t oma_st_count(const oma_safetensors *st) { return st->n; }

const oma_st_tensor *oma_st_at(const oma_safetensors *st, size_t i) {
    return i < st->n ? &st->tensors[i] : NULL;
}

const oma_st_tensor *oma_st_find(const oma_safetensors *st, const char *name) {
    size_t lo = 0, hi = st->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(st->by_name[mid]->name, name);
        if (c == 0) return st->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const char *oma_st_metadata(const oma_safetensors *st, const char *key) {
    for (size_t i = 0; i < st->n_meta; i++)
        if (!strcmp(st->meta[i].key, key)) return st->meta[i].value;
    return NULL;
}

const char *oma_st_path(const oma_safetensors *st) { return st->path; }

static void fmt_shape(char *buf, size_t len, int ndim, const int64_t *shape) {
    size_t o = 0;
    o += (size_t)snprintf(buf + o, len - o, "[");
    for (int i = 0; i < ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

int oma_st_check_shape(const oma_st_tensor *t, int ndim, const int64_t *shape, char *err,
                       size_t errlen) {
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    if (ok) return 0;
    char a[128], b[128];
    fmt_shape(a, sizeof a, t->ndim, t->shape);
    fmt_shape(b, sizeof b, ndim, shape);
    return oma_fail(err, errlen, "tensor '%s': shape %s expected %s", t->name, a, b);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* 8 halves at a time with the F16C instruction (exact, like the scalar path). */
__attribute__((target("avx,f16c"))) static void f16_to_f32_f16c(const uint8_t *src, float *dst,
                                                               size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + 2 * i))));
    for (; i < n; i++) {
        uint16_t h;
        memcpy(&h, src + 2 * i, 2);
        dst[i] = oma_f16_to_f32(h);
    }
}
static int have_f16c(void) {
    static int cached = -1;
    if (cached < 0) cached = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");
    return cached;
}
#else
static int have_f16c(void) { return 0; }
static void f16_to_f32_f16c(const uint8_t *src, float *dst, size_t n) { (void)src, (void)dst, (void)n; }
#endif

int oma_st_read_f32(const oma_st_tensor *t, float *dst, size_t n, char *err, size_t errlen) {
    if (t->dtype == OMA_ST_OTHER)
        return oma_fail(err, errlen, "tensor '%s': dtype %s not supported (F32, F16, BF16 only)",
                        t->name, t->dtype_str);
    if ((int64_t)n != t->numel)
        return oma_fail(err, errlen, "tensor '%s': %lld elements, buffer holds %zu", t->name,
                        (long long)t->numel, n);
    if (t->dtype == OMA_ST_F32) {
        if (n) memcpy(dst, t->data, n * 4);
        return 0;
    }
    if (t->dtype == OMA_ST_F16 && have_f16c()) {
        f16_to_f32_f16c(t->data, dst, n);
        return 0;
    }
    /* chunks through an aligned buffer: the file's data may be unaligned */
    uint16_t buf[1024];
    for (size_t i = 0; i < n; i += 1024) {
        size_t m = n - i < 1024 ? n - i : 1024;
        memcpy(buf, t->data + 2 * i, m * 2);
        if (t->dtype == OMA_ST_BF16) {
            for (size_t k = 0; k < m; k++) {
                uint32_t bits = (uint32_t)buf[k] << 16;
                memcpy(dst + i + k, &bits, 4);
            }
        } else {
            for (size_t k = 0; k < m; k++) dst[i + k] = oma_f16_to_f32(buf[k]);
        }
    }
    return 0;
}
