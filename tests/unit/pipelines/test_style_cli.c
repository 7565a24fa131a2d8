/* test_style_cli.c — `oma style` and `oma convert` as a user runs them: the real binary
 * ($OMA_BIN, set by ctest) on small files written here, OMA_DATA pointing at a temporary data
 * folder. Checks exit codes (0 done, 1 the work failed, 2 usage), the one-line `oma: what: why`
 * errors for too few samples, a sample that is not an image, bad names and bad options, and
 * that learn -> convert by name writes the composite, the three layers and a PSD. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "formats/image.h"

static const char *bin;
static char dir[] = "/tmp/oma-style-cli-XXXXXX";

static int sh(char *errline, size_t n, const char *fmt, ...)
{
    char cmd[4096], errpath[600], full[4800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", dir);
    snprintf(full, sizeof full, "OMA_DATA=%s/data %s 2>%s >/dev/null", dir, cmd, errpath);
    int st = system(full);
    if (errline) {
        errline[0] = 0;
        FILE *f = fopen(errpath, "r");
        if (f) {
            /* the last line: progress lines come first */
            char line[512];
            while (fgets(line, sizeof line, f)) snprintf(errline, n, "%s", line);
            fclose(f);
        }
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int exists(const char *name)
{
    char path[700];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 && st.st_size > 0;
}

static int setup(void **state)
{
    (void)state;
    bin = getenv("OMA_BIN");
    if (!bin || access(bin, X_OK) != 0) {
        print_error("OMA_BIN (%s) is not an executable oma; build the oma target\n", bin ? bin : "unset");
        return -1;
    }
    if (!mkdtemp(dir)) return -1;
    for (int s = 0; s < 3; s++) {
        oma_image img;
        if (oma_image_alloc(&img, 80, 60, 3) != 0) return -1;
        for (int y = 0; y < 60; y++)
            for (int x = 0; x < 80; x++) {
                uint8_t *p = img.px + ((size_t)y * 80 + x) * 3;
                int band = (x / 20 + s) % 4;
                p[0] = (uint8_t)(60 * band + 40); p[1] = (uint8_t)(200 - 40 * band); p[2] = 120;
                if (x % 20 == 10) p[0] = p[1] = p[2] = 0;
            }
        char path[700], err[128];
        snprintf(path, sizeof path, "%s/s%d.png", dir, s);
        if (oma_image_save_png(path, &img, err, sizeof err) != 0) return -1;
        oma_image_free(&img);
    }
    char path[700];
    snprintf(path, sizeof path, "%s/notes.png", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs("not a picture\n", f);
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[800];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_learn_and_convert(void **state)
{
    (void)state;
    char e[512];
    assert_int_equal(sh(e, sizeof e, "%s style learn --name ink %s/s0.png %s/s1.png %s/s2.png -o %s/ink.json", bin, dir, dir, dir, dir), 0);
    assert_true(exists("data/styles/ink.json"));
    assert_true(exists("ink.json"));
    assert_int_equal(sh(e, sizeof e, "%s style show ink", bin), 0);
    /* by name and by path */
    assert_int_equal(sh(e, sizeof e, "%s convert %s/s0.png --style ink -o %s/out.png --layers %s/layers --psd %s/out.psd "
                        "--tone dots --tone-levels 3 --no-color", bin, dir, dir, dir, dir), 0);
    assert_true(exists("out.png") && exists("out.psd") && exists("layers/lines.png") &&
                exists("layers/flats.png") && exists("layers/tones.png"));
    assert_int_equal(sh(e, sizeof e, "%s convert %s/s1.png --style %s/ink.json -o %s/out2.png --color --tone-frequency 0.25 "
                        "--tone-angle 15 --line-width 3 --line-threshold 0.2", bin, dir, dir, dir), 0);
    assert_true(exists("out2.png"));
    char path[700], err[128];
    oma_image img = {0};
    snprintf(path, sizeof path, "%s/layers/tones.png", dir);
    assert_int_equal(oma_image_load(path, 0, NULL, &img, err, sizeof err), 0);
    assert_int_equal(img.c, 4);
    assert_int_equal(img.w, 80);
    oma_image_free(&img);
}

static void test_errors(void **state)
{
    (void)state;
    char e[512];
    /* usage errors: 2 */
    assert_int_equal(sh(e, sizeof e, "%s style learn --name ink %s/s0.png %s/s1.png", bin, dir, dir), 2);
    assert_non_null(strstr(e, "oma: style learn: need 3..50 sample images, got 2"));
    assert_int_equal(sh(e, sizeof e, "%s style learn --name ../up %s/s0.png %s/s1.png %s/s2.png", bin, dir, dir, dir), 2);
    assert_non_null(strstr(e, "bad name"));
    assert_int_equal(sh(e, sizeof e, "%s style learn %s/s0.png %s/s1.png %s/s2.png", bin, dir, dir, dir), 2);
    assert_int_equal(sh(e, sizeof e, "%s style learn --name x --colors 99 %s/s0.png %s/s1.png %s/s2.png", bin, dir, dir, dir), 2);
    assert_int_equal(sh(e, sizeof e, "%s style frobnicate", bin), 2);
    assert_int_equal(sh(e, sizeof e, "%s convert %s/s0.png -o %s/x.png --tone stripes", bin, dir, dir), 2);
    assert_non_null(strstr(e, "--tone"));
    assert_int_equal(sh(e, sizeof e, "%s convert %s/s0.png -o %s/x.png --line-width 0", bin, dir, dir), 2);
    assert_int_equal(sh(e, sizeof e, "%s convert %s/s0.png -o %s/x.png --tone-levels 12", bin, dir, dir), 2);
    assert_int_equal(sh(e, sizeof e, "%s convert %s/s0.png -o %s/x.png --tone-frequency abc", bin, dir, dir), 2);
    assert_int_equal(sh(e, sizeof e, "%s convert %s/s0.png", bin, dir), 2);
    assert_int_equal(sh(e, sizeof e, "%s convert %s/s0.png -o %s/x.png --bogus 1", bin, dir, dir), 2);
    /* the work failed: 1 */
    assert_int_equal(sh(e, sizeof e, "%s style learn --name ink2 %s/s0.png %s/notes.png %s/s2.png", bin, dir, dir, dir), 1);
    assert_non_null(strstr(e, "notes.png: not a usable image"));
    assert_int_equal(sh(e, sizeof e, "%s style learn --name ink3 %s/s0.png %s/missing.png %s/s2.png", bin, dir, dir, dir), 1);
    assert_int_equal(sh(e, sizeof e, "%s convert %s/s0.png --style nosuchstyle -o %s/x.png", bin, dir, dir), 1);
    assert_non_null(strstr(e, "no style named 'nosuchstyle'"));
    assert_int_equal(sh(e, sizeof e, "%s convert %s/s0.png --style %s/notes.png.json -o %s/x.png", bin, dir, dir, dir), 1);
    assert_int_equal(sh(e, sizeof e, "%s convert %s/notes.png -o %s/x.png", bin, dir, dir), 1);
    /* a profile file that is JSON but not a profile */
    char path[700];
    snprintf(path, sizeof path, "%s/bad.json", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"palette\": [{\"rgb\": \"red\"}]}", f);
    fclose(f);
    assert_int_equal(sh(e, sizeof e, "%s convert %s/s0.png --style %s -o %s/x.png", bin, dir, path, dir), 1);
    assert_non_null(strstr(e, "palette[0].rgb"));
    assert_false(exists("x.png"));
    assert_int_equal(sh(e, sizeof e, "%s style --help", bin), 0);
    assert_int_equal(sh(e, sizeof e, "%s convert --help", bin), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_learn_and_convert), cmocka_unit_test(test_errors)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
