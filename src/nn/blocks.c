/* blocks.c — ResnetBlock2D, Downsample2D, Upsample2D and the timestep embedding (see blocks.h).
 * The resnet's time-embedding add and tail are shared with its backward (blocks_internal.h). */
#include "nn/blocks.h"
#include "nn/blocks_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "tensor/ops.h"

#define TRY(x) do { if ((x) != 0) goto fail; } while (0)

static int sub(char *buf, size_t len, const char *prefix, const char *part)
{
    return oma_weights_join(buf, len, prefix, part);
}

int oma_resnet_load(oma_resnet *r, const oma_weights *w, const char *prefix, int64_t in,
                    int64_t out, int64_t temb_channels, int64_t groups, float eps, char *err,
                    size_t errlen)
{
    memset(r, 0, sizeof *r);
    if (errlen) err[0] = 0;
    r->in = in;
    r->out = out;
    r->temb = temb_channels;
    char p[512];
    TRY(sub(p, sizeof p, prefix, "norm1"));
    TRY(oma_group_norm_load(&r->norm1, w, p, in, groups, eps, err, errlen));
    TRY(sub(p, sizeof p, prefix, "conv1"));
    TRY(oma_conv2d_load(&r->conv1, w, p, in, out, 3, 1, 1, 1, err, errlen));
    if (temb_channels > 0) {
        TRY(sub(p, sizeof p, prefix, "time_emb_proj"));
        TRY(oma_linear_load(&r->time_emb_proj, w, p, temb_channels, out, 1, err, errlen));
    }
    TRY(sub(p, sizeof p, prefix, "norm2"));
    TRY(oma_group_norm_load(&r->norm2, w, p, out, groups, eps, err, errlen));
    TRY(sub(p, sizeof p, prefix, "conv2"));
    TRY(oma_conv2d_load(&r->conv2, w, p, out, out, 3, 1, 1, 1, err, errlen));
    if (in != out) {
        TRY(sub(p, sizeof p, prefix, "conv_shortcut"));
        TRY(oma_conv2d_load(&r->shortcut, w, p, in, out, 1, 1, 0, 1, err, errlen));
        r->has_shortcut = 1;
    }
    return 0;
fail:
    if (!err[0]) snprintf(err, errlen, "%s: name too long", prefix);
    oma_resnet_free(r);
    return -1;
}

void oma_resnet_free(oma_resnet *r)
{
    oma_norm_free(&r->norm1);
    oma_norm_free(&r->norm2);
    oma_conv2d_free(&r->conv1);
    oma_conv2d_free(&r->conv2);
    oma_conv2d_free(&r->shortcut);
    oma_linear_free(&r->time_emb_proj);
}

int oma_resnet_add_temb(const oma_resnet *r, const oma_tensor *temb, oma_arena *ar, oma_tensor *h)
{
    if (r->temb <= 0) return 0;
    oma_arena_mark m = oma_arena_get_mark(ar);
    int rc = -1;
    oma_tensor t, te;
    TRY(oma_arena_like(ar, temb, &t));
    TRY(oma_op_silu(temb, &t));
    TRY(oma_linear_forward(&r->time_emb_proj, &t, ar, &te));
    /* h[b, c, :, :] += te[b, c] */
    int64_t hw = h->shape[2] * h->shape[3];
    for (int64_t b = 0; b < h->shape[0]; b++)
        for (int64_t c = 0; c < r->out; c++) {
            float v = te.data[b * r->out + c];
            float *p = h->data + (b * r->out + c) * hw;
            for (int64_t i = 0; i < hw; i++) p[i] += v;
        }
    rc = 0;
fail:
    oma_arena_release(ar, m);
    return rc;
}

int oma_resnet_tail(const oma_resnet *r, const oma_tensor *x, const oma_tensor *h1, oma_arena *ar,
                    oma_tensor *y)
{
    oma_arena_mark m = oma_arena_get_mark(ar);
    int rc = -1;
    oma_tensor h, h2, sc;
    TRY(oma_norm_forward(&r->norm2, h1, 1, ar, &h));
    TRY(oma_conv2d_forward(&r->conv2, &h, ar, &h2));
    if (r->has_shortcut) {
        TRY(oma_conv2d_forward(&r->shortcut, x, ar, &sc));
        TRY(oma_op_add(&sc, &h2, y));
    } else {
        TRY(oma_op_add(x, &h2, y));
    }
    rc = 0;
fail:
    oma_arena_release(ar, m);
    return rc;
}

int oma_resnet_forward(const oma_resnet *r, const oma_tensor *x, const oma_tensor *temb,
                       oma_arena *ar, oma_tensor *y)
{
    if (x->ndim != 4 || x->shape[1] != r->in) return -1;
    if (r->temb > 0 && (!temb || temb->ndim != 2 || temb->shape[0] != x->shape[0])) return -1;
    int64_t ys[4] = {x->shape[0], r->out, x->shape[2], x->shape[3]};
    if (oma_arena_tensor_uninit(ar, y, 4, ys) != 0) return -1;     /* the final add fills it */
    oma_arena_mark m = oma_arena_get_mark(ar);
    int rc = -1;
    oma_tensor h, h2;
    TRY(oma_norm_forward(&r->norm1, x, 1, ar, &h));
    TRY(oma_conv2d_forward(&r->conv1, &h, ar, &h2));
    TRY(oma_resnet_add_temb(r, temb, ar, &h2));
    if (oma_tensor_numel(&h) >= oma_tensor_numel(&h2) && r->norm2.groups > 0 && r->conv2.stride == 1 &&
        oma_conv_out_size(h2.shape[2], r->conv2.k, 1, r->conv2.pad) == h2.shape[2] &&
        oma_conv_out_size(h2.shape[3], r->conv2.k, 1, r->conv2.pad) == h2.shape[3] &&
        (!r->has_shortcut || (r->shortcut.stride == 1 && r->shortcut.k == 1 && r->shortcut.pad == 0))) {
        /* norm1's output h is dead once conv1 has read it: when it is at least as large (in >=
         * out channels: the up blocks, the VAE decoder) norm2 writes into it, conv2 back into
         * conv1's h2, the shortcut into h again, so the block holds x, y and two temporaries
         * instead of five (the VAE decoder's first 512x512 block: 0.8 instead of 1.2 GB). Same
         * operations on the same values: the same bits. */
        oma_tensor a, sv;
        TRY(oma_tensor_view(&a, h.data, 4, h2.shape));
        TRY(oma_op_group_norm(&h2, r->norm2.groups, &r->norm2.gamma, &r->norm2.beta, r->norm2.eps, 1, &a));
        TRY(oma_conv2d_run(&r->conv2, &a, 1, r->conv2.pad, &h2));
        if (r->has_shortcut) {
            TRY(oma_tensor_view(&sv, h.data, 4, ys));
            TRY(oma_conv2d_run(&r->shortcut, x, 1, 0, &sv));
            TRY(oma_op_add(&sv, &h2, y));
        } else {
            TRY(oma_op_add(x, &h2, y));
        }
        rc = 0;
        goto fail;
    }
    TRY(oma_resnet_tail(r, x, &h2, ar, y));
    rc = 0;
fail:
    oma_arena_release(ar, m);
    return rc;
}

int oma_downsample_load(oma_downsample *d, const oma_weights *w, const char *prefix,
                        int64_t channels, int padding, char *err, size_t errlen)
{
    memset(d, 0, sizeof *d);
    if (errlen) err[0] = 0;
    char p[512];
    if (sub(p, sizeof p, prefix, "conv") != 0) {
        snprintf(err, errlen, "%s: name too long", prefix);
        return -1;
    }
    d->pad_right_bottom = padding == 0;
    return oma_conv2d_load(&d->conv, w, p, channels, channels, 3, 2, padding, 1, err, errlen);
}

void oma_downsample_free(oma_downsample *d) { oma_conv2d_free(&d->conv); }

int oma_downsample_forward(const oma_downsample *d, const oma_tensor *x, oma_arena *ar,
                           oma_tensor *y)
{
    if (!d->pad_right_bottom) return oma_conv2d_forward(&d->conv, x, ar, y);
    if (x->ndim != 4) return -1;
    int64_t n = x->shape[0], c = x->shape[1], h = x->shape[2], w = x->shape[3];
    int64_t ps[4] = {n, c, h + 1, w + 1};
    /* Output before the padded copy so that releasing the copy keeps y. */
    int64_t oh = oma_conv_out_size(h + 1, 3, 2, 0), ow = oma_conv_out_size(w + 1, 3, 2, 0);
    if (oh < 1 || ow < 1 || c != d->conv.in) return -1;
    int64_t ys[4] = {n, d->conv.out, oh, ow};
    if (oma_arena_tensor(ar, y, 4, ys) != 0) return -1;
    oma_arena_mark m = oma_arena_get_mark(ar);
    oma_tensor pd;
    int rc = -1;
    if (oma_arena_tensor(ar, &pd, 4, ps) == 0) {
        for (int64_t i = 0; i < n * c; i++)
            for (int64_t r = 0; r < h; r++)
                memcpy(pd.data + (i * (h + 1) + r) * (w + 1), x->data + (i * h + r) * w,
                       sizeof(float) * (size_t)w);
        rc = oma_conv2d_run(&d->conv, &pd, 2, 0, y);
    }
    oma_arena_release(ar, m);
    return rc;
}

int oma_upsample_load(oma_upsample *u, const oma_weights *w, const char *prefix, int64_t channels,
                      char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    if (errlen) err[0] = 0;
    char p[512];
    if (sub(p, sizeof p, prefix, "conv") != 0) {
        snprintf(err, errlen, "%s: name too long", prefix);
        return -1;
    }
    return oma_conv2d_load(&u->conv, w, p, channels, channels, 3, 1, 1, 1, err, errlen);
}

void oma_upsample_free(oma_upsample *u) { oma_conv2d_free(&u->conv); }

int oma_upsample_forward(const oma_upsample *u, const oma_tensor *x, oma_arena *ar, oma_tensor *y)
{
    if (x->ndim != 4) return -1;
    int64_t ys[4] = {x->shape[0], u->conv.out, 2 * x->shape[2], 2 * x->shape[3]};
    if (oma_arena_tensor_uninit(ar, y, 4, ys) != 0) return -1;    /* the convolution fills it */
    oma_arena_mark m = oma_arena_get_mark(ar);
    int64_t ws[1] = {u->conv.k == 3 && u->conv.stride == 1 && u->conv.pad == 1 && !u->conv.w16
                         ? oma_op_conv2d_up2x_work(x, &u->conv.w)
                         : 0};
    if (ws[0] > 0) {
        /* without the upsampled image where the backend can (bf16 on the CPU); its workspace
         * from the arena, whose pages are already there (none to be had: the two ops) */
        oma_tensor work;
        int r = oma_arena_tensor_uninit(ar, &work, 1, ws) == 0
                    ? oma_op_conv2d_up2x(x, &u->conv.w, u->conv.b.data ? &u->conv.b : NULL, y, &work)
                    : -2;
        oma_arena_release(ar, m);
        if (r != -2) return r;
    }
    int64_t us[4] = {x->shape[0], x->shape[1], 2 * x->shape[2], 2 * x->shape[3]};
    oma_tensor up;
    int rc = -1;
    if (oma_arena_tensor_uninit(ar, &up, 4, us) == 0 && oma_op_upsample_nearest2x(x, &up) == 0)
        rc = oma_conv2d_run(&u->conv, &up, 1, 1, y);
    oma_arena_release(ar, m);
    return rc;
}

int oma_timestep_features(const float *t, int64_t batch, int64_t dim, int flip_sin_to_cos,
                          float freq_shift, oma_tensor *out)
{
    if (dim < 2 || dim % 2 != 0 || out->ndim != 2 || out->shape[0] != batch || out->shape[1] != dim)
        return -1;
    int64_t half = dim / 2;
    if ((double)half - freq_shift == 0.0) return -1;
    for (int64_t b = 0; b < batch; b++) {
        float *o = out->data + b * dim;
        for (int64_t i = 0; i < half; i++) {
            /* as diffusers: exponent in float32, freqs = exp(exponent), arg = t * freq */
            float exponent = (float)(-log(10000.0)) * (float)i;
            exponent = exponent / ((float)half - freq_shift);
            float arg = t[b] * expf(exponent);
            float s = sinf(arg), c = cosf(arg);
            o[i] = flip_sin_to_cos ? c : s;
            o[half + i] = flip_sin_to_cos ? s : c;
        }
    }
    return 0;
}

int oma_timestep_embedding_load(oma_timestep_embedding *e, const oma_weights *w,
                                const char *prefix, int64_t in, int64_t dim, char *err,
                                size_t errlen)
{
    memset(e, 0, sizeof *e);
    if (errlen) err[0] = 0;
    char p[512];
    TRY(sub(p, sizeof p, prefix, "linear_1"));
    TRY(oma_linear_load(&e->linear_1, w, p, in, dim, 1, err, errlen));
    TRY(sub(p, sizeof p, prefix, "linear_2"));
    TRY(oma_linear_load(&e->linear_2, w, p, dim, dim, 1, err, errlen));
    return 0;
fail:
    if (!err[0]) snprintf(err, errlen, "%s: name too long", prefix);
    oma_timestep_embedding_free(e);
    return -1;
}

void oma_timestep_embedding_free(oma_timestep_embedding *e)
{
    oma_linear_free(&e->linear_1);
    oma_linear_free(&e->linear_2);
}

int oma_timestep_embedding_forward(const oma_timestep_embedding *e, const oma_tensor *x,
                                   oma_arena *ar, oma_tensor *y)
{
    int64_t ys[2] = {x->ndim == 2 ? x->shape[0] : 0, e->linear_2.out};
    if (x->ndim != 2 || oma_arena_tensor(ar, y, 2, ys) != 0) return -1;
    oma_arena_mark m = oma_arena_get_mark(ar);
    int rc = -1;
    oma_tensor h, o;
    TRY(oma_linear_forward(&e->linear_1, x, ar, &h));
    TRY(oma_op_silu(&h, &h));
    TRY(oma_linear_forward(&e->linear_2, &h, ar, &o));
    memcpy(y->data, o.data, sizeof(float) * (size_t)oma_tensor_numel(y));
    rc = 0;
fail:
    oma_arena_release(ar, m);
    return rc;
}
