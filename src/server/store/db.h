/* db.h — the database behind one small interface, so SQLite (embedded default) and
 * PostgreSQL (scale-out, later) are the same to callers.
 *
 * Callers write portable SQL with `?` placeholders (a driver rewrites them as it needs, e.g.
 * $1.. for libpq) and use only types both engines share: TEXT, INTEGER (64-bit), REAL, BLOB.
 * Times are stored as TEXT in RFC 3339 UTC. A statement is prepared, bound, stepped row by
 * row, and finalised; every call returns 0 on success or -1 with oma_db_errmsg() set.
 * One oma_db handle per thread (open one per worker / per request thread pool slot).
 */
#ifndef OMA_SERVER_DB_H
#define OMA_SERVER_DB_H

#include <stddef.h>
#include <stdint.h>

typedef struct oma_db oma_db;
typedef struct oma_stmt oma_stmt;

/* url: "sqlite:/path/to/oma.db" (WAL mode, foreign keys on, busy timeout) or
 * "postgres://USER:PASS@HOST:PORT/DB" (libpq; postgresql:// too). Applies pending migrations
 * when migrate is non-zero. */
int oma_db_open(oma_db **out, const char *url, int migrate, char *err, size_t errlen);
void oma_db_close(oma_db *db);
const char *oma_db_errmsg(oma_db *db);
const char *oma_db_driver(oma_db *db);              /* "sqlite" or "postgres" */
/* What the job claim appends to its SELECT over `jobs q` so that concurrent claimers skip
 * each other's row ("" on sqlite; " FOR UPDATE OF q SKIP LOCKED" on postgres). */
const char *oma_db_claim_lock(oma_db *db);
int oma_db_schema_version(oma_db *db);              /* highest applied migration */

int oma_db_begin(oma_db *db);                       /* BEGIN IMMEDIATE on sqlite */
int oma_db_commit(oma_db *db);
int oma_db_rollback(oma_db *db);

/* Runs one or more statements without results (no parameters). */
int oma_db_exec(oma_db *db, const char *sql);
/* Runs one statement that returns no rows, binding each non-NULL text of a, b, c as
 * parameter 1, 2, 3. 0, or -1 (oma_db_errmsg says why). */
int oma_db_exec_bound(oma_db *db, const char *sql, const char *a, const char *b, const char *c);

int oma_db_prepare(oma_db *db, const char *sql, oma_stmt **out);
/* Bind by 1-based index. text/blob are copied. */
int oma_stmt_bind_text(oma_stmt *st, int i, const char *s);      /* s may be NULL -> NULL */
int oma_stmt_bind_int(oma_stmt *st, int i, int64_t v);
int oma_stmt_bind_double(oma_stmt *st, int i, double v);
int oma_stmt_bind_blob(oma_stmt *st, int i, const void *p, size_t n);
int oma_stmt_bind_null(oma_stmt *st, int i);
/* 1 = a row is ready, 0 = done, -1 = error. */
int oma_stmt_step(oma_stmt *st);
/* Column accessors for the current row (0-based). Pointers live until the next step/finalize. */
const char *oma_stmt_text(oma_stmt *st, int col);                /* NULL if SQL NULL */
int64_t oma_stmt_int(oma_stmt *st, int col);
double oma_stmt_double(oma_stmt *st, int col);
const void *oma_stmt_blob(oma_stmt *st, int col, size_t *n);
int oma_stmt_is_null(oma_stmt *st, int col);
int64_t oma_db_changes(oma_db *db);                 /* rows changed by the last statement */
/* 1 when the last failure was the database being unreachable (postgres: the connection is
 * broken and could not be re-opened); the API answers 503 then, not 500. */
int oma_db_unreachable(oma_db *db);
void oma_stmt_finalize(oma_stmt *st);

/* Current time as RFC 3339 UTC ("2026-11-25T10:00:00Z"), into buf (>= 21 bytes). */
void oma_db_now(char *buf, size_t len);
/* Unix seconds, for leases. */
int64_t oma_db_unix_now(void);
/* Microseconds since the epoch (queue order within one second). */
int64_t oma_db_unix_now_us(void);

/* A new random id: 32 lowercase hex chars (128 bits from libsodium's randombytes_buf).
 * out must hold >= 33 bytes. 0 or -1. */
int oma_db_new_id(char *out, size_t len);
/* The URL the handle was opened with (so a helper thread can open its own handle). */
const char *oma_db_url(oma_db *db);
/* Sets the handle's error message (printf-style) for oma_db_errmsg; returns -1. */
int oma_db_fail(oma_db *db, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
