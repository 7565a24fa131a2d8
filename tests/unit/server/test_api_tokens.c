/* test_api_tokens.c — long-lived API tokens against a real SQLite database: made with the
 * "oma_" prefix and stored only as their SHA-256, looked up (noting last use), read as HTTP
 * Basic "e-mail:token" (folded e-mail, wrong user, wrong token, garbage), listed without secrets,
 * revoked only by their artist; and the strict base64 codec Basic and the A1111 API use. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/auth.h"
#include "server/http/b64.h"
#include "server/store/db.h"

#include "check.h"

static void test_b64(void)
{
    static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};  /* RFC 4648 §10 */
    for (int i = 0; i < 7; i++) {
        size_t n = 0;
        char *e = oma_b64_encode((const uint8_t *)plain[i], strlen(plain[i]), &n);
        CHECK(e && strcmp(e, coded[i]) == 0 && n == strlen(coded[i]));
        free(e);
        uint8_t *d = NULL;
        size_t dl = 0;
        CHECK(oma_b64_decode(coded[i], strlen(coded[i]), 100, &d, &dl) == 0 && dl == strlen(plain[i]) &&
              memcmp(d, plain[i], dl) == 0);
        free(d);
    }
    uint8_t *d = NULL;
    size_t dl = 0;
    CHECK(oma_b64_decode("Zm9v\nYmFy\r\n", 11, 100, &d, &dl) == 0 && dl == 6);   /* line breaks skipped */
    free(d);
    CHECK(oma_b64_decode("Zm9vYg", 6, 100, &d, &dl) == 0 && dl == 4);           /* padding optional */
    free(d);
    CHECK(oma_b64_decode("Zm9v!", 5, 100, &d, &dl) == -1 && d == NULL);          /* a stranger */
    CHECK(oma_b64_decode("Zg==Zg==", 8, 100, &d, &dl) == -1);                    /* data after padding */
    CHECK(oma_b64_decode("Z", 1, 100, &d, &dl) == -1);                           /* a lone sextet */
    CHECK(oma_b64_decode("Zm9vYmFy", 8, 5, &d, &dl) == -2);                      /* over max */
    CHECK(oma_b64_decode("Zm9vYmFy", 8, 6, &d, &dl) == 0 && dl == 6);
    free(d);
}

static int count_rows(oma_db *db, const char *sql)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, sql, &st) != 0) return -1;
    int n = oma_stmt_step(st) == 1 ? (int)oma_stmt_int(st, 0) : -1;
    oma_stmt_finalize(st);
    return n;
}

static int basic(oma_db *db, const char *user, const char *pass, char *who)
{
    char cred[300];
    snprintf(cred, sizeof cred, "%s:%s", user, pass);
    char *b = oma_b64_encode((const uint8_t *)cred, strlen(cred), NULL);
    int rc = b ? oma_auth_basic_lookup(db, b, who) : -1;
    free(b);
    return rc;
}

static void test_tokens_db(void)
{
    char dir[] = "/tmp/oma_test_api_tokens_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(!"mkdtemp");
        return;
    }
    char url[128], err[256];
    snprintf(url, sizeof url, "sqlite:%s/oma.db", dir);
    oma_db *db = NULL;
    CHECK(oma_db_open(&db, url, 1, err, sizeof err) == 0);
    if (!db) return;
    char kim[OMA_AUTH_ID_MAX], lee[OMA_AUTH_ID_MAX], who[OMA_AUTH_ID_MAX];
    CHECK(oma_auth_create_artist(db, "Kim@Example.com", "Kim", "password1", kim, err, sizeof err) == 0);
    CHECK(oma_auth_create_artist(db, "lee@example.com", "Lee", "password2", lee, err, sizeof err) == 0);

    char tok[OMA_API_TOKEN_LEN + 1], id[40], tok2[OMA_API_TOKEN_LEN + 1], id2[40];
    CHECK(oma_auth_api_token_create(db, kim, "bot", tok, id) == 0);
    CHECK(oma_auth_api_token_create(db, lee, "lee's", tok2, id2) == 0);
    CHECK(strlen(tok) == 68 && strncmp(tok, "oma_", 4) == 0 && oma_auth_api_token_wellformed(tok));
    CHECK(!oma_auth_api_token_wellformed(tok + 4));   /* a session token's form is not an API token */
    CHECK(!oma_auth_api_token_wellformed("oma_xyz"));
    CHECK(!oma_auth_api_token_wellformed(NULL));
    /* only the hash is stored */
    char th[65], sql[200];
    oma_auth_token_hash(tok, th);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM api_tokens WHERE token_hash = '%s'", th);
    CHECK(count_rows(db, sql) == 1);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM api_tokens WHERE token_hash LIKE '%%%s%%'", tok + 4);
    CHECK(count_rows(db, sql) == 0);

    CHECK(oma_auth_api_token_lookup(db, tok, who) == 0 && strcmp(who, kim) == 0);
    CHECK(oma_auth_api_token_lookup(db, tok2, who) == 0 && strcmp(who, lee) == 0);
    char wrong[OMA_API_TOKEN_LEN + 1];
    memcpy(wrong, tok, sizeof wrong);
    wrong[10] = wrong[10] == 'a' ? 'b' : 'a';
    CHECK(oma_auth_api_token_lookup(db, wrong, who) == 1);
    CHECK(oma_auth_session_lookup(db, tok, who) == 1);   /* not a session */

    json_t *one = oma_auth_api_token_json(db, id, kim);
    CHECK(one && json_is_string(json_object_get(one, "last_used_at")));   /* noted by the lookup */
    CHECK(one && !json_object_get(one, "token") && !json_object_get(one, "token_hash"));
    json_decref(one);
    CHECK(oma_auth_api_token_json(db, id, lee) == NULL);   /* not hers */
    json_t *list = oma_auth_api_tokens_json(db, kim);
    CHECK(list && json_array_size(list) == 1);
    json_decref(list);
    CHECK(oma_auth_api_token_count(db, kim) == 1);

    /* Basic: the e-mail (any case) and the artist's own token */
    CHECK(basic(db, "kim@example.com", tok, who) == 0 && strcmp(who, kim) == 0);
    CHECK(basic(db, "KIM@EXAMPLE.COM", tok, who) == 0);
    CHECK(basic(db, "lee@example.com", tok, who) == 1);       /* another artist's e-mail */
    CHECK(basic(db, "kim@example.com", tok2, who) == 1);      /* another artist's token */
    CHECK(basic(db, "kim@example.com", "password1", who) == 1); /* the password is not accepted */
    CHECK(basic(db, "kim@example.com", wrong, who) == 1);
    CHECK(oma_auth_basic_lookup(db, "!!!", who) == 1);
    CHECK(oma_auth_basic_lookup(db, "a2ltQGV4YW1wbGUuY29t", who) == 1);   /* "kim@example.com", no ':' */
    CHECK(oma_auth_basic_lookup(db, "", who) == 1);
    char *huge = malloc(5000);
    if (huge) {
        memset(huge, 'A', 4999);
        huge[4999] = '\0';
        CHECK(oma_auth_basic_lookup(db, huge, who) == 1);
        free(huge);
    }

    CHECK(oma_auth_api_token_revoke(db, lee, id) == 1);   /* only its artist revokes it */
    CHECK(oma_auth_api_token_lookup(db, tok, who) == 0);
    CHECK(oma_auth_api_token_revoke(db, kim, id) == 0);
    CHECK(oma_auth_api_token_lookup(db, tok, who) == 1);
    CHECK(oma_auth_api_token_revoke(db, kim, id) == 1);
    /* an artist's tokens go with the artist */
    CHECK(oma_db_exec(db, "PRAGMA foreign_keys = ON") == 0);
    char del[200];
    snprintf(del, sizeof del, "DELETE FROM artists WHERE id = '%s'", lee);
    CHECK(oma_db_exec(db, del) == 0);
    CHECK(oma_auth_api_token_lookup(db, tok2, who) == 1);
    oma_db_close(db);
    char p[200];
    snprintf(p, sizeof p, "%s/oma.db", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/oma.db-wal", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/oma.db-shm", dir);
    unlink(p);
    rmdir(dir);
}

int main(void)
{
    if (oma_auth_init() != 0) {
        fprintf(stderr, "sodium_init failed\n");
        return 1;
    }
    test_b64();
    test_tokens_db();
    if (failures) {
        fprintf(stderr, "test_api_tokens: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_api_tokens: ok\n");
    return 0;
}
