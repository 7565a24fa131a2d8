/* test_lineart.c — LT conversion on real photos (python3-skimage's sample data, fetched by
 * scripts/fetch-test-data.sh), checking properties rather than chosen pixels: flats use only
 * the learned palette's colours, line pixels lie within 2 px of the photo's Sobel edges (the
 * strongest 15% of responses), and a shifted copy
 * of the same lines does not), grey mode has exactly the asked number of tone levels ordered
 * like the photo's brightness, screentone ink follows the tones, wider lines cover more, bad
 * options are refused. Before/after images go to tests/out/classic/ for people to look at. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "formats/image.h"
#include "pipelines/style/colorspace.h"
#include "pipelines/style/filters.h"
#include "pipelines/style/lineart.h"
#include "pipelines/style/style_profile.h"

static oma_style_profile g_style;
static oma_image g_photo[3];
static const char *g_names[3] = {"coffee", "chelsea", "astronaut"};
static int g_have;

static int load_small(const char *name, int side, oma_image *out)
{
    const char *dir = getenv("OMA_SOURCE_DIR");
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/tests/data/classic/%s", dir ? dir : ".", name);
    oma_image full = {0};
    if (oma_image_load(path, 3, NULL, &full, err, sizeof err) != 0) {
        print_message("skipping: %s: %s (run scripts/fetch-test-data.sh)\n", path, err);
        return -1;
    }
    int m = full.w > full.h ? full.w : full.h;
    int rc = oma_image_resize(&full, full.w * side / m, full.h * side / m, out);
    oma_image_free(&full);
    return rc;
}

static int setup(void **state)
{
    (void)state;
    const char *learn[3] = {"chelsea.png", "rocket.jpg", "motorcycle_left.png"};
    char err[256];
    oma_style_learner *l = oma_style_learner_new(6);
    if (!l) return -1;
    for (int i = 0; i < 3; i++) {
        oma_image img;
        if (load_small(learn[i], 320, &img) != 0) { oma_style_learner_free(l); return 0; }
        if (oma_style_learner_add(l, &img, err, sizeof err) != 0) return -1;
        oma_image_free(&img);
    }
    if (oma_style_learner_finish(l, &g_style, err, sizeof err) != 0) return -1;
    oma_style_learner_free(l);
    const char *files[3] = {"coffee.png", "chelsea.png", "astronaut.png"};
    for (int i = 0; i < 3; i++)
        if (load_small(files[i], 300, &g_photo[i]) != 0) return 0;
    g_have = 1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < 3; i++) oma_image_free(&g_photo[i]);
    return 0;
}

static void save(const char *name, const oma_image *img)
{
    const char *dir = getenv("OMA_SOURCE_DIR");
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/tests/out", dir ? dir : ".");
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/tests/out/classic", dir ? dir : ".");
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/tests/out/classic/%s.png", dir ? dir : ".", name);
    if (oma_image_save_png(path, img, err, sizeof err) != 0) print_message("could not save %s: %s\n", path, err);
}

static int in_palette(const oma_palette *p, const uint8_t *px)
{
    for (int j = 0; j < p->n; j++)
        if (memcmp(p->rgb[j], px, 3) == 0) return 1;
    return 0;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Fraction of line pixels within 2 px of a Sobel edge of the photo, with the line mask
 * shifted by (sx, sy). */
static double edge_agreement(const oma_image *photo, const oma_image *lines, int sx, int sy)
{
    int w = photo->w, h = photo->h;
    size_t n = (size_t)w * h;
    float *g = malloc(n * sizeof *g), *mag = malloc(n * sizeof *mag), *dist = malloc(n * sizeof *dist);
    uint8_t *notedge = malloc(n);
    assert_true(g && mag && dist && notedge);
    for (size_t i = 0; i < n; i++) g[i] = oma_luma(photo->px[i * 3], photo->px[i * 3 + 1], photo->px[i * 3 + 2]);
    assert_int_equal(oma_gauss_blur(g, g, w, h, 1.0f), 0);
    oma_sobel_mag(g, mag, w, h);
    /* edges: the strongest 15% of Sobel responses (and at least 40 of a possible ~1000) */
    float *sorted = malloc(n * sizeof *sorted);
    assert_non_null(sorted);
    memcpy(sorted, mag, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_float);
    float thr = sorted[n * 85 / 100];
    free(sorted);
    if (thr < 40.0f) thr = 40.0f;
    for (size_t i = 0; i < n; i++) notedge[i] = mag[i] < thr;
    assert_int_equal(oma_edt(notedge, w, h, dist), 0);
    double on = 0, all = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int qx = x - sx, qy = y - sy;
            if (qx < 0 || qy < 0 || qx >= w || qy >= h) continue;
            if (!lines->px[((size_t)qy * w + qx) * 4 + 3]) continue;
            all++;
            on += dist[(size_t)y * w + x] <= 2.0f;
        }
    free(g); free(mag); free(dist); free(notedge);
    return all > 0 ? on / all : 0;
}

static double line_fraction(const oma_image *lines)
{
    size_t n = (size_t)lines->w * lines->h, k = 0;
    for (size_t i = 0; i < n; i++) k += lines->px[i * 4 + 3] != 0;
    return (double)k / (double)n;
}

static void test_colour_flats_and_lines(void **state)
{
    (void)state;
    if (!g_have) skip();
    for (int p = 0; p < 3; p++) {
        oma_convert_opts o;
        oma_convert_opts_default(&o);
        o.color = 1;
        o.tone_type = OMA_TONE_NONE;
        oma_convert_result r;
        char err[256];
        assert_int_equal(oma_convert_lineart(&g_photo[p], &g_style, &o, NULL, NULL, &r, err, sizeof err), 0);
        assert_int_equal(r.composite.w, g_photo[p].w);
        assert_int_equal(r.composite.h, g_photo[p].h);
        size_t n = (size_t)r.composite.w * r.composite.h;
        uint8_t ink = (uint8_t)lroundf((1.0f - g_style.line_darkness) * 255.0f);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(r.flats.px[i * 4 + 3], 255);
            if (!in_palette(&g_style.palette, r.flats.px + i * 4)) fail_msg("flat pixel %zu not in the palette", i);
            const uint8_t *c = r.composite.px + i * 3;
            if (r.lines.px[i * 4 + 3]) assert_true(c[0] == ink && c[1] == ink && c[2] == ink);
            else assert_memory_equal(c, r.flats.px + i * 4, 3);
            assert_int_equal(r.tones.px[i * 4 + 3], 0);   /* tone none */
        }
        double frac = line_fraction(&r.lines);
        double agree = edge_agreement(&g_photo[p], &r.lines, 0, 0);
        double shifted = edge_agreement(&g_photo[p], &r.lines, 9, 7);
        print_message("%s: lines cover %.1f%%, %.1f%% within 2 px of a Sobel edge (shifted: %.1f%%)\n",
                      g_names[p], 100 * frac, 100 * agree, 100 * shifted);
        assert_true(frac > 0.01 && frac < 0.3);
        assert_true(agree >= 0.8);
        assert_true(shifted < agree - 0.15);
        char name[64];
        snprintf(name, sizeof name, "%s-before", g_names[p]);
        save(name, &g_photo[p]);
        snprintf(name, sizeof name, "%s-after-color", g_names[p]);
        save(name, &r.composite);
        oma_convert_result_free(&r);
    }
}

static void test_grey_levels(void **state)
{
    (void)state;
    if (!g_have) skip();
    for (int levels = 2; levels <= 5; levels += 3) {
        oma_convert_opts o;
        oma_convert_opts_default(&o);
        o.color = 0;
        o.tone_type = OMA_TONE_NONE;
        o.tone_levels = levels;
        oma_convert_result r;
        char err[256];
        const oma_image *ph = &g_photo[1];
        assert_int_equal(oma_convert_lineart(ph, &g_style, &o, NULL, NULL, &r, err, sizeof err), 0);
        assert_int_equal(r.levels, levels);
        size_t n = (size_t)ph->w * ph->h;
        double sum[256] = {0}, cnt[256] = {0};
        for (size_t i = 0; i < n; i++) {
            const uint8_t *f = r.flats.px + i * 4;
            assert_true(f[0] == f[1] && f[1] == f[2]);
            cnt[f[0]]++;
            sum[f[0]] += oma_luma(ph->px[i * 3], ph->px[i * 3 + 1], ph->px[i * 3 + 2]);
        }
        int distinct = 0;
        double prev = -1;
        for (int g = 0; g < 256; g++) {
            if (!cnt[g]) continue;
            distinct++;
            double mean = sum[g] / cnt[g];   /* darker greys sit on darker parts of the photo */
            assert_true(mean > prev);
            prev = mean;
        }
        assert_int_equal(distinct, levels);
        if (levels == 5) save("chelsea-after-grey5", &r.composite);
        oma_convert_result_free(&r);
    }
}

static void test_screentone(void **state)
{
    (void)state;
    if (!g_have) skip();
    oma_convert_opts o;
    oma_convert_opts_default(&o);
    o.color = 0;
    o.tone_type = OMA_TONE_DOTS;
    o.tone_levels = 4;
    o.tone_frequency = 0.2f;
    oma_convert_result r;
    char err[256];
    const oma_image *ph = &g_photo[2];
    assert_int_equal(oma_convert_lineart(ph, &g_style, &o, NULL, NULL, &r, err, sizeof err), 0);
    assert_int_equal(r.tone, OMA_TONE_DOTS);
    size_t n = (size_t)ph->w * ph->h;
    /* Ink per grey class of the photo: more ink where the photo is darker. Classes are read
     * back by bucketing the photo's lightness into quartiles. */
    float *lum = malloc(n * sizeof *lum);
    assert_non_null(lum);
    int hist[256] = {0};
    for (size_t i = 0; i < n; i++) {
        uint8_t a = r.tones.px[i * 4 + 3];
        assert_true(a == 0 || a == 255);
        lum[i] = oma_luma(ph->px[i * 3], ph->px[i * 3 + 1], ph->px[i * 3 + 2]);
        hist[(int)lum[i]]++;
        assert_int_equal(r.flats.px[i * 4], 255);   /* paper under the tones */
    }
    float q[5] = {-1, 0, 0, 0, 256};
    size_t acc = 0;
    int qi = 1;
    for (int g = 0; g < 256 && qi < 4; g++) {
        acc += (size_t)hist[g];
        while (qi < 4 && acc >= n * (size_t)qi / 4) q[qi++] = (float)g + 0.5f;
    }
    double ink[4] = {0}, tot[4] = {0};
    for (size_t i = 0; i < n; i++) {
        int b = 0;
        while (b < 3 && lum[i] > q[b + 1]) b++;
        tot[b]++;
        ink[b] += r.tones.px[i * 4 + 3] != 0;
    }
    for (int b = 0; b < 4; b++) print_message("quartile %d: ink %.2f\n", b, ink[b] / tot[b]);
    assert_true(ink[0] / tot[0] > ink[3] / tot[3] + 0.2);
    assert_true(ink[0] / tot[0] > ink[2] / tot[2]);
    free(lum);
    save("astronaut-after-dots", &r.composite);
    oma_convert_result_free(&r);
}

static void test_line_width(void **state)
{
    (void)state;
    if (!g_have) skip();
    double frac[2];
    const float widths[2] = {1.0f, 4.0f};
    for (int k = 0; k < 2; k++) {
        oma_convert_opts o;
        oma_convert_opts_default(&o);
        o.line_width = widths[k];
        oma_convert_result r;
        char err[256];
        assert_int_equal(oma_convert_lineart(&g_photo[0], &g_style, &o, NULL, NULL, &r, err, sizeof err), 0);
        frac[k] = line_fraction(&r.lines);
        oma_convert_result_free(&r);
    }
    assert_true(frac[1] > frac[0] * 1.5);
    /* a higher threshold keeps fewer lines */
    oma_convert_opts o;
    oma_convert_opts_default(&o);
    o.line_threshold = 1.0f;
    oma_convert_result r;
    char err[256];
    assert_int_equal(oma_convert_lineart(&g_photo[0], &g_style, &o, NULL, NULL, &r, err, sizeof err), 0);
    double hi = line_fraction(&r.lines);
    oma_convert_result_free(&r);
    o.line_threshold = 0.0f;
    assert_int_equal(oma_convert_lineart(&g_photo[0], &g_style, &o, NULL, NULL, &r, err, sizeof err), 0);
    assert_true(line_fraction(&r.lines) > hi);
    oma_convert_result_free(&r);
}

static int cancel_at_lines(void *ctx, double f, const char *msg)
{
    (void)f;
    (*(int *)ctx)++;
    return strcmp(msg, "lines") == 0;
}

static void test_bad_options(void **state)
{
    (void)state;
    oma_image tiny = {0};
    assert_int_equal(oma_image_alloc(&tiny, 16, 16, 3), 0);
    oma_style_profile def;
    oma_style_profile_default(&def);
    oma_convert_result r;
    char err[256];
    oma_convert_opts o;
    struct { int field; float v; } bad[] = {{0, 0.1f}, {0, 100}, {1, 2}, {1, -0.5f}, {2, 1}, {2, 9}, {3, 5},
                                            {4, 0.9f}, {4, 0.001f}, {5, 1000}, {6, 2}, {7, 4}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        oma_convert_opts_default(&o);
        switch (bad[i].field) {
        case 0: o.line_width = bad[i].v; break;
        case 1: o.line_threshold = bad[i].v; break;
        case 2: o.tone_levels = (int)bad[i].v; break;
        case 3: o.tone_type = (int)bad[i].v; break;
        case 4: o.tone_frequency = bad[i].v; break;
        case 5: o.tone_angle = bad[i].v; break;
        case 6: o.color = (int)bad[i].v; break;
        default: o.max_side = (int)bad[i].v; break;
        }
        err[0] = 0;
        assert_int_equal(oma_convert_lineart(&tiny, &def, &o, NULL, NULL, &r, err, sizeof err), -1);
        assert_true(strlen(err) > 5);
    }
    oma_convert_opts_default(&o);
    o.tone_angle = NAN;
    assert_int_equal(oma_convert_opts_check(&o, err, sizeof err), -1);
    oma_convert_opts_default(&o);
    oma_image none = {0};
    assert_int_equal(oma_convert_lineart(&none, &def, &o, NULL, NULL, &r, err, sizeof err), -1);
    oma_style_profile empty = def;
    empty.palette.n = 0;
    assert_int_equal(oma_convert_lineart(&tiny, &empty, &o, NULL, NULL, &r, err, sizeof err), -1);
    /* cancellation through the progress callback */
    int calls = 0;
    assert_int_equal(oma_convert_lineart(&tiny, &def, &o, cancel_at_lines, &calls, &r, err, sizeof err), -1);
    assert_string_equal(err, "cancelled");
    assert_int_equal(calls, 2);
    /* a 1x1 and a flat image still convert */
    oma_image one = {0};
    assert_int_equal(oma_image_alloc(&one, 1, 1, 4), 0);
    assert_int_equal(oma_convert_lineart(&one, &def, &o, NULL, NULL, &r, err, sizeof err), 0);
    oma_convert_result_free(&r);
    assert_int_equal(oma_convert_lineart(&tiny, &def, &o, NULL, NULL, &r, err, sizeof err), 0);
    assert_true(line_fraction(&r.lines) == 0);
    oma_convert_result_free(&r);
    oma_image_free(&one);
    oma_image_free(&tiny);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_colour_flats_and_lines), cmocka_unit_test(test_grey_levels),
        cmocka_unit_test(test_screentone), cmocka_unit_test(test_line_width), cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
