/* style_train.c — oma_style_train: the style recipe end to end (style_train.h).
 *
 * Order of work: check the options and read every image first (cheap errors before a model
 * load), load the model with its VAE encoder, make each image a cached sample once (jitter,
 * flip, a caption template and the VAE sample drawn from the preparation RNG, seeded by the
 * seed), then resume from the checkpoint if one exists, and run the two stages micro-step by
 * micro-step with the training RNG (epoch order, timestep, noise). Updates, checkpoints,
 * previews and cancellation happen at accumulation boundaries, so a checkpoint never holds
 * half-accumulated gradients; a cancel between boundaries writes the last boundary's state.
 */
#include "train/style_train.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "formats/files.h"
#include "formats/image.h"
#include "train/schedule.h"
#include "train/style_data.h"
#include "train/style_files.h"
#include "train/style_sample.h"
#include "train/style_trainer.h"

#define MAX_IMAGES 256
#define MAX_STEPS 100000
#define PREVIEW_STEPS 20

void oma_style_train_defaults(oma_style_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->resolution = 512;
    o->steps_ti = 500;
    o->steps_lora = 500;
    o->rank = 16;
    o->lr_ti = 5e-4f;
    o->lr_lora_unet = 1e-4f;
    o->lr_lora_text = 1e-5f;
    o->grad_accum = 4;
    o->seed = 42;
}

/* Stage 2's embedding rows keep training at lora_pti's continue_inversion_lr, unscaled. */
#define LR_EMB_LORA 1e-4

static int name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 64 || s[0] == '.' || s[0] == '-')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '.'))
            return 0;
    return 1;
}

static int lr_ok(float x) { return isfinite(x) && x > 0 && x < 1; }

static int check_opts(const oma_style_train_opts *o, char *err, size_t errlen)
{
    if (!o->model_path || !o->out_dir) {
        snprintf(err, errlen, "train: a model and an output folder are needed");
        return -1;
    }
    if (!name_ok(o->name)) {
        snprintf(err, errlen, "train: style name '%s': use 1-64 letters, digits, '_', '-', '.'",
                 o->name ? o->name : "");
        return -1;
    }
    if (o->n_images < 2) {
        snprintf(err, errlen, "train: %d image%s: a style needs at least 2", o->n_images,
                 o->n_images == 1 ? "" : "s");
        return -1;
    }
    if (o->n_images > MAX_IMAGES) {
        snprintf(err, errlen, "train: %d images: at most %d", o->n_images, MAX_IMAGES);
        return -1;
    }
    if (o->resolution < 64 || o->resolution > 1024 || o->resolution % 64) {
        snprintf(err, errlen, "train: resolution %d: a multiple of 64 from 64 to 1024",
                 o->resolution);
        return -1;
    }
    if (o->steps_ti < 0 || o->steps_lora < 0 || o->steps_ti > MAX_STEPS ||
        o->steps_lora > MAX_STEPS || o->steps_ti + o->steps_lora == 0) {
        snprintf(err, errlen, "train: steps %d + %d: each 0..%d, not both 0", o->steps_ti,
                 o->steps_lora, MAX_STEPS);
        return -1;
    }
    if (o->rank < 1 || o->rank > 128) {
        snprintf(err, errlen, "train: rank %d: 1..128", o->rank);
        return -1;
    }
    if (!lr_ok(o->lr_ti) || !lr_ok(o->lr_lora_unet) || !lr_ok(o->lr_lora_text)) {
        snprintf(err, errlen, "train: learning rates must be in (0, 1)");
        return -1;
    }
    if (o->grad_accum < 1 || o->grad_accum > 64 || o->checkpoint_every < 0 ||
        o->sample_every < 0) {
        snprintf(err, errlen, "train: gradient accumulation 1..64, intervals >= 0");
        return -1;
    }
    return 0;
}

typedef struct ctx {
    const oma_style_train_opts *o;
    const oma_style_train_hooks *h;
    oma_style_trainer tr;
    oma_style_run run;
    oma_style_run mark;             /* the last accumulation boundary (for a cancel) */
    int64_t total;                  /* micro-steps over both stages */
    double t0;
    int64_t step0;                  /* step when this process started */
} ctx;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int report(ctx *c, const char *stage, float loss)
{
    if (!c->h || !c->h->progress)
        return 0;
    oma_style_train_progress p;
    int64_t s = c->run.step;
    p.stage = stage;
    int in_lora = s > c->o->steps_ti || (s == c->o->steps_ti && !strcmp(stage, "lora"));
    p.steps = in_lora ? c->o->steps_lora : c->o->steps_ti;
    p.step = (int)(in_lora ? s - c->o->steps_ti : s);
    if (!strcmp(stage, "prepare") || !strcmp(stage, "save")) {
        p.step = 0;
        p.steps = 0;
    }
    p.total_step = (int)s;
    p.total_steps = (int)c->total;
    p.loss = loss;
    double done = (double)(s - c->step0);
    p.eta_s = done > 0 ? (now_s() - c->t0) / done * (double)(c->total - s) : -1.0;
    return c->h->progress(c->h->ctx, &p);
}

static int save_checkpoint(ctx *c, const oma_style_run *state, char *err, size_t errlen)
{
    if (!c->o->checkpoint_path)
        return 0;
    if (oma_style_checkpoint_save(c->o->checkpoint_path, &c->tr, state, err, errlen) != 0)
        return -1;
    if (c->h && c->h->checkpoint)
        c->h->checkpoint(c->h->ctx, c->o->checkpoint_path, (int)state->step);
    return 0;
}

static int preview(ctx *c, const char *stage, char *err, size_t errlen)
{
    if (!c->h || !c->h->sample)
        return 0;
    int size = c->o->resolution;
    uint8_t *rgb = malloc((size_t)size * size * 3);
    if (!rgb) {
        snprintf(err, errlen, "train: out of memory");
        return -1;
    }
    int rc = oma_style_sample_image(&c->tr, size, PREVIEW_STEPS, c->o->seed, rgb, err, errlen);
    if (rc == 0)
        c->h->sample(c->h->ctx, stage, (int)c->run.step, rgb, size, size);
    free(rgb);
    return rc;
}

static int copy_run(oma_style_run *dst, const oma_style_run *src, int n)
{
    dst->stage = src->stage;
    dst->step = src->step;
    dst->rng = src->rng;
    dst->fingerprint = src->fingerprint;
    memcpy(dst->perm, src->perm, sizeof(int) * (size_t)n);
    /* the loss history up to dst->step is the same array: share it */
    dst->loss = src->loss;
    dst->loss_cap = src->loss_cap;
    return 0;
}

static int next_sample(ctx *c)
{
    int n = c->tr.n_samples;
    int64_t k = c->run.step % n;
    if (k == 0)         /* a new epoch: a fresh order */
        for (int i = n - 1; i > 0; i--) {
            int j = (int)oma_train_rng_below(&c->run.rng, i + 1), t = c->run.perm[i];
            c->run.perm[i] = c->run.perm[j];
            c->run.perm[j] = t;
        }
    return c->run.perm[k];
}

/* The micro-steps of one stage from run.step to end; 1 when cancelled. */
static int run_stage(ctx *c, int stage, int64_t begin, int64_t end, float *noise, char *err,
                     size_t errlen)
{
    const oma_style_train_opts *o = c->o;
    int accum = o->grad_accum;
    int64_t updates = (end - begin + accum - 1) / accum;
    int T = stage == 1 ? c->tr.ns.T : c->tr.ns.T * 4 / 5;   /* lora_pti's t_mutliplier 0.8 */
    int64_t n = c->tr.lat_c * c->tr.lat_h * c->tr.lat_w;
    const char *name = stage == 1 ? "ti" : "lora";
    int cancel = 0;
    int64_t last_ckpt = c->run.step;
    copy_run(&c->mark, &c->run, c->tr.n_samples);
    while (c->run.step < end) {
        int64_t k = (c->run.step - begin) / accum;              /* this update's index */
        int64_t in_update = (c->run.step - begin) % accum;
        int64_t size = end - (begin + k * accum) < accum ? end - (begin + k * accum) : accum;
        int sample = next_sample(c);
        int t = (int)oma_train_rng_below(&c->run.rng, T);
        for (int64_t i = 0; i < n; i++)
            noise[i] = (float)oma_train_rng_normal(&c->run.rng);
        float loss;
        if (oma_style_trainer_micro(&c->tr, sample, noise, t, 1.0f / (float)size, &loss, err,
                                    errlen) != 0)
            return -1;
        if (!isfinite(loss)) {
            snprintf(err, errlen, "train: the loss became %f at step %lld", loss,
                     (long long)c->run.step);
            return -1;
        }
        if (c->run.step >= c->run.loss_cap) {
            int64_t cap = c->run.loss_cap * 2 + 64;
            float *nl = realloc(c->run.loss, sizeof(float) * (size_t)cap);
            if (!nl) {
                snprintf(err, errlen, "train: out of memory");
                return -1;
            }
            c->run.loss = nl;
            c->run.loss_cap = cap;
            c->mark.loss = nl;
            c->mark.loss_cap = cap;
        }
        c->run.loss[c->run.step++] = loss;
        if (report(c, name, loss))
            cancel = 1;
        if (in_update + 1 < size) {
            if (cancel)     /* back to the last boundary: redone on resume */
                goto cancelled;
            continue;
        }
        oma_style_trainer_update(&c->tr, oma_schedule_factor(OMA_SCHED_LINEAR, k, 0, updates));
        copy_run(&c->mark, &c->run, c->tr.n_samples);
        int at_end = c->run.step == end;
        if (cancel || (o->checkpoint_every && c->run.step - last_ckpt >= o->checkpoint_every) ||
            (at_end && o->checkpoint_every)) {
            if (save_checkpoint(c, &c->run, err, errlen) != 0)
                return -1;
            last_ckpt = c->run.step;
        }
        if (cancel)
            return 1;
        if (o->sample_every && (c->run.step % o->sample_every < accum || at_end) &&
            preview(c, name, err, errlen) != 0)
            return -1;
    }
    return 0;
cancelled:
    if (save_checkpoint(c, &c->mark, err, errlen) != 0)
        return -1;
    return 1;
}

static int load_images(const oma_style_train_opts *o, oma_image *imgs, char *err, size_t errlen)
{
    oma_image_limits lim = oma_image_default_limits();
    int min_side = o->resolution / 2;
    for (int i = 0; i < o->n_images; i++) {
        char e[256];
        if (oma_image_load(o->images[i], 3, &lim, &imgs[i], e, sizeof e) != 0) {
            snprintf(err, errlen, "train: %s: %s", o->images[i], e);
            return -1;
        }
        int side = imgs[i].w < imgs[i].h ? imgs[i].w : imgs[i].h;
        if (side < min_side) {
            snprintf(err, errlen,
                     "train: %s: %dx%d is too small (resolution %d needs at least %d pixels on "
                     "the shorter side)", o->images[i], imgs[i].w, imgs[i].h, o->resolution,
                     min_side);
            return -1;
        }
    }
    return 0;
}

static uint64_t base_hash(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    if (!S_ISDIR(st.st_mode))
        return oma_file_fnv1a64(path);
    static const char *parts[] = {"unet/diffusion_pytorch_model.safetensors",
                                  "text_encoder/model.safetensors",
                                  "vae/diffusion_pytorch_model.safetensors"};
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < 3; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s/%s", path, parts[i]);
        uint64_t x = oma_file_fnv1a64(p);
        h = oma_fnv1a64(h, &x, sizeof x);
    }
    return h;
}

/* Everything that makes two runs the same run. */
static uint64_t fingerprint(const ctx *c)
{
    const oma_style_train_opts *o = c->o;
    uint64_t h = 0xcbf29ce484222325ULL;
    int64_t n = c->tr.lat_c * c->tr.lat_h * c->tr.lat_w;
    for (int i = 0; i < c->tr.n_samples; i++) {
        h = oma_fnv1a64(h, c->tr.samples[i].latent, sizeof(float) * (size_t)n);
        h = oma_fnv1a64(h, c->tr.samples[i].ids, sizeof c->tr.samples[i].ids);
    }
    int iv[5] = {o->resolution, o->steps_ti, o->steps_lora, o->rank, o->grad_accum};
    float fv[3] = {o->lr_ti, o->lr_lora_unet, o->lr_lora_text};
    h = oma_fnv1a64(h, iv, sizeof iv);
    h = oma_fnv1a64(h, fv, sizeof fv);
    h = oma_fnv1a64(h, &o->seed, sizeof o->seed);
    return h;
}

static int prepare(ctx *c, oma_image *imgs, char *err, size_t errlen)
{
    const oma_style_train_opts *o = c->o;
    oma_train_rng prep;
    oma_train_rng_seed(&prep, o->seed);
    int res = o->resolution;
    int64_t f = oma_style_trainer_factor(&c->tr), lh = res / f, ln = c->tr.lat_c * lh * lh;
    if (res % f) {
        snprintf(err, errlen, "train: resolution %d is not a multiple of the VAE's factor %lld", res, (long long)f);
        return -1;
    }
    float *px = malloc(sizeof(float) * (size_t)(3 * (int64_t)res * res));
    float *noise = malloc(sizeof(float) * (size_t)ln), *lat = malloc(sizeof(float) * (size_t)ln);
    int rc = -1;
    if (!px || !noise || !lat) {
        snprintf(err, errlen, "train: out of memory");
        goto done;
    }
    for (int i = 0; i < o->n_images; i++) {
        int32_t ids[77];
        int tpl = (int)oma_train_rng_below(&prep, OMA_STYLE_N_TEMPLATES);
        if (oma_style_prepare_image(&imgs[i], res, 1, 1, &prep, px, err, errlen) != 0 ||
            oma_style_caption_ids(c->tr.m->tok, tpl, c->tr.m->text.p.vocab_size, ids, err,
                                  errlen) != 0)
            goto done;
        for (int64_t j = 0; j < ln; j++)
            noise[j] = (float)oma_train_rng_normal(&prep);
        if (oma_style_trainer_encode(&c->tr, px, res, noise, lat, err, errlen) != 0 ||
            oma_style_trainer_add_sample(&c->tr, lat, lh, lh, ids, err, errlen) != 0)
            goto done;
        if (report(c, "prepare", NAN)) {
            rc = 1;
            goto done;
        }
    }
    /* the rows start as randn * 0.017 (lora_pti's <rand-0.017>) */
    for (int64_t j = 0; j < 2 * c->tr.hidden; j++)
        c->tr.emb[j] = (float)(oma_train_rng_normal(&prep) * 0.017);
    rc = 0;
done:
    free(px);
    free(noise);
    free(lat);
    return rc;
}

int oma_style_train(const oma_style_train_opts *o, const oma_style_train_hooks *hooks,
                    char *out_lora, size_t out_lora_len, char *out_embedding,
                    size_t out_embedding_len, char *err, size_t errlen)
{
    if (check_opts(o, err, errlen) != 0)
        return -1;
    char e[512];
    if (oma_mkdir_p(o->out_dir, e, sizeof e) != 0) {
        snprintf(err, errlen, "train: %s: %s", o->out_dir, e);
        return -1;
    }
    char lora_path[4096], emb_path[4096];
    if (snprintf(lora_path, sizeof lora_path, "%s/%s.safetensors", o->out_dir, o->name) >=
            (int)sizeof lora_path ||
        snprintf(emb_path, sizeof emb_path, "%s/%s.embedding.safetensors", o->out_dir,
                 o->name) >= (int)sizeof emb_path) {
        snprintf(err, errlen, "train: output path too long");
        return -1;
    }
    oma_image *imgs = calloc((size_t)o->n_images, sizeof *imgs);
    ctx *c = calloc(1, sizeof *c);
    oma_sd_model *m = calloc(1, sizeof *m);
    float *noise = NULL;
    int rc = -1, model_loaded = 0, trainer = 0;
    if (!imgs || !c || !m) {
        snprintf(err, errlen, "train: out of memory");
        goto done;
    }
    c->o = o;
    c->h = hooks;
    c->total = (int64_t)o->steps_ti + o->steps_lora;
    c->t0 = now_s();
    if (load_images(o, imgs, err, errlen) != 0)
        goto done;
    if (report(c, "prepare", NAN)) {
        rc = 1;
        goto done;
    }
    oma_sd_open_opts oo = {NULL, o->config_path};
    if (oma_sd_model_load(o->model_path, &oo, OMA_SD_LOAD_ENCODER, m, e, sizeof e) != 0) {
        snprintf(err, errlen, "train: %s", e);
        goto done;
    }
    model_loaded = 1;
    if (strcmp(m->cfg.scheduler.prediction_type, "epsilon") != 0) {
        snprintf(err, errlen, "train: %s: a %s model cannot be trained (the loss here is epsilon prediction's)",
                 o->model_path, m->cfg.scheduler.prediction_type);
        goto done;
    }
    if (oma_style_trainer_init(&c->tr, m, err, errlen) != 0)
        goto done;
    trainer = 1;
    if (c->tr.net.n == 0 || (o->rank > c->tr.net.a[0].target->in)) {
        snprintf(err, errlen, "train: rank %d is larger than the model's layers allow", o->rank);
        goto done;
    }
    int prc = prepare(c, imgs, err, errlen);
    if (prc != 0) {
        rc = prc;
        goto done;
    }
    int n = c->tr.n_samples;
    c->run.perm = calloc((size_t)n, sizeof(int));
    c->mark.perm = calloc((size_t)n, sizeof(int));
    noise = malloc(sizeof(float) * (size_t)(c->tr.lat_c * c->tr.lat_h * c->tr.lat_w));
    if (!c->run.perm || !c->mark.perm || !noise) {
        snprintf(err, errlen, "train: out of memory");
        goto done;
    }
    for (int i = 0; i < n; i++)
        c->run.perm[i] = i;
    oma_train_rng_seed(&c->run.rng, o->seed ^ 0x5eed5eed5eedULL);
    c->run.fingerprint = fingerprint(c);
    c->run.stage = 1;
    struct stat st;
    int resumed = 0;
    if (o->checkpoint_path && stat(o->checkpoint_path, &st) == 0) {
        if (oma_style_checkpoint_load(o->checkpoint_path, &c->tr, &c->run, o->rank,
                                      o->lr_lora_unet * o->grad_accum,
                                      o->lr_lora_text * o->grad_accum, LR_EMB_LORA,
                                      o->lr_ti * o->grad_accum, err, errlen) != 0)
            goto done;
        resumed = 1;
    } else if (oma_style_trainer_begin_ti(&c->tr, o->lr_ti * o->grad_accum, err, errlen) != 0)
        goto done;
    c->step0 = c->run.step;
    c->t0 = now_s();
    (void)resumed;
    if (c->run.stage == 1 && c->run.step < o->steps_ti) {
        int r = run_stage(c, 1, 0, o->steps_ti, noise, err, errlen);
        if (r != 0) {
            rc = r;
            goto done;
        }
    }
    if (c->tr.stage != 2) {
        if (oma_style_trainer_begin_lora(&c->tr, o->rank, oma_train_rng_randn_cb, &c->run.rng,
                                         o->lr_lora_unet * o->grad_accum,
                                         o->lr_lora_text * o->grad_accum, LR_EMB_LORA, err,
                                         errlen) != 0)
            goto done;
        c->run.stage = 2;
    }
    if (c->run.step < c->total) {
        int r = run_stage(c, 2, o->steps_ti, c->total, noise, err, errlen);
        if (r != 0) {
            rc = r;
            goto done;
        }
    }
    report(c, "save", c->run.step ? c->run.loss[c->run.step - 1] : NAN);
    oma_style_meta meta = {
        .name = o->name, .base_model = o->model_path, .base_hash = base_hash(o->model_path),
        .steps_ti = o->steps_ti, .steps_lora = o->steps_lora, .rank = o->rank,
        .resolution = o->resolution, .n_images = o->n_images, .seed = o->seed,
    };
    if (oma_style_export(lora_path, emb_path, &c->tr, &meta, err, errlen) != 0)
        goto done;
    if (out_lora)
        snprintf(out_lora, out_lora_len, "%s", lora_path);
    if (out_embedding)
        snprintf(out_embedding, out_embedding_len, "%s", emb_path);
    rc = 0;
done:
    if (c) {
        if (trainer)
            oma_style_trainer_free(&c->tr);
        free(c->run.perm);
        free(c->mark.perm);
        free(c->run.loss);
    }
    if (model_loaded)
        oma_sd_model_free(m);
    if (imgs)
        for (int i = 0; i < o->n_images; i++)
            oma_image_free(&imgs[i]);
    free(imgs);
    free(noise);
    free(c);
    free(m);
    return rc;
}
