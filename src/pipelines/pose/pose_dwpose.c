/* pose_dwpose.c — DWPose as a pose estimator (see pose_dwpose.h): load once per folder, run
 * under a lock, keep the people who have a visible point, and fill the same result the TFJS
 * estimator gives (OpenPose + 133 WholeBody points). */
#include "pipelines/pose/pose_dwpose.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/fail.h"
#include "formats/openpose.h"
#include "models/dwpose/dwpose.h"

static pthread_mutex_t dw_lock = PTHREAD_MUTEX_INITIALIZER;
static oma_dwpose *dw_shared;          /* lives until the process ends */
static char dw_dir[4096];

static int regular(const char *dir, const char *file)
{
    char p[4200];
    struct stat st;
    if ((size_t)snprintf(p, sizeof p, "%s/%s", dir, file) >= sizeof p) return 0;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int oma_pose_dwpose_available(const char *models_dir, char *buf, size_t len)
{
    const char *m = models_dir && *models_dir ? models_dir : getenv("OMA_MODELS");
    if ((size_t)snprintf(buf, len, "%s/dwpose", m && *m ? m : "models") >= len) return 0;
    return regular(buf, OMA_DWPOSE_DET_FILE) && regular(buf, OMA_DWPOSE_POSE_FILE);
}

static int visible(const oma_dwpose_person *p, int first, int n)
{
    int k = 0;
    for (int i = 0; i < n; i++) k += p->wb_score[first + i] >= OMA_POSE_KP_THRESHOLD;
    return k;
}

int oma_pose_estimate_dwpose(const char *models_dir, const oma_image *img, oma_pose_result *out,
                             char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!img || !img->px || (img->c != 1 && img->c != 3 && img->c != 4))
        return oma_fail(err, errlen, "pose: bad image");
    if (img->w < OMA_POSE_MIN_SIDE || img->h < OMA_POSE_MIN_SIDE)
        return oma_fail(err, errlen, "pose: image too small (%dx%d, need at least %dx%d)", img->w, img->h,
                        OMA_POSE_MIN_SIDE, OMA_POSE_MIN_SIDE);
    if (img->w > OMA_POSE_MAX_CANVAS || img->h > OMA_POSE_MAX_CANVAS)
        return oma_fail(err, errlen, "pose: image too large (%dx%d)", img->w, img->h);
    char dir[4096];
    if (!oma_pose_dwpose_available(models_dir, dir, sizeof dir))
        return oma_fail(err, errlen, "oma: dwpose: %s/%s and %s/%s are needed (DWPose's ONNX files)", dir,
                        OMA_DWPOSE_DET_FILE, dir, OMA_DWPOSE_POSE_FILE);
    oma_image rgb = {0};   /* transparency over white, grey expanded (as the TFJS estimator) */
    if (oma_image_rgb_on_white(img, &rgb)) return oma_fail(err, errlen, "pose: out of memory");
    oma_dwpose_person *people = NULL;
    int n = 0, rc = 0;
    pthread_mutex_lock(&dw_lock);
    if (dw_shared && strcmp(dw_dir, dir)) {
        oma_dwpose_close(dw_shared);
        dw_shared = NULL;
    }
    if (!dw_shared) {
        rc = oma_dwpose_open(dir, &dw_shared, err, errlen);
        if (rc == 0) snprintf(dw_dir, sizeof dw_dir, "%s", dir);
    }
    if (rc == 0) rc = oma_dwpose_run(dw_shared, rgb.px, rgb.w, rgb.h, &people, &n, err, errlen);
    pthread_mutex_unlock(&dw_lock);
    oma_image_free(&rgb);
    if (rc) return -1;
    /* keep the people with a visible point, in DWPose's order (detection score) */
    int kept = 0;
    for (int i = 0; i < n; i++)
        if (visible(&people[i], 0, 133) > 0 && kept < OMA_POSE_MAX_PEOPLE) people[kept++] = people[i];
    out->wholebody = calloc(kept > 0 ? (size_t)kept * 133 : 1, sizeof(oma_kp));
    if (!out->wholebody) {
        free(people);
        return oma_fail(err, errlen, "pose: out of memory");
    }
    if (oma_dwpose_to_pose(people, kept, img->w, img->h, &out->pose, err, errlen)) {
        free(out->wholebody);
        out->wholebody = NULL;
        free(people);
        return -1;
    }
    for (int i = 0; i < kept; i++) {
        for (int k = 0; k < 133; k++) {
            oma_kp *q = &out->wholebody[(size_t)i * 133 + (size_t)k];
            q->x = people[i].wb[2 * k];
            q->y = people[i].wb[2 * k + 1];
            q->c = people[i].wb_score[k];
        }
        out->hands_found += (visible(&people[i], 91, 21) * 2 >= 21) + (visible(&people[i], 112, 21) * 2 >= 21);
        out->faces_found += visible(&people[i], 23, 68) * 2 >= 68;
    }
    out->hands_estimated = out->face_estimated = 1;
    free(people);
    return 0;
}
