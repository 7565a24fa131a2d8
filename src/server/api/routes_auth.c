/* routes_auth.c — sign up, log in, log out, who am I.
 * Log-ins back off per account and per client address (throttle.h): 429 with Retry-After,
 * decided before any password is hashed; the hashing itself runs off the serving threads
 * (auth_hasher.c) and a full hashing queue is a 429 too.
 * A successful sign-up or log-in answers the token in the body (for Bearer clients) and
 * as the oma_session cookie (HttpOnly, SameSite=Lax, Path=/) for the browser. */
#include <stdio.h>
#include <string.h>

#include "server/auth.h"
#include "server/http/http_routes.h"
#include "server/server_internal.h"

static void reply_session(oma_req *r, unsigned status, const char *artist_id)
{
    char token[OMA_TOKEN_HEX + 1];
    if (oma_auth_session_create(r->db, artist_id, token) != 0) {
        oma_route_dberr(r, "creating a session");
        return;
    }
    json_t *artist = oma_auth_artist_json(r->db, artist_id);
    if (!artist) {
        oma_route_dberr(r, "reading the artist");
        return;
    }
    oma_reply_json(r, status, json_pack("{s:o,s:s}", "artist", artist, "token", token));
    char cookie[160];
    snprintf(cookie, sizeof cookie, "oma_session=%s; HttpOnly; SameSite=Lax; Path=/; Max-Age=%d",
             token, OMA_SESSION_DAYS * 86400);
    oma_reply_header(r, "Set-Cookie", cookie);
}

/* Too many password hashes are waiting already. */
static void reply_busy(oma_req *r)
{
    oma_reply_error(r, 429, "too_many_requests", "the server is busy checking passwords; try again in a moment");
    oma_reply_header(r, "Retry-After", "2");
}

static void reply_throttled(oma_req *r, int wait_s)
{
    oma_reply_error(r, 429, "too_many_requests", "too many failed log-ins; try again in %d s", wait_s);
    char v[16];
    snprintf(v, sizeof v, "%d", wait_s);
    oma_reply_header(r, "Retry-After", v);
}

void oma_route_signup(oma_req *r)
{
    json_t *b = oma_req_json_object(r);
    if (!b) return;
    const char *email = oma_json_str(b, "email"), *pw = oma_json_str(b, "password"),
               *name = oma_json_str(b, "name");
    const char *why = oma_auth_check_email(email);
    if (!why) why = oma_auth_check_password(pw);
    if (!why) why = oma_auth_check_name(name);
    if (why) {
        oma_reply_error(r, 400, "bad_request", "%s", why);
        json_decref(b);
        return;
    }
    if (!oma_req_db(r)) {
        json_decref(b);
        return;
    }
    char id[OMA_AUTH_ID_MAX], err[256];
    int rc = oma_auth_create_artist(r->db, email, name, pw, id, err, sizeof err);
    json_decref(b);
    if (rc == 1) {
        oma_reply_error(r, 409, "conflict", "an account with this email exists");
        return;
    }
    if (rc == 2) {
        reply_busy(r);
        return;
    }
    if (rc != 0) {
        fprintf(stderr, "oma: signup: %s\n", err);
        oma_reply_error(r, 500, "internal", "could not create the account");
        return;
    }
    reply_session(r, 201, id);
}

/* Fills the throttle keys; 1 (and a 429 reply) when either is held back now. */
static int throttled(oma_req *r, const char *email, char *acct, size_t acctlen, char *addr, size_t addrlen)
{
    oma_auth_fold_email(email, acct, acctlen);
    oma_req_client_addr(r, addr, addrlen);
    int64_t now = oma_throttle_now_ms();
    int wa = oma_throttle_wait_s(r->srv->login_by_account, acct, now);
    int wb = oma_throttle_wait_s(r->srv->login_by_address, addr, now);
    if (!wa && !wb) return 0;
    reply_throttled(r, wa > wb ? wa : wb);
    return 1;
}

void oma_route_login_precheck(oma_req *r)
{
    json_t *b = oma_req_json_object(r);
    if (!b) return;   /* replied 400 */
    const char *email = oma_json_str(b, "email");
    char acct[260], addr[80];
    if (email && strlen(email) <= 254) (void)throttled(r, email, acct, sizeof acct, addr, sizeof addr);
    json_decref(b);
}

void oma_route_login(oma_req *r)
{
    json_t *b = oma_req_json_object(r);
    if (!b) return;
    const char *email = oma_json_str(b, "email"), *pw = oma_json_str(b, "password");
    if (!email || !pw || strlen(email) > 254 || strlen(pw) > 1024) {
        oma_reply_error(r, 400, "bad_request", "email and password are required");
        json_decref(b);
        return;
    }
    if (!oma_req_db(r)) {
        json_decref(b);
        return;
    }
    /* back-off per account and per address: a blocked key is refused before any hashing */
    char acct[260], addr[80];
    struct oma_server *srv = r->srv;
    if (throttled(r, email, acct, sizeof acct, addr, sizeof addr)) {
        json_decref(b);
        return;
    }
    char id[OMA_AUTH_ID_MAX];
    int rc = oma_auth_login(r->db, email, pw, id);
    json_decref(b);
    if (rc == 2) {
        reply_busy(r);
        return;
    }
    if (rc == 1) {
        int64_t now = oma_throttle_now_ms();
        oma_throttle_fail(srv->login_by_account, acct, now);
        oma_throttle_fail(srv->login_by_address, addr, now);
        oma_reply_error(r, 401, "unauthorized", "wrong email or password");
        return;
    }
    if (rc == 0) oma_throttle_clear(srv->login_by_account, acct);
    if (rc != 0) {
        oma_route_dberr(r, "logging in");
        return;
    }
    reply_session(r, 200, id);
}

void oma_route_logout(oma_req *r)
{
    if (oma_auth_session_delete(r->db, oma_req_token(r)) != 0) {
        oma_route_dberr(r, "logging out");
        return;
    }
    oma_reply_empty(r, 204);
    oma_reply_header(r, "Set-Cookie", "oma_session=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0");
}

void oma_route_me(oma_req *r)
{
    json_t *a = oma_auth_artist_json(r->db, r->artist_id);
    if (!a) {
        oma_route_dberr(r, "reading the artist");
        return;
    }
    oma_reply_json(r, 200, a);
}
