/* sd_find.c — finding the SD 1.x model in the models folder (see the header). */
#include "pipelines/generate/sd_find.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/safetensors.h"

#define PATH_MAX_LEN 4096

static int is_dir_with_index(const char *dir)
{
    char p[PATH_MAX_LEN];
    struct stat st;
    if (snprintf(p, sizeof p, "%s/model_index.json", dir) >= (int)sizeof p) return 0;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

/* A single-file SD 1.x checkpoint (not a LoRA or another network): its header names the UNet's
 * first convolution in the original layout. */
static int is_sd_single_file(const char *path)
{
    oma_safetensors *st = NULL;
    char err[256];
    if (oma_st_open(path, &st, err, sizeof err) != 0) return 0;
    int ok = oma_st_find(st, "model.diffusion_model.input_blocks.0.0.weight") != NULL;
    oma_st_close(st);
    return ok;
}

int oma_sd_model_name_ok(const char *n)
{
    return n && *n && n[0] != '.' && !strchr(n, '/') && strlen(n) < 256;
}

int oma_sd_find_model(const char *models_dir, const char *want, char *path, size_t len)
{
    if (!models_dir || !*models_dir) return -1;
    if (want) {
        if (!oma_sd_model_name_ok(want)) return -1;
        if (snprintf(path, len, "%s/%s", models_dir, want) >= (int)len) return -1;
        struct stat st;
        if (stat(path, &st) != 0) return -1;
        if (S_ISDIR(st.st_mode)) return is_dir_with_index(path) ? 0 : -1;
        return S_ISREG(st.st_mode) && ends_with(want, ".safetensors") && is_sd_single_file(path) ? 0 : -1;
    }
    if (is_dir_with_index(models_dir)) return snprintf(path, len, "%s", models_dir) < (int)len ? 0 : -1;
    struct dirent **names = NULL;
    int n = scandir(models_dir, &names, NULL, alphasort);
    if (n < 0) return -1;
    int found = -1;
    for (int i = 0; i < n; i++) {
        const char *e = names[i]->d_name;
        if (found != 0 && oma_sd_model_name_ok(e) && snprintf(path, len, "%s/%s", models_dir, e) < (int)len) {
            struct stat st;
            if (stat(path, &st) == 0 &&
                ((S_ISDIR(st.st_mode) && is_dir_with_index(path)) ||
                 (S_ISREG(st.st_mode) && ends_with(e, ".safetensors") && is_sd_single_file(path))))
                found = 0;
        }
        free(names[i]);
    }
    free(names);
    return found;
}

int oma_sd_model_each(const char *models_dir,
                      int (*fn)(const char *name, const char *path, int is_root, void *arg), void *arg)
{
    if (!models_dir || !*models_dir) return -1;
    if (is_dir_with_index(models_dir)) {
        char base[PATH_MAX_LEN];
        snprintf(base, sizeof base, "%s", models_dir);
        size_t l = strlen(base);
        while (l > 1 && base[l - 1] == '/') base[--l] = '\0';
        const char *slash = strrchr(base, '/');
        return fn(slash ? slash + 1 : base, models_dir, 1, arg);
    }
    struct dirent **names = NULL;
    int n = scandir(models_dir, &names, NULL, alphasort);
    if (n < 0) return -1;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *e = names[i]->d_name;
        char path[PATH_MAX_LEN];
        struct stat st;
        if (rc == 0 && oma_sd_model_name_ok(e) && snprintf(path, sizeof path, "%s/%s", models_dir, e) < (int)sizeof path &&
            stat(path, &st) == 0 &&
            ((S_ISDIR(st.st_mode) && is_dir_with_index(path)) ||
             (S_ISREG(st.st_mode) && ends_with(e, ".safetensors") && is_sd_single_file(path))))
            rc = fn(e, path, 0, arg);
        free(names[i]);
    }
    free(names);
    return rc;
}
