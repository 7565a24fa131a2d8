/* routes_tokens.c — the artist's long-lived API tokens: make one (its secret is shown once),
 * list them (names and dates, never secrets), revoke one. Scripts, bots and AUTOMATIC1111
 * clients send a token as Bearer, or as the password of HTTP Basic on /sdapi/v1 routes. */
#include <stdio.h>
#include <string.h>

#include "server/auth.h"
#include "server/http/http_routes.h"
#include "server/server_internal.h"

void oma_route_token_create(oma_req *r)
{
    json_t *b = oma_req_json_object(r);
    if (!b) return;
    json_t *nv = json_object_get(b, "name");
    const char *name = json_string_value(nv);
    if (nv && !json_is_string(nv)) {
        oma_reply_error(r, 400, "bad_request", "name must be a string");
        goto out;
    }
    if (!name || !*name) name = "API token";
    if (oma_auth_utf8_chars(name) > 100 || strlen(name) > 400) {
        oma_reply_error(r, 400, "bad_request", "name is at most 100 characters");
        goto out;
    }
    int n = oma_auth_api_token_count(r->db, r->artist_id);
    if (n < 0) {
        oma_route_dberr(r, "counting your tokens");
        goto out;
    }
    if (n >= OMA_API_TOKENS_PER_ARTIST) {
        oma_reply_error(r, 409, "conflict", "you have %d API tokens already; revoke one first", n);
        goto out;
    }
    char token[OMA_API_TOKEN_LEN + 1], id[40];
    if (oma_auth_api_token_create(r->db, r->artist_id, name, token, id) != 0) {
        oma_route_dberr(r, "making the token");
        goto out;
    }
    json_t *t = oma_auth_api_token_json(r->db, id, r->artist_id);
    if (!t) {
        oma_route_dberr(r, "reading the token");
        goto out;
    }
    json_object_set_new(t, "token", json_string(token));
    oma_reply_json(r, 201, t);
out:
    json_decref(b);
}

void oma_route_token_list(oma_req *r)
{
    json_t *list = oma_auth_api_tokens_json(r->db, r->artist_id);
    if (!list) {
        oma_route_dberr(r, "listing your tokens");
        return;
    }
    oma_reply_json(r, 200, json_pack("{s:o}", "tokens", list));
}

void oma_route_token_revoke(oma_req *r)
{
    const char *id = oma_route_id(r, 0, "token");
    if (!id) return;
    int rc = oma_auth_api_token_revoke(r->db, r->artist_id, id);
    if (rc < 0) {
        oma_route_dberr(r, "revoking the token");
        return;
    }
    if (rc == 1) {
        oma_reply_error(r, 404, "not_found", "no such token");
        return;
    }
    oma_reply_empty(r, 204);
}
