/* sd_checkpoint_map.c — original single-file SD 1.x names -> diffusers names.
 *
 * Written from the two layouts' structure (the same correspondence diffusers' conversion
 * scripts encode), but computed instead of tabulated, so it holds for any block count and
 * layers_per_block:
 *   UNet  input_blocks.0.0            -> conv_in
 *         input_blocks.X.0 (resnet)   -> down_blocks.(X-1)/(L+1).resnets.(X-1)%(L+1)
 *         input_blocks.X.1 (attn)     -> down_blocks.(X-1)/(L+1).attentions.(X-1)%(L+1)
 *         input_blocks.k(L+1).0.op    -> down_blocks.k-1.downsamplers.0.conv
 *         middle_block.0/1/2          -> mid_block.resnets.0 / attentions.0 / resnets.1
 *         output_blocks.X.0 / .1      -> up_blocks.X/(L+1).resnets / attentions .X%(L+1)
 *         output_blocks.X.{1,2}.conv  -> up_blocks.X/(L+1).upsamplers.0.conv
 *         time_embed.0/.2, out.0/.2   -> time_embedding.linear_1/_2, conv_norm_out / conv_out
 *         resnet parts in_layers.0/.2, emb_layers.1, out_layers.0/.3, skip_connection
 *                                     -> norm1, conv1, time_emb_proj, norm2, conv2, conv_shortcut
 *   VAE   down.i.block.j / down.i.downsample -> down_blocks.i.resnets.j / downsamplers.0
 *         up.i.block.j / up.i.upsample       -> up_blocks.(N-1-i)... (numbered from the top)
 *         mid.block_1/2, mid.attn_1.{norm,q,k,v,proj_out}
 *                 -> mid_block.resnets.0/1, mid_block.attentions.0.{group_norm,to_q,to_k,to_v,to_out.0}
 *         norm_out, nin_shortcut -> conv_norm_out, conv_shortcut
 *   text  cond_stage_model.transformer.[text_model.]X -> text_encoder.text_model.X
 * Names outside the model (alphas_cumprod, model_ema.*, ...) are ignored; an SD 2.x text encoder
 * (cond_stage_model.model.*) or an unknown UNet/VAE name is an error naming it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/fail.h"
#include "models/sd/sd_checkpoint_internal.h"

static int starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* Writes fmt into out; -1 if it did not fit. */
static int put(char *out, size_t outlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, outlen, fmt, ap);
    va_end(ap);
    return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
}

/* Parses "<int>." at s; returns the rest or NULL. */
static const char *num_dot(const char *s, int *v) {
    if (*s < '0' || *s > '9') return NULL;
    long x = 0;
    while (*s >= '0' && *s <= '9') {
        x = x * 10 + (*s - '0');
        if (x > 100000) return NULL;
        s++;
    }
    if (*s != '.') return NULL;
    *v = (int)x;
    return s + 1;
}

static const char *unet_resnet_part(const char *t, const char **rest) {
    static const char *const m[][2] = {
        {"in_layers.0.", "norm1."},        {"in_layers.2.", "conv1."},
        {"emb_layers.1.", "time_emb_proj."}, {"out_layers.0.", "norm2."},
        {"out_layers.3.", "conv2."},       {"skip_connection.", "conv_shortcut."},
    };
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
        if (starts(t, m[i][0])) {
            *rest = t + strlen(m[i][0]);
            return m[i][1];
        }
    return NULL;
}

static int map_unet(int L, const char *r, char *out, size_t n) {
    const char *t, *part;
    int x, y;
    if (starts(r, "time_embed.0.")) return put(out, n, "unet.time_embedding.linear_1.%s", r + 13);
    if (starts(r, "time_embed.2.")) return put(out, n, "unet.time_embedding.linear_2.%s", r + 13);
    if (starts(r, "out.0.")) return put(out, n, "unet.conv_norm_out.%s", r + 6);
    if (starts(r, "out.2.")) return put(out, n, "unet.conv_out.%s", r + 6);
    if (starts(r, "input_blocks.")) {
        if (!(t = num_dot(r + 13, &x)) || !(t = num_dot(t, &y))) return -1;
        if (x == 0 && y == 0) return put(out, n, "unet.conv_in.%s", t);
        if (x % (L + 1) == 0) {
            if (y != 0 || !starts(t, "op.")) return -1;
            return put(out, n, "unet.down_blocks.%d.downsamplers.0.conv.%s", x / (L + 1) - 1, t + 3);
        }
        int b = (x - 1) / (L + 1), j = (x - 1) % (L + 1);
        if (y == 0) {
            if (!(part = unet_resnet_part(t, &t))) return -1;
            return put(out, n, "unet.down_blocks.%d.resnets.%d.%s%s", b, j, part, t);
        }
        if (y == 1) return put(out, n, "unet.down_blocks.%d.attentions.%d.%s", b, j, t);
        return -1;
    }
    if (starts(r, "middle_block.")) {
        if (!(t = num_dot(r + 13, &y))) return -1;
        if (y == 1) return put(out, n, "unet.mid_block.attentions.0.%s", t);
        if (y != 0 && y != 2) return -1;
        if (!(part = unet_resnet_part(t, &t))) return -1;
        return put(out, n, "unet.mid_block.resnets.%d.%s%s", y / 2, part, t);
    }
    if (starts(r, "output_blocks.")) {
        if (!(t = num_dot(r + 14, &x)) || !(t = num_dot(t, &y))) return -1;
        int b = x / (L + 1), j = x % (L + 1);
        if (y == 0) {
            if (!(part = unet_resnet_part(t, &t))) return -1;
            return put(out, n, "unet.up_blocks.%d.resnets.%d.%s%s", b, j, part, t);
        }
        if ((y == 1 || y == 2) && starts(t, "conv."))
            return put(out, n, "unet.up_blocks.%d.upsamplers.0.conv.%s", b, t + 5);
        if (y == 1) return put(out, n, "unet.up_blocks.%d.attentions.%d.%s", b, j, t);
        return -1;
    }
    return -1;
}

static const char *vae_resnet_tail(const char *t) {
    return starts(t, "nin_shortcut.") ? "conv_shortcut." : NULL;
}

static int map_vae_resnet(char *out, size_t n, const char *prefix, const char *t) {
    const char *alt = vae_resnet_tail(t);
    if (alt) return put(out, n, "%s%s%s", prefix, alt, t + strlen("nin_shortcut."));
    if (!starts(t, "norm1.") && !starts(t, "norm2.") && !starts(t, "conv1.") && !starts(t, "conv2."))
        return -1;
    return put(out, n, "%s%s", prefix, t);
}

static int map_vae(int NV, const char *r, char *out, size_t n, int *reshape) {
    const char *t;
    int i, j;
    char pre[128];
    if (starts(r, "quant_conv.") || starts(r, "post_quant_conv.")) return put(out, n, "vae.%s", r);
    const char *side = starts(r, "encoder.") ? "encoder" : starts(r, "decoder.") ? "decoder" : NULL;
    if (!side) return -1;
    r += 8;
    if (starts(r, "conv_in.") || starts(r, "conv_out.")) return put(out, n, "vae.%s.%s", side, r);
    if (starts(r, "norm_out.")) return put(out, n, "vae.%s.conv_norm_out.%s", side, r + 9);
    if (starts(r, "mid.block_1.") || starts(r, "mid.block_2.")) {
        snprintf(pre, sizeof pre, "vae.%s.mid_block.resnets.%d.", side, r[10] - '1');
        return map_vae_resnet(out, n, pre, r + 12);
    }
    if (starts(r, "mid.attn_1.")) {
        static const char *const m[][2] = {{"norm.", "group_norm."}, {"q.", "to_q."},
                                           {"k.", "to_k."}, {"v.", "to_v."},
                                           {"proj_out.", "to_out.0."}};
        t = r + 11;
        for (size_t k = 0; k < sizeof m / sizeof m[0]; k++)
            if (starts(t, m[k][0])) {
                const char *tail = t + strlen(m[k][0]);
                *reshape = k > 0 && !strcmp(tail, "weight");
                return put(out, n, "vae.%s.mid_block.attentions.0.%s%s", side, m[k][1], tail);
            }
        return -1;
    }
    if (!strcmp(side, "encoder") && starts(r, "down.")) {
        if (!(t = num_dot(r + 5, &i))) return -1;
        if (starts(t, "downsample.conv."))
            return put(out, n, "vae.encoder.down_blocks.%d.downsamplers.0.conv.%s", i, t + 16);
        if (!starts(t, "block.") || !(t = num_dot(t + 6, &j))) return -1;
        snprintf(pre, sizeof pre, "vae.encoder.down_blocks.%d.resnets.%d.", i, j);
        return map_vae_resnet(out, n, pre, t);
    }
    if (!strcmp(side, "decoder") && starts(r, "up.")) {
        if (!(t = num_dot(r + 3, &i)) || i >= NV) return -1;
        int b = NV - 1 - i;
        if (starts(t, "upsample.conv."))
            return put(out, n, "vae.decoder.up_blocks.%d.upsamplers.0.conv.%s", b, t + 14);
        if (!starts(t, "block.") || !(t = num_dot(t + 6, &j))) return -1;
        snprintf(pre, sizeof pre, "vae.decoder.up_blocks.%d.resnets.%d.", b, j);
        return map_vae_resnet(out, n, pre, t);
    }
    return -1;
}

int sd_map_original(const sd_orig_layout *lay, const char *orig, char *out, size_t outlen,
                    int *reshape, char *err, size_t errlen) {
    *reshape = 0;
    if (starts(orig, "model.diffusion_model.")) {
        if (map_unet(lay->unet_layers, orig + 22, out, outlen))
            return oma_fail(err, errlen, "sd: tensor '%s': not part of an SD 1.x UNet", orig);
        return 0;
    }
    if (starts(orig, "first_stage_model.")) {
        if (map_vae(lay->vae_blocks, orig + 18, out, outlen, reshape))
            return oma_fail(err, errlen, "sd: tensor '%s': not part of an SD 1.x VAE", orig);
        return 0;
    }
    if (starts(orig, "cond_stage_model.model."))
        return oma_fail(err, errlen, "sd: tensor '%s': an OpenCLIP (SD 2.x) text encoder is not supported",
                        orig);
    if (starts(orig, "cond_stage_model.transformer.")) {
        const char *r = orig + 29;
        int rc;
        if (starts(r, "text_model.")) rc = put(out, outlen, "text_encoder.%s", r);
        else if (starts(r, "embeddings.") || starts(r, "encoder.") || starts(r, "final_layer_norm."))
            rc = put(out, outlen, "text_encoder.text_model.%s", r);
        else return 1;
        if (rc) return oma_fail(err, errlen, "sd: tensor '%s': name too long", orig);
        return 0;
    }
    return 1;
}

int oma_sd_map_original_name(const char *orig, char *out, size_t outlen) {
    sd_orig_layout lay = {2, 4};
    int reshape;
    return sd_map_original(&lay, orig, out, outlen, &reshape, NULL, 0) == 0 ? 0 : -1;
}
