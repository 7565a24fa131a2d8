/* test_psd.c — the layered PSD writer, read back by a small independent reader written here
 * from the Adobe file format description: header, empty colour-mode and resource sections,
 * layer records (bounds, channel ids and lengths, blend mode, names), PackBits channel data
 * and the merged image must reproduce every pixel. Also PackBits round trips on edge cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "formats/image.h"
#include "formats/psd.h"

typedef struct { const uint8_t *p; size_t n, at; } rd;

static uint32_t r8(rd *r) { assert_true(r->at + 1 <= r->n); return r->p[r->at++]; }
static uint32_t r16(rd *r) { uint32_t v = r8(r) << 8; return v | r8(r); }
static uint32_t r32(rd *r) { uint32_t v = r16(r) << 16; return v | r16(r); }

/* PackBits decoder: exactly n output bytes from exactly len input bytes. */
static void unpack(const uint8_t *s, size_t len, uint8_t *d, size_t n)
{
    size_t i = 0, o = 0;
    while (i < len) {
        int h = (int8_t)s[i++];
        if (h >= 0) {
            assert_true(i + (size_t)h + 1 <= len && o + (size_t)h + 1 <= n);
            memcpy(d + o, s + i, (size_t)h + 1);
            i += (size_t)h + 1; o += (size_t)h + 1;
        } else if (h != -128) {
            assert_true(i < len && o + (size_t)(1 - h) <= n);
            memset(d + o, s[i++], (size_t)(1 - h));
            o += (size_t)(1 - h);
        }
    }
    assert_int_equal(o, n);
}

static void test_packbits(void **state)
{
    (void)state;
    uint8_t src[1000], pk[1100], back[1000];
    uint32_t s = 99;
    for (int kind = 0; kind < 5; kind++) {
        size_t n = kind == 4 ? 1 : 1000;
        for (size_t i = 0; i < n; i++) {
            s = s * 1664525u + 1013904223u;
            src[i] = kind == 0 ? 0 : kind == 1 ? (uint8_t)(s >> 24) : kind == 2 ? (uint8_t)((i / 3) & 1) : (uint8_t)((i / 200) * 7);
        }
        size_t m = oma_packbits(src, n, pk);
        assert_true(m <= n + n / 128 + 1);
        unpack(pk, m, back, n);
        assert_memory_equal(src, back, n);
    }
}

static void read_plane_rle(rd *r, uint8_t *out, int w, int h)
{
    uint32_t *counts = malloc((size_t)h * sizeof *counts);
    assert_non_null(counts);
    for (int y = 0; y < h; y++) counts[y] = r16(r);
    for (int y = 0; y < h; y++) {
        assert_true(r->at + counts[y] <= r->n);
        unpack(r->p + r->at, counts[y], out + (size_t)y * w, (size_t)w);
        r->at += counts[y];
    }
    free(counts);
}

static void test_layers_read_back(void **state)
{
    (void)state;
    const int w = 37, h = 23;
    oma_image comp = {0}, lay[3] = {{0}};
    assert_int_equal(oma_image_alloc(&comp, w, h, 3), 0);
    uint32_t s = 7;
    for (size_t i = 0; i < (size_t)w * h * 3; i++) { s = s * 1664525u + 1013904223u; comp.px[i] = (uint8_t)(s >> 24); }
    for (int l = 0; l < 3; l++) {
        assert_int_equal(oma_image_alloc(&lay[l], w, h, 4), 0);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                uint8_t *p = lay[l].px + ((size_t)y * w + x) * 4;
                s = s * 1664525u + 1013904223u;
                int on = l == 0 || ((x + y * (l + 1)) % 5 == 0);
                p[0] = (uint8_t)(l * 80 + x); p[1] = (uint8_t)(s >> 24); p[2] = (uint8_t)y; p[3] = on ? 255 : 0;
            }
    }
    const char *names[3] = {"flats", "tones", "a layer with a longer name"};
    oma_psd_layer layers[3] = {{names[0], &lay[0]}, {names[1], &lay[1]}, {names[2], &lay[2]}};
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[128];
    assert_int_equal(oma_psd_write(&comp, layers, 3, &buf, &len, err, sizeof err), 0);

    rd r = {buf, len, 0};
    assert_memory_equal(buf, "8BPS", 4);
    r.at = 4;
    assert_int_equal(r16(&r), 1);
    for (int i = 0; i < 6; i++) assert_int_equal(r8(&r), 0);
    assert_int_equal(r16(&r), 3);          /* channels */
    assert_int_equal(r32(&r), (uint32_t)h);
    assert_int_equal(r32(&r), (uint32_t)w);
    assert_int_equal(r16(&r), 8);          /* depth */
    assert_int_equal(r16(&r), 3);          /* RGB */
    assert_int_equal(r32(&r), 0);          /* colour mode data */
    assert_int_equal(r32(&r), 0);          /* image resources */
    uint32_t lmi = r32(&r);
    size_t lmi_end = r.at + lmi;
    uint32_t li = r32(&r);
    assert_int_equal(li % 2, 0);
    size_t li_end = r.at + li;
    assert_int_equal(r16(&r), 3);
    uint32_t chlen[3][4];
    for (int l = 0; l < 3; l++) {
        assert_int_equal(r32(&r), 0); assert_int_equal(r32(&r), 0);
        assert_int_equal(r32(&r), (uint32_t)h); assert_int_equal(r32(&r), (uint32_t)w);
        assert_int_equal(r16(&r), 4);
        const int ids[4] = {0, 1, 2, 0xffff};
        for (int c = 0; c < 4; c++) {
            assert_int_equal(r16(&r), (uint32_t)ids[c]);
            chlen[l][c] = r32(&r);
        }
        assert_memory_equal(buf + r.at, "8BIMnorm", 8);
        r.at += 8;
        assert_int_equal(r8(&r), 255);      /* opacity */
        r.at += 3;
        uint32_t extra = r32(&r);
        size_t extra_end = r.at + extra;
        assert_int_equal(r32(&r), 0);
        assert_int_equal(r32(&r), 0);
        uint32_t nl = r8(&r);
        assert_int_equal(nl, strlen(names[l]));
        assert_memory_equal(buf + r.at, names[l], nl);
        assert_int_equal((nl + 1) % 4 == 0 ? 0 : 1, (extra - 8) != nl + 1);
        r.at = extra_end;
    }
    uint8_t *plane = malloc((size_t)w * h);
    assert_non_null(plane);
    for (int l = 0; l < 3; l++)
        for (int c = 0; c < 4; c++) {
            size_t start = r.at;
            assert_int_equal(r16(&r), 1);   /* RLE */
            read_plane_rle(&r, plane, w, h);
            assert_int_equal(r.at - start, chlen[l][c]);
            for (size_t i = 0; i < (size_t)w * h; i++) assert_int_equal(plane[i], lay[l].px[i * 4 + (size_t)c]);
        }
    assert_true(r.at <= li_end && li_end - r.at <= 1);
    r.at = li_end;
    assert_int_equal(r32(&r), 0);          /* global mask */
    assert_int_equal(r.at, lmi_end);
    assert_int_equal(r16(&r), 1);
    uint32_t *counts = malloc((size_t)3 * h * sizeof *counts);
    assert_non_null(counts);
    for (int i = 0; i < 3 * h; i++) counts[i] = r16(&r);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < h; y++) {
            unpack(buf + r.at, counts[c * h + y], plane, (size_t)w);
            r.at += counts[c * h + y];
            for (int x = 0; x < w; x++) assert_int_equal(plane[x], comp.px[((size_t)y * w + x) * 3 + (size_t)c]);
        }
    assert_int_equal(r.at, len);
    free(counts);
    free(plane);
    free(buf);

    /* Mismatched layer sizes and channel counts are refused. */
    oma_image small = {0};
    assert_int_equal(oma_image_alloc(&small, 5, 5, 4), 0);
    oma_psd_layer bad[1] = {{"x", &small}};
    assert_int_equal(oma_psd_write(&comp, bad, 1, &buf, &len, err, sizeof err), -1);
    oma_psd_layer rgb[1] = {{"x", &comp}};
    assert_int_equal(oma_psd_write(&comp, rgb, 1, &buf, &len, err, sizeof err), -1);
    assert_null(buf);
    oma_image_free(&small);
    oma_image_free(&comp);
    for (int l = 0; l < 3; l++) oma_image_free(&lay[l]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_packbits), cmocka_unit_test(test_layers_read_back)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
