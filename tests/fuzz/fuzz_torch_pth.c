/* fuzz_torch_pth.c — libFuzzer target: a torch.save archive (.pth/.bin/.pt: AnimateAnyone's
 * weights, LoRAs, embeddings) read by the safe reader through a file, as the loaders do: the
 * zip directory and local headers, the pickle machine (only tensor-rebuilding globals; BUILD
 * of a state_dict's _metadata), storages, views and the value budget. Nothing may crash or
 * run. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "formats/tensor_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/oma-fuzz-pth-%d.pth", (int)getpid());
    FILE *fp = fopen(path, "wb");
    if (!fp) return 0;
    size_t w = fwrite(data, 1, len, fp);
    fclose(fp);
    if (w != len) return 0;
    char err[256];
    oma_tensor_file *f = NULL;
    if (oma_tensor_file_load(path, 1 << 20, &f, err, sizeof err) == 0) {
        for (size_t i = 0; i < oma_tensor_file_count(f); i++) (void)oma_tensor_file_find(f, oma_tensor_file_at(f, i)->name);
        oma_tensor_file_free(f);
    }
    return 0;
}
