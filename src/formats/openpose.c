/* openpose.c — OpenPose JSON read/write with validation, and the COCO-WholeBody 133 <->
 * OpenPose 18-point mapping. See openpose.h for the layouts. Every number read is checked to be
 * finite and within a generous range around the canvas; counts are fixed by the format. */
#include "formats/openpose.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/fail.h"

const int oma_op_limbs[OMA_OP_LIMBS][2] = {
    {1, 2}, {1, 5}, {2, 3}, {3, 4}, {5, 6}, {6, 7}, {1, 8}, {8, 9}, {9, 10},
    {1, 11}, {11, 12}, {12, 13}, {1, 0}, {0, 14}, {14, 16}, {0, 15}, {15, 17},
    {2, 16}, {5, 17},
};

const int oma_op_hand_edges[OMA_OP_HAND_EDGES][2] = {
    {0, 1}, {1, 2}, {2, 3}, {3, 4}, {0, 5}, {5, 6}, {6, 7}, {7, 8}, {0, 9}, {9, 10},
    {10, 11}, {11, 12}, {0, 13}, {13, 14}, {14, 15}, {15, 16}, {0, 17}, {17, 18}, {18, 19},
    {19, 20},
};

const int oma_op_body_from_coco[OMA_OP_BODY] = {
    0, -1, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3,
};

/* BODY_25 index for each of the 18 points (BODY_25 adds mid-hip at 8 and the feet). */
static const int body25_to_18[OMA_OP_BODY] = {0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14,
                                              15, 16, 17, 18};

int oma_pose_init(oma_pose *pose, int canvas_w, int canvas_h, int n_people)
{
    memset(pose, 0, sizeof *pose);
    if (n_people < 0 || n_people > OMA_POSE_MAX_PEOPLE) return -1;
    pose->canvas_w = canvas_w;
    pose->canvas_h = canvas_h;
    if (n_people > 0) {
        pose->people = calloc((size_t)n_people, sizeof *pose->people);
        if (!pose->people) return -1;
    }
    pose->n_people = n_people;
    return 0;
}

void oma_pose_free(oma_pose *pose)
{
    if (!pose) return;
    free(pose->people);
    pose->people = NULL;
    pose->n_people = 0;
}

/* Reads n points from a flat [x,y,c,...] array into kp (with an optional index map of size
 * n into the source). The array must hold exactly src_n points. */
static int read_points(const json_t *arr, const char *what, int src_n, const int *map, int n,
                       oma_kp *kp, float lim_x, float lim_y, char *err, size_t errlen)
{
    size_t len = json_array_size(arr);
    if (len != (size_t)src_n * 3)
        return oma_fail(err, errlen, "openpose: %s has %d numbers", what, (int)len);
    for (size_t i = 0; i < len; i++) {
        json_t *v = json_array_get(arr, i);
        if (!json_is_number(v))
            return oma_fail(err, errlen, "openpose: %s: value %d is not a number", what, (int)i);
        double d = json_number_value(v);
        if (!isfinite(d))
            return oma_fail(err, errlen, "openpose: %s: value %d is not finite", what, (int)i);
    }
    for (int i = 0; i < n; i++) {
        int s = map ? map[i] : i;
        double x = json_number_value(json_array_get(arr, (size_t)s * 3));
        double y = json_number_value(json_array_get(arr, (size_t)s * 3 + 1));
        double c = json_number_value(json_array_get(arr, (size_t)s * 3 + 2));
        if (fabs(x) > lim_x || fabs(y) > lim_y || c > 1e6 || c < -1e6)
            return oma_fail(err, errlen, "openpose: %s: point %d is far outside the canvas", what, i);
        kp[i].x = (float)x;
        kp[i].y = (float)y;
        kp[i].c = (float)c;
    }
    return 0;
}

static int read_part(const json_t *person, const char *key, int n, oma_kp *kp, float lx, float ly,
                     char *err, size_t errlen)
{
    const json_t *arr = json_object_get(person, key);
    if (!arr || json_is_null(arr)) return 0;
    if (!json_is_array(arr))
        return oma_fail(err, errlen, "openpose: %s is not an array", key);
    if (json_array_size(arr) == 0) return 0;
    if (n == OMA_OP_FACE && json_array_size(arr) == 70 * 3)
        return read_points(arr, key, 70, NULL, n, kp, lx, ly, err, errlen);
    return read_points(arr, key, n, NULL, n, kp, lx, ly, err, errlen);
}

static int canvas_dim(const json_t *root, const char *key, int def, int *out, char *err,
                      size_t errlen)
{
    const json_t *v = json_object_get(root, key);
    if (!v) {
        if (def > 0 && def <= OMA_POSE_MAX_CANVAS) {
            *out = def;
            return 0;
        }
        return oma_fail(err, errlen, "openpose: %s is missing", key);
    }
    double d = json_is_integer(v) ? (double)json_integer_value(v)
               : json_is_real(v)  ? json_real_value(v)
                                  : -1.0;
    if (!(d >= 1 && d <= OMA_POSE_MAX_CANVAS) || d != floor(d))
        return oma_fail(err, errlen, "openpose: %s must be an integer 1..%d", key, OMA_POSE_MAX_CANVAS);
    *out = (int)d;
    return 0;
}

int oma_pose_from_json(const json_t *root, int default_w, int default_h, oma_pose *out,
                       char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (json_is_array(root)) {
        if (json_array_size(root) < 1)
            return oma_fail(err, errlen, "openpose: empty list");
        root = json_array_get(root, 0);
    }
    if (!json_is_object(root))
        return oma_fail(err, errlen, "openpose: expected an object");
    int w, h;
    if (canvas_dim(root, "canvas_width", default_w, &w, err, errlen) ||
        canvas_dim(root, "canvas_height", default_h, &h, err, errlen))
        return -1;
    const json_t *people = json_object_get(root, "people");
    if (people && !json_is_array(people))
        return oma_fail(err, errlen, "openpose: people is not an array");
    size_t n = people ? json_array_size(people) : 0;
    if (n > OMA_POSE_MAX_PEOPLE)
        return oma_fail(err, errlen, "openpose: too many people (%d max)", OMA_POSE_MAX_PEOPLE);
    if (oma_pose_init(out, w, h, (int)n))
        return oma_fail(err, errlen, "openpose: out of memory");
    /* Points may sit a little outside the canvas (editors allow it), not absurdly far. */
    float lx = 4.0f * (float)w + 16, ly = 4.0f * (float)h + 16;
    for (size_t i = 0; i < n; i++) {
        const json_t *p = json_array_get(people, i);
        oma_pose_person *pp = &out->people[i];
        if (!json_is_object(p)) {
            oma_fail(err, errlen, "openpose: person %d is not an object", (int)i);
            goto fail;
        }
        const json_t *body = json_object_get(p, "pose_keypoints_2d");
        if (body && !json_is_null(body)) {
            if (!json_is_array(body)) {
                oma_fail(err, errlen, "openpose: %s of person %d is not an array",
                         "pose_keypoints_2d", (int)i);
                goto fail;
            }
            size_t bl = json_array_size(body);
            if (bl == 25 * 3) {
                if (read_points(body, "pose_keypoints_2d", 25, body25_to_18, OMA_OP_BODY,
                                pp->body, lx, ly, err, errlen))
                    goto fail;
            } else if (bl != 0) {
                if (read_points(body, "pose_keypoints_2d", OMA_OP_BODY, NULL, OMA_OP_BODY,
                                pp->body, lx, ly, err, errlen))
                    goto fail;
            }
        }
        if (read_part(p, "face_keypoints_2d", OMA_OP_FACE, pp->face, lx, ly, err, errlen) ||
            read_part(p, "hand_left_keypoints_2d", OMA_OP_HAND, pp->lhand, lx, ly, err, errlen) ||
            read_part(p, "hand_right_keypoints_2d", OMA_OP_HAND, pp->rhand, lx, ly, err, errlen))
            goto fail;
    }
    return 0;
fail:
    oma_pose_free(out);
    return -1;
}

int oma_pose_parse(const char *text, size_t len, int default_w, int default_h, oma_pose *out,
                   char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!text || len == 0 || len > (16u << 20))
        return oma_fail(err, errlen, "openpose: empty or larger than 16 MiB");
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!root)
        return oma_fail(err, errlen, "openpose: invalid JSON: %s (line %d)", je.text, je.line);
    int rc = oma_pose_from_json(root, default_w, default_h, out, err, errlen);
    json_decref(root);
    return rc;
}

static json_t *points_json(const oma_kp *kp, int n)
{
    json_t *a = json_array();
    if (!a) return NULL;
    for (int i = 0; i < n; i++) {
        int absent = !(kp[i].c > 0);
        double v[3] = {absent ? 0 : kp[i].x, absent ? 0 : kp[i].y, absent ? 0 : kp[i].c};
        for (int k = 0; k < 3; k++) {
            /* Round to 1/1000 so files stay small and diff-friendly. */
            if (json_array_append_new(a, json_real(round(v[k] * 1000.0) / 1000.0))) {
                json_decref(a);
                return NULL;
            }
        }
    }
    return a;
}

json_t *oma_pose_to_json(const oma_pose *pose, int with_parts)
{
    json_t *root = json_object(), *people = json_array();
    if (!root || !people) goto oom;
    if (json_object_set_new(root, "canvas_width", json_integer(pose->canvas_w)) ||
        json_object_set_new(root, "canvas_height", json_integer(pose->canvas_h)))
        goto oom;
    for (int i = 0; i < pose->n_people; i++) {
        const oma_pose_person *p = &pose->people[i];
        json_t *o = json_object();
        if (!o || json_array_append_new(people, o)) goto oom;
        if (json_object_set_new(o, "pose_keypoints_2d", points_json(p->body, OMA_OP_BODY)) ||
            json_object_set_new(o, "face_keypoints_2d",
                                with_parts ? points_json(p->face, OMA_OP_FACE) : json_array()) ||
            json_object_set_new(o, "hand_left_keypoints_2d",
                                with_parts ? points_json(p->lhand, OMA_OP_HAND) : json_array()) ||
            json_object_set_new(o, "hand_right_keypoints_2d",
                                with_parts ? points_json(p->rhand, OMA_OP_HAND) : json_array()))
            goto oom;
    }
    if (json_object_set_new(root, "people", people)) {
        people = NULL;
        goto oom;
    }
    return root;
oom:
    json_decref(people);
    json_decref(root);
    return NULL;
}

void oma_pose_person_from_wholebody(const oma_kp wb[OMA_WB_POINTS], oma_pose_person *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < OMA_OP_BODY; i++) {
        int s = oma_op_body_from_coco[i];
        if (s >= 0) out->body[i] = wb[s];
    }
    const oma_kp *ls = &wb[5], *rs = &wb[6];
    if (ls->c > 0 && rs->c > 0) {
        out->body[1].x = 0.5f * (ls->x + rs->x);
        out->body[1].y = 0.5f * (ls->y + rs->y);
        out->body[1].c = ls->c < rs->c ? ls->c : rs->c;
    }
    memcpy(out->face, wb + OMA_WB_FACE0, sizeof out->face);
    memcpy(out->lhand, wb + OMA_WB_LHAND0, sizeof out->lhand);
    memcpy(out->rhand, wb + OMA_WB_RHAND0, sizeof out->rhand);
}

void oma_pose_person_to_wholebody(const oma_pose_person *p, oma_kp wb[OMA_WB_POINTS])
{
    memset(wb, 0, sizeof(oma_kp) * OMA_WB_POINTS);
    for (int i = 0; i < OMA_OP_BODY; i++) {
        int s = oma_op_body_from_coco[i];
        if (s >= 0) wb[s] = p->body[i];
    }
    memcpy(wb + OMA_WB_FACE0, p->face, sizeof p->face);
    memcpy(wb + OMA_WB_LHAND0, p->lhand, sizeof p->lhand);
    memcpy(wb + OMA_WB_RHAND0, p->rhand, sizeof p->rhand);
}

json_t *oma_pose_wholebody_json(int canvas_w, int canvas_h, const oma_kp *wb, int n_people)
{
    json_t *root = json_object(), *people = json_array();
    if (!root || !people) goto oom;
    if (json_object_set_new(root, "canvas_width", json_integer(canvas_w)) ||
        json_object_set_new(root, "canvas_height", json_integer(canvas_h)))
        goto oom;
    for (int i = 0; i < n_people; i++) {
        json_t *o = json_object(), *kps = json_array();
        if (!o || !kps || json_array_append_new(people, o) ||
            json_object_set_new(o, "keypoints", kps)) {
            json_decref(kps);
            goto oom;
        }
        for (int k = 0; k < OMA_WB_POINTS; k++) {
            const oma_kp *q = &wb[(size_t)i * OMA_WB_POINTS + k];
            json_t *t = json_pack("[fff]", round(q->x * 1000.0) / 1000.0,
                                  round(q->y * 1000.0) / 1000.0, round(q->c * 1000.0) / 1000.0);
            if (!t || json_array_append_new(kps, t)) goto oom;
        }
    }
    if (json_object_set_new(root, "people", people)) {
        people = NULL;
        goto oom;
    }
    return root;
oom:
    json_decref(people);
    json_decref(root);
    return NULL;
}
