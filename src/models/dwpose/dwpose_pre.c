/* dwpose_pre.c — DWPose's letterbox and affine crop (see dwpose_pre.h), reproducing OpenCV
 * 4.6's 8-bit INTER_LINEAR resize (horizontal pass with 2048-scaled coefficients, vertical pass
 * as its SIMD path: (S >> 4) * beta >> 16, summed, rounded >> 2; exact 2x shrink by area) and
 * warpAffine (inverse map in doubles, positions in 1/1024 rounded to 1/32, weights
 * (32-fx)(32-fy)*32, sum >> 15, constant border 0). tests/unit/models/test_dwpose_pre.c
 * measures the difference against cv2 itself. */
#include "models/dwpose/dwpose_pre.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* cv2.resize(src, (dw, dh), INTER_LINEAR) for 3-channel 8-bit images. */
static int resize_u8(const uint8_t *src, int sw, int sh, uint8_t *dst, int dw, int dh)
{
    if (sw == 2 * dw && sh == 2 * dh) {     /* OpenCV switches an exact 2x shrink to INTER_AREA */
        for (int y = 0; y < dh; y++)
            for (int x = 0; x < dw; x++)
                for (int c = 0; c < 3; c++) {
                    const uint8_t *p = src + ((size_t)(2 * y) * sw + 2 * x) * 3 + c;
                    int s = p[0] + p[3] + p[(size_t)sw * 3] + p[(size_t)sw * 3 + 3];
                    dst[((size_t)y * dw + x) * 3 + c] = (uint8_t)((s + 2) >> 2);
                }
        return 0;
    }
    double scale_x = 1.0 / ((double)dw / sw), scale_y = 1.0 / ((double)dh / sh);
    int *xofs = malloc(sizeof(int) * (size_t)dw);
    short *alpha = malloc(sizeof(short) * 2 * (size_t)dw);
    int *rows = malloc(sizeof(int) * 2 * (size_t)dw * 3);
    if (!xofs || !alpha || !rows) { free(xofs); free(alpha); free(rows); return -1; }
    int xmax = dw;
    for (int dx = 0; dx < dw; dx++) {
        float fx = (float)((dx + 0.5) * scale_x - 0.5);
        int sx = (int)floorf(fx);
        fx -= (float)sx;
        if (sx < 0) { fx = 0; sx = 0; }
        if (sx + 1 >= sw) {
            if (dx < xmax) xmax = dx;
            if (sx >= sw - 1) { fx = 0; sx = sw - 1; }
        }
        xofs[dx] = sx;
        alpha[2 * dx] = (short)lrintf((1.0f - fx) * 2048.0f);
        alpha[2 * dx + 1] = (short)lrintf(fx * 2048.0f);
    }
    int width = dw * 3;
    for (int dy = 0; dy < dh; dy++) {
        float fy = (float)((dy + 0.5) * scale_y - 0.5);
        int sy = (int)floorf(fy);
        fy -= (float)sy;
        if (sy < 0) { fy = 0; sy = 0; }
        if (sy >= sh - 1) { fy = 0; sy = sh - 1; }
        short b0 = (short)lrintf((1.0f - fy) * 2048.0f), b1 = (short)lrintf(fy * 2048.0f);
        for (int k = 0; k < 2; k++) {
            const uint8_t *s = src + (size_t)clampi(sy + k, 0, sh - 1) * sw * 3;
            int *d = rows + (size_t)k * width;
            for (int dx = 0; dx < dw; dx++)
                for (int c = 0; c < 3; c++) {
                    int sx = xofs[dx] * 3 + c;
                    d[dx * 3 + c] = dx < xmax ? s[sx] * alpha[2 * dx] + s[sx + 3] * alpha[2 * dx + 1] : s[sx] * 2048;
                }
        }
        uint8_t *o = dst + (size_t)dy * width;
        /* OpenCV's SSE path covers x in steps of 16 while x <= width - 16, then of 8 while
         * x < width - 8; the rest is scalar */
        int vend = 0;
        while (vend <= width - 16) vend += 16;
        while (vend < width - 8) vend += 8;
        int x = 0;
        for (; x < vend; x++) {
            int v = (((rows[x] >> 4) * b0) >> 16) + (((rows[width + x] >> 4) * b1) >> 16);
            o[x] = (uint8_t)clampi((v + 2) >> 2, 0, 255);
        }
        for (; x < width; x++) {            /* the scalar tail: (S0 b0 + S1 b1 + 2^21) >> 22 */
            long long v = (long long)rows[x] * b0 + (long long)rows[width + x] * b1;
            o[x] = (uint8_t)clampi((int)((v + (1 << 21)) >> 22), 0, 255);
        }
    }
    free(xofs); free(alpha); free(rows);
    return 0;
}

int oma_dwpose_letterbox(const uint8_t *rgb, int w, int h, int size, float *chw, float *ratio)
{
    if (w < 1 || h < 1 || size < 1 || w > 16384 || h > 16384) return -1;
    double r = fmin((double)size / h, (double)size / w);
    int nw = (int)(w * r), nh = (int)(h * r);
    if (nw < 1) nw = 1;
    if (nh < 1) nh = 1;
    uint8_t *tmp = malloc((size_t)nw * nh * 3);
    if (!tmp) return -1;
    if (resize_u8(rgb, w, h, tmp, nw, nh) != 0) { free(tmp); return -1; }
    size_t plane = (size_t)size * size;
    for (size_t i = 0; i < 3 * plane; i++) chw[i] = 114.0f;
    for (int y = 0; y < nh && y < size; y++)
        for (int x = 0; x < nw && x < size; x++)
            for (int c = 0; c < 3; c++) chw[c * plane + (size_t)y * size + x] = tmp[((size_t)y * nw + x) * 3 + c];
    free(tmp);
    *ratio = (float)r;
    return 0;
}

static int floor_shift(int v, int bits) { return v >= 0 ? v >> bits : -((-v + (1 << bits) - 1) >> bits); }

int oma_dwpose_crop(const uint8_t *rgb, int w, int h, const float box[4], int out_w, int out_h,
                    float *chw, float center[2], float scale[2])
{
    if (w < 1 || h < 1 || out_w < 1 || out_h < 1) return -1;
    /* bbox_xyxy2cs(padding 1.25) and _fix_aspect_ratio, in float32 as numpy does */
    float cx = (box[0] + box[2]) * 0.5f, cy = (box[1] + box[3]) * 0.5f;
    float sw = (box[2] - box[0]) * 1.25f, sh = (box[3] - box[1]) * 1.25f;
    float aspect = (float)out_w / (float)out_h;
    if (sw > sh * aspect) sh = sw / aspect; else sw = sh * aspect;
    if (!(sw > 0) || !(sh > 0) || !isfinite(sw) || !isfinite(sh)) return -1;
    center[0] = cx; center[1] = cy; scale[0] = sw; scale[1] = sh;
    /* get_warp_matrix (rot 0): uniform scale s = out_w / sw mapping the centre to the middle */
    double s = (double)out_w / (double)sw;
    double M[6] = {s, 0, out_w * 0.5 - s * cx, 0, s, out_h * 0.5 - s * cy};
    /* warpAffine inverts it (dst -> src) */
    double D = M[0] * M[4] - M[1] * M[3];
    D = D != 0 ? 1.0 / D : 0;
    double A11 = M[4] * D, A22 = M[0] * D;
    M[0] = A11; M[1] *= -D; M[3] *= -D; M[4] = A22;
    double b1 = -M[0] * M[2] - M[1] * M[5], b2 = -M[3] * M[2] - M[4] * M[5];
    M[2] = b1; M[5] = b2;
    static const float mean[3] = {123.675f, 116.28f, 103.53f}, stdv[3] = {58.395f, 57.12f, 57.375f};
    size_t plane = (size_t)out_w * out_h;
    for (int y = 0; y < out_h; y++) {
        int X0 = (int)lrint((M[1] * y + M[2]) * 1024) + 16, Y0 = (int)lrint((M[4] * y + M[5]) * 1024) + 16;
        for (int x = 0; x < out_w; x++) {
            int X = floor_shift(X0 + (int)lrint(M[0] * x * 1024), 5), Y = floor_shift(Y0 + (int)lrint(M[3] * x * 1024), 5);
            int sx = floor_shift(X, 5), sy = floor_shift(Y, 5), fx = X & 31, fy = Y & 31;
            int wts[4] = {(32 - fx) * (32 - fy) * 32, fx * (32 - fy) * 32, (32 - fx) * fy * 32, fx * fy * 32};
            for (int c = 0; c < 3; c++) {
                int acc = 0;
                if (!(sx >= w || sx + 1 < 0 || sy >= h || sy + 1 < 0))
                    for (int k = 0; k < 4; k++) {
                        int px = sx + (k & 1), py = sy + (k >> 1);
                        if (px >= 0 && px < w && py >= 0 && py < h) acc += rgb[((size_t)py * w + px) * 3 + c] * wts[k];
                    }
                int v = clampi((acc + (1 << 14)) >> 15, 0, 255);
                chw[c * plane + (size_t)y * out_w + x] = ((float)v - mean[c]) / stdv[c];
            }
        }
    }
    return 0;
}
