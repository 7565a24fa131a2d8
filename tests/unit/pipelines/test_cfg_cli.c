/* test_cfg_cli.c — `oma generate` sizes and configs end to end ($OMA_BIN), prompt text included:
 * the v-prediction single file with --config FILE.yaml and with the yaml picked up beside it
 * draws diffusers' picture (tests/fixtures/sd_cfg/ref/ldm_v_txt2img_64x64_ddim.png, max 2 of
 * 255); 96x64 on tiny-sd likewise; no --width/--height gives the model's size; a size that is not
 * a multiple of 8 is a usage error (exit 2) and a yaml contradicting the tensors exits 1, each
 * with one "oma: generate:" line saying why; --help documents both. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "formats/image.h"

#include "check.h"

static const char *bin, *src;
static char tmp[] = "/tmp/oma-cfg-cli-XXXXXX";

static int run(const char *cmd)
{
    char full[8192];
    snprintf(full, sizeof full, "%s 2>%s/err.txt >%s/out.txt", cmd, tmp, tmp);
    int st = system(full);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void read_file(const char *name, char *buf, size_t len)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmp, name);
    FILE *f = fopen(p, "r");
    size_t n = f ? fread(buf, 1, len - 1, f) : 0;
    buf[n] = 0;
    if (f) fclose(f);
}

static int max_diff(const char *a, const char *b, int *w, int *h)
{
    oma_image x = {0}, y = {0};
    char err[256];
    int mx = 999;
    *w = *h = 0;
    if (oma_image_load(a, 3, NULL, &x, err, sizeof err) == 0) *w = x.w, *h = x.h;
    if (x.px && (!b || (oma_image_load(b, 3, NULL, &y, err, sizeof err) == 0 && x.w == y.w && x.h == y.h))) {
        mx = 0;
        for (int i = 0; b && i < x.w * x.h * 3; i++) {
            int d = abs((int)x.px[i] - (int)y.px[i]);
            mx = d > mx ? d : mx;
        }
    }
    oma_image_free(&x);
    oma_image_free(&y);
    return mx;
}

#define PROMPT "--prompt 'a city street at night in the rain' --negative 'lowres, bad anatomy, blurry, worst quality'"

int main(void)
{
    bin = getenv("OMA_BIN");
    src = getenv("OMA_SOURCE_DIR");
    src = src ? src : ".";
    if (!bin || access(bin, X_OK) != 0) {
        fprintf(stderr, "OMA_BIN (%s) is not an executable oma; build the oma target\n", bin ? bin : "unset");
        return 1;
    }
    if (!mkdtemp(tmp)) return 1;
    char cmd[8192], out[4096], ref[4096], err[4096];
    int w, h, mx;
    const char *fx = "tests/fixtures/sd_cfg";

    /* the v-prediction single file: --config FILE.yaml, then the yaml beside the file */
    snprintf(ref, sizeof ref, "%s/%s/ref/ldm_v_txt2img_64x64_ddim.png", src, fx);
    for (int beside = 0; beside < 2; beside++) {
        snprintf(out, sizeof out, "%s/v%d.png", tmp, beside);
        snprintf(cmd, sizeof cmd,
                 "'%s' generate --model '%s/%s/ldm-v/tiny-ldm-v.safetensors' %s%s%s%s " PROMPT
                 " --sampler DDIM --steps 4 --seed 2005 --width 64 --height 64 -o '%s'",
                 bin, src, fx, beside ? "" : "--config '", beside ? "" : src, beside ? "" : "/tests/fixtures/sd_cfg/ldm-v/tiny-ldm-v.yaml",
                 beside ? "" : "'", out);
        int rc = run(cmd);
        CHECK(rc == 0);
        if (rc) {
            read_file("err.txt", err, sizeof err);
            fprintf(stderr, "%s\n", err);
        }
        mx = max_diff(out, ref, &w, &h);
        printf("  ldm-v %s: %dx%d, max %d of 255 vs diffusers\n", beside ? "yaml beside" : "--config FILE.yaml", w, h,
               mx);
        CHECK(w == 64 && h == 64 && mx <= 2);
    }
    /* 96x64 on tiny-sd */
    snprintf(out, sizeof out, "%s/t.png", tmp);
    snprintf(ref, sizeof ref, "%s/%s/ref/txt2img_96x64_ddim.png", src, fx);
    snprintf(cmd, sizeof cmd,
             "'%s' generate --model '%s/tests/fixtures/sd/tiny-sd' " PROMPT
             " --sampler DDIM --steps 4 --seed 2001 --width 96 --height 64 -o '%s'",
             bin, src, out);
    CHECK(run(cmd) == 0);
    mx = max_diff(out, ref, &w, &h);
    printf("  tiny-sd 96x64: %dx%d, max %d of 255 vs diffusers\n", w, h, mx);
    CHECK(w == 96 && h == 64 && mx <= 2);
    /* no size: the model's own (tiny-f4: sample_size 16 x VAE factor 4) */
    snprintf(cmd, sizeof cmd, "'%s' generate --model '%s/%s/tiny-f4' --prompt x --steps 1 -o '%s'", bin, src, fx, out);
    CHECK(run(cmd) == 0);
    max_diff(out, NULL, &w, &h);
    CHECK(w == 64 && h == 64);
    /* bad sizes: usage errors */
    snprintf(cmd, sizeof cmd, "'%s' generate --model '%s/tests/fixtures/sd/tiny-sd' --prompt x --width 100 -o '%s'",
             bin, src, out);
    CHECK(run(cmd) == 2);
    read_file("err.txt", err, sizeof err);
    CHECK(!strcmp(err, "oma: generate: width 100: must be a multiple of 8 from 64 to 2048\n"));
    printf("  --width 100: %s", err);
    snprintf(cmd, sizeof cmd, "'%s' generate --model '%s/tests/fixtures/sd/tiny-sd' --prompt x --height 4096 -o '%s'",
             bin, src, out);
    CHECK(run(cmd) == 2);
    /* a yaml that contradicts the tensors */
    snprintf(cmd, sizeof cmd,
             "sed 's/context_dim: 48/context_dim: 768/' '%s/%s/ldm-v/tiny-ldm-v.yaml' > '%s/bad.yaml' && "
             "'%s' generate --model '%s/%s/ldm-v/tiny-ldm-v.safetensors' --config '%s/bad.yaml' --prompt x -o '%s'",
             src, fx, tmp, bin, src, fx, tmp, out);
    CHECK(run(cmd) == 1);
    read_file("err.txt", err, sizeof err);
    CHECK(!strncmp(err, "oma: generate: sd: ", 19) && strstr(err, "bad.yaml: the yaml says UNet context_dim [768], the "
                                                               "checkpoint's tensors [48]\n"));
    printf("  contradicting yaml: %s", err);
    /* --help */
    snprintf(cmd, sizeof cmd, "'%s' generate --help", bin);
    CHECK(run(cmd) == 0);
    read_file("out.txt", err, sizeof err);
    CHECK(strstr(err, "--config FILE|DIR") && strstr(err, "any multiples of 8 from 64 to 2048"));
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    CHECK(system(cmd) == 0);
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures != 0;
}
