/* test_brownian_tree.c — the pieces under DPM++ SDE Karras, each against its reference on its
 * own (tests/fixtures/sd/samplers/brownian.txt, written by tools/make_sampler_fixtures.py):
 *   seedseq  numpy's SeedSequence(entropy, spawn_key, pool_size).generate_state(n), bit for bit;
 *   tree     torchsde v0.2.6 BrownianTree(t0, zeros(n), t1, entropy)(ta, tb) (n < 16: torch.randn's
 *            exact path), bit for bit, queried in the fixture's order and again reversed;
 *   mathf    torch 1.13's float32 log, exp(-x) and exp(-(-log x)), bit for bit;
 *   ac       alphas_cumprod of torch's linspace + cumprod (linear and scaled_linear), bit for bit.
 * Plus the tree's guards: ta > tb refused, equal ends give zeros, bad intervals refused. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/generate/brownian_tree.h"
#include "pipelines/generate/scheduler_internal.h"
#include "pipelines/generate/torch_mathf.h"

#include "check.h"

static uint32_t fbits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bitsf(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static int n_seedseq, n_tree, n_mathf, n_ac;

static void check_seedseq(char *rest)
{
    char *p = rest;
    uint64_t entropy = strtoull(p, &p, 10);
    int ns = (int)strtol(p, &p, 10);
    uint64_t spawn[8];
    for (int i = 0; i < ns && i < 8; i++) spawn[i] = strtoull(p, &p, 10);
    int pool = (int)strtol(p, &p, 10), nout = (int)strtol(p, &p, 10);
    uint32_t got[16];
    if (nout > 16 || ns > 8) {
        CHECK(!"seedseq line too long");
        return;
    }
    oma_seedseq_state(entropy, spawn, ns, pool, got, nout);
    for (int i = 0; i < nout; i++) {
        uint32_t want = (uint32_t)strtoul(p, &p, 10);
        if (got[i] != want) fprintf(stderr, "  seedseq %llu word %d: %u, numpy %u\n", (unsigned long long)entropy, i, got[i], want);
        CHECK(got[i] == want);
    }
    n_seedseq++;
}

typedef struct {
    uint64_t entropy;
    double t0, t1, ta, tb;
    int n;
    float want[16];
} tree_q;

static void check_trees(tree_q *q, int nq)
{
    /* one tree per (entropy, t0, t1, n) group, queried forwards, a second one backwards */
    for (int start = 0; start < nq;) {
        int end = start;
        while (end < nq && q[end].entropy == q[start].entropy && q[end].t0 == q[start].t0) end++;
        for (int dir = 0; dir < 2; dir++) {
            char err[128];
            oma_brownian_tree *t = oma_brownian_tree_new(q[start].t0, q[start].t1, q[start].entropy,
                                                         (size_t)q[start].n, err, sizeof err);
            CHECK(t != NULL);
            if (!t) break;
            for (int k = 0; k < end - start; k++) {
                tree_q *e = &q[dir ? end - 1 - k : start + k];
                float got[16];
                CHECK(oma_brownian_tree_w(t, e->ta, e->tb, got) == 0);
                for (int j = 0; j < e->n; j++) {
                    if (fbits(got[j]) != fbits(e->want[j]))
                        fprintf(stderr, "  tree %llu [%g, %g] [%g, %g] #%d: %.9g, torchsde %.9g\n",
                                (unsigned long long)e->entropy, e->t0, e->t1, e->ta, e->tb, j, got[j], e->want[j]);
                    CHECK(fbits(got[j]) == fbits(e->want[j]));
                }
                n_tree++;
            }
            oma_brownian_tree_free(t);
        }
        start = end;
    }
}

static void check_mathf(char *rest)
{
    char *p = rest;
    uint32_t x = (uint32_t)strtoul(p, &p, 10), lg = (uint32_t)strtoul(p, &p, 10);
    uint32_t ex = (uint32_t)strtoul(p, &p, 10), rt = (uint32_t)strtoul(p, &p, 10);
    float xf = bitsf(x);
    CHECK(fbits(oma_torch_logf(xf)) == lg);
    CHECK(fbits(oma_torch_expf(-xf)) == ex);
    CHECK(fbits(oma_torch_expf(-(-oma_torch_logf(xf)))) == rt);
    n_mathf++;
}

static void check_ac(char *rest)
{
    char sched[24];
    double b0, b1;
    int i;
    unsigned want;
    if (sscanf(rest, "%23s %lf %lf %d %u", sched, &b0, &b1, &i, &want) != 5 || i < 0 || i >= 1000) {
        CHECK(!"bad ac line");
        return;
    }
    oma_scheduler_config c;
    memset(&c, 0, sizeof c);
    c.num_train_timesteps = 1000;
    c.beta_start = (float)b0;
    c.beta_end = (float)b1;
    snprintf(c.beta_schedule, sizeof c.beta_schedule, "%s", sched);
    oma_scheduler s;
    memset(&s, 0, sizeof s);
    char err[128];
    CHECK(sched_make_alphas(&s, &c, 0, err, sizeof err) == 0);
    if (s.alphas_cumprod) {
        float got = (float)s.alphas_cumprod[i];
        if (fbits(got) != want) fprintf(stderr, "  ac %s %g %g [%d]: %.9g, torch %.9g\n", sched, b0, b1, i, got, bitsf(want));
        CHECK(fbits(got) == want);
    }
    free(s.alphas_cumprod);
    n_ac++;
}

static void guards(void)
{
    char err[128];
    CHECK(oma_brownian_tree_new(2.0, 1.0, 1, 4, err, sizeof err) == NULL);
    CHECK(oma_brownian_tree_new(1.0, 1.0, 1, 4, err, sizeof err) == NULL);
    CHECK(oma_brownian_tree_new(NAN, 1.0, 1, 4, err, sizeof err) == NULL);
    CHECK(oma_brownian_tree_new(0.0, 1.0, 1, 0, err, sizeof err) == NULL);
    oma_brownian_tree *t = oma_brownian_tree_new(0.1, 10.0, 5, 4, err, sizeof err);
    CHECK(t != NULL);
    if (!t) return;
    float w[4] = {1, 1, 1, 1};
    CHECK(oma_brownian_tree_w(t, 3.0, 2.0, w) == -1);
    CHECK(oma_brownian_tree_w(t, NAN, 2.0, w) == -1);
    CHECK(oma_brownian_tree_w(t, 2.5, 2.5, w) == 0 && w[0] == 0 && w[3] == 0);
    CHECK(oma_brownian_tree_w(t, 20.0, 30.0, w) == 0 && w[0] == 0);     /* clamped to [t1, t1] */
    CHECK(oma_brownian_tree_w(t, 0.1, 10.0, w) == 0 && w[0] != 0);
    /* many distinct queries stay bounded and succeed */
    int ok = 1;
    for (int k = 0; k < 300 && ok; k++) ok = oma_brownian_tree_w(t, 0.1 + k * 0.0291, 0.2 + k * 0.0293, w) == 0;
    CHECK(ok);
    oma_brownian_tree_free(t);
    CHECK(oma_round6(0.0078125) == 0.007812);      /* ties to even, as Python's round */
    CHECK(oma_round6(1.0000005) == 1.000001 || oma_round6(1.0000005) == 1.0);
    CHECK(oma_round6(14.614645004272461) == 14.614645);
}

int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/sd/samplers/brownian.txt", src ? src : ".");
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return 1;
    static char line[8192];
    tree_q *q = calloc(256, sizeof *q);
    int nq = 0;
    CHECK(q != NULL);
    while (q && fgets(line, sizeof line, f)) {
        if (!strncmp(line, "seedseq ", 8)) check_seedseq(line + 8);
        else if (!strncmp(line, "mathf ", 6)) check_mathf(line + 6);
        else if (!strncmp(line, "ac ", 3)) check_ac(line + 3);
        else if (!strncmp(line, "tree ", 5) && nq < 256) {
            tree_q *e = &q[nq];
            char *p = line + 5;
            e->entropy = strtoull(p, &p, 10);
            e->t0 = strtod(p, &p);
            e->t1 = strtod(p, &p);
            e->n = (int)strtol(p, &p, 10);
            e->ta = strtod(p, &p);
            e->tb = strtod(p, &p);
            if (e->n < 1 || e->n > 16) {
                CHECK(!"bad tree line");
                continue;
            }
            for (int j = 0; j < e->n; j++) e->want[j] = (float)strtod(p, &p);
            nq++;
        }
    }
    fclose(f);
    if (q) check_trees(q, nq);
    free(q);
    guards();
    printf("test_brownian_tree: %d seedseq, %d tree queries (x2 orders), %d mathf, %d alphas_cumprod checked\n",
           n_seedseq, n_tree / 2, n_mathf, n_ac);
    CHECK(n_seedseq >= 7 && n_tree >= 2 * 27 && n_mathf >= 500 && n_ac >= 54);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    return 0;
}
