/* test_pose_warp_cli.c — `oma pose warp` and `oma normalize` as a user runs them: the built
 * binary ($OMA_BIN, set by ctest) on files written here. Checks exit codes (0 done, 1 the work
 * failed, 2 usage), the one-line `oma: ...` error on stderr, and the output files. */
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

static char dir[] = "/tmp/oma_warp_cli_XXXXXX";
static const char *bin;

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
    snprintf(full, sizeof full, "%s 2>%s >/dev/null", cmd, errpath);
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

static void write_file(const char *name, const char *text)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **st)
{
    (void)st;
    bin = getenv("OMA_BIN");
    if (!bin || access(bin, X_OK) != 0) {
        print_error("OMA_BIN (%s) is not an executable oma; build the oma target\n", bin ? bin : "unset");
        return -1;
    }
    if (!mkdtemp(dir)) return -1;
    /* a 64x64 figure: a vertical blue bar (the arm) hanging from (32,16) to (32,48) on white */
    oma_image img;
    if (oma_image_alloc(&img, 64, 64, 3) != 0) return -1;
    memset(img.px, 255, 64 * 64 * 3);
    for (int y = 12; y < 52; y++)
        for (int x = 28; x < 37; x++) {
            uint8_t *p = img.px + (y * 64 + x) * 3;
            p[0] = 30, p[1] = 60, p[2] = 200;
        }
    char path[600], err[256];
    snprintf(path, sizeof path, "%s/char.png", dir);
    if (oma_image_save_png(path, &img, err, sizeof err) != 0) return -1;
    oma_image_free(&img);
    /* shoulder, elbow, wrist of the right arm (2, 3, 4) and the neck (1) */
    write_file("from.json", "{\"canvas_width\":64,\"canvas_height\":64,\"people\":[{\"pose_keypoints_2d\":["
                            "0,0,0, 32,10,1, 32,16,1, 32,32,1, 32,48,1, 0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,"
                            "0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0, 0,0,0]}]}");
    /* the arm swung to the right: elbow (44,24), wrist (54,34) */
    write_file("to.json", "{\"canvas_width\":64,\"canvas_height\":64,\"people\":[{\"pose_keypoints_2d\":["
                          "0,0,0, 32,10,1, 32,16,1, 44,24,1, 54,34,1, 0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,"
                          "0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0, 0,0,0]}]}");
    write_file("empty.json", "{\"canvas_width\":64,\"canvas_height\":64,\"people\":[]}");
    write_file("bad.json", "{\"people\": [{\"pose_keypoints_2d\": [1, 2]}]}");
    write_file("not_image.png", "hello");
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_pose_warp_cli(void **st)
{
    (void)st;
    char e[512];
    assert_int_equal(sh(e, sizeof e, "%s pose warp --help", bin), 0);
    assert_int_equal(sh(e, sizeof e, "cd %s && %s pose warp --image char.png --from from.json --to to.json -o out.png",
                        dir, bin), 0);
    char path[600], err[256];
    snprintf(path, sizeof path, "%s/out.png", dir);
    oma_image out;
    assert_int_equal(oma_image_load(path, 3, NULL, &out, err, sizeof err), 0);
    assert_int_equal(out.w, 64);
    /* the wrist end of the bar is now near (54,34), and its old place (32,46) is white again */
    const uint8_t *p = out.px + (34 * 64 + 52) * 3, *q = out.px + (46 * 64 + 32) * 3;
    assert_true(p[2] > 150 && p[0] < 100);
    assert_true(q[0] > 200 && q[1] > 200 && q[2] > 200);
    oma_image_free(&out);
    /* usage errors: 2, one line starting with "oma: " */
    assert_int_equal(sh(e, sizeof e, "cd %s && %s pose warp --image char.png -o out.png", dir, bin), 2);
    assert_true(strncmp(e, "oma: ", 5) == 0);
    assert_int_equal(sh(e, sizeof e, "cd %s && %s pose warp --image char.png --from from.json --to to.json -o x.png "
                                     "--grid 1", dir, bin), 2);
    assert_int_equal(sh(e, sizeof e, "cd %s && %s pose warp --bogus", dir, bin), 2);
    /* the work failed: 1 */
    assert_int_equal(sh(e, sizeof e, "cd %s && %s pose warp --image char.png --from from.json --to empty.json -o x.png",
                        dir, bin), 1);
    assert_non_null(strstr(e, "no people"));
    assert_int_equal(sh(e, sizeof e, "cd %s && %s pose warp --image char.png --from from.json --to bad.json -o x.png",
                        dir, bin), 1);
    assert_non_null(strstr(e, "bad.json"));
    assert_int_equal(sh(e, sizeof e, "cd %s && %s pose warp --image not_image.png --from from.json --to to.json -o x.png",
                        dir, bin), 1);
    assert_non_null(strstr(e, "not_image.png"));
    assert_int_equal(sh(e, sizeof e, "cd %s && %s pose warp --image missing.png --from from.json --to to.json -o x.png",
                        dir, bin), 1);
    assert_int_equal(sh(e, sizeof e, "cd %s && %s pose warp --image char.png --from from.json --to to.json "
                                     "-o /nonexistent/dir/x.png", dir, bin), 1);
}

static void test_normalize_cli(void **st)
{
    (void)st;
    char e[512], path[600], err[256];
    assert_int_equal(sh(e, sizeof e, "%s normalize --help", bin), 0);
    assert_int_equal(sh(e, sizeof e, "cd %s && %s normalize char.png -o n.png --width 40 --height 24 --fit contain",
                        dir, bin), 0);
    snprintf(path, sizeof path, "%s/n.png", dir);
    oma_image out;
    assert_int_equal(oma_image_load(path, 0, NULL, &out, err, sizeof err), 0);
    assert_int_equal(out.w, 40);
    assert_int_equal(out.h, 24);
    assert_int_equal(out.c, 4);
    assert_int_equal(out.px[3], 0);   /* a transparent bar on the left */
    oma_image_free(&out);
    assert_int_equal(sh(e, sizeof e, "cd %s && %s normalize char.png -o n.png --fit wide", dir, bin), 2);
    assert_true(strncmp(e, "oma: normalize: ", 16) == 0);
    assert_int_equal(sh(e, sizeof e, "cd %s && %s normalize char.png -o n.png --width -4", dir, bin), 2);
    assert_int_equal(sh(e, sizeof e, "cd %s && %s normalize char.png -o n.png --max-side 99999", dir, bin), 2);
    assert_int_equal(sh(e, sizeof e, "cd %s && %s normalize char.png", dir, bin), 2);
    assert_int_equal(sh(e, sizeof e, "cd %s && %s normalize not_image.png -o n.png", dir, bin), 1);
    assert_non_null(strstr(e, "not_image.png"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pose_warp_cli),
        cmocka_unit_test(test_normalize_cli),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
