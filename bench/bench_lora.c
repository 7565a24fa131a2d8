/* bench_lora.c — applying and taking off a LoRA on SD 1.5 shapes, ours vs diffusers, one run.
 *
 *   bench_lora [rank=16]
 * Builds an SD 1.5-shaped UNet with made-up weights (fp16 values, as checkpoints ship), writes a kohya LoRA of that rank on every
 * layer kohya's default covers in the UNet (attention q/k/v/out, ff, proj_in/out: 192 layers),
 * then times oma_sd_patch_apply (read + check + merge, copies kept) and oma_sd_patch_restore, and
 * the extra memory. When OMA_DIFFUSERS_SRC is set and /usr/bin/python3 has torch, the same file
 * goes through diffusers v0.21.4 (tools/bench_torch_lora.py: lora_state_dict +
 * load_lora_into_unet + unet.fuse_lora, then unfuse_lora) and the ratios are printed.
 * Weights are random: only time and memory mean something here.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "formats/safetensors.h"
#include "models/sd/sd_lora_internal.h"
#include "tensor/cpu/blas.h"
#include "tensor/threadpool.h"

static double rss_gb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2) res = 0;
        fclose(f);
    }
    return (double)res * (double)sysconf(_SC_PAGESIZE) / 1e9;
}

static void rnd(float *d, int64_t n, uint64_t s, float amp)
{
    s |= 1;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        d[i] = amp * ((float)((s >> 40) * (1.0 / 8388608.0)) - 1.0f);
    }
}

static int rnd_read(void *ctx, const char *name, int ndim, const int64_t *shape, float *dst, char *err, size_t errlen)
{
    (void)ctx, (void)err, (void)errlen;
    int64_t n = oma_shape_numel(ndim, shape);
    rnd(dst, n, hash(name), ndim >= 2 ? sqrtf(3.0f / (float)(n / shape[0])) : 0.05f);
    if (strstr(name, "norm") && strstr(name, ".weight"))
        for (int64_t i = 0; i < n; i++) dst[i] += 1.0f;
    for (int64_t i = 0; i < n; i++) dst[i] = oma_f16_to_f32(oma_f32_to_f16(dst[i]));   /* as an fp16 checkpoint's */
    return 0;
}

/* The kohya file: every transformer-block linear and proj_in/out of the UNet. */
static int write_lora(const lora_targets *tt, int rank, const char *path, int *n_layers)
{
    oma_st_writer *w = oma_st_writer_new();
    char err[256];
    int rc = w ? 0 : -1;
    *n_layers = 0;
    for (size_t i = 0; i < tt->n && rc == 0; i++) {
        const lora_target *t = &tt->t[i];
        if (!strstr(t->name, ".attentions.")) continue;
        int64_t in = t->lin ? t->lin->in : t->conv->in, out = t->lin ? t->lin->out : t->conv->out;
        float *d = malloc((size_t)(rank * (in > out ? in : out)) * sizeof *d);
        char key[256];
        if (!d) rc = -1;
        snprintf(key, sizeof key, "%s.lora_down.weight", t->kohya);
        if (rc == 0) rnd(d, rank * in, hash(key), 0.05f);
        if (rc == 0 && oma_st_writer_add_f32(w, key, OMA_ST_F16, t->conv ? 4 : 2, (int64_t[]){rank, in, 1, 1}, d,
                                             err, sizeof err))
            rc = -1;
        snprintf(key, sizeof key, "%s.lora_up.weight", t->kohya);
        if (rc == 0) rnd(d, rank * out, hash(key), 0.05f);
        if (rc == 0 && oma_st_writer_add_f32(w, key, OMA_ST_F16, t->conv ? 4 : 2, (int64_t[]){out, rank, 1, 1}, d,
                                             err, sizeof err))
            rc = -1;
        snprintf(key, sizeof key, "%s.alpha", t->kohya);
        float alpha = (float)rank / 2;
        if (rc == 0 && oma_st_writer_add_f32(w, key, OMA_ST_F16, 0, NULL, &alpha, err, sizeof err)) rc = -1;
        free(d);
        (*n_layers)++;
    }
    if (rc == 0 && oma_st_writer_save(w, path, err, sizeof err) != 0) rc = -1;
    if (rc) fprintf(stderr, "bench_lora: writing the LoRA: %s\n", err);
    oma_st_writer_free(w);
    return rc;
}

int main(int argc, char **argv)
{
    oma_blas_fix_coretype();
    oma_blas_init();
    int rank = argc > 1 && atoi(argv[1]) > 0 ? atoi(argv[1]) : 16;
    oma_sd_model m;
    memset(&m, 0, sizeof m);
    oma_weights w = {.ctx = NULL, .read = rnd_read, .has = random_weight_has};
    oma_unet_config cfg;
    sd15_unet(&cfg);
    char err[512], path[] = "/tmp/oma-bench-lora-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 1;
    close(fd);
    if (oma_unet_load(&m.unet, &w, "unet", &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "bench_lora: %s\n", err);
        return 1;
    }
    lora_targets tt;
    int n_layers = 0;
    if (lora_targets_build(&m, &tt, err, sizeof err) != 0 || write_lora(&tt, rank, path, &n_layers) != 0) return 1;
    /* the reading and checking part alone */
    lora_parsed parsed;
    double tp0 = now();
    if (lora_parse_file(path, &tt, 768, &parsed, err, sizeof err) != 0) {
        fprintf(stderr, "bench_lora: %s\n", err);
        return 1;
    }
    double tp = now() - tp0;
    lora_parsed_free(&parsed);
    lora_targets_free(&tt);
    double rss0 = rss_gb();
    oma_sd_lora l = {path, 0.8f, 0.8f};
    oma_sd_patch *p = NULL;
    double t0 = now();
    int rc = oma_sd_patch_apply(&m, &l, 1, NULL, 0, &p, err, sizeof err);
    double ta = now() - t0, rss1 = rss_gb();
    t0 = now();
    oma_sd_patch_restore(&m, p);
    double tr = now() - t0;
    if (rc != 0) {
        fprintf(stderr, "bench_lora: %s\n", err);
        return 1;
    }
    printf("lora_apply_sd15 rank=%d layers=%d apply %.3f s (read+check %.3f s) restore %.3f s extra_rss %.2f GB "
           "threads=%d\n", rank, n_layers, ta, tp, tr, rss1 - rss0, oma_threads());
    oma_unet_free(&m.unet);
    const char *src = getenv("OMA_DIFFUSERS_SRC");
    if (src && *src && access("/usr/bin/python3", X_OK) == 0 && access("tools/bench_torch_lora.py", R_OK) == 0) {
        char cmd[1024], line[512];
        snprintf(cmd, sizeof cmd, "OMA_THREADS=%d /usr/bin/python3 tools/bench_torch_lora.py %s 2>/dev/null", oma_threads(),
                 path);
        FILE *f = popen(cmd, "r");
        double fa = 0, fr = 0;
        while (f && fgets(line, sizeof line, f)) {
            fputs(line, stdout);
            if (!strncmp(line, "torch_lora_apply_sd15", 21)) {
                char *a = strstr(line, " apply "), *r = strstr(line, " restore ");
                if (a) fa = atof(a + 7);
                if (r) fr = atof(r + 9);
            }
        }
        if (f) pclose(f);
        if (fa > 0 && fr > 0)
            printf("ratio LoRA apply ours/diffusers = %.2f (%.3f s / %.3f s); restore %.2f (%.3f s / %.3f s)\n", ta / fa,
                   ta, fa, tr / fr, tr, fr);
    } else {
        printf("(diffusers comparison skipped: needs OMA_DIFFUSERS_SRC and /usr/bin/python3 with torch, run from the repo root)\n");
    }
    unlink(path);
    return 0;
}
