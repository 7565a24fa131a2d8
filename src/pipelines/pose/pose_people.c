/* pose_people.c — finding the people (see pose_people.h): MoveNet MultiPose passes, merging,
 * the BlazePose landmark region from MoveNet's points, and the BlazePose detector passes kept
 * from the former estimator as the fallback. A crowd: passes with the people found painted out
 * before tiles, and tiles mostly covered by people already found skipped. */
#include "pipelines/pose/pose_people.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "formats/fail.h"
#include "pipelines/pose/pose_estimate.h"
#include "tensor/threadpool.h"

#define SURE 0.3f   /* a MoveNet point this sure is used to place things */
#define TILE_FREE 0.3f   /* a tile less free of the people found than this is not looked at */

/* ---- BlazePose detector passes (the former estimator's people finder) ---- */

static float det_iou(const oma_bp_detection *a, const oma_bp_detection *b)
{
    float iw = fminf(a->cx + a->w / 2, b->cx + b->w / 2) - fmaxf(a->cx - a->w / 2, b->cx - b->w / 2);
    float ih = fminf(a->cy + a->h / 2, b->cy + b->h / 2) - fmaxf(a->cy - a->h / 2, b->cy - b->h / 2);
    if (iw <= 0 || ih <= 0) return 0;
    float uni = a->w * a->h + b->w * b->h - iw * ih;
    return uni > 0 ? iw * ih / uni : 0;
}

static int det_by_score(const void *pa, const void *pb)
{
    const oma_bp_detection *a = pa, *b = pb;
    return (a->score < b->score) - (a->score > b->score);
}

/* Keeps those of the k detections in d that overlap none of the *nd already in dets (IoU > 0.3). */
static void add_new(oma_bp_detection *dets, int *nd, int max, const oma_bp_detection *d, int k)
{
    for (int i = 0; i < k && *nd < max; i++) {
        int dup = 0;
        for (int q = 0; q < *nd && !dup; q++) dup = det_iou(&d[i], &dets[q]) > 0.3f;
        if (!dup) dets[(*nd)++] = d[i];
    }
}

/* MediaPipe's pass over the whole image (letterboxed); when the image is at least 1.25 times
 * as long as it is wide (or tall), square tiles along its long side (side max(short side,
 * long side / 4), overlapping by half or more) first: there people beside the dominant one are
 * seen larger; of the tiles' detections of one person the most confident is kept, then the
 * whole-image ones; a detection overlapping a kept one (IoU > 0.3) is dropped. Score >= 0.5. */
static int blazepose_people(oma_blazepose *bp, const oma_image *img, oma_bp_detection *dets,
                            int max, int *n, char *err, size_t errlen)
{
    int nd = 0, k = 0, nt = 0;
    oma_bp_detection td[OMA_POSE_MAX_DETECT], all[OMA_POSE_MAX_TILES * OMA_POSE_MAX_DETECT];
    int lo = img->w < img->h ? img->w : img->h, hi = img->w < img->h ? img->h : img->w;
    if ((float)hi >= 1.25f * (float)lo) {
        float side = fmaxf((float)lo, (float)hi / 4);
        int tiles = (int)ceilf(2.0f * (float)hi / side) - 1;
        if (tiles > OMA_POSE_MAX_TILES) tiles = OMA_POSE_MAX_TILES;
        if (tiles < 2) tiles = 2;
        for (int t = 0; t < tiles; t++) {
            float along = side / 2 + ((float)hi - side) * (float)t / (float)(tiles - 1);
            oma_bp_roi region = {img->w >= img->h ? along : img->w / 2.0f,
                                 img->w >= img->h ? img->h / 2.0f : along, side, 0};
            if (oma_blazepose_detect_region(bp, img, &region, 0.5f, td, OMA_POSE_MAX_DETECT, &k, err, errlen))
                return -1;
            for (int i = 0; i < k; i++) all[nt++] = td[i];
        }
        qsort(all, (size_t)nt, sizeof *all, det_by_score);
        add_new(dets, &nd, max, all, nt);
    }
    if (oma_blazepose_detect(bp, img, 0.5f, td, OMA_POSE_MAX_DETECT, &k, err, errlen)) return -1;
    add_new(dets, &nd, max, td, k);
    *n = nd;
    return 0;
}

/* ---- MoveNet ---- */

int oma_pose_roi_from_body(const float kp[OMA_MN_POINTS][3], oma_bp_roi *roi)
{
    float hx = 0, hy = 0, sx = 0, sy = 0;
    int nh = 0, ns = 0;
    for (int k = 11; k <= 12; k++)
        if (kp[k][2] >= SURE) hx += kp[k][0], hy += kp[k][1], nh++;
    for (int k = 5; k <= 6; k++)
        if (kp[k][2] >= SURE) sx += kp[k][0], sy += kp[k][1], ns++;
    if (!nh || !ns) return -1;
    hx /= (float)nh, hy /= (float)nh, sx /= (float)ns, sy /= (float)ns;
    float r = 0;
    for (int k = 0; k < OMA_MN_POINTS; k++)
        if (kp[k][2] >= SURE) r = fmaxf(r, hypotf(kp[k][0] - hx, kp[k][1] - hy));
    float ux = sx - hx, uy = sy - hy, len = hypotf(ux, uy);
    if (!(len > 1e-3f) || !(r >= 2.0f) || !isfinite(r)) return -1;
    /* as a BlazePose detection: centre point on the hips, the scale point above them on the
     * body's axis, a little beyond the farthest sure point (the head's top is above the eyes) */
    oma_bp_detection d;
    memset(&d, 0, sizeof d);
    d.kp[0][0] = hx;
    d.kp[0][1] = hy;
    d.kp[1][0] = hx + ux / len * r * 1.1f;
    d.kp[1][1] = hy + uy / len * r * 1.1f;
    *roi = oma_blazepose_roi(&d);
    return 0;
}

static float box_area(const oma_pose_cand *c) { return fmaxf(0, c->x1 - c->x0) * fmaxf(0, c->y1 - c->y0); }

/* Overlap of two boxes over the smaller one's area. */
static float overlap_small(const oma_pose_cand *a, const oma_pose_cand *b)
{
    float iw = fminf(a->x1, b->x1) - fmaxf(a->x0, b->x0), ih = fminf(a->y1, b->y1) - fmaxf(a->y0, b->y0);
    if (iw <= 0 || ih <= 0) return 0;
    float m = fminf(box_area(a), box_area(b));
    return m > 0 ? iw * ih / m : 0;
}

/* The same person seen twice: their sure points mostly coincide (within a tenth of the larger
 * box's long side), or, with fewer than 3 points sure in both, the boxes nearly nest. */
static int same_person(const oma_pose_cand *a, const oma_pose_cand *b)
{
    float side = fmaxf(fmaxf(a->x1 - a->x0, a->y1 - a->y0), fmaxf(b->x1 - b->x0, b->y1 - b->y0));
    int both = 0, near = 0;
    for (int k = 0; k < OMA_MN_POINTS; k++) {
        if (a->kp[k][2] < SURE || b->kp[k][2] < SURE) continue;
        both++;
        near += hypotf(a->kp[k][0] - b->kp[k][0], a->kp[k][1] - b->kp[k][1]) <= 0.1f * side;
    }
    if (both >= 3) return 2 * near > both;
    return overlap_small(a, b) > 0.8f;
}

static int sure_points(const oma_pose_cand *c)
{
    int n = 0;
    for (int k = 0; k < OMA_MN_POINTS; k++) n += c->kp[k][2] >= SURE;
    return n;
}

/* Adds c unless it repeats someone. A repeat from a tile replaces a tile's earlier view when it
 * is more sure of more points; the whole-image view of a person is kept (measured: replacing it
 * by the tile's lowered agreement with MoveNet on group photos from 1.0 to 0.89 at PCK@0.10). */
static void merge(oma_pose_cand *all, int *n, int max, const oma_pose_cand *c, int n_whole)
{
    for (int i = 0; i < *n; i++)
        if (same_person(&all[i], c)) {
            float si = all[i].score * (float)sure_points(&all[i]), sc = c->score * (float)sure_points(c);
            if (i >= n_whole && sc > si) all[i] = *c;
            return;
        }
    if (*n < max) all[(*n)++] = *c;
}

static int movenet_pass(oma_movenet *mn, const oma_image *img, int rx, int ry, int rw, int rh,
                        oma_pose_cand *all, int *n, int max, int n_whole, int *found, float *smallest,
                        int min_sure, char *err, size_t errlen)
{
    oma_mn_person ps[OMA_MN_PEOPLE];
    int k;
    if (oma_movenet_detect(mn, img, rx, ry, rw, rh, OMA_POSE_PERSON_SCORE, ps, OMA_MN_PEOPLE, &k, err, errlen))
        return -1;
    for (int i = 0; i < k; i++) {
        oma_pose_cand c;
        memset(&c, 0, sizeof c);
        c.score = ps[i].score;
        c.x0 = ps[i].x0, c.y0 = ps[i].y0, c.x1 = ps[i].x1, c.y1 = ps[i].y1;
        c.has_body = 1;
        memcpy(c.kp, ps[i].kp, sizeof c.kp);
        if (sure_points(&c) < min_sure) continue;   /* a box with hardly a body in it */
        *smallest = fminf(*smallest, c.y1 - c.y0);
        merge(all, n, max, &c, n_whole);
    }
    *found = k;
    return 0;
}

static int by_area(const void *pa, const void *pb)
{
    float a = box_area(pa), b = box_area(pb);
    return (a < b) - (a > b);
}

/* Region for a person without sure hips and shoulders: the BlazePose detector on the square
 * around its box (x1.5); its most confident detection's region, else a plain square. */
static int roi_by_detector(oma_blazepose *bp, const oma_image *img, oma_pose_cand *c, char *err,
                           size_t errlen)
{
    float cx = (c->x0 + c->x1) / 2, cy = (c->y0 + c->y1) / 2;
    float side = 1.5f * fmaxf(c->x1 - c->x0, c->y1 - c->y0);
    c->roi = (oma_bp_roi){cx, cy, side, 0};
    if (!(side >= 16) || !isfinite(side)) return 0;
    oma_bp_detection d[OMA_POSE_MAX_DETECT];
    int k;
    if (oma_blazepose_detect_region(bp, img, &c->roi, 0.5f, d, OMA_POSE_MAX_DETECT, &k, err, errlen)) return -1;
    if (k > 0) c->roi = oma_blazepose_roi(&d[0]);
    return 0;
}

/* roi_by_detector for the people who[0..n) of all, one task each (each writes its own). */
typedef struct {
    oma_blazepose *bp;
    const oma_image *img;
    oma_pose_cand *all;
    int who[OMA_POSE_MAX_FOUND];
    int n;
    int rc[OMA_POSE_MAX_FOUND];
    char err[OMA_POSE_MAX_FOUND][256];
} detector_job;

static void detector_task(void *p, int64_t k)
{
    detector_job *j = p;
    j->rc[k] = roi_by_detector(j->bp, j->img, &j->all[j->who[k]], j->err[k], sizeof j->err[k]);
}

/* Nobody seen yet: people may be too small for MoveNet at its input size (pedestrians 30-70 px
 * tall in a video frame shrink to 15-30 px there). Square tiles of side max(128, short side /
 * 2.5) px, overlapping by half (at most OMA_POSE_SMALL_TILES; the side grows to fit), each
 * seen enlarged to 256 px; only people with 8 or more sure points are kept (a piece of a large
 * drawn figure seen close up gives a few), repeats merged by their points (same_person). Not
 * on a drawing on white (see below). Measured on opencv-doc's demo.jpg: 4 of its 6 pedestrians
 * (30-40 px tall) found, none before; about 1.2 s CPU more (24 tiles). */
static int small_people(oma_movenet *mn, const oma_image *img, oma_pose_cand *all, int *np, int cap,
                        char *err, size_t errlen)
{
    /* a drawing on paper (30% or more near-white pixels; the measured clip art has 40-94%, the
     * photos and video frames 0-16%): close-ups of one large figure's parts give false people */
    size_t white = 0, npx = (size_t)img->w * (size_t)img->h;
    if (img->c == 3)
        for (size_t i = 0; i < npx; i++) {
            const uint8_t *q = img->px + i * 3;
            white += q[0] >= 250 && q[1] >= 250 && q[2] >= 250;
        }
    if (img->c != 3 || white * 10 >= npx * 3) return 0;
    int lo = img->w < img->h ? img->w : img->h;
    float side = fmaxf(128.0f, (float)lo / 2.5f);
    int nx, ny;
    for (;;) {
        int s = (int)side, step = s / 2 > 0 ? s / 2 : 1;
        nx = img->w <= s ? 1 : (img->w - s + step - 1) / step + 1;
        ny = img->h <= s ? 1 : (img->h - s + step - 1) / step + 1;
        if (nx * ny <= OMA_POSE_SMALL_TILES) break;
        side *= 1.25f;
    }
    int s = (int)side, tw = s < img->w ? s : img->w, th = s < img->h ? s : img->h;
    float smallest = 1e30f;
    int found;
    for (int ty = 0; ty < ny; ty++)
        for (int tx = 0; tx < nx; tx++) {
            int rx = nx > 1 ? (img->w - tw) * tx / (nx - 1) : 0, ry = ny > 1 ? (img->h - th) * ty / (ny - 1) : 0;
            if (movenet_pass(mn, img, rx, ry, tw, th, all, np, cap, 0, &found, &smallest, 8, err, errlen))
                return -1;
        }
    return 0;
}

/* A person's box grown by a tenth of its side on every side, so a head above the eyes or a
 * hand past the wrist counts too: what is painted out, and what a region is free of. */
static void grown_box(const oma_pose_cand *c, float *x0, float *y0, float *x1, float *y1)
{
    float gx = 0.1f * (c->x1 - c->x0), gy = 0.1f * (c->y1 - c->y0);
    *x0 = c->x0 - gx, *y0 = c->y0 - gy, *x1 = c->x1 + gx, *y1 = c->y1 + gy;
}

/* A copy of img with the grown boxes of the people all[0..n) painted mid grey. */
static int masked_copy(const oma_image *img, const oma_pose_cand *all, int n, oma_image *out)
{
    size_t bytes = (size_t)img->w * (size_t)img->h * (size_t)img->c;
    out->w = img->w, out->h = img->h, out->c = img->c;
    out->px = malloc(bytes);
    if (!out->px) return -1;
    memcpy(out->px, img->px, bytes);
    for (int i = 0; i < n; i++) {
        const oma_pose_cand *c = &all[i];
        if (!isfinite(c->x0 + c->x1 + c->y0 + c->y1)) continue;
        float bx0, by0, bx1, by1;
        grown_box(c, &bx0, &by0, &bx1, &by1);
        float fx0 = fmaxf(0, bx0), fy0 = fmaxf(0, by0);
        float fx1 = fminf((float)img->w, bx1), fy1 = fminf((float)img->h, by1);
        if (!(fx1 > fx0) || !(fy1 > fy0)) continue;
        int x0 = (int)fx0, y0 = (int)fy0, x1 = (int)ceilf(fx1), y1 = (int)ceilf(fy1);
        for (int y = y0; y < y1; y++)
            memset(out->px + ((size_t)y * (size_t)img->w + (size_t)x0) * (size_t)img->c, 128,
                   (size_t)(x1 - x0) * (size_t)img->c);
    }
    return 0;
}

/* Fraction of the region (rx, ry, rw, rh) that the people all[0..n) leave free: outside every
 * grown box; by a grid of 16 x 16 sample points. */
static float free_fraction(const oma_pose_cand *all, int n, int rx, int ry, int rw, int rh)
{
    int freep = 0;
    for (int j = 0; j < 16; j++)
        for (int i = 0; i < 16; i++) {
            float x = (float)rx + ((float)i + 0.5f) * (float)rw / 16, y = (float)ry + ((float)j + 0.5f) * (float)rh / 16;
            int in = 0;
            for (int p = 0; p < n && !in; p++) {
                float bx0, by0, bx1, by1;
                grown_box(&all[p], &bx0, &by0, &bx1, &by1);
                in = x >= bx0 && x < bx1 && y >= by0 && y < by1;
            }
            freep += !in;
        }
    return (float)freep / 256.0f;
}

int oma_pose_find_people(oma_movenet *mn, oma_blazepose *bp, const oma_image *img,
                         oma_pose_cand *out, int max, int *n, char *err, size_t errlen)
{
    *n = 0;
    int np = 0;
    if (max > OMA_POSE_MAX_FOUND) max = OMA_POSE_MAX_FOUND;
    oma_pose_cand all[OMA_POSE_MAX_FOUND * 2];
    const int cap = OMA_POSE_MAX_FOUND * 2;
    if (mn) {
        int found;
        float smallest = 1e30f;
        if (movenet_pass(mn, img, 0, 0, img->w, img->h, all, &np, cap, 0, &found, &smallest, 3, err, errlen))
            return -1;
        /* a full pass may have missed people; small ones are seen better larger (and nobody at
         * all in a large picture may be people too small for the whole view). First the whole
         * picture again with the people found painted out, while that finds someone new (at
         * most OMA_POSE_MASKED_PASSES times, and not once the people found leave less than
         * TILE_FREE of the picture free, the tiles' rule; measured on the bench's 3x3 sheet: 5,
         * then 7, 9 of 9, and then 20% free: the fourth pass, which found nobody, is skipped);
         * what these find counts as seen whole. Then the tiles, each only when a third or
         * more of it lies outside everyone found (TILE_FREE): a tile filled by people already
         * found holds nobody new (the 3x3 sheet's tiles are 18-22% free, person_multi_det's
         * 60-90%, where the tiles still find 2 more). */
        int lo = img->w < img->h ? img->w : img->h, hi = img->w < img->h ? img->h : img->w;
        for (int r = 0; r < OMA_POSE_MASKED_PASSES && np > 0 &&
                        (found >= OMA_MN_PEOPLE || smallest < 0.3f * (float)lo) &&
                        free_fraction(all, np, 0, 0, img->w, img->h) >= TILE_FREE;
             r++) {
            oma_image masked;
            int before = np;
            if (masked_copy(img, all, np, &masked)) return oma_fail(err, errlen, "pose: out of memory");
            int rc = movenet_pass(mn, &masked, 0, 0, img->w, img->h, all, &np, cap, np, &found, &smallest, 3,
                                  err, errlen);
            free(masked.px);
            if (rc) return -1;
            if (np == before) break;
        }
        int whole = np;
        if (found >= OMA_MN_PEOPLE || (np > 0 && smallest < 0.3f * (float)lo) ||
            (np == 0 && hi >= 2 * OMA_MN_SIDE)) {
            /* 2 x 2 tiles of 0.625; if one of them is full too, a crowd: 3 x 3 tiles of 0.42 */
            int full = 0;
            for (int g = 2; g <= 3 && (g == 2 || full); g++) {
                float f = g == 2 ? 0.625f : 0.42f;
                int tw = (int)ceilf(f * (float)img->w), th = (int)ceilf(f * (float)img->h);
                for (int t = 0; t < g * g; t++) {
                    int rx = (img->w - tw) * (t % g) / (g - 1), ry = (img->h - th) * (t / g) / (g - 1);
                    if (free_fraction(all, np, rx, ry, tw, th) < TILE_FREE) continue;   /* nobody more fits */
                    if (movenet_pass(mn, img, rx, ry, tw, th, all, &np, cap, whole, &found, &smallest, 3, err,
                                     errlen))
                        return -1;
                    full |= found >= OMA_MN_PEOPLE;
                }
            }
        }
        if (np == 0 && small_people(mn, img, all, &np, cap, err, errlen)) return -1;
        qsort(all, (size_t)np, sizeof *all, by_area);
        if (np > max) np = max;
        /* the people without sure hips and shoulders: the detector for each, a person per core */
        detector_job dj = {bp, img, all, {0}, 0, {0}, {{0}}};
        for (int i = 0; i < np; i++)
            if (oma_pose_roi_from_body((const float(*)[3])all[i].kp, &all[i].roi)) dj.who[dj.n++] = i;
        oma_parallel_tasks(dj.n, detector_task, &dj);
        for (int k = 0; k < dj.n; k++)
            if (dj.rc[k]) return oma_fail(err, errlen, "%s", dj.err[k]);
    }
    if (np == 0) {
        oma_bp_detection dets[OMA_POSE_MAX_CANDIDATES];
        int nd;
        if (blazepose_people(bp, img, dets, OMA_POSE_MAX_CANDIDATES, &nd, err, errlen)) return -1;
        for (int i = 0; i < nd && np < cap; i++) {
            oma_pose_cand *c = &all[np++];
            memset(c, 0, sizeof *c);
            c->score = dets[i].score;
            c->x0 = dets[i].cx - dets[i].w / 2, c->x1 = dets[i].cx + dets[i].w / 2;
            c->y0 = dets[i].cy - dets[i].h / 2, c->y1 = dets[i].cy + dets[i].h / 2;
            c->roi = oma_blazepose_roi(&dets[i]);
        }
        /* the former order (clearest view of a person first): the estimator keeps the first
         * of two detections of one body, and sorts the people it reports by size itself */
        if (np > max) np = max;
    }
    memcpy(out, all, sizeof *out * (size_t)np);
    *n = np;
    return 0;
}
