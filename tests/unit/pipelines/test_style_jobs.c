/* test_style_jobs.c — the job kinds style.profile and convert.lineart (their exported structs),
 * with a fake job context: params validation, sample-count and not-an-image errors, the result
 * and output files (PNG layers with alpha, a PSD), progress that only moves forward, and
 * cancellation. Inputs are small synthetic PNGs so this runs in well under a second. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "formats/image.h"
#include "pipelines/job_kind.h"

/* The kinds themselves (the registry, job_kinds.c, lists the same symbols). */
extern const oma_job_kind oma_kind_style_profile;
extern const oma_job_kind oma_kind_convert_lineart;

typedef struct fake {
    oma_job_ctx ctx;
    oma_job_input in[64];
    double last;
    int n_progress, cancel_at, n_out;
    char names[8][32];
    uint8_t *data[8];
    size_t len[8];
} fake;

static int fk_progress(oma_job_ctx *ctx, double f, const char *msg, const uint8_t *p, size_t n)
{
    fake *fk = ctx->opaque;
    (void)msg; (void)p; (void)n;
    assert_true(f >= fk->last && f <= 1.0);
    fk->last = f;
    fk->n_progress++;
    return fk->cancel_at && fk->n_progress >= fk->cancel_at;
}

static int fk_output(oma_job_ctx *ctx, const char *name, const char *mime, const uint8_t *d, size_t n)
{
    fake *fk = ctx->opaque;
    assert_true(fk->n_out < 8);
    assert_true(strcmp(mime, "image/png") == 0 || strcmp(mime, "image/vnd.adobe.photoshop") == 0);
    snprintf(fk->names[fk->n_out], 32, "%s", name);
    fk->data[fk->n_out] = malloc(n);
    assert_non_null(fk->data[fk->n_out]);
    memcpy(fk->data[fk->n_out], d, n);
    fk->len[fk->n_out] = n;
    fk->n_out++;
    return 0;
}

static void fk_init(fake *fk, json_t *params)
{
    memset(fk, 0, sizeof *fk);
    fk->ctx.params = params;
    fk->ctx.inputs = fk->in;
    fk->ctx.progress = fk_progress;
    fk->ctx.add_output = fk_output;
    fk->ctx.opaque = fk;
}

static void fk_free(fake *fk)
{
    for (int i = 0; i < fk->n_out; i++) free(fk->data[i]);
    json_decref(fk->ctx.result);
}

/* A PNG of flat bands with a dark stroke; seed varies the layout. */
static uint8_t *sample_png(int seed, size_t *len)
{
    oma_image img = {0};
    assert_int_equal(oma_image_alloc(&img, 96, 64, 3), 0);
    static const uint8_t cols[3][3] = {{220, 80, 60}, {70, 110, 200}, {245, 235, 210}};
    for (int y = 0; y < 64; y++)
        for (int x = 0; x < 96; x++) {
            uint8_t *p = img.px + ((size_t)y * 96 + x) * 3;
            memcpy(p, cols[((x / 32) + seed) % 3], 3);
            if (y >= 30 && y < 33) p[0] = p[1] = p[2] = 10;
        }
    uint8_t *png = NULL;
    char err[128];
    assert_int_equal(oma_image_encode_png(&img, NULL, NULL, &png, len, err, sizeof err), 0);
    oma_image_free(&img);
    return png;
}

static void test_style_profile_kind(void **state)
{
    (void)state;
    const oma_job_kind *k = &oma_kind_style_profile;
    assert_string_equal(k->name, "style.profile");
    assert_true(k->available(NULL));
    assert_string_equal(k->required_inputs[0], "samples");
    char err[256];
    json_t *good = json_pack("{s:s}", "name", "ink");
    assert_int_equal(k->validate(good, err, sizeof err), 0);
    const char *bad[] = {"{}", "{\"name\":\"\"}", "{\"name\":5}", "{\"name\":\"a\",\"colors\":0}",
                         "{\"name\":\"a\",\"colors\":\"8\"}", "[]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *b = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        assert_non_null(b);
        assert_int_equal(k->validate(b, err, sizeof err), -1);
        json_decref(b);
    }
    size_t len[4];
    uint8_t *png[4];
    for (int i = 0; i < 4; i++) png[i] = sample_png(i, &len[i]);

    fake fk;
    /* three samples: a profile */
    fk_init(&fk, good);
    for (int i = 0; i < 3; i++) fk.in[i] = (oma_job_input){"samples", png[i], len[i], "image/png"};
    fk.ctx.n_inputs = 3;
    assert_int_equal(k->run(&fk.ctx), 0);
    json_t *style = json_object_get(fk.ctx.result, "style");
    assert_true(json_is_object(style));
    assert_true(json_array_size(json_object_get(style, "palette")) >= 3);
    assert_true(json_is_array(json_object_get(style, "tone_levels")));
    assert_true(json_is_object(json_object_get(style, "line")));
    assert_true(json_is_boolean(json_object_get(json_object_get(style, "screentone"), "present")));
    assert_true(json_is_number(json_object_get(style, "saturation")));
    assert_int_equal(json_integer_value(json_object_get(fk.ctx.result, "samples")), 3);
    assert_true(fk.n_progress >= 3 && fk.last == 1.0);
    fk_free(&fk);

    /* two samples, none, and a sample that is not an image */
    for (int n = 0; n <= 2; n++) {
        fk_init(&fk, good);
        for (int i = 0; i < n; i++) fk.in[i] = (oma_job_input){"samples", png[i], len[i], "image/png"};
        fk.ctx.n_inputs = (size_t)n;
        assert_int_equal(k->run(&fk.ctx), -1);
        assert_non_null(strstr(fk.ctx.error, "3..50"));
        fk_free(&fk);
    }
    static const uint8_t text[] = "this is not an image";
    fk_init(&fk, good);
    fk.in[0] = (oma_job_input){"samples", png[0], len[0], "image/png"};
    fk.in[1] = (oma_job_input){"samples", text, sizeof text, "image/png"};
    fk.in[2] = (oma_job_input){"samples", png[2], len[2], "image/png"};
    fk.ctx.n_inputs = 3;
    assert_int_equal(k->run(&fk.ctx), -1);
    assert_non_null(strstr(fk.ctx.error, "sample 2 is not a usable image"));
    fk_free(&fk);
    /* a truncated PNG */
    fk_init(&fk, good);
    for (int i = 0; i < 3; i++) fk.in[i] = (oma_job_input){"samples", png[i], i == 1 ? len[i] / 2 : len[i], "image/png"};
    fk.ctx.n_inputs = 3;
    assert_int_equal(k->run(&fk.ctx), -1);
    fk_free(&fk);
    /* cancelled after the first sample */
    fk_init(&fk, good);
    for (int i = 0; i < 3; i++) fk.in[i] = (oma_job_input){"samples", png[i], len[i], "image/png"};
    fk.ctx.n_inputs = 3;
    fk.cancel_at = 1;
    assert_int_equal(k->run(&fk.ctx), -1);
    assert_string_equal(fk.ctx.error, "cancelled");
    fk_free(&fk);
    json_decref(good);
    for (int i = 0; i < 4; i++) free(png[i]);
}

static void test_convert_kind(void **state)
{
    (void)state;
    const oma_job_kind *k = &oma_kind_convert_lineart;
    assert_string_equal(k->name, "convert.lineart");
    assert_string_equal(k->required_inputs[0], "image");
    char err[256];
    json_t *params = json_loads("{\"style_id\":\"s1\",\"line_width\":2,\"tone_levels\":3,\"tone_type\":\"dots\","
                                "\"tone_frequency\":0.2,\"tone_angle\":30,\"color\":false,"
                                "\"style\":{\"palette\":[{\"rgb\":\"#102030\",\"weight\":1},{\"rgb\":\"#f0e0d0\",\"weight\":2}],"
                                "\"tone_levels\":[20,120,250],\"line\":{\"weight_px\":2,\"darkness\":1}}}",
                                0, NULL);
    assert_non_null(params);
    assert_int_equal(k->validate(params, err, sizeof err), 0);
    const char *bad[] = {"{\"line_width\":0}", "{\"line_width\":\"2\"}", "{\"line_threshold\":1.5}",
                         "{\"tone_levels\":1}", "{\"tone_levels\":2.5}", "{\"tone_type\":\"stripes\"}",
                         "{\"tone_frequency\":3}", "{\"tone_angle\":1e9}", "{\"color\":\"yes\"}",
                         "{\"psd\":1}", "{\"style_id\":7}", "{\"style\":{\"palette\":[]}}", "{\"style\":5}", "[]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *b = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        assert_non_null(b);
        err[0] = 0;
        if (k->validate(b, err, sizeof err) == 0) fail_msg("accepted %s", bad[i]);
        assert_true(strlen(err) > 5);
        json_decref(b);
    }
    size_t len;
    uint8_t *png = sample_png(0, &len);
    fake fk;
    fk_init(&fk, params);
    fk.in[0] = (oma_job_input){"image", png, len, "image/png"};
    fk.ctx.n_inputs = 1;
    assert_int_equal(k->run(&fk.ctx), 0);
    const char *want[5] = {"image.png", "lines.png", "flats.png", "tones.png", "layers.psd"};
    assert_int_equal(fk.n_out, 5);
    for (int i = 0; i < 5; i++) assert_string_equal(fk.names[i], want[i]);
    for (int i = 0; i < 4; i++) {
        oma_image img = {0};
        assert_int_equal(oma_image_decode(fk.data[i], fk.len[i], 0, 0, NULL, &img, err, sizeof err), 0);
        assert_int_equal(img.w, 96);
        assert_int_equal(img.h, 64);
        assert_int_equal(img.c, i == 0 ? 3 : 4);
        oma_image_free(&img);
    }
    assert_memory_equal(fk.data[4], "8BPS", 4);
    assert_int_equal(json_integer_value(json_object_get(fk.ctx.result, "levels")), 3);
    assert_string_equal(json_string_value(json_object_get(fk.ctx.result, "tone")), "dots");
    assert_true(json_is_false(json_object_get(fk.ctx.result, "color")));
    assert_true(fk.last == 1.0);
    fk_free(&fk);

    /* psd off, default style */
    json_t *nopsd = json_pack("{s:b}", "psd", 0);
    fk_init(&fk, nopsd);
    fk.in[0] = (oma_job_input){"image", png, len, "image/png"};
    fk.ctx.n_inputs = 1;
    assert_int_equal(k->run(&fk.ctx), 0);
    assert_int_equal(fk.n_out, 4);
    fk_free(&fk);
    /* not an image; no input; cancelled */
    static const uint8_t junk[] = {0x89, 'P', 'N', 'G', 0, 1, 2};
    fk_init(&fk, nopsd);
    fk.in[0] = (oma_job_input){"image", junk, sizeof junk, "image/png"};
    fk.ctx.n_inputs = 1;
    assert_int_equal(k->run(&fk.ctx), -1);
    assert_non_null(strstr(fk.ctx.error, "not a usable image"));
    fk_free(&fk);
    fk_init(&fk, nopsd);
    assert_int_equal(k->run(&fk.ctx), -1);
    fk_free(&fk);
    fk_init(&fk, nopsd);
    fk.in[0] = (oma_job_input){"image", png, len, "image/png"};
    fk.ctx.n_inputs = 1;
    fk.cancel_at = 2;
    assert_int_equal(k->run(&fk.ctx), -1);
    assert_string_equal(fk.ctx.error, "cancelled");
    assert_int_equal(fk.n_out, 0);
    fk_free(&fk);
    json_decref(nopsd);
    json_decref(params);
    free(png);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_style_profile_kind), cmocka_unit_test(test_convert_kind)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
