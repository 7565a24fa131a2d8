/* cmd_models.c — `oma models check [--animate DIR]`: which model files are where.
 *
 * The AnimateAnyone folder (models/animate/aa_files.h): each part present (with its path) or
 * missing (with the path it is expected at). Exit 0 when complete, 1 otherwise. Also DWPose's
 * two ONNX files under $OMA_MODELS/dwpose (optional: pose estimation works without them; they
 * do not change the exit status).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "models/dwpose/dwpose.h"
#include "models/animate/aa_files.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: oma models check [--animate DIR]\n\n"
            "Lists the AnimateAnyone weights (pose transfer) in DIR, default $OMA_MODELS/animate-anyone:\n"
            "denoising_unet, reference_unet and pose_guider (.pth as downloaded, or .safetensors),\n"
            "image_encoder/ (config.json + pytorch_model.bin or model.safetensors), sd-vae-ft-mse/\n"
            "(config.json + diffusion_pytorch_model.bin or .safetensors), and optionally\n"
            "stable-diffusion-v1-5/unet/config.json. Exit status 0 when nothing is missing.\n"
            "Also lists DWPose's yolox_l.onnx and dw-ll_ucoco_384.onnx in $OMA_MODELS/dwpose (optional,\n"
            "for oma pose estimate --model dwpose; they do not change the exit status).\n");
}

int oma_cmd_models(int argc, char **argv)
{
    if (argc < 2 || oma_cli_wants_help(argc, argv) || strcmp(argv[1], "check") != 0) {
        int want = argc >= 2 && oma_cli_wants_help(argc, argv);
        help(want ? stdout : stderr);
        return want ? OMA_EXIT_OK : OMA_EXIT_USAGE;
    }
    const char *dir = NULL;
    char buf[1024];
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--animate") && i + 1 < argc) dir = argv[++i];
        else {
            oma_cli_error("models", "unexpected argument %s (try oma models --help)", argv[i]);
            return OMA_EXIT_USAGE;
        }
    }
    if (!dir) dir = oma_aa_default_dir(getenv("OMA_MODELS"), buf, sizeof buf);
    if (!dir) {
        oma_cli_error("models", "OMA_MODELS is not set (or pass --animate DIR)");
        return OMA_EXIT_USAGE;
    }
    oma_aa_files f;
    int missing = oma_aa_files_find(dir, &f);
    static char rep[8192];
    oma_aa_files_report(&f, rep, sizeof rep);
    printf("AnimateAnyone (oma pose transfer): %s\n%s", dir, rep);
    printf(missing ? "%d part(s) missing\n" : "complete\n", missing);
    const char *m = getenv("OMA_MODELS");
    if (m && *m) {
        static const char *const dw[] = {OMA_DWPOSE_DET_FILE, OMA_DWPOSE_POSE_FILE};
        int have = 0;
        printf("DWPose (oma pose estimate --model dwpose, optional): %s/dwpose\n", m);
        for (int i = 0; i < 2; i++) {
            struct stat st;
            snprintf(buf, sizeof buf, "%s/dwpose/%s", m, dw[i]);
            int ok = stat(buf, &st) == 0 && S_ISREG(st.st_mode);
            have += ok;
            if (ok) printf("  %-22s %s (%.0f KB)\n", dw[i], buf, (double)st.st_size / 1e3);
            else printf("  %-22s missing (expected at %s)\n", dw[i], buf);
        }
        printf(have == 2 ? "complete\n" : "not installed (pose estimation uses the TFJS models)\n");
    }
    return missing ? OMA_EXIT_FAIL : OMA_EXIT_OK;
}
