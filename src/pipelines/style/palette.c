/* palette.c — weighted k-means++ in CIELAB (and a 1-D variant for tone levels).
 * The generator is splitmix64 with a caller-given seed: deterministic across runs and machines. */
#include "pipelines/style/palette.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double uniform(uint64_t *s) { return (double)(splitmix(s) >> 11) * (1.0 / 9007199254740992.0); }

static int nearest(const oma_lab *c, int k, oma_lab p, float *d2out)
{
    int best = 0;
    float bd = FLT_MAX;
    for (int j = 0; j < k; j++) {
        float d = oma_lab_dist2(c[j], p);
        if (d < bd) { bd = d; best = j; }
    }
    if (d2out) *d2out = bd;
    return best;
}

int oma_palette_kmeans(const oma_lab *pts, const float *w, size_t n, int k, uint64_t seed,
                       oma_palette *out)
{
    if (!pts || !out || n == 0 || k < 1 || k > OMA_PALETTE_MAX) return -1;
    memset(out, 0, sizeof *out);
    float *d2 = malloc(n * sizeof *d2);
    int *lab_of = malloc(n * sizeof *lab_of);
    if (!d2 || !lab_of) { free(d2); free(lab_of); return -1; }
    uint64_t rng = seed;
    oma_lab c[OMA_PALETTE_MAX];
    int kk = 0;

    /* k-means++: first centre by weight, next ones with probability ~ w * D^2. */
    double total = 0;
    for (size_t i = 0; i < n; i++) total += w ? w[i] : 1.0;
    double r = uniform(&rng) * total, acc = 0;
    size_t pick = n - 1;
    for (size_t i = 0; i < n; i++) { acc += w ? w[i] : 1.0; if (acc >= r) { pick = i; break; } }
    c[kk++] = pts[pick];
    for (size_t i = 0; i < n; i++) d2[i] = oma_lab_dist2(pts[i], c[0]);
    while (kk < k) {
        double sum = 0;
        for (size_t i = 0; i < n; i++) sum += (w ? w[i] : 1.0) * d2[i];
        if (sum <= 1e-9) break; /* every point already sits on a centre */
        r = uniform(&rng) * sum;
        acc = 0;
        pick = n;
        for (size_t i = 0; i < n; i++) {
            acc += (w ? w[i] : 1.0) * d2[i];
            if (acc >= r && d2[i] > 0) { pick = i; break; }
        }
        if (pick == n) break;
        c[kk++] = pts[pick];
        for (size_t i = 0; i < n; i++) {
            float d = oma_lab_dist2(pts[i], c[kk - 1]);
            if (d < d2[i]) d2[i] = d;
        }
    }

    /* Lloyd iterations. */
    double sw[OMA_PALETTE_MAX], sL[OMA_PALETTE_MAX], sa[OMA_PALETTE_MAX], sb[OMA_PALETTE_MAX];
    for (int it = 0; it < 40; it++) {
        memset(sw, 0, sizeof sw); memset(sL, 0, sizeof sL);
        memset(sa, 0, sizeof sa); memset(sb, 0, sizeof sb);
        int changed = 0;
        for (size_t i = 0; i < n; i++) {
            int j = nearest(c, kk, pts[i], NULL);
            if (it == 0 || j != lab_of[i]) changed++;
            lab_of[i] = j;
            double wi = w ? w[i] : 1.0;
            sw[j] += wi; sL[j] += wi * pts[i].L; sa[j] += wi * pts[i].a; sb[j] += wi * pts[i].b;
        }
        for (int j = 0; j < kk; j++)
            if (sw[j] > 0) {
                c[j].L = (float)(sL[j] / sw[j]);
                c[j].a = (float)(sa[j] / sw[j]);
                c[j].b = (float)(sb[j] / sw[j]);
            }
        if (!changed) break;
    }
    free(d2);
    free(lab_of);

    /* Drop empty clusters, sort by weight. */
    int order[OMA_PALETTE_MAX], m = 0;
    for (int j = 0; j < kk; j++) if (sw[j] > 0) order[m++] = j;
    for (int a = 1; a < m; a++)
        for (int b = a; b > 0 && sw[order[b]] > sw[order[b - 1]]; b--) {
            int t = order[b]; order[b] = order[b - 1]; order[b - 1] = t;
        }
    double tw = 0;
    for (int j = 0; j < m; j++) tw += sw[order[j]];
    out->n = m;
    for (int j = 0; j < m; j++) {
        oma_lab_to_rgb(c[order[j]], out->rgb[j]);
        /* Store the Lab of the displayed (gamut-clamped, 8-bit) colour so the two agree. */
        out->lab[j] = oma_rgb_to_lab(out->rgb[j][0], out->rgb[j][1], out->rgb[j][2]);
        out->weight[j] = tw > 0 ? (float)(sw[order[j]] / tw) : 0.0f;
    }
    return m > 0 ? 0 : -1;
}

int oma_palette_nearest(const oma_palette *p, oma_lab c) { return nearest(p->lab, p->n, c, NULL); }

void oma_palette_stats(const oma_palette *p, float mean[3], float sd[3])
{
    double m[3] = {0, 0, 0}, v[3] = {0, 0, 0}, tw = 0;
    for (int j = 0; j < p->n; j++) {
        double w = p->weight[j];
        tw += w;
        m[0] += w * p->lab[j].L; m[1] += w * p->lab[j].a; m[2] += w * p->lab[j].b;
    }
    if (tw <= 0) tw = 1;
    for (int i = 0; i < 3; i++) m[i] /= tw;
    for (int j = 0; j < p->n; j++) {
        double w = p->weight[j], d[3] = {p->lab[j].L - m[0], p->lab[j].a - m[1], p->lab[j].b - m[2]};
        for (int i = 0; i < 3; i++) v[i] += w * d[i] * d[i];
    }
    for (int i = 0; i < 3; i++) { mean[i] = (float)m[i]; sd[i] = (float)sqrt(v[i] / tw); }
}

int oma_kmeans_1d(const float *v, const float *w, size_t n, int k, const float *init, float *out)
{
    if (!v || !out || n == 0 || k < 1 || k > 64) return -1;
    float c[64], lo = FLT_MAX, hi = -FLT_MAX;
    for (size_t i = 0; i < n; i++) { if (v[i] < lo) lo = v[i]; if (v[i] > hi) hi = v[i]; }
    for (int j = 0; j < k; j++)
        c[j] = init ? init[j] : (k == 1 ? (lo + hi) / 2 : lo + (hi - lo) * (float)j / (float)(k - 1));
    double sw[64], sv[64];
    for (int it = 0; it < 100; it++) {
        memset(sw, 0, sizeof sw); memset(sv, 0, sizeof sv);
        for (size_t i = 0; i < n; i++) {
            int best = 0;
            float bd = FLT_MAX;
            for (int j = 0; j < k; j++) {
                float d = fabsf(v[i] - c[j]);
                if (d < bd) { bd = d; best = j; }
            }
            double wi = w ? w[i] : 1.0;
            sw[best] += wi; sv[best] += wi * v[i];
        }
        float moved = 0;
        for (int j = 0; j < k; j++)
            if (sw[j] > 0) {
                float nc = (float)(sv[j] / sw[j]);
                moved += fabsf(nc - c[j]);
                c[j] = nc;
            }
        if (moved < 1e-4f) break;
    }
    int m = 0;
    for (int j = 0; j < k; j++) if (sw[j] > 0) out[m++] = c[j];
    for (int a = 1; a < m; a++)
        for (int b = a; b > 0 && out[b] < out[b - 1]; b--) { float t = out[b]; out[b] = out[b - 1]; out[b - 1] = t; }
    return m;
}
