/* pose_render.h — draws an OpenPose skeleton the way ControlNet/DWPose draw it: body limbs as
 * filled ellipses (4 px half-width) in the 18 standard OpenPose colours dimmed to 60 %, joints
 * as 4 px discs in full colour, hands as 2 px lines coloured round the HSV wheel with blue
 * joints, face points as 3 px white discs, all on black at the canvas size. Pose-guided
 * diffusion was trained on exactly these pictures, so the colours and sizes are the contract.
 */
#ifndef OMA_PIPELINES_POSE_RENDER_H
#define OMA_PIPELINES_POSE_RENDER_H

#include <stdint.h>

#include "formats/image.h"
#include "formats/openpose.h"

enum { OMA_DRAW_BODY = 1, OMA_DRAW_HANDS = 2, OMA_DRAW_FACE = 4, OMA_DRAW_ALL = 7 };

/* The 18 OpenPose colours (RGB), indexed like the body points and the limbs. */
extern const uint8_t oma_op_colors[18][3];

/* Draws onto an RGB buffer of w x h (3 bytes a pixel, rows packed). Keypoints are scaled from
 * the pose's canvas to w x h; points with c <= 0 are skipped, and so are limbs touching one. */
void oma_pose_draw(const oma_pose *pose, uint8_t *rgb, int w, int h, int what);

/* Renders on black at the pose's canvas size into out (RGB, px malloc'ed; free with free() or
 * oma_image_free). 0 on success, -1 with err. */
int oma_pose_render(const oma_pose *pose, int what, oma_image *out, char *err, size_t errlen);

/* The skeleton over a dimmed copy of photo (RGB or RGBA; out is RGB at photo's size; the pose
 * canvas is scaled to the photo). 0 on success, -1 with err. */
int oma_pose_overlay(const oma_image *photo, const oma_pose *pose, oma_image *out, char *err,
                     size_t errlen);

#endif
