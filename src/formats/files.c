/* files.c — file-system helpers (see files.h). */
#include "formats/files.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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
