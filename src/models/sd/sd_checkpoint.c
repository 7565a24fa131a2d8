/* sd_checkpoint.c — opening an SD 1.x model in either layout and looking tensors up by diffusers name.
 *
 * A folder opens up to three safetensors files (unet, vae, text_encoder) and prefixes their
 * names with the component; a single file opens one and maps each original name (see
 * sd_checkpoint_map.c). Either way the result is one table of entries (diffusers name, source
 * name, tensor view) sorted by name, so a lookup is a binary search and a duplicate is caught at
 * open. Tensor views point into the mapped files, which stay open until oma_sd_close.
 */
#include "models/sd/sd_checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/fail.h"
#include "models/sd/sd_checkpoint_internal.h"

typedef struct sd_entry {
    char *name;          /* diffusers name */
    char *src;           /* name in the file */
    oma_st_tensor t;     /* view; t.name == name */
} sd_entry;

struct oma_sd_checkpoint {
    oma_sd_layout layout;
    oma_safetensors *files[3];
    int n_files;
    sd_entry *e;
    size_t n, cap;
    oma_sd_config cfg;
    char *tokenizer_dir;
    char *config_path;   /* single file: the yaml or config folder its configs came from, or NULL */
};

static int is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

static char *join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 2);
    if (!s) return NULL;
    memcpy(s, a, la);
    s[la] = '/';
    memcpy(s + la + 1, b, lb + 1);
    return s;
}

void oma_sd_close(oma_sd_checkpoint *ck) {
    if (!ck) return;
    for (size_t i = 0; i < ck->n; i++) {
        free(ck->e[i].name);
        free(ck->e[i].src);
    }
    free(ck->e);
    for (int i = 0; i < ck->n_files; i++) oma_st_close(ck->files[i]);
    free(ck->tokenizer_dir);
    free(ck->config_path);
    free(ck);
}

static int add_entry(oma_sd_checkpoint *ck, const char *name, const oma_st_tensor *t, int reshape,
                     char *err, size_t errlen) {
    if (ck->n == ck->cap) {
        size_t nc = ck->cap ? ck->cap * 2 : 512;
        sd_entry *ne = realloc(ck->e, nc * sizeof *ne);
        if (!ne) return oma_fail(err, errlen, "out of memory");
        ck->e = ne;
        ck->cap = nc;
    }
    sd_entry *e = &ck->e[ck->n];
    e->name = strdup(name);
    e->src = strdup(t->name);
    if (!e->name || !e->src) {
        free(e->name);
        free(e->src);
        return oma_fail(err, errlen, "out of memory");
    }
    e->t = *t;
    e->t.name = e->name;
    if (reshape && t->ndim != 2) { /* some converted files already hold the linear [C,C] */
        if (t->ndim != 4 || t->shape[2] != 1 || t->shape[3] != 1) {
            free(e->name);
            free(e->src);
            return oma_fail(err, errlen, "sd: tensor '%s': expected a 1x1 conv weight [C,C,1,1]", t->name);
        }
        e->t.ndim = 2;
    }
    ck->n++;
    return 0;
}

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const sd_entry *)a)->name, ((const sd_entry *)b)->name);
}

static int finish_table(oma_sd_checkpoint *ck, char *err, size_t errlen) {
    qsort(ck->e, ck->n, sizeof *ck->e, cmp_entry);
    for (size_t i = 1; i < ck->n; i++)
        if (!strcmp(ck->e[i - 1].name, ck->e[i].name))
            return oma_fail(err, errlen, "sd: tensor '%s' appears twice (from '%s' and '%s')",
                            ck->e[i].name, ck->e[i - 1].src, ck->e[i].src);
    return 0;
}

/* Old diffusers VAE attention names -> current ones (query -> to_q, ..., proj_attn -> to_out.0). */
static void modern_vae_name(const char *in, char *out, size_t outlen) {
    static const char *const m[][2] = {{".attentions.0.query.", ".attentions.0.to_q."},
                                       {".attentions.0.key.", ".attentions.0.to_k."},
                                       {".attentions.0.value.", ".attentions.0.to_v."},
                                       {".attentions.0.proj_attn.", ".attentions.0.to_out.0."}};
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        const char *p = strstr(in, m[i][0]);
        if (p) {
            snprintf(out, outlen, "%.*s%s%s", (int)(p - in), in, m[i][1], p + strlen(m[i][0]));
            return;
        }
    }
    snprintf(out, outlen, "%s", in);
}

/* Opens <dir>/<sub>/<one of names> into the table with "<prefix>." names. */
static int open_component(oma_sd_checkpoint *ck, const char *dir, const char *sub,
                          const char *const *names, const char *prefix, char *err, size_t errlen) {
    char *cdir = join(dir, sub);
    if (!cdir) return oma_fail(err, errlen, "out of memory");
    char *path = NULL;
    for (int i = 0; names[i] && !path; i++) {
        char *p = join(cdir, names[i]);
        if (!p) {
            free(cdir);
            return oma_fail(err, errlen, "out of memory");
        }
        if (is_file(p)) path = p;
        else free(p);
    }
    if (!path) {
        int has_bin = 0;
        char *b = join(cdir, strcmp(sub, "text_encoder") ? "diffusion_pytorch_model.bin" : "pytorch_model.bin");
        if (b) has_bin = is_file(b);
        free(b);
        oma_fail(err, errlen, "sd: %s: no %s%s", cdir, names[0],
                 has_bin ? " (only a pickle .bin: convert it to .safetensors)" : "");
        free(cdir);
        return -1;
    }
    free(cdir);
    oma_safetensors *st;
    int rc = oma_st_open(path, &st, err, errlen);
    free(path);
    if (rc) return -1;
    ck->files[ck->n_files++] = st;
    char name[512];
    for (size_t i = 0; i < oma_st_count(st); i++) {
        const oma_st_tensor *t = oma_st_at(st, i);
        char local[480];
        if (strlen(t->name) >= sizeof local - 32)
            return oma_fail(err, errlen, "sd: tensor '%.60s...': name too long", t->name);
        if (!strcmp(prefix, "vae")) modern_vae_name(t->name, local, sizeof local);
        else snprintf(local, sizeof local, "%s", t->name);
        snprintf(name, sizeof name, "%s.%s", prefix, local);
        if (add_entry(ck, name, t, 0, err, errlen)) return -1;
    }
    return 0;
}

static int open_folder(oma_sd_checkpoint *ck, const char *dir, char *err, size_t errlen) {
    static const char *const unet_names[] = {"diffusion_pytorch_model.safetensors",
                                             "diffusion_pytorch_model.fp16.safetensors", NULL};
    static const char *const te_names[] = {"model.safetensors", "model.fp16.safetensors", NULL};
    if (open_component(ck, dir, "unet", unet_names, "unet", err, errlen) ||
        open_component(ck, dir, "vae", unet_names, "vae", err, errlen) ||
        open_component(ck, dir, "text_encoder", te_names, "text_encoder", err, errlen) ||
        finish_table(ck, err, errlen))
        return -1;
    return 0;
}

static int has_prefix_num(const oma_safetensors *st, const char *fmt, int k) {
    char name[160];
    snprintf(name, sizeof name, fmt, k);
    size_t l = strlen(name);
    for (size_t i = 0; i < oma_st_count(st); i++)
        if (!strncmp(oma_st_at(st, i)->name, name, l)) return 1;
    return 0;
}

static int open_single(oma_sd_checkpoint *ck, const char *path, char *err, size_t errlen) {
    oma_safetensors *st;
    if (oma_st_open(path, &st, err, errlen)) return -1;
    ck->files[ck->n_files++] = st;
    /* structure: the first downsampler index gives layers_per_block + 1 */
    sd_orig_layout lay = {2, 4};
    for (int x = 1; x <= 17; x++)
        if (has_prefix_num(st, "model.diffusion_model.input_blocks.%d.0.op.", x)) {
            lay.unet_layers = x - 1;
            break;
        }
    int nv = 0;
    while (nv < OMA_SD_MAX_BLOCKS && has_prefix_num(st, "first_stage_model.decoder.up.%d.", nv)) nv++;
    if (nv > 0) lay.vae_blocks = nv;
    char name[512];
    size_t mapped = 0;
    for (size_t i = 0; i < oma_st_count(st); i++) {
        const oma_st_tensor *t = oma_st_at(st, i);
        int reshape;
        int rc = sd_map_original(&lay, t->name, name, sizeof name, &reshape, err, errlen);
        if (rc < 0) return -1;
        if (rc > 0) continue; /* not part of the model */
        if (add_entry(ck, name, t, reshape, err, errlen)) return -1;
        mapped++;
    }
    if (mapped == 0)
        return oma_fail(err, errlen, "sd: %s: no Stable Diffusion tensors (model.diffusion_model.*)", path);
    return finish_table(ck, err, errlen);
}

static int configs_from_dir(oma_sd_config *cfg, const char *dir, char *err, size_t errlen) {
    static const char *const files[4] = {"unet/config.json", "vae/config.json",
                                         "text_encoder/config.json", "scheduler/scheduler_config.json"};
    for (int i = 0; i < 4; i++) {
        char *p = join(dir, files[i]);
        if (!p) return oma_fail(err, errlen, "out of memory");
        int rc = 0;
        if (!is_file(p)) {
            if (i < 3) rc = oma_fail(err, errlen, "sd: %s: missing", p);
        } else if (i == 0) rc = sd_parse_unet_config(p, &cfg->unet, err, errlen);
        else if (i == 1) rc = sd_parse_vae_config(p, &cfg->vae, err, errlen);
        else if (i == 2) rc = sd_parse_text_config(p, &cfg->text, err, errlen);
        else rc = sd_parse_scheduler_config(p, &cfg->scheduler, err, errlen);
        free(p);
        if (rc) return -1;
    }
    return 0;
}

/* Sets ck->tokenizer_dir to dir when it holds vocab.json + merges.txt; 1 if set. */
static int try_tokenizer(oma_sd_checkpoint *ck, const char *dir) {
    if (!dir || ck->tokenizer_dir) return ck->tokenizer_dir != NULL;
    char *v = join(dir, "vocab.json"), *m = join(dir, "merges.txt");
    int ok = v && m && is_file(v) && is_file(m);
    free(v);
    free(m);
    if (ok) ck->tokenizer_dir = strdup(dir);
    return ck->tokenizer_dir != NULL;
}

int oma_sd_open_ex(const char *path, const oma_sd_open_opts *opts, oma_sd_checkpoint **out,
                   char *err, size_t errlen) {
    *out = NULL;
    oma_sd_open_opts none = {0};
    if (!opts) opts = &none;
    oma_sd_checkpoint *ck = calloc(1, sizeof *ck);
    if (!ck) return oma_fail(err, errlen, "out of memory");
    oma_sd_config_defaults(&ck->cfg);
    int rc = -1;
    char *tdir = NULL;
    if (is_dir(path)) {
        ck->layout = OMA_SD_DIFFUSERS;
        if (configs_from_dir(&ck->cfg, path, err, errlen) || open_folder(ck, path, err, errlen)) goto out;
        if (!(tdir = join(path, "tokenizer"))) goto oom;
        if (opts->tokenizer_dir && !try_tokenizer(ck, opts->tokenizer_dir)) {
            oma_fail(err, errlen, "sd: %s: no vocab.json + merges.txt", opts->tokenizer_dir);
            goto out;
        }
        try_tokenizer(ck, tdir);
    } else if (is_file(path)) {
        ck->layout = OMA_SD_SINGLE_FILE;
        if (open_single(ck, path, err, errlen)) goto out;
        /* the configs: --config (a yaml file or a diffusers folder), else NAME.yaml beside */
        const char *cfg_path = opts->config_dir;
        if (!cfg_path) {
            if (!(ck->config_path = malloc(strlen(path) + 8))) goto oom;
            if (oma_sd_config_beside(path, ck->config_path, strlen(path) + 8) == 0) cfg_path = ck->config_path;
        }
        if (cfg_path && is_file(cfg_path)) {
            oma_sd_config shapes = ck->cfg;
            if (sd_infer_config(ck, &shapes, err, errlen)) goto out;
            ck->cfg = shapes;
            if (sd_parse_ldm_yaml(cfg_path, &ck->cfg, err, errlen) ||
                sd_check_yaml_against_shapes(cfg_path, &ck->cfg, &shapes, err, errlen))
                goto out;
            if (cfg_path != ck->config_path) {
                free(ck->config_path);
                if (!(ck->config_path = strdup(cfg_path))) goto oom;
            }
        } else if (cfg_path) {
            if (!is_dir(cfg_path)) {
                oma_fail(err, errlen, "sd: %s: no such config file or folder", cfg_path);
                goto out;
            }
            if (configs_from_dir(&ck->cfg, cfg_path, err, errlen)) goto out;
            free(ck->config_path);
            if (!(ck->config_path = strdup(cfg_path))) goto oom;
        } else {
            free(ck->config_path);
            ck->config_path = NULL;
            if (sd_infer_config(ck, &ck->cfg, err, errlen)) goto out;
        }
        if (opts->tokenizer_dir && !try_tokenizer(ck, opts->tokenizer_dir)) {
            oma_fail(err, errlen, "sd: %s: no vocab.json + merges.txt", opts->tokenizer_dir);
            goto out;
        }
        const char *slash = strrchr(path, '/');
        size_t dl = slash ? (size_t)(slash - path) : 1;
        char *dir = malloc(dl + 1);
        if (!dir) goto oom;
        if (slash) memcpy(dir, path, dl);
        else dir[0] = '.';
        dir[dl] = 0;
        tdir = join(dir, "tokenizer");
        free(dir);
        if (!tdir) goto oom;
        if (!try_tokenizer(ck, tdir) && opts->config_dir && is_dir(opts->config_dir)) {
            free(tdir);
            if (!(tdir = join(opts->config_dir, "tokenizer"))) goto oom;
            try_tokenizer(ck, tdir);
        }
    } else {
        oma_fail(err, errlen, "sd: %s: no such model folder or file", path);
        goto out;
    }
    if (sd_validate_config(ck, &ck->cfg, err, errlen)) goto out;
    rc = 0;
    goto out;
oom:
    oma_fail(err, errlen, "out of memory");
out:
    free(tdir);
    if (rc) oma_sd_close(ck);
    else *out = ck;
    return rc;
}

int oma_sd_open(const char *path, const char *tokenizer_dir, oma_sd_checkpoint **out, char *err,
                size_t errlen) {
    oma_sd_open_opts o = {tokenizer_dir, NULL};
    return oma_sd_open_ex(path, &o, out, err, errlen);
}

oma_sd_layout oma_sd_layout_of(const oma_sd_checkpoint *ck) { return ck->layout; }
const oma_sd_config *oma_sd_config_of(const oma_sd_checkpoint *ck) { return &ck->cfg; }
const char *oma_sd_tokenizer_dir(const oma_sd_checkpoint *ck) { return ck->tokenizer_dir; }
const char *oma_sd_config_path(const oma_sd_checkpoint *ck) { return ck->config_path; }

int oma_sd_config_beside(const char *path, char *out, size_t outlen) {
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    size_t stem = dot && (!slash || dot > slash) ? (size_t)(dot - path) : strlen(path);
    int n = snprintf(out, outlen, "%.*s.yaml", (int)stem, path);
    if (n < 0 || (size_t)n >= outlen) return -1;
    return is_file(out) ? 0 : -1;
}
size_t oma_sd_count(const oma_sd_checkpoint *ck) { return ck->n; }

const oma_st_tensor *oma_sd_at(const oma_sd_checkpoint *ck, size_t i) {
    return i < ck->n ? &ck->e[i].t : NULL;
}

static const sd_entry *find_entry(const oma_sd_checkpoint *ck, const char *name) {
    size_t lo = 0, hi = ck->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ck->e[mid].name, name);
        if (c == 0) return &ck->e[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

const oma_st_tensor *oma_sd_find(const oma_sd_checkpoint *ck, const char *name) {
    const sd_entry *e = find_entry(ck, name);
    return e ? &e->t : NULL;
}

const char *oma_sd_source_name(const oma_sd_checkpoint *ck, const char *name) {
    const sd_entry *e = find_entry(ck, name);
    return e ? e->src : NULL;
}

int oma_sd_get(const oma_sd_checkpoint *ck, const char *name, int ndim, const int64_t *shape,
               const oma_st_tensor **out, char *err, size_t errlen) {
    *out = NULL;
    const sd_entry *e = find_entry(ck, name);
    if (!e) return oma_fail(err, errlen, "sd: tensor '%s': missing", name);
    char inner[300];
    if (oma_st_check_shape(&e->t, ndim, shape, inner, sizeof inner)) {
        if (strcmp(e->src, e->name))
            return oma_fail(err, errlen, "sd: %s (in the file: '%s')", inner, e->src);
        return oma_fail(err, errlen, "sd: %s", inner);
    }
    *out = &e->t;
    return 0;
}

int oma_sd_read_f32(const oma_sd_checkpoint *ck, const char *name, int ndim,
                    const int64_t *shape, float *dst, size_t n, char *err, size_t errlen) {
    const oma_st_tensor *t;
    if (oma_sd_get(ck, name, ndim, shape, &t, err, errlen)) return -1;
    char inner[300];
    if (oma_st_read_f32(t, dst, n, inner, sizeof inner)) return oma_fail(err, errlen, "sd: %s", inner);
    return 0;
}
