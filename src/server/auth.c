/* auth.c — password hashing, session tokens and the artist/session rows (see auth.h).
 *
 * The idea: nothing secret is stored in the clear. Passwords become argon2id strings, tokens
 * become SHA-256 digests; looking a session up is one indexed query on the digest with the
 * expiry checked in the same WHERE clause. Emails are compared lowercased.
 */
#include "server/auth.h"

#include <ctype.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_rc = -1;

static void init_all(void)
{
    if (sodium_init() < 0) return;
    init_rc = 0;
}

int oma_auth_init(void)
{
    pthread_once(&init_once, init_all);
    return init_rc;
}

static void hex(const unsigned char *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The argon2id work, run on a hashing thread (auth_hasher.c). */
typedef struct pw_work {
    const char *pw, *hash;
    char *out;
    int rc;
} pw_work;

static void do_hash(void *arg)
{
    pw_work *w = arg;
    w->rc = crypto_pwhash_str(w->out, w->pw, strlen(w->pw), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                              crypto_pwhash_MEMLIMIT_INTERACTIVE);
}

static void do_verify(void *arg)
{
    pw_work *w = arg;
    w->rc = crypto_pwhash_str_verify(w->hash, w->pw, strlen(w->pw));
}

int oma_auth_hash_password(const char *pw, char *out, size_t outlen)
{
    if (!pw || outlen < crypto_pwhash_STRBYTES || oma_auth_init() != 0) return -1;
    pw_work w = {pw, NULL, out, -1};
    if (oma_auth_hasher_run(do_hash, &w) != 0) return -2;
    return w.rc == 0 ? 0 : -1;
}

int oma_auth_verify_password(const char *hash, const char *pw)
{
    if (!hash || !pw || oma_auth_init() != 0) return 0;
    pw_work w = {pw, hash, NULL, -1};
    if (oma_auth_hasher_run(do_verify, &w) != 0) return -2;
    return w.rc == 0;
}

void oma_auth_new_token(char *out)
{
    unsigned char b[32];
    randombytes_buf(b, sizeof b);
    hex(b, sizeof b, out);
}

void oma_auth_new_id(char *out)
{
    unsigned char b[16];
    randombytes_buf(b, sizeof b);
    hex(b, sizeof b, out);
}

void oma_auth_token_hash(const char *token, char *out)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)token, strlen(token));
    hex(h, sizeof h, out);
}

int oma_auth_token_wellformed(const char *t)
{
    if (!t) return 0;
    size_t n = 0;
    for (; t[n]; n++)
        if (n >= OMA_TOKEN_HEX || !((t[n] >= '0' && t[n] <= '9') || (t[n] >= 'a' && t[n] <= 'f')))
            return 0;
    return n == OMA_TOKEN_HEX;
}

const char *oma_auth_check_email(const char *e)
{
    if (!e) return "email is required";
    size_t n = strnlen(e, 255);
    if (n < 3 || n > 254) return "email must be 3..254 characters";
    const char *at = strchr(e, '@');
    if (!at || at == e || at[1] == '\0') return "email must look like name@host";
    for (const char *p = e; *p; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f) return "email must not contain spaces";
    return NULL;
}

const char *oma_auth_check_password(const char *p)
{
    if (!p) return "password is required";
    size_t n = strnlen(p, 1025);
    if (n < 8 || n > 1024) return "password must be 8..1024 characters";
    return NULL;
}

const char *oma_auth_check_name(const char *s)
{
    if (!s) return "name is required";
    size_t n = strnlen(s, 401);   /* 100 characters are at most 400 bytes of UTF-8 */
    if (n < 1 || n > 400 || oma_auth_utf8_chars(s) > 100) return "name must be 1..100 characters";
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < ' ' || *p == 0x7f) return "name must not contain control characters";
    return NULL;
}

/* The form emails were stored in before Unicode folding (ASCII letters lowered only): an
 * account made then is still found under it. */
static void legacy_lower(const char *s, char *out, size_t outlen)
{
    size_t i = 0;
    for (; s[i] && i + 1 < outlen; i++) out[i] = (char)tolower((unsigned char)s[i]);
    out[i] = '\0';
}

int oma_auth_create_artist(oma_db *db, const char *email, const char *name, const char *password,
                           char *id_out, char *err, size_t errlen)
{
    char em[256], old_em[256], hash[crypto_pwhash_STRBYTES], now[32];
    oma_auth_fold_email(email, em, sizeof em);
    legacy_lower(email, old_em, sizeof old_em);
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT id FROM artists WHERE email = ? OR email = ?", &st) != 0) goto dberr;
    oma_stmt_bind_text(st, 1, em);
    oma_stmt_bind_text(st, 2, old_em);
    int rc = oma_stmt_step(st);
    oma_stmt_finalize(st);
    if (rc < 0) goto dberr;
    if (rc == 1) return 1;
    int hrc = oma_auth_hash_password(password, hash, sizeof hash);
    if (hrc == -2) return 2;
    if (hrc != 0) {
        snprintf(err, errlen, "password hashing failed (out of memory)");
        return -1;
    }
    oma_auth_new_id(id_out);
    oma_db_now(now, sizeof now);
    if (oma_db_prepare(db, "INSERT INTO artists (id, email, name, password_hash, created_at) "
                           "VALUES (?, ?, ?, ?, ?)", &st) != 0)
        goto dberr;
    oma_stmt_bind_text(st, 1, id_out);
    oma_stmt_bind_text(st, 2, em);
    oma_stmt_bind_text(st, 3, name);
    oma_stmt_bind_text(st, 4, hash);
    oma_stmt_bind_text(st, 5, now);
    rc = oma_stmt_step(st);
    oma_stmt_finalize(st);
    if (rc < 0) {
        /* a concurrent sign-up with the same email loses here */
        if (oma_db_prepare(db, "SELECT id FROM artists WHERE email = ?", &st) == 0) {
            oma_stmt_bind_text(st, 1, em);
            int again = oma_stmt_step(st);
            oma_stmt_finalize(st);
            if (again == 1) return 1;
        }
        goto dberr;
    }
    return 0;
dberr:
    snprintf(err, errlen, "%s", oma_db_errmsg(db));
    return -1;
}

static char dummy_hash[crypto_pwhash_STRBYTES];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void make_dummy(void)
{
    char pw[33];
    oma_auth_new_id(pw);
    if (oma_auth_hash_password(pw, dummy_hash, sizeof dummy_hash) != 0) dummy_hash[0] = '\0';
}

int oma_auth_login(oma_db *db, const char *email, const char *password, char *id_out)
{
    char em[256];
    char old_em[256];
    oma_auth_fold_email(email, em, sizeof em);
    legacy_lower(email, old_em, sizeof old_em);
    oma_stmt *st = NULL;
    /* the folded form first; then an account from before folding under its old form (one the
     * e-fold migration left there because its folded key was taken: both stay usable) */
    if (oma_db_prepare(db, "SELECT id, password_hash FROM artists WHERE email = ? OR email = ? "
                           "ORDER BY email = ? DESC LIMIT 2", &st) != 0)
        return -1;
    oma_stmt_bind_text(st, 1, em);
    oma_stmt_bind_text(st, 2, old_em);
    oma_stmt_bind_text(st, 3, em);
    char id[2][OMA_AUTH_ID_MAX], h[2][crypto_pwhash_STRBYTES];
    int rc = 0, found = 0, ok = 0;
    while (found < 2 && (rc = oma_stmt_step(st)) == 1) {
        const char *i = oma_stmt_text(st, 0), *ph = oma_stmt_text(st, 1);
        if (i && ph && strlen(i) < sizeof id[0] && strlen(ph) < sizeof h[0]) {
            memcpy(id[found], i, strlen(i) + 1);
            memcpy(h[found], ph, strlen(ph) + 1);
            found++;
        }
    }
    oma_stmt_finalize(st);   /* the statement is not held while the hash runs */
    if (rc < 0) return -1;
    for (int k = 0; k < found && ok != 1; k++) {
        int v = oma_auth_verify_password(h[k], password);
        if (v == -2) return 2;
        ok = v;
        if (ok == 1) snprintf(id_out, OMA_AUTH_ID_MAX, "%s", id[k]);
    }
    if (!found) {
        /* unknown email: spend the same work as a wrong password, so timing does not tell
         * which emails have accounts */
        pthread_once(&dummy_once, make_dummy);
        if (dummy_hash[0]) ok = oma_auth_verify_password(dummy_hash, password) == -2 ? -2 : 0;
    }
    if (ok == -2) return 2;
    return ok == 1 ? 0 : 1;
}

static void rfc3339_in(int64_t secs_from_now, char *out, size_t len)
{
    time_t t = time(NULL) + (time_t)secs_from_now;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int oma_auth_session_create(oma_db *db, const char *artist_id, char *token_out)
{
    char th[65], now[32], exp[32];
    oma_auth_new_token(token_out);
    oma_auth_token_hash(token_out, th);
    oma_db_now(now, sizeof now);
    rfc3339_in((int64_t)OMA_SESSION_DAYS * 86400, exp, sizeof exp);
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "INSERT INTO sessions (token_hash, artist_id, created_at, expires_at) "
                           "VALUES (?, ?, ?, ?)", &st) != 0)
        return -1;
    oma_stmt_bind_text(st, 1, th);
    oma_stmt_bind_text(st, 2, artist_id);
    oma_stmt_bind_text(st, 3, now);
    oma_stmt_bind_text(st, 4, exp);
    int rc = oma_stmt_step(st);
    oma_stmt_finalize(st);
    if (rc < 0) return -1;
    /* expired sessions are useless: sweep them while we are writing anyway */
    if (oma_db_prepare(db, "DELETE FROM sessions WHERE expires_at <= ?", &st) == 0) {
        oma_stmt_bind_text(st, 1, now);
        (void)oma_stmt_step(st);
        oma_stmt_finalize(st);
    }
    return 0;
}

int oma_auth_session_lookup(oma_db *db, const char *token, char *id_out)
{
    if (!oma_auth_token_wellformed(token)) return 1;
    char th[65], now[32];
    oma_auth_token_hash(token, th);
    oma_db_now(now, sizeof now);
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT artist_id FROM sessions WHERE token_hash = ? AND expires_at > ?",
                       &st) != 0)
        return -1;
    oma_stmt_bind_text(st, 1, th);
    oma_stmt_bind_text(st, 2, now);
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
    return found ? 0 : 1;
}

int oma_auth_session_delete(oma_db *db, const char *token)
{
    if (!oma_auth_token_wellformed(token)) return 0;
    char th[65];
    oma_auth_token_hash(token, th);
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "DELETE FROM sessions WHERE token_hash = ?", &st) != 0) return -1;
    oma_stmt_bind_text(st, 1, th);
    int rc = oma_stmt_step(st);
    oma_stmt_finalize(st);
    return rc < 0 ? -1 : 0;
}

json_t *oma_auth_artist_json(oma_db *db, const char *artist_id)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT id, email, name, created_at FROM artists WHERE id = ?", &st) != 0)
        return NULL;
    oma_stmt_bind_text(st, 1, artist_id);
    json_t *o = NULL;
    if (oma_stmt_step(st) == 1) {
        const char *id = oma_stmt_text(st, 0), *em = oma_stmt_text(st, 1),
                   *nm = oma_stmt_text(st, 2), *ca = oma_stmt_text(st, 3);
        o = json_pack("{s:s,s:s,s:s,s:s}", "id", id ? id : "", "email", em ? em : "", "name",
                      nm ? nm : "", "created_at", ca ? ca : "");
    }
    oma_stmt_finalize(st);
    return o;
}
