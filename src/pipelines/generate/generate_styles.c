/* generate_styles.c — LoRAs and embeddings around one generation: <lora:NAME:W> tags, the
 * A1111 folders (OMA_MODELS/Lora, OMA_MODELS/embeddings), apply, generate, restore.
 *
 * The idea: everything the request names is resolved to files first (a name must be a plain
 * file name inside the folder: no '/', no leading '.'), then models/sd_lora applies them all or
 * nothing, the usual oma_generate runs on the cleaned prompt, and the exact base weights are
 * put back whatever happened, so the next job starts from the base model.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/fail.h"
#include "pipelines/generate/generate.h"

#define MAX_STYLE_FILES 32

int oma_generate_lora_tags(const char *prompt, char **clean, char **names, oma_sd_lora *loras, int max, int *n,
                           char *err, size_t errlen)
{
    *n = 0;
    *clean = NULL;
    size_t len = strlen(prompt);
    char *out = malloc(len + 1);
    if (!out) return oma_fail(err, errlen, "out of memory");
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        if (strncmp(prompt + i, "<lora:", 6) != 0) {
            out[o++] = prompt[i++];
            continue;
        }
        const char *end = strchr(prompt + i, '>');
        if (!end) {
            free(out);
            return oma_fail(err, errlen, "prompt: '<lora:' without '>'");
        }
        char tag[512];
        size_t tl = (size_t)(end - (prompt + i + 6));
        if (tl == 0 || tl >= sizeof tag) {
            free(out);
            return oma_fail(err, errlen, "prompt: bad <lora:...> tag");
        }
        memcpy(tag, prompt + i + 6, tl);
        tag[tl] = 0;
        char *f[3] = {tag, NULL, NULL};
        int nf = 1;
        for (char *c = tag; *c && nf < 3; c++)
            if (*c == ':') *c = 0, f[nf++] = c + 1;
        float w[2] = {1.0f, 1.0f};
        for (int k = 1; k < nf; k++) {
            char *e;
            double v = strtod(f[k], &e);
            if (e == f[k] || *e || !(v >= -10 && v <= 10)) {
                free(out);
                return oma_fail(err, errlen, "prompt: <lora:%s:...>: weight '%s' is not a number in -10..10", tag, f[k]);
            }
            w[k - 1] = (float)v;
        }
        if (nf == 2) w[1] = w[0];
        if (*n >= max) {
            free(out);
            return oma_fail(err, errlen, "prompt: more than %d <lora:...> tags", max);
        }
        names[*n] = strdup(tag);
        if (!names[*n]) {
            free(out);
            return oma_fail(err, errlen, "out of memory");
        }
        loras[*n] = (oma_sd_lora){names[*n], w[1], w[0]};   /* A1111: first te, then unet */
        (*n)++;
        i = (size_t)(end - prompt) + 1;
    }
    out[o] = 0;
    *clean = out;
    return 0;
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int name_ok(const char *n)
{
    return n && *n && n[0] != '.' && !strchr(n, '/') && strlen(n) < 200;
}

/* A file path as given, or NAME looked up in models_dir/sub with the usual extensions. */
static int resolve(const char *what, const char *given, const char *models_dir, const char *sub, char *path,
                   size_t len, char *err, size_t errlen)
{
    if (strchr(given, '/') || is_file(given)) {
        if (!is_file(given)) return oma_fail(err, errlen, "%s %s: no such file", what, given);
        return snprintf(path, len, "%s", given) < (int)len ? 0 : oma_fail(err, errlen, "%s: path too long", what);
    }
    if (!name_ok(given)) return oma_fail(err, errlen, "%s '%s': not a file name", what, given);
    static const char *const ext[] = {"", ".safetensors", ".pt", ".bin"};
    for (size_t i = 0; models_dir && i < sizeof ext / sizeof ext[0]; i++)
        if (snprintf(path, len, "%s/%s/%s%s", models_dir, sub, given, ext[i]) < (int)len && is_file(path)) return 0;
    return oma_fail(err, errlen, "%s '%s': not found in %s/%s", what, given, models_dir ? models_dir : "(no models folder)",
                    sub);
}

static int same_file(const char *a, const char *b)
{
    struct stat x, y;
    if (!strcmp(a, b)) return 1;
    return stat(a, &x) == 0 && stat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

/* Does word appear in text as a whole word (case-insensitive)? */
static int has_word(const char *text, const char *word)
{
    size_t wl = strlen(word);
    if (!text || wl == 0) return 0;
    for (const char *p = text; (p = strcasestr(p, word)); p++) {
        int before = p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_');
        int after = isalnum((unsigned char)p[wl]) || p[wl] == '_';
        if (!before && !after) return 1;
    }
    return 0;
}

/* Embeddings of models_dir/embeddings whose file name the prompt or negative uses. */
static int scan_embeddings(const char *models_dir, const char *prompt, const char *negative, char **paths, int *n,
                           int max, char *err, size_t errlen)
{
    if (!models_dir) return 0;
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s/embeddings", models_dir) >= (int)sizeof dir) return 0;
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        const char *dot = strrchr(e->d_name, '.');
        if (!name_ok(e->d_name) || !dot || (strcmp(dot, ".pt") && strcmp(dot, ".safetensors") && strcmp(dot, ".bin")))
            continue;
        char stem[256];
        snprintf(stem, sizeof stem, "%.*s", (int)(dot - e->d_name), e->d_name);
        if (!has_word(prompt, stem) && !has_word(negative, stem)) continue;
        if (*n >= max) {
            rc = oma_fail(err, errlen, "more than %d embeddings", max);
            break;
        }
        size_t l = strlen(dir) + strlen(e->d_name) + 2;
        paths[*n] = malloc(l);
        if (!paths[*n]) rc = oma_fail(err, errlen, "out of memory");
        else snprintf(paths[(*n)++], l, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    return rc;
}

int oma_generate_styled(oma_sd_model *m, const oma_generate_params *p, oma_image *out, char *err, size_t errlen)
{
    if (!p->prompt) return oma_fail(err, errlen, "generate: prompt is required");
    if ((p->n_loras > 0 && !p->loras) || (p->n_embeddings > 0 && !p->embeddings))
        return oma_fail(err, errlen, "generate: LoRA or embedding list missing");
    if (p->n_loras < 0 || p->n_embeddings < 0 || p->n_loras > MAX_STYLE_FILES || p->n_embeddings > MAX_STYLE_FILES)
        return oma_fail(err, errlen, "generate: at most %d LoRAs and %d embeddings", MAX_STYLE_FILES, MAX_STYLE_FILES);
    char *clean = NULL, *tag_names[MAX_STYLE_FILES] = {0}, *lora_paths[2 * MAX_STYLE_FILES] = {0};
    char *emb_paths[2 * MAX_STYLE_FILES] = {0};
    oma_sd_lora tags[MAX_STYLE_FILES], loras[2 * MAX_STYLE_FILES];
    int n_tags = 0, n_loras = 0, n_emb = 0, rc = 0;
    char e[1024];
    if (oma_generate_lora_tags(p->prompt, &clean, tag_names, tags, MAX_STYLE_FILES, &n_tags, e, sizeof e) != 0)
        rc = oma_fail(err, errlen, "generate: %s", e);
    for (int i = 0; rc == 0 && i < p->n_loras + n_tags; i++) {
        const oma_sd_lora *l = i < p->n_loras ? &p->loras[i] : &tags[i - p->n_loras];
        char path[4096];
        if (!l->path || resolve("lora", l->path, p->models_dir, "Lora", path, sizeof path, e, sizeof e) != 0) {
            rc = oma_fail(err, errlen, "generate: %s", l->path ? e : "lora without a path");
            break;
        }
        if (!(lora_paths[n_loras] = strdup(path))) rc = oma_fail(err, errlen, "out of memory");
        else loras[n_loras] = (oma_sd_lora){lora_paths[n_loras], l->unet_weight, l->text_weight}, n_loras++;
    }
    for (int i = 0; rc == 0 && i < p->n_embeddings; i++) {
        char path[4096];
        if (!p->embeddings[i] ||
            resolve("embedding", p->embeddings[i], p->models_dir, "embeddings", path, sizeof path, e, sizeof e) != 0)
            rc = oma_fail(err, errlen, "generate: %s", p->embeddings[i] ? e : "embedding without a path");
        else if (!(emb_paths[n_emb++] = strdup(path)))
            rc = oma_fail(err, errlen, "out of memory");
    }
    if (rc == 0 && scan_embeddings(p->models_dir, clean, p->negative, emb_paths, &n_emb, 2 * MAX_STYLE_FILES, e,
                                   sizeof e) != 0)
        rc = oma_fail(err, errlen, "generate: %s", e);
    /* an embedding named twice (flag and prompt) is loaded once */
    for (int i = 0; rc == 0 && i < n_emb; i++)
        for (int j = i + 1; j < n_emb; j++)
            if (emb_paths[j] && emb_paths[i] && same_file(emb_paths[i], emb_paths[j])) {
                free(emb_paths[j]);
                emb_paths[j] = emb_paths[--n_emb];
                emb_paths[n_emb] = NULL;
                j--;
            }
    oma_sd_patch *patch = NULL;
    if (rc == 0 && oma_sd_patch_apply(m, loras, (size_t)n_loras, (const char *const *)emb_paths, (size_t)n_emb, &patch,
                                      e, sizeof e) != 0)
        rc = oma_fail(err, errlen, "generate: %s", e);
    if (rc == 0) {
        oma_generate_params q = *p;
        q.prompt = clean;
        /* one-shot without styles: nothing to restore in the text encoder, so it may go early */
        rc = !patch && p->one_shot ? oma_generate_text_once(m, &q, out, err, errlen)
                                   : oma_generate(m, &q, out, err, errlen);
    }
    oma_sd_patch_restore(m, patch);
    free(clean);
    for (int i = 0; i < MAX_STYLE_FILES; i++) free(tag_names[i]);
    for (int i = 0; i < 2 * MAX_STYLE_FILES; i++) free(lora_paths[i]), free(emb_paths[i]);
    return rc;
}
