/* psd.c — layered PSD writer (see psd.h). Sections in order: header, colour mode data
 * (empty), image resources (empty), layer and mask information (layer records, then each
 * layer's channel data), merged image data. All integers are big-endian. */
#include "formats/psd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { uint8_t *p; size_t n, cap; int oom; } buf_t;

static void put(buf_t *b, const void *src, size_t n)
{
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p; b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void u8(buf_t *b, unsigned v) { uint8_t x = (uint8_t)v; put(b, &x, 1); }
static void u16(buf_t *b, unsigned v) { uint8_t x[2] = {(uint8_t)(v >> 8), (uint8_t)v}; put(b, x, 2); }
static void u32(buf_t *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    put(b, x, 4);
}
static void set32(buf_t *b, size_t at, uint32_t v)
{
    if (b->oom) return;
    b->p[at] = (uint8_t)(v >> 24); b->p[at + 1] = (uint8_t)(v >> 16);
    b->p[at + 2] = (uint8_t)(v >> 8); b->p[at + 3] = (uint8_t)v;
}
static void set16(buf_t *b, size_t at, unsigned v)
{
    if (b->oom) return;
    b->p[at] = (uint8_t)(v >> 8); b->p[at + 1] = (uint8_t)v;
}

size_t oma_packbits(const uint8_t *s, size_t n, uint8_t *d)
{
    size_t i = 0, o = 0;
    while (i < n) {
        size_t run = 1;
        while (i + run < n && run < 128 && s[i + run] == s[i]) run++;
        if (run >= 2) {
            d[o++] = (uint8_t)(257 - run); /* -(run-1) */
            d[o++] = s[i];
            i += run;
            continue;
        }
        /* literal: up to the next run of 2 equal bytes (a pair costs 2 either way, so only
         * break for 3+) */
        size_t start = i, len = 0;
        while (i < n && len < 128) {
            if (i + 2 < n && s[i] == s[i + 1] && s[i] == s[i + 2]) break;
            i++; len++;
        }
        d[o++] = (uint8_t)(len - 1);
        memcpy(d + o, s + start, len);
        o += len;
    }
    return o;
}

/* Writes one plane (channel c of an image with nc channels) as RLE: the row byte counts at
 * counts_at (u16 each, filled in here), the packed rows appended to b. */
static void plane_rle(buf_t *b, const oma_image *img, int c, size_t counts_at, uint8_t *row, uint8_t *pk)
{
    for (int y = 0; y < img->h; y++) {
        const uint8_t *src = img->px + (size_t)y * img->w * img->c;
        for (int x = 0; x < img->w; x++) row[x] = src[(size_t)x * img->c + c];
        size_t m = oma_packbits(row, (size_t)img->w, pk);
        set16(b, counts_at + (size_t)y * 2, (unsigned)m);
        put(b, pk, m);
    }
}

int oma_psd_write(const oma_image *comp, const oma_psd_layer *layers, int n_layers,
                  uint8_t **out, size_t *out_len, char *err, size_t errlen)
{
    *out = NULL;
    *out_len = 0;
    if (!comp || !comp->px || (comp->c != 3 && comp->c != 4) || comp->w < 1 || comp->h < 1 ||
        comp->w > 30000 || comp->h > 30000 || n_layers < 0 || n_layers > 64) {
        snprintf(err, errlen, "psd: bad composite or layer count");
        return -1;
    }
    for (int i = 0; i < n_layers; i++) {
        const oma_image *l = layers[i].image;
        if (!l || !l->px || l->c != 4 || l->w != comp->w || l->h != comp->h) {
            snprintf(err, errlen, "psd: layer %d must be RGBA of the composite's size", i);
            return -1;
        }
    }
    int w = comp->w, h = comp->h;
    uint8_t *row = malloc((size_t)w), *pk = malloc((size_t)w + (size_t)w / 128 + 2);
    buf_t b = {0};
    if (!row || !pk) { free(row); free(pk); snprintf(err, errlen, "psd: out of memory"); return -1; }

    put(&b, "8BPS", 4); u16(&b, 1); put(&b, "\0\0\0\0\0\0", 6);
    u16(&b, 3); u32(&b, (uint32_t)h); u32(&b, (uint32_t)w); u16(&b, 8); u16(&b, 3);
    u32(&b, 0); /* colour mode data */
    u32(&b, 0); /* image resources */

    size_t lmi_at = b.n;
    u32(&b, 0);                 /* layer and mask info length, patched */
    size_t li_at = b.n;
    u32(&b, 0);                 /* layer info length, patched */
    u16(&b, (unsigned)n_layers);
    static const int chan_id[4] = {0, 1, 2, -1};
    size_t len_at[64][4];
    for (int i = 0; i < n_layers; i++) {
        u32(&b, 0); u32(&b, 0); u32(&b, (uint32_t)h); u32(&b, (uint32_t)w);
        u16(&b, 4);
        for (int c = 0; c < 4; c++) {
            u16(&b, (unsigned)(chan_id[c] & 0xffff));
            len_at[i][c] = b.n;
            u32(&b, 0);        /* channel data length, patched */
        }
        put(&b, "8BIMnorm", 8);
        u8(&b, 255); u8(&b, 0); u8(&b, 0); u8(&b, 0); /* opacity, clipping, flags, filler */
        const char *name = layers[i].name ? layers[i].name : "";
        size_t nl = strlen(name);
        if (nl > 255) nl = 255;
        size_t padded = (nl + 1 + 3) / 4 * 4;
        u32(&b, (uint32_t)(4 + 4 + padded));
        u32(&b, 0);             /* no layer mask */
        u32(&b, 0);             /* no blending ranges */
        u8(&b, (unsigned)nl);
        put(&b, name, nl);
        for (size_t k = nl + 1; k < padded; k++) u8(&b, 0);
    }
    for (int i = 0; i < n_layers; i++)
        for (int c = 0; c < 4; c++) {
            size_t start = b.n;
            u16(&b, 1);         /* RLE */
            size_t counts = b.n;
            for (int y = 0; y < h; y++) u16(&b, 0);
            plane_rle(&b, layers[i].image, c, counts, row, pk);
            set32(&b, len_at[i][c], (uint32_t)(b.n - start));
        }
    if ((b.n - li_at - 4) % 2) u8(&b, 0);  /* layer info is padded to an even length */
    set32(&b, li_at, (uint32_t)(b.n - li_at - 4));
    u32(&b, 0);                 /* global layer mask info */
    set32(&b, lmi_at, (uint32_t)(b.n - lmi_at - 4));

    /* Merged image: RLE, all row counts first (channel by channel), then the rows. */
    u16(&b, 1);
    size_t counts = b.n;
    for (int i = 0; i < 3 * h; i++) u16(&b, 0);
    for (int c = 0; c < 3; c++) plane_rle(&b, comp, c, counts + (size_t)c * h * 2, row, pk);

    free(row);
    free(pk);
    if (b.oom || b.n > UINT32_MAX) {
        free(b.p);
        snprintf(err, errlen, "psd: %s", b.oom ? "out of memory" : "the file would pass 4 GiB (PSD's limit)");
        return -1;
    }
    *out = b.p;
    *out_len = b.n;
    return 0;
}
