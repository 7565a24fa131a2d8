/* style_profile_store.c — named style profiles in the data folder (see the header). */
#include "pipelines/style/style_profile_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/files.h"

int oma_style_name_valid(const char *name)
{
    if (!name || !*name || name[0] == '.') return 0;
    size_t n = strlen(name);
    if (n > 64) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

static int styles_dir(char *buf, size_t n)
{
    const char *data = getenv("OMA_DATA");
    int k = snprintf(buf, n, "%s/styles", data && *data ? data : "./data");
    return k > 0 && (size_t)k < n ? 0 : -1;
}

int oma_style_profile_write_file(const oma_style_profile *p, const char *path, char *err, size_t errlen)
{
    json_t *j = oma_style_profile_to_json(p);
    if (!j) { snprintf(err, errlen, "out of memory"); return -1; }
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(j);
    if (!s) { snprintf(err, errlen, "out of memory"); return -1; }
    FILE *f = fopen(path, "wb");
    if (!f) { snprintf(err, errlen, "%s: %s", path, strerror(errno)); free(s); return -1; }
    int ok = fputs(s, f) >= 0 && fputc('\n', f) != EOF;
    ok = (fclose(f) == 0) && ok;
    free(s);
    if (!ok) { snprintf(err, errlen, "%s: write failed", path); return -1; }
    return 0;
}

int oma_style_profile_save_named(const oma_style_profile *p, const char *name, char *path_out,
                                 size_t path_len, char *err, size_t errlen)
{
    if (!oma_style_name_valid(name)) {
        snprintf(err, errlen, "style name must be 1..64 of A-Z a-z 0-9 _ . - (not starting with '.')");
        return -1;
    }
    char dir[4096], why[600] = "path too long";
    if (styles_dir(dir, sizeof dir) != 0 || oma_mkdir_p(dir, why, sizeof why) != 0) {
        snprintf(err, errlen, "cannot create the styles folder: %s", why);
        return -1;
    }
    int k = snprintf(path_out, path_len, "%s/%s.json", dir, name);
    if (k < 0 || (size_t)k >= path_len) { snprintf(err, errlen, "path too long"); return -1; }
    return oma_style_profile_write_file(p, path_out, err, errlen);
}

int oma_style_profile_load(const char *name_or_path, oma_style_profile *out, char *err, size_t errlen)
{
    if (!name_or_path || !*name_or_path) { snprintf(err, errlen, "no style given"); return -1; }
    char path[4096];
    size_t n = strlen(name_or_path);
    int is_path = strchr(name_or_path, '/') || (n > 5 && strcmp(name_or_path + n - 5, ".json") == 0);
    if (is_path) {
        if (n >= sizeof path) { snprintf(err, errlen, "path too long"); return -1; }
        memcpy(path, name_or_path, n + 1);
    } else {
        char dir[4096];
        if (!oma_style_name_valid(name_or_path)) {
            snprintf(err, errlen, "'%s' is neither a style name nor a .json path", name_or_path);
            return -1;
        }
        int k;
        if (styles_dir(dir, sizeof dir) != 0 ||
            (k = snprintf(path, sizeof path, "%s/%s.json", dir, name_or_path)) < 0 || (size_t)k >= sizeof path) {
            snprintf(err, errlen, "path too long");
            return -1;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, is_path ? "%s: %s" : "no style named '%s' (%s)", is_path ? path : name_or_path,
                 is_path ? strerror(errno) : path);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > (1 << 20)) {
        snprintf(err, errlen, "%s: not a profile file (or over 1 MiB)", path);
        return -1;
    }
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j) { snprintf(err, errlen, "%s: invalid JSON at line %d: %s", path, je.line, je.text); return -1; }
    int rc = oma_style_profile_from_json(j, out, err, errlen);
    json_decref(j);
    return rc;
}
