/* files.c — file-system helpers (see files.h). */
#include "formats/files.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int oma_mkdir_p(const char *path, char *err, size_t errlen)
{
    char tmp[4096];
    size_t n = path ? strlen(path) : 0;
    if (n == 0 || n >= sizeof tmp) {
        if (errlen) snprintf(err, errlen, "%s", n ? "path too long" : "empty path");
        return -1;
    }
    memcpy(tmp, path, n + 1);
    /* each prefix ending at a '/', then the whole path */
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0') continue;
        char c = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
            if (errlen) snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
            return -1;
        }
        tmp[i] = c;
    }
    return 0;
}

int oma_read_file(const char *path, size_t max_len, unsigned char **data, size_t *len, char *err,
                  size_t errlen)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        fclose(f);
        return -1;
    }
    if ((unsigned long long)st.st_size > max_len) {
        snprintf(err, errlen, "%s: larger than %zu bytes", path, max_len);
        fclose(f);
        return -1;
    }
    size_t n = (size_t)st.st_size;
    unsigned char *buf = malloc(n ? n : 1);
    if (!buf) {
        snprintf(err, errlen, "%s: out of memory", path);
        fclose(f);
        return -1;
    }
    size_t got = fread(buf, 1, n, f);
    int extra = fgetc(f) != EOF; /* grew while we read: refuse rather than return a torn copy */
    fclose(f);
    if (got != n || extra) {
        snprintf(err, errlen, "%s: read failed (or the file changed while read)", path);
        free(buf);
        return -1;
    }
    *data = buf;
    *len = n;
    return 0;
}

int oma_write_file(const char *path, const void *data, size_t len, char *err, size_t errlen)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        snprintf(err, errlen, "path too long");
        return -1;
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        return -1;
    }
    int ok = (len == 0 || fwrite(data, 1, len, f) == len);
    int e = errno;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        if (ok) e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e ? e : EIO));
        remove(tmp);
        return -1;
    }
    return 0;
}
