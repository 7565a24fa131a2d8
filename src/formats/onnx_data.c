/* onnx_data.c — TensorProto for the ONNX reader: dims and data type, then the data from
 * raw_data, from the typed repeated fields (float_data, int32_data, int64_data, double_data;
 * packed or not), or from an external file next to the model.
 *
 * Sizes are checked before anything is allocated: numel from the dims is bounded, and the
 * bytes actually present (raw_data length, typed element count, external file size) must
 * match numel * element size, so a file cannot make us allocate more than it carries. External
 * locations are relative paths inside the model's folder: absolute paths, ".." components and
 * backslashes are refused, and the resolved path (symlinks followed) must still lie inside it.
 */

#include "formats/onnx_wire.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

size_t oma_onnx_dtype_size(int dtype)
{
    switch (dtype) {
    case OMA_ONNX_FLOAT: case OMA_ONNX_INT32: return 4;
    case OMA_ONNX_UINT8: case OMA_ONNX_INT8: case OMA_ONNX_BOOL: return 1;
    case OMA_ONNX_INT64: case OMA_ONNX_DOUBLE: return 8;
    case OMA_ONNX_FLOAT16: return 2;
    default: return 0;
    }
}

const char *oma_onnx_dtype_name(int dtype)
{
    switch (dtype) {
    case OMA_ONNX_FLOAT: return "float";
    case OMA_ONNX_UINT8: return "uint8";
    case OMA_ONNX_INT8: return "int8";
    case OMA_ONNX_INT32: return "int32";
    case OMA_ONNX_INT64: return "int64";
    case OMA_ONNX_BOOL: return "bool";
    case OMA_ONNX_FLOAT16: return "float16";
    case OMA_ONNX_DOUBLE: return "double";
    default: return "unsupported";
    }
}

void onnx_tensor_free(oma_onnx_tensor *t)
{
    if (!t) return;
    free(t->name);
    free(t->data);
    memset(t, 0, sizeof *t);
}

/* Elements in a packed or single typed field. */
static int64_t typed_count(const pb_field *f, int fixed)
{
    if (f->wire == 0 || f->wire == 5 || f->wire == 1) return 1;
    if (fixed) return (int64_t)(f->len / (size_t)fixed);
    int64_t n = 0;
    for (size_t i = 0; i < f->len; i++) n += !(f->data[i] & 0x80);
    return n;
}

static void put_int(oma_onnx_tensor *t, int64_t k, int64_t v)
{
    uint8_t *d = t->data;
    switch (t->dtype) {
    case OMA_ONNX_UINT8: case OMA_ONNX_INT8: case OMA_ONNX_BOOL: d[k] = (uint8_t)v; break;
    case OMA_ONNX_FLOAT16: { uint16_t h = (uint16_t)v; memcpy(d + 2 * k, &h, 2); break; }
    case OMA_ONNX_INT32: { int32_t x = (int32_t)v; memcpy(d + 4 * k, &x, 4); break; }
    default: memcpy(d + 8 * k, &v, 8); break;
    }
}

/* Reads `want` bytes of external data described by the entries of external_data. */
static int read_external(onnx_ctx *c, oma_onnx_tensor *t, const char *loc, uint64_t off,
                         int has_len, uint64_t len)
{
    if (!c->dir) return onnx_err(c, "tensor '%s': external data, but the model was not loaded from a file", t->name);
    if (!loc || !loc[0]) return onnx_err(c, "tensor '%s': external data without a location", t->name);
    if (loc[0] == '/' || strchr(loc, '\\'))
        return onnx_err(c, "tensor '%s': external data location '%s' must be a relative path inside the model's folder", t->name, loc);
    for (const char *s = loc; *s;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 2 && s[0] == '.' && s[1] == '.')
            return onnx_err(c, "tensor '%s': external data location '%s' leaves the model's folder ('..' refused)", t->name, loc);
        s += n + (e != NULL);
    }
    if (has_len && len != t->nbytes)
        return onnx_err(c, "tensor '%s': external data length %llu, expected %zu bytes", t->name, (unsigned long long)len, t->nbytes);
    char full[PATH_MAX], rdir[PATH_MAX], rfull[PATH_MAX];
    if ((size_t)snprintf(full, sizeof full, "%s/%s", c->dir, loc) >= sizeof full)
        return onnx_err(c, "tensor '%s': external data path too long", t->name);
    if (!realpath(c->dir, rdir)) return onnx_err(c, "model folder '%s': %s", c->dir, strerror(errno));
    if (!realpath(full, rfull))
        return onnx_err(c, "tensor '%s': external data file '%s': %s", t->name, loc, strerror(errno));
    size_t dl = strlen(rdir);
    if (strncmp(rfull, rdir, dl) != 0 || (rfull[dl] != '/' && strcmp(rdir, "/") != 0))
        return onnx_err(c, "tensor '%s': external data file '%s' resolves outside the model's folder", t->name, loc);
    int fd = open(rfull, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return onnx_err(c, "tensor '%s': external data file '%s': %s", t->name, loc, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return onnx_err(c, "tensor '%s': external data file '%s' is not a regular file", t->name, loc);
    }
    if (off > (uint64_t)st.st_size || t->nbytes > (uint64_t)st.st_size - off) {
        close(fd);
        return onnx_err(c, "tensor '%s': external data [%llu, +%zu) runs past the end of '%s' (%lld bytes)",
                        t->name, (unsigned long long)off, t->nbytes, loc, (long long)st.st_size);
    }
    t->data = malloc(t->nbytes ? t->nbytes : 1);
    if (!t->data) { close(fd); return onnx_err(c, "tensor '%s': out of memory", t->name); }
    size_t got = 0;
    while (got < t->nbytes) {
        ssize_t r = pread(fd, (uint8_t *)t->data + got, t->nbytes - got, (off_t)(off + got));
        if (r <= 0) {
            close(fd);
            return onnx_err(c, "tensor '%s': reading external data from '%s' failed", t->name, loc);
        }
        got += (size_t)r;
    }
    close(fd);
    return 0;
}

/* StringStringEntryProto {key = 1, value = 2}. */
static int parse_entry(onnx_ctx *c, const pb_field *f, char **key, char **val)
{
    *key = *val = NULL;
    if (f->wire != 2) return onnx_err(c, "external_data entry: wrong wire type");
    pb_reader r = {f->data, f->data + f->len};
    pb_field g;
    const char *why = NULL;
    int k;
    while ((k = pb_next(&r, &g, &why)) == 1) {
        char **dst = g.num == 1 ? key : g.num == 2 ? val : NULL;
        if (!dst) continue;
        free(*dst);
        if (!(*dst = onnx_strdup(c, &g, "external_data entry"))) return -1;
    }
    if (k < 0) return onnx_err(c, "external_data entry: %s", why);
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s) return -1;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10) return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *out = v;
    return 0;
}

static int parse_tensor_inner(onnx_ctx *c, const uint8_t *p, size_t len, oma_onnx_tensor *t)
{
    pb_reader r = {p, p + len};
    pb_field f;
    const char *why = NULL;
    int k, have_type = 0, external = 0;
    const pb_field *raw = NULL;
    pb_field rawf;
    int64_t typed[12] = {0};        /* elements seen per typed field number */
    char *loc = NULL;
    uint64_t off = 0, elen = 0;
    int has_len = 0;
    t->ndim = 0;
    /* pass 1: metadata */
    while ((k = pb_next(&r, &f, &why)) == 1) {
        switch (f.num) {
        case 1: {
            pb_reader d = f.wire == 2 ? (pb_reader){f.data, f.data + f.len} : (pb_reader){0, 0};
            uint64_t v = f.v;
            for (int first = 1;; first = 0) {
                if (f.wire == 2) {
                    if (d.p >= d.end) break;
                    if (pb_varint(&d, &v) != 0) { free(loc); return onnx_err(c, "tensor '%s': malformed dims", t->name ? t->name : ""); }
                } else if (f.wire != 0 || !first) {
                    if (f.wire != 0) { free(loc); return onnx_err(c, "tensor dims: wrong wire type"); }
                    break;
                }
                if (t->ndim >= OMA_ONNX_MAX_DIMS) { free(loc); return onnx_err(c, "tensor '%s': more than %d dims", t->name ? t->name : "", OMA_ONNX_MAX_DIMS); }
                if ((int64_t)v < 0 || (int64_t)v > OMA_ONNX_MAX_DIM) {
                    free(loc);
                    return onnx_err(c, "tensor '%s': dim %lld out of range [0, %lld]", t->name ? t->name : "", (long long)(int64_t)v, (long long)OMA_ONNX_MAX_DIM);
                }
                t->dims[t->ndim++] = (int64_t)v;
            }
            break;
        }
        case 2: t->dtype = (int)(f.wire == 0 ? (int64_t)f.v : -1); have_type = 1; break;
        case 3: free(loc); return onnx_err(c, "tensor '%s': segmented tensors are not supported", t->name ? t->name : "");
        case 6: free(loc); return onnx_err(c, "tensor '%s': string tensors are not supported", t->name ? t->name : "");
        case 8:
            free(t->name);
            if (!(t->name = onnx_strdup(c, &f, "tensor name"))) { free(loc); return -1; }
            break;
        case 9:
            if (f.wire != 2) { free(loc); return onnx_err(c, "tensor raw_data: wrong wire type"); }
            rawf = f; raw = &rawf; break;
        case 4: case 5: case 7: case 10: case 11: {
            int fixed = f.num == 4 ? 4 : f.num == 10 ? 8 : 0;
            int okw = f.wire == 2 || (fixed == 4 && f.wire == 5) || (fixed == 8 && f.wire == 1) || (!fixed && f.wire == 0);
            if (!okw) { free(loc); return onnx_err(c, "tensor '%s': data field %u has the wrong wire type", t->name ? t->name : "", f.num); }
            if (f.wire == 2 && fixed && f.len % (size_t)fixed) { free(loc); return onnx_err(c, "tensor '%s': packed data length not a multiple of %d", t->name ? t->name : "", fixed); }
            typed[f.num] += typed_count(&f, fixed);
            break;
        }
        case 13: {
            char *key, *val;
            if (parse_entry(c, &f, &key, &val) != 0) { free(loc); return -1; }
            int bad = 0;
            if (key && !strcmp(key, "location")) { free(loc); loc = val; val = NULL; }
            else if (key && !strcmp(key, "offset")) bad = parse_u64(val, &off);
            else if (key && !strcmp(key, "length")) { bad = parse_u64(val, &elen); has_len = 1; }
            free(key); free(val);
            if (bad) { free(loc); return onnx_err(c, "tensor '%s': external data offset/length is not a number", t->name ? t->name : ""); }
            break;
        }
        case 14: external = f.v == 1; break;
        default: break;
        }
    }
    if (k < 0) { free(loc); return onnx_err(c, "tensor '%s': %s", t->name ? t->name : "", why); }
    if (!t->name) { t->name = strdup(""); if (!t->name) { free(loc); return onnx_err(c, "out of memory"); } }
    if (!have_type) { free(loc); return onnx_err(c, "tensor '%s': no data_type", t->name); }
    size_t es = oma_onnx_dtype_size(t->dtype);
    if (!es) { free(loc); return onnx_err(c, "tensor '%s': data type %d is not supported", t->name, t->dtype); }
    t->numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        if (t->dims[i] && t->numel > OMA_ONNX_MAX_NUMEL / t->dims[i]) {
            free(loc);
            return onnx_err(c, "tensor '%s': more than %lld elements", t->name, (long long)OMA_ONNX_MAX_NUMEL);
        }
        t->numel *= t->dims[i];
    }
    t->nbytes = (size_t)t->numel * es;
    if (external) {
        int rc = read_external(c, t, loc, off, has_len, elen);
        free(loc);
        return rc;
    }
    free(loc);
    if (raw) {
        if (raw->len != t->nbytes)
            return onnx_err(c, "tensor '%s': raw_data has %zu bytes, its shape and type need %zu", t->name, raw->len, t->nbytes);
        t->data = malloc(t->nbytes ? t->nbytes : 1);
        if (!t->data) return onnx_err(c, "tensor '%s': out of memory", t->name);
        if (t->nbytes) memcpy(t->data, raw->data, t->nbytes);
        return 0;
    }
    /* typed fields: the one matching the dtype, and no other */
    int want;
    switch (t->dtype) {
    case OMA_ONNX_FLOAT: want = 4; break;
    case OMA_ONNX_INT64: want = 7; break;
    case OMA_ONNX_DOUBLE: want = 10; break;
    default: want = 5; break;
    }
    for (int i = 4; i <= 11; i++)
        if (i != want && typed[i])
            return onnx_err(c, "tensor '%s': data in field %d does not match data type %s", t->name, i, oma_onnx_dtype_name(t->dtype));
    if (typed[want] != t->numel)
        return onnx_err(c, "tensor '%s': %lld values for a shape of %lld elements", t->name, (long long)typed[want], (long long)t->numel);
    t->data = malloc(t->nbytes ? t->nbytes : 1);
    if (!t->data) return onnx_err(c, "tensor '%s': out of memory", t->name);
    /* pass 2: values */
    r = (pb_reader){p, p + len};
    int64_t n = 0;
    while (pb_next(&r, &f, &why) == 1) {
        if ((int)f.num != want) continue;
        if (want == 4 || want == 10) {
            size_t w = want == 4 ? 4 : 8;
            if (f.wire == 2) { memcpy((uint8_t *)t->data + (size_t)n * w, f.data, f.len); n += (int64_t)(f.len / w); }
            else { memcpy((uint8_t *)t->data + (size_t)n * w, &f.v, w); n++; }  /* little-endian host */
            continue;
        }
        if (f.wire != 2) { put_int(t, n++, (int64_t)f.v); continue; }
        pb_reader d = {f.data, f.data + f.len};
        uint64_t v;
        while (d.p < d.end) {
            if (pb_varint(&d, &v) != 0) return onnx_err(c, "tensor '%s': malformed packed values", t->name);
            put_int(t, n++, (int64_t)v);
        }
    }
    return 0;
}

int onnx_parse_tensor(onnx_ctx *c, const uint8_t *p, size_t len, oma_onnx_tensor *t)
{
    memset(t, 0, sizeof *t);
    if (parse_tensor_inner(c, p, len, t) != 0) { onnx_tensor_free(t); return -1; }
    return 0;
}
