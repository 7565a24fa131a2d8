/* style_measure.c — line weight/darkness and screentone measurements (see style_measure.h). */
#include "pipelines/style/style_measure.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/style/filters.h"

float oma_otsu(const float *v, const uint8_t *mask, size_t n)
{
    double hist[256] = {0}, total = 0, sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (mask && !mask[i]) continue;
        int b = (int)v[i];
        b = b < 0 ? 0 : b > 255 ? 255 : b;
        hist[b]++; total++; sum += b;
    }
    if (total == 0) return 128.0f;
    double wb = 0, sb = 0, best = -1;
    int bt = 128;
    for (int t = 0; t < 256; t++) {
        wb += hist[t];
        if (wb == 0) continue;
        double wf = total - wb;
        if (wf == 0) break;
        sb += t * hist[t];
        double mb = sb / wb, mf = (sum - sb) / wf, between = wb * wf * (mb - mf) * (mb - mf);
        if (between > best) { best = between; bt = t; }
    }
    return (float)bt + 0.5f;
}

int oma_measure_lines(const float *grey, const uint8_t *opaque, int w, int h, oma_line_stats *st)
{
    size_t n = (size_t)w * h;
    uint8_t *dark = malloc(n);
    float *dist = malloc(n * sizeof *dist);
    if (!dark || !dist) { free(dark); free(dist); return -1; }
    float thr = oma_otsu(grey, opaque, n);
    if (thr > 110.0f) thr = 110.0f; /* ink is dark whatever the page looks like */
    for (size_t i = 0; i < n; i++) dark[i] = (!opaque || opaque[i]) && grey[i] < thr;
    if (oma_edt(dark, w, h, dist) != 0) { free(dark); free(dist); return -1; }
    for (int y = 1; y < h - 1; y++)
        for (int x = 1; x < w - 1; x++) {
            size_t i = (size_t)y * w + x;
            float d = dist[i];
            if (d <= 0 || d > (OMA_LINE_MAX_WIDTH + 1) / 2.0f) continue;
            int ridge = 1;
            for (int dy = -1; dy <= 1 && ridge; dy++)
                for (int dx = -1; dx <= 1; dx++)
                    if (dist[i + (size_t)((ptrdiff_t)dy * w + dx)] > d) { ridge = 0; break; }
            if (!ridge) continue;
            /* A ridge pixel with every neighbour dark at the same depth is inside a blob edge
             * plateau, not a stroke: require some neighbour to be shallower. */
            int shallower = 0;
            for (int dy = -1; dy <= 1; dy++)
                for (int dx = -1; dx <= 1; dx++)
                    if (dist[i + (size_t)((ptrdiff_t)dy * w + dx)] < d) shallower = 1;
            if (!shallower) continue;
            int wpx = (int)lroundf(2.0f * d - 1.0f);
            if (wpx < 1) wpx = 1;
            if (wpx > OMA_LINE_MAX_WIDTH) continue;
            st->width_hist[wpx] += 1;
            st->darkness_sum += 1.0 - grey[i] / 255.0;
            st->n += 1;
        }
    free(dark);
    free(dist);
    return 0;
}

enum { TILE = 64, MAXTILES = 12 };

typedef struct { int x, y; double energy; } tile_t;

static int tile_cmp(const void *a, const void *b)
{
    double ea = ((const tile_t *)a)->energy, eb = ((const tile_t *)b)->energy;
    return ea < eb ? 1 : ea > eb ? -1 : 0;
}

/* Number of dots in a TILE x TILE ink map: local maxima of the ink blurred at about a
 * quarter period, counted away from the border. Pinched or touching dots still give one
 * maximum each, at their centres. Returns the dots per pixel of the counted area. */
static double dots_per_pixel(const uint8_t *bin, double period_guess)
{
    float f[TILE * TILE];
    for (int i = 0; i < TILE * TILE; i++) f[i] = bin[i] ? 1.0f : 0.0f;
    float sigma = (float)(0.2 * period_guess);
    if (sigma < 0.8f) sigma = 0.8f;
    if (oma_gauss_blur(f, f, TILE, TILE, sigma) != 0) return 0;
    int count = 0;
    const int B = 4;
    for (int y = B; y < TILE - B; y++)
        for (int x = B; x < TILE - B; x++) {
            float v = f[y * TILE + x];
            /* strict against the neighbours before, not below those after: plateaus count once
             * at most, flat areas never */
            if (v > f[(y - 1) * TILE + x - 1] && v > f[(y - 1) * TILE + x] && v > f[(y - 1) * TILE + x + 1] &&
                v > f[y * TILE + x - 1] && v >= f[y * TILE + x + 1] && v >= f[(y + 1) * TILE + x - 1] &&
                v >= f[(y + 1) * TILE + x] && v >= f[(y + 1) * TILE + x + 1] && v > 0.05f)
                count++;
        }
    return (double)count / (double)((TILE - 2 * B) * (TILE - 2 * B));
}

int oma_measure_screentone(const float *grey, int w, int h, oma_tone_stats *st)
{
    if (w < TILE || h < TILE) return 0;
    size_t n = (size_t)w * h;
    float *hp = malloc(n * sizeof *hp);
    int ntx = w / TILE, nty = h / TILE;
    tile_t *tiles = malloc((size_t)ntx * nty * sizeof *tiles);
    if (!hp || !tiles) { free(hp); free(tiles); return -1; }
    if (oma_gauss_blur(grey, hp, w, h, 3.0f) != 0) { free(hp); free(tiles); return -1; }
    for (size_t i = 0; i < n; i++) hp[i] = grey[i] - hp[i];
    int nt = 0;
    for (int ty = 0; ty < nty; ty++)
        for (int tx = 0; tx < ntx; tx++) {
            double e = 0, m = 0;
            for (int y = 0; y < TILE; y++)
                for (int x = 0; x < TILE; x++) {
                    size_t i = (size_t)(ty * TILE + y) * w + tx * TILE + x;
                    e += hp[i] * hp[i];
                    m += grey[i];
                }
            e /= TILE * TILE;
            m /= TILE * TILE;
            /* textured (sd of high-pass >= 8 grey levels), and not paper or solid ink */
            if (e < 64.0 || m < 20 || m > 245) continue;
            tiles[nt].x = tx * TILE; tiles[nt].y = ty * TILE; tiles[nt].energy = e;
            nt++;
        }
    qsort(tiles, (size_t)nt, sizeof *tiles, tile_cmp);
    if (nt > MAXTILES) nt = MAXTILES;
    enum { L = 12, WW = TILE - 2 * L }; /* lags up to 12 px; the window keeps them in the tile */
    for (int t = 0; t < nt; t++) {
        int x0 = tiles[t].x + L, y0 = tiles[t].y;
        double r0 = 0;
        for (int y = 0; y < WW; y++)
            for (int x = 0; x < WW; x++) {
                float v = hp[(size_t)(y0 + y) * w + x0 + x];
                r0 += (double)v * v;
            }
        if (r0 <= 0) continue;
        double R[2 * L + 1][L + 1];
        for (int dy = 0; dy <= L; dy++)
            for (int dx = -L; dx <= L; dx++) {
                double acc = 0;
                for (int y = 0; y < WW; y++) {
                    const float *a = hp + (size_t)(y0 + y) * w + x0;
                    const float *b = hp + (size_t)(y0 + y + dy) * w + x0 + dx;
                    for (int x = 0; x < WW; x++) acc += (double)a[x] * b[x];
                }
                R[dx + L][dy] = acc / r0;
            }
        /* Local maxima at least 3 px from the origin; the period is the shortest lag whose
         * peak is nearly as strong as the strongest (multiples of the lattice repeat it). */
        double best = 0, bestlen = 0, bestv = 0;
        int bdx = 0, bdy = 0;
        for (int pass = 0; pass < 2; pass++)
            for (int dy = 0; dy <= L; dy++)
                for (int dx = -L; dx <= L; dx++) {
                    double len = sqrt((double)dx * dx + (double)dy * dy);
                    if (len < 3.0 || (dy == 0 && dx < 0)) continue;
                    double v = R[dx + L][dy];
                    int ismax = 1;
                    for (int ey = -1; ey <= 1 && ismax; ey++)
                        for (int ex = -1; ex <= 1; ex++) {
                            int qx = dx + ex, qy = dy + ey;
                            if ((ex == 0 && ey == 0) || qx < -L || qx > L || qy < 0 || qy > L) continue;
                            if (R[qx + L][qy] > v) { ismax = 0; break; }
                        }
                    if (!ismax) continue;
                    if (pass == 0 && v > best) best = v;
                    if (pass == 1 && v >= 0.85 * best && (bestlen == 0 || len < bestlen)) {
                        bestlen = len; bestv = v; bdx = dx; bdy = dy;
                    }
                }
        int tx0 = tiles[t].x;
        st->tiles++;
        /* A straight line or edge correlates with itself all along its direction; a screen
         * is out of phase half a period away. */
        int hx = (int)lround(bdx / 2.0), hy = (int)lround(bdy / 2.0);
        if (best < 0.45 || bestv - R[hx + L][hy] < 0.6) continue;
        /* Ink coverage: pixels darker than the tile's mid grey. */
        float lo = 255, hi = 0;
        for (int y = 0; y < TILE; y++)
            for (int x = 0; x < TILE; x++) {
                float v = grey[(size_t)(y0 + y) * w + tx0 + x];
                if (v < lo) lo = v;
                if (v > hi) hi = v;
            }
        float mid = (lo + hi) / 2;
        int ink = 0;
        uint8_t bin[TILE * TILE];
        for (int y = 0; y < TILE; y++)
            for (int x = 0; x < TILE; x++) ink += bin[y * TILE + x] = grey[(size_t)(y0 + y) * w + tx0 + x] < mid;
        /* Dots: the lattice spacing is sqrt(area per dot), whatever the screen angle (the
         * autocorrelation only sees whole-pixel lags and misses a rotated lattice, where it
         * finds a longer lattice vector, up to sqrt(2) too long at 45 degrees). */
        double period = bestlen, dpp = dots_per_pixel(bin, bestlen);
        if (dpp > 0) {
            double pd = sqrt(1.0 / dpp);
            if (pd <= bestlen / 1.15 && pd >= bestlen / 1.6) period = pd;
        }
        st->tone_tiles++;
        st->period_sum += period;
        st->density_sum += (double)ink / (TILE * TILE);
    }
    free(hp);
    free(tiles);
    return 0;
}
