/* routes_webtoons.c — an artist's series: create, list, get, delete; style samples
 * (uploads added to a webtoon) and the styles learned from them.
 * Every query carries artist_id, so another artist's webtoon simply is not found (404). */
#include <stdio.h>
#include <string.h>

#include "server/auth.h"
#include "server/http/http_routes.h"

static json_t *styles_json(oma_db *db, const char *webtoon_id)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT id, name, kind, status, data, created_at FROM styles "
                           "WHERE webtoon_id = ? ORDER BY created_at DESC, id", &st) != 0)
        return NULL;
    oma_stmt_bind_text(st, 1, webtoon_id);
    json_t *arr = json_array();
    int rc = 0;
    while (arr && (rc = oma_stmt_step(st)) == 1) {
        const char *data = oma_stmt_text(st, 4);
        json_t *d = data ? json_loads(data, 0, NULL) : NULL;
        const char *c[6];
        for (int i = 0; i < 6; i++) c[i] = oma_stmt_text(st, i) ? oma_stmt_text(st, i) : "";
        json_array_append_new(arr, json_pack("{s:s,s:s,s:s,s:s,s:o,s:s}", "id", c[0], "name", c[1],
                                             "kind", c[2], "status", c[3], "data",
                                             d ? d : json_null(), "created_at", c[5]));
    }
    oma_stmt_finalize(st);
    if (rc < 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

static json_t *samples_json(oma_db *db, const char *webtoon_id, const char *artist_id)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT upload_id, created_at FROM webtoon_samples WHERE webtoon_id = ? "
                           "ORDER BY created_at, upload_id", &st) != 0)
        return NULL;
    oma_stmt_bind_text(st, 1, webtoon_id);
    json_t *ids = json_array();
    int rc = 0;
    while (ids && (rc = oma_stmt_step(st)) == 1) {
        const char *u = oma_stmt_text(st, 0), *ca = oma_stmt_text(st, 1);
        json_array_append_new(ids, json_pack("[s,s]", u ? u : "", ca ? ca : ""));
    }
    oma_stmt_finalize(st);
    if (!ids || rc < 0) {
        json_decref(ids);
        return NULL;
    }
    json_t *arr = json_array();
    size_t i;
    json_t *pair;
    json_array_foreach(ids, i, pair) {
        const char *uid = json_string_value(json_array_get(pair, 0));
        json_t *u = oma_route_upload_json(db, uid, artist_id);
        if (!u || !arr) {
            json_decref(u);
            continue;
        }
        json_object_set_new(u, "upload_id", json_string(uid));
        json_object_set_new(u, "added_at", json_incref(json_array_get(pair, 1)));
        json_array_append_new(arr, u);
    }
    json_decref(ids);
    return arr;
}

/* The webtoon object with samples and styles, or NULL when absent (or on error). */
static json_t *webtoon_json(oma_db *db, const char *id, const char *artist_id)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT id, name, description, created_at FROM webtoons "
                           "WHERE id = ? AND artist_id = ?", &st) != 0)
        return NULL;
    oma_stmt_bind_text(st, 1, id);
    oma_stmt_bind_text(st, 2, artist_id);
    json_t *o = NULL;
    if (oma_stmt_step(st) == 1) {
        const char *c[4];
        for (int i = 0; i < 4; i++) c[i] = oma_stmt_text(st, i) ? oma_stmt_text(st, i) : "";
        o = json_pack("{s:s,s:s,s:s,s:s}", "id", c[0], "name", c[1], "description", c[2],
                      "created_at", c[3]);
    }
    oma_stmt_finalize(st);
    if (o) {
        json_t *s = samples_json(db, id, artist_id), *y = styles_json(db, id);
        if (!s || !y) {
            json_decref(s);
            json_decref(y);
            json_decref(o);
            return NULL;
        }
        json_object_set_new(o, "samples", s);
        json_object_set_new(o, "styles", y);
    }
    return o;
}

void oma_route_webtoon_create(oma_req *r)
{
    json_t *b = oma_req_json_object(r);
    if (!b) return;
    const char *name = oma_json_str(b, "name"), *desc = oma_json_str(b, "description");
    json_t *dv = json_object_get(b, "description");
    /* limits count characters (UTF-8 code points), as docs/API.md says */
    if (!name || !name[0] || strlen(name) > 800 || oma_auth_utf8_chars(name) > 200 ||
        (dv && !json_is_null(dv) && !desc) || (desc && (strlen(desc) > 16000 || oma_auth_utf8_chars(desc) > 4000))) {
        oma_reply_error(r, 400, "bad_request", "name (1..200 chars) is required; description is "
                                               "an optional string up to 4000 chars");
        json_decref(b);
        return;
    }
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) {
            oma_reply_error(r, 400, "bad_request", "name must not contain control characters");
            json_decref(b);
            return;
        }
    char id[40], now[32];
    oma_auth_new_id(id);
    oma_db_now(now, sizeof now);
    oma_stmt *st = NULL;
    int rc = -1;
    if (oma_db_prepare(r->db, "INSERT INTO webtoons (id, artist_id, name, description, created_at, created_us) "
                              "VALUES (?, ?, ?, ?, ?, ?)", &st) == 0) {
        oma_stmt_bind_text(st, 1, id);
        oma_stmt_bind_text(st, 2, r->artist_id);
        oma_stmt_bind_text(st, 3, name);
        oma_stmt_bind_text(st, 4, desc ? desc : "");
        oma_stmt_bind_text(st, 5, now);
        oma_stmt_bind_int(st, 6, oma_db_unix_now_us());
        rc = oma_stmt_step(st);
        oma_stmt_finalize(st);
    }
    json_decref(b);
    if (rc < 0) {
        oma_route_dberr(r, "creating the webtoon");
        return;
    }
    json_t *o = webtoon_json(r->db, id, r->artist_id);
    if (!o) {
        oma_route_dberr(r, "reading the webtoon");
        return;
    }
    oma_reply_json(r, 201, o);
}

void oma_route_webtoon_list(oma_req *r)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(r->db, "SELECT id FROM webtoons WHERE artist_id = ? "
                              "ORDER BY created_at DESC, created_us DESC, id DESC LIMIT 1000", &st) != 0) {
        oma_route_dberr(r, "listing webtoons");
        return;
    }
    oma_stmt_bind_text(st, 1, r->artist_id);
    json_t *arr = oma_route_list(r, st, "listing webtoons", webtoon_json);
    if (!arr) return;
    oma_reply_json(r, 200, json_pack("{s:o}", "webtoons", arr));
}

void oma_route_webtoon_get(oma_req *r)
{
    const char *id = oma_route_id(r, 0, "webtoon");
    if (!id) return;
    json_t *o = webtoon_json(r->db, id, r->artist_id);
    if (!o) {
        oma_reply_error(r, 404, "not_found", "no such webtoon");
        return;
    }
    oma_reply_json(r, 200, o);
}

void oma_route_webtoon_delete(oma_req *r)
{
    const char *id = oma_route_id(r, 0, "webtoon");
    if (!id) return;
    if (oma_route_require_owned(r, "webtoons", id, "webtoon") != 0) return;
    if (oma_db_begin(r->db) != 0) {
        oma_route_dberr(r, "deleting the webtoon");
        return;
    }
    /* its jobs end now: queued ones never start, running ones are no longer their worker's
     * (its next write sees that and stops); nothing of theirs is stored afterwards */
    char now[32];
    oma_db_now(now, sizeof now);
    if (oma_db_exec_bound(r->db, "UPDATE jobs SET status = 'cancelled', finished_at = ?, lease_until = NULL, "
                                 "cancel_requested = 1, error = 'its webtoon was deleted', "
                                 "message = 'cancelled: its webtoon was deleted' "
                                 "WHERE webtoon_id = ? AND status IN ('queued', 'running')",
                          now, id, NULL) ||
        oma_db_exec_bound(r->db, "UPDATE jobs SET webtoon_id = NULL WHERE webtoon_id = ?", id, NULL,
                          NULL) ||
        oma_db_exec_bound(r->db, "DELETE FROM asset_inputs WHERE asset_id IN "
                                 "(SELECT id FROM assets WHERE webtoon_id = ?)", id, NULL, NULL) ||
        oma_db_exec_bound(r->db, "DELETE FROM assets WHERE webtoon_id = ?", id, NULL, NULL) ||
        oma_db_exec_bound(r->db, "DELETE FROM styles WHERE webtoon_id = ?", id, NULL, NULL) ||
        oma_db_exec_bound(r->db, "DELETE FROM webtoon_samples WHERE webtoon_id = ?", id, NULL, NULL) ||
        oma_db_exec_bound(r->db, "DELETE FROM webtoons WHERE id = ? AND artist_id = ?", id,
                          r->artist_id, NULL) ||
        oma_db_commit(r->db) != 0) {
        oma_route_dberr(r, "deleting the webtoon");
        oma_db_rollback(r->db);
        return;
    }
    oma_reply_empty(r, 204);
}

void oma_route_sample_add(oma_req *r)
{
    const char *id = oma_route_id(r, 0, "webtoon");
    if (!id) return;
    json_t *b = oma_req_json_object(r);
    if (!b) return;
    char upload[72];
    const char *u = oma_json_str(b, "upload_id");
    snprintf(upload, sizeof upload, "%s", u && strlen(u) < sizeof upload ? u : "");
    json_decref(b);
    if (oma_route_require_owned(r, "webtoons", id, "webtoon") != 0) return;
    if (!oma_http_id_valid(upload)) {
        oma_reply_error(r, 404, "not_found", "no such upload");
        return;
    }
    json_t *up = oma_route_upload_json(r->db, upload, r->artist_id);
    if (!up) {
        oma_reply_error(r, 404, "not_found", "no such upload");
        return;
    }
    char now[32];
    oma_db_now(now, sizeof now);
    oma_stmt *st = NULL;
    int rc = -1;
    if (oma_db_prepare(r->db, "INSERT INTO webtoon_samples (webtoon_id, upload_id, created_at) "
                              "SELECT ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM webtoon_samples "
                              "WHERE webtoon_id = ? AND upload_id = ?)", &st) == 0) {
        oma_stmt_bind_text(st, 1, id);
        oma_stmt_bind_text(st, 2, upload);
        oma_stmt_bind_text(st, 3, now);
        oma_stmt_bind_text(st, 4, id);
        oma_stmt_bind_text(st, 5, upload);
        rc = oma_stmt_step(st);
        oma_stmt_finalize(st);
    }
    if (rc < 0) {
        json_decref(up);
        oma_route_dberr(r, "adding the sample");
        return;
    }
    json_object_set_new(up, "upload_id", json_string(upload));
    json_object_set_new(up, "webtoon_id", json_string(id));
    oma_reply_json(r, 201, up);
}

void oma_route_sample_delete(oma_req *r)
{
    const char *id = oma_route_id(r, 0, "webtoon");
    const char *upload = id ? oma_route_id(r, 1, "sample") : NULL;
    if (!upload) return;
    if (oma_route_require_owned(r, "webtoons", id, "webtoon") != 0) return;
    if (oma_db_exec_bound(r->db, "DELETE FROM webtoon_samples WHERE webtoon_id = ? AND upload_id = ?",
                          id, upload, NULL) != 0) {
        oma_route_dberr(r, "removing the sample");
        return;
    }
    if (oma_db_changes(r->db) == 0) {
        oma_reply_error(r, 404, "not_found", "no such sample");
        return;
    }
    oma_reply_empty(r, 204);
}

void oma_route_styles_list(oma_req *r)
{
    const char *id = oma_route_id(r, 0, "webtoon");
    if (!id) return;
    if (oma_route_require_owned(r, "webtoons", id, "webtoon") != 0) return;
    json_t *s = styles_json(r->db, id);
    if (!s) {
        oma_route_dberr(r, "listing styles");
        return;
    }
    oma_reply_json(r, 200, json_pack("{s:o}", "styles", s));
}
