/* fuzz_image.c — libFuzzer target: image bytes from a stranger (uploads) through the header
 * probe and the decoders (PNG, JPEG with its EXIF orientation, WebP) under tight limits, so
 * a bomb is refused from its header and a broken file is an error, never a crash. */
#include <stddef.h>
#include <stdint.h>

#include "formats/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    char err[256];
    oma_image_format fmt;
    int w = 0, h = 0;
    (void)oma_image_probe(data, len, &fmt, &w, &h, err, sizeof err);
    oma_image_limits lim = oma_image_default_limits();
    lim.max_side = 1024;
    lim.max_pixels = 1 << 20;
    oma_image img = {0};
    if (oma_image_decode(data, len, 0, 1, &lim, &img, err, sizeof err) == 0) oma_image_free(&img);
    if (oma_image_decode(data, len, 3, 0, &lim, &img, err, sizeof err) == 0) oma_image_free(&img);
    return 0;
}
