/* fuzz_openpose.c — libFuzzer target: OpenPose JSON (pose.render and pose.warp take it from
 * the artist) parsed into a pose: canvas sizes, people and keypoint arrays are bounded. */
#include <stddef.h>
#include <stdint.h>

#include "formats/openpose.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    char err[256];
    oma_pose pose;
    if (oma_pose_parse((const char *)data, len, 512, 512, &pose, err, sizeof err) == 0) oma_pose_free(&pose);
    return 0;
}
