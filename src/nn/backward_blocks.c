/* backward_blocks.c — backward passes of ResnetBlock2D, Downsample2D and Upsample2D (see
 * backward.h). The resnet needs only the pre-activation of norm2 (conv1's output plus the
 * time embedding): kept by oma_resnet_forward_keep, or recomputed from the input by
 * oma_resnet_backward; the samplers need nothing.
 */
#include <string.h>

#include "nn/backward.h"
#include "nn/backward_internal.h"
#include "nn/blocks_internal.h"
#include "tensor/ops.h"
#include "tensor/ops_backward.h"

#define TRY(x) do { if ((x) != 0) goto fail; } while (0)

static int resnet_check(const oma_resnet *r, const oma_tensor *x, const oma_tensor *temb)
{
    if (x->ndim != 4 || x->shape[1] != r->in) return -1;
    if (r->temb > 0 && (!temb || temb->ndim != 2 || temb->shape[0] != x->shape[0])) return -1;
    return 0;
}

/* h1 (caller-allocated [B, out, H, W]) = conv1(silu(norm1 x)) + time_emb_proj(silu temb) */
static int resnet_h1(const oma_resnet *r, const oma_tensor *x, const oma_tensor *temb,
                     oma_arena *ar, oma_tensor *h1)
{
    oma_arena_mark m = oma_arena_get_mark(ar);
    int rc = -1;
    oma_tensor a;
    TRY(oma_norm_forward(&r->norm1, x, 1, ar, &a));
    TRY(oma_conv2d_run(&r->conv1, &a, r->conv1.stride, r->conv1.pad, h1));
    TRY(oma_resnet_add_temb(r, temb, ar, h1));
    rc = 0;
fail:
    oma_arena_release(ar, m);
    return rc;
}

int oma_resnet_forward_keep(const oma_resnet *r, const oma_tensor *x, const oma_tensor *temb,
                            oma_arena *ar, oma_tensor *y, oma_resnet_keep *k)
{
    if (resnet_check(r, x, temb) != 0) return -1;
    int64_t s[4] = {x->shape[0], r->out, x->shape[2], x->shape[3]};
    if (oma_arena_tensor_uninit(ar, y, 4, s) != 0 ||
        oma_arena_tensor_uninit(ar, &k->h1, 4, s) != 0 || resnet_h1(r, x, temb, ar, &k->h1) != 0)
        return -1;
    return oma_resnet_tail(r, x, &k->h1, ar, y);
}

/* dx (caller-allocated, x's shape) from h1 */
static int resnet_backward_into(const oma_resnet *r, const oma_tensor *x, const oma_tensor *h1,
                                const oma_tensor *dy, oma_arena *ar, oma_tensor *dx)
{
    if (dy->ndim != 4 || dy->shape[0] != x->shape[0] || dy->shape[1] != r->out ||
        dy->shape[2] != x->shape[2] || dy->shape[3] != x->shape[3] ||
        !oma_tensor_same_shape(h1, dy))
        return -1;
    oma_arena_mark m = oma_arena_get_mark(ar);
    int rc = -1;
    oma_tensor db, dh1, da, dsc;
    /* back: conv2, norm2+SiLU, conv1, norm1+SiLU, plus the shortcut path */
    TRY(oma_arena_like(ar, h1, &db));
    TRY(oma_conv2d_backward_stride(&r->conv2, dy, 1, 1, &db));
    TRY(oma_norm_backward(&r->norm2, h1, 1, &db, ar, &dh1));
    TRY(oma_arena_like(ar, x, &da));
    TRY(oma_conv2d_backward_stride(&r->conv1, &dh1, 1, 1, &da));
    TRY(oma_op_group_norm_backward(x, r->norm1.groups, &r->norm1.gamma, &r->norm1.beta,
                                   r->norm1.eps, 1, &da, dx));
    if (r->has_shortcut) {
        TRY(oma_conv2d_backward(&r->shortcut, x, dy, ar, &dsc));
        TRY(oma_op_add(dx, &dsc, dx));
    } else {
        TRY(oma_op_add(dx, dy, dx));
    }
    rc = 0;
fail:
    oma_arena_release(ar, m);
    return rc;
}

int oma_resnet_backward_kept(const oma_resnet *r, const oma_tensor *x,
                             const oma_resnet_keep *k, const oma_tensor *dy, oma_arena *ar,
                             oma_tensor *dx)
{
    if (x->ndim != 4 || x->shape[1] != r->in || oma_arena_like(ar, x, dx) != 0) return -1;
    return resnet_backward_into(r, x, &k->h1, dy, ar, dx);
}

int oma_resnet_backward(const oma_resnet *r, const oma_tensor *x, const oma_tensor *temb,
                        const oma_tensor *dy, oma_arena *ar, oma_tensor *dx)
{
    if (resnet_check(r, x, temb) != 0 || oma_arena_like(ar, x, dx) != 0) return -1;
    oma_arena_mark m = oma_arena_get_mark(ar);
    int64_t s[4] = {x->shape[0], r->out, x->shape[2], x->shape[3]};
    oma_tensor h1;
    /* recompute the pre-activation of norm2 (gradient checkpointing) */
    int rc = oma_arena_tensor_uninit(ar, &h1, 4, s);
    if (rc == 0) rc = resnet_h1(r, x, temb, ar, &h1);
    if (rc == 0) rc = resnet_backward_into(r, x, &h1, dy, ar, dx);
    oma_arena_release(ar, m);
    return rc;
}

int oma_downsample_backward(const oma_downsample *d, const oma_tensor *x, const oma_tensor *dy,
                            oma_arena *ar, oma_tensor *dx)
{
    if (!d->pad_right_bottom) return oma_conv2d_backward(&d->conv, x, dy, ar, dx);
    if (x->ndim != 4 || x->shape[1] != d->conv.in) return -1;
    if (oma_arena_like(ar, x, dx) != 0) return -1;
    int64_t n = x->shape[0], c = x->shape[1], h = x->shape[2], w = x->shape[3];
    int64_t ps[4] = {n, c, h + 1, w + 1};
    oma_arena_mark m = oma_arena_get_mark(ar);
    oma_tensor dp;
    int rc = -1;
    /* the conv ran on x padded by one on the right and bottom: crop its input gradient */
    if (oma_arena_tensor_uninit(ar, &dp, 4, ps) == 0 &&
        oma_conv2d_backward_stride(&d->conv, dy, 2, 0, &dp) == 0) {
        for (int64_t i = 0; i < n * c; i++)
            for (int64_t r = 0; r < h; r++)
                memcpy(dx->data + (i * h + r) * w, dp.data + (i * (h + 1) + r) * (w + 1),
                       sizeof(float) * (size_t)w);
        rc = 0;
    }
    oma_arena_release(ar, m);
    return rc;
}

int oma_upsample_backward(const oma_upsample *u, const oma_tensor *x, const oma_tensor *dy,
                          oma_arena *ar, oma_tensor *dx)
{
    if (x->ndim != 4 || x->shape[1] != u->conv.in) return -1;
    if (oma_arena_like(ar, x, dx) != 0) return -1;
    int64_t us[4] = {x->shape[0], x->shape[1], 2 * x->shape[2], 2 * x->shape[3]};
    oma_arena_mark m = oma_arena_get_mark(ar);
    oma_tensor dup;
    int rc = -1;
    if (oma_arena_tensor_uninit(ar, &dup, 4, us) == 0 &&
        oma_conv2d_backward_stride(&u->conv, dy, 1, 1, &dup) == 0)
        rc = oma_op_upsample_nearest2x_backward(&dup, dx);
    oma_arena_release(ar, m);
    return rc;
}
