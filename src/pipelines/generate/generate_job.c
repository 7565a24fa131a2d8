/* generate_job.c — the generate.txt2img and generate.img2img job kinds.
 *
 * A kind is offered when OMA_MODELS holds a Stable Diffusion 1.x model (sd_find.h: the first
 * by name, or the one params.model names). Loading SD takes seconds and gigabytes, so the
 * last model loaded stays in memory, shared by the workers
 * behind one lock (generations run one at a time: each already uses every core).
 * Outputs image-0.png .. image-(batch-1).png with A1111 "parameters" chunks; progress after
 * every step with a cheap latent preview every 4 steps.
 * Styles: params "loras" / "embeddings" (and <lora:NAME:W> in the prompt) are applied to the
 * shared model for the job and taken off after it (pipelines/generate/generate.h, oma_generate_styled),
 * so the next job starts from the exact base weights. A trained style of the webtoon
 * (params.style_id of a "lora" style; the worker fills params.style with its file's path) adds
 * ", style of <s1><s2>" and its LoRA at the original service's weights (add_trained_style).
 * Precision: params.precision ("bf16" / "fp32"), else oma_generate_precision_default() (bf16 on
 * CPUs that run it natively); set for this job's thread only and said in the result.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/generate/generate.h"
#include "pipelines/job_kind.h"
#include "pipelines/generate/sd_find.h"
#include "tensor/backend.h"
#include "tensor/device_backend.h"

#define PATH_MAX_LEN 4096

static int available(const char *models_dir)
{
    char p[PATH_MAX_LEN];
    return oma_sd_find_model(models_dir, NULL, p, sizeof p) == 0;
}

/* ---- params ---- */

static int get_int(const json_t *o, const char *k, long long lo, long long hi, long long *v, char *err,
                   size_t errlen)
{
    json_t *j = json_object_get(o, k);
    if (!j) return 0;
    if (!json_is_integer(j) || json_integer_value(j) < lo || json_integer_value(j) > hi) {
        snprintf(err, errlen, "%s must be an integer in %lld..%lld", k, lo, hi);
        return -1;
    }
    *v = json_integer_value(j);
    return 0;
}

static int get_num(const json_t *o, const char *k, double lo, double hi, double *v, char *err,
                   size_t errlen)
{
    json_t *j = json_object_get(o, k);
    if (!j) return 0;
    if (!json_is_number(j) || !(json_number_value(j) >= lo && json_number_value(j) <= hi)) {
        snprintf(err, errlen, "%s must be a number in %g..%g", k, lo, hi);
        return -1;
    }
    *v = json_number_value(j);
    return 0;
}

static int get_str(const json_t *o, const char *k, const char **v, char *err, size_t errlen)
{
    json_t *j = json_object_get(o, k);
    if (!j) return 0;
    if (!json_is_string(j) || json_string_length(j) > 4000) {
        snprintf(err, errlen, "%s must be a string (at most 4000 bytes)", k);
        return -1;
    }
    *v = json_string_value(j);
    return 0;
}

/* ---- styles: "loras": [{"name"|"path", "weight", "unet_weight", "text_weight"}],
 * "embeddings": ["NAME" | {"name"|"path"}]. A name is looked up in OMA_MODELS/Lora or
 * OMA_MODELS/embeddings; a path (a trained style's file) must lie inside the server's data folder
 * or the models folder, so a request cannot make the worker read any other file. ---- */

#define JOB_MAX_STYLES 16

typedef struct job_styles {
    oma_sd_lora loras[JOB_MAX_STYLES];
    const char *embs[JOB_MAX_STYLES];
    char paths[2 * JOB_MAX_STYLES][PATH_MAX_LEN];
    int n_loras, n_embs;
} job_styles;

/* path lies inside dir: written under it with no ".." (links the owner put there are followed),
 * or resolving inside it. */
static int inside(const char *path, const char *dir)
{
    if (!dir || !*dir || strstr(path, "/../") || !strncmp(path, "../", 3) ||
        (strlen(path) >= 3 && !strcmp(path + strlen(path) - 3, "/..")))
        return 0;
    size_t l = strlen(dir);
    while (l > 1 && dir[l - 1] == '/') l--;
    if (strncmp(path, dir, l) == 0 && path[l] == '/') return 1;
    char rp[PATH_MAX_LEN], rd[PATH_MAX_LEN];
    if (!realpath(path, rp) || !realpath(dir, rd)) return 0;
    l = strlen(rd);
    return strncmp(rp, rd, l) == 0 && rp[l] == '/';
}

/* One entry: a name (string or {"name"}) or {"path"}; into *out (points into params or buf). */
static int style_ref(const json_t *j, const char *what, const char *data_dir, const char *models_dir, int check_path,
                     char *buf, const char **out, char *err, size_t errlen)
{
    const json_t *name = json_is_string(j) ? j : json_object_get(j, "name"), *path = json_object_get(j, "path");
    if (json_is_string(name) && !path) {
        if (!oma_sd_model_name_ok(json_string_value(name))) {
            snprintf(err, errlen, "%s: name must be a file name inside the models folder", what);
            return -1;
        }
        *out = json_string_value(name);
        return 0;
    }
    if (json_is_string(path) && !name && json_string_length(path) < PATH_MAX_LEN - 1) {
        if (check_path && !inside(json_string_value(path), data_dir) && !inside(json_string_value(path), models_dir)) {
            snprintf(err, errlen, "%s: path must be a file inside the data or models folder", what);
            return -1;
        }
        snprintf(buf, PATH_MAX_LEN, "%s", json_string_value(path));
        *out = buf;
        return 0;
    }
    snprintf(err, errlen, "%s: give a \"name\" or a \"path\"", what);
    return -1;
}

static int read_styles(const json_t *params, const char *data_dir, const char *models_dir, int check_path,
                       job_styles *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof *s);
    const json_t *l = json_object_get(params, "loras"), *e = json_object_get(params, "embeddings");
    if ((l && (!json_is_array(l) || json_array_size(l) > JOB_MAX_STYLES)) ||
        (e && (!json_is_array(e) || json_array_size(e) > JOB_MAX_STYLES))) {
        snprintf(err, errlen, "loras and embeddings must be arrays of at most %d entries", JOB_MAX_STYLES);
        return -1;
    }
    size_t i;
    json_t *it;
    json_array_foreach(l, i, it) {
        oma_sd_lora *x = &s->loras[s->n_loras];
        if (!json_is_object(it) ||
            style_ref(it, "loras", data_dir, models_dir, check_path, s->paths[i], &x->path, err, errlen) != 0) {
            if (!json_is_object(it)) snprintf(err, errlen, "loras: each entry must be an object");
            return -1;
        }
        double w = 1, uw, tw;
        if (get_num(it, "weight", -10, 10, &w, err, errlen) != 0) return -1;
        uw = tw = w;
        if (get_num(it, "unet_weight", -10, 10, &uw, err, errlen) != 0 ||
            get_num(it, "text_weight", -10, 10, &tw, err, errlen) != 0)
            return -1;
        x->unet_weight = (float)uw;
        x->text_weight = (float)tw;
        s->n_loras++;
    }
    json_array_foreach(e, i, it) {
        if (style_ref(it, "embeddings", data_dir, models_dir, check_path, s->paths[JOB_MAX_STYLES + i],
                      &s->embs[s->n_embs], err, errlen) != 0)
            return -1;
        s->n_embs++;
    }
    return 0;
}

/* A trained style picked on the Background page (params.style of kind "lora", which the worker
 * fills from params.style_id with lora_path set to the style's file in the data folder), the
 * original service's way: the prompt becomes "{prompt}, style of <s1><s2>" and the style's LoRA,
 * which holds its embedding too, is applied at UNet 0.8 / text 0.9 for txt2img and 0.3 / 0.3
 * for img2img. *prompt_out gets the new prompt (malloc'ed) or stays NULL when there is no
 * trained style. 0, or -1 with err. */
static int add_trained_style(const json_t *params, int img2img, const char *data_dir, job_styles *s,
                             char **prompt_out, char *err, size_t errlen)
{
    *prompt_out = NULL;
    const json_t *style = json_object_get(params, "style");
    const char *kind = json_string_value(json_object_get(style, "kind"));
    if (!kind || strcmp(kind, "lora") != 0) return 0;
    const char *tokens = json_string_value(json_object_get(style, "tokens"));
    const char *lora = json_string_value(json_object_get(style, "lora_path"));
    const char *prompt = json_string_value(json_object_get(params, "prompt"));
    size_t nt = tokens ? strlen(tokens) : 0;
    int ok = nt >= 3 && nt <= 64 && tokens[0] == '<' && tokens[nt - 1] == '>';
    for (size_t i = 0; ok && i < nt; i++) {
        char c = tokens[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '<' ||
             c == '>' || c == '-';
    }
    if (!ok) {
        snprintf(err, errlen, "style: tokens must look like <s1><s2>");
        return -1;
    }
    if (!lora || strlen(lora) >= PATH_MAX_LEN || !inside(lora, data_dir)) {
        snprintf(err, errlen, "style: its LoRA file is not in the server's data folder");
        return -1;
    }
    if (s->n_loras >= JOB_MAX_STYLES) {
        snprintf(err, errlen, "too many LoRAs with the style's own");
        return -1;
    }
    size_t n = strlen(prompt ? prompt : "") + nt + 16;
    char *np = malloc(n);
    if (!np) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(np, n, "%s, style of %s", prompt ? prompt : "", tokens);
    oma_sd_lora *x = &s->loras[s->n_loras];
    snprintf(s->paths[s->n_loras], PATH_MAX_LEN, "%s", lora);
    x->path = s->paths[s->n_loras];
    x->unet_weight = img2img ? 0.3f : 0.8f;
    x->text_weight = img2img ? 0.3f : 0.9f;
    s->n_loras++;
    *prompt_out = np;
    return 0;
}

/* Reads params into p (strings point into params). */
/* params.precision: "bf16" or "fp32", NULL when left out (oma_generate_precision_default) */
static int read_precision(const json_t *params, const char **prec, char *err, size_t errlen)
{
    *prec = NULL;
    if (get_str(params, "precision", prec, err, errlen) != 0) return -1;
    if (*prec && strcmp(*prec, "bf16") != 0 && strcmp(*prec, "fp32") != 0) {
        snprintf(err, errlen, "precision must be \"bf16\" or \"fp32\"");
        return -1;
    }
    if (*prec && !strcmp(*prec, "bf16") && !oma_precision_bf16_available()) {
        snprintf(err, errlen, "precision bf16 is not available here (it needs oneDNN in the build)");
        return -1;
    }
    return 0;
}

static int read_params(const json_t *params, int img2img, oma_generate_params *p, const char **model,
                       char *err, size_t errlen)
{
    oma_generate_defaults(p);
    *model = NULL;
    if (!json_is_object(params)) {
        snprintf(err, errlen, "params must be an object");
        return -1;
    }
    const char *prompt = NULL, *sampler = NULL;
    long long steps = p->steps, seed = 0, width = p->width, height = p->height, batch = 1, clip_skip = 1;
    long long draft = 0, draft_branch = 0;
    double cfg = p->cfg, strength = p->strength;
    if (get_str(params, "prompt", &prompt, err, errlen) || get_str(params, "negative", &p->negative, err, errlen) ||
        get_str(params, "sampler", &sampler, err, errlen) || get_str(params, "model", model, err, errlen) ||
        get_int(params, "steps", 1, 150, &steps, err, errlen) ||
        get_int(params, "seed", 0, 4294967295LL, &seed, err, errlen) ||
        get_int(params, "width", 64, OMA_GEN_MAX_SIDE, &width, err, errlen) ||
        get_int(params, "height", 64, OMA_GEN_MAX_SIDE, &height, err, errlen) ||
        get_int(params, "batch", 1, OMA_GEN_MAX_BATCH, &batch, err, errlen) ||
        get_int(params, "clip_skip", 1, 5, &clip_skip, err, errlen) ||
        get_int(params, "draft", 0, OMA_GEN_MAX_DRAFT, &draft, err, errlen) ||
        get_int(params, "draft_branch", 0, 3 * OMA_SD_MAX_BLOCKS, &draft_branch, err, errlen) ||
        get_num(params, "cfg", 0, 30, &cfg, err, errlen) || get_num(params, "strength", 0.01, 1, &strength, err, errlen))
        return -1;
    if (!prompt) {
        snprintf(err, errlen, "prompt is required");
        return -1;
    }
    if (sampler && oma_sampler_parse(sampler, &p->sampler) != 0) {
        snprintf(err, errlen, "sampler must be one of %s", oma_sampler_names_line());
        return -1;
    }
    if (*model && !oma_sd_model_name_ok(*model)) {
        snprintf(err, errlen, "model must be a name inside the models folder");
        return -1;
    }
    p->prompt = prompt;
    p->steps = (int)steps;
    p->seed = (uint64_t)seed;
    p->width = (int)width;
    p->height = (int)height;
    p->batch = (int)batch;
    p->clip_skip = (int)clip_skip - 1;
    p->draft = (int)draft, p->draft_branch = (int)draft_branch;
    p->cfg = (float)cfg;
    p->strength = (float)strength;
    json_t *cand = json_object_get(params, "candidates");
    if (cand && !json_is_boolean(cand)) {
        snprintf(err, errlen, "candidates must be true or false");
        return -1;
    }
    if (json_is_true(cand)) {
        /* the original service's six img2img candidates (oma_generate_candidate_strengths),
         * batched UNet passes; batch becomes 6 */
        static const double six[OMA_GEN_CANDIDATES] = {0.45, 0.45, 0.45 + 0.10, 0.45 + 0.10, 0.45 + 0.20, 0.45 + 0.20};
        if (!img2img) {
            snprintf(err, errlen, "candidates is for img2img");
            return -1;
        }
        p->batch = OMA_GEN_CANDIDATES;
        p->strengths = six;
    }
    const char *prec;
    if (read_precision(params, &prec, err, errlen) != 0) return -1;
    static job_styles chk_styles;     /* validation only: shapes of the entries, no file access */
    static pthread_mutex_t chk_lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&chk_lock);
    int bad = read_styles(params, NULL, NULL, 0, &chk_styles, err, errlen);
    pthread_mutex_unlock(&chk_lock);
    if (bad) return -1;
    oma_generate_params chk = *p;
    static const oma_image dummy = {64, 64, 3, NULL};
    if (img2img) chk.init = &dummy;
    return oma_generate_check(&chk, err, errlen);
}

static int validate_txt(const json_t *params, char *err, size_t errlen)
{
    oma_generate_params p;
    const char *model;
    return read_params(params, 0, &p, &model, err, errlen);
}

static int validate_img(const json_t *params, char *err, size_t errlen)
{
    oma_generate_params p;
    const char *model;
    return read_params(params, 1, &p, &model, err, errlen);
}

/* ---- the shared model ---- */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static oma_sd_model g_model;
static char g_path[PATH_MAX_LEN];
static int g_loaded, g_has_encoder;

static int ensure_model(const char *path, int need_encoder, char *err, size_t errlen)
{
    if (g_loaded && strcmp(g_path, path) == 0 && (g_has_encoder || !need_encoder)) return 0;
    if (g_loaded) {
        oma_sd_model_free(&g_model);
        g_loaded = 0;
    }
    /* load the encoder too: img2img is the Background page's main use. OMA_HALF_WEIGHTS=1
     * keeps fp16/bf16 weights 16-bit (half the memory, same results). */
    const char *half = getenv("OMA_HALF_WEIGHTS");
    int flags = OMA_SD_LOAD_ENCODER | ((half && *half == '1') ? OMA_SD_LOAD_HALF : 0);
    if (oma_sd_model_load(path, NULL, flags, &g_model, err, errlen) != 0) return -1;
    snprintf(g_path, sizeof g_path, "%s", path);
    g_loaded = 1;
    g_has_encoder = 1;
    return 0;
}

typedef struct {
    oma_job_ctx *ctx;
    int total_steps;
} prog_ctx;

static int on_progress(void *c, int step, int total, const oma_image *preview)
{
    prog_ctx *pc = c;
    char msg[64];
    snprintf(msg, sizeof msg, "step %d/%d", step, total);
    uint8_t *png = NULL;
    size_t len = 0;
    char err[128];
    if (preview) (void)oma_image_encode_png(preview, NULL, NULL, &png, &len, err, sizeof err);
    /* leave the last 5% for decoding */
    int cancel = pc->ctx->progress(pc->ctx, 0.95 * step / (total > 0 ? total : 1), msg, png, png ? len : 0);
    free(png);
    return cancel;
}

static int run(oma_job_ctx *ctx, int img2img)
{
    oma_generate_params p;
    const char *model = NULL;
    if (read_params(ctx->params, img2img, &p, &model, ctx->error, sizeof ctx->error) != 0) return -1;
    char path[PATH_MAX_LEN];
    if (oma_sd_find_model(ctx->models_dir, model, path, sizeof path) != 0) {
        snprintf(ctx->error, sizeof ctx->error, "no Stable Diffusion model found in the models folder");
        return -1;
    }
    oma_image init = {0};
    if (img2img) {
        const oma_job_input *in = oma_job_input_find(ctx, "image");
        if (!in) {
            snprintf(ctx->error, sizeof ctx->error, "input 'image' is required");
            return -1;
        }
        char err[256];
        if (oma_image_decode(in->data, in->len, 3, 1, NULL, &init, err, sizeof err) != 0) {
            snprintf(ctx->error, sizeof ctx->error, "image: %s", err);
            return -1;
        }
        p.init = &init;
    }
    job_styles *styles = calloc(1, sizeof *styles);
    if (!styles || read_styles(ctx->params, ctx->data_dir, ctx->models_dir, 1, styles, ctx->error,
                               sizeof ctx->error) != 0) {
        if (!styles) snprintf(ctx->error, sizeof ctx->error, "out of memory");
        free(styles);
        oma_image_free(&init);
        return -1;
    }
    char *styled_prompt = NULL;
    if (add_trained_style(ctx->params, img2img, ctx->data_dir, styles, &styled_prompt, ctx->error,
                          sizeof ctx->error) != 0) {
        free(styles);
        oma_image_free(&init);
        return -1;
    }
    if (styled_prompt) p.prompt = styled_prompt;
    p.loras = styles->loras;
    p.n_loras = styles->n_loras;
    p.embeddings = styles->embs;
    p.n_embeddings = styles->n_embs;
    p.models_dir = ctx->models_dir;
    prog_ctx pc = {ctx, p.steps};
    p.progress = on_progress;
    p.progress_ctx = &pc;
    p.preview_every = 4;
    oma_image imgs[OMA_GEN_MAX_BATCH];
    memset(imgs, 0, sizeof imgs);
    char cfg_name[sizeof g_model.config_path] = "";
    /* this job's precision, on this thread only: a training job on another worker keeps its own */
    const char *prec = NULL;
    (void)read_precision(ctx->params, &prec, ctx->error, sizeof ctx->error);    /* checked above */
    if (!prec) prec = oma_generate_precision_default();
    if (oma_devbackend_active()) prec = "fp32";    /* a device computes in fp32 (docs/cuda.md) */
    pthread_mutex_lock(&g_lock);
    int rc = ctx->progress(ctx, 0.0, "loading the model", NULL, 0) ? 1 : 0;
    if (rc == 0 && ensure_model(path, img2img, ctx->error, sizeof ctx->error) != 0) rc = -1;
    if (rc == 0 && oma_precision_set_thread(prec) != 0) {
        snprintf(ctx->error, sizeof ctx->error, "precision %s is not available here (bf16 needs oneDNN in the build)",
                 prec);
        rc = -1;
    }
    if (rc == 0) {
        oma_generate_resolve_size(&g_model, &p);    /* width/height left out: the model's own */
        rc = oma_generate_styled(&g_model, &p, imgs, ctx->error, sizeof ctx->error);
        /* the single file's LDM yaml (or config folder) when one was used: its file name */
        const char *slash = strrchr(g_model.config_path, '/');
        snprintf(cfg_name, sizeof cfg_name, "%s", slash ? slash + 1 : g_model.config_path);
    }
    oma_precision_set_thread(NULL);
    pthread_mutex_unlock(&g_lock);
    free(styles);
    oma_image_free(&init);
    if (rc != 0) {
        if (rc == 1) snprintf(ctx->error, sizeof ctx->error, "cancelled");
        free(styled_prompt);
        return -1;
    }
    json_t *seeds = json_array();
    int status = seeds ? 0 : -1;
    for (int i = 0; i < p.batch && status == 0; i++) {
        char name[32], params[8192], err[256];
        uint8_t *png = NULL;
        size_t len = 0;
        snprintf(name, sizeof name, "image-%d.png", i);
        oma_generate_params q = p;      /* each candidate's own strength in its parameters text */
        if (p.strengths) q.strength = (float)p.strengths[i];
        if (oma_generate_parameters_text(&q, p.seed + (uint64_t)i, params, sizeof params) != 0 ||
            oma_image_encode_png(&imgs[i], "parameters", params, &png, &len, err, sizeof err) != 0 ||
            ctx->add_output(ctx, name, "image/png", png, len) != 0) {
            snprintf(ctx->error, sizeof ctx->error, "cannot store %s", name);
            status = -1;
        }
        free(png);
        if (status == 0) json_array_append_new(seeds, json_integer((json_int_t)(p.seed + (uint64_t)i)));
    }
    for (int i = 0; i < p.batch; i++) oma_image_free(&imgs[i]);
    free(styled_prompt);
    if (status != 0) {
        json_decref(seeds);
        return -1;
    }
    const char *cfgp = cfg_name[0] ? cfg_name : NULL;
    ctx->result = json_pack("{s:i, s:o, s:s, s:i, s:f, s:s, s:s, s:i, s:i, s:s?}", "images", p.batch, "seeds", seeds,
                            "sampler", oma_sampler_name(p.sampler), "steps", p.steps, "cfg", (double)p.cfg,
                            "engine", "stable-diffusion-cpu", "precision", prec, "width", p.width, "height",
                            p.height, "config", cfgp);
    /* draft mode: an approximate image, said so in the result (and in each PNG's parameters) */
    if (ctx->result && p.draft &&
        json_object_set_new(ctx->result, "draft",
                            json_pack("{s:s, s:i, s:i}", "method", "DeepCache", "interval", p.draft, "branch",
                                      p.draft_branch)) != 0) {
        snprintf(ctx->error, sizeof ctx->error, "out of memory");
        return -1;
    }
    return 0;
}

/* After a job the engine's per-thread convolution buffers (up to ~1.6 GB after a 512x512 VAE
 * decode) go back to the system: a server worker may sit idle for hours. */
static int run_and_release(oma_job_ctx *ctx, int img2img)
{
    int rc = run(ctx, img2img);
    oma_cpu_scratch_release_all();
    return rc;
}

static int run_txt(oma_job_ctx *ctx) { return run_and_release(ctx, 0); }
static int run_img(oma_job_ctx *ctx) { return run_and_release(ctx, 1); }

static const char *const img_inputs[] = {"image", NULL};

const oma_job_kind oma_kind_generate_txt2img = {
    .name = "generate.txt2img",
    .title = "Draw a background from a prompt (Stable Diffusion)",
    .required_inputs = NULL,
    .available = available,
    .validate = validate_txt,
    .run = run_txt,
};

const oma_job_kind oma_kind_generate_img2img = {
    .name = "generate.img2img",
    .title = "Redraw a photo from a prompt (Stable Diffusion img2img)",
    .required_inputs = img_inputs,
    .available = available,
    .validate = validate_img,
    .run = run_img,
};
