/* cmd_train.c — `oma train style --model SD --name NAME IMAGES... -o DIR [options]`: learns an
 * artist's style as a LoRA + embedding with the original service's recipe (train/style_train.h)
 * and writes DIR/NAME.safetensors (kohya format, the embedding inside) and
 * DIR/NAME.embedding.safetensors. Progress goes to stderr; Ctrl-C stops at the next step after a
 * checkpoint (DIR/NAME.checkpoint.safetensors), and the same command resumes from it. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "formats/image.h"
#include "tensor/cpu/blas.h"
#include "train/style_train.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void help(FILE *f)
{
    fprintf(f,
            "usage: oma train style --model SD --name NAME IMAGE... -o DIR [options]\n\n"
            "Learns the style of 2..256 images (PNG, JPEG, WebP) as textual inversion (<s1><s2>)\n"
            "then a LoRA on Stable Diffusion 1.x, the original service's recipe (README: Style\n"
            "training). Writes DIR/NAME.safetensors (kohya LoRA with the embedding inside: prompt\n"
            "word NAME in A1111, or <s1><s2>) and DIR/NAME.embedding.safetensors.\n\n"
            "  --model PATH        SD 1.x model: diffusers folder or single file (env OMA_MODEL)\n"
            "  --config FILE|DIR   a single file's LDM yaml or diffusers config folder (default:\n"
            "                      NAME.yaml beside NAME.safetensors when there is one)\n"
            "  --name NAME         style name (letters, digits, _ - .)\n"
            "  -o DIR              output folder\n"
            "  --resolution N      training size, multiple of 64 (512)\n"
            "  --steps-ti N        textual-inversion micro-steps (500)\n"
            "  --steps-lora N      LoRA micro-steps (500)\n"
            "  --rank R            LoRA rank (16)\n"
            "  --lr-ti X           embedding learning rate before x4 accumulation (5e-4)\n"
            "  --lr-lora X         UNet LoRA learning rate before x4 (1e-4; text encoder X/10)\n"
            "  --seed S            seed (42)\n"
            "  --checkpoint-every N  micro-steps between checkpoints (100; 0 = none)\n"
            "  --sample-every N    write DIR/NAME.sample-STEP.png every N micro-steps (0)\n\n"
            "A checkpoint DIR/NAME.checkpoint.safetensors lets an interrupted run (Ctrl-C, a kill)\n"
            "continue where it was with the same command; it is removed when the run ends.\n"
            "Exit 0 when written, 1 on failure or interruption, 2 for a usage error.\n");
}

typedef struct cli_ctx {
    const char *dir, *name;
    int last_printed;
} cli_ctx;

static int progress(void *p, const oma_style_train_progress *pr)
{
    cli_ctx *c = p;
    if (!strcmp(pr->stage, "ti") || !strcmp(pr->stage, "lora")) {
        if (pr->total_step - c->last_printed >= 10 || pr->step == pr->steps) {
            char eta[32] = "?";
            if (pr->eta_s >= 0)
                snprintf(eta, sizeof eta, "%dm%02ds", (int)(pr->eta_s / 60), (int)fmod(pr->eta_s, 60));
            fprintf(stderr, "oma: train: %s %d/%d loss %.4f (step %d/%d, %s left)\n", pr->stage,
                    pr->step, pr->steps, pr->loss, pr->total_step, pr->total_steps, eta);
            c->last_printed = pr->total_step;
        }
    } else
        fprintf(stderr, "oma: train: %s\n", pr->stage);
    return interrupted != 0;
}

static void sample(void *p, const char *stage, int step, const uint8_t *rgb, int w, int h)
{
    cli_ctx *c = p;
    char path[4096], err[256];
    snprintf(path, sizeof path, "%s/%s.sample-%05d.png", c->dir, c->name, step);
    oma_image img = {.w = w, .h = h, .c = 3, .px = (uint8_t *)rgb};
    if (oma_image_save_png(path, &img, err, sizeof err) != 0)
        oma_cli_error("train", "%s", err);
    else
        fprintf(stderr, "oma: train: %s sample %s\n", stage, path);
}

static int parse_float(const char *s, float *out)
{
    char *end;
    double v = strtod(s, &end);
    if (!*s || *end || !isfinite(v) || v <= 0 || v >= 1)
        return -1;
    *out = (float)v;
    return 0;
}

static int style(int argc, char **argv)
{
    oma_style_train_opts o;
    oma_style_train_defaults(&o);
    o.model_path = getenv("OMA_MODEL");
    o.checkpoint_every = 100;
    const char **files = calloc((size_t)argc, sizeof *files);
    if (!files) {
        oma_cli_error("train", "out of memory");
        return OMA_EXIT_FAIL;
    }
    int nf = 0, usage = 0;
    for (int i = 1; i < argc && !usage; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || !a[1]) {
            files[nf++] = a;
            continue;
        }
        if (i + 1 >= argc) {
            oma_cli_error("train style", "%s needs a value (see --help)", a);
            usage = 1;
            break;
        }
        const char *v = argv[++i];
        int bad = 0;
        if (!strcmp(a, "--model")) o.model_path = v;
        else if (!strcmp(a, "--config")) o.config_path = v;
        else if (!strcmp(a, "--name")) o.name = v;
        else if (!strcmp(a, "-o")) o.out_dir = v;
        else if (!strcmp(a, "--resolution")) bad = oma_cli_int(v, 64, 1024, &o.resolution);
        else if (!strcmp(a, "--steps-ti")) bad = oma_cli_int(v, 0, 100000, &o.steps_ti);
        else if (!strcmp(a, "--steps-lora")) bad = oma_cli_int(v, 0, 100000, &o.steps_lora);
        else if (!strcmp(a, "--rank")) bad = oma_cli_int(v, 1, 128, &o.rank);
        else if (!strcmp(a, "--lr-ti")) bad = parse_float(v, &o.lr_ti);
        else if (!strcmp(a, "--lr-lora")) {
            bad = parse_float(v, &o.lr_lora_unet);
            o.lr_lora_text = o.lr_lora_unet / 10;
        } else if (!strcmp(a, "--seed")) {
            char *end;
            unsigned long long s = strtoull(v, &end, 10);
            bad = !*v || *end || v[0] == '-';
            o.seed = s;
        } else if (!strcmp(a, "--checkpoint-every")) bad = oma_cli_int(v, 0, 100000, &o.checkpoint_every);
        else if (!strcmp(a, "--sample-every")) bad = oma_cli_int(v, 0, 100000, &o.sample_every);
        else {
            oma_cli_error("train style", "unknown option %s (see --help)", a);
            usage = 1;
            break;
        }
        if (bad) {
            oma_cli_error("train style", "bad value for %s: '%s' (see --help)", a, v);
            usage = 1;
        }
    }
    if (!usage && (!o.model_path || !o.name || !o.out_dir)) {
        oma_cli_error("train style", "--model, --name and -o are required (see --help)");
        usage = 1;
    }
    if (!usage && nf < 2) {
        oma_cli_error("train style", "%d image%s given: a style needs at least 2", nf,
                      nf == 1 ? "" : "s");
        usage = 1;
    }
    if (usage) {
        free(files);
        return OMA_EXIT_USAGE;
    }
    o.images = files;
    o.n_images = nf;
    char ckpt[4096];
    snprintf(ckpt, sizeof ckpt, "%s/%s.checkpoint.safetensors", o.out_dir, o.name);
    o.checkpoint_path = ckpt;
    cli_ctx c = {o.out_dir, o.name, 0};
    oma_style_train_hooks h = {.ctx = &c, .progress = progress, .sample = sample};
    struct sigaction sa = {0}, old_int, old_term;
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    char lora[4096], emb[4096], err[1024];
    int rc = oma_style_train(&o, &h, lora, sizeof lora, emb, sizeof emb, err, sizeof err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    free(files);
    if (rc == 1) {
        oma_cli_error("train", "interrupted; %s holds the progress, run the same command to "
                      "continue", ckpt);
        return OMA_EXIT_FAIL;
    }
    if (rc != 0) {
        /* err is "train: <what>: <why>" */
        fprintf(stderr, "oma: %s\n", err);
        return OMA_EXIT_FAIL;
    }
    unlink(ckpt);
    printf("%s\n%s\n", lora, emb);
    return OMA_EXIT_OK;
}

int oma_cmd_train(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        help(argc < 2 ? stderr : stdout);
        return argc < 2 ? OMA_EXIT_USAGE : OMA_EXIT_OK;
    }
    if (strcmp(argv[1], "style") != 0) {
        oma_cli_error("train", "unknown kind '%s' (only 'style'; see --help)", argv[1]);
        return OMA_EXIT_USAGE;
    }
    if (oma_cli_wants_help(argc - 1, argv + 1)) {
        help(stdout);
        return OMA_EXIT_OK;
    }
    oma_blas_fix_coretype();    /* OpenBLAS's own (AVX-512) kernels, passive OpenMP waits */
    return style(argc - 1, argv + 1);
}
