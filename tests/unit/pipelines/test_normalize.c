/* test_normalize.c — the image.normalize job kind through its registry entry with a fake job
 * context: params validation (negative, huge, wrong types, unknown fit), each fit mode's
 * geometry and pixels, EXIF rotation, multiple_of rounding, progress and cancellation, and
 * undecodable input failing cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jpeglib.h>

#include "formats/image.h"
#include "pipelines/job_kind.h"
#include "pipelines/image/normalize.h"

typedef struct fake {
    oma_job_ctx ctx;
    oma_job_input in;
    int n_progress;
    double last_fraction;
    int cancel_at;   /* cancel on the n-th progress call (1-based), 0 = never */
    int n_outputs;
    char out_name[64];
    uint8_t *out;
    size_t out_len;
} fake;

static int fake_progress(oma_job_ctx *ctx, double f, const char *msg, const uint8_t *p, size_t n)
{
    fake *fk = ctx->opaque;
    (void)msg;
    (void)p;
    (void)n;
    assert_true(f >= fk->last_fraction);   /* monotonic */
    assert_true(f >= 0 && f <= 1);
    fk->last_fraction = f;
    fk->n_progress++;
    return fk->cancel_at && fk->n_progress >= fk->cancel_at;
}

static int fake_output(oma_job_ctx *ctx, const char *name, const char *mime, const uint8_t *d, size_t n)
{
    fake *fk = ctx->opaque;
    assert_string_equal(mime, "image/png");
    snprintf(fk->out_name, sizeof fk->out_name, "%s", name);
    free(fk->out);
    fk->out = malloc(n);
    assert_non_null(fk->out);
    memcpy(fk->out, d, n);
    fk->out_len = n;
    fk->n_outputs++;
    return 0;
}

static const oma_job_kind *kind(void)
{
    const oma_job_kind *k = oma_job_kind_find("image.normalize");
    assert_non_null(k);
    return k;
}

/* Runs the kind on the given bytes with params given as JSON text; returns run()'s status. */
static int run_kind(fake *fk, const uint8_t *data, size_t len, const char *params_json, int cancel_at)
{
    memset(fk, 0, sizeof *fk);
    json_error_t je;
    json_t *params = json_loads(params_json, 0, &je);
    assert_non_null(params);
    char err[256];
    assert_int_equal(kind()->validate(params, err, sizeof err), 0);
    fk->in.name = "image";
    fk->in.data = data;
    fk->in.len = len;
    fk->in.mime = "image/png";
    fk->ctx.params = params;
    fk->ctx.inputs = &fk->in;
    fk->ctx.n_inputs = 1;
    fk->ctx.progress = fake_progress;
    fk->ctx.add_output = fake_output;
    fk->ctx.opaque = fk;
    fk->cancel_at = cancel_at;
    int rc = kind()->run(&fk->ctx);
    json_decref(params);
    return rc;
}

static void fake_free(fake *fk)
{
    free(fk->out);
    json_decref(fk->ctx.result);
    fk->out = NULL;
    fk->ctx.result = NULL;
}

static uint8_t *png_of(const oma_image *img, size_t *len)
{
    uint8_t *png;
    char err[256];
    assert_int_equal(oma_image_encode_png(img, NULL, NULL, &png, len, err, sizeof err), 0);
    return png;
}

/* w x h RGB picture: left half red, right half blue. */
static uint8_t *two_halves_png(int w, int h, size_t *len)
{
    oma_image a;
    assert_int_equal(oma_image_alloc(&a, w, h, 3), 0);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = a.px + ((size_t)y * w + x) * 3;
            if (x < w / 2) p[0] = 255;
            else p[2] = 255;
        }
    uint8_t *png = png_of(&a, len);
    oma_image_free(&a);
    return png;
}

static void decode_out(fake *fk, oma_image *img)
{
    char err[256];
    assert_int_equal(fk->n_outputs, 1);
    assert_string_equal(fk->out_name, "image.png");
    assert_int_equal(oma_image_decode(fk->out, fk->out_len, 0, 0, NULL, img, err, sizeof err), 0);
}

static void test_validate(void **st)
{
    (void)st;
    const char *bad[] = {
        "{\"max_side\": -5}", "{\"max_side\": 0}", "{\"max_side\": 100000}", "{\"max_side\": \"big\"}",
        "{\"width\": -1, \"height\": 10}", "{\"width\": 99999, \"height\": 64}", "{\"height\": 1e12}",
        "{\"width\": 12.5}", "{\"fit\": \"stretch\"}", "{\"fit\": 3}", "{\"multiple_of\": 0}",
        "{\"multiple_of\": 1000}", "{\"width\": 4, \"multiple_of\": 8}", "{\"max_side\": 4}",
        "{\"width\": 8192, \"height\": 8192}", "[1, 2]", "{\"width\": true}",
        "{\"something_else\": 1}", "{\"max_sidee\": 512}",
    };
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *p = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        assert_non_null(p);
        err[0] = 0;
        if (kind()->validate(p, err, sizeof err) != -1) {
            print_error("accepted bad params %s\n", bad[i]);
            fail();
        }
        assert_true(strlen(err) > 0);
        json_decref(p);
    }
    const char *good[] = {"{}", "{\"max_side\": 512}", "{\"width\": 512, \"height\": 768, \"fit\": \"cover\"}",
                          "{\"width\": 512.0, \"height\": 512, \"fit\": \"none\", \"multiple_of\": 64}",
                          "{\"fit\": null, \"width\": 64}", "{\"style_id\": \"abc\", \"max_side\": 64}"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        json_t *p = json_loads(good[i], 0, NULL);
        assert_non_null(p);
        assert_int_equal(kind()->validate(p, err, sizeof err), 0);
        json_decref(p);
    }
    assert_int_equal(kind()->available(NULL), 1);
    assert_string_equal(kind()->required_inputs[0], "image");
}

static void test_max_side(void **st)
{
    (void)st;
    fake fk;
    size_t len;
    oma_image out;
    uint8_t *png = two_halves_png(300, 200, &len);
    /* 300x200 with max_side 100: 100x66.67 -> multiples of 8: 96x64 */
    assert_int_equal(run_kind(&fk, png, len, "{\"max_side\": 100}", 0), 0);
    decode_out(&fk, &out);
    assert_int_equal(out.w, 96);
    assert_int_equal(out.h, 64);
    assert_int_equal(out.c, 3);
    assert_int_equal(json_integer_value(json_object_get(fk.ctx.result, "width")), 96);
    assert_int_equal(json_integer_value(json_object_get(fk.ctx.result, "source_width")), 300);
    assert_true(fk.n_progress >= 3);
    assert_true(fk.last_fraction == 1.0);
    /* left red, right blue, border in the middle */
    assert_true(out.px[(32 * 96 + 10) * 3 + 0] > 250 && out.px[(32 * 96 + 10) * 3 + 2] < 5);
    assert_true(out.px[(32 * 96 + 85) * 3 + 2] > 250 && out.px[(32 * 96 + 85) * 3 + 0] < 5);
    oma_image_free(&out);
    fake_free(&fk);
    /* never enlarges: max_side 1024 on 300x200 keeps 296x200 (multiple of 8) */
    assert_int_equal(run_kind(&fk, png, len, "{}", 0), 0);
    decode_out(&fk, &out);
    assert_int_equal(out.w, 296);
    assert_int_equal(out.h, 200);
    oma_image_free(&out);
    fake_free(&fk);
    /* multiple_of 1 keeps the exact size */
    assert_int_equal(run_kind(&fk, png, len, "{\"multiple_of\": 1}", 0), 0);
    decode_out(&fk, &out);
    assert_int_equal(out.w, 300);
    assert_int_equal(out.h, 200);
    oma_image_free(&out);
    fake_free(&fk);
    /* width alone keeps the aspect */
    assert_int_equal(run_kind(&fk, png, len, "{\"width\": 150, \"multiple_of\": 2}", 0), 0);
    decode_out(&fk, &out);
    assert_int_equal(out.w, 150);
    assert_int_equal(out.h, 100);
    oma_image_free(&out);
    fake_free(&fk);
    free(png);
}

static void test_fits(void **st)
{
    (void)st;
    fake fk;
    size_t len;
    oma_image out;
    uint8_t *png = two_halves_png(200, 100, &len);
    /* contain into 128x128: picture 128x64 centred, transparent bars above and below */
    assert_int_equal(run_kind(&fk, png, len, "{\"width\":128,\"height\":128,\"fit\":\"contain\"}", 0), 0);
    decode_out(&fk, &out);
    assert_int_equal(out.w, 128);
    assert_int_equal(out.h, 128);
    assert_int_equal(out.c, 4);
    assert_int_equal(out.px[(5 * 128 + 64) * 4 + 3], 0);      /* top bar */
    assert_int_equal(out.px[(122 * 128 + 64) * 4 + 3], 0);    /* bottom bar */
    assert_int_equal(out.px[(64 * 128 + 10) * 4 + 3], 255);   /* picture */
    assert_true(out.px[(64 * 128 + 10) * 4 + 0] > 250);
    assert_true(out.px[(64 * 128 + 120) * 4 + 2] > 250);
    int first_opaque = -1, last_opaque = -1;
    for (int y = 0; y < 128; y++)
        if (out.px[(y * 128 + 64) * 4 + 3] == 255) {
            if (first_opaque < 0) first_opaque = y;
            last_opaque = y;
        }
    assert_int_equal(first_opaque, 32);
    assert_int_equal(last_opaque, 95);
    oma_image_free(&out);
    fake_free(&fk);
    /* cover into 64x64: 128x64 scaled, centre crop: left 32 columns red, right 32 blue */
    assert_int_equal(run_kind(&fk, png, len, "{\"width\":64,\"height\":64,\"fit\":\"cover\"}", 0), 0);
    decode_out(&fk, &out);
    assert_int_equal(out.w, 64);
    assert_int_equal(out.h, 64);
    assert_int_equal(out.c, 3);
    assert_true(out.px[(10 * 64 + 5) * 3 + 0] > 250);
    assert_true(out.px[(10 * 64 + 58) * 3 + 2] > 250);
    assert_true(out.px[(10 * 64 + 30) * 3 + 0] > 250);   /* the crop is centred */
    assert_true(out.px[(10 * 64 + 33) * 3 + 2] > 250);
    oma_image_free(&out);
    fake_free(&fk);
    /* none stretches to exactly 40x80 (multiple_of 8) */
    assert_int_equal(run_kind(&fk, png, len, "{\"width\":43,\"height\":87,\"fit\":\"none\"}", 0), 0);
    decode_out(&fk, &out);
    assert_int_equal(out.w, 40);
    assert_int_equal(out.h, 80);
    assert_true(out.px[(70 * 40 + 2) * 3 + 0] > 250);
    assert_true(out.px[(70 * 40 + 37) * 3 + 2] > 250);
    oma_image_free(&out);
    fake_free(&fk);
    free(png);
}

static uint8_t *jpeg_with_orientation(int orientation, size_t *out_len)
{
    /* 64x32, left half red; EXIF orientation spliced after SOI (big-endian TIFF) */
    oma_image a;
    assert_int_equal(oma_image_alloc(&a, 64, 32, 3), 0);
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 64; x++) a.px[(y * 64 + x) * 3 + (x < 32 ? 0 : 2)] = 255;
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr je;
    unsigned char *buf = NULL;
    unsigned long len = 0;
    ci.err = jpeg_std_error(&je);
    jpeg_create_compress(&ci);
    jpeg_mem_dest(&ci, &buf, &len);
    ci.image_width = 64;
    ci.image_height = 32;
    ci.input_components = 3;
    ci.in_color_space = JCS_RGB;
    jpeg_set_defaults(&ci);
    jpeg_set_quality(&ci, 95, TRUE);
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < 32) {
        JSAMPROW r = a.px + (size_t)ci.next_scanline * 64 * 3;
        jpeg_write_scanlines(&ci, &r, 1);
    }
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    static const uint8_t tiff[] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    uint8_t tf[sizeof tiff];
    memcpy(tf, tiff, sizeof tf);
    tf[19] = (uint8_t)orientation;
    size_t seg = 2 + 6 + sizeof tf;
    uint8_t *out = malloc(len + 2 + seg);
    memcpy(out, buf, 2);
    out[2] = 0xff;
    out[3] = 0xe1;
    out[4] = 0;
    out[5] = (uint8_t)seg;
    memcpy(out + 6, "Exif\0\0", 6);
    memcpy(out + 12, tf, sizeof tf);
    memcpy(out + 4 + seg, buf + 2, len - 2);
    *out_len = len + 2 + seg;
    free(buf);
    oma_image_free(&a);
    return out;
}

static void test_exif_rotation(void **st)
{
    (void)st;
    fake fk;
    size_t len;
    oma_image out;
    /* orientation 6: displayed 32 wide, 64 tall, the stored left (red) half on top */
    uint8_t *jpg = jpeg_with_orientation(6, &len);
    assert_int_equal(run_kind(&fk, jpg, len, "{\"multiple_of\": 1}", 0), 0);
    decode_out(&fk, &out);
    assert_int_equal(out.w, 32);
    assert_int_equal(out.h, 64);
    assert_true(out.px[(8 * 32 + 16) * 3 + 0] > 200 && out.px[(8 * 32 + 16) * 3 + 2] < 60);
    assert_true(out.px[(56 * 32 + 16) * 3 + 2] > 200 && out.px[(56 * 32 + 16) * 3 + 0] < 60);
    oma_image_free(&out);
    fake_free(&fk);
    free(jpg);
}

static void test_errors_and_cancel(void **st)
{
    (void)st;
    fake fk;
    size_t len;
    static const uint8_t junk[] = "this is not an image at all";
    assert_int_equal(run_kind(&fk, junk, sizeof junk, "{}", 0), -1);
    assert_non_null(strstr(fk.ctx.error, "image"));
    assert_int_equal(fk.n_outputs, 0);
    fake_free(&fk);
    uint8_t *png = two_halves_png(64, 64, &len);
    assert_int_equal(run_kind(&fk, png, len - 20, "{}", 0), -1);   /* truncated */
    assert_true(strlen(fk.ctx.error) > 0);
    fake_free(&fk);
    /* cancelled at the second progress report: stops, no output */
    assert_int_equal(run_kind(&fk, png, len, "{}", 2), -1);
    assert_int_equal(fk.n_outputs, 0);
    assert_int_equal(fk.n_progress, 2);
    fake_free(&fk);
    /* no input named image */
    memset(&fk, 0, sizeof fk);
    json_t *p = json_object();
    fk.ctx.params = p;
    fk.ctx.progress = fake_progress;
    fk.ctx.add_output = fake_output;
    fk.ctx.opaque = &fk;
    assert_int_equal(kind()->run(&fk.ctx), -1);
    assert_non_null(strstr(fk.ctx.error, "image"));
    json_decref(p);
    free(png);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate),      cmocka_unit_test(test_max_side),
        cmocka_unit_test(test_fits),          cmocka_unit_test(test_exif_rotation),
        cmocka_unit_test(test_errors_and_cancel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
