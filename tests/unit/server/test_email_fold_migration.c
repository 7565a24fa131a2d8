/* test_email_fold_migration.c — issue 16 item 9 leftover: a database made before Unicode
 * e-mail folding (rows stored with ASCII letters lowered only, e.g. "ÜnÏ@exÄmple.com") is
 * opened; migration 5 re-stores each under its folded key, so sign-up with another spelling
 * is refused as a duplicate and log-in works with any spelling. Two old rows that fold to one
 * key both stay usable: the older (or one already folded) gets the key, the other keeps its
 * old key and logs in under it. Before the fix, sign-up as "ünï@exämple.com" made a second
 * account and log-in under that spelling failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/auth.h"
#include "server/store/db.h"
#include "server/store/db_driver.h"

#include "check.h"

/* The schema as it was at version 4, and the rows as the old code stored them. */
static int make_old_db(const char *url, const char *hx, const char *hy)
{
    char err[256];
    oma_db *db = NULL;
    if (oma_db_open(&db, url, 0, err, sizeof err) != 0) return -1;
    int ok = oma_db_exec(db, "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT "
                             "NULL, applied_at TEXT NOT NULL)") == 0;
    for (size_t i = 0; ok && i < oma_migrations_count(); i++) {
        const oma_migration *m = oma_migration_at(i);
        if (m->version > 4) break;
        char v[16];
        snprintf(v, sizeof v, "%d", m->version);
        ok = oma_db_exec(db, m->sql) == 0 &&
             oma_db_exec_bound(db, "INSERT INTO schema_migrations VALUES (?, ?, ?)", v, m->name,
                               "2025-01-01T00:00:00Z") == 0;
    }
    static const char *rows[][4] = {
        /* ÜnÏ@exÄmple.com */
        {"oldA", "\xc3\x9cn\xc3\x8f@ex\xc3\x84mple.com", "x", "2025-01-01T00:00:00Z"},
        {"oldC1", "\xc3\x80\xc3\x89@c.com", "x", "2025-01-02T00:00:00Z"},                /* ÀÉ@c.com */
        {"oldC2", "\xc3\x80\xc3\xa9@c.com", "y", "2025-01-03T00:00:00Z"},                /* Àé@c.com */
        {"oldE", "\xc3\x96n@d.com", "y", "2025-01-04T00:00:00Z"},                        /* Ön@d.com */
        {"newD", "\xc3\xb6n@d.com", "x", "2025-01-05T00:00:00Z"},                        /* ön@d.com */
        {"kim", "kim@example.com", "x", "2025-01-06T00:00:00Z"},
    };
    for (size_t i = 0; ok && i < sizeof rows / sizeof rows[0]; i++) {
        oma_stmt *st = NULL;
        ok = oma_db_prepare(db, "INSERT INTO artists (id, email, name, password_hash, created_at) "
                                "VALUES (?, ?, 'Old', ?, ?)", &st) == 0 &&
             oma_stmt_bind_text(st, 1, rows[i][0]) == 0 && oma_stmt_bind_text(st, 2, rows[i][1]) == 0 &&
             oma_stmt_bind_text(st, 3, rows[i][2][0] == 'x' ? hx : hy) == 0 &&
             oma_stmt_bind_text(st, 4, rows[i][3]) == 0 && oma_stmt_step(st) == 0;
        oma_stmt_finalize(st);
    }
    oma_db_close(db);
    return ok ? 0 : -1;
}

static int email_is(oma_db *db, const char *id, const char *want)
{
    oma_stmt *st = NULL;
    int same = 0;
    if (oma_db_prepare(db, "SELECT email FROM artists WHERE id = ?", &st) == 0 &&
        oma_stmt_bind_text(st, 1, id) == 0 && oma_stmt_step(st) == 1) {
        const char *e = oma_stmt_text(st, 0);
        same = e && strcmp(e, want) == 0;
        if (!same) fprintf(stderr, "  %s: email is '%s', want '%s'\n", id, e ? e : "(null)", want);
    }
    oma_stmt_finalize(st);
    return same;
}

static int logs_in_as(oma_db *db, const char *email, const char *pw, const char *want)
{
    char id[OMA_AUTH_ID_MAX] = "";
    return oma_auth_login(db, email, pw, id) == 0 && strcmp(id, want) == 0;
}

static int64_t schema_version(oma_db *db)
{
    oma_stmt *st = NULL;
    int64_t v = -1;
    if (oma_db_prepare(db, "SELECT MAX(version) FROM schema_migrations", &st) == 0 && oma_stmt_step(st) == 1)
        v = oma_stmt_int(st, 0);
    oma_stmt_finalize(st);
    return v;
}

int main(void)
{
    if (oma_auth_init() != 0) return 1;
    char dir[] = "/tmp/oma_test_efold_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char url[128], err[256], id[OMA_AUTH_ID_MAX];
    snprintf(url, sizeof url, "sqlite:%s/oma.db", dir);
    char hx[160], hy[160];
    CHECK(oma_auth_hash_password("passwordX", hx, sizeof hx) == 0);
    CHECK(oma_auth_hash_password("passwordY", hy, sizeof hy) == 0);
    CHECK(make_old_db(url, hx, hy) == 0);

    oma_db *db = NULL;
    CHECK(oma_db_open(&db, url, 1, err, sizeof err) == 0);   /* runs migration 5 */
    if (!db) return 1;
    CHECK(schema_version(db) == (int64_t)oma_migrations_count()); /* 5 and after */
    CHECK(email_is(db, "oldA", "\xc3\xbcn\xc3\xaf@ex\xc3\xa4mple.com"));   /* ünï@exämple.com */
    CHECK(email_is(db, "oldC1", "\xc3\xa0\xc3\xa9@c.com"));                /* the older of two gets the key */
    CHECK(email_is(db, "oldC2", "\xc3\x80\xc3\xa9@c.com"));                /* the newer keeps its old key */
    CHECK(email_is(db, "newD", "\xc3\xb6n@d.com"));                        /* already folded: keeps it */
    CHECK(email_is(db, "oldE", "\xc3\x96n@d.com"));                        /* its key was taken */
    CHECK(email_is(db, "kim", "kim@example.com"));

    /* sign-up under another spelling of an old account is a duplicate */
    CHECK(oma_auth_create_artist(db, "\xc3\xbcn\xc3\xaf@ex\xc3\xa4mple.com", "Dup", "password1", id, err,
                                 sizeof err) == 1);
    CHECK(oma_auth_create_artist(db, "\xc3\x9cN\xc3\x8f@EX\xc3\x84MPLE.COM", "Dup", "password1", id, err,
                                 sizeof err) == 1);
    CHECK(oma_auth_create_artist(db, "\xc3\xa0\xc3\x89@C.COM", "Dup", "password1", id, err, sizeof err) == 1);
    CHECK(oma_auth_create_artist(db, "\xc3\x96N@D.COM", "Dup", "password1", id, err, sizeof err) == 1);
    CHECK(oma_auth_create_artist(db, "KIM@example.com", "Dup", "password1", id, err, sizeof err) == 1);

    /* log-in with any spelling */
    CHECK(logs_in_as(db, "\xc3\xbcn\xc3\xaf@ex\xc3\xa4mple.com", "passwordX", "oldA"));
    CHECK(logs_in_as(db, "\xc3\x9cN\xc3\x8f@EX\xc3\x84MPLE.COM", "passwordX", "oldA"));
    CHECK(logs_in_as(db, "\xc3\x9cn\xc3\x8f@ex\xc3\x84mple.com", "passwordX", "oldA"));
    CHECK(logs_in_as(db, "\xc3\x80\xc3\x89@C.COM", "passwordX", "oldC1"));
    CHECK(logs_in_as(db, "\xc3\xa0\xc3\xa9@c.com", "passwordX", "oldC1"));
    /* the account left under its old key still logs in under that spelling */
    CHECK(logs_in_as(db, "\xc3\x80\xc3\xa9@c.com", "passwordY", "oldC2"));
    CHECK(logs_in_as(db, "\xc3\x96n@D.COM", "passwordY", "oldE"));
    CHECK(logs_in_as(db, "\xc3\x96N@d.com", "passwordX", "newD"));
    CHECK(oma_auth_login(db, "\xc3\xbcn\xc3\xaf@ex\xc3\xa4mple.com", "passwordY", id) == 1);
    oma_db_close(db);

    /* a second start does not run it again and changes nothing */
    db = NULL;
    CHECK(oma_db_open(&db, url, 1, err, sizeof err) == 0);
    if (db) {
        CHECK(schema_version(db) == (int64_t)oma_migrations_count()); /* 5 and after */
        CHECK(email_is(db, "oldC2", "\xc3\x80\xc3\xa9@c.com"));
        CHECK(logs_in_as(db, "\xc3\x9cN\xc3\x8f@EX\xc3\x84MPLE.COM", "passwordX", "oldA"));
        oma_db_close(db);
    }
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    if (failures) {
        fprintf(stderr, "test_email_fold_migration: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_email_fold_migration: ok\n");
    return 0;
}
