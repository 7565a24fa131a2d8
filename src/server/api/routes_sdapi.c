/* routes_sdapi.c — AUTOMATIC1111's POST /sdapi/v1/txt2img and /sdapi/v1/img2img.
 *
 * The idea: an A1111 request is translated into an ordinary generate.txt2img / generate.img2img
 * job of the artist (A1111's defaults filled in, its sampler names parsed by the generate
 * module, the sizes and ranges checked by the kind's own validation), queued like any job (lease,
 * heartbeat, crash recovery; it shows in GET /api/jobs, without a webtoon), and the HTTP request
 * then waits for it without holding a thread (oma_req_wait: the connection is suspended and the
 * job row polled every tick). When the job ends the answer is A1111's: the images as base64 PNGs
 * (each with its "parameters" text), the request echoed as "parameters" and "info" as a JSON
 * string whose "infotexts" are the texts the PNGs carry. Errors take A1111's shapes: 422 for a
 * field of the wrong type (pydantic's list), HTTPException bodies otherwise.
 */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/png_text.h"
#include "pipelines/generate/scheduler.h"
#include "pipelines/job_kind.h"
#include "server/api/sdapi.h"
#include "server/http/b64.h"
#include "server/http/http_routes.h"
#include "server/jobs/jobs.h"
#include "server/server_internal.h"

#define SDAPI_MAX_IMAGES 16            /* batch_size * n_iter: the generate kinds' batch limit */
#define SDAPI_OUTPUT_MAX (64u << 20)   /* one stored result PNG */
#define SDAPI_WAIT_MS (3600 * 1000)    /* a request waits at most an hour for its job */

/* ---- reading the request: A1111's field types, with pydantic's 422 on a mismatch ---- */

typedef struct reader {
    oma_req *r;
    json_t *body;
    json_t *echo;   /* the request as A1111 echoes it: every known field, defaults filled */
    int failed;
} reader;

static void fail422(reader *rd, const char *field, const char *msg, const char *type)
{
    if (rd->failed) return;
    rd->failed = 1;
    sdapi_reply_422(rd->r, field, msg, type);
}

static json_t *field(reader *rd, const char *key)
{
    json_t *v = json_object_get(rd->body, key);
    return json_is_null(v) ? NULL : v;
}

static long long rd_int(reader *rd, const char *key, long long def)
{
    json_t *v = field(rd, key);
    long long x = def;
    if (v) {
        double d = json_is_real(v) ? json_real_value(v) : 0;
        if (json_is_integer(v)) {
            x = json_integer_value(v);
        } else if (json_is_real(v) && d == (double)(long long)d && d > -9e18 && d < 9e18) {
            x = (long long)d;
        } else if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < 24) {
            char *end = NULL;
            x = strtoll(json_string_value(v), &end, 10);
            if (*end) fail422(rd, key, "value is not a valid integer", "type_error.integer");
        } else {
            fail422(rd, key, "value is not a valid integer", "type_error.integer");
        }
    }
    json_object_set_new(rd->echo, key, json_integer(x));
    return x;
}

static double rd_num(reader *rd, const char *key, double def, int echo_null)
{
    json_t *v = field(rd, key);
    double x = def;
    if (v) {
        if (json_is_number(v)) {
            x = json_number_value(v);
        } else if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < 40) {
            char *end = NULL;
            x = strtod(json_string_value(v), &end);
            if (*end || !isfinite(x)) fail422(rd, key, "value is not a valid float", "type_error.float");
        } else {
            fail422(rd, key, "value is not a valid float", "type_error.float");
        }
    }
    json_object_set_new(rd->echo, key, !v && echo_null ? json_null() : json_real(x));
    return x;
}

static const char *rd_str(reader *rd, const char *key, const char *def)
{
    json_t *v = field(rd, key);
    const char *x = def;
    if (v) {
        if (json_is_string(v)) x = json_string_value(v);
        else fail422(rd, key, "str type expected", "type_error.str");
    }
    json_object_set_new(rd->echo, key, x ? json_string(x) : json_null());
    return x;
}

static int rd_bool(reader *rd, const char *key, int def, int echo_null)
{
    json_t *v = field(rd, key);
    int x = def;
    if (v) {
        const char *s = json_string_value(v);
        if (json_is_boolean(v)) x = json_is_true(v);
        else if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1)) x = (int)json_integer_value(v);
        else if (s && (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "1") || !strcmp(s, "yes"))) x = 1;
        else if (s && (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "0") || !strcmp(s, "no"))) x = 0;
        else fail422(rd, key, "value could not be parsed to a boolean", "type_error.bool");
    }
    json_object_set_new(rd->echo, key, !v && echo_null ? json_null() : json_boolean(x));
    return x;
}

/* An object field (override_settings, alwayson_scripts); NULL when absent. */
static json_t *rd_obj(reader *rd, const char *key, int echo_empty)
{
    json_t *v = field(rd, key);
    if (v && !json_is_object(v)) {
        fail422(rd, key, "value is not a valid dict", "type_error.dict");
        v = NULL;
    }
    json_object_set_new(rd->echo, key, v ? json_incref(v) : echo_empty ? json_object() : json_null());
    return v;
}

static json_t *rd_list(reader *rd, const char *key, int echo_empty)
{
    json_t *v = field(rd, key);
    if (v && !json_is_array(v)) {
        fail422(rd, key, "value is not a valid list", "type_error.list");
        v = NULL;
    }
    json_object_set_new(rd->echo, key, v ? json_incref(v) : echo_empty ? json_array() : json_null());
    return v;
}

/* ---- the wait, and A1111's answer ---- */

typedef struct sdapi_wait {
    char job_id[72];
    char artist_id[72];
    int send_images;
    json_t *echo;   /* "parameters" */
    json_t *info;   /* "info" without infotexts and job_timestamp */
} sdapi_wait;

static void wait_free(void *arg)
{
    sdapi_wait *w = arg;
    if (!w) return;
    json_decref(w->echo);
    json_decref(w->info);
    free(w);
}

static int params_cb(const char *key, const char *value, void *arg)
{
    if (strcmp(key, "parameters") != 0) return 0;
    *(char **)arg = strdup(value);
    return 1;
}

/* Appends each output's base64 (when sending images) and its "parameters" text. 0, or -1. */
static int collect_outputs(oma_req *r, sdapi_wait *w, json_t *images, json_t *infotexts)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(r->db, "SELECT storage_key FROM job_outputs WHERE job_id = ? AND mime = 'image/png' "
                              "ORDER BY seq, name", &st) != 0)
        return -1;
    oma_stmt_bind_text(st, 1, w->job_id);
    json_t *keys = json_array();
    int rc;
    while (keys && (rc = oma_stmt_step(st)) == 1)
        json_array_append_new(keys, json_string(oma_stmt_text(st, 0) ? oma_stmt_text(st, 0) : ""));
    oma_stmt_finalize(st);
    if (!keys || rc < 0) {
        json_decref(keys);
        return -1;
    }
    size_t i;
    json_t *k;
    int status = 0;
    json_array_foreach(keys, i, k) {
        uint8_t *png = NULL;
        size_t len = 0;
        char err[256];
        if (oma_storage_get(r->srv->storage, json_string_value(k), SDAPI_OUTPUT_MAX, &png, &len, err, sizeof err) != 0) {
            fprintf(stderr, "oma: storage: %s: %s\n", json_string_value(k), err);
            status = -1;
            break;
        }
        char *text = NULL;
        (void)oma_png_text_each(png, len, params_cb, &text, err, sizeof err);
        json_array_append_new(infotexts, json_string(text ? text : ""));
        free(text);
        if (w->send_images) {
            char *b = oma_b64_encode(png, len, NULL);
            if (!b || json_array_append_new(images, json_string(b)) != 0) status = -1;
            free(b);
        }
        free(png);
        if (status) break;
    }
    json_decref(keys);
    return status;
}

static int wait_poll(oma_req *r, void *arg)
{
    sdapi_wait *w = arg;
    if (!oma_req_db(r)) return 1;
    oma_stmt *st = NULL;
    if (oma_db_prepare(r->db, "SELECT status, error, started_at FROM jobs WHERE id = ? AND artist_id = ?", &st) != 0) {
        oma_route_dberr(r, "reading the job");
        return 1;
    }
    oma_stmt_bind_text(st, 1, w->job_id);
    oma_stmt_bind_text(st, 2, w->artist_id);
    int rc = oma_stmt_step(st);
    char status[16] = "", error[512] = "", started[40] = "";
    if (rc == 1) {
        snprintf(status, sizeof status, "%s", oma_stmt_text(st, 0) ? oma_stmt_text(st, 0) : "");
        snprintf(error, sizeof error, "%s", oma_stmt_text(st, 1) ? oma_stmt_text(st, 1) : "");
        snprintf(started, sizeof started, "%s", oma_stmt_text(st, 2) ? oma_stmt_text(st, 2) : "");
    }
    oma_stmt_finalize(st);
    if (rc < 0) {
        oma_route_dberr(r, "reading the job");
        return 1;
    }
    if (rc == 0) {
        sdapi_reply_exception(r, 500, "RuntimeError", "the job is gone");
        return 1;
    }
    int succeeded = !strcmp(status, "succeeded"), cancelled = !strcmp(status, "cancelled");
    if (!strcmp(status, "failed")) {
        sdapi_reply_exception(r, 500, "RuntimeError", error[0] ? error : "the job failed");
        return 1;
    }
    if (!succeeded && !cancelled) {
        if (!r->wait_expired) return 0;
        oma_reply_error(r, 504, "timeout", "job %s is still running after %d minutes; follow it at /api/jobs/%s",
                        w->job_id, SDAPI_WAIT_MS / 60000, w->job_id);
        return 1;
    }
    json_t *images = json_array(), *infotexts = json_array();
    if (!images || !infotexts || (succeeded && collect_outputs(r, w, images, infotexts) != 0)) {
        json_decref(images);
        json_decref(infotexts);
        oma_reply_error(r, 500, "internal", "could not read the job's images");
        return 1;
    }
    char ts[16] = "";
    size_t j = 0;
    for (size_t i = 0; started[i] && j < 14; i++)
        if (started[i] >= '0' && started[i] <= '9') ts[j++] = started[i];
    ts[j] = '\0';
    json_object_set_new(w->info, "infotexts", infotexts);
    json_object_set_new(w->info, "job_timestamp", json_string(ts));
    char *info = json_dumps(w->info, JSON_COMPACT);
    if (!info) {
        json_decref(images);
        oma_reply_error(r, 500, "internal", "out of memory");
        return 1;
    }
    oma_reply_json(r, 200, json_pack("{s:o,s:O,s:s}", "images", images, "parameters", w->echo, "info", info));
    free(info);
    return 1;
}

/* ---- the request ---- */

/* The sampler A1111 uses when the request names none: "Euler", when the table has it. */
static const char *default_sampler(void)
{
    for (int i = 0; i < oma_sampler_count(); i++)
        if (!strcmp(oma_sampler_name(oma_sampler_at(i)), "Euler")) return "Euler";
    return "Euler a";
}

static json_t *repeat(json_t *v, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++) json_array_append(a, v);
    json_decref(v);
    return a;
}

static json_t *counting(long long from, int n)
{
    json_t *a = json_array();
    for (int i = 0; a && i < n; i++) json_array_append_new(a, json_integer((json_int_t)(from + i)));
    return a;
}

static void generate(oma_req *r, int img2img)
{
    json_t *b = oma_req_json_object(r);
    if (!b) return;
    reader rd = {r, b, json_object(), 0};
    json_t *params = json_object(), *inputs = json_object();
    sdapi_wait *w = calloc(1, sizeof *w);
    if (!rd.echo || !params || !inputs || !w) {
        oma_reply_error(r, 500, "internal", "out of memory");
        goto out;
    }
    const char *models = r->srv->models_dir[0] ? r->srv->models_dir : NULL;

    const char *prompt = rd_str(&rd, "prompt", "");
    const char *negative = rd_str(&rd, "negative_prompt", "");
    json_t *styles = rd_list(&rd, "styles", 0);
    long long seed = rd_int(&rd, "seed", -1), subseed = rd_int(&rd, "subseed", -1);
    double subseed_strength = rd_num(&rd, "subseed_strength", 0, 0);
    long long seed_rh = rd_int(&rd, "seed_resize_from_h", -1), seed_rw = rd_int(&rd, "seed_resize_from_w", -1);
    const char *sampler_name = rd_str(&rd, "sampler_name", NULL);
    const char *sampler_index = rd_str(&rd, "sampler_index", "Euler");
    const char *scheduler = rd_str(&rd, "scheduler", NULL);
    long long batch_size = rd_int(&rd, "batch_size", 1), n_iter = rd_int(&rd, "n_iter", 1);
    long long steps = rd_int(&rd, "steps", 50);
    double cfg = rd_num(&rd, "cfg_scale", 7.0, 0);
    long long width = rd_int(&rd, "width", 512), height = rd_int(&rd, "height", 512);
    int restore_faces = rd_bool(&rd, "restore_faces", 0, 1);
    (void)restore_faces;   /* ignored: there is no face restorer here */
    (void)rd_bool(&rd, "tiling", 0, 1);
    (void)rd_bool(&rd, "do_not_save_samples", 0, 0);
    (void)rd_bool(&rd, "do_not_save_grid", 0, 0);
    (void)rd_num(&rd, "eta", 0, 1);
    json_t *override = rd_obj(&rd, "override_settings", 0);
    (void)rd_bool(&rd, "override_settings_restore_afterwards", 1, 0);
    const char *script_name = rd_str(&rd, "script_name", NULL);
    (void)rd_list(&rd, "script_args", 1);
    int send_images = rd_bool(&rd, "send_images", 1, 0);
    (void)rd_bool(&rd, "save_images", 0, 0);
    json_t *alwayson = rd_obj(&rd, "alwayson_scripts", 1);
    double strength = rd_num(&rd, "denoising_strength", img2img ? 0.75 : 0, !img2img);
    json_t *init_images = NULL;
    const char *mask = NULL;
    int enable_hr = 0, include_init = 0;
    if (img2img) {
        init_images = rd_list(&rd, "init_images", 0);
        (void)rd_int(&rd, "resize_mode", 0);
        mask = rd_str(&rd, "mask", NULL);
        include_init = rd_bool(&rd, "include_init_images", 0, 0);
    } else {
        enable_hr = rd_bool(&rd, "enable_hr", 0, 0);
    }
    if (rd.failed) goto out;

    /* what A1111 has and this engine does not: refused clearly rather than ignored */
    if (script_name && *script_name) {
        oma_reply_error(r, 422, "invalid_params", "Script '%.100s' not found", script_name);
        goto out;
    }
    if (alwayson && json_object_size(alwayson)) {
        oma_reply_error(r, 422, "invalid_params", "always on script %.100s not found", json_object_iter_key(json_object_iter(alwayson)));
        goto out;
    }
    if (enable_hr) {
        oma_reply_error(r, 422, "invalid_params", "enable_hr (hires fix) is not supported by this server");
        goto out;
    }
    if (mask && *mask) {
        oma_reply_error(r, 422, "invalid_params", "mask (inpainting) is not supported by this server");
        goto out;
    }
    if (subseed_strength != 0) {
        oma_reply_error(r, 422, "invalid_params", "subseed_strength (variation seeds) is not supported by this server");
        goto out;
    }
    if (batch_size < 1 || n_iter < 1 || batch_size > SDAPI_MAX_IMAGES || n_iter > SDAPI_MAX_IMAGES ||
        batch_size * n_iter > SDAPI_MAX_IMAGES) {
        oma_reply_error(r, 422, "invalid_params", "batch_size and n_iter must be at least 1, and batch_size * n_iter at most %d",
                        SDAPI_MAX_IMAGES);
        goto out;
    }
    int n = (int)(batch_size * n_iter);

    /* the sampler, as A1111's get_sampler_and_scheduler + validate_sampler_name */
    const char *sname = sampler_name && *sampler_name ? sampler_name : sampler_index && *sampler_index ? sampler_index : NULL;
    if (!sname || (!sampler_name && !strcmp(sname, "Euler"))) sname = default_sampler();
    oma_sampler_kind sk;
    if (oma_sampler_parse_a1111(sname, scheduler, &sk) != 0) {
        oma_reply_error(r, 404, "not_found", "Sampler not found");
        goto out;
    }

    /* the model: override_settings, else the artist's options, else the first */
    sdapi_model m;
    const char *want = json_string_value(json_object_get(override, "sd_model_checkpoint"));
    int mrc = want ? sdapi_model_find(models, want, &m) : sdapi_model_current(r->db, r->artist_id, models, &m);
    if (want && mrc == 1) {
        char msg[700];
        snprintf(msg, sizeof msg, "model '%.600s' not found", want);
        sdapi_reply_exception(r, 500, "RuntimeError", msg);
        goto out;
    }
    const char *kname = img2img ? "generate.img2img" : "generate.txt2img";
    const oma_job_kind *k = oma_job_kind_find(kname);
    if (mrc != 0 || !k || (k->available && !k->available(models))) {
        oma_reply_error(r, 409, "conflict", "no Stable Diffusion model on this server (OMA_MODELS)");
        goto out;
    }

    /* clip skip: override_settings, else the options (A1111's CLIP_stop_at_last_layers) */
    json_t *cs = json_object_get(override, "CLIP_stop_at_last_layers");
    json_t *opts = NULL;
    if (!cs) {
        opts = sdapi_options_load(r->db, r->artist_id);
        cs = json_object_get(opts, "CLIP_stop_at_last_layers");
    }
    long long clip_skip = json_is_integer(cs) ? json_integer_value(cs) : 1;
    json_decref(opts);

    if (seed == -1) seed = (long long)randombytes_uniform(4294967294u);
    if (subseed == -1) subseed = (long long)randombytes_uniform(4294967294u);
    json_object_set_new(params, "prompt", json_string(prompt));
    json_object_set_new(params, "negative", json_string(negative ? negative : ""));
    json_object_set_new(params, "steps", json_integer(steps));
    json_object_set_new(params, "cfg", json_real(cfg));
    json_object_set_new(params, "sampler", json_string(oma_sampler_name(sk)));
    json_object_set_new(params, "seed", json_integer(seed));
    json_object_set_new(params, "width", json_integer(width));
    json_object_set_new(params, "height", json_integer(height));
    json_object_set_new(params, "batch", json_integer(n));
    json_object_set_new(params, "clip_skip", json_integer(clip_skip));
    if (!m.is_root) json_object_set_new(params, "model", json_string(m.name));
    if (img2img) json_object_set_new(params, "strength", json_real(strength));
    json_object_set_new(params, "source", json_string("sdapi"));

    /* sizes, steps, cfg, seed, batch and strength: the kind's own checks */
    char err[512] = "";
    if (k->validate && k->validate(params, err, sizeof err) != 0) {
        oma_reply_error(r, 422, "invalid_params", "%s", err[0] ? err : "invalid parameters");
        goto out;
    }
    int waiting = oma_jobs_count_queued(r->db, r->artist_id);
    if (waiting < 0) {
        oma_route_dberr(r, "counting your jobs");
        goto out;
    }
    if (waiting >= OMA_JOB_QUEUED_PER_ARTIST) {
        oma_reply_error(r, 429, "too_many_requests", "you have %d jobs waiting already", waiting);
        oma_reply_header(r, "Retry-After", "10");
        goto out;
    }
    if (img2img) {
        json_t *first = json_array_get(init_images, 0);
        if (!first) {
            oma_reply_error(r, 404, "not_found", "Init image not found");
            goto out;
        }
        if (!json_is_string(first)) {
            sdapi_reply_422(r, "init_images", "str type expected", "type_error.str");
            goto out;
        }
        uint8_t *img = NULL;
        size_t len = 0;
        char upload[40];
        if (sdapi_decode_image(r, "init_images", json_string_value(first), &img, &len) != 0) goto out;
        int src = oma_route_store_upload(r, img, len, upload);
        free(img);
        if (src != 0) goto out;
        json_object_set_new(inputs, "image", json_string(upload));
        if (!include_init) json_object_set_new(rd.echo, "init_images", json_null());
        json_object_set_new(rd.echo, "mask", json_null());
    }

    /* info: A1111's Processed.js() fields, infotexts and the timestamp added at the end */
    json_t *pv = json_string(prompt), *nv = json_string(negative ? negative : "");
    w->info = json_pack("{s:O,s:o,s:O,s:o,s:I,s:o,s:I,s:o,s:f,s:I,s:I,s:s,s:f,s:I,s:I,s:b,s:n,s:s,s:n,s:n,s:n,"
                        "s:I,s:I,s:o,s:{},s:i,s:o,s:I,s:b,s:s}",
                        "prompt", pv, "all_prompts", repeat(json_incref(pv), n), "negative_prompt", nv,
                        "all_negative_prompts", repeat(json_incref(nv), n), "seed", (json_int_t)seed, "all_seeds",
                        counting(seed, n), "subseed", (json_int_t)subseed, "all_subseeds", counting(subseed, n),
                        "subseed_strength", subseed_strength, "width", (json_int_t)width, "height", (json_int_t)height,
                        "sampler_name", oma_sampler_name(sk), "cfg_scale", cfg, "steps", (json_int_t)steps,
                        "batch_size", (json_int_t)batch_size, "restore_faces", 0, "face_restoration_model",
                        "sd_model_name", m.model_name, "sd_model_hash", "sd_vae_name", "sd_vae_hash",
                        "seed_resize_from_w", (json_int_t)seed_rw, "seed_resize_from_h", (json_int_t)seed_rh,
                        "denoising_strength", img2img ? json_real(strength) : json_null(), "extra_generation_params",
                        "index_of_first_image", 0, "styles", styles ? json_incref(styles) : json_array(),
                        "clip_skip", (json_int_t)clip_skip, "is_using_inpainting_conditioning", 0, "version", "oma");
    json_decref(pv);
    json_decref(nv);
    if (!w->info) {
        oma_reply_error(r, 500, "internal", "out of memory");
        goto out;
    }
    if (oma_jobs_enqueue(r->db, r->artist_id, kname, params, inputs, NULL, w->job_id, sizeof w->job_id, err,
                         sizeof err) != 0) {
        fprintf(stderr, "oma: jobs: enqueue: %s\n", err);
        oma_reply_error(r, 500, "internal", "could not queue the job");
        goto out;
    }
    snprintf(w->artist_id, sizeof w->artist_id, "%s", r->artist_id);
    w->send_images = send_images;
    w->echo = rd.echo;
    rd.echo = NULL;
    oma_req_wait(r, wait_poll, w, wait_free, SDAPI_WAIT_MS);
    w = NULL;
out:
    wait_free(w);
    json_decref(rd.echo);
    json_decref(params);
    json_decref(inputs);
    json_decref(b);
}

void oma_route_sdapi_txt2img(oma_req *r) { generate(r, 0); }
void oma_route_sdapi_img2img(oma_req *r) { generate(r, 1); }
