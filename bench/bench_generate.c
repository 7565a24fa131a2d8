/* bench_generate.c — end-to-end generation (oma_generate: the CLI's and the job's call) with an
 * SD 1.5-shaped model of made-up weights, time per phase and peak RSS (issue 15).
 *
 *   bench_generate txt2img SAMPLER STEPS CFG [latent=64]   one image, e.g. "DPM++ 2M Karras" 20 7
 *   bench_generate candidates SAMPLER STEPS [latent=64]    img2img, the original's six candidates
 *                                                          (strengths .45 .45 .55 .55 .65 .65),
 *                                                          CFG 7.5, batched UNet passes
 *   bench_generate quality STEPS [latent=32] [cfg=7]       fp32 vs bf16 on a fixed prompt set
 *                                                          (DPM++ 2M Karras): 8-bit image differences
 *   bench_generate draft STEPS [latent=32] [N=3] [branch=0] DRAFT mode (DeepCache) vs the full run on
 *                                                          the same prompt set: time and 8-bit error
 * OMA_BENCH_DRAFT=N (and OMA_BENCH_DRAFT_BRANCH) runs txt2img / candidates in draft mode.
 * OMA_BENCH_CFG sets the candidates' CFG (default the original's 7.5; 1 for LCM).
 *
 * The model: SD 1.5's UNet, VAE and CLIP ViT-L/14 text encoder shapes (bench_common.h's random
 * weights), the tiny fixture model's tokenizer (ids < 1000, inside CLIP's 49408). Everything
 * `oma generate` does but reading the checkpoint and writing PNGs. Its torch counterpart is
 * tools/bench_torch_generate.py (bench/run.sh runs both and prints the ratios). Prints one
 * line per run: total and per-phase wall seconds (text, VAE encode, UNet passes, VAE decode)
 * and peak RSS. OMA_PRECISION picks the compute precision as for the CLI.
 * OMA_DEVICE=cuda runs it on the CUDA backend (tensor/device.h; the line then also gives the ops
 * that ran on the device / host and the device memory peak); OMA_BENCH_OUT=FILE.ppm writes the
 * first picture (binary PPM) for bench/cuda/run_on_device.sh to compare devices.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "models/sd/sd_model.h"
#include "pipelines/generate/generate.h"
#include "tensor/backend.h"
#include "tensor/cpu/blas.h"
#include "tensor/device.h"
#include "tensor/device_backend.h"
#include "tensor/threadpool.h"

static void sd15_config(oma_sd_config *c)
{
    memset(c, 0, sizeof *c);
    sd15_unet(&c->unet);
    oma_vae_config *v = &c->vae;
    v->in_channels = v->out_channels = 3;
    v->latent_channels = 4;
    v->n_blocks = 4;
    int ch[4] = {128, 256, 512, 512};
    for (int i = 0; i < 4; i++) v->block_out_channels[i] = ch[i];
    v->layers_per_block = 2;
    v->norm_num_groups = 32;
    v->scaling_factor = 0.18215f;
    oma_scheduler_config *s = &c->scheduler;
    s->num_train_timesteps = 1000;
    s->beta_start = 0.00085f;
    s->beta_end = 0.012f;
    strcpy(s->beta_schedule, "scaled_linear");
    strcpy(s->prediction_type, "epsilon");
    s->steps_offset = 1;
    strcpy(s->timestep_spacing, "leading");
}

static int load(oma_sd_model *m, int encoder)
{
    char err[512];
    memset(m, 0, sizeof *m);
    sd15_config(&m->cfg);
    oma_weights w = {.ctx = NULL, .read = random_weight_read, .has = random_weight_has};
    oma_clip_text_params tp = {49408, 768, 3072, 12, 12, 77, 1e-5f, 1};
    const char *src = getenv("OMA_SOURCE_DIR");
    char tok[1024];
    snprintf(tok, sizeof tok, "%s/tests/fixtures/sd/tiny-sd/tokenizer", src ? src : ".");
    if (oma_clip_tokenizer_load(tok, &m->tok, err, sizeof err) != 0 ||
        oma_clip_text_load(&m->text, &w, "text_encoder", &tp, err, sizeof err) != 0 ||
        oma_unet_load(&m->unet, &w, "unet", &m->cfg.unet, err, sizeof err) != 0 ||
        oma_vae_load(&m->vae, &w, "vae", &m->cfg.vae, encoder, err, sizeof err) != 0) {
        fprintf(stderr, "bench_generate: %s\n", err);
        return -1;
    }
    m->has_encoder = encoder;
    return 0;
}

static const char *const prompts[] = {
    "a city street at night in the rain, webtoon background",
    "a quiet classroom in the afternoon sun, manga style",
    "a forest path with a wooden bridge, soft colours",
};

static oma_generate_times last;    /* the phases of the last run() */

/* OMA_BENCH_RSS=1: resident memory after each step (where the peak is: steps or VAE decode). */
static double rss_now_gb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%lld %lld", &pages, &res) != 2) res = 0;
        fclose(f);
    }
    return (double)res * 4096.0 / (1024.0 * 1024.0 * 1024.0);    /* GiB, as peak_rss_gb */
}

static int rss_progress(void *ctx, int step, int total, const oma_image *preview)
{
    (void)ctx, (void)preview;
    printf("  rss after step %d/%d: %.2f GB (peak so far %.2f GB; kept weights %.2f GB)\n", step, total, rss_now_gb(),
           peak_rss_gb(), oma_cpu_kept_bytes() / (1024.0 * 1024.0 * 1024.0));
    fflush(stdout);
    return 0;
}

static int run(oma_sd_model *m, oma_generate_params *p, oma_image *out, const char *what)
{
    char err[512];
    oma_generate_times t;
    p->times = &t;
    if (getenv("OMA_BENCH_RSS")) p->progress = rss_progress;
    double t0 = now();
    /* txt2img / candidates run as oma generate does (the UNet freed before the decode) */
    int rc = p->one_shot ? oma_generate_one_shot(m, p, out, err, sizeof err) : oma_generate(m, p, out, err, sizeof err);
    double tt = now() - t0;
    if (rc != 0) {
        fprintf(stderr, "bench_generate: %s\n", err);
        return -1;
    }
    last = t;
    p->times = NULL;
    char dr[64] = "";
    if (p->draft) snprintf(dr, sizeof dr, " DRAFT(DeepCache N=%d branch %d)", p->draft, p->draft_branch);
    printf("generate_sd15 %s%s %dx%d sampler=\"%s\" steps=%d cfg=%g batch=%d threads=%d precision=%s: total %.2f s | "
           "text %.2f s, vae encode %.2f s, unet %d passes (%d images) %.2f s = %.2f s/pass, vae decode %.2f s | "
           "peak RSS %.2f GB\n",
           what, dr, p->width, p->height, oma_sampler_name(p->sampler), p->steps, (double)p->cfg, p->batch, oma_threads(),
           oma_precision_name(), tt, t.text_s, t.encode_s, t.unet_passes, t.unet_items, t.unet_s,
           t.unet_passes ? t.unet_s / t.unet_passes : 0.0, t.decode_s, peak_rss_gb());
    if (oma_devbackend_active()) {
        oma_devbackend_stats ds;
        oma_devbackend_stats_get(&ds);
        printf("device %s: %llu ops on the device, %llu on the host (last: %s), device memory peak "
               "%.2f GB\n", oma_backend_current()->name, (unsigned long long)ds.device_ops,
               (unsigned long long)ds.host_ops, ds.host_ops ? ds.last_host_why : "none",
               ds.peak_bytes / 1e9);
    }
    const char *ppm = getenv("OMA_BENCH_OUT");
    if (ppm && *ppm) {
        FILE *f = fopen(ppm, "wb");
        size_t n = (size_t)out->w * out->h * 3;
        if (!f || out->c != 3 || fprintf(f, "P6\n%d %d\n255\n", out->w, out->h) < 0 ||
            fwrite(out->px, 1, n, f) != n) {
            fprintf(stderr, "bench_generate: %s: cannot write\n", ppm);
            if (f) fclose(f);
            return -1;
        }
        if (fclose(f) != 0) return -1;
    }
    fflush(stdout);
    return 0;
}

/* A smooth 8-bit picture as the img2img input (what the reference script builds too). */
static int make_init(oma_image *img, int side)
{
    if (oma_image_alloc(img, side, side, 3) != 0) return -1;
    for (int y = 0; y < side; y++)
        for (int x = 0; x < side; x++) {
            double u = 2.0 * x / (side - 1) - 1, v = 2.0 * y / (side - 1) - 1;
            double c[3] = {u, v, sin(3 * u) * cos(2 * v)};
            for (int k = 0; k < 3; k++) img->px[(y * side + x) * 3 + k] = (uint8_t)lround((c[k] + 1) * 127.5);
        }
    return 0;
}

static int quality(oma_sd_model *m, int steps, int latent, float cfg)
{
    double worst_mean = 0, worst_max = 0;
    for (size_t i = 0; i < sizeof prompts / sizeof prompts[0]; i++) {
        oma_generate_params p;
        oma_generate_defaults(&p);
        p.prompt = prompts[i];
        p.negative = "lowres, blurry";
        p.sampler = OMA_SAMPLER_DPMPP_2M_KARRAS;
        p.steps = steps;
        p.cfg = cfg;
        p.seed = 1000 + i;
        p.width = p.height = latent * 8;
        oma_image a = {0}, b = {0};
        if (oma_precision_set("fp32") != 0 || run(m, &p, &a, "quality") != 0) return 1;
        if (oma_precision_set("bf16") != 0) {
            printf("quality: no bf16 mode in this build\n");
            oma_image_free(&a);
            return 0;
        }
        if (run(m, &p, &b, "quality") != 0) return 1;
        double sum = 0, mx = 0;
        size_t n = (size_t)a.w * a.h * 3, sat = 0;
        for (size_t k = 0; k < n; k++) {
            double d = fabs((double)a.px[k] - b.px[k]);
            sum += d, mx = fmax(mx, d);
            sat += a.px[k] == 0 || a.px[k] == 255;
        }
        printf("quality prompt %zu \"%s\": bf16 vs fp32 8-bit image mean |diff| %.3f, max %.0f of 255 "
               "(fp32 pixels at 0 or 255: %.1f%%)\n", i, prompts[i], sum / n, mx, 100.0 * sat / n);
        worst_mean = fmax(worst_mean, sum / n), worst_max = fmax(worst_max, mx);
        oma_image_free(&a), oma_image_free(&b);
    }
    printf("quality worst: mean %.3f, max %.0f of 255 (bar: mean <= 1)\n", worst_mean, worst_max);
    oma_precision_set("fp32");
    return 0;
}

/* Draft mode against the full run, same prompts, seeds and precision: 8-bit error, UNet time. */
static int draft_quality(oma_sd_model *m, int steps, int latent, int n, int branch)
{
    double worst_mean = 0, worst_max = 0, unet_full = 0, unet_draft = 0;
    for (size_t i = 0; i < sizeof prompts / sizeof prompts[0]; i++) {
        oma_generate_params p;
        oma_generate_defaults(&p);
        p.prompt = prompts[i];
        p.negative = "lowres, blurry";
        p.sampler = OMA_SAMPLER_DPMPP_2M_KARRAS;
        p.steps = steps;
        p.cfg = 7.0f;
        p.seed = 1000 + i;
        p.width = p.height = latent * 8;
        oma_image a = {0}, b = {0};
        if (run(m, &p, &a, "draft-check full") != 0) return 1;
        unet_full += last.unet_s;
        p.draft = n, p.draft_branch = branch;
        if (run(m, &p, &b, "draft-check") != 0) return 1;
        unet_draft += last.unet_s;
        double sum = 0, mx = 0;
        size_t k, np = (size_t)a.w * a.h * 3;
        for (k = 0; k < np; k++) {
            double d = fabs((double)a.px[k] - b.px[k]);
            sum += d, mx = fmax(mx, d);
        }
        printf("draft prompt %zu: DeepCache N=%d branch %d vs full, 8-bit image mean |diff| %.2f, max %.0f of 255\n",
               i, n, branch, sum / np, mx);
        worst_mean = fmax(worst_mean, sum / np), worst_max = fmax(worst_max, mx);
        oma_image_free(&a), oma_image_free(&b);
    }
    printf("draft worst: mean %.2f, max %.0f of 255; UNet time draft/full %.2f\n", worst_mean, worst_max,
           unet_full > 0 ? unet_draft / unet_full : 0.0);
    return 0;
}

int main(int argc, char **argv)
{
    oma_blas_fix_coretype();
    oma_blas_init();
    char derr[320];
    oma_device_kind dev;
    if (oma_device_resolve(NULL, &dev, derr, sizeof derr) != 0 ||
        oma_device_use(dev, derr, sizeof derr) != 0) {
        fprintf(stderr, "bench_generate: %s\n", derr);
        return 2;
    }
    const char *what = argc > 1 ? argv[1] : "";
    oma_generate_params p;
    oma_generate_defaults(&p);
    p.prompt = prompts[0];
    p.negative = "lowres, blurry";
    if (!strcmp(what, "quality")) {
        int steps = argc > 2 ? atoi(argv[2]) : 20, latent = argc > 3 ? atoi(argv[3]) : 32;
        float cfg = argc > 4 ? (float)atof(argv[4]) : 7.0f;
        oma_sd_model m;
        if (steps < 1 || latent < 8 || load(&m, 0) != 0) return 1;
        int rc = quality(&m, steps, latent, cfg);
        oma_sd_model_free(&m);
        return rc;
    }
    if (!strcmp(what, "draft")) {
        int steps = argc > 2 ? atoi(argv[2]) : 20, latent = argc > 3 ? atoi(argv[3]) : 32;
        int n = argc > 4 ? atoi(argv[4]) : 3, branch = argc > 5 ? atoi(argv[5]) : 0;
        oma_sd_model m;
        if (steps < 1 || latent < 8 || load(&m, 0) != 0) return 1;
        int rc = draft_quality(&m, steps, latent, n, branch);
        oma_sd_model_free(&m);
        return rc;
    }
    if (getenv("OMA_BENCH_DRAFT")) {
        p.draft = atoi(getenv("OMA_BENCH_DRAFT"));
        p.draft_branch = getenv("OMA_BENCH_DRAFT_BRANCH") ? atoi(getenv("OMA_BENCH_DRAFT_BRANCH")) : 0;
    }
    p.one_shot = 1;     /* as oma generate: run() uses oma_generate_one_shot */
    int cand = !strcmp(what, "candidates");
    if ((!cand && strcmp(what, "txt2img")) || argc < (cand ? 4 : 5) ||
        oma_sampler_parse(argv[2], &p.sampler) != 0) {
        fprintf(stderr, "usage: bench_generate txt2img SAMPLER STEPS CFG [latent] | candidates SAMPLER STEPS [latent] |"
                        " quality STEPS [latent] [cfg]\n");
        return 2;
    }
    p.steps = atoi(argv[3]);
    /* the candidates' CFG is the original's 7.5; OMA_BENCH_CFG changes it (LCM's 1) */
    p.cfg = cand ? (getenv("OMA_BENCH_CFG") ? (float)atof(getenv("OMA_BENCH_CFG")) : 7.5f) : (float)atof(argv[4]);
    int latent = argc > (cand ? 4 : 5) ? atoi(argv[cand ? 4 : 5]) : 64;
    p.width = p.height = latent * 8;
    oma_sd_model m;
    if (load(&m, cand) != 0) return 1;
    oma_image init = {0}, out[OMA_GEN_MAX_BATCH];
    memset(out, 0, sizeof out);
    double st[OMA_GEN_CANDIDATES];
    if (cand) {
        if (make_init(&init, p.width) != 0) return 1;
        oma_generate_candidate_strengths(st);
        p.init = &init;
        p.strengths = st;
        p.batch = OMA_GEN_CANDIDATES;
    }
    /* a warm-up run would double the bench's time: the first UNet pass also builds the oneDNN
     * primitives (bench_sd unet shows its cost); the torch side likewise times its first run */
    int rc = run(&m, &p, out, cand ? "candidates" : "txt2img");
    for (int b = 0; b < p.batch; b++) oma_image_free(&out[b]);
    oma_image_free(&init);
    oma_sd_model_free(&m);
    oma_threads_shutdown();
    return rc ? 1 : 0;
}
