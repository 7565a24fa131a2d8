/* fuzz_safetensors.c — libFuzzer target: a .safetensors file (checkpoints and LoRAs come from
 * strangers) parsed from memory: header length, JSON header, dtypes, shapes and offsets are
 * checked, and every small tensor is converted to f32. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "formats/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    char err[256];
    oma_safetensors *st = NULL;
    if (oma_st_open_memory(data, len, &st, err, sizeof err) != 0) return 0;
    for (size_t i = 0; i < oma_st_count(st); i++) {
        const oma_st_tensor *t = oma_st_at(st, i);
        if (!t || t->numel < 0 || t->numel > 4096) continue;
        float *f = malloc(((size_t)t->numel + 1) * sizeof *f);
        if (f) (void)oma_st_read_f32(t, f, (size_t)t->numel, err, sizeof err);
        free(f);
        (void)oma_st_find(st, t->name);
    }
    (void)oma_st_metadata(st, "format");
    oma_st_close(st);
    return 0;
}
