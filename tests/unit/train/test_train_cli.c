/* test_train_cli.c — `oma train style` as a user runs it: the real binary ($OMA_BIN, set by
 * ctest) on the tiny fixture model. Exit codes (0 written, 1 the work failed or was stopped,
 * 2 usage), one-line `oma: what: why` errors, and a small run that writes both files and removes
 * its checkpoint; then a run stopped by SIGINT keeps its checkpoint and the same command
 * finishes it. */
#include "check.h"
#include "formats/image.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *bin;
static char dir[] = "/tmp/oma-train-cli-XXXXXX", model[1024];

static int sh(char *last, size_t n, const char *fmt, ...)
{
    char cmd[4096], errpath[600], full[4800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", dir);
    snprintf(full, sizeof full, "OMA_THREADS=1 %s 2>%s >/dev/null", cmd, errpath);
    int st = system(full);
    if (last) {
        last[0] = 0;
        FILE *f = fopen(errpath, "r");
        char line[1024];
        while (f && fgets(line, sizeof line, f))
            snprintf(last, n, "%s", line);
        if (f)
            fclose(f);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int exists(const char *name)
{
    char path[700];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0 && st.st_size > 0;
}

int main(void)
{
    bin = getenv("OMA_BIN");
    const char *src = getenv("OMA_SOURCE_DIR");
    if (!bin || access(bin, X_OK) != 0 || !mkdtemp(dir)) {
        fprintf(stderr, "OMA_BIN (%s) is not an executable oma; build the oma target\n",
                bin ? bin : "unset");
        return 1;
    }
    snprintf(model, sizeof model, "%s/tests/fixtures/sd/tiny-sd", src ? src : ".");
    for (int i = 0; i < 2; i++) {
        oma_image im;
        CHECK(oma_image_alloc(&im, 64, 64, 3) == 0);
        for (int p = 0; p < 64 * 64 * 3; p++)
            im.px[p] = (uint8_t)((p * (7 + i)) % 251);
        char path[700], err[256];
        snprintf(path, sizeof path, "%s/i%d.png", dir, i);
        CHECK(oma_image_save_png(path, &im, err, sizeof err) == 0);
        oma_image_free(&im);
    }
    char last[1024];
    const char *small = "--resolution 64 --rank 4 --steps-ti 2 --steps-lora 2";
    CHECK(sh(NULL, 0, "%s train style --help", bin) == 0);
    CHECK(sh(last, sizeof last, "%s train", bin) == 2);
    CHECK(sh(last, sizeof last, "%s train paint", bin) == 2 && strstr(last, "oma: train: unknown kind"));
    CHECK(sh(last, sizeof last, "%s train style --model %s --name s %s/i0.png -o %s", bin, model,
             dir, dir) == 2);
    CHECK(strstr(last, "oma: train style: 1 image given: a style needs at least 2"));
    CHECK(sh(last, sizeof last, "%s train style --model %s --name s %s/i0.png %s/i1.png -o %s "
             "--rank x", bin, model, dir, dir, dir) == 2 && strstr(last, "--rank"));
    CHECK(sh(last, sizeof last, "%s train style --model %s --name s %s/i0.png %s/i1.png -o %s "
             "--frobnicate 1", bin, model, dir, dir, dir) == 2 && strstr(last, "unknown option"));
    CHECK(sh(last, sizeof last, "%s train style --name s %s/i0.png %s/i1.png -o %s", bin, dir,
             dir, dir) == 2 && strstr(last, "--model"));
    CHECK(sh(last, sizeof last, "%s train style --model %s/nope --name s %s/i0.png %s/i1.png -o %s "
             "%s", bin, dir, dir, dir, dir, small) == 1);
    CHECK(strncmp(last, "oma: train: ", 12) == 0);
    CHECK(sh(last, sizeof last, "%s train style --model %s --name s %s/i0.png %s/missing.png -o "
             "%s %s", bin, model, dir, dir, dir, small) == 1 && strstr(last, "missing.png"));
    CHECK(sh(last, sizeof last, "%s train style --model %s --name s %s/i0.png %s/i1.png -o %s "
             "--resolution 256", bin, model, dir, dir, dir) == 1 && strstr(last, "too small"));
    /* a run */
    int rc = sh(last, sizeof last, "%s train style --model %s --name s %s/i0.png %s/i1.png -o %s "
                "%s --checkpoint-every 2", bin, model, dir, dir, dir, small);
    printf("run -> %d (%s)", rc, last);
    CHECK(rc == 0);
    CHECK(exists("s.safetensors") && exists("s.embedding.safetensors"));
    CHECK(!exists("s.checkpoint.safetensors"));
    /* SIGINT after the first checkpoint: exit 1, checkpoint kept; the same command finishes */
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s train style --model %s --name t %s/i0.png %s/i1.png -o %s "
             "--resolution 64 --rank 4 --steps-ti 40 --steps-lora 40 --checkpoint-every 2", bin,
             model, dir, dir, dir);
    char i0[700], i1[700];
    snprintf(i0, sizeof i0, "%s/i0.png", dir);
    snprintf(i1, sizeof i1, "%s/i1.png", dir);
    pid_t pid = fork();
    if (pid == 0) {
        char errpath[700];
        snprintf(errpath, sizeof errpath, "%s/stderr2.txt", dir);
        if (!freopen(errpath, "w", stderr) || !freopen("/dev/null", "w", stdout))
            _exit(3);
        execl(bin, bin, "train", "style", "--model", model, "--name", "t", i0, i1, "-o", dir,
              "--resolution", "64", "--rank", "4", "--steps-ti", "40", "--steps-lora", "40",
              "--checkpoint-every", "2", (char *)NULL);
        _exit(3);
    }
    for (int i = 0; i < 600 && !exists("t.checkpoint.safetensors"); i++)
        usleep(100000);
    CHECK(exists("t.checkpoint.safetensors"));
    kill(pid, SIGINT);      /* oma itself: it stops after the next checkpoint */
    int st = 0;
    waitpid(pid, &st, 0);
    printf("interrupted -> %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    CHECK(exists("t.checkpoint.safetensors") && !exists("t.safetensors"));
    rc = sh(last, sizeof last, "%s", cmd);
    CHECK(rc == 0 && exists("t.safetensors") && !exists("t.checkpoint.safetensors"));
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures != 0;
}
