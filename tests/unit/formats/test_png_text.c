/* test_png_text.c — a PNG's text chunks read from the bytes: tEXt (Latin-1 to UTF-8), zTXt and
 * iTXt (plain and compressed) in file order; our encoder's "parameters" (tEXt for ASCII, iTXt for
 * other UTF-8) read back; and hostile files refused with an error, never a crash: not a PNG,
 * truncated, a length past the end, a zTXt that inflates past the 1 MiB cap. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "formats/image.h"
#include "formats/png_text.h"

#include "check.h"

static size_t put_chunk(uint8_t *o, const char *type, const uint8_t *d, size_t n)
{
    o[0] = (uint8_t)(n >> 24);
    o[1] = (uint8_t)(n >> 16);
    o[2] = (uint8_t)(n >> 8);
    o[3] = (uint8_t)n;
    memcpy(o + 4, type, 4);
    if (n) memcpy(o + 8, d, n);
    uint32_t c = (uint32_t)crc32(0, o + 4, (uInt)(n + 4));
    o[8 + n] = (uint8_t)(c >> 24);
    o[9 + n] = (uint8_t)(c >> 16);
    o[10 + n] = (uint8_t)(c >> 8);
    o[11 + n] = (uint8_t)c;
    return n + 12;
}

typedef struct seen {
    char keys[8][80];
    char *values[8];
    int n;
} seen;

static int collect(const char *key, const char *value, void *arg)
{
    seen *s = arg;
    if (s->n >= 8) return 7;
    snprintf(s->keys[s->n], 80, "%s", key);
    s->values[s->n++] = strdup(value);
    return 0;
}

static void seen_free(seen *s)
{
    for (int i = 0; i < s->n; i++) free(s->values[i]);
    s->n = 0;
}

int main(void)
{
    static uint8_t buf[1 << 16];
    uint8_t *zbig = NULL;
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    size_t n = 0;
    memcpy(buf, sig, 8);
    n = 8;
    uint8_t ihdr[13] = {0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0};
    n += put_chunk(buf + n, "IHDR", ihdr, 13);
    n += put_chunk(buf + n, "tEXt", (const uint8_t *)"Title\0caf\xe9", 10);   /* Latin-1 é */
    uint8_t z[256];
    uLongf zl = sizeof z - 9;
    memcpy(z, "Comment\0\0", 9);
    CHECK(compress(z + 9, &zl, (const uint8_t *)"zipped text", 11) == Z_OK);
    n += put_chunk(buf + n, "zTXt", z, 9 + zl);
    const char itxt[] = "parameters\0\0\0\0\0\xe7\x8c\xab\nSteps: 2";   /* key, flags, lang, translated, UTF-8 */
    n += put_chunk(buf + n, "iTXt", (const uint8_t *)itxt, sizeof itxt - 1);
    uint8_t zi[256];
    memcpy(zi, "Zipped\0\x01\0\0\0", 11);
    zl = sizeof zi - 11;
    CHECK(compress(zi + 11, &zl, (const uint8_t *)"\xc3\xa9t\xc3\xa9", 6) == Z_OK);
    n += put_chunk(buf + n, "iTXt", zi, 11 + zl);
    n += put_chunk(buf + n, "IEND", NULL, 0);

    char err[256];
    seen s = {0};
    CHECK(oma_png_text_each(buf, n, collect, &s, err, sizeof err) == 0);
    CHECK(s.n == 4);
    CHECK(s.n == 4 && !strcmp(s.keys[0], "Title") && !strcmp(s.values[0], "caf\xc3\xa9"));
    CHECK(s.n == 4 && !strcmp(s.keys[1], "Comment") && !strcmp(s.values[1], "zipped text"));
    CHECK(s.n == 4 && !strcmp(s.keys[2], "parameters") && !strcmp(s.values[2], "\xe7\x8c\xab\nSteps: 2"));
    CHECK(s.n == 4 && !strcmp(s.keys[3], "Zipped") && !strcmp(s.values[3], "\xc3\xa9t\xc3\xa9"));
    seen_free(&s);

    /* the callback's non-zero stops the walk */
    CHECK(oma_png_text_each(buf, n, collect, &s, err, sizeof err) == 0);
    seen_free(&s);

    /* our encoder: ASCII as tEXt, other UTF-8 as iTXt, both read back the same */
    oma_image img = {0};
    CHECK(oma_image_alloc(&img, 4, 4, 3) == 0);
    const char *vals[2] = {"a cat\nSteps: 3", "\xe7\x8c\xab, caf\xc3\xa9\nSteps: 3"};
    for (int i = 0; i < 2; i++) {
        uint8_t *png = NULL;
        size_t len = 0;
        CHECK(oma_image_encode_png(&img, "parameters", vals[i], &png, &len, err, sizeof err) == 0);
        CHECK(png && oma_png_text_each(png, len, collect, &s, err, sizeof err) == 0);
        CHECK(s.n == 1 && !strcmp(s.keys[0], "parameters") && !strcmp(s.values[0], vals[i]));
        int has_itxt = 0;
        for (size_t k = 0; png && k + 4 <= len; k++) has_itxt |= !memcmp(png + k, "iTXt", 4);
        CHECK(has_itxt == i);
        seen_free(&s);
        oma_image dec = {0};
        CHECK(png && oma_image_decode(png, len, 3, 0, NULL, &dec, err, sizeof err) == 0);   /* still a good PNG */
        oma_image_free(&dec);
        free(png);
    }
    oma_image_free(&img);

    /* hostile */
    CHECK(oma_png_text_each((const uint8_t *)"GIF89a..", 8, collect, &s, err, sizeof err) == -1);
    CHECK(oma_png_text_each(buf, n - 5, collect, &s, err, sizeof err) == -1);   /* cut inside IEND */
    seen_free(&s);
    uint8_t bad[64];
    memcpy(bad, sig, 8);
    size_t bn = 8 + put_chunk(bad + 8, "IHDR", ihdr, 13);
    bad[bn] = 0x7f;   /* a tEXt claiming ~2 GB */
    bad[bn + 1] = bad[bn + 2] = bad[bn + 3] = 0xff;
    memcpy(bad + bn + 4, "tEXt", 4);
    CHECK(oma_png_text_each(bad, bn + 20, collect, &s, err, sizeof err) == -1);
    /* a zTXt that inflates past the cap (2 MiB of zeros) */
    size_t big = 2u << 20;
    uint8_t *zeros = calloc(1, big);
    uLongf zb = compressBound((uLong)big);
    zbig = malloc(zb + 16);
    uint8_t *file = malloc(zb + 64);
    if (zeros && zbig && file) {
        memcpy(zbig, "Bomb\0\0", 6);
        CHECK(compress(zbig + 6, &zb, zeros, (uLong)big) == Z_OK);
        memcpy(file, sig, 8);
        size_t fn = 8 + put_chunk(file + 8, "IHDR", ihdr, 13);
        fn += put_chunk(file + fn, "zTXt", zbig, 6 + zb);
        fn += put_chunk(file + fn, "IEND", NULL, 0);
        CHECK(oma_png_text_each(file, fn, collect, &s, err, sizeof err) == -1);
        CHECK(strstr(err, "over") != NULL);
        /* and a corrupt stream */
        file[8 + 25 + 8 + 10] ^= 0xff;
        CHECK(oma_png_text_each(file, fn, collect, &s, err, sizeof err) == -1);
    }
    free(zeros);
    free(zbig);
    free(file);
    seen_free(&s);
    if (failures) {
        fprintf(stderr, "test_png_text: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_png_text: ok\n");
    return 0;
}
