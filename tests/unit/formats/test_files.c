/* test_files.c — oma_mkdir_p: nested folders, an existing one, a trailing slash, a path through
 * a plain file (an error naming it), an empty and an over-long path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/files.h"

#include "check.h"

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int main(void)
{
    char root[] = "/tmp/oma_files_XXXXXX", p[512], err[256];
    if (!mkdtemp(root)) return 1;
    snprintf(p, sizeof p, "%s/a/b/c", root);
    CHECK(oma_mkdir_p(p, err, sizeof err) == 0 && is_dir(p));
    CHECK(oma_mkdir_p(p, err, sizeof err) == 0);                 /* exists already */
    snprintf(p, sizeof p, "%s/a/d/", root);
    CHECK(oma_mkdir_p(p, err, sizeof err) == 0 && is_dir(p));
    /* through a plain file */
    snprintf(p, sizeof p, "%s/file", root);
    FILE *f = fopen(p, "w");
    CHECK(f != NULL);
    if (f) fclose(f);
    snprintf(p, sizeof p, "%s/file/x", root);
    CHECK(oma_mkdir_p(p, err, sizeof err) == -1 && strstr(err, "cannot create") && strstr(err, "/file"));
    CHECK(oma_mkdir_p("", err, sizeof err) == -1 && strcmp(err, "empty path") == 0);
    char *longp = malloc(5000);
    if (!longp) return 1;
    memset(longp, 'a', 4999);
    longp[0] = '/', longp[4999] = '\0';
    CHECK(oma_mkdir_p(longp, err, sizeof err) == -1 && strcmp(err, "path too long") == 0);
    CHECK(oma_mkdir_p(longp, NULL, 0) == -1);                   /* no error buffer: still fine */
    free(longp);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_files: ok\n");
    return 0;
}
