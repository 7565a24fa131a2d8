/* test_noise_schedule.c — the training schedule is diffusers' DDPMScheduler.alphas_cumprod bit for
 * bit (tests/fixtures/train/alphas_cumprod.txt from tools/make_schedule_fixture.py: every value
 * for SD 1.x's scaled_linear 0.00085..0.012 / 1000 and three other configs), add_noise is
 * sqrt(ac) x0 + sqrt(1 - ac) noise in float32, and unsupported configs are refused. */
#include "check.h"
#include "train/noise_schedule.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static oma_noise_schedule ns;

static int check_line(char *line)
{
    char sched[24];
    double b0, b1;
    int T, used = 0;
    if (sscanf(line, "%23s %lf %lf %d%n", sched, &b0, &b1, &T, &used) != 4 || T < 2 ||
        T > OMA_TRAIN_MAX_T) {
        CHECK(!"bad fixture line");
        return 0;
    }
    oma_scheduler_config c;
    memset(&c, 0, sizeof c);
    c.num_train_timesteps = T;
    c.beta_start = (float)b0;
    c.beta_end = (float)b1;
    snprintf(c.beta_schedule, sizeof c.beta_schedule, "%s", sched);
    char err[256];
    CHECK(oma_noise_schedule_init(&ns, &c, err, sizeof err) == 0);
    CHECK(ns.T == T);
    char *p = line + used;
    int bad = 0;
    for (int i = 0; i < T; i++) {
        char *e;
        unsigned long want = strtoul(p, &e, 10);
        if (e == p) {
            CHECK(!"fixture line too short");
            return 0;
        }
        p = e;
        if (fbits(ns.alphas_cumprod[i]) != (uint32_t)want) {
            if (bad < 5)
                fprintf(stderr, "  %s %g %g T=%d [%d]: %.9g, torch bits %lu\n", sched, b0, b1, T, i,
                        ns.alphas_cumprod[i], want);
            bad++;
        }
    }
    if (bad)
        fprintf(stderr, "  %s %g %g T=%d: %d of %d values differ from torch\n", sched, b0, b1, T,
                bad, T);
    CHECK(bad == 0);
    return T;
}

static void test_add_noise(void)
{
    /* DDPMScheduler.add_noise in float32: alphas_cumprod[t] ** 0.5 (a correctly rounded sqrt) */
    oma_scheduler_config c;
    memset(&c, 0, sizeof c);
    c.num_train_timesteps = 1000;
    c.beta_start = 0.00085f;
    c.beta_end = 0.012f;
    snprintf(c.beta_schedule, sizeof c.beta_schedule, "scaled_linear");
    char err[256];
    CHECK(oma_noise_schedule_init(&ns, &c, err, sizeof err) == 0);
    float x0[3] = {0.5f, -1.25f, 2.0f}, noise[3] = {-0.75f, 0.3f, 1.0f}, out[3];
    oma_noise_schedule_add(&ns, 999, x0, noise, out, 3);
    float ac = ns.alphas_cumprod[999];
    for (int i = 0; i < 3; i++)
        CHECK(out[i] == sqrtf(ac) * x0[i] + sqrtf(1.0f - ac) * noise[i]);
    CHECK(fabsf(ac - 0.0046f) < 1e-4f);
}

static void test_refusals(void)
{
    oma_scheduler_config c;
    memset(&c, 0, sizeof c);
    c.num_train_timesteps = 1000;
    c.beta_start = 0.00085f;
    c.beta_end = 0.012f;
    char err[256];
    snprintf(c.beta_schedule, sizeof c.beta_schedule, "squaredcos_cap_v2");
    err[0] = 0;
    CHECK(oma_noise_schedule_init(&ns, &c, err, sizeof err) != 0 && strstr(err, "squaredcos"));
    snprintf(c.beta_schedule, sizeof c.beta_schedule, "scaled_linear");
    c.num_train_timesteps = OMA_TRAIN_MAX_T + 1;
    CHECK(oma_noise_schedule_init(&ns, &c, err, sizeof err) != 0);
    c.num_train_timesteps = 1;
    CHECK(oma_noise_schedule_init(&ns, &c, err, sizeof err) != 0);
    c.num_train_timesteps = 1000;
    c.beta_end = NAN;
    CHECK(oma_noise_schedule_init(&ns, &c, err, sizeof err) != 0);
    c.beta_end = 0.0001f;     /* end below start */
    CHECK(oma_noise_schedule_init(&ns, &c, err, sizeof err) != 0);
}

int main(void)
{
    char path[4096];
    const char *src = getenv("OMA_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/fixtures/train/alphas_cumprod.txt", src ? src : ".");
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "test_noise_schedule: cannot open %s\n", path);
        return 1;
    }
    size_t cap = 1 << 16;
    char *line = malloc(cap);
    int lines = 0, values = 0;
    while (line && fgets(line, (int)cap, f)) {
        if (line[0] == '#' || line[0] == '\n')
            continue;
        values += check_line(line);
        lines++;
    }
    fclose(f);
    free(line);
    CHECK(lines == 4);
    test_add_noise();
    test_refusals();
    printf("test_noise_schedule: %d configs, %d alphas_cumprod values checked against torch\n",
           lines, values);
    return failures != 0;
}
