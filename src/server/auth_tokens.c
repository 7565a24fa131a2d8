/* auth_tokens.c — long-lived API tokens: what scripts, bots and AUTOMATIC1111 clients send.
 *
 * The idea: a token is "oma_" + 64 hex digits of fresh randomness, shown once when it is made;
 * the database keeps its SHA-256 (as for sessions), a name for the person and when it was last
 * used. The prefix tells it from a session token at a glance, so the lookup goes to the right
 * table. A token does not expire; it is revoked by deleting it. HTTP Basic (A1111's
 * --api-auth) carries "e-mail:token": the token decides, the e-mail must be its artist's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/auth.h"
#include "server/http/b64.h"

int oma_auth_api_token_wellformed(const char *t)
{
    if (!t || strncmp(t, OMA_API_TOKEN_PREFIX, 4) != 0) return 0;
    return oma_auth_token_wellformed(t + 4);
}

static json_t *token_row_json(oma_stmt *st)
{
    const char *id = oma_stmt_text(st, 0), *name = oma_stmt_text(st, 1), *ca = oma_stmt_text(st, 2),
               *lu = oma_stmt_text(st, 3);
    return json_pack("{s:s,s:s,s:s,s:o}", "id", id ? id : "", "name", name ? name : "", "created_at",
                     ca ? ca : "", "last_used_at", lu ? json_string(lu) : json_null());
}

json_t *oma_auth_api_token_json(oma_db *db, const char *id, const char *artist_id)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT id, name, created_at, last_used_at FROM api_tokens WHERE id = ? AND artist_id = ?",
                       &st) != 0)
        return NULL;
    oma_stmt_bind_text(st, 1, id);
    oma_stmt_bind_text(st, 2, artist_id);
    json_t *o = oma_stmt_step(st) == 1 ? token_row_json(st) : NULL;
    oma_stmt_finalize(st);
    return o;
}

json_t *oma_auth_api_tokens_json(oma_db *db, const char *artist_id)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT id, name, created_at, last_used_at FROM api_tokens WHERE artist_id = ? "
                           "ORDER BY created_at DESC, id", &st) != 0)
        return NULL;
    oma_stmt_bind_text(st, 1, artist_id);
    json_t *arr = json_array();
    int rc;
    while (arr && (rc = oma_stmt_step(st)) == 1) {
        json_t *o = token_row_json(st);
        if (!o || json_array_append_new(arr, o) != 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    oma_stmt_finalize(st);
    if (arr && rc < 0) {
        json_decref(arr);
        arr = NULL;
    }
    return arr;
}

int oma_auth_api_token_count(oma_db *db, const char *artist_id)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT COUNT(*) FROM api_tokens WHERE artist_id = ?", &st) != 0) return -1;
    oma_stmt_bind_text(st, 1, artist_id);
    int n = oma_stmt_step(st) == 1 ? (int)oma_stmt_int(st, 0) : -1;
    oma_stmt_finalize(st);
    return n;
}

int oma_auth_api_token_create(oma_db *db, const char *artist_id, const char *name, char *token_out, char *id_out)
{
    char hex[OMA_TOKEN_HEX + 1], th[65], now[32];
    oma_auth_new_token(hex);
    snprintf(token_out, OMA_API_TOKEN_LEN + 1, "%s%s", OMA_API_TOKEN_PREFIX, hex);
    oma_auth_token_hash(token_out, th);
    oma_auth_new_id(id_out);
    oma_db_now(now, sizeof now);
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "INSERT INTO api_tokens(id, artist_id, name, token_hash, created_at) VALUES (?, ?, ?, ?, ?)",
                       &st) != 0)
        return -1;
    oma_stmt_bind_text(st, 1, id_out);
    oma_stmt_bind_text(st, 2, artist_id);
    oma_stmt_bind_text(st, 3, name);
    oma_stmt_bind_text(st, 4, th);
    oma_stmt_bind_text(st, 5, now);
    int rc = oma_stmt_step(st);
    oma_stmt_finalize(st);
    return rc == 0 ? 0 : -1;
}

int oma_auth_api_token_lookup(oma_db *db, const char *token, char *id_out)
{
    if (!oma_auth_api_token_wellformed(token)) return 1;
    char th[65], now[32];
    oma_auth_token_hash(token, th);
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT artist_id FROM api_tokens WHERE token_hash = ?", &st) != 0) return -1;
    oma_stmt_bind_text(st, 1, th);
    int rc = oma_stmt_step(st), found = 0;
    if (rc == 1) {
        const char *id = oma_stmt_text(st, 0);
        if (id && strlen(id) < OMA_AUTH_ID_MAX) {
            snprintf(id_out, OMA_AUTH_ID_MAX, "%s", id);
            found = 1;
        }
    }
    oma_stmt_finalize(st);
    if (rc < 0) return -1;
    if (!found) return 1;
    /* when it was last used, to the minute: a failed write does not refuse the request */
    oma_db_now(now, sizeof now);
    if (oma_db_prepare(db, "UPDATE api_tokens SET last_used_at = ? WHERE token_hash = ? AND "
                           "(last_used_at IS NULL OR substr(last_used_at, 1, 16) <> substr(?, 1, 16))", &st) == 0) {
        oma_stmt_bind_text(st, 1, now);
        oma_stmt_bind_text(st, 2, th);
        oma_stmt_bind_text(st, 3, now);
        (void)oma_stmt_step(st);
        oma_stmt_finalize(st);
    }
    return 0;
}

int oma_auth_basic_lookup(oma_db *db, const char *b64, char *id_out)
{
    while (*b64 == ' ') b64++;
    size_t n = strlen(b64);
    if (n > 2048) return 1;
    uint8_t *raw = NULL;
    size_t len = 0;
    if (oma_b64_decode(b64, n, 1024, &raw, &len) != 0) return 1;
    char cred[1025];
    memcpy(cred, raw, len);
    cred[len] = '\0';
    free(raw);
    char *colon = memchr(cred, ':', len);
    if (!colon || strlen(cred) != len) return 1;   /* no separator, or a NUL inside */
    *colon = '\0';
    const char *user = cred, *pass = colon + 1;
    char artist[OMA_AUTH_ID_MAX];
    int rc = oma_auth_api_token_lookup(db, pass, artist);
    if (rc != 0) return rc;
    char folded[260];
    if (strlen(user) > 254) return 1;
    oma_auth_fold_email(user, folded, sizeof folded);
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT 1 FROM artists WHERE id = ? AND email = ?", &st) != 0) return -1;
    oma_stmt_bind_text(st, 1, artist);
    oma_stmt_bind_text(st, 2, folded);
    rc = oma_stmt_step(st);
    oma_stmt_finalize(st);
    if (rc < 0) return -1;
    if (rc == 0) return 1;
    snprintf(id_out, OMA_AUTH_ID_MAX, "%s", artist);
    return 0;
}

int oma_auth_api_token_revoke(oma_db *db, const char *artist_id, const char *id)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "DELETE FROM api_tokens WHERE id = ? AND artist_id = ?", &st) != 0) return -1;
    oma_stmt_bind_text(st, 1, id);
    oma_stmt_bind_text(st, 2, artist_id);
    int rc = oma_stmt_step(st);
    oma_stmt_finalize(st);
    if (rc < 0) return -1;
    return oma_db_changes(db) > 0 ? 0 : 1;
}
