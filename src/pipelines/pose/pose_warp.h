/* pose_warp.h — moves a character into a new pose without any weights: the figure is covered
 * by a triangle mesh whose vertices are carried by a rigid moving-least-squares deformation
 * driven by keypoint pairs (source pose -> target pose), plus points sampled along each bone
 * so limbs bend at the joints and stay straight between them. The background stays where it
 * is; where the figure used to be, the hole is transparent (images with alpha) or filled
 * from the surrounding background (opaque images).
 *
 * Pieces (one file each): handles (pose pairs -> point pairs), MLS (the deformation itself),
 * mask + fill (what is figure, what fills the hole), mesh (rendering the warped figure), and
 * pose_warp.c, which puts them together and offers the pose.warp job kind.
 */
#ifndef OMA_PIPELINES_POSE_WARP_H
#define OMA_PIPELINES_POSE_WARP_H

#include <stddef.h>
#include <stdint.h>

#include "formats/image.h"
#include "formats/openpose.h"

/* One control point pair in image pixels: p in the source picture moves to q. depth orders
 * overlapping parts when rendering (0 torso/head, 1 legs, 2 arms, 3 hands); radius, when
 * non-zero, is how far round this point the figure reaches at least (the head's points get
 * the head's size, so hair moves with the face). */
typedef struct oma_warp_handle {
    float px, py, qx, qy;
    int depth;
    float radius;
} oma_warp_handle;

#define OMA_WARP_MAX_PIXELS (16 * 1024 * 1024)   /* larger pictures: normalise them first */
#define OMA_WARP_MAX_HANDLES 4096                 /* control points from the poses (about 12 people) */

typedef struct oma_warp_opts {
    int grid;           /* mesh cell size in pixels (default 8) */
    float alpha;        /* MLS weight falloff 1/d^(2 alpha) (default 3: local handles rule,
                           so a raised arm keeps its thickness instead of being pulled
                           towards the torso's many handles; 1, the paper's, is far too soft
                           for articulated moves) */
    int bone_samples;   /* least number of points sampled inside each bone (default 3; long
                           bones get one about every 10 px); 0 = joints only */
} oma_warp_opts;

oma_warp_opts oma_warp_defaults(void);

/* Builds handle pairs from two poses, each scaled from its own canvas to img_w x img_h.
 * People are paired by index and must be as many in both; a point is used only when present
 * (c > 0) in both. Fewer than 2 usable points is an error. *out is malloc'ed. */
int oma_warp_handles(const oma_pose *from, const oma_pose *to, int img_w, int img_h,
                     int bone_samples, oma_warp_handle **out, int *n_out, char *err, size_t errlen);

/* Rigid MLS: where the point (x, y) of the source goes. Exact at handles. When inverse is
 * non-zero, the roles of p and q are swapped (target -> source). */
void oma_warp_mls(const oma_warp_handle *h, int n, float alpha, int inverse, float x, float y,
                  float *ox, float *oy);

/* How the figure was told from the background. */
enum { OMA_WARP_MASK_ALPHA = 0, OMA_WARP_MASK_COLOR = 1, OMA_WARP_MASK_REGION = 2, OMA_WARP_MASK_CUT = 3 };

/* Foreground coverage (0..255, w*h bytes, malloc'ed into *mask) and the mode used:
 *  ALPHA  the image has meaningful alpha: coverage = alpha;
 *  COLOR  a flat backdrop: pixels unlike the border's colour, near the source skeleton;
 *  REGION a busy backdrop and a small move: everything near the source or target skeleton,
 *         widened by margin pixels; the caller pins its rim (oma_warp_anchors) and deforms it
 *         as a whole;
 *  CUT    a busy backdrop and a big move: the region near the source skeleton, cut out and
 *         moved (the hole filled) like COLOR. */
int oma_warp_mask(const oma_image *img, const oma_warp_handle *h, int n, int margin, uint8_t **mask,
                  int *mode, char *err, size_t errlen);

/* Appends fixed handles (p = q) along the rim of mask, about spacing pixels apart, to the
 * malloc'ed array *hs of *n handles (realloc'ed). */
int oma_warp_anchors(const uint8_t *mask, int w, int h, int spacing, oma_warp_handle **hs, int *n,
                     char *err, size_t errlen);

/* Fills the pixels where hole != 0 of an RGB(A) image smoothly from the pixels around them
 * (push-pull: averages over a pyramid, then pulled back down). Others are untouched. */
int oma_warp_fill(oma_image *img, const uint8_t *hole);

/* Renders the figure (src premultiplied by mask coverage) deformed by the handles over the
 * RGBA image dst (same size as src), mesh cells ordered by depth. With reveal (opaque
 * pictures; dst is then the filled plate), the figure is laid over the original picture
 * wherever the figure still covers its old place, and over dst in proportion to how much of
 * a pixel the figure left, so nothing that stays put changes. */
int oma_warp_render(const oma_image *src, const uint8_t *mask, const oma_warp_handle *h, int n,
                    const oma_warp_opts *o, int reveal, oma_image *dst, char *err, size_t errlen);

/* The whole warp: img (RGB or RGBA) -> out (same size; RGBA when img has alpha, else RGB). */
int oma_pose_warp(const oma_image *img, const oma_pose *from, const oma_pose *to,
                  const oma_warp_opts *o, oma_image *out, char *err, size_t errlen);

#endif
