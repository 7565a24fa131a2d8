/* test_lora_cli.c — `oma generate --lora FILE[:W[:TEXT_W]] --embedding FILE` end to end ($OMA_BIN):
 * the lora_pti fixture at 0.8 / 0.9 with "<s1><s2>" in the prompt and an embedding file give
 * diffusers' pictures (tests/fixtures/lora); a broken LoRA exits 1 with one "oma: generate:" line
 * naming the file and the key; a bad --lora value is a usage error (exit 2); --help lists the flags. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "formats/image.h"

#include "check.h"

static const char *bin;
static char tmp[] = "/tmp/oma-lora-cli-XXXXXX";

/* Runs cmd (stderr into tmp/err.txt); exit status. */
static int run(const char *cmd)
{
    char full[8192];
    snprintf(full, sizeof full, "%s 2>%s/err.txt >/dev/null", cmd, tmp);
    int st = system(full);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void read_err(char *buf, size_t len)
{
    char p[256];
    snprintf(p, sizeof p, "%s/err.txt", tmp);
    FILE *f = fopen(p, "r");
    size_t n = f ? fread(buf, 1, len - 1, f) : 0;
    buf[n] = 0;
    if (f) fclose(f);
}

static int max_diff(const char *a, const char *b)
{
    oma_image x = {0}, y = {0};
    char err[256];
    int mx = 999;
    if (oma_image_load(a, 3, NULL, &x, err, sizeof err) == 0 && oma_image_load(b, 3, NULL, &y, err, sizeof err) == 0 &&
        x.w == y.w && x.h == y.h) {
        mx = 0;
        for (int i = 0; i < x.w * x.h * 3; i++) {
            int d = abs((int)x.px[i] - (int)y.px[i]);
            mx = d > mx ? d : mx;
        }
    }
    oma_image_free(&x);
    oma_image_free(&y);
    return mx;
}

int main(void)
{
    bin = getenv("OMA_BIN");
    if (!bin || access(bin, X_OK) != 0) {
        fprintf(stderr, "OMA_BIN (%s) is not an executable oma; build the oma target\n", bin ? bin : "unset");
        return 1;
    }
    const char *src = getenv("OMA_SOURCE_DIR");
    char sd[512], lr[512], cmd[8192], out[256], want[1200], err[4096];
    snprintf(sd, sizeof sd, "%s/tests/fixtures/sd/tiny-sd", src ? src : ".");
    snprintf(lr, sizeof lr, "%s/tests/fixtures/lora", src ? src : ".");
    CHECK(mkdtemp(tmp) != NULL);
    snprintf(out, sizeof out, "%s/out.png", tmp);
    /* --precision fp32: exact parity with diffusers (bf16 is the default where the CPU has it) */
    const char *common = "--negative 'lowres, bad anatomy, blurry, worst quality' --steps 4 --cfg 7.5 --sampler DDIM "
                         "--seed 1004 --width 64 --height 64 --precision fp32";

    snprintf(cmd, sizeof cmd,
             "OMA_MODELS=/nonexistent %s generate --model %s --prompt 'a city street at night in the rain <s1><s2>' %s "
             "--lora %s/lora_pti.safetensors:0.8:0.9 -o %s", bin, sd, common, lr, out);
    int rc = run(cmd);
    CHECK(rc == 0);
    snprintf(want, sizeof want, "%s/lora_pti.png", lr);
    int d = max_diff(out, want);
    printf("  --lora lora_pti:0.8:0.9       -> exit %d, max %d of 255 from diffusers\n", rc, d);
    CHECK(d <= 1);

    snprintf(cmd, sizeof cmd,
             "%s generate --model %s --prompt 'a city street at night in the rain myemb kohyaemb <cat-toy> <dog>' %s "
             "--embedding %s/myemb.pt --embedding %s/kohyaemb.safetensors --embedding %s/learned_embeds.safetensors "
             "--embedding %s/learned_embeds_dog.bin -o %s", bin, sd, common, lr, lr, lr, lr, out);
    rc = run(cmd);
    CHECK(rc == 0);
    snprintf(want, sizeof want, "%s/embeddings.png", lr);
    d = max_diff(out, want);
    printf("  --embedding x4                -> exit %d, max %d of 255 from diffusers\n", rc, d);
    CHECK(d <= 1);

    /* a broken file: the lora_pti fixture cut short (the safetensors header then overruns it) */
    char cut[256];
    snprintf(cut, sizeof cut, "%s/cut.safetensors", tmp);
    snprintf(cmd, sizeof cmd, "head -c 5000 %s/lora_pti.safetensors > %s", lr, cut);
    CHECK(system(cmd) == 0);
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt x %s --lora %s -o %s", bin, sd, common, cut, out);
    rc = run(cmd);
    read_err(err, sizeof err);
    printf("  truncated LoRA                -> exit %d: %s", rc, err);
    CHECK(rc == 1 && strstr(err, "oma: generate: lora ") && strstr(err, "cut.safetensors"));
    snprintf(cmd, sizeof cmd, "%s generate --model %s --prompt x %s --lora '' -o %s", bin, sd, common, out);
    CHECK(run(cmd) == 2);
    snprintf(cmd, sizeof cmd, "%s generate --help", bin);
    char full[8400];
    snprintf(full, sizeof full, "%s > %s/err.txt", cmd, tmp);
    CHECK(system(full) == 0);
    read_err(err, sizeof err);
    CHECK(strstr(err, "--lora FILE") && strstr(err, "--embedding FILE"));
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    CHECK(system(cmd) == 0);
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
