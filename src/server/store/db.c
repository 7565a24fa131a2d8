/* db.c — the engine-neutral half of db.h: picks a driver by URL scheme, forwards every call to
 * its function table, runs migrations through the same public API, and provides the clock and
 * id helpers every table uses. Engines live in db_<engine>.c.
 */
#include "server/store/db_driver.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const oma_db_engine *const drivers[] = {
    &oma_db_engine_sqlite,
    &oma_db_engine_postgres,
};

int oma_db_fail(oma_db *db, const char *fmt, ...)
{
    if (!db) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(db->errmsg, sizeof db->errmsg, fmt, ap);
    va_end(ap);
    return -1;
}

int oma_db_open(oma_db **out, const char *url, int migrate, char *err, size_t errlen)
{
    if (!out) return -1;
    *out = NULL;
    if (!url || !*url) {
        snprintf(err, errlen, "database URL is empty");
        return -1;
    }
    const oma_db_engine *drv = NULL;
    for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; i++) {
        size_t n = strlen(drivers[i]->scheme);
        if (strncmp(url, drivers[i]->scheme, n) == 0) {
            drv = drivers[i];
            break;
        }
    }
    if (!drv) {
        snprintf(err, errlen, "unknown database URL scheme (expected sqlite:PATH or postgres://USER:PASS@HOST:PORT/DB)");
        return -1;
    }
    oma_db *db = calloc(1, sizeof *db);
    if (!db) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    db->drv = drv;
    db->url = strdup(url);
    if (!db->url) {
        free(db);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (drv->open(db, url + strlen(drv->scheme), err, errlen) != 0) {
        free(db->url);
        free(db);
        return -1;
    }
    if (migrate && oma_migrations_apply(db, err, errlen) != 0) {
        oma_db_close(db);
        return -1;
    }
    *out = db;
    return 0;
}

void oma_db_close(oma_db *db)
{
    if (!db) return;
    if (db->impl) db->drv->close(db);
    free(db->url);
    free(db);
}

const char *oma_db_errmsg(oma_db *db) { return db ? db->errmsg : "no database handle"; }
const char *oma_db_driver(oma_db *db) { return db ? db->drv->name : ""; }
const char *oma_db_url(oma_db *db) { return db ? db->url : NULL; }
const char *oma_db_claim_lock(oma_db *db) { return db && db->drv->claim_lock ? db->drv->claim_lock : ""; }

int oma_db_schema_version(oma_db *db)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &st) != 0)
        return -1;
    int v = -1;
    if (oma_stmt_step(st) == 1) v = (int)oma_stmt_int(st, 0);
    oma_stmt_finalize(st);
    return v;
}

int oma_db_begin(oma_db *db) { return db->drv->begin(db); }
int oma_db_commit(oma_db *db) { return db->drv->commit(db); }
int oma_db_rollback(oma_db *db) { return db->drv->rollback(db); }

int oma_db_exec(oma_db *db, const char *sql)
{
    if (!sql) return oma_db_fail(db, "no SQL");
    return db->drv->exec(db, sql);
}

int oma_db_exec_bound(oma_db *db, const char *sql, const char *a, const char *b, const char *c)
{
    oma_stmt *st = NULL;
    int ok = oma_db_prepare(db, sql, &st) == 0 && (!a || oma_stmt_bind_text(st, 1, a) == 0) &&
             (!b || oma_stmt_bind_text(st, 2, b) == 0) && (!c || oma_stmt_bind_text(st, 3, c) == 0) &&
             oma_stmt_step(st) == 0;
    oma_stmt_finalize(st);
    return ok ? 0 : -1;
}

int oma_db_prepare(oma_db *db, const char *sql, oma_stmt **out)
{
    *out = NULL;
    if (!sql) return oma_db_fail(db, "no SQL");
    oma_stmt *st = calloc(1, sizeof *st);
    if (!st) return oma_db_fail(db, "out of memory");
    st->db = db;
    if (db->drv->prepare(db, sql, st) != 0) {
        free(st);
        return -1;
    }
    *out = st;
    return 0;
}

int oma_stmt_bind_text(oma_stmt *st, int i, const char *s)
{
    return s ? st->db->drv->bind_text(st, i, s) : st->db->drv->bind_null(st, i);
}
int oma_stmt_bind_int(oma_stmt *st, int i, int64_t v) { return st->db->drv->bind_int(st, i, v); }
int oma_stmt_bind_double(oma_stmt *st, int i, double v) { return st->db->drv->bind_double(st, i, v); }
int oma_stmt_bind_blob(oma_stmt *st, int i, const void *p, size_t n)
{
    return st->db->drv->bind_blob(st, i, p, n);
}
int oma_stmt_bind_null(oma_stmt *st, int i) { return st->db->drv->bind_null(st, i); }
int oma_stmt_step(oma_stmt *st) { return st->db->drv->step(st); }
const char *oma_stmt_text(oma_stmt *st, int col) { return st->db->drv->text(st, col); }
int64_t oma_stmt_int(oma_stmt *st, int col) { return st->db->drv->col_int(st, col); }
double oma_stmt_double(oma_stmt *st, int col) { return st->db->drv->col_double(st, col); }
const void *oma_stmt_blob(oma_stmt *st, int col, size_t *n) { return st->db->drv->blob(st, col, n); }
int oma_stmt_is_null(oma_stmt *st, int col) { return st->db->drv->is_null(st, col); }
int64_t oma_db_changes(oma_db *db) { return db->drv->changes(db); }
int oma_db_unreachable(oma_db *db) { return db && db->impl && db->drv->unreachable ? db->drv->unreachable(db) : 0; }

void oma_stmt_finalize(oma_stmt *st)
{
    if (!st) return;
    st->db->drv->finalize(st);
    free(st);
}

void oma_db_now(char *buf, size_t len)
{
    if (!buf || len == 0) return;
    time_t t = time(NULL);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) buf[0] = '\0';
}

int64_t oma_db_unix_now(void) { return (int64_t)time(NULL); }

int64_t oma_db_unix_now_us(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) return (int64_t)time(NULL) * 1000000;
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int oma_db_new_id(char *out, size_t len)
{
    if (!out || len < 33) return -1;
    if (sodium_init() < 0) return -1;
    unsigned char raw[16];
    randombytes_buf(raw, sizeof raw);
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof raw; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[32] = '\0';
    return 0;
}
