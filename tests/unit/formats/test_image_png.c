/* test_image_png.c — PNG decode/encode: round trips in every channel count, 1x1, tEXt chunk,
 * truncation at many cut points, a real decompression bomb (a valid 30000x30000 PNG built
 * here with zlib) refused by its header, and corrupted bytes. Images are built in memory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <png.h>
#include <zlib.h>

#include "formats/image.h"

static void fill_noise(oma_image *img, uint32_t seed)
{
    size_t n = (size_t)img->w * img->h * img->c;
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        img->px[i] = (uint8_t)(seed >> 24);
    }
}

static void roundtrip(int w, int h, int c)
{
    oma_image a, b;
    uint8_t *png = NULL;
    size_t len = 0;
    char err[256] = "";
    assert_int_equal(oma_image_alloc(&a, w, h, c), 0);
    fill_noise(&a, (uint32_t)(w * 131 + h * 7 + c));
    assert_int_equal(oma_image_encode_png(&a, NULL, NULL, &png, &len, err, sizeof err), 0);
    assert_int_equal(oma_image_sniff(png, len), OMA_IMG_PNG);
    int pw = 0, ph = 0;
    oma_image_format f;
    assert_int_equal(oma_image_probe(png, len, &f, &pw, &ph, err, sizeof err), 0);
    assert_int_equal(pw, w);
    assert_int_equal(ph, h);
    assert_int_equal(oma_image_decode(png, len, 0, 1, NULL, &b, err, sizeof err), 0);
    assert_int_equal(b.w, w);
    assert_int_equal(b.h, h);
    assert_int_equal(b.c, c);
    assert_memory_equal(a.px, b.px, (size_t)w * h * c);
    oma_image_free(&b);
    /* asking for RGBA gives opaque alpha for non-alpha sources, same colours */
    assert_int_equal(oma_image_decode(png, len, 4, 1, NULL, &b, err, sizeof err), 0);
    assert_int_equal(b.c, 4);
    if (c == 3) {
        for (int i = 0; i < w * h; i++) {
            assert_memory_equal(b.px + 4 * i, a.px + 3 * i, 3);
            assert_int_equal(b.px[4 * i + 3], 255);
        }
    }
    oma_image_free(&b);
    free(png);
    oma_image_free(&a);
}

static void test_roundtrips(void **st)
{
    (void)st;
    roundtrip(37, 23, 1);
    roundtrip(37, 23, 3);
    roundtrip(37, 23, 4);
    roundtrip(1, 1, 1);
    roundtrip(1, 1, 3);
    roundtrip(1, 1, 4);
    roundtrip(1, 300, 4);
}

/* Finds the tEXt chunk with libpng itself, independent of our decoder. */
typedef struct rd { const uint8_t *d; size_t n, pos; } rd;
static void rd_fn(png_structp p, png_bytep out, size_t n)
{
    rd *r = png_get_io_ptr(p);
    if (n > r->n - r->pos) png_error(p, "eof");
    memcpy(out, r->d + r->pos, n);
    r->pos += n;
}

static void test_text_chunk(void **st)
{
    (void)st;
    oma_image a;
    uint8_t *png = NULL;
    size_t len = 0;
    char err[256];
    assert_int_equal(oma_image_alloc(&a, 4, 4, 3), 0);
    const char *val = "a castle, Steps: 20, Sampler: Euler a, CFG scale: 7.5, Seed: 42";
    assert_int_equal(oma_image_encode_png(&a, "parameters", val, &png, &len, err, sizeof err), 0);
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(p);
    rd r = {png, len, 0};
    png_set_read_fn(p, &r, rd_fn);
    png_read_info(p, info);
    png_textp t = NULL;
    int nt = 0;
    png_get_text(p, info, &t, &nt);
    assert_int_equal(nt, 1);
    assert_string_equal(t[0].key, "parameters");
    assert_string_equal(t[0].text, val);
    png_destroy_read_struct(&p, &info, NULL);
    free(png);
    /* bad keys are refused */
    assert_int_equal(oma_image_encode_png(&a, "", "x", &png, &len, err, sizeof err), -1);
    char longkey[100];
    memset(longkey, 'k', 99);
    longkey[99] = 0;
    assert_int_equal(oma_image_encode_png(&a, longkey, "x", &png, &len, err, sizeof err), -1);
    oma_image_free(&a);
}

static void test_truncated(void **st)
{
    (void)st;
    oma_image a, b;
    uint8_t *png = NULL;
    size_t len = 0;
    char err[256];
    assert_int_equal(oma_image_alloc(&a, 64, 48, 4), 0);
    fill_noise(&a, 99);
    assert_int_equal(oma_image_encode_png(&a, NULL, NULL, &png, &len, err, sizeof err), 0);
    size_t cuts[] = {0, 1, 7, 8, 12, 20, 29, 33, 40, len / 3, len / 2, len - 100, len - 13, len - 12, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        err[0] = 0;
        uint8_t *copy = malloc(cuts[i] ? cuts[i] : 1);   /* exact-size buffer: ASan sees overreads */
        memcpy(copy, png, cuts[i]);
        assert_int_equal(oma_image_decode(copy, cuts[i], 4, 1, NULL, &b, err, sizeof err), -1);
        assert_true(strlen(err) > 0);
        assert_null(b.px);
        free(copy);
    }
    /* the full file still decodes */
    assert_int_equal(oma_image_decode(png, len, 4, 1, NULL, &b, err, sizeof err), 0);
    oma_image_free(&b);
    free(png);
    oma_image_free(&a);
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Appends one chunk (length, type, data, CRC) to buf at *pos. */
static void chunk(uint8_t *buf, size_t *pos, const char *type, const uint8_t *data, uint32_t n)
{
    put32(buf + *pos, n);
    memcpy(buf + *pos + 4, type, 4);
    if (n) memcpy(buf + *pos + 8, data, n);
    uLong crc = crc32(0L, buf + *pos + 4, 4 + n);
    put32(buf + *pos + 8 + n, (uint32_t)crc);
    *pos += 12 + n;
}

/* A valid 1-bit grayscale PNG of w x h, all black: tiny file, huge when decoded. */
static uint8_t *make_bomb(uint32_t w, uint32_t h, size_t *out_len)
{
    size_t row = 1 + (w + 7) / 8;
    uint8_t *zero = calloc(row, 1);
    size_t cap = 8 + 25 + 12 + 12 + (1u << 20);
    uint8_t *buf = malloc(cap);
    uint8_t *z = malloc(1u << 20);
    assert_non_null(zero);
    assert_non_null(buf);
    assert_non_null(z);
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit(&zs, 9), Z_OK);
    zs.next_out = z;
    zs.avail_out = 1u << 20;
    for (uint32_t y = 0; y < h; y++) {
        zs.next_in = zero;
        zs.avail_in = (uInt)row;
        assert_int_equal(deflate(&zs, y + 1 == h ? Z_FINISH : Z_NO_FLUSH), y + 1 == h ? Z_STREAM_END : Z_OK);
        assert_true(zs.avail_out > 0);
    }
    size_t zlen = (1u << 20) - zs.avail_out;
    deflateEnd(&zs);
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    size_t pos = 8;
    memcpy(buf, sig, 8);
    uint8_t ihdr[13] = {0};
    put32(ihdr, w);
    put32(ihdr + 4, h);
    ihdr[8] = 1;   /* bit depth */
    ihdr[9] = 0;   /* gray */
    chunk(buf, &pos, "IHDR", ihdr, 13);
    chunk(buf, &pos, "IDAT", z, (uint32_t)zlen);
    chunk(buf, &pos, "IEND", NULL, 0);
    free(z);
    free(zero);
    *out_len = pos;
    return buf;
}

static void test_bomb(void **st)
{
    (void)st;
    size_t len;
    char err[256] = "";
    oma_image b;
    uint8_t *bomb = make_bomb(30000, 30000, &len);
    assert_true(len < (1u << 20));   /* ~100 KiB that would inflate to 900 Mpx */
    int w = 0, h = 0;
    assert_int_equal(oma_image_probe(bomb, len, NULL, &w, &h, err, sizeof err), 0);
    assert_int_equal(w, 30000);
    assert_int_equal(h, 30000);
    assert_int_equal(oma_image_decode(bomb, len, 4, 1, NULL, &b, err, sizeof err), -1);
    assert_non_null(strstr(err, "decompression bomb"));
    assert_null(b.px);
    free(bomb);

    /* the same construction at a small size is a valid image: the bomb was refused for its size */
    bomb = make_bomb(20, 10, &len);
    assert_int_equal(oma_image_decode(bomb, len, 1, 1, NULL, &b, err, sizeof err), 0);
    assert_int_equal(b.w, 20);
    assert_int_equal(b.h, 10);
    for (int i = 0; i < 200; i++) assert_int_equal(b.px[i], 0);
    oma_image_free(&b);
    /* custom limits apply: 20x10 refused when max_side is 16 */
    oma_image_limits lim = {16, 1000};
    assert_int_equal(oma_image_decode(bomb, len, 1, 1, &lim, &b, err, sizeof err), -1);
    lim.max_side = 100;
    lim.max_pixels = 199;
    assert_int_equal(oma_image_decode(bomb, len, 1, 1, &lim, &b, err, sizeof err), -1);
    lim.max_pixels = 200;
    assert_int_equal(oma_image_decode(bomb, len, 1, 1, &lim, &b, err, sizeof err), 0);
    oma_image_free(&b);
    free(bomb);
}

static void test_corrupt(void **st)
{
    (void)st;
    oma_image a, b;
    uint8_t *png = NULL;
    size_t len = 0;
    char err[256];
    assert_int_equal(oma_image_alloc(&a, 40, 30, 3), 0);
    fill_noise(&a, 5);
    assert_int_equal(oma_image_encode_png(&a, NULL, NULL, &png, &len, err, sizeof err), 0);
    /* flip a byte in the IHDR data (CRC then fails), in the IDAT data, and in the IDAT CRC */
    size_t spots[] = {18, 45, 60, len / 2, len - 17};
    for (size_t i = 0; i < sizeof spots / sizeof spots[0]; i++) {
        uint8_t *copy = malloc(len);
        memcpy(copy, png, len);
        copy[spots[i]] ^= 0x5a;
        err[0] = 0;
        assert_int_equal(oma_image_decode(copy, len, 0, 1, NULL, &b, err, sizeof err), -1);
        assert_true(strlen(err) > 0);
        free(copy);
    }
    /* IHDR declaring width 0 */
    uint8_t *copy = malloc(len);
    memcpy(copy, png, len);
    memset(copy + 16, 0, 4);
    assert_int_equal(oma_image_decode(copy, len, 0, 1, NULL, &b, err, sizeof err), -1);
    assert_int_equal(oma_image_probe(copy, len, NULL, NULL, NULL, err, sizeof err), -1);
    free(copy);
    free(png);
    oma_image_free(&a);
}

static void test_save_load(void **st)
{
    (void)st;
    oma_image a, b;
    char err[256];
    char path[] = "/tmp/oma_test_image_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(oma_image_alloc(&a, 9, 7, 4), 0);
    fill_noise(&a, 77);
    assert_int_equal(oma_image_save_png(path, &a, err, sizeof err), 0);
    assert_int_equal(oma_image_load(path, 0, NULL, &b, err, sizeof err), 0);
    assert_int_equal(b.c, 4);
    assert_memory_equal(a.px, b.px, 9 * 7 * 4);
    oma_image_free(&b);
    unlink(path);
    assert_int_equal(oma_image_load(path, 0, NULL, &b, err, sizeof err), -1);
    assert_non_null(strstr(err, path));
    oma_image_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrips), cmocka_unit_test(test_text_chunk),
        cmocka_unit_test(test_truncated),  cmocka_unit_test(test_bomb),
        cmocka_unit_test(test_corrupt),    cmocka_unit_test(test_save_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
