/* routes_sdapi_info.c — AUTOMATIC1111's read-mostly routes: samplers, schedulers, models, LoRAs,
 * embeddings, options (per artist) and png-info.
 *
 * Samplers are whatever the generate module's table holds (oma_sampler_count/at/name), in its
 * order; a scheduler is listed when at least one of those samplers accepts it
 * (oma_sampler_parse_a1111). LoRAs and embeddings are the files of OMA_MODELS/Lora and
 * OMA_MODELS/embeddings, the folders the generate jobs read them from. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/image.h"
#include "formats/png_text.h"
#include "formats/safetensors.h"
#include "pipelines/generate/scheduler.h"
#include "pipelines/generate/sd_find.h"
#include "server/api/sdapi.h"
#include "server/http/b64.h"
#include "server/http/http_routes.h"
#include "server/server_internal.h"

static const char *models_dir(oma_req *r) { return r->srv->models_dir[0] ? r->srv->models_dir : NULL; }

/* A1111's aliases of its samplers (sd_samplers_kdiffusion.py and friends), by name. */
static json_t *sampler_aliases(const char *name)
{
    static const char *const table[][3] = {
        {"DPM++ 2M", "k_dpmpp_2m", NULL},       {"DPM++ SDE", "k_dpmpp_sde", NULL},
        {"DPM++ 2M SDE", "k_dpmpp_2m_sde", NULL}, {"DPM++ 2M SDE Heun", "k_dpmpp_2m_sde_heun", NULL},
        {"DPM++ 2S a", "k_dpmpp_2s_a", NULL},   {"DPM++ 3M SDE", "k_dpmpp_3m_sde", NULL},
        {"Euler a", "k_euler_a", "k_euler_ancestral"}, {"Euler", "k_euler", NULL},
        {"LMS", "k_lms", NULL},                 {"Heun", "k_heun", NULL},
        {"DPM2", "k_dpm_2", NULL},              {"DPM2 a", "k_dpm_2_a", NULL},
        {"DPM fast", "k_dpm_fast", NULL},       {"DPM adaptive", "k_dpm_ad", NULL},
        {"Restart", "restart", NULL},           {"DDIM", "ddim", NULL},
        {"PLMS", "plms", NULL},                 {"UniPC", "unipc", NULL},
        {"LCM", "k_lcm", NULL},                 {"DPM++ 2M Karras", "k_dpmpp_2m_ka", NULL},
    };
    json_t *a = json_array();
    for (size_t i = 0; a && i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i][0], name) == 0)
            for (int k = 1; k < 3 && table[i][k]; k++) json_array_append_new(a, json_string(table[i][k]));
    return a;
}

void oma_route_sdapi_samplers(oma_req *r)
{
    json_t *arr = json_array();
    for (int i = 0; arr && i < oma_sampler_count(); i++) {
        const char *name = oma_sampler_name(oma_sampler_at(i));
        json_t *o = json_pack("{s:s,s:o,s:{}}", "name", name, "aliases", sampler_aliases(name), "options");
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    if (!arr) oma_reply_error(r, 500, "internal", "out of memory");
    else oma_reply_json(r, 200, arr);
}

void oma_route_sdapi_schedulers(oma_req *r)
{
    /* A1111 v1.10's schedulers (sd_schedulers.py): name, label, default rho */
    static const struct { const char *name, *label; double rho; } all[] = {
        {"automatic", "Automatic", -1}, {"uniform", "Uniform", -1},       {"karras", "Karras", 7.0},
        {"exponential", "Exponential", -1}, {"polyexponential", "Polyexponential", 1.0},
        {"sgm_uniform", "SGM Uniform", -1}, {"kl_optimal", "KL Optimal", -1},
        {"align_your_steps", "Align Your Steps", -1}, {"simple", "Simple", -1}, {"normal", "Normal", -1},
        {"ddim", "DDIM", -1}, {"beta", "Beta", -1},
    };
    json_t *arr = json_array();
    for (size_t k = 0; arr && k < sizeof all / sizeof all[0]; k++) {
        int usable = k == 0;
        for (int i = 0; !usable && i < oma_sampler_count(); i++) {
            oma_sampler_kind out;
            usable = oma_sampler_parse_a1111(oma_sampler_name(oma_sampler_at(i)), all[k].label, &out) == 0;
        }
        if (!usable) continue;
        json_t *o = json_pack("{s:s,s:s,s:n,s:f,s:b}", "name", all[k].name, "label", all[k].label, "aliases",
                              "default_rho", all[k].rho, "need_inner_model", 0);
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    if (!arr) oma_reply_error(r, 500, "internal", "out of memory");
    else oma_reply_json(r, 200, arr);
}

void oma_route_sdapi_sd_models(oma_req *r)
{
    json_t *arr = sdapi_models_json(models_dir(r));
    if (!arr) oma_reply_error(r, 500, "internal", "out of memory");
    else oma_reply_json(r, 200, arr);
}

static int has_ext(const char *name, const char *const *exts, size_t *stem)
{
    size_t l = strlen(name);
    for (; *exts; exts++) {
        size_t e = strlen(*exts);
        if (l > e && strcmp(name + l - e, *exts) == 0) {
            *stem = l - e;
            return 1;
        }
    }
    return 0;
}

/* Calls fn for each regular file of models_dir/sub with one of exts, by name. */
static int each_file(const char *mdir, const char *sub, const char *const *exts,
                     int (*fn)(const char *dir, const char *name, size_t stem, void *arg), void *arg)
{
    if (!mdir) return 0;
    char dir[2048];
    if (snprintf(dir, sizeof dir, "%s/%s", mdir, sub) >= (int)sizeof dir) return 0;
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) return 0;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *e = names[i]->d_name;
        size_t stem;
        char path[4096];
        struct stat st;
        if (rc == 0 && e[0] != '.' && has_ext(e, exts, &stem) &&
            snprintf(path, sizeof path, "%s/%s", dir, e) < (int)sizeof path && stat(path, &st) == 0 &&
            S_ISREG(st.st_mode))
            rc = fn(dir, e, stem, arg);
        free(names[i]);
    }
    free(names);
    return rc;
}

static int lora_cb(const char *dir, const char *name, size_t stem, void *arg)
{
    (void)dir;
    char path[400];
    snprintf(path, sizeof path, "models/Lora/%s", name);
    json_t *o = json_pack("{s:s%,s:s%,s:s,s:{}}", "name", name, stem, "alias", name, stem, "path", path, "metadata");
    return !o || json_array_append_new(arg, o) != 0 ? -1 : 0;
}

void oma_route_sdapi_loras(oma_req *r)
{
    static const char *const exts[] = {".safetensors", ".pt", ".ckpt", NULL};
    json_t *arr = json_array();
    if (!arr || each_file(models_dir(r), "Lora", exts, lora_cb, arr) != 0) {
        json_decref(arr);
        oma_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    oma_reply_json(r, 200, arr);
}

/* An embedding's vectors and width from a .safetensors header (its one tensor, or
 * "emb_params"); 0s when the file says nothing we read. */
static void embedding_shape(const char *path, json_int_t *vectors, json_int_t *shape)
{
    *vectors = *shape = 0;
    oma_safetensors *st = NULL;
    char err[256];
    size_t l = strlen(path);
    if (l < 12 || strcmp(path + l - 12, ".safetensors") != 0 || oma_st_open(path, &st, err, sizeof err) != 0) return;
    const oma_st_tensor *t = oma_st_find(st, "emb_params");
    if (!t && oma_st_count(st) == 1) t = oma_st_at(st, 0);
    if (t && t->ndim == 2) {
        *vectors = (json_int_t)t->shape[0];
        *shape = (json_int_t)t->shape[1];
    }
    oma_st_close(st);
}

static int emb_cb(const char *dir, const char *name, size_t stem, void *arg)
{
    char path[4096], key[300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    snprintf(key, sizeof key, "%.*s", (int)stem, name);
    json_int_t vectors, shape;
    embedding_shape(path, &vectors, &shape);
    json_t *o = json_pack("{s:n,s:n,s:n,s:I,s:I}", "step", "sd_checkpoint", "sd_checkpoint_name", "shape", shape,
                          "vectors", vectors);
    return !o || json_object_set_new(arg, key, o) != 0 ? -1 : 0;
}

void oma_route_sdapi_embeddings(oma_req *r)
{
    static const char *const exts[] = {".safetensors", ".pt", ".bin", NULL};
    json_t *loaded = json_object();
    if (!loaded || each_file(models_dir(r), "embeddings", exts, emb_cb, loaded) != 0) {
        json_decref(loaded);
        oma_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    oma_reply_json(r, 200, json_pack("{s:o,s:{}}", "loaded", loaded, "skipped"));
}

void oma_route_sdapi_options_get(oma_req *r)
{
    json_t *o = sdapi_options_load(r->db, r->artist_id);
    if (!o) {
        oma_route_dberr(r, "reading your options");
        return;
    }
    sdapi_model m;
    int have = sdapi_model_current(r->db, r->artist_id, models_dir(r), &m) == 0;
    /* what clients read most, as A1111's defaults, under what the artist set */
    json_t *d = json_pack("{s:o,s:n,s:i,s:s,s:s,s:i,s:s,s:b,s:b,s:s,s:i}", "sd_model_checkpoint",
                          have ? json_string(m.name) : json_null(), "sd_checkpoint_hash", "CLIP_stop_at_last_layers", 1,
                          "samples_format", "png", "sd_vae", "Automatic", "eta_noise_seed_delta", 0,
                          "randn_source", "CPU", "enable_pnginfo", 1, "samples_save", 1, "outdir_samples", "",
                          "jpeg_quality", 80);
    if (!d) {
        json_decref(o);
        oma_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    json_object_update(d, o);
    if (have) json_object_set_new(d, "sd_model_checkpoint", json_string(m.name));
    json_decref(o);
    oma_reply_json(r, 200, d);
}

void oma_route_sdapi_options_set(oma_req *r)
{
    json_t *b = oma_req_json_object(r);
    if (!b) return;
    json_t *ck = json_object_get(b, "sd_model_checkpoint");
    if (ck && !json_is_null(ck)) {
        sdapi_model m;
        const char *want = json_string_value(ck);
        if (!want || sdapi_model_find(models_dir(r), want, &m) != 0) {
            char msg[700];
            snprintf(msg, sizeof msg, "model '%.600s' not found", want ? want : "?");
            sdapi_reply_exception(r, 500, "RuntimeError", msg);
            json_decref(b);
            return;
        }
        json_object_set_new(b, "sd_model_checkpoint", json_string(m.name));
    }
    json_t *cs = json_object_get(b, "CLIP_stop_at_last_layers");
    if (cs && (!json_is_integer(cs) || json_integer_value(cs) < 1 || json_integer_value(cs) > 5)) {
        sdapi_reply_422(r, "CLIP_stop_at_last_layers", "ensure this value is an integer in 1..5", "value_error");
        json_decref(b);
        return;
    }
    json_t *o = sdapi_options_load(r->db, r->artist_id);
    if (!o) {
        json_decref(b);
        oma_route_dberr(r, "reading your options");
        return;
    }
    json_object_update(o, b);
    json_decref(b);
    char *text = json_dumps(o, JSON_COMPACT);
    size_t len = text ? strlen(text) : 0;
    free(text);
    if (!len || len > SDAPI_OPTIONS_MAX) {
        json_decref(o);
        oma_reply_error(r, 413, "payload_too_large", "options are limited to %d KiB in all", SDAPI_OPTIONS_MAX / 1024);
        return;
    }
    int rc = sdapi_options_save(r->db, r->artist_id, o);
    json_decref(o);
    if (rc != 0) {
        oma_route_dberr(r, "saving your options");
        return;
    }
    oma_reply_json(r, 200, json_null());
}

typedef struct info_ctx {
    char *parameters;
    json_t *items;
} info_ctx;

static int text_cb(const char *key, const char *value, void *arg)
{
    info_ctx *c = arg;
    if (strcmp(key, "parameters") == 0 && !c->parameters) {
        c->parameters = strdup(value);
        return c->parameters ? 0 : -1;
    }
    return json_object_set_new(c->items, key, json_string(value)) != 0 ? -1 : 0;
}

/* Decodes a request's base64 image ("data:image/...;base64," allowed); replies on failure. */
int sdapi_decode_image(oma_req *r, const char *field, const char *text, uint8_t **out, size_t *len)
{
    if (strncmp(text, "data:image/", 11) == 0) {
        const char *comma = strchr(text, ',');
        if (comma) text = comma + 1;
    }
    if (strncmp(text, "http://", 7) == 0 || strncmp(text, "https://", 8) == 0) {
        oma_reply_error(r, 500, "internal", "Requests not allowed");
        return -1;
    }
    int rc = oma_b64_decode(text, strlen(text), OMA_HTTP_UPLOAD_LIMIT, out, len);
    if (rc == -3) {
        oma_reply_error(r, 500, "internal", "out of memory");
        return -1;
    }
    if (rc != 0 || *len == 0) {
        free(*out);
        *out = NULL;
        char msg[96];
        snprintf(msg, sizeof msg, "Invalid encoded image (%s)", rc == -2 ? "over 20 MiB" : field);
        oma_reply_error(r, 500, "internal", "%s", msg);
        return -1;
    }
    return 0;
}

void oma_route_sdapi_png_info(oma_req *r)
{
    json_t *b = oma_req_json_object(r);
    if (!b) return;
    json_t *iv = json_object_get(b, "image");
    if (!json_is_string(iv)) {
        sdapi_reply_422(r, "image", iv ? "str type expected" : "field required", iv ? "type_error.str" : "value_error.missing");
        json_decref(b);
        return;
    }
    uint8_t *png = NULL;
    size_t len = 0;
    if (sdapi_decode_image(r, "image", json_string_value(iv), &png, &len) != 0) {
        json_decref(b);
        return;
    }
    json_decref(b);
    info_ctx c = {NULL, json_object()};
    char err[256];
    int rc = c.items ? 0 : -1;
    if (rc == 0 && oma_image_sniff(png, len) == OMA_IMG_PNG) rc = oma_png_text_each(png, len, text_cb, &c, err, sizeof err);
    free(png);
    if (rc != 0) {
        free(c.parameters);
        json_decref(c.items);
        oma_reply_error(r, 500, "internal", "Invalid encoded image");
        return;
    }
    json_t *params = sdapi_parse_infotext(c.parameters ? c.parameters : "");
    json_t *o = params ? json_pack("{s:s,s:o,s:o}", "info", c.parameters ? c.parameters : "", "items", c.items,
                                   "parameters", params)
                       : NULL;
    free(c.parameters);
    if (!o) {
        if (!params) json_decref(c.items);
        oma_reply_error(r, 500, "internal", "out of memory");
        return;
    }
    oma_reply_json(r, 200, o);
}
