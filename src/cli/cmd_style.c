/* cmd_style.c — `oma style learn --name NAME IMAGES... [-o profile.json]` and
 * `oma style show NAME|PATH`: learns a style profile (palette, tone levels, line weight,
 * screentone, saturation, contrast) from 3..50 of an artist's images and stores it by name in
 * the data folder, where `oma convert --style NAME` finds it (pipelines/style_profile*.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "formats/image.h"
#include "pipelines/style/style_profile.h"
#include "pipelines/style/style_profile_store.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: oma style learn --name NAME IMAGE... [-o profile.json] [--colors K]\n"
            "       oma style show NAME|PROFILE.json\n\n"
            "learn: reads 3..50 sample images (PNG, JPEG, WebP) of one artist and learns a profile:\n"
            "       palette (k-means in CIELAB, K colours, default 8), tone levels, line weight and\n"
            "       darkness, screentone (density, frequency), saturation and contrast.\n"
            "       Saved as $OMA_DATA/styles/NAME.json (./data/styles without OMA_DATA); with -o\n"
            "       also written there. Without --name, -o is required.\n"
            "show:  prints a stored profile as JSON.\n");
}

static int learn(int argc, char **argv)
{
    const char *name = NULL, *out = NULL;
    int k = 8;
    const char **files = calloc((size_t)argc, sizeof *files);
    if (!files) { oma_cli_error("style", "out of memory"); return OMA_EXIT_FAIL; }
    int nf = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--name") == 0 || strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--colors") == 0) {
            if (i + 1 >= argc) {
                oma_cli_error("style learn", "%s needs a value", argv[i]);
                free(files);
                return OMA_EXIT_USAGE;
            }
            const char *opt = argv[i], *v = argv[++i];
            if (strcmp(opt, "--name") == 0) name = v;
            else if (strcmp(opt, "-o") == 0) out = v;
            else {
                if (oma_cli_int(v, 1, OMA_PALETTE_MAX, &k) != 0) {
                    oma_cli_error("style learn", "--colors must be 1..%d", OMA_PALETTE_MAX);
                    free(files);
                    return OMA_EXIT_USAGE;
                }
            }
        } else if (argv[i][0] == '-' && argv[i][1]) {
            oma_cli_error("style learn", "unknown option %s", argv[i]);
            free(files);
            return OMA_EXIT_USAGE;
        } else {
            files[nf++] = argv[i];
        }
    }
    if (!name && !out) {
        oma_cli_error("style learn", "give --name NAME (and/or -o profile.json)");
        free(files);
        return OMA_EXIT_USAGE;
    }
    if (name && !oma_style_name_valid(name)) {
        oma_cli_error("style learn", "bad name '%s': use 1..64 of A-Z a-z 0-9 _ . -", name);
        free(files);
        return OMA_EXIT_USAGE;
    }
    if (nf < OMA_STYLE_MIN_SAMPLES || nf > OMA_STYLE_MAX_SAMPLES) {
        oma_cli_error("style learn", "need %d..%d sample images, got %d", OMA_STYLE_MIN_SAMPLES,
                      OMA_STYLE_MAX_SAMPLES, nf);
        free(files);
        return OMA_EXIT_USAGE;
    }
    oma_style_learner *l = oma_style_learner_new(k);
    if (!l) { oma_cli_error("style learn", "out of memory"); free(files); return OMA_EXIT_FAIL; }
    char err[512];
    int rc = OMA_EXIT_FAIL;
    for (int i = 0; i < nf; i++) {
        oma_image img = {0};
        if (oma_image_load(files[i], 0, NULL, &img, err, sizeof err) != 0) {
            oma_cli_error(files[i], "not a usable image: %s", err);
            goto done;
        }
        int r = oma_style_learner_add(l, &img, err, sizeof err);
        oma_image_free(&img);
        if (r != 0) { oma_cli_error(files[i], "%s", err); goto done; }
        fprintf(stderr, "\rlearning style: %d/%d", i + 1, nf);
    }
    fputc('\n', stderr);
    oma_style_profile p;
    if (oma_style_learner_finish(l, &p, err, sizeof err) != 0) { oma_cli_error("style learn", "%s", err); goto done; }
    if (out && oma_style_profile_write_file(&p, out, err, sizeof err) != 0) {
        oma_cli_error("style learn", "%s", err);
        goto done;
    }
    if (name) {
        char path[4200];
        if (oma_style_profile_save_named(&p, name, path, sizeof path, err, sizeof err) != 0) {
            oma_cli_error("style learn", "%s", err);
            goto done;
        }
        printf("style '%s' saved to %s\n", name, path);
    }
    printf("%d samples: %d colours, %d tone levels, lines %.1f px (darkness %.2f), screentone %s, "
           "saturation %.2f, contrast %.2f\n",
           p.n_samples, p.palette.n, p.n_tones, p.line_weight_px, p.line_darkness,
           p.screentone_present ? "yes" : "no", p.saturation, p.contrast);
    rc = OMA_EXIT_OK;
done:
    oma_style_learner_free(l);
    free(files);
    return rc;
}

static int show(int argc, char **argv)
{
    if (argc != 2) {
        oma_cli_error("style show", "give one style name or profile path");
        return OMA_EXIT_USAGE;
    }
    oma_style_profile p;
    char err[512];
    if (oma_style_profile_load(argv[1], &p, err, sizeof err) != 0) {
        oma_cli_error("style show", "%s", err);
        return OMA_EXIT_FAIL;
    }
    json_t *j = oma_style_profile_to_json(&p);
    char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(j);
    if (!s) { oma_cli_error("style show", "out of memory"); return OMA_EXIT_FAIL; }
    puts(s);
    free(s);
    return OMA_EXIT_OK;
}

int oma_cmd_style(int argc, char **argv)
{
    if (argc < 2 || oma_cli_wants_help(argc, argv)) {
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? OMA_EXIT_USAGE : OMA_EXIT_OK;
    }
    if (strcmp(argv[1], "learn") == 0) return learn(argc - 1, argv + 1);
    if (strcmp(argv[1], "show") == 0) return show(argc - 1, argv + 1);
    oma_cli_error("style", "unknown action '%s' (learn or show)", argv[1]);
    return OMA_EXIT_USAGE;
}
