/* pose_warp_handles.c — turns a source pose and a target pose into control point pairs.
 *
 * Every keypoint present in both poses is a pair. Joints alone would let MLS bend a forearm
 * like rubber between elbow and wrist, so points are also sampled inside each bone (and across
 * the torso) at the same fractions in both poses: a bone then moves as a bone. Each pair gets
 * a depth (torso, legs, arms, hands) that the renderer uses when parts overlap.
 */
#include "pipelines/pose/pose_warp.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Extra torso segments (OpenPose 18 indices) that keep the trunk rigid. */
static const int torso_extra[][2] = {{2, 5}, {8, 11}, {2, 8}, {5, 11}, {2, 11}, {5, 8}};

static int body_depth(int a, int b)
{
    int arm = (a >= 2 && a <= 7 && a != 2 && a != 5) || (b >= 2 && b <= 7 && b != 2 && b != 5);
    int leg = a == 9 || a == 10 || a == 12 || a == 13 || b == 9 || b == 10 || b == 12 || b == 13;
    return arm ? 2 : leg ? 1 : 0;
}

typedef struct hbuf {
    oma_warp_handle *h;
    int n, cap;
} hbuf;

static int push(hbuf *b, float px, float py, float qx, float qy, int depth)
{
    if (b->n == b->cap) {
        int nc = b->cap ? b->cap * 2 : 256;
        oma_warp_handle *nh = realloc(b->h, sizeof *nh * (size_t)nc);
        if (!nh) return -1;
        b->h = nh;
        b->cap = nc;
    }
    b->h[b->n++] = (oma_warp_handle){px, py, qx, qy, depth, 0};
    return 0;
}

typedef struct scale {
    float fx, fy, tx, ty;   /* from-canvas -> image, to-canvas -> image */
} scale;

static int present(const oma_kp *a, const oma_kp *b)
{
    return a->c > 0 && b->c > 0;
}

/* depth < 0: a body point, whose depth follows its limb (elbow/wrist: arm, knee/ankle: leg) */
/* head_r > 0 is given to the head's points: the body's nose, eyes and ears, or all of them
 * for the face */
static int add_points(hbuf *b, const oma_kp *f, const oma_kp *t, int n, const scale *s, int depth, float head_r)
{
    for (int i = 0; i < n; i++) {
        int d = depth >= 0 ? depth : body_depth(i, i);
        if (!present(&f[i], &t[i])) continue;
        if (push(b, f[i].x * s->fx, f[i].y * s->fy, t[i].x * s->tx, t[i].y * s->ty, d) != 0) return -1;
        if (n == OMA_OP_FACE || (n == OMA_OP_BODY && (i == 0 || i >= 14))) b->h[b->n - 1].radius = head_r;
    }
    return 0;
}

static int add_bone(hbuf *b, const oma_kp *f, const oma_kp *t, int i, int j, int samples,
                    const scale *s, int depth)
{
    if (!present(&f[i], &t[i]) || !present(&f[j], &t[j])) return 0;
    /* at least `samples`, and about one every 10 px of the longer of the two bones */
    float ls = hypotf((f[j].x - f[i].x) * s->fx, (f[j].y - f[i].y) * s->fy);
    float lt = hypotf((t[j].x - t[i].x) * s->tx, (t[j].y - t[i].y) * s->ty);
    int dense = (int)(fmaxf(ls, lt) / 10.0f);
    if (dense > 32) dense = 32;
    if (samples > 0 && dense > samples) samples = dense;
    for (int k = 1; k <= samples; k++) {
        float u = (float)k / (float)(samples + 1);
        float px = (f[i].x + u * (f[j].x - f[i].x)) * s->fx, py = (f[i].y + u * (f[j].y - f[i].y)) * s->fy;
        float qx = (t[i].x + u * (t[j].x - t[i].x)) * s->tx, qy = (t[i].y + u * (t[j].y - t[i].y)) * s->ty;
        if (push(b, px, py, qx, qy, depth) != 0) return -1;
    }
    return 0;
}

/* Drops pairs whose source point repeats an earlier one (two handles at one source point
 * pulling to different targets make MLS undefined there). */
static void dedupe(hbuf *b)
{
    int m = 0;
    for (int i = 0; i < b->n; i++) {
        int dup = 0;
        for (int j = 0; j < m && !dup; j++)
            dup = fabsf(b->h[j].px - b->h[i].px) < 0.5f && fabsf(b->h[j].py - b->h[i].py) < 0.5f;
        if (!dup) b->h[m++] = b->h[i];
    }
    b->n = m;
}

int oma_warp_handles(const oma_pose *from, const oma_pose *to, int img_w, int img_h,
                     int bone_samples, oma_warp_handle **out, int *n_out, char *err, size_t errlen)
{
    *out = NULL;
    *n_out = 0;
    if (!from || !to || img_w <= 0 || img_h <= 0) return oma_fail(err, errlen, "pose warp: bad arguments");
    if (from->n_people == 0) return oma_fail(err, errlen, "pose warp: the source pose has no people");
    if (to->n_people == 0) return oma_fail(err, errlen, "pose warp: the target pose has no people");
    if (from->n_people != to->n_people)
        return oma_fail(err, errlen,
                        "pose warp: mismatched keypoints: the source pose has %d people, the target %d",
                        from->n_people, to->n_people);
    if (from->canvas_w <= 0 || from->canvas_h <= 0 || to->canvas_w <= 0 || to->canvas_h <= 0)
        return oma_fail(err, errlen, "pose warp: pose without a canvas size");
    if (bone_samples < 0) bone_samples = 0;
    if (bone_samples > 16) bone_samples = 16;
    scale s = {(float)img_w / (float)from->canvas_w, (float)img_h / (float)from->canvas_h,
               (float)img_w / (float)to->canvas_w, (float)img_h / (float)to->canvas_h};
    hbuf b = {0};
    int n_joints = 0;
    for (int p = 0; p < from->n_people; p++) {
        const oma_pose_person *f = &from->people[p], *t = &to->people[p];
        int before = b.n;
        /* the head reaches about as far round the face as the nose is from the neck */
        float head_r = 0;
        if (present(&f->body[0], &t->body[0]) && present(&f->body[1], &t->body[1]))
            head_r = hypotf((f->body[0].x - f->body[1].x) * s.fx, (f->body[0].y - f->body[1].y) * s.fy);
        if (add_points(&b, f->body, t->body, OMA_OP_BODY, &s, -1, head_r) != 0 ||
            add_points(&b, f->face, t->face, OMA_OP_FACE, &s, 0, head_r) != 0 ||
            add_points(&b, f->lhand, t->lhand, OMA_OP_HAND, &s, 3, 0) != 0 ||
            add_points(&b, f->rhand, t->rhand, OMA_OP_HAND, &s, 3, 0) != 0)
            goto oom;
        n_joints += b.n - before;
        for (int l = 0; l < 17; l++) {
            int i = oma_op_limbs[l][0], j = oma_op_limbs[l][1];
            if (add_bone(&b, f->body, t->body, i, j, bone_samples, &s, body_depth(i, j)) != 0) goto oom;
        }
        for (size_t l = 0; l < sizeof torso_extra / sizeof torso_extra[0]; l++)
            if (add_bone(&b, f->body, t->body, torso_extra[l][0], torso_extra[l][1], bone_samples, &s, 0) != 0)
                goto oom;
        for (int l = 0; l < OMA_OP_HAND_EDGES; l++) {
            int i = oma_op_hand_edges[l][0], j = oma_op_hand_edges[l][1];
            if (add_bone(&b, f->lhand, t->lhand, i, j, 1, &s, 3) != 0 ||
                add_bone(&b, f->rhand, t->rhand, i, j, 1, &s, 3) != 0)
                goto oom;
        }
    }
    if (n_joints < 2) {
        free(b.h);
        return oma_fail(err, errlen,
                        "pose warp: fewer than 2 keypoints are present in both poses (%d); "
                        "points with confidence 0 are ignored",
                        n_joints);
    }
    if (b.n > OMA_WARP_MAX_HANDLES) {
        free(b.h);
        return oma_fail(err, errlen, "pose warp: too many keypoints (%d control points, at most %d)", b.n,
                        OMA_WARP_MAX_HANDLES);
    }
    dedupe(&b);
    *out = b.h;
    *n_out = b.n;
    return 0;
oom:
    free(b.h);
    return oma_fail(err, errlen, "pose warp: out of memory");
}
