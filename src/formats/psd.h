/* psd.h — writes a layered Photoshop document (.psd, version 1) that Clip Studio Paint,
 * Photoshop, Krita and GIMP open.
 *
 * 8-bit RGB; each layer is an RGBA image of the document's size (channels R, G, B and
 * transparency), compressed with PackBits RLE per row (layers are mostly transparent, so
 * this is small); the merged composite is stored too, so viewers that ignore layers show it.
 * Layers are given bottom first, as Photoshop lists them in the file.
 */
#ifndef OMA_FORMATS_PSD_H
#define OMA_FORMATS_PSD_H

#include <stddef.h>
#include <stdint.h>

#include "formats/image.h"

typedef struct oma_psd_layer {
    const char *name;           /* up to 255 bytes are kept */
    const oma_image *image;     /* RGBA, same size as the composite */
} oma_psd_layer;

/* composite: RGB or RGBA (alpha ignored). *out is malloc'ed. 0 on success, -1 with err. */
int oma_psd_write(const oma_image *composite, const oma_psd_layer *layers, int n_layers,
                  uint8_t **out, size_t *out_len, char *err, size_t errlen);

/* PackBits-encodes n bytes into dst (room for n + n/128 + 1 bytes); returns bytes written. */
size_t oma_packbits(const uint8_t *src, size_t n, uint8_t *dst);

#endif
