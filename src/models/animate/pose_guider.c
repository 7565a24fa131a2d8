/* pose_guider.c — the PoseGuider's convolutions (see pose_guider.h). */
#include "models/animate/pose_guider.h"

#include <stdio.h>
#include <string.h>

#include "tensor/ops.h"

int oma_pose_guider_load(oma_pose_guider *g, const oma_weights *w, const char *prefix, int n_widths,
                         const int64_t *widths, int64_t out_channels, char *err, size_t errlen)
{
    memset(g, 0, sizeof *g);
    if (n_widths < 1 || n_widths > OMA_PG_MAX_WIDTHS || out_channels < 1) {
        snprintf(err, errlen, "pose guider: %d widths not supported", n_widths);
        return -1;
    }
    for (int i = 0; i < n_widths; i++) {
        if (widths[i] < 1 || widths[i] > 65536) {
            snprintf(err, errlen, "pose guider: bad width %lld", (long long)widths[i]);
            return -1;
        }
        g->widths[i] = widths[i];
    }
    g->n_widths = n_widths;
    g->out = out_channels;
    char p[512];
    snprintf(p, sizeof p, "%s.conv_in", prefix);
    if (oma_conv2d_load(&g->conv_in, w, p, 3, widths[0], 3, 1, 1, 1, err, errlen) != 0) goto fail;
    for (int i = 0; i + 1 < n_widths; i++) {
        snprintf(p, sizeof p, "%s.blocks.%d", prefix, 2 * i);
        if (oma_conv2d_load(&g->blocks[2 * i], w, p, widths[i], widths[i], 3, 1, 1, 1, err, errlen) != 0) goto fail;
        snprintf(p, sizeof p, "%s.blocks.%d", prefix, 2 * i + 1);
        if (oma_conv2d_load(&g->blocks[2 * i + 1], w, p, widths[i], widths[i + 1], 3, 2, 1, 1, err, errlen) != 0)
            goto fail;
    }
    snprintf(p, sizeof p, "%s.conv_out", prefix);
    if (oma_conv2d_load(&g->conv_out, w, p, widths[n_widths - 1], out_channels, 3, 1, 1, 1, err, errlen) != 0)
        goto fail;
    return 0;
fail:
    oma_pose_guider_free(g);
    return -1;
}

void oma_pose_guider_free(oma_pose_guider *g)
{
    oma_conv2d_free(&g->conv_in);
    oma_conv2d_free(&g->conv_out);
    for (int i = 0; i < 2 * (OMA_PG_MAX_WIDTHS - 1); i++) oma_conv2d_free(&g->blocks[i]);
}

int oma_pose_guider_forward(const oma_pose_guider *g, const oma_tensor *pose, oma_arena *ar, oma_tensor *out)
{
    if (pose->ndim != 4 || pose->shape[1] != 3 || g->n_widths < 1) return -1;
    /* output size: each stride-2 conv (pad 1, k 3) gives (n - 1) / 2 + 1 */
    int64_t h = pose->shape[2], w = pose->shape[3];
    for (int i = 0; i + 1 < g->n_widths; i++) {
        h = oma_conv_out_size(h, 3, 2, 1);
        w = oma_conv_out_size(w, 3, 2, 1);
    }
    int64_t os[4] = {pose->shape[0], g->out, h, w};
    if (oma_arena_tensor(ar, out, 4, os) != 0) return -1;
    oma_arena_mark m = oma_arena_get_mark(ar);
    oma_tensor x, y;
    int rc = -1;
    if (oma_conv2d_forward(&g->conv_in, pose, ar, &x) != 0 || oma_op_silu(&x, &x) != 0) goto done;
    for (int i = 0; i < 2 * (g->n_widths - 1); i++) {
        if (oma_conv2d_forward(&g->blocks[i], &x, ar, &y) != 0 || oma_op_silu(&y, &y) != 0) goto done;
        x = y;
    }
    rc = oma_conv2d_run(&g->conv_out, &x, 1, 1, out);
done:
    oma_arena_release(ar, m);
    return rc;
}
