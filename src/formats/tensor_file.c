/* tensor_file.c — one flat list of named float tensors from a .safetensors file or a torch zip.
 *
 * The idea: read the whole (small) file once, convert every float tensor to float32 and check
 * it is finite, so the LoRA/embedding code never touches a mapping or a pickle.
 */
#include "formats/tensor_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/fail.h"
#include "formats/safetensors.h"
#include "formats/torch_pickle.h"

struct oma_tensor_file {
    char *path;
    oma_tf_tensor *t;
    size_t n, cap;
    oma_safetensors *st;    /* kept open for its metadata */
};

int oma_tensor_file_add(oma_tensor_file *f, const char *name, int ndim, const int64_t *shape,
                        float *data, char *err, size_t errlen)
{
    if (ndim < 0 || ndim > OMA_TF_MAX_DIMS) {
        free(data);
        return oma_fail(err, errlen, "tensor '%s': %d dimensions", name, ndim);
    }
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= shape[i];
    for (int64_t i = 0; i < numel; i++)
        if (!isfinite(data[i])) {
            free(data);
            return oma_fail(err, errlen, "tensor '%s': value %lld is NaN or infinite", name, (long long)i);
        }
    if (f->n >= OMA_TF_MAX_TENSORS) {
        free(data);
        return oma_fail(err, errlen, "more than %d tensors", OMA_TF_MAX_TENSORS);
    }
    if (f->n == f->cap) {
        size_t nc = f->cap ? f->cap * 2 : 64;
        oma_tf_tensor *nt = realloc(f->t, nc * sizeof *nt);
        if (!nt) {
            free(data);
            return oma_fail(err, errlen, "out of memory");
        }
        f->t = nt;
        f->cap = nc;
    }
    oma_tf_tensor *t = &f->t[f->n];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name) {
        free(data);
        return oma_fail(err, errlen, "out of memory");
    }
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->numel = numel;
    t->data = data;
    f->n++;
    return 0;
}

static int load_safetensors(oma_tensor_file *f, char *err, size_t errlen)
{
    char e[384];
    if (oma_st_open(f->path, &f->st, e, sizeof e) != 0) return oma_fail(err, errlen, "%s", e);
    for (size_t i = 0; i < oma_st_count(f->st); i++) {
        const oma_st_tensor *s = oma_st_at(f->st, i);
        if (s->dtype == OMA_ST_OTHER) continue;
        float *d = malloc((size_t)(s->numel ? s->numel : 1) * sizeof(float));
        if (!d) return oma_fail(err, errlen, "out of memory");
        if (oma_st_read_f32(s, d, (size_t)s->numel, e, sizeof e) != 0) {
            free(d);
            return oma_fail(err, errlen, "%s", e);
        }
        if (oma_tensor_file_add(f, s->name, s->ndim, s->shape, d, err, errlen) != 0) return -1;
    }
    return 0;
}

int oma_tensor_file_load(const char *path, size_t max_bytes, oma_tensor_file **out, char *err,
                         size_t errlen)
{
    *out = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
        return oma_fail(err, errlen, "%s: not a readable file", path);
    if ((uint64_t)sb.st_size > max_bytes)
        return oma_fail(err, errlen, "%s: %lld bytes, more than the %zu allowed", path,
                        (long long)sb.st_size, max_bytes);
    unsigned char magic[2] = {0, 0};
    FILE *fp = fopen(path, "rb");
    if (!fp) return oma_fail(err, errlen, "%s: cannot open", path);
    size_t got = fread(magic, 1, 2, fp);
    fclose(fp);
    oma_tensor_file *f = calloc(1, sizeof *f);
    if (!f) return oma_fail(err, errlen, "out of memory");
    f->path = strdup(path);
    if (!f->path) {
        free(f);
        return oma_fail(err, errlen, "out of memory");
    }
    char e[384] = "";
    int rc;
    if (got == 2 && magic[0] == 'P' && magic[1] == 'K')
        rc = oma_torch_zip_load(path, max_bytes, f, e, sizeof e);
    else
        rc = load_safetensors(f, e, sizeof e);
    if (rc != 0) {
        /* safetensors errors already start with the path */
        if (strncmp(e, path, strlen(path)) == 0) oma_fail(err, errlen, "%s", e);
        else oma_fail(err, errlen, "%s: %s", path, e);
        oma_tensor_file_free(f);
        return -1;
    }
    *out = f;
    return 0;
}

void oma_tensor_file_free(oma_tensor_file *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->t[i].name);
        free(f->t[i].data);
    }
    free(f->t);
    if (f->st) oma_st_close(f->st);
    free(f->path);
    free(f);
}

size_t oma_tensor_file_count(const oma_tensor_file *f) { return f->n; }
const oma_tf_tensor *oma_tensor_file_at(const oma_tensor_file *f, size_t i) { return i < f->n ? &f->t[i] : NULL; }
const char *oma_tensor_file_path(const oma_tensor_file *f) { return f->path; }

const oma_tf_tensor *oma_tensor_file_find(const oma_tensor_file *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0) return &f->t[i];
    return NULL;
}

const char *oma_tensor_file_meta(const oma_tensor_file *f, const char *key)
{
    return f->st ? oma_st_metadata(f->st, key) : NULL;
}
