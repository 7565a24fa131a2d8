/* test_pose_transfer_cli.c — `oma pose transfer` as a user runs it: the built binary ($OMA_BIN,
 * set by ctest) with the tiny AnimateAnyone fixture weights (tests/fixtures/animate/tiny) on
 * files written here. A cut-out character (an RGBA PNG, transparent around an ellipse, the
 * hidden RGB black) at 72x120 (a multiple of 8, not of 64) must give exactly the picture the
 * same character composited over white gives, at the asked size; sizes that are not multiples
 * of 8 in 64..2048 are usage errors (exit 2, one `oma: ` line naming the rule); --help says both.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "formats/image.h"

static char dir[] = "/tmp/oma_aa_cli_XXXXXX";
static const char *bin;
static char weights[1100];

/* Runs the shell command; returns the exit status, stderr's first line into errline. */
static int sh(char *errline, size_t n, const char *fmt, ...)
{
    char cmd[4096], errpath[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", dir);
    char full[4800];
    snprintf(full, sizeof full, "%s 2>%s", cmd, errpath);
    int st = system(full);
    if (errline) {
        errline[0] = 0;
        FILE *f = fopen(errpath, "r");
        if (f) {
            if (!fgets(errline, (int)n, f)) errline[0] = 0;
            fclose(f);
        }
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int setup(void **st)
{
    (void)st;
    bin = getenv("OMA_BIN");
    if (!bin || access(bin, X_OK) != 0) {
        print_error("OMA_BIN (%s) is not an executable oma; build the oma target\n", bin ? bin : "unset");
        return -1;
    }
    const char *src = getenv("OMA_SOURCE_DIR");
    char root[1024], path[1200], err[256];
    snprintf(root, sizeof root, "%s/tests/fixtures/animate", src ? src : ".");
    snprintf(weights, sizeof weights, "%s/tiny", root);
    if (!mkdtemp(dir)) return -1;
    oma_image ch, cut, white;
    snprintf(path, sizeof path, "%s/character.png", root);
    if (oma_image_load(path, 3, NULL, &ch, err, sizeof err) != 0) {
        print_error("%s: %s\n", path, err);
        return -1;
    }
    if (oma_image_alloc(&cut, ch.w, ch.h, 4) != 0 || oma_image_alloc(&white, ch.w, ch.h, 3) != 0) return -1;
    for (int y = 0; y < ch.h; y++)
        for (int x = 0; x < ch.w; x++) {
            double dx = (x + 0.5 - ch.w / 2.0) / (ch.w * 0.4), dy = (y + 0.5 - ch.h / 2.0) / (ch.h * 0.42);
            int in = dx * dx + dy * dy < 1.0;
            size_t i = (size_t)y * ch.w + x;
            for (int k = 0; k < 3; k++) {
                cut.px[i * 4 + k] = in ? ch.px[i * 3 + k] : 0;     /* hidden RGB: black */
                white.px[i * 3 + k] = in ? ch.px[i * 3 + k] : 255;
            }
            cut.px[i * 4 + 3] = in ? 255 : 0;
        }
    snprintf(path, sizeof path, "%s/cut.png", dir);
    int rc = oma_image_save_png(path, &cut, err, sizeof err);
    snprintf(path, sizeof path, "%s/white.png", dir);
    rc |= oma_image_save_png(path, &white, err, sizeof err);
    snprintf(path, sizeof path, "%s/pose.png", root);
    char cmd[2600];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/pose.png'", path, dir);
    rc |= system(cmd);
    oma_image_free(&ch);
    oma_image_free(&cut);
    oma_image_free(&white);
    return rc == 0 ? 0 : -1;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void load(const char *name, oma_image *img)
{
    char path[700], err[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(oma_image_load(path, 0, NULL, img, err, sizeof err), 0);
}

static void test_pose_transfer_cli(void **st)
{
    (void)st;
    char e[512];
    assert_int_equal(sh(e, sizeof e, "%s pose transfer --help | grep -q 'multiples of 8 in 64..2048'", bin), 0);
    assert_int_equal(sh(e, sizeof e, "%s pose transfer --help | grep -q 'is put on'", bin), 0);
    /* the cut-out and the same character on white, at 72x120 */
    assert_int_equal(sh(e, sizeof e, "cd %s && %s pose transfer --character cut.png --pose pose.png -o a.png "
                                     "--width 72 --height 120 --steps 2 --weights '%s'", dir, bin, weights), 0);
    assert_int_equal(sh(e, sizeof e, "cd %s && %s pose transfer --character white.png --pose pose.png -o b.png "
                                     "--width 72 --height 120 --steps 2 --weights '%s'", dir, bin, weights), 0);
    oma_image a, b, in;
    load("a.png", &a);
    load("b.png", &b);
    load("cut.png", &in);
    assert_int_equal(in.c, 4);          /* the input really is RGBA */
    assert_int_equal(a.w, 72);
    assert_int_equal(a.h, 120);
    assert_int_equal(a.c, 3);
    assert_int_equal(b.w, 72);
    assert_int_equal(b.h, 120);
    assert_memory_equal(a.px, b.px, (size_t)72 * 120 * 3);
    oma_image_free(&a);
    oma_image_free(&b);
    oma_image_free(&in);
    /* sizes outside the rule: usage errors with one line naming it */
    static const char *const bad[] = {"--width 70", "--height 124", "--width 56", "--height 2056"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(sh(e, sizeof e, "cd %s && %s pose transfer --character cut.png --pose pose.png -o c.png %s "
                                         "--weights '%s'", dir, bin, bad[i], weights), 2);
        assert_true(strncmp(e, "oma: ", 5) == 0);
        assert_non_null(strstr(e, "multiples of 8 in 64..2048"));
    }
    char path[700];
    snprintf(path, sizeof path, "%s/c.png", dir);
    assert_int_not_equal(access(path, F_OK), 0);        /* nothing written */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pose_transfer_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
