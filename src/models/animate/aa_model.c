/* aa_model.c — loading AnimateAnyone's parts and running each stage (see aa_model.h). */
#include "models/animate/aa_model.h"

#include <stdio.h>
#include <string.h>

#include "formats/fail.h"
#include "formats/safetensors.h"
#include "models/sd/sd_checkpoint_internal.h"
#include "tensor/ops.h"

static int load_unet(oma_aa_model *m, int part, oma_unet *u, int body_only, char *err, size_t errlen)
{
    oma_tensor_file *f = NULL;
    if (oma_aa_load_part(&m->files, part, &f, err, errlen) != 0) return -1;
    oma_aa_source src = {"unet", f};
    oma_weights w;
    oma_aa_weights(&src, &w);
    int rc = body_only ? oma_unet_load_body(u, &w, "unet", &m->unet_cfg, err, errlen)
                       : oma_unet_load(u, &w, "unet", &m->unet_cfg, err, errlen);
    oma_tensor_file_free(f);
    return rc;
}

static int load_pose(oma_aa_model *m, char *err, size_t errlen)
{
    oma_tensor_file *f = NULL;
    if (oma_aa_load_part(&m->files, AA_POSE, &f, err, errlen) != 0) return -1;
    /* the widths from the shapes: conv_in [w0, 3, 3, 3], blocks.(2i+1) [w(i+1), wi, 3, 3] */
    int64_t widths[OMA_PG_MAX_WIDTHS];
    int n = 0, rc = -1;
    const oma_tf_tensor *t = oma_tensor_file_find(f, "conv_in.weight");
    if (!t || t->ndim != 4) {
        oma_fail(err, errlen, "%s: no conv_in.weight [w, 3, 3, 3] (not a PoseGuider)", oma_tensor_file_path(f));
        goto out;
    }
    widths[n++] = t->shape[0];
    for (;;) {
        char name[64];
        snprintf(name, sizeof name, "blocks.%d.weight", 2 * (n - 1) + 1);
        t = oma_tensor_file_find(f, name);
        if (!t) break;
        if (t->ndim != 4 || n == OMA_PG_MAX_WIDTHS) {
            oma_fail(err, errlen, "%s: %s: unexpected shape or too many blocks", oma_tensor_file_path(f), name);
            goto out;
        }
        widths[n++] = t->shape[0];
    }
    oma_aa_source src = {"pose", f};
    oma_weights w;
    oma_aa_weights(&src, &w);
    rc = oma_pose_guider_load(&m->pose, &w, "pose", n, widths, m->unet_cfg.block_out_channels[0], err, errlen);
out:
    oma_tensor_file_free(f);
    return rc;
}

static int load_clip(oma_aa_model *m, char *err, size_t errlen)
{
    oma_clip_vision_params p;
    oma_clip_vision_defaults(&p);
    if (oma_clip_vision_parse_config(m->files.part[AA_CLIP].config, &p, err, errlen) != 0) return -1;
    if (p.projection_dim != m->unet_cfg.cross_attention_dim)
        return oma_fail(err, errlen, "animate: the image encoder's projection (%d) is not the UNet's cross-attention "
                        "width (%d)", p.projection_dim, m->unet_cfg.cross_attention_dim);
    oma_tensor_file *f = NULL;
    if (oma_aa_load_part(&m->files, AA_CLIP, &f, err, errlen) != 0) return -1;
    oma_aa_source src = {"clip", f};
    oma_weights w;
    oma_aa_weights(&src, &w);
    int rc = oma_clip_vision_load(&m->clip, &w, "clip", &p, err, errlen);
    oma_tensor_file_free(f);
    return rc;
}

static int load_vae(oma_aa_model *m, char *err, size_t errlen)
{
    oma_sd_config d;
    oma_sd_config_defaults(&d);
    m->vae_cfg = d.vae;
    if (sd_parse_vae_config(m->files.part[AA_VAE].config, &m->vae_cfg, err, errlen) != 0) return -1;
    oma_tensor_file *f = NULL;
    if (oma_aa_load_part(&m->files, AA_VAE, &f, err, errlen) != 0) return -1;
    oma_aa_source src = {"vae", f};
    oma_weights w;
    oma_aa_weights(&src, &w);
    int rc = oma_vae_load(&m->vae, &w, "vae", &m->vae_cfg, 1, err, errlen);
    oma_tensor_file_free(f);
    return rc;
}

int oma_aa_model_load(oma_aa_model *m, const char *dir, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    if (oma_aa_files_find(dir, &m->files) != 0) {
        char rep[4096];
        oma_aa_files_report(&m->files, rep, sizeof rep);
        return oma_fail(err, errlen, "animate: weights missing in %s:\n%s", dir, rep);
    }
    oma_sd_config d;
    oma_sd_config_defaults(&d);
    m->unet_cfg = d.unet;
    if (m->files.unet_config[0] && sd_parse_unet_config(m->files.unet_config, &m->unet_cfg, err, errlen) != 0)
        return -1;
    if (load_unet(m, AA_REFERENCE, &m->ref, 1, err, errlen) || load_unet(m, AA_DENOISE, &m->den, 0, err, errlen) ||
        load_pose(m, err, errlen) || load_clip(m, err, errlen) || load_vae(m, err, errlen)) {
        oma_aa_model_free(m);
        return -1;
    }
    m->loaded = 1;
    return 0;
}

void oma_aa_model_free(oma_aa_model *m)
{
    oma_unet_free(&m->den);
    oma_unet_free(&m->ref);
    oma_pose_guider_free(&m->pose);
    oma_clip_vision_free(&m->clip);
    oma_vae_free(&m->vae);
    m->loaded = 0;
}

int oma_aa_clip_embed(const oma_aa_model *m, const oma_image *character, oma_arena *ar, oma_tensor *embeds,
                      char *err, size_t errlen)
{
    oma_tensor px;
    if (oma_clip_preprocess(character, m->clip.p.image_size, &px, err, errlen) != 0) return -1;
    int rc = oma_clip_vision_forward(&m->clip, &px, ar, embeds, err, errlen);
    oma_tensor_free(&px);
    return rc;
}

/* RGB u8 -> [1, 3, h, w] float32 (u8 / 255), times a, plus b (in float32 as numpy does). */
static int image_tensor(const oma_image *img, float a, float b, oma_arena *ar, oma_tensor *t)
{
    if (!img->px || img->c != 3) return -1;
    int64_t s[4] = {1, 3, img->h, img->w}, hw = (int64_t)img->w * img->h;
    if (oma_arena_tensor_uninit(ar, t, 4, s) != 0) return -1;
    for (int64_t i = 0; i < hw; i++)
        for (int c = 0; c < 3; c++) {
            float x = (float)img->px[i * 3 + c] / 255.0f;
            t->data[c * hw + i] = a == 1.0f && b == 0.0f ? x : a * x + b;
        }
    return 0;
}

int oma_aa_ref_latents(const oma_aa_model *m, const oma_image *character, oma_arena *ar, oma_tensor *latents,
                       char *err, size_t errlen)
{
    int lc = m->vae_cfg.latent_channels;
    int f = 1 << (m->vae_cfg.n_blocks - 1);
    int64_t ls[4] = {1, lc, character->h / f, character->w / f};
    if (oma_arena_tensor(ar, latents, 4, ls) != 0) return oma_fail(err, errlen, "animate: out of memory");
    oma_arena_mark mk = oma_arena_get_mark(ar);
    oma_tensor img, mom;
    int rc = -1;
    if (image_tensor(character, 2.0f, -1.0f, ar, &img) != 0) {
        oma_fail(err, errlen, "animate: the character must be an RGB image");
        goto out;
    }
    if (oma_vae_encode(&m->vae, &img, ar, &mom, err, errlen) != 0) goto out;
    if (mom.shape[2] != ls[2] || mom.shape[3] != ls[3] || mom.shape[1] != 2 * lc) {
        oma_fail(err, errlen, "animate: VAE moments of an unexpected shape");
        goto out;
    }
    int64_t n = (int64_t)lc * ls[2] * ls[3];
    for (int64_t i = 0; i < n; i++) latents->data[i] = mom.data[i] * OMA_AA_LATENT_SCALE;   /* Moore: mean * 0.18215 */
    rc = 0;
out:
    oma_arena_release(ar, mk);
    return rc;
}

int oma_aa_pose_features(const oma_aa_model *m, const oma_image *pose, oma_arena *ar, oma_tensor *feats,
                         char *err, size_t errlen)
{
    oma_tensor img;
    if (image_tensor(pose, 1.0f, 0.0f, ar, &img) != 0) return oma_fail(err, errlen, "animate: the pose must be RGB");
    if (oma_pose_guider_forward(&m->pose, &img, ar, feats) != 0)
        return oma_fail(err, errlen, "animate: pose guider failed (out of memory)");
    return 0;
}

int oma_aa_reference(const oma_aa_model *m, const oma_tensor *ref_latents, const oma_tensor *embeds,
                     oma_ref_bank *bank, oma_arena *ar, char *err, size_t errlen)
{
    oma_ref_bank_free(bank);
    bank->mode = OMA_REF_WRITE;
    bank->write_row = 0;
    oma_arena_mark mk = oma_arena_get_mark(ar);
    oma_tensor ctx;
    int64_t cs[3] = {1, 1, embeds->shape[1]};
    float t0 = 0.0f;
    int rc = -1;
    if (oma_tensor_view(&ctx, embeds->data, 3, cs) != 0) goto out;
    if (oma_unet_forward_ex(&m->ref, ref_latents, &t0, &ctx, NULL, bank, ar, NULL, err, errlen) != 0) goto out;
    /* Moore's update() hands the reader fp16 copies */
    for (int i = 0; i < bank->n; i++) {
        oma_tensor *f = &bank->feats[i];
        int64_t n = oma_tensor_numel(f);
        for (int64_t j = 0; j < n; j++) f->data[j] = oma_f16_to_f32(oma_f32_to_f16(f->data[j]));
    }
    bank->count = bank->n;
    bank->n = 0;
    bank->mode = OMA_REF_READ;
    rc = 0;
out:
    oma_arena_release(ar, mk);
    if (rc != 0) {
        if (!err[0]) oma_fail(err, errlen, "animate: reference pass failed");
        oma_ref_bank_free(bank);
    }
    return rc;
}

int oma_aa_denoise(const oma_aa_model *m, const oma_tensor *x, float t, const oma_tensor *embeds,
                   const oma_tensor *pose_feats, oma_ref_bank *bank, float guidance, oma_arena *ar, oma_tensor *v,
                   char *err, size_t errlen)
{
    if (bank->mode != OMA_REF_READ || x->ndim != 4 || x->shape[0] != 1)
        return oma_fail(err, errlen, "animate: denoise needs the reference pass first and one latent");
    int cfg = guidance > 1.0f;
    int64_t B = cfg ? 2 : 1, P = embeds->shape[1];
    if (oma_arena_tensor(ar, v, 4, x->shape) != 0) return oma_fail(err, errlen, "animate: out of memory");
    oma_arena_mark mk = oma_arena_get_mark(ar);
    int rc = -1;
    oma_tensor in, ctx, pf, out;
    int64_t is[4] = {B, x->shape[1], x->shape[2], x->shape[3]}, cs[3] = {B, 1, P};
    int64_t ps[4] = {B, pose_feats->shape[1], pose_feats->shape[2], pose_feats->shape[3]};
    int64_t nx = oma_tensor_numel(x), np = oma_tensor_numel(pose_feats);
    if (oma_arena_tensor(ar, &in, 4, is) || oma_arena_tensor(ar, &ctx, 3, cs) || oma_arena_tensor(ar, &pf, 4, ps)) {
        oma_fail(err, errlen, "animate: out of memory");
        goto out;
    }
    for (int64_t b = 0; b < B; b++) {
        memcpy(in.data + b * nx, x->data, sizeof(float) * (size_t)nx);
        memcpy(pf.data + b * np, pose_feats->data, sizeof(float) * (size_t)np);
    }
    memcpy(ctx.data + (B - 1) * P, embeds->data, sizeof(float) * (size_t)P);     /* row 0 stays 0 under CFG */
    float ts[2] = {t, t};
    bank->n = 0;
    bank->first_bank_row = B - 1;
    if (oma_unet_forward_ex(&m->den, &in, ts, &ctx, &pf, bank, ar, &out, err, errlen) != 0) goto out;
    if (!cfg) {
        memcpy(v->data, out.data, sizeof(float) * (size_t)nx);
    } else {
        for (int64_t i = 0; i < nx; i++) {
            float u = out.data[i], c = out.data[nx + i];
            v->data[i] = u + guidance * (c - u);
        }
    }
    rc = 0;
out:
    oma_arena_release(ar, mk);
    return rc;
}

int oma_aa_decode(const oma_aa_model *m, const oma_tensor *latents, oma_arena *ar, oma_tensor *image, char *err,
                  size_t errlen)
{
    int f = 1 << (m->vae_cfg.n_blocks - 1);
    if (latents->ndim != 4 || latents->shape[0] != 1) return oma_fail(err, errlen, "animate: decode needs [1, c, h, w]");
    int64_t is[4] = {1, 3, latents->shape[2] * f, latents->shape[3] * f};
    if (oma_arena_tensor(ar, image, 4, is) != 0) return oma_fail(err, errlen, "animate: out of memory");
    oma_arena_mark mk = oma_arena_get_mark(ar);
    oma_tensor z, img;
    int rc = -1;
    if (oma_arena_like(ar, latents, &z) != 0) goto out;
    int64_t n = oma_tensor_numel(latents);
    const float inv = (float)(1.0 / 0.18215);       /* Moore: 1 / 0.18215 * latents */
    for (int64_t i = 0; i < n; i++) z.data[i] = latents->data[i] * inv;
    if (oma_vae_decode(&m->vae, &z, ar, &img, err, errlen) != 0) goto out;
    if (!oma_tensor_same_shape(&img, image)) goto out;
    n = oma_tensor_numel(image);
    for (int64_t i = 0; i < n; i++) {
        float y = img.data[i] / 2 + 0.5f;
        image->data[i] = y < 0 ? 0 : y > 1 ? 1 : y;
    }
    rc = 0;
out:
    oma_arena_release(ar, mk);
    if (rc != 0 && !err[0]) oma_fail(err, errlen, "animate: decode failed");
    return rc;
}
