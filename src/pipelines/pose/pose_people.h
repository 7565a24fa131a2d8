/* pose_people.h — who is in the picture: the candidates the whole-body estimator then refines.
 *
 * MoveNet MultiPose first (models/pose/pose_movenet.h): one pass over the whole image, and
 * when that pass is full (6 people, the net's limit), sees people small (box under 0.3 of the
 * short side) or, in a picture of 512 px or more, nobody: the whole picture again with the
 * people found painted grey (up to OMA_POSE_MASKED_PASSES times, while new people turn up),
 * then a look on 4 overlapping tiles of 0.625 x 0.625 of the picture (each seen 1.6x larger;
 * a tile less than 30% free of the people found is skipped), and when one of those is full too, on
 * 3 x 3 tiles of 0.42 (a crowd); people found twice are merged (the whole-image view kept,
 * among tiles the more confident one). Each person keeps MoveNet's 17 body points and gets the BlazePose
 * landmark region built from them (centre on the hips, turned so the body points up, large
 * enough for every sure point); without sure hips the BlazePose detector is asked on the
 * square around the person's box. When those passes find nobody, people may be too small for
 * MoveNet's input (pedestrians in a video frame): overlapping tiles of max(128, short side /
 * 2.5) px, each seen enlarged, keep people with 8 or more sure points (not on a picture that
 * is 30% or more white: a drawing, where close-ups of one figure gave false people). Still nobody: the BlazePose detector passes of
 * the former estimator (whole image and tiles along a long one) are the fallback; a drawn figure
 * is sometimes seen by one and not the other. MoveNet's people come sorted by box area, largest
 * first, at most OMA_POSE_MAX_FOUND (the estimator sorts what it reports by size again).
 */
#ifndef OMA_PIPELINES_POSE_PEOPLE_H
#define OMA_PIPELINES_POSE_PEOPLE_H

#include "formats/image.h"
#include "models/pose/pose_blazepose.h"
#include "models/pose/pose_movenet.h"

#define OMA_POSE_MAX_FOUND 32   /* people an estimate reports at most (largest first) */
#define OMA_POSE_MASKED_PASSES 3   /* whole-picture passes with the people found painted out, at most */
#define OMA_POSE_SMALL_TILES 48   /* tiles of the small-people pass at most */
#define OMA_POSE_PERSON_SCORE 0.2f   /* MoveNet person score kept (pose-detection's default 0.25 less a margin) */

typedef struct oma_pose_cand {
    float score;
    float x0, y0, x1, y1;            /* box, image pixels */
    int has_body;                    /* kp holds MoveNet's 17 points */
    float kp[OMA_MN_POINTS][3];
    oma_bp_roi roi;                  /* where BlazePose's landmark model looks */
} oma_pose_cand;

/* Candidates from MoveNet MultiPose (mn; NULL = the BlazePose detector alone, the former
 * estimator) with the BlazePose detector as fallback. 0 with *n set (0 = nobody), or -1 with err. */
int oma_pose_find_people(oma_movenet *mn, oma_blazepose *bp, const oma_image *img,
                         oma_pose_cand *out, int max, int *n, char *err, size_t errlen);

/* The BlazePose landmark region for MoveNet's 17 points (image pixels): 0, or -1 when the hips
 * or shoulders are not sure enough to place it. */
int oma_pose_roi_from_body(const float kp[OMA_MN_POINTS][3], oma_bp_roi *roi);

#endif
