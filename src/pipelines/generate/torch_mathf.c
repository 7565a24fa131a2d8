/* torch_mathf.c — torch's float32 log/exp (SLEEF u10, FMA variant); see torch_mathf.h.
 *
 * log: x = 2^e m with m in [0.75, 1.5); log x = e ln2 + 2 atanh((m-1)/(m+1)), the quotient and
 * the sum kept as float-float pairs (hi, lo), an odd polynomial in the quotient's square for
 * the tail. exp: x = q ln2 + s (ln2 split in two parts), a degree-6 polynomial in s, times 2^q.
 * Relies on ISO C's default of no floating-point contraction (-std=c17): only the fmaf calls
 * fuse. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "pipelines/generate/torch_mathf.h"

typedef struct {
    float x, y;
} ff;

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* exact sum of two floats as a pair (no ordering assumption) */
static ff add2_ff(float x, float y)
{
    float s = x + y, v = s - x;
    ff r = {s, (x - (s - v)) + (y - v)};
    return r;
}

/* pair + pair, |x| >= |y| */
static ff add_pp(ff x, ff y)
{
    float s = x.x + y.x;
    ff r = {s, (((x.x - s) + y.x) + x.y) + y.y};
    return r;
}

/* pair + float, |x| >= |y| */
static ff add_pf(ff x, float y)
{
    float s = x.x + y;
    ff r = {s, ((x.x - s) + y) + x.y};
    return r;
}

static ff mul_pf(ff x, float y)
{
    float s = x.x * y;
    ff r = {s, fmaf(x.y, y, fmaf(x.x, y, -s))};
    return r;
}

static ff div_pp(ff n, ff d)
{
    float t = 1.0f / d.x;
    float s = n.x * t;
    float u = fmaf(t, n.x, -s);
    float v = fmaf(-d.y, t, fmaf(-d.x, t, 1.0f));
    ff r = {s, fmaf(s, v, fmaf(n.y, t, u))};
    return r;
}

float oma_torch_logf(float d)
{
    int small = d < 1.17549435e-38f;    /* FLT_MIN: scale subnormals up by 2^64 */
    if (small) d = d * (18446744073709551616.0f);
    int32_t e = (int32_t)((bits(d * (1.0f / 0.75f)) >> 23) & 0xff) - 0x7f;
    float m = from_bits(bits(d) + (uint32_t)((uint32_t)(-e) << 23));
    if (small) e -= 64;
    ff ln2 = {0.69314718246459960938f, -1.904654323148236017e-09f};
    ff s = mul_pf(ln2, (float)e);
    ff x = div_pp(add2_ff(-1.0f, m), add2_ff(1.0f, m));
    float x2 = x.x * x.x;
    float t = 0.3027294874e+0f;
    t = fmaf(t, x2, 0.3996108174e+0f);
    t = fmaf(t, x2, 0.6666694880e+0f);
    ff x2s = {x.x * 2.0f, x.y * 2.0f};
    s = add_pp(s, x2s);
    s = add_pf(s, (x2 * x.x) * t);
    float r = s.x + s.y;
    if (isinf(d) && d > 0) r = INFINITY;
    if (d < 0 || isnan(d)) r = NAN;
    if (d == 0) r = -INFINITY;
    return r;
}

static float pow2i(int32_t q)
{
    return from_bits((uint32_t)(q + 0x7f) << 23);
}

float oma_torch_expf(float d)
{
    if (isnan(d)) return d;
    float qf = nearbyintf(d * 1.442695040888963407359924681001892137426645954152985934135449406931f);
    /* cvtps2dq: out of range gives INT_MIN; such inputs end in the clamps below */
    int32_t q = (qf >= -2147483648.0f && qf < 2147483648.0f) ? (int32_t)qf : INT32_MIN;
    float s = fmaf((float)q, -0.693145751953125f, d);
    s = fmaf((float)q, -1.428606765330187045e-06f, s);
    float u = 0.000198527617612853646278381f;
    u = fmaf(u, s, 0.00139304355252534151077271f);
    u = fmaf(u, s, 0.00833336077630519866943359f);
    u = fmaf(u, s, 0.0416664853692054748535156f);
    u = fmaf(u, s, 0.166666671633720397949219f);
    u = fmaf(u, s, 0.5f);
    u = 1.0f + fmaf(s * s, u, s);
    if (d < -104.0f) return 0.0f;
    if (d > 100.0f) return INFINITY;
    int32_t h = q >> 1;
    return (u * pow2i(h)) * pow2i(q - h);
}
