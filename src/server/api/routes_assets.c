/* routes_assets.c — a webtoon's gallery: save a job output as a named asset (keeping the
 * job's inputs beside it), list (paged), get, download, delete.
 *
 * Saving copies the output into content-addressed storage, so an asset stays whole
 * whatever happens to the job later. The download's file name is built from the asset's
 * name with anything but plain characters replaced, so no header injection is possible.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/auth.h"
#include "server/http/http_routes.h"
#include "server/server_internal.h"

#define ASSET_MAX_BYTES (256u << 20)

static json_t *asset_json(oma_db *db, const char *id, const char *artist_id)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT id, webtoon_id, name, description, mime, kind, job_id, created_at "
                           "FROM assets WHERE id = ? AND artist_id = ?", &st) != 0)
        return NULL;
    oma_stmt_bind_text(st, 1, id);
    oma_stmt_bind_text(st, 2, artist_id);
    json_t *o = NULL;
    if (oma_stmt_step(st) == 1) {
        const char *c[8];
        for (int i = 0; i < 8; i++) c[i] = oma_stmt_text(st, i) ? oma_stmt_text(st, i) : "";
        o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "id", c[0], "webtoon_id", c[1], "name",
                      c[2], "description", c[3], "mime", c[4], "kind", c[5], "job_id", c[6],
                      "created_at", c[7]);
    }
    oma_stmt_finalize(st);
    if (!o) return NULL;
    /* the inputs kept beside it; if they cannot be read, no asset rather than one that
     * silently lists none */
    json_t *inputs = json_array();
    int rc = -1;
    if (inputs && oma_db_prepare(db, "SELECT name, upload_id FROM asset_inputs WHERE asset_id = ? "
                                     "ORDER BY name, upload_id", &st) == 0) {
        oma_stmt_bind_text(st, 1, id);
        while ((rc = oma_stmt_step(st)) == 1) {
            const char *n = oma_stmt_text(st, 0), *u = oma_stmt_text(st, 1);
            json_array_append_new(inputs, json_pack("{s:s,s:s}", "name", n ? n : "", "upload_id",
                                                    u ? u : ""));
        }
        oma_stmt_finalize(st);
    }
    if (rc != 0) {
        json_decref(inputs);
        json_decref(o);
        return NULL;
    }
    json_object_set_new(o, "inputs", inputs);
    return o;
}

static int insert_input(oma_db *db, const char *asset, const char *name, const char *upload)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "INSERT INTO asset_inputs (asset_id, name, upload_id) VALUES (?, ?, ?)", &st) != 0)
        return -1;
    oma_stmt_bind_text(st, 1, asset);
    oma_stmt_bind_text(st, 2, name);
    oma_stmt_bind_text(st, 3, upload);
    int rc = oma_stmt_step(st);
    oma_stmt_finalize(st);
    return rc < 0 ? -1 : 0;
}

static int store_asset(oma_req *r, const char *id, const char *webtoon, json_t *job,
                       const char *name, const char *desc, const char *mime, const char *key)
{
    char now[32];
    oma_db_now(now, sizeof now);
    if (oma_db_begin(r->db) != 0) return -1;
    oma_stmt *st = NULL;
    if (oma_db_prepare(r->db, "INSERT INTO assets (id, webtoon_id, artist_id, job_id, name, description, "
                              "mime, kind, storage_key, created_at, created_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       &st) != 0)
        goto fail;
    oma_stmt_bind_text(st, 1, id);
    oma_stmt_bind_text(st, 2, webtoon);
    oma_stmt_bind_text(st, 3, r->artist_id);
    oma_stmt_bind_text(st, 4, oma_json_str(job, "id"));
    oma_stmt_bind_text(st, 5, name);
    oma_stmt_bind_text(st, 6, desc);
    oma_stmt_bind_text(st, 7, mime);
    oma_stmt_bind_text(st, 8, oma_json_str(job, "kind"));
    oma_stmt_bind_text(st, 9, key);
    oma_stmt_bind_text(st, 10, now);
    oma_stmt_bind_int(st, 11, oma_db_unix_now_us());
    int rc = oma_stmt_step(st);
    oma_stmt_finalize(st);
    if (rc < 0) goto fail;
    const char *in_name;
    json_t *v;
    json_object_foreach(json_object_get(job, "inputs"), in_name, v) {
        size_t n = json_is_array(v) ? json_array_size(v) : 1;
        for (size_t i = 0; i < n; i++) {
            const char *u = json_string_value(json_is_array(v) ? json_array_get(v, i) : v);
            if (u && insert_input(r->db, id, in_name, u) != 0) goto fail;
        }
    }
    if (oma_db_commit(r->db) != 0) goto fail;
    return 0;
fail:
    oma_db_rollback(r->db);
    return -1;
}

void oma_route_asset_create(oma_req *r)
{
    const char *webtoon = oma_route_id(r, 0, "webtoon");
    if (!webtoon) return;
    json_t *b = oma_req_json_object(r);
    if (!b) return;
    json_t *job = NULL;
    const char *job_id = oma_json_str(b, "job_id"), *output = oma_json_str(b, "output"),
               *name = oma_json_str(b, "name"), *desc = oma_json_str(b, "description");
    if (!name || !name[0] || strlen(name) > 800 || oma_auth_utf8_chars(name) > 200 ||
        (desc && (strlen(desc) > 16000 || oma_auth_utf8_chars(desc) > 4000)) ||
        (json_object_get(b, "output") && !output)) {
        oma_reply_error(r, 400, "bad_request", "name (1..200 chars) is required; output and "
                                               "description are optional strings");
        goto out;
    }
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            oma_reply_error(r, 400, "bad_request", "name must not contain control characters");
            goto out;
        }
    if (oma_route_require_owned(r, "webtoons", webtoon, "webtoon") != 0) goto out;
    if (!oma_http_id_valid(job_id) || !(job = oma_jobs_get_json(r->db, job_id, r->artist_id))) {
        oma_reply_error(r, 404, "not_found", "no such job");
        goto out;
    }
    const char *status = oma_json_str(job, "status");
    if (!status || strcmp(status, "succeeded") != 0) {
        oma_reply_error(r, 409, "conflict", "only a succeeded job's output can be saved (this one is %s)",
                        status ? status : "unknown");
        goto out;
    }
    json_t *outs = json_object_get(job, "outputs"), *o = NULL, *e;
    size_t i;
    json_array_foreach(outs, i, e) {
        const char *n = oma_json_str(e, "name");
        if (n && (!output || strcmp(n, output) == 0)) {
            o = e;
            break;
        }
    }
    const char *oname = o ? oma_json_str(o, "name") : NULL;
    if (!oname || !oma_http_name_valid(oname)) {
        oma_reply_error(r, 404, "not_found", "the job has no output %s", output ? output : "");
        goto out;
    }
    oma_stmt *st = NULL;
    char key[600] = "", mime[96] = "";
    if (oma_db_prepare(r->db, "SELECT storage_key, mime FROM job_outputs WHERE job_id = ? AND name = ?",
                       &st) != 0) {
        oma_route_dberr(r, "reading the output");
        goto out;
    }
    oma_stmt_bind_text(st, 1, job_id);
    oma_stmt_bind_text(st, 2, oname);
    int found = oma_stmt_step(st);
    if (found == 1) {
        snprintf(key, sizeof key, "%s", oma_stmt_text(st, 0) ? oma_stmt_text(st, 0) : "");
        snprintf(mime, sizeof mime, "%s", oma_stmt_text(st, 1) ? oma_stmt_text(st, 1) : "");
    }
    oma_stmt_finalize(st);
    if (found < 0) {
        oma_route_dberr(r, "reading the output");
        goto out;
    }
    if (!key[0]) {
        oma_reply_error(r, 404, "not_found", "the job has no output %s", oname);
        goto out;
    }
    uint8_t *data = NULL;
    size_t len = 0;
    if (oma_route_storage_get(r, key, ASSET_MAX_BYTES, &data, &len) != 0) goto out;
    char blob[96], err[256], id[40];
    int rc = oma_storage_put_blob(r->srv->storage, data, len, blob, NULL, err, sizeof err);
    free(data);
    if (rc != 0) {
        fprintf(stderr, "oma: storage: %s\n", err);
        oma_reply_error(r, 500, "internal", "could not store the asset");
        goto out;
    }
    oma_auth_new_id(id);
    if (store_asset(r, id, webtoon, job, name, desc ? desc : "", mime, blob) != 0) {
        oma_route_dberr(r, "saving the asset");
        goto out;
    }
    json_t *a = asset_json(r->db, id, r->artist_id);
    if (a) oma_reply_json(r, 201, a);
    else oma_route_dberr(r, "reading the asset");
out:
    json_decref(job);
    json_decref(b);
}

void oma_route_asset_list(oma_req *r)
{
    const char *webtoon = oma_route_id(r, 0, "webtoon");
    if (!webtoon) return;
    long limit, offset;
    if (oma_route_query_int(r, "limit", 1, 100, 20, &limit) != 0 ||
        oma_route_query_int(r, "offset", 0, 1000000000L, 0, &offset) != 0)
        return;
    if (oma_route_require_owned(r, "webtoons", webtoon, "webtoon") != 0) return;
    oma_stmt *st = NULL;
    int64_t total = 0;
    if (oma_db_prepare(r->db, "SELECT COUNT(*) FROM assets WHERE webtoon_id = ? AND artist_id = ?", &st) != 0) {
        oma_route_dberr(r, "counting assets");
        return;
    }
    oma_stmt_bind_text(st, 1, webtoon);
    oma_stmt_bind_text(st, 2, r->artist_id);
    if (oma_stmt_step(st) == 1) total = oma_stmt_int(st, 0);
    oma_stmt_finalize(st);
    if (oma_db_prepare(r->db, "SELECT id FROM assets WHERE webtoon_id = ? AND artist_id = ? "
                              "ORDER BY created_at DESC, created_us DESC, id DESC LIMIT ? OFFSET ?", &st) != 0) {
        oma_route_dberr(r, "listing assets");
        return;
    }
    oma_stmt_bind_text(st, 1, webtoon);
    oma_stmt_bind_text(st, 2, r->artist_id);
    oma_stmt_bind_int(st, 3, limit);
    oma_stmt_bind_int(st, 4, offset);
    json_t *arr = oma_route_list(r, st, "listing assets", asset_json);
    if (!arr) return;
    oma_reply_json(r, 200, json_pack("{s:o,s:I,s:i,s:i}", "assets", arr, "total", (json_int_t)total,
                                     "limit", (int)limit, "offset", (int)offset));
}

void oma_route_asset_get(oma_req *r)
{
    const char *id = oma_route_id(r, 0, "asset");
    if (!id) return;
    json_t *a = asset_json(r->db, id, r->artist_id);
    if (!a) {
        oma_reply_error(r, 404, "not_found", "no such asset");
        return;
    }
    oma_reply_json(r, 200, a);
}

void oma_route_asset_file(oma_req *r)
{
    const char *id = oma_route_id(r, 0, "asset");
    if (!id) return;
    oma_stmt *st = NULL;
    if (oma_db_prepare(r->db, "SELECT storage_key, mime, name FROM assets WHERE id = ? AND artist_id = ?",
                       &st) != 0) {
        oma_route_dberr(r, "reading the asset");
        return;
    }
    oma_stmt_bind_text(st, 1, id);
    oma_stmt_bind_text(st, 2, r->artist_id);
    char key[600] = "", mime[96] = "", fname[128] = "";
    int rc = oma_stmt_step(st);
    if (rc == 1) {
        snprintf(key, sizeof key, "%s", oma_stmt_text(st, 0) ? oma_stmt_text(st, 0) : "");
        snprintf(mime, sizeof mime, "%s", oma_stmt_text(st, 1) ? oma_stmt_text(st, 1) : "");
        const char *n = oma_stmt_text(st, 2) ? oma_stmt_text(st, 2) : "";
        size_t k = 0;
        for (; n[k] && k < 100; k++) {
            char c = n[k];
            int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                        c == '-' || c == '_' || c == '.' || c == ' ';
            fname[k] = plain ? c : '_';
        }
        fname[k] = '\0';
    }
    oma_stmt_finalize(st);
    if (rc < 0) {
        oma_route_dberr(r, "reading the asset");
        return;
    }
    if (!key[0]) {
        oma_reply_error(r, 404, "not_found", "no such asset");
        return;
    }
    const char *ext = strcmp(mime, "image/png") == 0          ? "png"
                      : strcmp(mime, "application/json") == 0 ? "json"
                      : strcmp(mime, "image/jpeg") == 0       ? "jpg"
                                                              : "bin";
    if (oma_reply_stored(r, key, mime) != 0) return;
    char cd[200];
    snprintf(cd, sizeof cd, "attachment; filename=\"%s.%s\"", fname[0] ? fname : "asset", ext);
    oma_reply_header(r, "Content-Disposition", cd);
}

void oma_route_asset_delete(oma_req *r)
{
    const char *id = oma_route_id(r, 0, "asset");
    if (!id) return;
    if (oma_route_require_owned(r, "assets", id, "asset") != 0) return;
    if (oma_db_begin(r->db) != 0 ||
        oma_db_exec_bound(r->db, "DELETE FROM asset_inputs WHERE asset_id = ?", id, NULL, NULL) != 0 ||
        oma_db_exec_bound(r->db, "DELETE FROM assets WHERE id = ? AND artist_id = ?", id, r->artist_id,
                          NULL) != 0 ||
        oma_db_commit(r->db) != 0) {
        oma_route_dberr(r, "deleting the asset");
        oma_db_rollback(r->db);
        return;
    }
    oma_reply_empty(r, 204);
}
