/* cmd_pose_warp.c — `oma pose warp --image CHAR.png --from POSE.json --to TARGET.json -o OUT.png`:
 * the pose.warp pipeline from the command line (same code: pipelines/pose/pose_warp.h). `oma pose`
 * (cmd_pose.c) hands "warp" to oma_cmd_pose_warp with argv[0] = "warp". The poses are OpenPose
 * JSON; a pose without a canvas size is taken to be at the image's size.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pipelines/pose/pose_warp.h"

#define WHAT "pose warp"

static void help(FILE *f)
{
    fprintf(f,
            "usage: oma pose warp --image CHAR.png --from POSE.json --to TARGET.json -o OUT.png\n"
            "                     [--grid N]\n\n"
            "Moves the character in CHAR (PNG, JPEG or WebP) from the pose in POSE.json to the pose\n"
            "in TARGET.json (OpenPose JSON, e.g. from `oma pose estimate` and the pose editor) with an\n"
            "as-rigid-as-possible (moving least squares) deformation of a mesh over the figure. The\n"
            "figure is the image's alpha when it has one, else found around the skeleton; the\n"
            "background stays still and the figure's old place is filled. Keypoints with confidence\n"
            "0 are ignored. --grid sets the mesh cell size in pixels (2..64, default 8).\n");
}

static int load_pose(const char *path, int w, int h, oma_pose *p)
{
    char err[512];
    FILE *f = fopen(path, "rb");
    if (!f) {
        oma_cli_error(WHAT, "%s: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    int rc = -1;
    if (!buf) {
        oma_cli_error(WHAT, "out of memory");
        goto done;
    }
    for (;;) {
        if (len == cap) {
            if (cap >= (16u << 20)) {
                oma_cli_error(WHAT, "%s: larger than 16 MiB", path);
                goto done;
            }
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                oma_cli_error(WHAT, "out of memory");
                goto done;
            }
            buf = nb;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                oma_cli_error(WHAT, "%s: read error", path);
                goto done;
            }
            break;
        }
    }
    if (oma_pose_parse(buf, len, w, h, p, err, sizeof err) != 0) {
        oma_cli_error(WHAT, "%s: %s", path, err);
        goto done;
    }
    rc = 0;
done:
    free(buf);
    fclose(f);
    return rc;
}

int oma_cmd_pose_warp(int argc, char **argv)
{
    if (oma_cli_wants_help(argc, argv)) {
        help(stdout);
        return OMA_EXIT_OK;
    }
    const char *image = NULL, *from_path = NULL, *to_path = NULL, *out = NULL;
    oma_warp_opts o = oma_warp_defaults();
    for (int i = 1; i < argc; i++) {
        const char **target = NULL;
        if (!strcmp(argv[i], "--image")) target = &image;
        else if (!strcmp(argv[i], "--from")) target = &from_path;
        else if (!strcmp(argv[i], "--to")) target = &to_path;
        else if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) target = &out;
        else if (!strcmp(argv[i], "--grid")) {
            if (i + 1 >= argc) {
                oma_cli_error(WHAT, "--grid needs a value");
                return OMA_EXIT_USAGE;
            }
            if (oma_cli_int(argv[++i], 2, 64, &o.grid) != 0) {
                oma_cli_error(WHAT, "--grid: expected 2..64, got '%s'", argv[i]);
                return OMA_EXIT_USAGE;
            }
            continue;
        } else {
            oma_cli_error(WHAT, "unexpected argument %s (try oma pose warp --help)", argv[i]);
            return OMA_EXIT_USAGE;
        }
        if (i + 1 >= argc) {
            oma_cli_error(WHAT, "%s needs a value", argv[i]);
            return OMA_EXIT_USAGE;
        }
        *target = argv[++i];
    }
    if (!image || !from_path || !to_path || !out) {
        oma_cli_error(WHAT, "need --image, --from, --to and -o (try oma pose warp --help)");
        return OMA_EXIT_USAGE;
    }
    char err[512];
    oma_image img, res;
    oma_pose from, to;
    if (oma_image_load(image, 0, NULL, &img, err, sizeof err) != 0) {
        if (strncmp(err, image, strlen(image)) == 0) oma_cli_error(WHAT, "%s", err);
        else oma_cli_error(WHAT, "%s: %s", image, err);
        return OMA_EXIT_FAIL;
    }
    if (load_pose(from_path, img.w, img.h, &from) != 0) {
        oma_image_free(&img);
        return OMA_EXIT_FAIL;
    }
    if (load_pose(to_path, img.w, img.h, &to) != 0) {
        oma_pose_free(&from);
        oma_image_free(&img);
        return OMA_EXIT_FAIL;
    }
    int rc = oma_pose_warp(&img, &from, &to, &o, &res, err, sizeof err);
    oma_pose_free(&from);
    oma_pose_free(&to);
    oma_image_free(&img);
    if (rc != 0) {
        oma_cli_error(WHAT, "%s", err);
        return OMA_EXIT_FAIL;
    }
    rc = oma_image_save_png(out, &res, err, sizeof err);
    oma_image_free(&res);
    if (rc != 0) {
        oma_cli_error(WHAT, "%s", err);
        return OMA_EXIT_FAIL;
    }
    return OMA_EXIT_OK;
}
