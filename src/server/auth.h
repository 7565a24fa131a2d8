/* auth.h — accounts and sessions: argon2id password hashes, random session tokens.
 *
 * Passwords are hashed with libsodium's crypto_pwhash_str (argon2id, INTERACTIVE limits).
 * A session token is 32 random bytes shown once to the client as 64 hex digits; the
 * database keeps only the SHA-256 of it, so a leaked database does not leak live sessions.
 * Sessions expire after OMA_SESSION_DAYS days.
 */
#ifndef OMA_SERVER_AUTH_H
#define OMA_SERVER_AUTH_H

#include <jansson.h>
#include <stddef.h>

#include "server/store/db.h"

#define OMA_SESSION_DAYS 30
#define OMA_TOKEN_HEX 64            /* characters, without the NUL */
#define OMA_AUTH_ID_MAX 72

/* Must be called once before any other function (sodium_init). 0 ok. */
int oma_auth_init(void);

/* Both run the argon2id work on the hashing threads (auth_hasher.c) and wait for it.
 * hash: out must hold crypto_pwhash_STRBYTES (128). 0 ok, -1 (out of memory), -2 busy.
 * verify: 1 if password matches the stored hash, 0 if not, -2 busy. */
int oma_auth_hash_password(const char *password, char *out, size_t outlen);
int oma_auth_verify_password(const char *hash, const char *password);
/* Runs fn(arg) on a hashing thread (half the CPUs at most) and waits. 0 done, -1 the queue is full. */
int oma_auth_hasher_run(void (*fn)(void *), void *arg);

/* 64 hex digits of fresh randomness + NUL (out >= 65 bytes). */
void oma_auth_new_token(char *out);
/* Lowercase hex SHA-256 of token (out >= 65 bytes). */
void oma_auth_token_hash(const char *token, char *out);
/* 1 if token looks like one of ours (64 lowercase hex digits). */
int oma_auth_token_wellformed(const char *token);

/* Field checks from docs/API.md; return NULL if fine, else a message for a person. */
const char *oma_auth_check_email(const char *email);
const char *oma_auth_check_password(const char *password);
const char *oma_auth_check_name(const char *name);

/* Case-folds an e-mail address for storing and comparing (auth_fold.c): ASCII and the
 * upper-case letters of Latin-1, Latin Extended-A/Additional, Greek and Cyrillic. */
void oma_auth_fold_email(const char *in, char *out, size_t outlen);
/* Characters (UTF-8 code points) in s. */
size_t oma_auth_utf8_chars(const char *s);

/* Creates an artist. 0 ok, 1 the email is taken, 2 busy (too many hashes queued), -1 error.
 * id_out >= OMA_AUTH_ID_MAX. */
int oma_auth_create_artist(oma_db *db, const char *email, const char *name, const char *password,
                           char *id_out, char *err, size_t errlen);
/* Checks credentials. 0 ok (id_out set), 1 wrong email or password, 2 busy, -1 error. */
int oma_auth_login(oma_db *db, const char *email, const char *password, char *id_out);
/* Creates a session for artist_id; token_out gets the token (>= 65). 0 ok. */
int oma_auth_session_create(oma_db *db, const char *artist_id, char *token_out);
/* Resolves a token: 0 ok (id_out set), 1 unknown/expired, -1 error. */
int oma_auth_session_lookup(oma_db *db, const char *token, char *id_out);
/* Deletes the session of token. 0 ok (also when absent). */
int oma_auth_session_delete(oma_db *db, const char *token);

/* Long-lived API tokens (auth_tokens.c): "oma_" + 64 hex digits, stored as their SHA-256. */
#define OMA_API_TOKEN_PREFIX "oma_"
#define OMA_API_TOKEN_LEN (4 + OMA_TOKEN_HEX)
#define OMA_API_TOKENS_PER_ARTIST 20
int oma_auth_api_token_wellformed(const char *token);
/* Makes a token named name for artist_id: token_out (>= OMA_API_TOKEN_LEN + 1) is shown once,
 * id_out (>= 33) names it from now on. 0 ok, -1 error. */
int oma_auth_api_token_create(oma_db *db, const char *artist_id, const char *name, char *token_out, char *id_out);
/* Resolves a token (and notes when it was used): 0 ok (id_out set), 1 unknown, -1 error. */
int oma_auth_api_token_lookup(oma_db *db, const char *token, char *id_out);
/* HTTP Basic credentials (the base64 after "Basic "): the password an API token of the artist
 * whose e-mail is the user name. 0 ok, 1 wrong, -1 error. */
int oma_auth_basic_lookup(oma_db *db, const char *b64, char *id_out);
/* {"id","name","created_at","last_used_at"} of one token / all the artist's (newest first);
 * NULL when absent or on error. */
json_t *oma_auth_api_token_json(oma_db *db, const char *id, const char *artist_id);
json_t *oma_auth_api_tokens_json(oma_db *db, const char *artist_id);
int oma_auth_api_token_count(oma_db *db, const char *artist_id);
/* 0 revoked, 1 no such token of the artist, -1 error. */
int oma_auth_api_token_revoke(oma_db *db, const char *artist_id, const char *id);

/* The artist as the API shows it ({"id","email","name","created_at"}), or NULL. */
json_t *oma_auth_artist_json(oma_db *db, const char *artist_id);

/* A fresh random id: 32 lowercase hex digits (out >= 33). */
void oma_auth_new_id(char *out);

#endif
