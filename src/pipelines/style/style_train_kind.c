/* style_train_kind.c — job kind "style.train": learns a webtoon's style as a LoRA + embedding
 * with the training engine (train/style_train.h) on the webtoon's sample images.
 *
 * Inputs "samples" (2..50 uploads), params as style_train_job.h says; needs an SD 1.x model in
 * the models folder (offered only then, like generate.*). The samples are written into a
 * private work folder and the engine runs there. What the job system sees:
 * - progress with a "detail" object: stage, step, steps, total_step, total_steps, loss, eta_s,
 *   the loss history [[total_step, loss], ...] (the live curve), sample_steps and resumed_from;
 * - each sample image as the job's preview (and kept: outputs sample-NNNNNN.png at the end);
 * - each engine checkpoint copied into the job's state storage with the loss history up to it.
 *   A later attempt (worker killed, server restarted, shutdown) fetches both back before it
 *   starts the engine, which resumes from the checkpoint: same step, the curve continues.
 * Result files NAME.safetensors (kohya LoRA with the embedding inside),
 * NAME.embedding.safetensors and losses.json; result {"style": {"kind": "lora", ...},
 * "loss_count", ...} (the curve itself: losses.json, GET /api/jobs/{id}/losses) becomes
 * the webtoon's style (the worker stores it; docs/API.md lists the fields). The work folder
 * (<data>/tmp/train-<pid>-XXXXXX) is removed when the run ends; one left by a killed process is
 * removed at the next server start (server/jobs/workers_tmp.c).
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/files.h"
#include "formats/image.h"
#include "pipelines/job_kind.h"
#include "pipelines/generate/sd_find.h"
#include "pipelines/style/style_train_job.h"

#define PATH_LEN 4096
#define CHECKPOINT_MAX ((size_t)2 << 30)
#define RESULT_FILE_MAX ((size_t)1 << 30)
#define SAMPLE_MAX_BYTES ((size_t)16 << 20)
#define MAX_SAMPLE_IMAGES 200

static int available(const char *models_dir)
{
    char p[PATH_LEN];
    return oma_sd_find_model(models_dir, NULL, p, sizeof p) == 0;
}

static int validate(const json_t *params, char *err, size_t errlen)
{
    oma_style_train_opts o;
    const char *model;
    return oma_style_train_job_params(params, &o, &model, err, errlen);
}

typedef struct train_job {
    oma_job_ctx *ctx;
    char dir[PATH_LEN];          /* private work folder */
    oma_loss_history hist;
    int sample_steps[MAX_SAMPLE_IMAGES];
    int n_samples;
    int restored;                /* a stored checkpoint was fetched for the engine */
    int resumed_from;            /* total step of the checkpoint resumed from, -1 none */
    oma_style_train_progress last;
    char stage[16];
    char checkpoint_error[300];  /* the last failure to store a checkpoint (training goes on) */
    uint8_t *preview;            /* a sample not yet shown */
    size_t preview_len;
} train_job;

static int path_in(const train_job *j, const char *name, char *out, size_t len)
{
    return snprintf(out, len, "%s/%s", j->dir, name) < (int)len ? 0 : -1;
}

/* The style name as a file name: [A-Za-z0-9_.-], not starting with '.', at most 64. */
static void file_name(const char *name, char *out, size_t len)
{
    size_t k = 0;
    for (const char *p = name; *p && k + 1 < len && k < 64; p++) {
        char c = *p;
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                 c == '-' || (c == '.' && k > 0);
        out[k++] = ok ? c : '_';
    }
    out[k] = '\0';
    if (k == 0) snprintf(out, len, "style");
}

static json_t *samples_json(const train_job *j)
{
    json_t *a = json_array();
    for (int i = 0; a && i < j->n_samples; i++) json_array_append_new(a, json_integer(j->sample_steps[i]));
    return a;
}

static json_t *detail_json(const train_job *j)
{
    const oma_style_train_progress *p = &j->last;
    json_t *d = json_pack("{s:s, s:i, s:i, s:i, s:i, s:o, s:o, s:o, s:o, s:o}", "stage", j->stage, "step", p->step,
                          "steps", p->steps, "total_step", p->total_step, "total_steps", p->total_steps, "loss",
                          isfinite(p->loss) ? json_real(p->loss) : json_null(), "eta_s",
                          p->eta_s >= 0 && isfinite(p->eta_s) ? json_real(p->eta_s) : json_null(), "losses",
                          oma_loss_history_json(&j->hist), "sample_steps", samples_json(j), "resumed_from",
                          j->resumed_from >= 0 ? json_integer(j->resumed_from) : json_null());
    if (d && j->checkpoint_error[0]) json_object_set_new(d, "checkpoint_error", json_string(j->checkpoint_error));
    return d;
}

/* Sends progress (with the pending sample as preview). Non-zero = stop. */
static int report(train_job *j)
{
    oma_job_ctx *ctx = j->ctx;
    const oma_style_train_progress *p = &j->last;
    double f = p->total_steps > 0 ? 0.97 * p->total_step / p->total_steps : 0;
    char msg[160];
    if (isfinite(p->loss))
        snprintf(msg, sizeof msg, "%s: step %d/%d, loss %.4f", j->stage, p->step, p->steps, (double)p->loss);
    else
        snprintf(msg, sizeof msg, "%s", j->stage);
    int stop;
    if (ctx->progress_detail) {
        json_t *d = detail_json(j);
        stop = ctx->progress_detail(ctx, f, msg, d, j->preview, j->preview_len);
        json_decref(d);
    } else {
        stop = ctx->progress(ctx, f, msg, j->preview, j->preview_len);
    }
    free(j->preview);
    j->preview = NULL;
    j->preview_len = 0;
    return stop;
}

static int on_progress(void *c, const oma_style_train_progress *p)
{
    train_job *j = c;
    j->last = *p;
    /* the engine's first step after a resume is the one after its checkpoint */
    if (j->restored && j->resumed_from < 0 && isfinite(p->loss) && p->total_step > 0)
        j->resumed_from = p->total_step - 1;
    snprintf(j->stage, sizeof j->stage, "%s", p->stage ? p->stage : "");
    if (isfinite(p->loss) && p->total_step > 0 && oma_loss_history_add(&j->hist, p->total_step, p->loss) != 0)
        return 1; /* out of memory: stop rather than lose the curve */
    return report(j);
}

static void on_sample(void *c, const char *stage, int step, const uint8_t *rgb, int w, int h)
{
    train_job *j = c;
    (void)stage;
    /* the engine reports a step's progress before its sample: name the sample by that step */
    int at = j->last.total_step > 0 ? j->last.total_step : step;
    oma_image img = {w, h, 3, (uint8_t *)rgb};
    uint8_t *png = NULL;
    size_t len = 0;
    char err[256], name[40], path[PATH_LEN];
    if (!rgb || w <= 0 || h <= 0 || oma_image_encode_png(&img, NULL, NULL, &png, &len, err, sizeof err) != 0)
        return;
    snprintf(name, sizeof name, "sample-%06d.png", at);
    /* a repeated step after a resume replaces its image */
    int k = 0;
    while (k < j->n_samples && j->sample_steps[k] < at) k++;
    j->n_samples = k;
    if (j->n_samples < MAX_SAMPLE_IMAGES && path_in(j, name, path, sizeof path) == 0 &&
        oma_write_file(path, png, len, err, sizeof err) == 0) {
        j->sample_steps[j->n_samples++] = at;
        if (j->ctx->state_put) (void)j->ctx->state_put(j->ctx, name, path, err, sizeof err);
    }
    free(j->preview);
    j->preview = png;
    j->preview_len = len;
}

/* The loss history and sample list up to step, as the state file history.json. */
static int save_history(train_job *j, int step, char *err, size_t errlen)
{
    oma_loss_history cut = j->hist;
    oma_loss_history_cut(&cut, step);
    json_t *samples = json_array();
    for (int i = 0; samples && i < j->n_samples && j->sample_steps[i] <= step; i++)
        json_array_append_new(samples, json_integer(j->sample_steps[i]));
    json_t *h = json_pack("{s:i, s:o, s:o}", "step", step, "losses", oma_loss_history_json(&cut), "sample_steps",
                          samples);
    char *text = h ? json_dumps(h, JSON_COMPACT) : NULL;
    json_decref(h);
    char path[PATH_LEN];
    int rc = -1;
    if (!text) snprintf(err, errlen, "out of memory");
    else if (path_in(j, "history.json", path, sizeof path) != 0) snprintf(err, errlen, "path too long");
    else if (oma_write_file(path, text, strlen(text), err, errlen) == 0)
        rc = j->ctx->state_put(j->ctx, "history.json", path, err, errlen);
    free(text);
    return rc;
}

static void on_checkpoint(void *c, const char *path, int total_step)
{
    train_job *j = c;
    if (!j->ctx->state_put) return;
    char err[256] = "";
    /* the history first: a crash between the two leaves a history ahead of the checkpoint,
     * which is harmless (the resumed run reports those steps again and they replace what was
     * there); the other way round would leave a gap in the curve */
    if (save_history(j, total_step, err, sizeof err) != 0 ||
        j->ctx->state_put(j->ctx, "checkpoint", path, err, sizeof err) != 0)
        snprintf(j->checkpoint_error, sizeof j->checkpoint_error, "could not store the checkpoint of step %d: %s",
                 total_step, err);
    else
        j->checkpoint_error[0] = '\0';
}

/* Fetches a stored checkpoint and its history; 0 (restored set when there was one) or -1. */
static int restore(train_job *j, const char *ckpt, char *err, size_t errlen)
{
    j->resumed_from = -1;
    if (!j->ctx->state_get) return 0;
    char hist_path[PATH_LEN];
    if (path_in(j, "history.json", hist_path, sizeof hist_path) != 0) {
        snprintf(err, errlen, "path too long");
        return -1;
    }
    int rc = j->ctx->state_get(j->ctx, "history.json", hist_path, (size_t)16 << 20, err, errlen);
    if (rc == 1) return 0;
    if (rc != 0) return -1;
    json_error_t je;
    json_t *h = json_load_file(hist_path, JSON_REJECT_DUPLICATES, &je);
    const json_t *st = json_object_get(h, "step"), *ss = json_object_get(h, "sample_steps");
    char why[256] = "no step";
    if (!json_is_integer(st) || json_integer_value(st) < 0 || json_integer_value(st) > 1000000 ||
        oma_loss_history_from_json(&j->hist, json_object_get(h, "losses"), why, sizeof why) != 0) {
        snprintf(err, errlen, "the stored training history is damaged (%s)", h ? why : je.text);
        json_decref(h);
        return -1;
    }
    int step = (int)json_integer_value(st);
    size_t i;
    const json_t *e;
    json_array_foreach(ss, i, e) {
        char name[40], path[PATH_LEN];
        int at = json_is_integer(e) ? (int)json_integer_value(e) : -1;
        if (at < 0 || at > step || j->n_samples >= MAX_SAMPLE_IMAGES ||
            (j->n_samples > 0 && at <= j->sample_steps[j->n_samples - 1]))
            continue;
        snprintf(name, sizeof name, "sample-%06d.png", at);
        if (path_in(j, name, path, sizeof path) == 0 &&
            j->ctx->state_get(j->ctx, name, path, SAMPLE_MAX_BYTES, err, errlen) == 0)
            j->sample_steps[j->n_samples++] = at;
    }
    json_decref(h);
    err[0] = '\0';
    /* the history and the checkpoint are stored one after the other: use them only together */
    rc = j->ctx->state_get(j->ctx, "checkpoint", ckpt, CHECKPOINT_MAX, err, errlen);
    if (rc < 0) return -1;
    if (rc == 1) {
        oma_loss_history_free(&j->hist);
        j->n_samples = 0;
        return 0;
    }
    j->restored = 1;
    return 0;
}

static int add_file(oma_job_ctx *ctx, const char *path, const char *name, const char *mime, size_t max)
{
    unsigned char *data = NULL;
    size_t len = 0;
    char err[300];
    if (oma_read_file(path, max, &data, &len, err, sizeof err) != 0) {
        snprintf(ctx->error, sizeof ctx->error, "cannot read the result %s: %s", name, err);
        return -1;
    }
    int rc = ctx->add_output(ctx, name, mime, data, len);
    free(data);
    return rc;
}

static int write_inputs(train_job *j, char ***paths, int *n)
{
    oma_job_ctx *ctx = j->ctx;
    size_t count = 0;
    for (size_t i = 0; i < ctx->n_inputs; i++) count += strcmp(ctx->inputs[i].name, "samples") == 0;
    if (count < OMA_TRAIN_MIN_SAMPLES || count > OMA_TRAIN_MAX_SAMPLES) {
        snprintf(ctx->error, sizeof ctx->error, "style training needs %d..%d sample images in inputs.samples, got %zu",
                 OMA_TRAIN_MIN_SAMPLES, OMA_TRAIN_MAX_SAMPLES, count);
        return -1;
    }
    char **v = calloc(count, sizeof *v);
    if (!v) {
        snprintf(ctx->error, sizeof ctx->error, "out of memory");
        return -1;
    }
    *paths = v;
    *n = 0;
    oma_image_limits lim = oma_image_default_limits();
    for (size_t i = 0; i < ctx->n_inputs; i++) {
        const oma_job_input *in = &ctx->inputs[i];
        if (strcmp(in->name, "samples") != 0) continue;
        /* decode here once: a broken sample is named before the model loads */
        oma_image img = {0};
        char err[256], name[32], path[PATH_LEN];
        if (oma_image_decode(in->data, in->len, 3, 1, &lim, &img, err, sizeof err) != 0) {
            snprintf(ctx->error, sizeof ctx->error, "sample %d is not a usable image: %s", *n + 1, err);
            return -1;
        }
        oma_image_free(&img);
        snprintf(name, sizeof name, "sample-in-%02d", *n);
        if (path_in(j, name, path, sizeof path) != 0 || oma_write_file(path, in->data, in->len, err, sizeof err) != 0 ||
            !(v[*n] = strdup(path))) {
            snprintf(ctx->error, sizeof ctx->error, "cannot stage sample %d: %s", *n + 1, err);
            return -1;
        }
        (*n)++;
    }
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static int make_workdir(train_job *j)
{
    const char *base = j->ctx->data_dir && *j->ctx->data_dir ? j->ctx->data_dir : "/tmp";
    char parent[PATH_LEN], err[300];
    if (snprintf(parent, sizeof parent, "%s/tmp", base) >= (int)sizeof parent ||
        oma_mkdir_p(parent, err, sizeof err) != 0 ||
        snprintf(j->dir, sizeof j->dir, "%s/train-%ld-XXXXXX", parent, (long)getpid()) >= (int)sizeof j->dir ||
        !mkdtemp(j->dir)) {
        snprintf(j->ctx->error, sizeof j->ctx->error, "cannot create a work folder under %.300s", parent);
        j->dir[0] = '\0';
        return -1;
    }
    return 0;
}

static json_t *style_json(const train_job *j, const oma_style_train_opts *o, const char *model, const char *lora,
                          const char *emb, size_t n_images)
{
    float last = j->hist.n ? j->hist.loss[j->hist.n - 1] : NAN;
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:I, s:i, s:o, s:o, s:{s:f, s:f}, s:{s:f, s:f}}",
                     "kind", "lora", "tokens", "<s1><s2>", "prompt_template", "{prompt}, style of <s1><s2>", "lora",
                     lora, "embedding", emb, "rank", o->rank, "resolution", o->resolution, "steps_ti", o->steps_ti,
                     "steps_lora", o->steps_lora, "seed", (json_int_t)o->seed, "samples", (int)n_images,
                     "base_model", json_string(model), "final_loss", isfinite(last) ? json_real(last) : json_null(),
                     "txt2img", "unet", 0.8, "text", 0.9, "img2img", "unet", 0.3, "text", 0.3);
}

static int run(oma_job_ctx *ctx)
{
    oma_style_train_opts o;
    const char *model_name = NULL;
    if (oma_style_train_job_params(ctx->params, &o, &model_name, ctx->error, sizeof ctx->error) != 0) return -1;
    char model[PATH_LEN];
    if (oma_sd_find_model(ctx->models_dir, model_name, model, sizeof model) != 0) {
        snprintf(ctx->error, sizeof ctx->error, "no Stable Diffusion model found in the models folder");
        return -1;
    }
    train_job j = {.ctx = ctx, .resumed_from = -1, .stage = "prepare"};
    j.last.loss = NAN;
    j.last.eta_s = -1;
    char **images = NULL;
    int n_images = 0, rc = -1;
    char fname[72], ckpt[PATH_LEN], out_lora[PATH_LEN] = "", out_emb[PATH_LEN] = "", err[512] = "";
    file_name(json_string_value(json_object_get(ctx->params, "name")), fname, sizeof fname);
    if (make_workdir(&j) != 0) return -1;
    if (write_inputs(&j, &images, &n_images) != 0) goto end;
    if (path_in(&j, "checkpoint.bin", ckpt, sizeof ckpt) != 0) {
        snprintf(ctx->error, sizeof ctx->error, "path too long");
        goto end;
    }
    if (restore(&j, ckpt, err, sizeof err) != 0) {
        snprintf(ctx->error, sizeof ctx->error, "cannot fetch the job's checkpoint: %.400s", err);
        goto end;
    }
    if (report(&j)) {
        snprintf(ctx->error, sizeof ctx->error, "cancelled");
        goto end;
    }
    o.model_path = model;
    o.name = fname;
    o.images = (const char *const *)images;
    o.n_images = n_images;
    o.out_dir = j.dir;
    o.checkpoint_path = ctx->state_put ? ckpt : NULL;
    if (!o.checkpoint_path) o.checkpoint_every = 0;
    oma_style_train_hooks hooks = {.ctx = &j, .progress = on_progress, .sample = on_sample,
                                   .checkpoint = on_checkpoint};
    int r = oma_style_train(&o, &hooks, out_lora, sizeof out_lora, out_emb, sizeof out_emb, ctx->error,
                            sizeof ctx->error);
    if (r != 0) {
        if (r == 1) snprintf(ctx->error, sizeof ctx->error, "cancelled");
        else if (!ctx->error[0]) snprintf(ctx->error, sizeof ctx->error, "style training failed");
        goto end;
    }
    /* the results */
    char lora_name[96], emb_name[112];
    snprintf(lora_name, sizeof lora_name, "%s.safetensors", fname);
    snprintf(emb_name, sizeof emb_name, "%s.embedding.safetensors", fname);
    snprintf(j.stage, sizeof j.stage, "save");
    if (add_file(ctx, out_lora, lora_name, "application/octet-stream", RESULT_FILE_MAX) != 0 ||
        (out_emb[0] && add_file(ctx, out_emb, emb_name, "application/octet-stream", RESULT_FILE_MAX) != 0))
        goto end;
    for (int i = 0; i < j.n_samples; i++) {
        char name[40], path[PATH_LEN];
        snprintf(name, sizeof name, "sample-%06d.png", j.sample_steps[i]);
        if (path_in(&j, name, path, sizeof path) == 0 && add_file(ctx, path, name, "image/png", SAMPLE_MAX_BYTES) != 0)
            goto end;
    }
    json_t *losses = oma_loss_history_json(&j.hist);
    char *text = losses ? json_dumps(losses, JSON_COMPACT) : NULL;
    int ok = text && ctx->add_output(ctx, "losses.json", "application/json", (const uint8_t *)text, strlen(text)) == 0;
    free(text);
    json_t *style = ok ? style_json(&j, &o, model_name ? model_name : "", lora_name, out_emb[0] ? emb_name : "",
                                    (size_t)n_images)
                       : NULL;
    /* the result stays small (it rides on the done event): the curve is losses.json and
     * GET /api/jobs/{id}/losses */
    size_t n_losses = json_array_size(losses);
    json_decref(losses);
    ctx->result = style ? json_pack("{s:o, s:I, s:o, s:i}", "style", style, "loss_count", (json_int_t)n_losses,
                                    "resumed_from", j.resumed_from >= 0 ? json_integer(j.resumed_from) : json_null(),
                                    "samples", n_images)
                        : NULL;
    if (!ctx->result) {
        if (!ctx->error[0]) snprintf(ctx->error, sizeof ctx->error, "cannot store the training results");
        goto end;
    }
    j.last.total_step = j.last.total_steps;
    j.last.eta_s = 0;
    if (ctx->progress_detail) {
        json_t *d = detail_json(&j);
        r = ctx->progress_detail(ctx, 1.0, "done", d, NULL, 0);
        json_decref(d);
    } else {
        r = ctx->progress(ctx, 1.0, "done", NULL, 0);
    }
    if (r) { /* cancelled at the very end: the contract still says stop (job_kind.h) */
        json_decref(ctx->result);
        ctx->result = NULL;
        snprintf(ctx->error, sizeof ctx->error, "cancelled");
        goto end;
    }
    rc = 0;
end:
    for (int i = 0; images && i < n_images; i++) free(images[i]);
    free(images);
    free(j.preview);
    oma_loss_history_free(&j.hist);
    if (j.dir[0]) nftw(j.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}

static const char *const required[] = {"samples", NULL};

const oma_job_kind oma_kind_style_train = {
    .name = "style.train",
    .title = "Train the webtoon's style as a LoRA + embedding (Stable Diffusion)",
    .required_inputs = required,
    .available = available,
    .validate = validate,
    .run = run,
};
