/* fuzz_tfjs.c — libFuzzer target: a TFJS model.json manifest (pose models are files a user
 * installs) loaded from a scratch folder: the graph, the attributes and the weights manifest
 * are checked; the weight files it names do not exist, so loading stops there at the latest. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/tfjs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static char dir[64], path[96];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/oma-fuzz-tfjs-%ld", (long)getpid());
        if (mkdir(dir, 0700) != 0) { /* exists from an earlier run: fine */ }
        snprintf(path, sizeof path, "%s/model.json", dir);
    }
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    size_t w = fwrite(data, 1, len, f);
    fclose(f);
    if (w != len) return 0;
    char err[256];
    oma_tfjs_model m;
    if (oma_tfjs_load(path, &m, err, sizeof err) == 0) oma_tfjs_free(&m);
    return 0;
}
