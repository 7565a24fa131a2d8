/* dwpose_pose.c — DWPose people (OpenPose-134 order) into the project's OpenPose struct:
 * body 0-17, face 24-91, left hand 92-112, right hand 113-133 (feet 18-23 are not part of
 * OpenPose JSON, as DWPose never draws them). Points with score < 0.3 are absent, as
 * wholebody.py sets them to -1. */
#include "models/dwpose/dwpose.h"

#include "formats/fail.h"
#include "formats/openpose.h"

static void put(oma_kp *dst, const oma_dwpose_person *p, int first, int n)
{
    for (int i = 0; i < n; i++) {
        float s = p->score[first + i];
        dst[i].x = p->kp[2 * (first + i)];
        dst[i].y = p->kp[2 * (first + i) + 1];
        dst[i].c = s >= 0.3f ? s : 0.0f;
    }
}

int oma_dwpose_to_pose(const oma_dwpose_person *people, int n, int w, int h, oma_pose *pose,
                       char *err, size_t errlen)
{
    if (n > OMA_POSE_MAX_PEOPLE) n = OMA_POSE_MAX_PEOPLE;
    if (oma_pose_init(pose, w, h, n) != 0) return oma_fail(err, errlen, "oma: dwpose: out of memory");
    for (int i = 0; i < n; i++) {
        put(pose->people[i].body, &people[i], 0, OMA_OP_BODY);
        put(pose->people[i].face, &people[i], 24, OMA_OP_FACE);
        put(pose->people[i].lhand, &people[i], 92, OMA_OP_HAND);
        put(pose->people[i].rhand, &people[i], 113, OMA_OP_HAND);
    }
    return 0;
}
