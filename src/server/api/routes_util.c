/* routes_util.c — small helpers every route group uses: id checks, ownership checks,
 * bounded storage reads, sending a stored file (streamed: http_stream.c), id lists, query integers, the upload metadata object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/http_routes.h"
#include "server/server_internal.h"

const char *oma_route_id(oma_req *r, size_t i, const char *what)
{
    const char *id = i < r->nparam ? r->param[i] : NULL;
    if (!oma_http_id_valid(id)) {
        oma_reply_error(r, 404, "not_found", "no such %s", what);
        return NULL;
    }
    return id;
}

int oma_route_dberr(oma_req *r, const char *what)
{
    fprintf(stderr, "oma: db: %s: %s\n", what, r->db ? oma_db_errmsg(r->db) : "no handle");
    oma_reply_error(r, 500, "internal", "database error while %s", what);
    return -1;
}

int oma_route_owned(oma_req *r, const char *table, const char *id)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT 1 FROM %s WHERE id = ? AND artist_id = ?", table);
    oma_stmt *st = NULL;
    if (oma_db_prepare(r->db, sql, &st) != 0) return -1;
    oma_stmt_bind_text(st, 1, id);
    oma_stmt_bind_text(st, 2, r->artist_id);
    int rc = oma_stmt_step(st);
    oma_stmt_finalize(st);
    return rc;
}

int oma_route_require_owned(oma_req *r, const char *table, const char *id, const char *what)
{
    int own = oma_route_owned(r, table, id);
    if (own > 0) return 0;
    if (own < 0) {
        char doing[96];
        snprintf(doing, sizeof doing, "finding the %s", what);
        return oma_route_dberr(r, doing);
    }
    oma_reply_error(r, 404, "not_found", "no such %s", what);
    return -1;
}

json_t *oma_route_list(oma_req *r, oma_stmt *st, const char *what,
                       json_t *(*one)(oma_db *db, const char *id, const char *artist_id))
{
    json_t *ids = json_array();
    int rc = 0;
    while (ids && (rc = oma_stmt_step(st)) == 1)
        json_array_append_new(ids, json_string(oma_stmt_text(st, 0) ? oma_stmt_text(st, 0) : ""));
    oma_stmt_finalize(st);
    if (!ids || rc < 0) {
        json_decref(ids);
        oma_route_dberr(r, what);
        return NULL;
    }
    json_t *arr = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) {
        json_t *o = one(r->db, json_string_value(v), r->artist_id);
        if (o && arr) json_array_append_new(arr, o);
        else json_decref(o);
    }
    json_decref(ids);
    if (!arr) oma_reply_error(r, 500, "internal", "out of memory");
    return arr;
}

int oma_route_storage_get(oma_req *r, const char *key, size_t max, uint8_t **data, size_t *len)
{
    char err[256];
    int rc = oma_storage_get(r->srv->storage, key, max, data, len, err, sizeof err);
    return rc == 0 ? 0 : oma_reply_storage_failed(r, rc, key, err);
}

void oma_route_send_stored(oma_req *r, oma_stmt *st, const char *what)
{
    char key[600] = "", mime[96] = "";
    int rc = oma_stmt_step(st);
    if (rc == 1) {
        snprintf(key, sizeof key, "%s", oma_stmt_text(st, 0) ? oma_stmt_text(st, 0) : "");
        snprintf(mime, sizeof mime, "%s", oma_stmt_text(st, 1) ? oma_stmt_text(st, 1) : "");
    }
    oma_stmt_finalize(st);
    if (rc < 0) {
        char doing[96];
        snprintf(doing, sizeof doing, "reading the %s", what);
        oma_route_dberr(r, doing);
        return;
    }
    if (!key[0]) {
        oma_reply_error(r, 404, "not_found", "no such %s", what);
        return;
    }
    oma_reply_stored(r, key, mime);
}

int oma_route_query_int(oma_req *r, const char *name, long lo, long hi, long def, long *out)
{
    const char *v = oma_req_query(r, name);
    *out = def;
    if (!v) return 0;
    char *end = NULL;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) {
        oma_reply_error(r, 400, "bad_request", "%s must be an integer in %ld..%ld", name, lo, hi);
        return -1;
    }
    *out = x;
    return 0;
}

json_t *oma_route_upload_json(oma_db *db, const char *upload_id, const char *artist_id)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT id, mime, width, height, bytes, sha256, created_at FROM uploads "
                           "WHERE id = ? AND artist_id = ?", &st) != 0)
        return NULL;
    oma_stmt_bind_text(st, 1, upload_id);
    oma_stmt_bind_text(st, 2, artist_id);
    json_t *o = NULL;
    if (oma_stmt_step(st) == 1) {
        const char *id = oma_stmt_text(st, 0), *mime = oma_stmt_text(st, 1),
                   *sha = oma_stmt_text(st, 5), *ca = oma_stmt_text(st, 6);
        o = json_pack("{s:s,s:s,s:I,s:I,s:I,s:s,s:s}", "id", id ? id : "", "mime",
                      mime ? mime : "", "width", (json_int_t)oma_stmt_int(st, 2), "height",
                      (json_int_t)oma_stmt_int(st, 3), "bytes", (json_int_t)oma_stmt_int(st, 4),
                      "sha256", sha ? sha : "", "created_at", ca ? ca : "");
    }
    oma_stmt_finalize(st);
    return o;
}
