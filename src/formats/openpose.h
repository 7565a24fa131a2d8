/* openpose.h — OpenPose JSON (as ControlNet and the openpose editors write it) and the
 * COCO-WholeBody 133-point layout that DWPose-style estimators produce.
 *
 * The idea: one in-memory pose (oma_pose) with fixed-size keypoint arrays per person, so the
 * renderer, the warper and the editor never deal with variable JSON. Reading is defensive (the
 * JSON comes from users and editors): counts, numbers and canvas sizes are checked and a bad
 * file gives an error string. A keypoint with confidence c <= 0 is "absent" (OpenPose writes
 * 0,0,0 for those). Body order is OpenPose's 18 points, which include the neck:
 *   0 nose, 1 neck, 2 r_shoulder, 3 r_elbow, 4 r_wrist, 5 l_shoulder, 6 l_elbow, 7 l_wrist,
 *   8 r_hip, 9 r_knee, 10 r_ankle, 11 l_hip, 12 l_knee, 13 l_ankle, 14 r_eye, 15 l_eye,
 *   16 r_ear, 17 l_ear.
 * COCO-WholeBody 133: 0..16 COCO body, 17..22 feet (l big toe, l small toe, l heel, r big toe,
 * r small toe, r heel), 23..90 face (68), 91..111 left hand (21), 112..132 right hand (21).
 */
#ifndef OMA_FORMATS_OPENPOSE_H
#define OMA_FORMATS_OPENPOSE_H

#include <jansson.h>
#include <stddef.h>

#define OMA_OP_BODY 18
#define OMA_OP_FACE 68
#define OMA_OP_HAND 21
#define OMA_WB_POINTS 133
#define OMA_WB_FACE0 23
#define OMA_WB_LHAND0 91
#define OMA_WB_RHAND0 112
#define OMA_POSE_MAX_PEOPLE 64
#define OMA_POSE_MAX_CANVAS 16384

typedef struct oma_kp {
    float x, y, c;   /* pixels on the canvas; c = confidence, <= 0 means absent */
} oma_kp;

typedef struct oma_pose_person {
    oma_kp body[OMA_OP_BODY];
    oma_kp face[OMA_OP_FACE];
    oma_kp lhand[OMA_OP_HAND];
    oma_kp rhand[OMA_OP_HAND];
} oma_pose_person;

typedef struct oma_pose {
    int canvas_w, canvas_h;
    int n_people;
    oma_pose_person *people;   /* n_people entries, owned */
} oma_pose;

/* Body limbs (pairs of 18-point indices) in OpenPose drawing order; 17 are drawn, the last
 * two (shoulder-ear) exist in OpenPose's table but are not drawn. */
#define OMA_OP_LIMBS 19
extern const int oma_op_limbs[OMA_OP_LIMBS][2];
/* Hand edges (21-point indices). */
#define OMA_OP_HAND_EDGES 20
extern const int oma_op_hand_edges[OMA_OP_HAND_EDGES][2];
/* For each of the 18 OpenPose body points, its COCO-17 index, or -1 for the neck. */
extern const int oma_op_body_from_coco[OMA_OP_BODY];

/* Allocates n people (all keypoints absent). 0 on success, -1 if out of memory or n too big. */
int oma_pose_init(oma_pose *pose, int canvas_w, int canvas_h, int n_people);
void oma_pose_free(oma_pose *pose);

/* Reads OpenPose JSON: an object {canvas_width, canvas_height, people: [...]}, or an array
 * whose first element is such an object (some tools write a list of frames). When the canvas
 * size is missing, default_w/default_h are used if positive, else it is an error. Body arrays
 * must hold 18 points (a 25-point BODY_25 array is accepted and reduced to the 18); face 68 or
 * 70 (the two pupils are dropped); hands 21; an empty or missing array means absent.
 * 0 on success, -1 with err filled. */
int oma_pose_from_json(const json_t *root, int default_w, int default_h, oma_pose *out,
                       char *err, size_t errlen);
/* Same from text (at most 16 MiB). */
int oma_pose_parse(const char *text, size_t len, int default_w, int default_h, oma_pose *out,
                   char *err, size_t errlen);

/* Writes OpenPose JSON (new reference). Absent points are written 0,0,0. Face and hand arrays
 * are written in full when with_parts is non-zero, else as empty arrays. NULL if out of memory. */
json_t *oma_pose_to_json(const oma_pose *pose, int with_parts);

/* COCO-WholeBody <-> OpenPose for one person. The neck is the midpoint of the shoulders with
 * the smaller of their two confidences (absent if either shoulder is). Going back, the feet are
 * absent (OpenPose's 18-point body has none). */
void oma_pose_person_from_wholebody(const oma_kp wb[OMA_WB_POINTS], oma_pose_person *out);
void oma_pose_person_to_wholebody(const oma_pose_person *p, oma_kp wb[OMA_WB_POINTS]);

/* The 133-point array for every person as JSON:
 * {"canvas_width","canvas_height","people":[{"keypoints":[[x,y,c]*133]}]} (new reference). */
json_t *oma_pose_wholebody_json(int canvas_w, int canvas_h, const oma_kp *wb, int n_people);

#endif
