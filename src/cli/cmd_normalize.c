/* cmd_normalize.c — `oma normalize IN -o OUT.png [...]`: the image.normalize pipeline from the
 * command line (same options, same code: pipelines/image/normalize.h). Reads PNG, JPEG or WebP,
 * applies EXIF rotation, writes PNG. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pipelines/image/normalize.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: oma normalize IN -o OUT.png [--max-side N] [--width W] [--height H]\n"
            "                     [--fit contain|cover|none] [--multiple-of N]\n\n"
            "Applies the EXIF rotation and resizes IN (PNG, JPEG or WebP) for the pipelines:\n"
            "  --max-side N      shrink so the longest side is at most N (default 1024; never enlarges)\n"
            "  --width/--height  exact output size; with only one, the other keeps the aspect ratio\n"
            "  --fit             how W x H is filled: contain (letterbox, transparent bars; default),\n"
            "                    cover (fill and centre-crop), none (stretch)\n"
            "  --multiple-of N   both sides rounded down to a multiple of N (default 8)\n");
}

int oma_cmd_normalize(int argc, char **argv)
{
    if (oma_cli_wants_help(argc, argv)) {
        help(stdout);
        return OMA_EXIT_OK;
    }
    oma_normalize_opts o = oma_normalize_defaults();
    const char *in = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int *target = NULL;
        if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            if (i + 1 >= argc) goto missing;
            out = argv[++i];
            continue;
        }
        if (strcmp(a, "--fit") == 0) {
            if (i + 1 >= argc) goto missing;
            const char *f = argv[++i];
            if (strcmp(f, "contain") == 0) o.fit = OMA_FIT_CONTAIN;
            else if (strcmp(f, "cover") == 0) o.fit = OMA_FIT_COVER;
            else if (strcmp(f, "none") == 0) o.fit = OMA_FIT_NONE;
            else {
                oma_cli_error("normalize", "--fit: expected contain, cover or none, got '%s'", f);
                return OMA_EXIT_USAGE;
            }
            continue;
        }
        if (strcmp(a, "--max-side") == 0) target = &o.max_side;
        else if (strcmp(a, "--width") == 0) target = &o.width;
        else if (strcmp(a, "--height") == 0) target = &o.height;
        else if (strcmp(a, "--multiple-of") == 0) target = &o.multiple_of;
        if (target) {
            if (i + 1 >= argc) goto missing;
            if (oma_cli_int(argv[++i], 1, 1000000, target) != 0) {
                oma_cli_error("normalize", "%s: expected a positive integer, got '%s'", a, argv[i]);
                return OMA_EXIT_USAGE;
            }
            continue;
        }
        if (a[0] == '-' && a[1]) {
            oma_cli_error("normalize", "unknown option %s (try oma normalize --help)", a);
            return OMA_EXIT_USAGE;
        }
        if (in) {
            oma_cli_error("normalize", "more than one input (%s and %s)", in, a);
            return OMA_EXIT_USAGE;
        }
        in = a;
    }
    if (!in || !out) {
        oma_cli_error("normalize", "need an input and -o OUT.png (try oma normalize --help)");
        return OMA_EXIT_USAGE;
    }
    char err[512];
    if (oma_normalize_check(&o, err, sizeof err) != 0) {
        oma_cli_error("normalize", "%s", err);
        return OMA_EXIT_USAGE;
    }
    oma_image src, dst;
    if (oma_image_load(in, 0, NULL, &src, err, sizeof err) != 0) {
        if (strncmp(err, in, strlen(in)) == 0) oma_cli_error("normalize", "%s", err);
        else oma_cli_error("normalize", "%s: %s", in, err);
        return OMA_EXIT_FAIL;
    }
    int rc = oma_normalize_image(&src, &o, &dst, err, sizeof err);
    oma_image_free(&src);
    if (rc != 0) {
        oma_cli_error("normalize", "%s", err);
        return OMA_EXIT_FAIL;
    }
    rc = oma_image_save_png(out, &dst, err, sizeof err);
    oma_image_free(&dst);
    if (rc != 0) {
        oma_cli_error("normalize", "%s", err);
        return OMA_EXIT_FAIL;
    }
    return OMA_EXIT_OK;
missing:
    oma_cli_error("normalize", "%s needs a value", argv[argc - 1]);
    return OMA_EXIT_USAGE;
}
