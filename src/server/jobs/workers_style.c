/* workers_style.c — the webtoon styles around a job: before it runs, params.style_id becomes
 * params.style (the style's data, of the same artist); after a job that learned a style
 * (style.profile, style.train), its result.style becomes a styles row of the job's webtoon.
 *
 * A trained style ("kind": "lora") names its files, which are outputs of the style.train job
 * that made it (styles.job_id) and live in storage. Generation reads a LoRA from a file, so
 * before such a job runs its LoRA and embedding are copied once into the data folder
 * (<data>/cache/styles/<style id>/, written whole then renamed) and params.style gets their
 * paths as lora_path / embedding_path. Storage may be remote; this cache is what the workers
 * of this machine share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/files.h"
#include "server/jobs/workers_internal.h"

#define STYLE_FILE_MAX ((size_t)2 << 30)

/* The stored output `name` of job_id into dir/name unless it is there; its path to out. */
static int cache_output(oma_db *db, oma_storage *s, const char *job_id, const char *name, const char *dir, char *out,
                        size_t outlen, char *err, size_t errlen)
{
    size_t n = strlen(name);
    if (n == 0 || n > 128 || strchr(name, '/') || name[0] == '.') {
        snprintf(err, errlen, "the style names a bad file");
        return -1;
    }
    if (snprintf(out, outlen, "%s/%s", dir, name) >= (int)outlen) {
        snprintf(err, errlen, "path too long");
        return -1;
    }
    struct stat stt;
    if (stat(out, &stt) == 0 && S_ISREG(stt.st_mode)) return 0;
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT storage_key FROM job_outputs WHERE job_id = ? AND name = ?", &st) != 0 ||
        oma_stmt_bind_text(st, 1, job_id) != 0 || oma_stmt_bind_text(st, 2, name) != 0) {
        snprintf(err, errlen, "cannot look up the style's files: %s", oma_db_errmsg(db));
        oma_stmt_finalize(st);
        return -1;
    }
    int rc = oma_stmt_step(st);
    char key[600] = "";
    if (rc == 1) snprintf(key, sizeof key, "%s", oma_stmt_text(st, 0) ? oma_stmt_text(st, 0) : "");
    oma_stmt_finalize(st);
    if (rc != 1 || !key[0]) {
        snprintf(err, errlen, "the style's file %.100s is gone", name);
        return -1;
    }
    uint8_t *data = NULL;
    size_t len = 0;
    char why[256] = "";
    rc = oma_storage_get(s, key, STYLE_FILE_MAX, &data, &len, why, sizeof why);
    if (rc != 0) {
        snprintf(err, errlen, "the style's file %.100s: %s", name, rc == 1 ? "missing from storage" : why);
        return -1;
    }
    rc = oma_mkdir_p(dir, why, sizeof why) == 0 ? oma_write_file(out, data, len, why, sizeof why) : -1;
    free(data);
    if (rc != 0) snprintf(err, errlen, "cannot cache the style's file %.100s: %s", name, why);
    return rc;
}

/* A trained style: its files into the cache, their paths into style. */
static int fill_trained(oma_db *db, oma_storage *s, const char *data_dir, const char *style_id, const char *job_id,
                        json_t *style, char *err, size_t errlen)
{
    if (!s || !data_dir || !*data_dir || !job_id) {
        snprintf(err, errlen, "the trained style's files cannot be reached");
        return -1;
    }
    char dir[4096], path[4200];
    if (snprintf(dir, sizeof dir, "%s/cache/styles/%s", data_dir, style_id) >= (int)sizeof dir) {
        snprintf(err, errlen, "path too long");
        return -1;
    }
    const char *lora = json_string_value(json_object_get(style, "lora"));
    const char *emb = json_string_value(json_object_get(style, "embedding"));
    if (!lora) {
        snprintf(err, errlen, "the trained style has no LoRA file");
        return -1;
    }
    if (cache_output(db, s, job_id, lora, dir, path, sizeof path, err, errlen) != 0 ||
        json_object_set_new(style, "lora_path", json_string(path)) != 0)
        return -1;
    if (emb && *emb &&
        (cache_output(db, s, job_id, emb, dir, path, sizeof path, err, errlen) != 0 ||
         json_object_set_new(style, "embedding_path", json_string(path)) != 0))
        return -1;
    return 0;
}

int oma_workers_fill_style(oma_db *db, oma_storage *s, const char *data_dir, const char *artist_id, json_t *params,
                           char *err, size_t errlen)
{
    json_t *sid = json_object_get(params, "style_id");
    if (!sid || json_is_null(sid)) {
        /* file paths in a style come from this worker only, never from a request */
        json_t *given = json_object_get(params, "style");
        if (json_is_object(given)) {
            json_object_del(given, "lora_path");
            json_object_del(given, "embedding_path");
        }
        return 0;
    }
    if (!json_is_string(sid)) {
        snprintf(err, errlen, "style_id must be a string");
        return -1;
    }
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT status, data, kind, job_id FROM styles WHERE id = ? AND artist_id = ?", &st) != 0 ||
        oma_stmt_bind_text(st, 1, json_string_value(sid)) != 0 || oma_stmt_bind_text(st, 2, artist_id) != 0) {
        snprintf(err, errlen, "cannot look up the style: %s", oma_db_errmsg(db));
        oma_stmt_finalize(st);
        return -1;
    }
    int rc = oma_stmt_step(st);
    if (rc != 1) {
        snprintf(err, errlen, rc == 0 ? "style not found" : "cannot look up the style");
        oma_stmt_finalize(st);
        return -1;
    }
    const char *status = oma_stmt_text(st, 0), *data = oma_stmt_text(st, 1), *kind = oma_stmt_text(st, 2),
               *job = oma_stmt_text(st, 3);
    json_t *style = data ? json_loads(data, 0, NULL) : NULL;
    int ready = status && strcmp(status, "ready") == 0;
    int trained = kind && strcmp(kind, "lora") == 0;
    char job_id[80] = "";
    if (job) snprintf(job_id, sizeof job_id, "%s", job);
    oma_stmt_finalize(st);
    if (!ready || !json_is_object(style)) {
        json_decref(style);
        snprintf(err, errlen, "the style is not ready");
        return -1;
    }
    if (trained && fill_trained(db, s, data_dir, json_string_value(sid), job_id[0] ? job_id : NULL, style, err,
                                errlen) != 0) {
        json_decref(style);
        return -1;
    }
    if (json_object_set_new(params, "style", style) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* After success: a result.style object becomes a styles row of the job's webtoon. */
int oma_workers_save_style(oma_db *db, const char *job_id, const char *artist_id, const char *webtoon_id,
                           const json_t *params, json_t *result)
{
    json_t *style = json_object_get(result, "style");
    if (!webtoon_id || !json_is_object(style)) return 0;
    const char *name = json_string_value(json_object_get(params, "name"));
    /* a trained style (style.train) says so; everything else is a weight-free profile */
    const char *kind = json_string_value(json_object_get(style, "kind"));
    if (!kind || strcmp(kind, "lora") != 0) kind = "profile";
    char id[33], now[32];
    if (oma_db_new_id(id, sizeof id) != 0) return oma_db_fail(db, "cannot make a random id");
    oma_db_now(now, sizeof now);
    char *data = json_dumps(style, JSON_COMPACT);
    if (!data) return oma_db_fail(db, "cannot serialise the style");
    oma_stmt *st = NULL;
    int ok = oma_db_prepare(db,
                            "INSERT INTO styles (id, webtoon_id, artist_id, name, kind, status, data, job_id, "
                            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'ready', ?, ?, ?, ?)",
                            &st) == 0 &&
             oma_stmt_bind_text(st, 1, id) == 0 && oma_stmt_bind_text(st, 2, webtoon_id) == 0 &&
             oma_stmt_bind_text(st, 3, artist_id) == 0 &&
             oma_stmt_bind_text(st, 4, name && *name ? name : "Style") == 0 && oma_stmt_bind_text(st, 5, kind) == 0 &&
             oma_stmt_bind_text(st, 6, data) == 0 && oma_stmt_bind_text(st, 7, job_id) == 0 &&
             oma_stmt_bind_text(st, 8, now) == 0 && oma_stmt_bind_text(st, 9, now) == 0 && oma_stmt_step(st) == 0;
    oma_stmt_finalize(st);
    free(data);
    if (!ok) return -1;
    return json_object_set_new(result, "style_id", json_string(id)) == 0 ? 0 : oma_db_fail(db, "out of memory");
}

