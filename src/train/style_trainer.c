/* style_trainer.c — training state, micro-steps and updates of the style recipe
 * (style_trainer.h). */
#include "train/style_trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/clip_train.h"
#include "train/unet_train.h"

#define TI_TARGET_NORM 0.4

int oma_style_trainer_init(oma_style_trainer *tr, oma_sd_model *m, char *err, size_t errlen)
{
    memset(tr, 0, sizeof *tr);
    tr->m = m;
    tr->hidden = m->text.p.hidden_size;
    tr->lat_c = m->cfg.unet.in_channels;
    oma_arena_init(&tr->ar, 0);
    oma_adamw_init(&tr->opt, 0.9, 0.999, 1e-8);
    if (oma_noise_schedule_init(&tr->ns, &m->cfg.scheduler, err, errlen) != 0)
        return -1;
    tr->emb = calloc((size_t)(2 * tr->hidden), sizeof(float));
    tr->g_emb = calloc((size_t)(2 * tr->hidden), sizeof(float));
    if (!tr->emb || !tr->g_emb) {
        snprintf(err, errlen, "train: out of memory");
        oma_style_trainer_free(tr);
        return -1;
    }
    if (oma_style_net_plan(&tr->net, &m->unet, &m->text, err, errlen) != 0) {
        oma_style_trainer_free(tr);
        return -1;
    }
    return 0;
}

void oma_style_trainer_free(oma_style_trainer *tr)
{
    oma_style_net_free(&tr->net);
    oma_adamw_free(&tr->opt);
    for (int i = 0; i < tr->n_samples; i++)
        free(tr->samples[i].latent);
    free(tr->samples);
    free(tr->emb);
    free(tr->g_emb);
    oma_arena_destroy(&tr->ar);
    memset(tr, 0, sizeof *tr);
}

int oma_style_trainer_add_sample(oma_style_trainer *tr, const float *latent, int64_t lh,
                                 int64_t lw, const int32_t *ids, char *err, size_t errlen)
{
    if (lh < 1 || lw < 1 || lh > 4096 || lw > 4096 ||
        (tr->n_samples && (lh != tr->lat_h || lw != tr->lat_w))) {
        snprintf(err, errlen, "train: samples must all have the same latent size");
        return -1;
    }
    if (tr->n_samples == tr->cap_samples) {
        int nc = tr->cap_samples ? tr->cap_samples * 2 : 8;
        oma_style_sample *ns = realloc(tr->samples, (size_t)nc * sizeof *ns);
        if (!ns)
            goto oom;
        tr->samples = ns;
        tr->cap_samples = nc;
    }
    size_t n = (size_t)(tr->lat_c * lh * lw);
    oma_style_sample *s = &tr->samples[tr->n_samples];
    s->latent = malloc(n * sizeof(float));
    if (!s->latent)
        goto oom;
    memcpy(s->latent, latent, n * sizeof(float));
    memcpy(s->ids, ids, sizeof s->ids);
    tr->lat_h = lh;
    tr->lat_w = lw;
    tr->n_samples++;
    return 0;
oom:
    snprintf(err, errlen, "train: out of memory");
    return -1;
}

int oma_style_trainer_factor(const oma_style_trainer *tr)
{
    int nb = tr->m->cfg.vae.n_blocks;
    return nb >= 1 && nb <= OMA_SD_MAX_BLOCKS ? 1 << (nb - 1) : 8;
}

int oma_style_trainer_encode(oma_style_trainer *tr, const float *image, int res,
                             const float *noise, float *latent, char *err, size_t errlen)
{
    oma_sd_model *m = tr->m;
    if (!m->has_encoder) {
        snprintf(err, errlen, "train: the model was loaded without its VAE encoder");
        return -1;
    }
    oma_arena_mark mk = oma_arena_get_mark(&tr->ar);
    oma_tensor img, mom;
    int64_t s[4] = {1, 3, res, res};
    if (oma_arena_tensor_uninit(&tr->ar, &img, 4, s) != 0) {
        snprintf(err, errlen, "train: out of memory");
        return -1;
    }
    memcpy(img.data, image, sizeof(float) * (size_t)(3 * (int64_t)res * res));
    if (oma_vae_encode(&m->vae, &img, &tr->ar, &mom, err, errlen) != 0) {
        oma_arena_release(&tr->ar, mk);
        return -1;
    }
    int64_t c = mom.shape[1] / 2, hw = mom.shape[2] * mom.shape[3];
    int64_t f = oma_style_trainer_factor(tr);
    if (c != tr->lat_c || mom.shape[2] != res / f || mom.shape[3] != res / f) {   /* latent holds lat_c x (res/f)^2 */
        oma_arena_release(&tr->ar, mk);
        snprintf(err, errlen, "train: the VAE gives [%lld, %lld, %lld] latents, expected [%lld, %d, %d]",
                 (long long)c, (long long)mom.shape[2], (long long)mom.shape[3], (long long)tr->lat_c,
                 (int)(res / f), (int)(res / f));
        return -1;
    }
    float sf = m->cfg.vae.scaling_factor;
    for (int64_t i = 0; i < c * hw; i++) {
        float mean = mom.data[i], logvar = mom.data[c * hw + i];
        logvar = logvar < -30.0f ? -30.0f : logvar > 20.0f ? 20.0f : logvar;
        float sd = expf(0.5f * logvar);
        latent[i] = (mean + sd * noise[i]) * sf;
    }
    oma_arena_release(&tr->ar, mk);
    return 0;
}

int oma_style_trainer_begin_ti(oma_style_trainer *tr, double lr, char *err, size_t errlen)
{
    oma_adamw_free(&tr->opt);
    oma_adamw_init(&tr->opt, 0.9, 0.999, 1e-8);
    int g = oma_adamw_add_group(&tr->opt, lr, 0.0);
    if (g < 0 || oma_adamw_add_param(&tr->opt, g, tr->emb, tr->g_emb, 2 * tr->hidden) != 0) {
        snprintf(err, errlen, "train: out of memory");
        return -1;
    }
    memset(tr->g_emb, 0, sizeof(float) * (size_t)(2 * tr->hidden));
    tr->stage = 1;
    tr->clip_norm = 0;
    return 0;
}

int oma_style_trainer_begin_lora(oma_style_trainer *tr, int rank, oma_randn_fn randn, void *rng,
                                 double lr_unet, double lr_text, double lr_emb, char *err,
                                 size_t errlen)
{
    if (rank < 1 || rank > 1024) {
        snprintf(err, errlen, "train: rank %d out of range (1..1024)", rank);
        return -1;
    }
    if (oma_style_net_alloc(&tr->net, rank, randn, rng, err, errlen) != 0)
        return -1;
    oma_style_net_attach(&tr->net);
    oma_adamw_free(&tr->opt);
    oma_adamw_init(&tr->opt, 0.9, 0.999, 1e-8);
    int gu = oma_adamw_add_group(&tr->opt, lr_unet, 0.0);
    int gt = oma_adamw_add_group(&tr->opt, lr_text, 0.0);
    int ge = oma_adamw_add_group(&tr->opt, lr_emb, 0.0);
    if (gu < 0 || gt < 0 || ge < 0)
        goto oom;
    for (int i = 0; i < tr->net.n; i++) {
        oma_lora *l = &tr->net.a[i].lora;
        int g = tr->net.a[i].text ? gt : gu;
        if (oma_adamw_add_param(&tr->opt, g, l->down.data, l->g_down.data,
                                oma_tensor_numel(&l->down)) != 0 ||
            oma_adamw_add_param(&tr->opt, g, l->up.data, l->g_up.data,
                                oma_tensor_numel(&l->up)) != 0)
            goto oom;
    }
    if (oma_adamw_add_param(&tr->opt, ge, tr->emb, tr->g_emb, 2 * tr->hidden) != 0)
        goto oom;
    oma_style_net_zero_grad(&tr->net);
    memset(tr->g_emb, 0, sizeof(float) * (size_t)(2 * tr->hidden));
    tr->stage = 2;
    tr->clip_norm = 1.0f;
    return 0;
oom:
    snprintf(err, errlen, "train: out of memory");
    return -1;
}

int oma_style_trainer_micro(oma_style_trainer *tr, int sample, const float *noise, int t,
                            float grad_scale, float *loss, char *err, size_t errlen)
{
    if (sample < 0 || sample >= tr->n_samples || t < 0 || t >= tr->ns.T) {
        snprintf(err, errlen, "train: sample %d / timestep %d out of range", sample, t);
        return -1;
    }
    oma_sd_model *m = tr->m;
    const oma_style_sample *s = &tr->samples[sample];
    oma_arena *ar = &tr->ar;
    oma_arena_mark mk = oma_arena_get_mark(ar);
    oma_clip_tape tape;
    oma_tensor ctx, dctx, noisy, target;
    int64_t ls[4] = {1, tr->lat_c, tr->lat_h, tr->lat_w};
    int64_t n = tr->lat_c * tr->lat_h * tr->lat_w;
    int rc = -1;
    if (oma_clip_train_forward(&m->text, s->ids, 77, tr->emb, 2, ar, &tape, &ctx, err, errlen))
        goto done;
    if (oma_arena_tensor(ar, &dctx, 3, ctx.shape) != 0 ||
        oma_arena_tensor_uninit(ar, &noisy, 4, ls) != 0 ||
        oma_arena_tensor_uninit(ar, &target, 4, ls) != 0) {
        snprintf(err, errlen, "train: out of memory");
        goto done;
    }
    memcpy(target.data, noise, sizeof(float) * (size_t)n);
    oma_noise_schedule_add(&tr->ns, t, s->latent, noise, noisy.data, n);
    float tf = (float)t;
    if (oma_unet_train_pass(&m->unet, &noisy, &tf, &ctx, &target, grad_scale, ar, loss, &dctx,
                            err, errlen) != 0)
        goto done;
    if (oma_clip_train_backward(&m->text, s->ids, 2, &tape, &dctx, ar, tr->g_emb, err, errlen))
        goto done;
    rc = 0;
done:
    oma_arena_release(ar, mk);
    return rc;
}

/* clip_ti_decay: w <- w / |w| * (|w| + lambda (0.4 - |w|)), lambda = min(1, 100 lr). */
static void ti_decay(oma_style_trainer *tr, double lr)
{
    double lambda = 100.0 * lr < 1.0 ? 100.0 * lr : 1.0;
    for (int r = 0; r < 2; r++) {
        float *w = tr->emb + r * tr->hidden;
        double sq = 0;
        for (int64_t j = 0; j < tr->hidden; j++)
            sq += (double)w[j] * w[j];
        float norm = (float)sqrt(sq);
        float denom = norm > 1e-12f ? norm : 1e-12f;        /* F.normalize's eps */
        float target = norm + (float)lambda * ((float)TI_TARGET_NORM - norm);
        for (int64_t j = 0; j < tr->hidden; j++)
            w[j] = w[j] / denom * target;
    }
}

void oma_style_trainer_update(oma_style_trainer *tr, double lr_factor)
{
    oma_adamw_set_factor(&tr->opt, lr_factor);
    if (tr->clip_norm > 0)
        oma_adamw_clip_grad_norm(&tr->opt, tr->clip_norm);
    oma_adamw_step(&tr->opt);
    if (tr->stage == 1)
        ti_decay(tr, tr->opt.groups[0].lr);
    oma_style_net_zero_grad(&tr->net);
    memset(tr->g_emb, 0, sizeof(float) * (size_t)(2 * tr->hidden));
}
