/* pose_transfer.c — AnimateAnyone's pose-to-image loop (see pose_transfer.h). */
#include "pipelines/pose/pose_transfer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "pipelines/generate/rng.h"
#include "pipelines/generate/scheduler.h"
#include "pipelines/pose/pose_render.h"

oma_transfer_params oma_transfer_defaults(void)
{
    return (oma_transfer_params){.width = 512, .height = 768, .steps = 20, .cfg = 3.5f, .seed = 42};
}

void oma_transfer_scheduler_config(oma_scheduler_config *c)
{
    memset(c, 0, sizeof *c);
    c->num_train_timesteps = 1000;
    c->beta_start = 0.00085f;
    c->beta_end = 0.012f;
    snprintf(c->beta_schedule, sizeof c->beta_schedule, "linear");
    snprintf(c->prediction_type, sizeof c->prediction_type, "v_prediction");
    c->prediction_type_set = 1;
    c->steps_offset = 1;
    c->set_alpha_to_one = 1;        /* DDIMScheduler's default; the yaml does not set it */
    c->set_alpha_to_one_set = 1;
    c->clip_sample = 0;             /* stated in the yaml (DDIM's default would clip) */
    c->clip_sample_set = 1;
    snprintf(c->timestep_spacing, sizeof c->timestep_spacing, "trailing");
    c->timestep_spacing_set = 1;
    c->rescale_betas_zero_snr = 1;
}

int oma_transfer_pose_image(const oma_pose *pose, int w, int h, oma_image *out, char *err, size_t errlen)
{
    if (oma_image_alloc(out, w, h, 3) != 0) return oma_fail(err, errlen, "pose: out of memory");
    oma_pose_draw(pose, out->px, w, h, OMA_DRAW_ALL);
    return 0;
}

/* RGB at w x h: converted (the character's transparency over white, the pose picture's alpha
 * dropped as PIL's convert("RGB") does) and resized (Pillow LANCZOS) when needed. */
static int rgb_at(const oma_image *src, int on_white, int w, int h, oma_image *dst)
{
    oma_image rgb = {0};
    const oma_image *s = src;
    if (src->c != 3) {
        if ((on_white ? oma_image_rgb_on_white(src, &rgb) : oma_image_convert(src, 3, &rgb)) != 0) return -1;
        s = &rgb;
    }
    int rc;
    if (w > 0 && (s->w != w || s->h != h)) {
        rc = oma_image_resize_pil(s, w, h, OMA_PIL_LANCZOS, dst);
    } else {
        rc = oma_image_alloc(dst, s->w, s->h, 3);
        if (rc == 0) memcpy(dst->px, s->px, (size_t)s->w * s->h * 3);
    }
    oma_image_free(&rgb);
    return rc;
}

int oma_pose_transfer(const oma_aa_model *m, const oma_image *character, const oma_image *pose_picture,
                      const oma_transfer_params *p, oma_image *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (errlen) err[0] = 0;
    if (!m->loaded) return oma_fail(err, errlen, "pose transfer: model not loaded");
    if (p->width < 64 || p->height < 64 || p->width > 2048 || p->height > 2048 || p->width % 8 || p->height % 8)
        return oma_fail(err, errlen, "pose transfer: width and height must be multiples of 8 in 64..2048 (got %dx%d)",
                        p->width, p->height);
    if (p->steps < 1 || p->steps > OMA_SCHED_MAX_STEPS || !(p->cfg >= 0 && p->cfg <= 100))
        return oma_fail(err, errlen, "pose transfer: steps must be 1..%d and cfg 0..100", OMA_SCHED_MAX_STEPS);
    if (!character->px || !pose_picture->px) return oma_fail(err, errlen, "pose transfer: missing image");
    oma_arena ar;
    oma_arena_init(&ar, 0);
    oma_image ch = {0}, chs = {0}, ps = {0};
    oma_ref_bank bank = {0};
    oma_scheduler s;
    memset(&s, 0, sizeof s);
    oma_tensor x = {0};
    int rc = -1;
    if (rgb_at(character, 1, 0, 0, &ch) || rgb_at(&ch, 1, p->width, p->height, &chs) ||
        rgb_at(pose_picture, 0, p->width, p->height, &ps)) {
        oma_fail(err, errlen, "pose transfer: out of memory");
        goto done;
    }
    oma_tensor emb, lat, pf, v, img;
    if (oma_aa_clip_embed(m, &ch, &ar, &emb, err, errlen) || oma_aa_ref_latents(m, &chs, &ar, &lat, err, errlen) ||
        oma_aa_pose_features(m, &ps, &ar, &pf, err, errlen) || oma_aa_reference(m, &lat, &emb, &bank, &ar, err, errlen))
        goto done;
    oma_scheduler_config sc;
    oma_transfer_scheduler_config(&sc);
    if (oma_scheduler_init(&s, OMA_SAMPLER_DDIM, &sc, p->steps, err, errlen) != 0) goto done;
    int64_t f = 1 << (m->vae_cfg.n_blocks - 1);
    if (oma_tensor_alloc4(&x, 4, 1, m->den.cfg.in_channels, p->height / f, p->width / f) != 0) {
        oma_fail(err, errlen, "pose transfer: out of memory");
        goto done;
    }
    size_t n = (size_t)oma_tensor_numel(&x);
    oma_rng rng;
    oma_rng_seed(&rng, p->seed);
    oma_rng_randn(&rng, x.data, n);
    float sigma = (float)oma_scheduler_init_sigma(&s);
    for (size_t i = 0; i < n; i++) x.data[i] *= sigma;
    for (int i = 0; i < s.n; i++) {
        oma_arena_mark mk = oma_arena_get_mark(&ar);
        if (oma_aa_denoise(m, &x, (float)oma_scheduler_timestep(&s, i), &emb, &pf, &bank, p->cfg, &ar, &v, err,
                           errlen) != 0)
            goto done;
        if (oma_scheduler_step(&s, i, v.data, x.data, 1, n, &rng) != 0) {
            oma_fail(err, errlen, "pose transfer: out of memory");
            goto done;
        }
        oma_arena_release(&ar, mk);
        if (p->on_step && p->on_step(p->ctx, i + 1, s.n, &x)) {
            rc = 1;
            oma_fail(err, errlen, "cancelled");
            goto done;
        }
    }
    if (oma_aa_decode(m, &x, &ar, &img, err, errlen) != 0) goto done;
    if (oma_image_alloc(out, p->width, p->height, 3) != 0) {
        oma_fail(err, errlen, "pose transfer: out of memory");
        goto done;
    }
    int64_t hw = (int64_t)p->width * p->height;
    for (int64_t i = 0; i < hw; i++)
        for (int c = 0; c < 3; c++) out->px[i * 3 + c] = (uint8_t)(img.data[c * hw + i] * 255.0f);
    rc = 0;
done:
    oma_tensor_free(&x);
    oma_scheduler_free(&s);
    oma_ref_bank_free(&bank);
    oma_image_free(&ch);
    oma_image_free(&chs);
    oma_image_free(&ps);
    oma_arena_destroy(&ar);
    return rc;
}
