/* test_image_variants.c — the less common layouts real files use, written here with libpng and
 * libjpeg directly (our encoder only writes 8-bit): PNG palette with tRNS, 16-bit RGB, 1-bit
 * gray, gray+alpha, Adam7-interlaced; JPEG CMYK with the Adobe marker (inverted, as Photoshop
 * writes it) and progressive JPEG. Each must decode to the expected 8-bit values. A progressive
 * JPEG with 130 scans (a CPU bomb) is refused; one with 67 is not. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jpeglib.h>
#include <png.h>

#include "formats/image.h"

typedef struct wbuf {
    uint8_t *d;
    size_t n, cap;
} wbuf;

static void w_fn(png_structp p, png_bytep data, size_t n)
{
    wbuf *b = png_get_io_ptr(p);
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->d = realloc(b->d, b->cap);
        assert_non_null(b->d);
    }
    memcpy(b->d + b->n, data, n);
    b->n += n;
}
static void f_fn(png_structp p) { (void)p; }

/* Writes w x h rows (already in the file's layout) as a PNG of the given type. */
static wbuf write_png(int w, int h, int depth, int ctype, int interlace, uint8_t **rows,
                      const png_color *pal, int npal, const png_byte *trns, int ntrns)
{
    wbuf b = {0};
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(p);
    assert_non_null(p);
    assert_non_null(info);
    png_set_write_fn(p, &b, w_fn, f_fn);
    png_set_IHDR(p, info, (png_uint_32)w, (png_uint_32)h, depth, ctype, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(p, info, pal, npal);
    if (trns) png_set_tRNS(p, info, trns, ntrns, NULL);
    png_set_rows(p, info, rows);
    png_write_png(p, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&p, &info);
    return b;
}

static void test_png_palette_trns(void **st)
{
    (void)st;
    png_color pal[3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
    png_byte trns[3] = {255, 128, 0};
    uint8_t r0[4] = {0, 1, 2, 1}, r1[4] = {2, 2, 0, 0};
    uint8_t *rows[2] = {r0, r1};
    wbuf b = write_png(4, 2, 8, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, rows, pal, 3, trns, 3);
    oma_image img;
    char err[256];
    assert_int_equal(oma_image_decode(b.d, b.n, 0, 0, NULL, &img, err, sizeof err), 0);
    assert_int_equal(img.c, 4);
    static const uint8_t want[8][4] = {{255, 0, 0, 255}, {0, 255, 0, 128}, {0, 0, 255, 0}, {0, 255, 0, 128},
                                       {0, 0, 255, 0},   {0, 0, 255, 0},   {255, 0, 0, 255}, {255, 0, 0, 255}};
    assert_memory_equal(img.px, want, sizeof want);
    oma_image_free(&img);
    free(b.d);
}

static void test_png_16bit_and_gray(void **st)
{
    (void)st;
    oma_image img;
    char err[256];
    /* 16-bit RGB: the high byte is kept */
    uint8_t r16[2 * 6] = {0x12, 0x34, 0xab, 0xcd, 0xff, 0xff, 0x00, 0x01, 0x80, 0x00, 0x7f, 0xff};
    uint8_t *rows[1] = {r16};
    wbuf b = write_png(2, 1, 16, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, rows, NULL, 0, NULL, 0);
    assert_int_equal(oma_image_decode(b.d, b.n, 0, 0, NULL, &img, err, sizeof err), 0);
    assert_int_equal(img.c, 3);
    static const uint8_t want16[6] = {0x12, 0xab, 0xff, 0x00, 0x80, 0x7f};
    assert_memory_equal(img.px, want16, 6);
    oma_image_free(&img);
    free(b.d);
    /* 1-bit gray: 0 -> 0, 1 -> 255 */
    uint8_t g1[1] = {0xa0};   /* 1 0 1 0 0 ... */
    rows[0] = g1;
    b = write_png(5, 1, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, rows, NULL, 0, NULL, 0);
    assert_int_equal(oma_image_decode(b.d, b.n, 0, 0, NULL, &img, err, sizeof err), 0);
    assert_int_equal(img.c, 1);
    static const uint8_t want1[5] = {255, 0, 255, 0, 0};
    assert_memory_equal(img.px, want1, 5);
    oma_image_free(&img);
    free(b.d);
    /* gray + alpha -> RGBA */
    uint8_t ga[4] = {10, 200, 250, 0};
    rows[0] = ga;
    b = write_png(2, 1, 8, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_INTERLACE_NONE, rows, NULL, 0, NULL, 0);
    assert_int_equal(oma_image_decode(b.d, b.n, 0, 0, NULL, &img, err, sizeof err), 0);
    assert_int_equal(img.c, 4);
    static const uint8_t wantga[8] = {10, 10, 10, 200, 250, 250, 250, 0};
    assert_memory_equal(img.px, wantga, 8);
    oma_image_free(&img);
    free(b.d);
}

static void test_png_interlaced(void **st)
{
    (void)st;
    enum { W = 13, H = 11 };
    uint8_t data[H][W * 3];
    uint8_t *rows[H];
    for (int y = 0; y < H; y++) {
        rows[y] = data[y];
        for (int x = 0; x < W * 3; x++) data[y][x] = (uint8_t)(x * 7 + y * 31);
    }
    wbuf b = write_png(W, H, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_ADAM7, rows, NULL, 0, NULL, 0);
    oma_image img;
    char err[256];
    assert_int_equal(oma_image_decode(b.d, b.n, 3, 0, NULL, &img, err, sizeof err), 0);
    assert_memory_equal(img.px, data, sizeof data);
    oma_image_free(&img);
    /* truncated interlaced data is still an error */
    assert_int_equal(oma_image_decode(b.d, b.n - 30, 3, 0, NULL, &img, err, sizeof err), -1);
    free(b.d);
}

static uint8_t *write_jpeg(int w, int h, int comps, J_COLOR_SPACE cs, int progressive, const uint8_t *px,
                           size_t *len)
{
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr je;
    unsigned char *buf = NULL;
    unsigned long n = 0;
    ci.err = jpeg_std_error(&je);
    jpeg_create_compress(&ci);
    jpeg_mem_dest(&ci, &buf, &n);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = comps;
    ci.in_color_space = cs;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 100, TRUE);
    if (progressive) jpeg_simple_progression(&ci);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) {
        JSAMPROW r = (JSAMPROW)(px + (size_t)ci.next_scanline * w * comps);
        jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    *len = n;
    return buf;
}

static void test_jpeg_cmyk_and_progressive(void **st)
{
    (void)st;
    enum { W = 16, H = 16 };
    /* Adobe-style inverted CMYK: stored = 255 - ink. Left half red (ink 0,255,255,0), right half
     * 50 % gray (ink K = 128). */
    uint8_t cmyk[H][W * 4];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t *p = &cmyk[y][x * 4];
            if (x < W / 2) { p[0] = 255; p[1] = 0; p[2] = 0; p[3] = 255; }
            else { p[0] = 255; p[1] = 255; p[2] = 255; p[3] = 127; }
        }
    size_t len;
    uint8_t *jpg = write_jpeg(W, H, 4, JCS_CMYK, 0, &cmyk[0][0], &len);
    oma_image img;
    char err[256];
    assert_int_equal(oma_image_decode(jpg, len, 0, 0, NULL, &img, err, sizeof err), 0);
    assert_int_equal(img.c, 3);
    const uint8_t *red = img.px + (8 * W + 2) * 3, *gray = img.px + (8 * W + 13) * 3;
    assert_true(red[0] > 240 && red[1] < 15 && red[2] < 15);
    assert_true(abs(gray[0] - 127) < 8 && abs(gray[1] - 127) < 8 && abs(gray[2] - 127) < 8);
    oma_image_free(&img);
    free(jpg);

    uint8_t rgb[H][W * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W * 3; x++) rgb[y][x] = (uint8_t)(x * 5 + y * 3);
    jpg = write_jpeg(W, H, 3, JCS_RGB, 1, &rgb[0][0], &len);
    assert_int_equal(oma_image_decode(jpg, len, 3, 0, NULL, &img, err, sizeof err), 0);
    double sum = 0;
    for (int i = 0; i < W * H * 3; i++) sum += abs((int)img.px[i] - (int)(&rgb[0][0])[i]);
    assert_true(sum / (W * H * 3) < 4);
    oma_image_free(&img);
    /* a progressive file cut in the middle of its scans is an error */
    assert_int_equal(oma_image_decode(jpg, len / 2, 3, 0, NULL, &img, err, sizeof err), -1);
    free(jpg);
}

/* Gray progressive JPEG with a hand-written scan script: DC in 4 successive-approximation
 * scans, then every AC coefficient alone, in 1 (refine = 0) or 2 (first + refinement) scans. */
static uint8_t *many_scans(int refine, int *n_scans, size_t *len)
{
    static jpeg_scan_info sc[4 + 126];
    int n = 0;
    for (int al = 3; al >= 0; al--) {
        sc[n].comps_in_scan = 1;
        sc[n].component_index[0] = 0;
        sc[n].Ss = 0;
        sc[n].Se = 0;
        sc[n].Ah = al == 3 ? 0 : al + 1;
        sc[n].Al = al;
        n++;
    }
    for (int k = 1; k <= 63; k++)
        for (int pass = 0; pass <= refine; pass++) {
            sc[n].comps_in_scan = 1;
            sc[n].component_index[0] = 0;
            sc[n].Ss = k;
            sc[n].Se = k;
            sc[n].Ah = refine ? (pass ? 1 : 0) : 0;
            sc[n].Al = refine ? (pass ? 0 : 1) : 0;
            n++;
        }
    uint8_t px[32 * 32];
    for (int i = 0; i < 32 * 32; i++) px[i] = (uint8_t)(i * 13);
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr je;
    unsigned char *buf = NULL;
    unsigned long sz = 0;
    ci.err = jpeg_std_error(&je);
    jpeg_create_compress(&ci);
    jpeg_mem_dest(&ci, &buf, &sz);
    ci.image_width = 32;
    ci.image_height = 32;
    ci.input_components = 1;
    ci.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&ci);
    ci.scan_info = sc;
    ci.num_scans = n;
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < 32) {
        JSAMPROW r = px + ci.next_scanline * 32;
        jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    *n_scans = n;
    *len = sz;
    return buf;
}

static void test_jpeg_scan_bomb(void **st)
{
    (void)st;
    oma_image img;
    char err[256];
    size_t len;
    int n;
    uint8_t *jpg = many_scans(0, &n, &len);   /* 67 scans: fine */
    assert_int_equal(n, 67);
    assert_int_equal(oma_image_decode(jpg, len, 1, 0, NULL, &img, err, sizeof err), 0);
    oma_image_free(&img);
    free(jpg);
    jpg = many_scans(1, &n, &len);            /* 130 scans: refused */
    assert_int_equal(n, 130);
    assert_int_equal(oma_image_decode(jpg, len, 1, 0, NULL, &img, err, sizeof err), -1);
    assert_non_null(strstr(err, "scans"));
    assert_null(img.px);
    free(jpg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_palette_trns),
        cmocka_unit_test(test_png_16bit_and_gray),
        cmocka_unit_test(test_png_interlaced),
        cmocka_unit_test(test_jpeg_cmyk_and_progressive),
        cmocka_unit_test(test_jpeg_scan_bomb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
