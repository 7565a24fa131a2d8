/* fuzz_psd.c — libFuzzer target: the PSD writer's inputs (layers come from jobs and artists:
 * names, sizes, channel counts, pixel runs). The input's first bytes choose the document size
 * (up to 64x64), the channel counts and how many layers (0..4) with which names (from the
 * input, any bytes, any length); the rest are the pixels, repeated to fill. The writer must
 * refuse what does not fit (err) and never read or write out of bounds; what it writes must
 * start like a PSD. PackBits is checked on the same bytes against its own bound. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/psd.h"

static void fill(oma_image *img, const uint8_t *px, size_t n)
{
    size_t total = (size_t)img->w * (size_t)img->h * (size_t)img->c;
    for (size_t i = 0; i < total; i++) img->px[i] = n ? px[i % n] : (uint8_t)i;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len < 6) return 0;
    int w = 1 + data[0] % 64, h = 1 + data[1] % 64;
    int cc = data[2] & 1 ? 4 : 3, nl = data[3] % 5;
    size_t name_len = data[4];
    data += 5;
    len -= 5;
    if (name_len > len) name_len = len;
    char *name = malloc(name_len + 1);
    if (!name) return 0;
    memcpy(name, data, name_len);
    name[name_len] = '\0';
    const uint8_t *px = data + name_len;
    size_t npx = len - name_len;

    oma_image comp = {0}, layers_img[4] = {{0}};
    oma_psd_layer layers[4];
    int ok = oma_image_alloc(&comp, w, h, cc) == 0;
    if (ok) fill(&comp, px, npx);
    for (int i = 0; ok && i < nl; i++) {
        /* a layer of another size than the document, now and then: must be refused */
        int lw = (npx && px[0] == 0xAB && i == 1) ? w + 1 : w;
        ok = oma_image_alloc(&layers_img[i], lw, h, 4) == 0;
        if (ok) fill(&layers_img[i], px + (npx ? (size_t)i % npx : 0), npx ? npx - (size_t)i % npx : 0);
        layers[i].name = i == 0 ? name : (i == 2 ? "" : "layer");
        layers[i].image = &layers_img[i];
    }
    if (ok) {
        uint8_t *out = NULL;
        size_t out_len = 0;
        char err[256];
        if (oma_psd_write(&comp, layers, nl, &out, &out_len, err, sizeof err) == 0) {
            if (out_len < 26 || memcmp(out, "8BPS", 4) != 0) abort();
            free(out);
        }
        uint8_t *pb = malloc(npx + npx / 128 + 1);
        if (pb) {
            size_t n = oma_packbits(px, npx, pb);
            if (n > npx + npx / 128 + 1) abort();
            free(pb);
        }
    }
    oma_image_free(&comp);
    for (int i = 0; i < 4; i++) oma_image_free(&layers_img[i]);
    free(name);
    return 0;
}
