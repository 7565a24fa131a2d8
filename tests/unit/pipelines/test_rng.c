/* test_rng.c — oma_rng against values torch prints (torch 1.x/2.x CPU generator):
 *   torch.manual_seed(0); torch.randn(2, 3)  -> the < 16 path (double Box-Muller with cache)
 *   torch.manual_seed(0); torch.randn(4, 4)  -> the >= 16 path (float Box-Muller over 16s)
 *   torch.manual_seed(0); torch.rand(3)
 * and the mt19937 reference: the 10000th output of std::mt19937 seeded 5489 is 4123659995.
 * Tolerance: the printed 4 decimals (5e-5).
 * Then every tensor of tests/fixtures/sd/ref/rng.safetensors (torch.randn for seeds 0, 1, 42,
 * 123456789, 2^32-1; sizes 1..256 across both paths; two consecutive draws from one generator):
 * below 16 values the match must be exact (same double arithmetic rounded to float); from 16 on
 * torch's AVX2 log/sin/cos approximations allow 2e-6 absolute. */
#include <math.h>
#include <stdio.h>

#include <stdlib.h>
#include <string.h>

#include "formats/safetensors.h"
#include "pipelines/generate/rng.h"

#include "check.h"

static int near(const float *got, const double *want, int n)
{
    int ok = 1;
    for (int i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= 5.1e-5)) {
            fprintf(stderr, "  [%d] got %.6f want %.4f\n", i, got[i], want[i]);
            ok = 0;
        }
    return ok;
}

static void fixture(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    char path[2048], err[256];
    snprintf(path, sizeof path, "%s/tests/fixtures/sd/ref/rng.safetensors", src ? src : ".");
    oma_safetensors *st = NULL;
    if (oma_st_open(path, &st, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        failures++;
        return;
    }
    static const uint64_t seeds[5] = {0, 1, 42, 123456789, 4294967295u};
    static const int sizes[7] = {1, 7, 15, 16, 17, 100, 256};
    float want[512], got[512];
    int checked = 0;
    double worst = 0;
    for (int si = 0; si < 5; si++) {
        char name[64];
        oma_rng r;
        for (int k = 0; k < 9; k++) {
            int n;
            if (k < 7) {
                n = sizes[k];
                snprintf(name, sizeof name, "seed%llu.n%d", (unsigned long long)seeds[si], n);
                oma_rng_seed(&r, seeds[si]);
                oma_rng_randn(&r, got, (size_t)n);
            } else {
                n = 256;
                snprintf(name, sizeof name, "seed%llu.%s", (unsigned long long)seeds[si], k == 7 ? "latent" : "twice_b");
                oma_rng_seed(&r, seeds[si]);
                oma_rng_randn(&r, got, 256);
                if (k == 8) oma_rng_randn(&r, got, 256);   /* the second draw */
            }
            const oma_st_tensor *t = oma_st_find(st, name);
            if (!t || t->numel != n || oma_st_read_f32(t, want, (size_t)n, err, sizeof err) != 0) {
                fprintf(stderr, "rng fixture %s missing\n", name);
                failures++;
                continue;
            }
            for (int i = 0; i < n; i++) {
                double d = fabs((double)got[i] - want[i]);
                worst = d > worst ? d : worst;
                if (n < 16 ? d != 0.0 : !(d <= 2e-6)) {
                    fprintf(stderr, "%s[%d]: got %.9g want %.9g\n", name, i, got[i], want[i]);
                    failures++;
                    break;
                }
            }
            checked++;
        }
    }
    printf("  rng fixture: %d tensors, worst abs diff %.3g\n", checked, worst);
    oma_st_close(st);
}

int main(void)
{
    fixture();
    oma_rng r;
    oma_rng_seed(&r, 5489);
    uint32_t v = 0;
    for (int i = 0; i < 10000; i++) v = oma_rng_u32(&r);
    CHECK(v == 4123659995u);

    float out[16];
    oma_rng_seed(&r, 0);
    oma_rng_randn(&r, out, 6);
    const double small[6] = {1.5410, -0.2934, -2.1788, 0.5684, -1.0845, -1.3986};
    CHECK(near(out, small, 6));

    oma_rng_seed(&r, 0);
    oma_rng_randn(&r, out, 16);
    const double big[16] = {-1.1258, -1.1524, -0.2506, -0.4339, 0.8487, 0.6920, -0.3160, -2.1152,
                            0.3223, -1.2633, 0.3500, 0.3081, 0.1198, 1.2377, 1.1168, -0.2473};
    CHECK(near(out, big, 16));

    oma_rng_seed(&r, 0);
    oma_rng_rand(&r, out, 3);
    const double uni[3] = {0.4963, 0.7682, 0.0885};
    CHECK(near(out, uni, 3));

    /* the cache: randn(1) twice equals randn(2) once */
    float a[2], b[2];
    oma_rng_seed(&r, 42);
    oma_rng_randn(&r, a, 1);
    oma_rng_randn(&r, a + 1, 1);
    oma_rng_seed(&r, 42);
    oma_rng_randn(&r, b, 2);
    CHECK(a[0] == b[0] && a[1] == b[1]);
    /* a tail that is not a multiple of 16 redoes the last 16 with fresh uniforms */
    float t17[17], t16[16];
    oma_rng_seed(&r, 7);
    oma_rng_randn(&r, t17, 17);
    oma_rng_seed(&r, 7);
    oma_rng_randn(&r, t16, 16);
    CHECK(t17[0] == t16[0] && t17[1] != t16[1]);   /* only element 0 survives the redo */
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_rng: ok\n");
    return 0;
}
