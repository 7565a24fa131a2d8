/* cmd_generate.c — `oma generate`: Stable Diffusion 1.x txt2img / img2img from the command line.
 * Same code as the generate.txt2img/img2img job kinds (pipelines/generate/generate.h); writes PNGs with
 * an A1111-style "parameters" text chunk, and draws a progress bar on stderr. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>

#include "cli/cli.h"
#include "pipelines/generate/generate.h"
#include "tensor/backend.h"
#include "tensor/cpu/blas.h"
#include "tensor/device_backend.h"
#include "tensor/threadpool.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: oma generate --model PATH --prompt TEXT -o OUT.png [options]\n\n"
            "Draws an image with a Stable Diffusion 1.x model (a diffusers folder or a single\n"
            ".safetensors checkpoint) on the CPU.\n"
            "  --model PATH        the model (env OMA_MODEL as a fallback)\n"
            "  --tokenizer DIR     vocab.json + merges.txt for a single-file model without tokenizer/\n"
            "  --config FILE|DIR   a single file's original LDM yaml (v1-inference.yaml, a v-prediction\n"
            "                      yaml, ...) or a diffusers folder whose JSON configs describe it;\n"
            "                      default: NAME.yaml beside NAME.safetensors when there is one\n"
            "  --prompt TEXT       what to draw; A1111 emphasis (word:1.2), [word] is understood\n"
            "  --negative TEXT     what to avoid (default empty)\n"
            "  --steps N           sampling steps, 1..150 (default 20)\n"
            "  --cfg X             guidance scale (default 7.5)\n"
            "  --sampler NAME      \"Euler a\" (default), \"Euler\", \"DDIM\", \"DPM++ 2M Karras\", \"DPM++ 2M\",\n"
            "                      \"DPM++ 2M SDE Karras\", \"DPM++ SDE Karras\", \"LMS\", \"Heun\", \"DPM2\",\n"
            "                      \"UniPC\", \"PLMS\",\n"
            "                      \"LCM\", \"TCD\" (see README: samplers)\n"
            "  --scheduler S       A1111's split: karras (with \"DPM++ 2M\" / \"DPM++ SDE\" / \"DPM++ 2M SDE\")\n"
            "                      or uniform\n"
            "  --seed N            seed; candidate i uses N+i (default 0), same noise as diffusers'\n"
            "                      torch.Generator('cpu').manual_seed(N)\n"
            "  --width W --height H  any multiples of 8 from 64 to 2048 (default: the model's size,\n"
            "                      e.g. 512x512 for SD 1.x; img2img: the init picture's size)\n"
            "  --init IMAGE        img2img from this picture (PNG, JPEG, WebP), resized to W x H if given\n"
            "  --strength S        img2img: how much to change, 0..1 (default 0.55)\n"
            "  --batch N           N candidates (default 1); OUT.png becomes OUT-0.png .. OUT-(N-1).png\n"
            "  --candidates        img2img: the original service's six candidates (strengths 0.45,\n"
            "                      0.45, 0.55, 0.55, 0.65, 0.65; seeds N..N+5), batched UNet passes\n"
            "  --clip-skip N       A1111 clip skip (1 = none, 2 = skip the last layer)\n"
            "  --draft [N]         DRAFT MODE, off by default: approximate, faster previews (DeepCache:\n"
            "                      the whole UNet every N steps, default 3, only its shallow layers\n"
            "                      in between; the image differs from a full run, README \"Draft mode\")\n"
            "  --draft-branch K    draft: DeepCache's skip branch (default 0; 1 = also the first down\n"
            "                      layer, closer to the full image, slower)\n"
            "  --device D          cpu or cuda (env OMA_DEVICE; default cuda where built and a GPU\n"
            "                      is visible; fp32; unverified on a GPU so far, docs/cuda.md)\n"
            "  --half              keep fp16/bf16 weights 16-bit in memory (half the RAM, same result)\n"
            "  --precision P       bf16 (the default on CPUs with AVX512_BF16: convolutions and matrix\n"
            "                      products round their inputs to bfloat16, ~1.4x faster; images move by\n"
            "                      ~0.5 of 255 on average) or fp32 (exact diffusers parity; the default\n"
            "                      elsewhere); env OMA_PRECISION\n"
            "  --lora FILE[:W[:TEXT_W]]  apply a LoRA (kohya, diffusers, PEFT or lora_pti file, or a\n"
            "                      NAME in $OMA_MODELS/Lora) with weight W on the UNet and TEXT_W\n"
            "                      (default W) on the text encoder; repeat for several\n"
            "  --embedding FILE    a textual-inversion embedding (.pt, .safetensors, .bin, or a NAME in\n"
            "                      $OMA_MODELS/embeddings); its token is its file name, or its <tok>\n"
            "                      The prompt may also say <lora:NAME:W>, and use any embedding of\n"
            "                      $OMA_MODELS/embeddings by name.\n"
            "  -o, --output FILE   where to write the PNG\n"
            "Threads: OMA_THREADS (default: all CPUs).\n");
}

/* FILE[:W[:TEXT_W]] -> path (copied into buf) and weights. */
static int parse_lora(const char *v, char *buf, size_t len, oma_sd_lora *l)
{
    if (snprintf(buf, len, "%s", v) >= (int)len) return -1;
    float w[2];
    int nw = 0;
    for (;;) {
        char *c = strrchr(buf, ':'), *end;
        if (!c || nw == 2) break;
        double x = strtod(c + 1, &end);
        if (end == c + 1 || *end || !(x >= -10 && x <= 10)) break;
        w[nw++] = (float)x;
        *c = 0;
    }
    l->path = buf;
    l->unet_weight = l->text_weight = 1.0f;
    if (nw == 1) l->unet_weight = l->text_weight = w[0];
    if (nw == 2) l->unet_weight = w[1], l->text_weight = w[0];
    return *buf ? 0 : -1;
}

static int parse_long(const char *s, long long lo, long long hi, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

static int parse_float(const char *s, float *out)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno) return -1;
    *out = (float)v;
    return 0;
}

typedef struct {
    double t0;
} bar_state;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int progress(void *ctx, int step, int total, const oma_image *preview)
{
    (void)preview;
    bar_state *b = ctx;
    int width = 30, fill = total > 0 ? step * width / total : width;
    double el = now() - b->t0;
    fprintf(stderr, "\r[");
    for (int i = 0; i < width; i++) fputc(i < fill ? '#' : '.', stderr);
    fprintf(stderr, "] %d/%d steps, %.1f s/step ", step, total, step > 0 ? el / step : 0.0);
    if (step == total) fputc('\n', stderr);
    fflush(stderr);
    return 0;
}

/* Pipeline errors start with "generate: "; the CLI line already says it. */
static const char *why(const char *err)
{
    return strncmp(err, "generate: ", 10) == 0 ? err + 10 : err;
}

static int out_name(const char *out, int batch, int i, char *buf, size_t len)
{
    if (batch == 1) return snprintf(buf, len, "%s", out) < (int)len ? 0 : -1;
    const char *dot = strrchr(out, '.');
    const char *slash = strrchr(out, '/');
    if (!dot || (slash && dot < slash)) return snprintf(buf, len, "%s-%d", out, i) < (int)len ? 0 : -1;
    int n = snprintf(buf, len, "%.*s-%d%s", (int)(dot - out), out, i, dot);
    return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

int oma_cmd_generate(int argc, char **argv)
{
    if (oma_cli_wants_help(argc, argv)) {
        help(stdout);
        return OMA_EXIT_OK;
    }
    oma_blas_fix_coretype();
    oma_generate_params p;
    oma_generate_defaults(&p);
    const char *model = getenv("OMA_MODEL"), *init = NULL, *out = NULL;
    oma_sd_open_opts opts;
    memset(&opts, 0, sizeof opts);
    int have_prompt = 0, half = 0, candidates = 0, prec_given = getenv("OMA_PRECISION") != NULL;
    const char *sampler_name = NULL, *schedule = NULL, *device = NULL;
    double cand[OMA_GEN_CANDIDATES];
    oma_generate_times times;
    p.times = &times;
    oma_sd_lora loras[16];
    char lora_buf[16][1024];
    const char *embs[16];
    p.loras = loras;
    p.embeddings = embs;
    p.models_dir = getenv("OMA_MODELS");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--half")) {
            half = 1;
            continue;
        }
        if (!strcmp(a, "--candidates")) {
            candidates = 1;
            continue;
        }
        if (!strcmp(a, "--draft")) {    /* optional N: the next argument when it is a number */
            long long dn = 3;
            if (i + 1 < argc && argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9' &&
                parse_long(argv[++i], 2, OMA_GEN_MAX_DRAFT, &dn) != 0) {
                oma_cli_error("generate", "--draft: interval must be 2..%d, got '%s'", OMA_GEN_MAX_DRAFT, argv[i]);
                return OMA_EXIT_USAGE;
            }
            p.draft = (int)dn;
            continue;
        }
        if (i + 1 >= argc) {
            oma_cli_error("generate", "%s: missing value (see --help)", a);
            return OMA_EXIT_USAGE;
        }
        const char *v = argv[++i];
        long long n;
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--device")) device = v;
        else if (!strcmp(a, "--tokenizer")) opts.tokenizer_dir = v;
        else if (!strcmp(a, "--config")) opts.config_dir = v;
        else if (!strcmp(a, "--prompt")) p.prompt = v, have_prompt = 1;
        else if (!strcmp(a, "--negative")) p.negative = v;
        else if (!strcmp(a, "--init")) init = v;
        else if (!strcmp(a, "--lora")) {
            if (p.n_loras >= 16 || parse_lora(v, lora_buf[p.n_loras], sizeof lora_buf[0], &loras[p.n_loras]) != 0) {
                oma_cli_error("generate", "--lora: bad value '%s' (FILE[:W[:TEXT_W]], at most 16)", v);
                return OMA_EXIT_USAGE;
            }
            p.n_loras++;
        } else if (!strcmp(a, "--embedding")) {
            if (p.n_embeddings >= 16) goto bad;
            embs[p.n_embeddings++] = v;
        }
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) out = v;
        else if (!strcmp(a, "--precision")) {
            prec_given = 1;
            if (strcmp(v, "fp32") != 0 && strcmp(v, "bf16") != 0) {
                oma_cli_error("generate", "--precision: expected fp32 or bf16, got '%s'", v);
                return OMA_EXIT_USAGE;
            }
            if (oma_precision_set(v) != 0) {
                oma_cli_error("generate", "--precision: %s needs oneDNN, which this build lacks", v);
                return OMA_EXIT_USAGE;
            }
        } else if (!strcmp(a, "--sampler")) {
            if (oma_sampler_parse(v, &p.sampler) != 0 && strcasecmp(v, "DPM++ 2M SDE") != 0 &&
                strcasecmp(v, "DPM++ SDE") != 0) {
                oma_cli_error("generate", "--sampler: expected one of %s, got '%s'", oma_sampler_names_line(), v);
                return OMA_EXIT_USAGE;
            }
            sampler_name = v;
        } else if (!strcmp(a, "--scheduler")) {
            schedule = v;
        } else if (!strcmp(a, "--steps") || !strcmp(a, "--width") || !strcmp(a, "--height") ||
                   !strcmp(a, "--batch") || !strcmp(a, "--clip-skip") || !strcmp(a, "--draft-branch")) {
            if (parse_long(v, 0, 100000, &n) != 0) goto bad;
            if (!strcmp(a, "--steps")) p.steps = (int)n;
            else if (!strcmp(a, "--width")) p.width = (int)n;
            else if (!strcmp(a, "--height")) p.height = (int)n;
            else if (!strcmp(a, "--batch")) p.batch = (int)n;
            else if (!strcmp(a, "--draft-branch")) p.draft_branch = (int)n;
            else p.clip_skip = n > 0 ? (int)n - 1 : 0;
        } else if (!strcmp(a, "--seed")) {
            if (parse_long(v, 0, INT64_MAX, &n) != 0) goto bad;
            p.seed = (uint64_t)n;
        } else if (!strcmp(a, "--cfg")) {
            if (parse_float(v, &p.cfg) != 0) goto bad;
        } else if (!strcmp(a, "--strength")) {
            if (parse_float(v, &p.strength) != 0) goto bad;
        } else {
            oma_cli_error("generate", "unknown option '%s' (see --help)", a);
            return OMA_EXIT_USAGE;
        }
        continue;
    bad:
        oma_cli_error("generate", "%s: bad value '%s'", a, v);
        return OMA_EXIT_USAGE;
    }
    if (!model || !have_prompt || !out) {
        oma_cli_error("generate", "--model, --prompt and -o are required (see --help)");
        return OMA_EXIT_USAGE;
    }
    int drc = oma_cli_device("generate", device);
    if (drc != OMA_EXIT_OK) return drc;
    if (schedule || (sampler_name && (!strcasecmp(sampler_name, "DPM++ 2M SDE") ||
                                      !strcasecmp(sampler_name, "DPM++ SDE")))) {
        /* A1111's split: --sampler "DPM++ 2M" --scheduler karras */
        const char *sn = sampler_name ? sampler_name : oma_sampler_name(p.sampler);
        /* without --scheduler: "DPM++ SDE" is A1111's automatic Karras, "DPM++ 2M SDE" would be
         * Exponential, which we lack */
        if ((!schedule && strcasecmp(sn, "DPM++ SDE") != 0) || oma_sampler_parse_a1111(sn, schedule, &p.sampler) != 0) {
            oma_cli_error("generate", "--sampler '%s' with --scheduler '%s': no such sampler (karras: \"DPM++ 2M\", "
                          "\"DPM++ SDE\", \"DPM++ 2M SDE\"; uniform: the others)", sn, schedule ? schedule : "(none)");
            return OMA_EXIT_USAGE;
        }
    }
    /* bf16 by default where it runs natively (the quality bar and the numbers: README "Speed on
     * the CPU"); --precision fp32 / OMA_PRECISION=fp32 keep exact parity with diffusers */
    if (!prec_given && oma_precision_set(oma_generate_precision_default()) != 0) {
        oma_cli_error("generate", "cannot set precision %s", oma_generate_precision_default());
        return OMA_EXIT_FAIL;
    }
    char err[512];
    oma_image init_img = {0};
    if (candidates) {
        if (!init) {
            oma_cli_error("generate", "--candidates needs --init (they are img2img candidates)");
            return OMA_EXIT_USAGE;
        }
        oma_generate_candidate_strengths(cand);
        p.strengths = cand;
        p.batch = OMA_GEN_CANDIDATES;
    }
    if (init) {
        if (oma_image_load(init, 3, NULL, &init_img, err, sizeof err) != 0) {
            oma_cli_error("generate", "%s: %s", init, err);
            return OMA_EXIT_FAIL;
        }
        p.init = &init_img;
    }
    if (oma_generate_check(&p, err, sizeof err) != 0) {
        oma_cli_error("generate", "%s", why(err));
        oma_image_free(&init_img);
        return OMA_EXIT_USAGE;
    }
    oma_sd_model m;
    double t0 = now();
    if (oma_sd_model_load(model, &opts, (init ? OMA_SD_LOAD_ENCODER : 0) | (half ? OMA_SD_LOAD_HALF : 0), &m, err, sizeof err) != 0) {
        oma_cli_error("generate", "%s", err);
        oma_image_free(&init_img);
        return OMA_EXIT_FAIL;
    }
    oma_generate_resolve_size(&m, &p);  /* no --width/--height: the model's (or the init picture's) size */
    if (oma_generate_check(&p, err, sizeof err) != 0 ||
        (p.draft && oma_unet_draft_check(&m.unet.cfg, p.draft_branch, err, sizeof err) != 0)) {
        oma_cli_error("generate", "%s", why(err));
        oma_sd_model_free(&m);
        oma_image_free(&init_img);
        return OMA_EXIT_USAGE;
    }
    fprintf(stderr, "oma: generate: model loaded in %.1f s (UNet weights %.2f GB, %s, %d threads, %s)\n", now() - t0,
            oma_sd_model_unet_bytes(&m) / 1e9, oma_blas_corename(), oma_threads(), oma_precision_name());
    if (m.config_path[0])
        fprintf(stderr, "oma: generate: config %s (%s, %dx%d)\n", m.config_path, m.cfg.scheduler.prediction_type,
                p.width, p.height);
    bar_state bs = {now()};
    p.progress = progress;
    p.one_shot = 1;     /* the process ends after this run: no prepared UNet weights through the VAE decode */
    p.progress_ctx = &bs;
    oma_image imgs[OMA_GEN_MAX_BATCH];
    memset(imgs, 0, sizeof imgs);
    /* the UNet is freed before the VAE decode (peak memory): m is only freed after this */
    int rc = oma_generate_one_shot(&m, &p, imgs, err, sizeof err);
    int status = OMA_EXIT_OK;
    if (rc != 0) {
        oma_cli_error("generate", "%s", why(err));
        status = OMA_EXIT_FAIL;
    }
    if (rc == 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        fprintf(stderr,
                "oma: generate: text %.2f s, UNet %d passes (%d images) %.2f s (%.2f s per pass), VAE decode %.2f s, "
                "peak RSS %.2f GB\n",
                times.text_s, times.unet_passes, times.unet_items, times.unet_s,
                times.unet_passes ? times.unet_s / times.unet_passes : 0.0, times.decode_s,
                (double)ru.ru_maxrss / (1024.0 * 1024.0));
        if (init) fprintf(stderr, "oma: generate: VAE encode %.2f s\n", times.encode_s);
        if (oma_devbackend_active()) {   /* bench/cuda/run_on_device.sh reads this line */
            oma_devbackend_stats ds;
            oma_devbackend_stats_get(&ds);
            fprintf(stderr, "oma: generate: device %s: %llu ops on the device, %llu on the host "
                    "(%llu of them with host memory), device memory peak %.2f GB\n",
                    oma_backend_current()->name, (unsigned long long)ds.device_ops,
                    (unsigned long long)ds.host_ops, (unsigned long long)ds.host_unreachable,
                    ds.peak_bytes / 1e9);
        }
        if (p.draft)
            fprintf(stderr, "oma: generate: DRAFT (DeepCache N=%d branch %d): %d of %d UNet passes on the shallow "
                            "path only; the image is approximate\n",
                    p.draft, p.draft_branch, times.draft_passes, times.unet_passes);
    }
    for (int i = 0; rc == 0 && i < p.batch; i++) {
        char path[4096], params[8192];
        oma_generate_params q = p;      /* each candidate's own strength in its parameters text */
        if (p.strengths) q.strength = (float)p.strengths[i];
        uint8_t *png = NULL;
        size_t len = 0;
        if (out_name(out, p.batch, i, path, sizeof path) != 0 ||
            oma_generate_parameters_text(&q, p.seed + (uint64_t)i, params, sizeof params) != 0) {
            oma_cli_error("generate", "output name or parameters too long");
            status = OMA_EXIT_FAIL;
            break;
        }
        FILE *f = NULL;
        err[0] = 0;
        if (oma_image_encode_png(&imgs[i], "parameters", params, &png, &len, err, sizeof err) != 0 ||
            !(f = fopen(path, "wb")) || fwrite(png, 1, len, f) != len) {
            oma_cli_error("generate", "%s: %s", path, err[0] ? err : strerror(errno));
            status = OMA_EXIT_FAIL;
        }
        if (f && fclose(f) != 0) status = OMA_EXIT_FAIL;
        free(png);
        if (status == OMA_EXIT_OK) fprintf(stderr, "oma: generate: wrote %s\n", path);
    }
    for (int i = 0; i < p.batch; i++) oma_image_free(&imgs[i]);
    oma_image_free(&init_img);
    oma_sd_model_free(&m);
    return status;
}
