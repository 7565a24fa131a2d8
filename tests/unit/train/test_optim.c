/* test_optim.c — AdamW, clip_grad_norm_ and the lr schedules against torch/diffusers
 * (tests/fixtures/train/optim.safetensors from tools/make_train_fixtures.py). */
#include "check.h"
#include "formats/safetensors.h"
#include "train/adamw.h"
#include "train/schedule.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static oma_safetensors *st;

static float *load(const char *name, int64_t *n)
{
    const oma_st_tensor *t = oma_st_find(st, name);
    CHECK(t != NULL);
    if (!t)
        return NULL;
    float *d = malloc((size_t)t->numel * sizeof(float));
    char err[256];
    CHECK(d && oma_st_read_f32(t, d, (size_t)t->numel, err, sizeof err) == 0);
    if (n)
        *n = t->numel;
    return d;
}

static double max_rel(const float *a, const float *b, int64_t n)
{
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (fabs((double)b[i]) + 1e-6);
        if (d > worst)
            worst = d;
    }
    return worst;
}

static void test_adamw(void)
{
    enum { NP = 3, STEPS = 6 };
    float *p[NP], *g[NP];
    int64_t n[NP];
    oma_adamw o;
    oma_adamw_init(&o, 0.9, 0.999, 1e-8);
    int g0 = oma_adamw_add_group(&o, 3e-2, 1e-2), g1 = oma_adamw_add_group(&o, 1e-3, 0.0);
    CHECK(g0 == 0 && g1 == 1);
    for (int i = 0; i < NP; i++) {
        char name[64];
        snprintf(name, sizeof name, "p%d.init", i);
        p[i] = load(name, &n[i]);
        g[i] = calloc((size_t)n[i], sizeof(float));
        CHECK(oma_adamw_add_param(&o, i < 2 ? g0 : g1, p[i], g[i], n[i]) == 0);
    }
    float *norms = load("clip_norms", NULL);
    for (int s = 0; s < STEPS; s++) {
        oma_adamw_set_factor(&o, oma_schedule_factor(OMA_SCHED_LINEAR, s, 2, STEPS));
        for (int i = 0; i < NP; i++) {
            char name[64];
            snprintf(name, sizeof name, "p%d.grad%d", i, s);
            float *gs = load(name, NULL);
            memcpy(g[i], gs, (size_t)n[i] * sizeof(float));
            free(gs);
        }
        double total = oma_clip_grad_norm(g, n, NP, 1.0);
        CHECK(fabs(total - norms[s]) <= 1e-6 * norms[s]);
        oma_adamw_step(&o);
        for (int i = 0; i < NP; i++) {
            char name[64];
            snprintf(name, sizeof name, "p%d.step%d", i, s);
            float *want = load(name, NULL);
            double r = max_rel(p[i], want, n[i]);
            if (r > 1e-5)
                fprintf(stderr, "step %d param %d: max rel %.3g\n", s, i, r);
            CHECK(r <= 1e-5);
            free(want);
        }
    }
    for (int i = 0; i < NP; i++) {
        char name[64];
        snprintf(name, sizeof name, "p%d.exp_avg", i);
        float *m = load(name, NULL);
        snprintf(name, sizeof name, "p%d.exp_avg_sq", i);
        float *v = load(name, NULL);
        CHECK(max_rel(o.params[i].m, m, n[i]) <= 1e-5);
        CHECK(max_rel(o.params[i].v, v, n[i]) <= 1e-5);
        CHECK(o.params[i].step == STEPS);
        free(m);
        free(v);
        free(p[i]);
        free(g[i]);
    }
    free(norms);
    oma_adamw_free(&o);
}

static void test_schedules(void)
{
    const char *names[] = {"constant", "constant_with_warmup", "linear", "cosine"};
    for (int k = 0; k < 4; k++) {
        oma_schedule_kind kind;
        CHECK(oma_schedule_parse(names[k], &kind) == 0);
        char key[64];
        snprintf(key, sizeof key, "sched.%s", names[k]);
        int64_t n = 0;
        float *want = load(key, &n);
        for (int64_t s = 0; want && s < n; s++) {
            float got = (float)oma_schedule_factor(kind, s, 3, 10);
            if (fabsf(got - want[s]) > 1e-7f)
                fprintf(stderr, "%s step %lld: %g want %g\n", names[k], (long long)s, got, want[s]);
            CHECK(fabsf(got - want[s]) <= 1e-7f);
        }
        free(want);
    }
    oma_schedule_kind kind;
    CHECK(oma_schedule_parse("polynomial", &kind) == -1);
    CHECK(oma_schedule_parse(NULL, &kind) == -1);
}

static void test_bad_input(void)
{
    oma_adamw o;
    oma_adamw_init(&o, 0.9, 0.999, 1e-8);
    float x = 0, gx = 0;
    CHECK(oma_adamw_add_param(&o, 0, &x, &gx, 1) == -1); /* no group yet */
    for (int i = 0; i < OMA_ADAMW_MAX_GROUPS; i++)
        CHECK(oma_adamw_add_group(&o, 1e-3, 0) == i);
    CHECK(oma_adamw_add_group(&o, 1e-3, 0) == -1);
    CHECK(oma_adamw_add_param(&o, 0, &x, &gx, 0) == -1);
    CHECK(oma_adamw_add_param(&o, 0, NULL, &gx, 1) == -1);
    /* a zero gradient norm leaves gradients alone (no division by zero) */
    float z[3] = {0, 0, 0};
    float *zp = z;
    int64_t zn = 3;
    CHECK(oma_clip_grad_norm(&zp, &zn, 1, 1.0) == 0.0 && z[0] == 0.0f);
    oma_adamw_free(&o);
}

int main(void)
{
    char path[4096], err[256];
    const char *src = getenv("OMA_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/tests/fixtures/train/optim.safetensors", src ? src : ".");
    if (oma_st_open(path, &st, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    test_adamw();
    test_schedules();
    test_bad_input();
    oma_st_close(st);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures != 0;
}
