/* fuzz_onnx.c — libFuzzer target: an ONNX model (DWPose's files are something a user installs)
 * parsed from memory with a scratch folder for external data: protobuf framing, tensors,
 * attributes, value infos and the graph checks (cycles, undefined inputs) must give an error
 * or a model, never a crash. External locations the input names stay inside the folder,
 * which holds one small data file so the external branch is reachable. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    static char dir[64];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/oma-fuzz-onnx-%ld", (long)getpid());
        if (mkdir(dir, 0700) != 0) { /* exists from an earlier run: fine */ }
        char path[96];
        snprintf(path, sizeof path, "%s/w.bin", dir);
        FILE *f = fopen(path, "wb");
        if (f) {
            for (int i = 0; i < 256; i++) fputc(i, f);
            fclose(f);
        }
    }
    char err[256];
    oma_onnx_model m;
    if (oma_onnx_load_memory(data, len, dir, &m, err, sizeof err) == 0) oma_onnx_free(&m);
    return 0;
}
