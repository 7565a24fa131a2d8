/* test_auth.c — password hashing (argon2id), tokens (random, only their SHA-256 stored),
 * field checks, and the artist/session rows against a real SQLite database: sign-up
 * conflicts, wrong passwords, session lookup, logout and expiry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/auth.h"
#include "server/store/db.h"

#include "check.h"

static void test_passwords(void)
{
    char h[128];
    CHECK(oma_auth_hash_password("correct horse", h, sizeof h) == 0);
    CHECK(strncmp(h, "$argon2id$", 10) == 0);
    CHECK(oma_auth_verify_password(h, "correct horse") == 1);
    CHECK(oma_auth_verify_password(h, "correct horsE") == 0);
    CHECK(oma_auth_verify_password(h, "") == 0);
    CHECK(oma_auth_verify_password("not a hash", "correct horse") == 0);
    char h2[128];
    CHECK(oma_auth_hash_password("correct horse", h2, sizeof h2) == 0);
    CHECK(strcmp(h, h2) != 0);   /* salted */
    CHECK(oma_auth_hash_password("x", h, 10) == -1);
}

static void test_tokens(void)
{
    char a[65], b[65], hsh[65];
    oma_auth_new_token(a);
    oma_auth_new_token(b);
    CHECK(strlen(a) == 64 && oma_auth_token_wellformed(a));
    CHECK(strcmp(a, b) != 0);
    oma_auth_token_hash("abc", hsh);   /* FIPS 180-2 test vector */
    CHECK(strcmp(hsh, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    CHECK(!oma_auth_token_wellformed("abc"));
    CHECK(!oma_auth_token_wellformed(NULL));
    char up[65];
    memcpy(up, a, 65);
    up[3] = 'G';
    CHECK(!oma_auth_token_wellformed(up));
    char longer[70];
    snprintf(longer, sizeof longer, "%s00", a);
    CHECK(!oma_auth_token_wellformed(longer));
    char id[33];
    oma_auth_new_id(id);
    CHECK(strlen(id) == 32);
}

static void test_checks(void)
{
    CHECK(oma_auth_check_email("a@b") == NULL);
    CHECK(oma_auth_check_email("ab") != NULL);
    CHECK(oma_auth_check_email("abc") != NULL);
    CHECK(oma_auth_check_email("@bc") != NULL);
    CHECK(oma_auth_check_email("a b@c") != NULL);
    CHECK(oma_auth_check_email(NULL) != NULL);
    char longmail[300];
    memset(longmail, 'a', 260);
    longmail[10] = '@';
    longmail[260] = '\0';
    CHECK(oma_auth_check_email(longmail) != NULL);
    CHECK(oma_auth_check_password("1234567") != NULL);
    CHECK(oma_auth_check_password("12345678") == NULL);
    CHECK(oma_auth_check_name("") != NULL);
    CHECK(oma_auth_check_name("Kim") == NULL);
    CHECK(oma_auth_check_name("bad\nname") != NULL);
}

static void test_db(void)
{
    char dir[] = "/tmp/oma_test_auth_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(!"mkdtemp");
        return;
    }
    char url[128], err[256];
    snprintf(url, sizeof url, "sqlite:%s/oma.db", dir);
    oma_db *db = NULL;
    CHECK(oma_db_open(&db, url, 1, err, sizeof err) == 0);
    if (!db) return;
    char id[OMA_AUTH_ID_MAX], id2[OMA_AUTH_ID_MAX], other[OMA_AUTH_ID_MAX];
    /* e-mail case folding beyond ASCII */
    char f[64];
    oma_auth_fold_email("\xc3\x9cN\xc3\x8f@EX\xc3\x84MPLE.COM", f, sizeof f);
    CHECK(strcmp(f, "\xc3\xbcn\xc3\xaf@ex\xc3\xa4mple.com") == 0);
    oma_auth_fold_email("\xc5\xb8\xc4\x80\xce\xa3\xd0\x94\xd0\x81\xc3\x97", f, sizeof f); /* Ÿ Ā Σ Д Ё × */
    CHECK(strcmp(f, "\xc3\xbf\xc4\x81\xcf\x83\xd0\xb4\xd1\x91\xc3\x97") == 0);
    oma_auth_fold_email("A\xff\xc3" "B", f, sizeof f);   /* not UTF-8: bytes kept */
    CHECK(strcmp(f, "a\xff\xc3" "b") == 0);
    oma_auth_fold_email("\xc3\x9c\xc3\x9c", f, 4);   /* never past outlen, never half a character */
    CHECK(strcmp(f, "\xc3\xbc") == 0);
    CHECK(oma_auth_utf8_chars("\xc3\xbcn\xc3\xaf") == 3);
    CHECK(oma_auth_create_artist(db, "Kim@Example.com", "Kim", "password1", id, err, sizeof err) == 0);
    CHECK(oma_auth_create_artist(db, "kim@example.com", "Kim2", "password2", id2, err, sizeof err) == 1);
    CHECK(oma_auth_create_artist(db, "lee@example.com", "Lee", "password3", other, err, sizeof err) == 0);
    CHECK(oma_auth_login(db, "KIM@example.com", "password1", id2) == 0 && strcmp(id, id2) == 0);
    CHECK(oma_auth_login(db, "kim@example.com", "password2", id2) == 1);
    CHECK(oma_auth_login(db, "nobody@example.com", "password1", id2) == 1);
    /* an account stored before Unicode folding (ASCII letters lowered only) still logs in */
    char legacy_hash[160];
    CHECK(oma_auth_hash_password("password4", legacy_hash, sizeof legacy_hash) == 0);
    oma_stmt *ls = NULL;
    CHECK(oma_db_prepare(db, "INSERT INTO artists (id, email, name, password_hash, created_at) "
                             "VALUES ('legacy1', '\xc3\x9cn\xc3\x8f@example.com', 'Old', ?, '2026-01-01T00:00:00Z')",
                         &ls) == 0 &&
          oma_stmt_bind_text(ls, 1, legacy_hash) == 0 && oma_stmt_step(ls) == 0);
    oma_stmt_finalize(ls);
    CHECK(oma_auth_login(db, "\xc3\x9cN\xc3\x8f@EXAMPLE.COM", "password4", id2) == 0 && strcmp(id2, "legacy1") == 0);
    CHECK(oma_auth_create_artist(db, "\xc3\x9cN\xc3\x8f@example.com", "Dup", "password5", id2, err, sizeof err) == 1);

    json_t *a = oma_auth_artist_json(db, id);
    CHECK(a && strcmp(json_string_value(json_object_get(a, "email")), "kim@example.com") == 0);
    CHECK(a && json_object_get(a, "password_hash") == NULL);
    json_decref(a);

    char tok[65], tok2[65], who[OMA_AUTH_ID_MAX];
    CHECK(oma_auth_session_create(db, id, tok) == 0);
    CHECK(oma_auth_session_create(db, other, tok2) == 0);
    CHECK(oma_auth_session_lookup(db, tok, who) == 0 && strcmp(who, id) == 0);
    CHECK(oma_auth_session_lookup(db, tok2, who) == 0 && strcmp(who, other) == 0);
    /* the token itself is not in the database, only its digest */
    oma_stmt *st = NULL;
    CHECK(oma_db_prepare(db, "SELECT COUNT(*) FROM sessions WHERE token_hash = ?", &st) == 0);
    oma_stmt_bind_text(st, 1, tok);
    CHECK(oma_stmt_step(st) == 1 && oma_stmt_int(st, 0) == 0);
    oma_stmt_finalize(st);
    /* forged tokens */
    char forged[65];
    memcpy(forged, tok, 65);
    forged[0] = forged[0] == 'a' ? 'b' : 'a';
    CHECK(oma_auth_session_lookup(db, forged, who) == 1);
    CHECK(oma_auth_session_lookup(db, "", who) == 1);
    CHECK(oma_auth_session_lookup(db, "' OR 1=1 --", who) == 1);
    /* logout */
    CHECK(oma_auth_session_delete(db, tok) == 0);
    CHECK(oma_auth_session_lookup(db, tok, who) == 1);
    CHECK(oma_auth_session_lookup(db, tok2, who) == 0);
    /* expiry */
    CHECK(oma_db_exec(db, "UPDATE sessions SET expires_at = '2001-01-01T00:00:00Z'") == 0);
    CHECK(oma_auth_session_lookup(db, tok2, who) == 1);
    /* a new session sweeps the expired ones */
    char tok3[65];
    CHECK(oma_auth_session_create(db, id, tok3) == 0);
    CHECK(oma_db_prepare(db, "SELECT COUNT(*) FROM sessions", &st) == 0);
    CHECK(oma_stmt_step(st) == 1 && oma_stmt_int(st, 0) == 1);
    oma_stmt_finalize(st);
    CHECK(oma_auth_session_lookup(db, tok3, who) == 0 && strcmp(who, id) == 0);
    oma_db_close(db);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
    if (oma_auth_init() != 0) {
        fprintf(stderr, "sodium_init failed\n");
        return 1;
    }
    test_passwords();
    test_tokens();
    test_checks();
    test_db();
    if (failures) {
        fprintf(stderr, "test_auth: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_auth: ok\n");
    return 0;
}
