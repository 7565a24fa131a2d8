/* db_sqlite.c — the SQLite driver for db.h (the embedded default).
 *
 * One connection per oma_db, set up for a small server with several worker threads or
 * processes on one file: WAL (readers never block the writer), foreign keys on, a busy timeout
 * so concurrent writers wait instead of failing, synchronous=NORMAL (safe with WAL). Writers
 * that read-then-write use BEGIN IMMEDIATE so the write lock is taken up front and two workers
 * can never claim the same job. SQLite speaks `?` natively, so SQL passes through untouched.
 */
#include "server/store/db_driver.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#define BUSY_TIMEOUT_MS 10000

static sqlite3 *H(oma_db *db) { return (sqlite3 *)db->impl; }
static sqlite3_stmt *S(oma_stmt *st) { return (sqlite3_stmt *)st->impl; }

static int fail_sqlite(oma_db *db, const char *what)
{
    return oma_db_fail(db, "sqlite: %s: %s", what, db->impl ? sqlite3_errmsg(H(db)) : "no handle");
}

static int pragma_exec(sqlite3 *h, const char *sql, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "sqlite: %s: %s", sql, msg ? msg : sqlite3_errmsg(h));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int journal_cb(void *ud, int n, char **vals, char **names)
{
    (void)names;
    if (n >= 1 && vals[0]) snprintf((char *)ud, 16, "%s", vals[0]);
    return 0;
}

static int sq_open(oma_db *db, const char *path, char *err, size_t errlen)
{
    db->impl = NULL;
    if (!path || !*path) {
        snprintf(err, errlen, "sqlite: empty path (use sqlite:/path/to/oma.db)");
        return -1;
    }
    sqlite3 *h = NULL;
    int rc = sqlite3_open_v2(path, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                             NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "sqlite: cannot open %s: %s", path, h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
        sqlite3_close(h);
        return -1;
    }
    sqlite3_extended_result_codes(h, 1);
    sqlite3_busy_timeout(h, BUSY_TIMEOUT_MS);
    char mode[16] = "";
    char *msg = NULL;
    if (sqlite3_exec(h, "PRAGMA journal_mode=WAL", journal_cb, mode, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "sqlite: cannot enable WAL on %s: %s", path, msg ? msg : sqlite3_errmsg(h));
        sqlite3_free(msg);
        sqlite3_close(h);
        return -1;
    }
    if (strcmp(mode, "wal") != 0 && strcmp(mode, "memory") != 0) {
        snprintf(err, errlen, "sqlite: %s: journal mode is %s, WAL is required", path, mode);
        sqlite3_close(h);
        return -1;
    }
    if (pragma_exec(h, "PRAGMA foreign_keys=ON", err, errlen) != 0 ||
        pragma_exec(h, "PRAGMA synchronous=NORMAL", err, errlen) != 0) {
        sqlite3_close(h);
        return -1;
    }
    db->impl = h;
    return 0;
}

static void sq_close(oma_db *db)
{
    sqlite3_close(H(db));
    db->impl = NULL;
}

static int sq_exec(oma_db *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(H(db), sql, NULL, NULL, &msg) != SQLITE_OK) {
        oma_db_fail(db, "sqlite: %s", msg ? msg : sqlite3_errmsg(H(db)));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int sq_begin(oma_db *db) { return sq_exec(db, "BEGIN IMMEDIATE"); }
static int sq_commit(oma_db *db) { return sq_exec(db, "COMMIT"); }
static int sq_rollback(oma_db *db)
{
    if (sqlite3_get_autocommit(H(db))) return 0; /* nothing open (SQLite may have rolled back) */
    return sq_exec(db, "ROLLBACK");
}

static int sq_prepare(oma_db *db, const char *sql, oma_stmt *st)
{
    sqlite3_stmt *s = NULL;
    if (sqlite3_prepare_v2(H(db), sql, -1, &s, NULL) != SQLITE_OK) return fail_sqlite(db, "prepare");
    if (!s) return oma_db_fail(db, "sqlite: empty statement");
    st->impl = s;
    return 0;
}

static int bind_rc(oma_stmt *st, int rc)
{
    return rc == SQLITE_OK ? 0 : fail_sqlite(st->db, "bind");
}

static int sq_bind_text(oma_stmt *st, int i, const char *s)
{
    return bind_rc(st, sqlite3_bind_text(S(st), i, s, -1, SQLITE_TRANSIENT));
}
static int sq_bind_int(oma_stmt *st, int i, int64_t v)
{
    return bind_rc(st, sqlite3_bind_int64(S(st), i, (sqlite3_int64)v));
}
static int sq_bind_double(oma_stmt *st, int i, double v)
{
    return bind_rc(st, sqlite3_bind_double(S(st), i, v));
}
static int sq_bind_blob(oma_stmt *st, int i, const void *p, size_t n)
{
    if (n == 0 || !p) return bind_rc(st, sqlite3_bind_zeroblob(S(st), i, 0));
    return bind_rc(st, sqlite3_bind_blob64(S(st), i, p, (sqlite3_uint64)n, SQLITE_TRANSIENT));
}
static int sq_bind_null(oma_stmt *st, int i) { return bind_rc(st, sqlite3_bind_null(S(st), i)); }

static int sq_step(oma_stmt *st)
{
    int rc = sqlite3_step(S(st));
    if (rc == SQLITE_ROW) return 1;
    if (rc == SQLITE_DONE) return 0;
    return fail_sqlite(st->db, "step");
}

static const char *sq_text(oma_stmt *st, int col) { return (const char *)sqlite3_column_text(S(st), col); }
static int64_t sq_int(oma_stmt *st, int col) { return sqlite3_column_int64(S(st), col); }
static double sq_double(oma_stmt *st, int col) { return sqlite3_column_double(S(st), col); }
static const void *sq_blob(oma_stmt *st, int col, size_t *n)
{
    const void *p = sqlite3_column_blob(S(st), col);
    int len = sqlite3_column_bytes(S(st), col);
    if (n) *n = len > 0 ? (size_t)len : 0;
    return p;
}
static int sq_is_null(oma_stmt *st, int col) { return sqlite3_column_type(S(st), col) == SQLITE_NULL; }
static int64_t sq_changes(oma_db *db) { return sqlite3_changes64(H(db)); }
static void sq_finalize(oma_stmt *st)
{
    sqlite3_finalize(S(st));
    st->impl = NULL;
}

const oma_db_engine oma_db_engine_sqlite = {
    .name = "sqlite",
    .scheme = "sqlite:",
    .claim_lock = "",
    .migrate_lock = NULL,
    .open = sq_open,
    .close = sq_close,
    .exec = sq_exec,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .prepare = sq_prepare,
    .bind_text = sq_bind_text,
    .bind_int = sq_bind_int,
    .bind_double = sq_bind_double,
    .bind_blob = sq_bind_blob,
    .bind_null = sq_bind_null,
    .step = sq_step,
    .text = sq_text,
    .col_int = sq_int,
    .col_double = sq_double,
    .blob = sq_blob,
    .is_null = sq_is_null,
    .changes = sq_changes,
    .finalize = sq_finalize,
};
