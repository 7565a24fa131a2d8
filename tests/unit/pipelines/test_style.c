/* test_style.c — style profile learning on images whose truth is known by construction
 * (flat colours, grey levels, 3 px black strokes, a dot screen of period 6, screens at 0/15/45
 * degrees) and on real photos
 * (no screentone in them), the sample-count rules, and the JSON form: round trip and refusal
 * of malformed profiles. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "formats/image.h"
#include "pipelines/style/colorspace.h"
#include "pipelines/style/style_measure.h"
#include "pipelines/style/style_profile.h"
#include "pipelines/style/tone.h"

static const uint8_t COLOURS[4][3] = {{200, 60, 50}, {60, 120, 230}, {240, 225, 190}, {120, 160, 80}};

/* A flat-coloured "panel": four colour bands in an order set by seed, with black strokes
 * exactly 3 px wide (rows and columns) on top. */
static void comic_sample(oma_image *img, int seed)
{
    assert_int_equal(oma_image_alloc(img, 240, 200, 3), 0);
    for (int y = 0; y < img->h; y++)
        for (int x = 0; x < img->w; x++) {
            int band = ((x / 60) + seed) % 4;
            uint8_t *p = img->px + ((size_t)y * img->w + x) * 3;
            memcpy(p, COLOURS[band], 3);
            int on_h = (y % 50) >= 24 && (y % 50) < 27, on_v = (x % 60) >= 28 && (x % 60) < 31;
            if (on_h || on_v) p[0] = p[1] = p[2] = 0;
        }
}

static void test_comic_profile(void **state)
{
    (void)state;
    oma_style_learner *l = oma_style_learner_new(5);
    assert_non_null(l);
    char err[256];
    for (int s = 0; s < 3; s++) {
        oma_image img;
        comic_sample(&img, s);
        assert_int_equal(oma_style_learner_add(l, &img, err, sizeof err), 0);
        oma_image_free(&img);
    }
    oma_style_profile p;
    assert_int_equal(oma_style_learner_finish(l, &p, err, sizeof err), 0);
    oma_style_learner_free(l);
    assert_int_equal(p.n_samples, 3);
    /* every drawn colour (and black) is in the palette within 2.5 Lab units */
    for (int c = 0; c < 5; c++) {
        const uint8_t *rgb = c < 4 ? COLOURS[c] : (const uint8_t[3]){0, 0, 0};
        oma_lab want = oma_rgb_to_lab(rgb[0], rgb[1], rgb[2]);
        float best = 1e9f;
        for (int j = 0; j < p.palette.n; j++) {
            float d = sqrtf(oma_lab_dist2(want, p.palette.lab[j]));
            if (d < best) best = d;
        }
        if (best > 2.5f) fail_msg("colour %d: nearest palette entry %.2f away", c, best);
    }
    float wsum = 0;
    for (int j = 0; j < p.palette.n; j++) wsum += p.palette.weight[j];
    assert_true(fabsf(wsum - 1) < 1e-3f);
    assert_true(fabsf(p.line_weight_px - 3.0f) <= 0.5f);
    assert_true(p.line_darkness > 0.95f);
    assert_false(p.screentone_present);
    /* five flat luminances (four colours + ink) give five tone levels near their lumas */
    for (int i = 0; i < p.n_tones; i++) print_message("tone %d: %.1f\n", i, p.tones[i]);
    assert_int_equal(p.n_tones, 5);
    float lumas[5] = {0};
    for (int c = 0; c < 4; c++) lumas[c + 1] = oma_luma(COLOURS[c][0], COLOURS[c][1], COLOURS[c][2]);
    for (int a = 1; a < 5; a++)
        for (int b = a; b > 0 && lumas[b] < lumas[b - 1]; b--) { float t = lumas[b]; lumas[b] = lumas[b - 1]; lumas[b - 1] = t; }
    for (int i = 0; i < 5; i++)
        if (fabsf(p.tones[i] - lumas[i]) > 6) fail_msg("tone %d: %.1f, want %.1f", i, p.tones[i], lumas[i]);
    assert_true(p.saturation > 0.3f && p.contrast > 0.1f);
}

/* Grey page with a dot screen (period 6 px, dots of radius 2) over its middle band. */
static void tone_sample(oma_image *img, int shift)
{
    assert_int_equal(oma_image_alloc(img, 256, 256, 1), 0);
    memset(img->px, 255, 256 * 256);
    for (int y = 64; y < 192; y++)
        for (int x = 0; x < 256; x++) {
            int cx = (x + shift) % 6, cy = y % 6;
            float dx = cx - 2.5f, dy = cy - 2.5f;
            if (dx * dx + dy * dy <= 4.0f) img->px[y * 256 + x] = 20;
        }
}

static void test_screentone(void **state)
{
    (void)state;
    oma_style_learner *l = oma_style_learner_new(0);
    assert_non_null(l);
    char err[256];
    for (int s = 0; s < 3; s++) {
        oma_image img;
        tone_sample(&img, s);
        assert_int_equal(oma_style_learner_add(l, &img, err, sizeof err), 0);
        oma_image_free(&img);
    }
    oma_style_profile p;
    assert_int_equal(oma_style_learner_finish(l, &p, err, sizeof err), 0);
    oma_style_learner_free(l);
    assert_true(p.screentone_present);
    if (fabsf(p.screentone_frequency - 1.0f / 6) > 0.015f) fail_msg("frequency %f", p.screentone_frequency);
    /* 12 of 36 cell pixels are ink for radius-2 dots at these centres */
    assert_true(p.screentone_density > 0.2f && p.screentone_density < 0.5f);
}

/* Screens at several angles, periods and densities: the measured frequency is within 7%. */
static void test_rotated_screens(void **state)
{
    (void)state;
    const float angles[3] = {0, 15, 45}, freqs[2] = {0.125f, 0.2f}, dens[3] = {0.2f, 0.5f, 0.7f};
    enum { W = 192 };
    float *g = malloc(W * W * sizeof *g);
    assert_non_null(g);
    for (int a = 0; a < 3; a++)
        for (int f = 0; f < 2; f++)
            for (int d = 0; d < 3; d++) {
                oma_screen sc;
                oma_screen_init(&sc, OMA_TONE_DOTS, freqs[f], angles[a]);
                int ink = 0;   /* the true coverage: whole pixels quantise small axis-aligned screens */
                for (int y = 0; y < W; y++)
                    for (int x = 0; x < W; x++) {
                        int on = oma_screen_ink(&sc, x, y, dens[d]);
                        ink += on;
                        g[y * W + x] = on ? 15.0f : 245.0f;
                    }
                double truth = (double)ink / (W * W);
                oma_tone_stats st = {0};
                assert_int_equal(oma_measure_screentone(g, W, W, &st), 0);
                if (st.tone_tiles * 2 < st.tiles)
                    fail_msg("angle %g freq %g: %d of %d tiles periodic", angles[a], freqs[f], st.tone_tiles, st.tiles);
                double fm = st.tone_tiles / st.period_sum, dm = st.density_sum / st.tone_tiles;
                if (fabs(fm - freqs[f]) > 0.07 * freqs[f] || fabs(dm - truth) > 0.04)
                    fail_msg("angle %g freq %g density %.3f: measured freq %.4f density %.3f", angles[a], freqs[f],
                             truth, fm, dm);
            }
    free(g);
}

static int load(const char *name, oma_image *img)
{
    const char *dir = getenv("OMA_SOURCE_DIR");
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/tests/data/classic/%s", dir ? dir : ".", name);
    if (oma_image_load(path, 3, NULL, img, err, sizeof err) != 0) {
        print_message("skipping: %s: %s (run scripts/fetch-test-data.sh)\n", path, err);
        return -1;
    }
    return 0;
}

static void test_photos_have_no_screentone(void **state)
{
    (void)state;
    const char *names[] = {"coffee.png", "chelsea.png", "astronaut.png", "rocket.jpg"};
    oma_style_learner *l = oma_style_learner_new(8);
    assert_non_null(l);
    char err[256];
    for (int i = 0; i < 4; i++) {
        oma_image img;
        if (load(names[i], &img) != 0) { oma_style_learner_free(l); skip(); }
        oma_tone_stats ts = {0};
        float *g = malloc((size_t)img.w * img.h * sizeof *g);
        assert_non_null(g);
        for (size_t k = 0; k < (size_t)img.w * img.h; k++) g[k] = oma_luma(img.px[k * 3], img.px[k * 3 + 1], img.px[k * 3 + 2]);
        assert_int_equal(oma_measure_screentone(g, img.w, img.h, &ts), 0);
        print_message("%s: %d textured tiles, %d periodic\n", names[i], ts.tiles, ts.tone_tiles);
        free(g);
        assert_int_equal(oma_style_learner_add(l, &img, err, sizeof err), 0);
        oma_image_free(&img);
    }
    oma_style_profile p;
    assert_int_equal(oma_style_learner_finish(l, &p, err, sizeof err), 0);
    oma_style_learner_free(l);
    assert_false(p.screentone_present);
    assert_int_equal(p.palette.n, 8);
    assert_true(p.n_tones >= 2 && p.n_tones <= OMA_STYLE_MAX_TONES);
    for (int i = 1; i < p.n_tones; i++) assert_true(p.tones[i] > p.tones[i - 1]);
}

static void test_sample_counts(void **state)
{
    (void)state;
    char err[256];
    oma_style_profile p;
    oma_style_learner *l = oma_style_learner_new(0);
    assert_non_null(l);
    assert_int_equal(oma_style_learner_finish(l, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "at least 3"));
    oma_image img;
    comic_sample(&img, 0);
    for (int i = 0; i < 2; i++) assert_int_equal(oma_style_learner_add(l, &img, err, sizeof err), 0);
    assert_int_equal(oma_style_learner_finish(l, &p, err, sizeof err), -1);
    assert_non_null(strstr(err, "got 2"));
    for (int i = 2; i < OMA_STYLE_MAX_SAMPLES; i++) assert_int_equal(oma_style_learner_add(l, &img, err, sizeof err), 0);
    assert_int_equal(oma_style_learner_add(l, &img, err, sizeof err), -1);
    assert_non_null(strstr(err, "too many"));
    /* fully transparent sample */
    oma_image clear;
    assert_int_equal(oma_image_alloc(&clear, 8, 8, 4), 0);
    oma_style_learner_free(l);
    l = oma_style_learner_new(0);
    assert_int_equal(oma_style_learner_add(l, &clear, err, sizeof err), -1);
    assert_non_null(strstr(err, "opaque"));
    oma_image none = {0};
    assert_int_equal(oma_style_learner_add(l, &none, err, sizeof err), -1);
    oma_style_learner_free(l);
    assert_null(oma_style_learner_new(OMA_PALETTE_MAX + 1));
    oma_image_free(&clear);
    oma_image_free(&img);
}

static void test_json(void **state)
{
    (void)state;
    oma_style_profile p, q;
    oma_style_profile_default(&p);
    p.palette.n = 2;
    p.palette.rgb[0][0] = 200; p.palette.rgb[0][1] = 10; p.palette.rgb[0][2] = 30;
    p.palette.lab[0] = oma_rgb_to_lab(200, 10, 30);
    p.palette.weight[0] = 0.75f; p.palette.weight[1] = 0.25f;
    p.screentone_present = 1;
    p.screentone_frequency = 0.1f;
    p.n_samples = 7;
    json_t *j = oma_style_profile_to_json(&p);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "palette"), 0), "rgb")), "#c80a1e");
    assert_true(json_is_object(json_object_get(j, "line")) && json_is_object(json_object_get(j, "screentone")));
    char err[256];
    assert_int_equal(oma_style_profile_from_json(j, &q, err, sizeof err), 0);
    json_decref(j);
    assert_int_equal(q.palette.n, 2);
    assert_memory_equal(q.palette.rgb, p.palette.rgb, 6);
    assert_true(fabsf(q.palette.weight[0] - 0.75f) < 1e-4f);
    assert_int_equal(q.n_tones, p.n_tones);
    for (int i = 0; i < p.n_tones; i++) assert_true(fabsf(q.tones[i] - p.tones[i]) < 1e-3f);
    assert_true(q.screentone_present && fabsf(q.screentone_frequency - 0.1f) < 1e-4f);
    assert_int_equal(q.n_samples, 7);

    const char *bad[] = {
        "[]",
        "{}",
        "{\"palette\":[]}",
        "{\"palette\":[{\"rgb\":\"#12345\"}]}",
        "{\"palette\":[{\"rgb\":\"#zz0000\"}]}",
        "{\"palette\":[{\"rgb\":\"#ff0000\",\"weight\":-1}]}",
        "{\"palette\":[{\"rgb\":\"#ff0000\"}],\"tone_levels\":[300]}",
        "{\"palette\":[{\"rgb\":\"#ff0000\"}],\"tone_levels\":[]}",
        "{\"palette\":[{\"rgb\":\"#ff0000\"}],\"line\":{\"weight_px\":\"3\"}}",
        "{\"palette\":[{\"rgb\":\"#ff0000\"}],\"line\":{\"weight_px\":1000}}",
        "{\"palette\":[{\"rgb\":\"#ff0000\"}],\"screentone\":{\"present\":\"yes\"}}",
        "{\"palette\":[{\"rgb\":\"#ff0000\"}],\"screentone\":5}",
        "{\"palette\":[{\"rgb\":\"#ff0000\"}],\"saturation\":2}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *b = json_loads(bad[i], 0, NULL);
        assert_non_null(b);
        err[0] = 0;
        if (oma_style_profile_from_json(b, &q, err, sizeof err) == 0) fail_msg("accepted %s", bad[i]);
        assert_true(strlen(err) > 5);
        json_decref(b);
    }
    /* 33 colours is one too many */
    json_t *big = json_pack("{s:[]}", "palette");
    for (int i = 0; i < 33; i++) json_array_append_new(json_object_get(big, "palette"), json_pack("{s:s}", "rgb", "#000000"));
    assert_int_equal(oma_style_profile_from_json(big, &q, err, sizeof err), -1);
    json_decref(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_comic_profile), cmocka_unit_test(test_screentone), cmocka_unit_test(test_rotated_screens),
        cmocka_unit_test(test_photos_have_no_screentone), cmocka_unit_test(test_sample_counts),
        cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
