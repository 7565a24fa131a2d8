/* workers_tmp.c — removes training work folders left by a process that is gone. style.train
 * works in <data>/tmp/train-<pid>-XXXXXX (style_train_kind.c) and removes it when the run ends;
 * a killed process (kill -9, a crash, power loss) leaves it, with its copies of the model and
 * checkpoints. At server start, before any worker runs, every train-* folder whose pid is not
 * a live process (or is this process, which runs no job yet) is deleted, as are the older
 * train-XXXXXX ones that name no process. Folders of another live server on the same data
 * folder stay. Links are removed, never followed.
 */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "server/jobs/workers_internal.h"

static int remove_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0) fprintf(stderr, "oma: tmp: cannot remove %s: %s\n", path, strerror(errno));
    return 0;
}

/* 1 when the folder name train-... belongs to no live process other than this one. */
static int orphaned(const char *name)
{
    const char *p = name + strlen("train-");
    char *end = NULL;
    errno = 0;
    long pid = strtol(p, &end, 10);
    if (end == p || *end != '-' || errno || pid <= 0 || pid > 0x7fffffffL) return 1; /* names no process */
    if ((pid_t)pid == getpid()) return 1;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

int oma_train_tmp_sweep(const char *data_dir)
{
    char dir[4096];
    if (!data_dir || snprintf(dir, sizeof dir, "%s/tmp", data_dir) >= (int)sizeof dir) return -1;
    DIR *d = opendir(dir);
    if (!d) return errno == ENOENT ? 0 : -1;
    int removed = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "train-", 6) != 0 || !orphaned(e->d_name)) continue;
        char path[4096 + 256];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
        if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0) removed++;
    }
    closedir(d);
    return removed;
}
