/* vae.c — AutoencoderKL encoder and decoder (see vae.h). */
#include "models/sd/vae.h"

#include <stdio.h>
#include <string.h>

#include "tensor/ops.h"

#define TRY(x) do { if ((x) != 0) goto fail; } while (0)

static int mid_load(oma_vae_mid *m, const oma_weights *w, const char *prefix, int64_t ch,
                    int64_t G, char *err, size_t errlen)
{
    char p[512];
    snprintf(p, sizeof p, "%s.resnets.0", prefix);
    if (oma_resnet_load(&m->res0, w, p, ch, ch, 0, G, 1e-6f, err, errlen) != 0) return -1;
    snprintf(p, sizeof p, "%s.attentions.0", prefix);
    if (oma_vae_attention_load(&m->attn, w, p, ch, G, err, errlen) != 0) return -1;
    snprintf(p, sizeof p, "%s.resnets.1", prefix);
    return oma_resnet_load(&m->res1, w, p, ch, ch, 0, G, 1e-6f, err, errlen);
}

static void mid_free(oma_vae_mid *m)
{
    oma_resnet_free(&m->res0);
    oma_resnet_free(&m->res1);
    oma_vae_attention_free(&m->attn);
}

static int mid_forward(const oma_vae_mid *m, const oma_tensor *x, oma_arena *ar, oma_tensor *y)
{
    oma_tensor a, b;
    if (oma_resnet_forward(&m->res0, x, NULL, ar, &a) != 0) return -1;
    if (oma_vae_attention_forward(&m->attn, &a, ar, &b) != 0) return -1;
    return oma_resnet_forward(&m->res1, &b, NULL, ar, y);
}

int oma_vae_load(oma_vae *v, const oma_weights *w, const char *prefix, const oma_vae_config *cfg,
                 int with_encoder, char *err, size_t errlen)
{
    memset(v, 0, sizeof *v);
    if (errlen) err[0] = 0;
    const oma_vae_config *c = cfg;
    if (c->n_blocks < 1 || c->n_blocks > OMA_SD_MAX_BLOCKS || c->layers_per_block < 1 ||
        c->layers_per_block + 1 > OMA_VAE_MAX_LAYERS || c->latent_channels < 1 ||
        c->in_channels < 1 || c->out_channels < 1 || c->norm_num_groups < 1) {
        snprintf(err, errlen, "vae: unsupported config");
        return -1;
    }
    for (int i = 0; i < c->n_blocks; i++)
        if (c->block_out_channels[i] < 1 || c->block_out_channels[i] % c->norm_num_groups) {
            snprintf(err, errlen, "vae: bad block %d config", i);
            return -1;
        }
    v->cfg = *cfg;
    int nb = c->n_blocks, lpb = c->layers_per_block, G = c->norm_num_groups;
    int64_t lat = c->latent_channels, ch0 = c->block_out_channels[0], top = c->block_out_channels[nb - 1];
    char p[512];
#define P(...) (snprintf(p, sizeof p, __VA_ARGS__), p)
    if (with_encoder) {
        v->has_encoder = 1;
        TRY(oma_conv2d_load(&v->enc_in, w, P("%s.encoder.conv_in", prefix), c->in_channels, ch0, 3, 1, 1, 1, err, errlen));
        int64_t oc = ch0;
        for (int i = 0; i < nb; i++) {
            int64_t ic = oc;
            oc = c->block_out_channels[i];
            for (int j = 0; j < lpb; j++) {
                TRY(oma_resnet_load(&v->enc[i].res[j], w, P("%s.encoder.down_blocks.%d.resnets.%d", prefix, i, j),
                                    j == 0 ? ic : oc, oc, 0, G, 1e-6f, err, errlen));
                v->enc[i].n_res = j + 1;
            }
            if (i < nb - 1) {
                TRY(oma_downsample_load(&v->enc[i].down, w, P("%s.encoder.down_blocks.%d.downsamplers.0", prefix, i),
                                        oc, 0, err, errlen));
                v->enc[i].has_sampler = 1;
            }
        }
        TRY(mid_load(&v->enc_mid, w, P("%s.encoder.mid_block", prefix), top, G, err, errlen));
        TRY(oma_group_norm_load(&v->enc_norm, w, P("%s.encoder.conv_norm_out", prefix), top, G, 1e-6f, err, errlen));
        TRY(oma_conv2d_load(&v->enc_out, w, P("%s.encoder.conv_out", prefix), top, 2 * lat, 3, 1, 1, 1, err, errlen));
        TRY(oma_conv2d_load(&v->quant, w, P("%s.quant_conv", prefix), 2 * lat, 2 * lat, 1, 1, 0, 1, err, errlen));
    }
    TRY(oma_conv2d_load(&v->post_quant, w, P("%s.post_quant_conv", prefix), lat, lat, 1, 1, 0, 1, err, errlen));
    TRY(oma_conv2d_load(&v->dec_in, w, P("%s.decoder.conv_in", prefix), lat, top, 3, 1, 1, 1, err, errlen));
    TRY(mid_load(&v->dec_mid, w, P("%s.decoder.mid_block", prefix), top, G, err, errlen));
    int64_t prev = top;
    for (int i = 0; i < nb; i++) {
        int64_t oc = c->block_out_channels[nb - 1 - i];
        for (int j = 0; j < lpb + 1; j++) {
            TRY(oma_resnet_load(&v->dec[i].res[j], w, P("%s.decoder.up_blocks.%d.resnets.%d", prefix, i, j),
                                j == 0 ? prev : oc, oc, 0, G, 1e-6f, err, errlen));
            v->dec[i].n_res = j + 1;
        }
        if (i < nb - 1) {
            TRY(oma_upsample_load(&v->dec[i].up, w, P("%s.decoder.up_blocks.%d.upsamplers.0", prefix, i), oc, err, errlen));
            v->dec[i].has_sampler = 1;
        }
        prev = oc;
    }
    TRY(oma_group_norm_load(&v->dec_norm, w, P("%s.decoder.conv_norm_out", prefix), ch0, G, 1e-6f, err, errlen));
    TRY(oma_conv2d_load(&v->dec_out, w, P("%s.decoder.conv_out", prefix), ch0, c->out_channels, 3, 1, 1, 1, err, errlen));
#undef P
    v->loaded = 1;
    return 0;
fail:
    if (!err[0]) snprintf(err, errlen, "vae: cannot load (%s)", p);
    oma_vae_free(v);
    return -1;
}

void oma_vae_free(oma_vae *v)
{
    oma_conv2d_free(&v->enc_in);
    oma_conv2d_free(&v->enc_out);
    oma_conv2d_free(&v->quant);
    oma_conv2d_free(&v->post_quant);
    oma_conv2d_free(&v->dec_in);
    oma_conv2d_free(&v->dec_out);
    for (int i = 0; i < OMA_SD_MAX_BLOCKS; i++) {
        for (int j = 0; j < OMA_VAE_MAX_LAYERS; j++) {
            oma_resnet_free(&v->enc[i].res[j]);
            oma_resnet_free(&v->dec[i].res[j]);
        }
        oma_downsample_free(&v->enc[i].down);
        oma_upsample_free(&v->dec[i].up);
    }
    mid_free(&v->enc_mid);
    mid_free(&v->dec_mid);
    oma_norm_free(&v->enc_norm);
    oma_norm_free(&v->dec_norm);
    v->loaded = 0;
}

/* After a chain step, moves h down to the mark and frees everything above it, so memory stays
 * bounded by a few activations instead of growing with depth. Released arena memory stays
 * mapped until oma_arena_destroy (arena.h), so h can be moved straight to its new place with
 * memmove (the two may overlap); a heap copy here cost a fresh, page-faulting buffer of up to
 * 256 MB per step at 512x512. */
static int keep(oma_arena *ar, oma_arena_mark m, oma_tensor *h)
{
    size_t bytes = sizeof(float) * (size_t)oma_tensor_numel(h);
    int ndim = h->ndim;
    int64_t shape[OMA_TENSOR_MAX_DIMS];
    memcpy(shape, h->shape, sizeof shape);
    const float *src = h->data;
    oma_arena_release(ar, m);
    float *dst = oma_arena_alloc(ar, bytes);
    if (!dst) return -1;
    memmove(dst, src, bytes);
    return oma_tensor_view(h, dst, ndim, shape);
}

int oma_vae_encode(const oma_vae *v, const oma_tensor *image, oma_arena *ar, oma_tensor *moments,
                   char *err, size_t errlen)
{
    const oma_vae_config *c = &v->cfg;
    int nb = c->n_blocks;
    int64_t f = (int64_t)1 << (nb - 1);
    if (!v->loaded || !v->has_encoder || image->ndim != 4 || image->shape[1] != c->in_channels ||
        image->shape[2] % f || image->shape[3] % f) {
        snprintf(err, errlen, "vae: encode needs [B, %d, H, W] with H, W multiples of %lld and the encoder loaded",
                 c->in_channels, (long long)f);
        return -1;
    }
    int64_t ms[4] = {image->shape[0], 2 * c->latent_channels, image->shape[2] / f, image->shape[3] / f};
    if (oma_arena_tensor(ar, moments, 4, ms) != 0) goto oom;
    oma_arena_mark m = oma_arena_get_mark(ar);
    oma_tensor h, t;
    TRY(oma_conv2d_forward(&v->enc_in, image, ar, &h));
    for (int i = 0; i < nb; i++) {
        for (int j = 0; j < v->enc[i].n_res; j++) {
            TRY(oma_resnet_forward(&v->enc[i].res[j], &h, NULL, ar, &t));
            h = t;
            TRY(keep(ar, m, &h));
        }
        if (v->enc[i].has_sampler) {
            TRY(oma_downsample_forward(&v->enc[i].down, &h, ar, &t));
            h = t;
            TRY(keep(ar, m, &h));
        }
    }
    TRY(mid_forward(&v->enc_mid, &h, ar, &t));
    TRY(oma_norm_forward(&v->enc_norm, &t, 1, ar, &h));
    TRY(oma_conv2d_forward(&v->enc_out, &h, ar, &t));
    TRY(oma_conv2d_run(&v->quant, &t, 1, 0, moments));
    oma_arena_release(ar, m);
    return 0;
fail:
    oma_arena_release(ar, m);
oom:
    snprintf(err, errlen, "vae: encode failed (out of memory or shapes that do not fit)");
    return -1;
}

int oma_vae_decode(const oma_vae *v, const oma_tensor *latents, oma_arena *ar, oma_tensor *image,
                   char *err, size_t errlen)
{
    const oma_vae_config *c = &v->cfg;
    int nb = c->n_blocks;
    int64_t f = (int64_t)1 << (nb - 1);
    if (!v->loaded || latents->ndim != 4 || latents->shape[1] != c->latent_channels) {
        snprintf(err, errlen, "vae: decode needs latents [B, %d, h, w]", c->latent_channels);
        return -1;
    }
    int64_t is[4] = {latents->shape[0], c->out_channels, latents->shape[2] * f, latents->shape[3] * f};
    if (oma_arena_tensor(ar, image, 4, is) != 0) goto oom;
    oma_arena_mark m = oma_arena_get_mark(ar);
    oma_tensor h, t;
    TRY(oma_conv2d_forward(&v->post_quant, latents, ar, &t));
    TRY(oma_conv2d_forward(&v->dec_in, &t, ar, &h));
    TRY(mid_forward(&v->dec_mid, &h, ar, &t));
    h = t;
    TRY(keep(ar, m, &h));
    for (int i = 0; i < nb; i++) {
        for (int j = 0; j < v->dec[i].n_res; j++) {
            TRY(oma_resnet_forward(&v->dec[i].res[j], &h, NULL, ar, &t));
            h = t;
            TRY(keep(ar, m, &h));
        }
        if (v->dec[i].has_sampler) {
            TRY(oma_upsample_forward(&v->dec[i].up, &h, ar, &t));
            h = t;
            TRY(keep(ar, m, &h));
        }
    }
    TRY(oma_norm_forward(&v->dec_norm, &h, 1, ar, &t));
    TRY(oma_conv2d_run(&v->dec_out, &t, 1, 1, image));
    oma_arena_release(ar, m);
    return 0;
fail:
    oma_arena_release(ar, m);
oom:
    snprintf(err, errlen, "vae: decode failed (out of memory or shapes that do not fit)");
    return -1;
}
