/* cmd_pose_transfer.c — `oma pose transfer --character C.png --pose TARGET.json|SKELETON.png
 * -o OUT.png`: AnimateAnyone stage 1 from the command line (pipelines/pose/pose_transfer.h).
 * `oma pose` (cmd_pose.c) hands "transfer" here with argv[0] = "transfer". The weights come
 * from --weights DIR, else $OMA_MODELS/animate-anyone (see `oma models check`).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pipelines/pose/pose_transfer.h"

#define WHAT "pose transfer"

static void help(FILE *f)
{
    fprintf(f,
            "usage: oma pose transfer --character C.png --pose TARGET.json|SKELETON.png -o OUT.png\n"
            "                         [--steps 20] [--cfg 3.5] [--seed S] [--width 512 --height 768]\n"
            "                         [--weights DIR]\n\n"
            "Draws the character in C (PNG, JPEG or WebP) in the target pose with AnimateAnyone's\n"
            "stage-1 model (Moore-AnimateAnyone). A transparent character (a cut-out PNG) is put on\n"
            "white first. The pose is OpenPose JSON (from `oma pose estimate` and the pose editor;\n"
            "drawn DWPose-style at the output size) or a skeleton picture (resized to the output\n"
            "size). Width and height are multiples of 8 in 64..2048 (default 512x768);\n"
            "DDIM with v-prediction, --steps 1..1000 (default 20), guidance --cfg (default 3.5),\n"
            "--seed (default 42). Weights: --weights DIR, else $OMA_MODELS/animate-anyone\n"
            "(`oma models check` lists what is there and what is missing).\n");
}

static int read_all(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            char *nb = cap >= (16u << 20) ? NULL : realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = n;
    return 0;
}

static int pose_picture(const char *path, int w, int h, oma_image *pic)
{
    char err[512];
    size_t pl = strlen(path);
    if (pl >= 5 && !strcasecmp(path + pl - 5, ".json")) {
        char *buf;
        size_t len;
        if (read_all(path, &buf, &len) != 0) {
            oma_cli_error(WHAT, "%s: cannot read (missing, unreadable or over 16 MiB)", path);
            return -1;
        }
        oma_pose pose;
        int rc = oma_pose_parse(buf, len, w, h, &pose, err, sizeof err);
        free(buf);
        if (rc != 0) {
            oma_cli_error(WHAT, "%s: %s", path, err);
            return -1;
        }
        rc = oma_transfer_pose_image(&pose, w, h, pic, err, sizeof err);
        oma_pose_free(&pose);
        if (rc != 0) oma_cli_error(WHAT, "%s", err);
        return rc;
    }
    if (oma_image_load(path, 0, NULL, pic, err, sizeof err) != 0) {
        oma_cli_error(WHAT, "%s: %s", path, err);
        return -1;
    }
    return 0;
}

int oma_cmd_pose_transfer(int argc, char **argv)
{
    if (oma_cli_wants_help(argc, argv)) {
        help(stdout);
        return OMA_EXIT_OK;
    }
    const char *character = NULL, *pose = NULL, *out = NULL, *weights = NULL;
    oma_transfer_params tp = oma_transfer_defaults();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) {
            oma_cli_error(WHAT, "%s: unexpected or missing value (try oma pose transfer --help)", a);
            return OMA_EXIT_USAGE;
        }
        const char *v = argv[++i];
        int ok = 1;
        if (!strcmp(a, "--character")) character = v;
        else if (!strcmp(a, "--pose")) pose = v;
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out = v;
        else if (!strcmp(a, "--weights")) weights = v;
        else if (!strcmp(a, "--steps")) ok = oma_cli_int(v, 1, 1000, &tp.steps) == 0;
        else if (!strcmp(a, "--width")) ok = oma_cli_int(v, 64, 2048, &tp.width) == 0 && tp.width % 8 == 0;
        else if (!strcmp(a, "--height")) ok = oma_cli_int(v, 64, 2048, &tp.height) == 0 && tp.height % 8 == 0;
        else if (!strcmp(a, "--seed")) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            ok = *v && *v != '-' && !*end && errno == 0;
            tp.seed = s;
        } else if (!strcmp(a, "--cfg")) {
            char *end;
            double g = strtod(v, &end);
            ok = *v && !*end && g >= 0 && g <= 100;
            tp.cfg = (float)g;
        } else {
            oma_cli_error(WHAT, "unexpected argument %s (try oma pose transfer --help)", a);
            return OMA_EXIT_USAGE;
        }
        if (!ok) {
            oma_cli_error(WHAT, "%s: bad value '%s' (width/height: multiples of 8 in 64..2048; steps 1..1000; "
                          "cfg 0..100)", a, v);
            return OMA_EXIT_USAGE;
        }
    }
    if (!character || !pose || !out) {
        oma_cli_error(WHAT, "need --character, --pose and -o (try oma pose transfer --help)");
        return OMA_EXIT_USAGE;
    }
    char dirbuf[1024], err[4096];
    const char *dir = weights ? weights : oma_aa_default_dir(getenv("OMA_MODELS"), dirbuf, sizeof dirbuf);
    if (!dir) {
        oma_cli_error(WHAT, "no weights: pass --weights DIR or set OMA_MODELS (see oma models check)");
        return OMA_EXIT_FAIL;
    }
    oma_image img, pic, res;
    if (oma_image_load(character, 0, NULL, &img, err, sizeof err) != 0) {
        oma_cli_error(WHAT, "%s: %s", character, err);
        return OMA_EXIT_FAIL;
    }
    if (pose_picture(pose, tp.width, tp.height, &pic) != 0) {
        oma_image_free(&img);
        return OMA_EXIT_FAIL;
    }
    oma_aa_model m;
    int rc = oma_aa_model_load(&m, dir, err, sizeof err);
    if (rc == 0) {
        rc = oma_pose_transfer(&m, &img, &pic, &tp, &res, err, sizeof err);
        oma_aa_model_free(&m);
    }
    oma_image_free(&img);
    oma_image_free(&pic);
    if (rc == 0) {
        rc = oma_image_save_png(out, &res, err, sizeof err);
        oma_image_free(&res);
    }
    if (rc != 0) {
        oma_cli_error(WHAT, "%s", err);
        return OMA_EXIT_FAIL;
    }
    return OMA_EXIT_OK;
}
