/* style_files.c — checkpoints and results of a style training run (style_files.h). */
#include "train/style_files.h"

#include <inttypes.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/safetensors.h"

#define CKPT_FORMAT "oma-style-checkpoint/1"
#define MAX_STEPS 10000000

uint64_t oma_fnv1a64(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint64_t oma_file_fnv1a64(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    uint64_t h = 0xcbf29ce484222325ULL;
    static __thread unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        h = oma_fnv1a64(h, buf, n);
    int bad = ferror(f);
    fclose(f);
    return bad ? 0 : h;
}

static int meta_set(oma_st_writer *w, const char *k, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int meta_set(oma_st_writer *w, const char *k, const char *fmt, ...)
{
    char v[512], e[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    return oma_st_writer_set_metadata(w, k, v, e, sizeof e);
}

static int add_f32(oma_st_writer *w, const char *name, int ndim, const int64_t *shape,
                   const float *data, oma_st_dtype dt, char *err, size_t errlen)
{
    return oma_st_writer_add_f32(w, name, dt, ndim, shape, data, err, errlen);
}

int oma_style_checkpoint_save(const char *path, const oma_style_trainer *tr,
                              const oma_style_run *run, char *err, size_t errlen)
{
    oma_st_writer *w = oma_st_writer_new();
    if (!w) {
        snprintf(err, errlen, "train: checkpoint %s: out of memory", path);
        return -1;
    }
    char e[256] = "";
    int rc = -1;
    int64_t es[2] = {2, tr->hidden}, ns[1] = {tr->n_samples}, ls[1] = {run->step};
    float *perm = malloc(sizeof(float) * (size_t)(tr->n_samples ? tr->n_samples : 1));
    if (!perm)
        goto fail;
    for (int i = 0; i < tr->n_samples; i++)
        perm[i] = (float)run->perm[i];
    int64_t adam_step = tr->opt.n_params ? tr->opt.params[0].step : 0;
    if (meta_set(w, "format", "%s", CKPT_FORMAT) || meta_set(w, "stage", "%d", tr->stage) ||
        meta_set(w, "step", "%" PRId64, run->step) ||
        meta_set(w, "fingerprint", "%016" PRIx64, run->fingerprint) ||
        meta_set(w, "adam_step", "%" PRId64, adam_step) ||
        meta_set(w, "adam_params", "%d", tr->opt.n_params) ||
        meta_set(w, "rng", "%016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %016" PRIx64 " %d %a",
                 run->rng.s[0], run->rng.s[1], run->rng.s[2], run->rng.s[3],
                 run->rng.has_normal, run->rng.cached_normal))
        goto fail;
    if (add_f32(w, "emb", 2, es, tr->emb, OMA_ST_F32, e, sizeof e) ||
        add_f32(w, "perm", 1, ns, perm, OMA_ST_F32, e, sizeof e) ||
        (run->step > 0 && add_f32(w, "loss", 1, ls, run->loss, OMA_ST_F32, e, sizeof e)))
        goto fail;
    if (tr->stage == 2)
        for (int i = 0; i < tr->net.n; i++) {
            const oma_lora *l = &tr->net.a[i].lora;
            char k[OMA_STYLE_NAME_MAX + 16];
            snprintf(k, sizeof k, "lora.%s.down", tr->net.a[i].name);
            if (add_f32(w, k, 2, l->down.shape, l->down.data, OMA_ST_F32, e, sizeof e))
                goto fail;
            snprintf(k, sizeof k, "lora.%s.up", tr->net.a[i].name);
            if (add_f32(w, k, 2, l->up.shape, l->up.data, OMA_ST_F32, e, sizeof e))
                goto fail;
        }
    for (int i = 0; i < tr->opt.n_params; i++) {
        const oma_adamw_param *p = &tr->opt.params[i];
        char k[64];
        int64_t s[1] = {p->n};
        snprintf(k, sizeof k, "adam.%d.m", i);
        if (add_f32(w, k, 1, s, p->m, OMA_ST_F32, e, sizeof e))
            goto fail;
        snprintf(k, sizeof k, "adam.%d.v", i);
        if (add_f32(w, k, 1, s, p->v, OMA_ST_F32, e, sizeof e))
            goto fail;
    }
    if (oma_st_writer_save(w, path, e, sizeof e) != 0) {
        snprintf(err, errlen, "train: checkpoint %s (the last good one is kept)", e);
        rc = -2;
        goto fail;
    }
    rc = 0;
fail:
    if (rc == -1)
        snprintf(err, errlen, "train: checkpoint %s: %s", path, e[0] ? e : "out of memory");
    if (rc)
        rc = -1;
    free(perm);
    oma_st_writer_free(w);
    return rc;
}

/* Reads a whole tensor of exactly this shape into dst, all values finite. */
static int read_exact(oma_safetensors *st, const char *name, int ndim, const int64_t *shape,
                      float *dst, char *e, size_t el)
{
    const oma_st_tensor *t = oma_st_find(st, name);
    if (!t) {
        snprintf(e, el, "tensor '%s' missing", name);
        return -1;
    }
    if (oma_st_check_shape(t, ndim, shape, e, el) != 0 ||
        oma_st_read_f32(t, dst, (size_t)t->numel, e, el) != 0)
        return -1;
    for (int64_t i = 0; i < t->numel; i++)
        if (!isfinite(dst[i])) {
            snprintf(e, el, "tensor '%s' holds a non-finite value", name);
            return -1;
        }
    return 0;
}

static int meta_i64(oma_safetensors *st, const char *k, int64_t lo, int64_t hi, int64_t *out,
                    char *e, size_t el)
{
    const char *v = oma_st_metadata(st, k);
    char *end;
    long long x = v ? strtoll(v, &end, 10) : 0;
    if (!v || *end || x < lo || x > hi) {
        snprintf(e, el, "metadata '%s' missing or out of range", k);
        return -1;
    }
    *out = x;
    return 0;
}

int oma_style_checkpoint_load(const char *path, oma_style_trainer *tr, oma_style_run *run,
                              int rank, double lr_unet, double lr_text, double lr_emb,
                              double lr_ti, char *err, size_t errlen)
{
    oma_safetensors *st = NULL;
    char e[512] = "";
    int rc = -1;
    if (oma_st_open(path, &st, e, sizeof e) != 0) {
        snprintf(err, errlen, "train: checkpoint %s", e);   /* e names the file */
        return -1;
    }
    const char *fmt = oma_st_metadata(st, "format"), *fp = oma_st_metadata(st, "fingerprint");
    const char *rs = oma_st_metadata(st, "rng");
    if (!fmt || strcmp(fmt, CKPT_FORMAT) != 0) {
        snprintf(e, sizeof e, "not a style training checkpoint (format %s)", fmt ? fmt : "none");
        goto fail;
    }
    char want[32];
    snprintf(want, sizeof want, "%016" PRIx64, run->fingerprint);
    if (!fp || strcmp(fp, want) != 0) {
        snprintf(e, sizeof e, "made from other images or settings (fingerprint %s, this run %s)",
                 fp ? fp : "none", want);
        goto fail;
    }
    int64_t stage, step, adam_step, adam_params;
    if (meta_i64(st, "stage", 1, 2, &stage, e, sizeof e) ||
        meta_i64(st, "step", 0, MAX_STEPS, &step, e, sizeof e) ||
        meta_i64(st, "adam_step", 0, MAX_STEPS, &adam_step, e, sizeof e) ||
        meta_i64(st, "adam_params", 0, 1 << 20, &adam_params, e, sizeof e))
        goto fail;
    oma_train_rng rng;
    char cached[64];
    if (!rs || sscanf(rs, "%" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64 " %d %63s", &rng.s[0],
                      &rng.s[1], &rng.s[2], &rng.s[3], &rng.has_normal, cached) != 6 ||
        (rng.has_normal != 0 && rng.has_normal != 1)) {
        snprintf(e, sizeof e, "metadata 'rng' unreadable");
        goto fail;
    }
    rng.cached_normal = strtod(cached, NULL);
    if (!isfinite(rng.cached_normal)) {
        snprintf(e, sizeof e, "metadata 'rng' unreadable");
        goto fail;
    }
    /* the optimizer of that stage, then its state */
    if (stage == 1 ? oma_style_trainer_begin_ti(tr, lr_ti, e, sizeof e)
                   : oma_style_trainer_begin_lora(tr, rank, NULL, NULL, lr_unet, lr_text, lr_emb,
                                                  e, sizeof e))
        goto fail;
    if (adam_params != tr->opt.n_params) {
        snprintf(e, sizeof e, "%" PRId64 " optimizer parameters, this run has %d", adam_params,
                 tr->opt.n_params);
        goto fail;
    }
    int64_t es[2] = {2, tr->hidden}, ns[1] = {tr->n_samples}, ls[1] = {step};
    if (read_exact(st, "emb", 2, es, tr->emb, e, sizeof e))
        goto fail;
    float *perm = malloc(sizeof(float) * (size_t)tr->n_samples);
    float *loss = malloc(sizeof(float) * (size_t)(step ? step : 1));
    if (!perm || !loss) {
        free(perm);
        free(loss);
        snprintf(e, sizeof e, "out of memory");
        goto fail;
    }
    int bad = read_exact(st, "perm", 1, ns, perm, e, sizeof e) ||
              (step > 0 && read_exact(st, "loss", 1, ls, loss, e, sizeof e));
    for (int i = 0; !bad && i < tr->n_samples; i++) {
        int v = (int)perm[i], dup = 0;
        for (int j = 0; j < i; j++)
            dup |= (int)perm[j] == v;
        if (perm[i] != (float)v || v < 0 || v >= tr->n_samples || dup) {
            snprintf(e, sizeof e, "tensor 'perm' is not an order of the %d samples", tr->n_samples);
            bad = 1;
        }
    }
    if (bad) {
        free(perm);
        free(loss);
        goto fail;
    }
    for (int i = 0; i < tr->n_samples; i++)
        run->perm[i] = (int)perm[i];
    free(perm);
    free(run->loss);
    run->loss = loss;
    run->loss_cap = step ? step : 1;
    if (stage == 2)
        for (int i = 0; i < tr->net.n; i++) {
            oma_lora *l = &tr->net.a[i].lora;
            char k[OMA_STYLE_NAME_MAX + 16];
            snprintf(k, sizeof k, "lora.%s.down", tr->net.a[i].name);
            if (read_exact(st, k, 2, l->down.shape, l->down.data, e, sizeof e))
                goto fail;
            snprintf(k, sizeof k, "lora.%s.up", tr->net.a[i].name);
            if (read_exact(st, k, 2, l->up.shape, l->up.data, e, sizeof e))
                goto fail;
        }
    for (int i = 0; i < tr->opt.n_params; i++) {
        oma_adamw_param *p = &tr->opt.params[i];
        char k[64];
        int64_t s[1] = {p->n};
        snprintf(k, sizeof k, "adam.%d.m", i);
        if (read_exact(st, k, 1, s, p->m, e, sizeof e))
            goto fail;
        snprintf(k, sizeof k, "adam.%d.v", i);
        if (read_exact(st, k, 1, s, p->v, e, sizeof e))
            goto fail;
        for (int64_t j = 0; j < p->n; j++)
            if (p->v[j] < 0) {
                snprintf(e, sizeof e, "tensor '%s' holds a negative second moment", k);
                goto fail;
            }
        p->step = adam_step;
    }
    run->stage = (int)stage;
    run->step = step;
    run->rng = rng;
    rc = 0;
fail:
    if (rc)
        snprintf(err, errlen, "train: checkpoint %s: %s", path, e);
    oma_st_close(st);
    return rc;
}

int oma_style_export(const char *lora_path, const char *emb_path, const oma_style_trainer *tr,
                     const oma_style_meta *meta, char *err, size_t errlen)
{
    oma_st_writer *w = oma_st_writer_new(), *we = oma_st_writer_new();
    char e[256] = "";
    const char *which = lora_path;
    int rc = -1;
    if (!w || !we)
        goto fail;
    int64_t es[2] = {2, tr->hidden}, rs[1] = {tr->hidden};
    int rank = tr->net.n ? (int)tr->net.a[0].lora.rank : 0;
    oma_st_writer *both[2] = {w, we};
    for (int i = 0; i < 2; i++)
        if (meta_set(both[i], "ss_network_module", "networks.lora") ||
            meta_set(both[i], "ss_network_dim", "%d", rank) ||
            meta_set(both[i], "ss_network_alpha", "%d", rank) ||
            meta_set(both[i], "ss_base_model_version", "sd_v1") ||
            meta_set(both[i], "ss_v2", "False") ||
            meta_set(both[i], "ss_resolution", "(%d, %d)", meta->resolution, meta->resolution) ||
            meta_set(both[i], "ss_num_train_images", "%d", meta->n_images) ||
            meta_set(both[i], "ss_seed", "%" PRIu64, meta->seed) ||
            meta_set(both[i], "oma_recipe", "lora_pti style (textual inversion, then LoRA)") ||
            meta_set(both[i], "oma_base_model", "%s", meta->base_model) ||
            meta_set(both[i], "oma_base_model_fnv1a64", "%016" PRIx64, meta->base_hash) ||
            meta_set(both[i], "oma_steps_ti", "%d", meta->steps_ti) ||
            meta_set(both[i], "oma_steps_lora", "%d", meta->steps_lora) ||
            meta_set(both[i], "oma_rank", "%d", rank) ||
            meta_set(both[i], "oma_resolution", "%d", meta->resolution) ||
            meta_set(both[i], "oma_tokens", "<s1><s2>") ||
            meta_set(both[i], "oma_embedding_name", "%s", meta->name))
            goto fail;
    for (int i = 0; i < tr->net.n; i++) {
        const oma_style_adapter *a = &tr->net.a[i];
        char k[OMA_STYLE_NAME_MAX + 32];
        float alpha = (float)a->lora.rank;
        snprintf(k, sizeof k, "%s.lora_down.weight", a->name);
        if (add_f32(w, k, 2, a->lora.down.shape, a->lora.down.data, OMA_ST_F16, e, sizeof e))
            goto fail;
        /* kohya scale alpha / rank = 1: the trained scale (1) needs no folding */
        snprintf(k, sizeof k, "%s.lora_up.weight", a->name);
        if (add_f32(w, k, 2, a->lora.up.shape, a->lora.up.data, OMA_ST_F16, e, sizeof e))
            goto fail;
        snprintf(k, sizeof k, "%s.alpha", a->name);
        if (add_f32(w, k, 0, NULL, &alpha, OMA_ST_F16, e, sizeof e))
            goto fail;
    }
    char k[256];
    snprintf(k, sizeof k, "bundle_emb.%s.string_to_param.*", meta->name);
    if (add_f32(w, k, 2, es, tr->emb, OMA_ST_F32, e, sizeof e) ||
        add_f32(w, "<s1>", 1, rs, tr->emb, OMA_ST_F32, e, sizeof e) ||
        add_f32(w, "<s2>", 1, rs, tr->emb + tr->hidden, OMA_ST_F32, e, sizeof e) ||
        meta_set(w, "<s1>", "<embed>") || meta_set(w, "<s2>", "<embed>"))
        goto fail;
    if (oma_st_writer_save(w, lora_path, e, sizeof e) != 0)
        goto saved;
    which = emb_path;
    if (add_f32(we, "emb_params", 2, es, tr->emb, OMA_ST_F32, e, sizeof e))
        goto fail;
    if (oma_st_writer_save(we, emb_path, e, sizeof e) != 0)
        goto saved;
    rc = 0;
    goto fail;
saved:  /* the writer's message names the file */
    snprintf(err, errlen, "train: %s", e);
    rc = -2;
fail:
    if (rc == -1)
        snprintf(err, errlen, "train: %s: %s", which, e[0] ? e : "out of memory");
    if (rc)
        rc = -1;
    oma_st_writer_free(w);
    oma_st_writer_free(we);
    return rc;
}
