/* image_exif.c — reads the orientation tag from a JPEG's EXIF (APP1) segment.
 *
 * EXIF is a tiny TIFF file: a byte-order mark ("II" little / "MM" big endian), 42, the offset
 * of the first IFD, then 12-byte entries (tag, type, count, value). We only want tag 0x0112
 * (SHORT, count 1) in IFD0. Every offset is checked against the segment length; anything odd
 * means "no orientation" (1), since a wrong rotation is better than a refused photo.
 */
#include "formats/image.h"

#include <string.h>

static unsigned rd16(const uint8_t *p, int le)
{
    return le ? (unsigned)p[0] | (unsigned)p[1] << 8 : (unsigned)p[0] << 8 | (unsigned)p[1];
}

static uint32_t rd32(const uint8_t *p, int le)
{
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int oma_image_exif_orientation(const uint8_t *app1, size_t len)
{
    if (!app1 || len < 6 + 8 || memcmp(app1, "Exif\0\0", 6) != 0) return 1;
    const uint8_t *t = app1 + 6;   /* the TIFF header; offsets are relative to it */
    size_t n = len - 6;
    int le;
    if (t[0] == 'I' && t[1] == 'I') le = 1;
    else if (t[0] == 'M' && t[1] == 'M') le = 0;
    else return 1;
    if (rd16(t + 2, le) != 42) return 1;
    uint32_t ifd = rd32(t + 4, le);
    if (ifd < 8 || ifd > n || n - ifd < 2) return 1;
    unsigned count = rd16(t + ifd, le);
    if ((size_t)count * 12 > n - ifd - 2) return 1;
    for (unsigned i = 0; i < count; i++) {
        const uint8_t *e = t + ifd + 2 + (size_t)i * 12;
        if (rd16(e, le) != 0x0112) continue;
        if (rd16(e + 2, le) != 3 || rd32(e + 4, le) != 1) return 1;   /* SHORT, count 1 */
        unsigned v = rd16(e + 8, le);
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}
