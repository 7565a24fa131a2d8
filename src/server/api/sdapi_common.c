/* sdapi_common.c — the pieces the A1111-compatible routes share (see sdapi.h): models as A1111
 * names them, the artist's options row, A1111's error bodies, stored files as base64.
 *
 * A1111 keeps one global options file; here every artist has their own (a row of JSON), since
 * artists share the server. A model is named by its entry in the models folder ("x.safetensors"
 * or a diffusers folder), without A1111's " [hash]" (hashing gigabytes on a listing is not worth
 * it: A1111 too leaves the hash out until it has computed it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/generate/sd_find.h"
#include "server/api/sdapi.h"
#include "server/http/b64.h"
#include "server/http/http_routes.h"
#include "server/server_internal.h"

static void fill_model(sdapi_model *m, const char *name, int is_root)
{
    snprintf(m->name, sizeof m->name, "%s", name);
    snprintf(m->model_name, sizeof m->model_name, "%s", name);
    size_t l = strlen(m->model_name);
    if (l > 12 && strcmp(m->model_name + l - 12, ".safetensors") == 0) m->model_name[l - 12] = '\0';
    m->is_root = is_root;
}

typedef struct find_ctx {
    const char *want;
    sdapi_model *out;
} find_ctx;

static int find_cb(const char *name, const char *path, int is_root, void *arg)
{
    (void)path;
    find_ctx *c = arg;
    sdapi_model m;
    fill_model(&m, name, is_root);
    /* A1111 accepts the title, the file name or the bare name; a " [hash]" after it is ignored */
    size_t wl = strlen(c->want);
    const char *br = strstr(c->want, " [");
    if (br && c->want[wl - 1] == ']') wl = (size_t)(br - c->want);
    if ((strlen(m.name) == wl && strncmp(m.name, c->want, wl) == 0) ||
        (strlen(m.model_name) == wl && strncmp(m.model_name, c->want, wl) == 0)) {
        *c->out = m;
        return 1;
    }
    return 0;
}

int sdapi_model_find(const char *models_dir, const char *want, sdapi_model *out)
{
    if (!models_dir || !*models_dir) return -1;
    if (!want || strlen(want) > 600) return 1;
    find_ctx c = {want, out};
    int rc = oma_sd_model_each(models_dir, find_cb, &c);
    if (rc < 0) return -1;
    return rc == 1 ? 0 : 1;
}

static int first_cb(const char *name, const char *path, int is_root, void *arg)
{
    (void)path;
    fill_model(arg, name, is_root);
    return 1;
}

int sdapi_model_default(const char *models_dir, sdapi_model *out)
{
    return oma_sd_model_each(models_dir, first_cb, out) == 1 ? 0 : -1;
}

static int list_cb(const char *name, const char *path, int is_root, void *arg)
{
    (void)path;
    sdapi_model m;
    fill_model(&m, name, is_root);
    char filename[300];
    snprintf(filename, sizeof filename, "models/%s", m.name);
    json_t *o = json_pack("{s:s,s:s,s:n,s:n,s:s,s:n}", "title", m.name, "model_name", m.model_name, "hash",
                          "sha256", "filename", filename, "config");
    return !o || json_array_append_new(arg, o) != 0 ? -1 : 0;
}

json_t *sdapi_models_json(const char *models_dir)
{
    json_t *arr = json_array();
    if (arr && models_dir && *models_dir) (void)oma_sd_model_each(models_dir, list_cb, arr);   /* unreadable: none */
    return arr;
}

json_t *sdapi_options_load(oma_db *db, const char *artist_id)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT options FROM sdapi_options WHERE artist_id = ?", &st) != 0) return NULL;
    oma_stmt_bind_text(st, 1, artist_id);
    int rc = oma_stmt_step(st);
    json_t *o = NULL;
    if (rc == 1 && oma_stmt_text(st, 0)) o = json_loads(oma_stmt_text(st, 0), 0, NULL);
    oma_stmt_finalize(st);
    if (rc < 0) return NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        o = json_object();
    }
    return o;
}

int sdapi_options_save(oma_db *db, const char *artist_id, const json_t *options)
{
    char *text = json_dumps(options, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text) return -1;
    char now[32];
    oma_db_now(now, sizeof now);
    oma_stmt *st = NULL;
    int rc = -1;
    if (oma_db_prepare(db, "INSERT INTO sdapi_options(artist_id, options, updated_at) VALUES (?, ?, ?) "
                           "ON CONFLICT(artist_id) DO UPDATE SET options = excluded.options, "
                           "updated_at = excluded.updated_at", &st) == 0) {
        oma_stmt_bind_text(st, 1, artist_id);
        oma_stmt_bind_text(st, 2, text);
        oma_stmt_bind_text(st, 3, now);
        rc = oma_stmt_step(st) == 0 ? 0 : -1;
    }
    oma_stmt_finalize(st);
    free(text);
    return rc;
}

int sdapi_model_current(oma_db *db, const char *artist_id, const char *models_dir, sdapi_model *out)
{
    json_t *o = db ? sdapi_options_load(db, artist_id) : NULL;
    const char *want = json_string_value(json_object_get(o, "sd_model_checkpoint"));
    int rc = want ? sdapi_model_find(models_dir, want, out) : 1;
    json_decref(o);
    if (rc == 0) return 0;
    return sdapi_model_default(models_dir, out);
}

void sdapi_reply_422(oma_req *r, const char *field, const char *msg, const char *type)
{
    json_t *d = json_pack("{s:[{s:[s,s],s:s,s:s}]}", "detail", "loc", "body", field, "msg", msg, "type", type);
    oma_reply_json(r, 422, d);
}

void sdapi_reply_exception(oma_req *r, unsigned status, const char *cls, const char *msg)
{
    oma_reply_json(r, status, json_pack("{s:s,s:s,s:s,s:s}", "error", cls, "detail", "", "body", "", "errors", msg));
}

char *sdapi_stored_b64(oma_req *r, const char *key, size_t max)
{
    uint8_t *data = NULL;
    size_t len = 0;
    char err[256];
    if (oma_storage_get(r->srv->storage, key, max, &data, &len, err, sizeof err) != 0) {
        fprintf(stderr, "oma: storage: %s: %s\n", key, err);
        return NULL;
    }
    char *b = oma_b64_encode(data, len, NULL);
    free(data);
    return b;
}
