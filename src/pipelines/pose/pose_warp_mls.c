/* pose_warp_mls.c — rigid moving least squares (Schaefer, McPhail, Warren 2006).
 *
 * For a point v, each handle pair (p_i -> q_i) gets the weight w_i = 1 / |p_i - v|^(2 alpha).
 * With the weighted centroids p*, q* and the centred p^_i, q^_i, the best rotation R (in the
 * weighted least-squares sense) has angle atan2(sum w (p^ x q^), sum w (p^ . q^)), and v maps
 * to R (v - p*) + q*. Near a handle its weight dominates, so the map interpolates the handles;
 * far away it is the best rigid motion of all of them. No scaling and no shear, which is what
 * keeps limbs looking like limbs.
 */
#include "pipelines/pose/pose_warp.h"

#include <math.h>

void oma_warp_mls(const oma_warp_handle *h, int n, float alpha, int inverse, float x, float y,
                  float *ox, float *oy)
{
    double sw = 0, spx = 0, spy = 0, sqx = 0, sqy = 0;
    if (n <= 0) {
        *ox = x;
        *oy = y;
        return;
    }
    /* weights: doubles, since 1/d^2 spans many orders of magnitude */
    for (int i = 0; i < n; i++) {
        double px = inverse ? h[i].qx : h[i].px, py = inverse ? h[i].qy : h[i].py;
        double qx = inverse ? h[i].px : h[i].qx, qy = inverse ? h[i].py : h[i].qy;
        double dx = px - x, dy = py - y, d2 = dx * dx + dy * dy;
        if (d2 < 1e-10) {   /* on a handle: exactly its target */
            *ox = (float)qx;
            *oy = (float)qy;
            return;
        }
        double w = alpha == 3.0f ? 1.0 / (d2 * d2 * d2) : alpha == 2.0f ? 1.0 / (d2 * d2) : alpha == 1.0f ? 1.0 / d2 : 1.0 / pow(d2, alpha);
        sw += w;
        spx += w * px;
        spy += w * py;
        sqx += w * qx;
        sqy += w * qy;
    }
    double cpx = spx / sw, cpy = spy / sw, cqx = sqx / sw, cqy = sqy / sw;
    double dot = 0, crs = 0;
    for (int i = 0; i < n; i++) {
        double px = inverse ? h[i].qx : h[i].px, py = inverse ? h[i].qy : h[i].py;
        double qx = inverse ? h[i].px : h[i].qx, qy = inverse ? h[i].py : h[i].qy;
        double dx = px - x, dy = py - y, d2 = dx * dx + dy * dy;
        double w = alpha == 3.0f ? 1.0 / (d2 * d2 * d2) : alpha == 2.0f ? 1.0 / (d2 * d2) : alpha == 1.0f ? 1.0 / d2 : 1.0 / pow(d2, alpha);
        double ax = px - cpx, ay = py - cpy, bx = qx - cqx, by = qy - cqy;
        dot += w * (ax * bx + ay * by);
        crs += w * (ax * by - ay * bx);
    }
    double vx = x - cpx, vy = y - cpy;
    double r = sqrt(dot * dot + crs * crs);
    double c = 1, s = 0;
    if (r > 1e-300) {
        c = dot / r;
        s = crs / r;
    }
    *ox = (float)(c * vx - s * vy + cqx);
    *oy = (float)(s * vx + c * vy + cqy);
}
