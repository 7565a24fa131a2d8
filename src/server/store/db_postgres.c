/* db_postgres.c — the PostgreSQL driver for db.h (scale-out: many processes and machines on one
 * database), on libpq.
 *
 * The idea: callers write portable SQL with `?`; prepare rewrites each `?` outside quotes as
 * $1, $2, ... and step sends the statement with its parameters in one PQexecParams (no
 * server-side prepared statements to track per connection). Text parameters go untyped (the
 * server infers them from the column they meet), integers as int8, reals as float8, blobs as
 * binary bytea. A result arrives whole and step walks its rows. Every column comes back as
 * text: integers are parsed, booleans ("t"/"f") read as 1/0, bytea is unescaped.
 * A connection that broke (the server restarted) is reset once before the next statement
 * outside a transaction, so the service recovers when the database returns.
 * Job claims take `FOR UPDATE ... SKIP LOCKED` (claim_lock) and migrations an advisory lock
 * (migrate_lock), which give PostgreSQL the guarantees SQLite's BEGIN IMMEDIATE gives.
 */
#include "server/store/db_driver.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG_MAX_PARAMS 256
#define PG_CONNECT_TIMEOUT "5"
#define OID_INT8 20
#define OID_FLOAT8 701
#define OID_BYTEA 17

typedef struct pg_conn {
    PGconn *c;
    int64_t changes;
} pg_conn;

typedef struct pg_stmt {
    char *sql;          /* with $n placeholders */
    int nparams;
    char **vals;
    int *lens;
    int *fmts;
    unsigned *types;    /* Oid */
    PGresult *res;
    int row, nrows, done;
    unsigned char *blob;  /* the last unescaped bytea */
} pg_stmt;

static pg_conn *C(oma_db *db) { return (pg_conn *)db->impl; }
static pg_stmt *S(oma_stmt *st) { return (pg_stmt *)st->impl; }

/* libpq messages end in a newline and may span lines: fold them into one line. */
static void one_line(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' ')) s[--n] = '\0';
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\t') *p = ' ';
}

static int fail_pg(oma_db *db, const char *what, const char *msg)
{
    char buf[400];
    snprintf(buf, sizeof buf, "%s", msg ? msg : "unknown error");
    one_line(buf);
    return oma_db_fail(db, "postgres: %s: %s", what, buf);
}

static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message; /* "relation already exists, skipping" and the like: not errors */
}

static int pg_open(oma_db *db, const char *rest, char *err, size_t errlen)
{
    (void)rest; /* libpq parses the whole URL (postgres:// or postgresql://) itself */
    db->impl = NULL;
    pg_conn *pc = calloc(1, sizeof *pc);
    if (!pc) {
        snprintf(err, errlen, "postgres: out of memory");
        return -1;
    }
    /* connect_timeout first, so a value in the URL overrides it (expand_dbname) */
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *const vals[] = {PG_CONNECT_TIMEOUT, "oma", db->url, NULL};
    pc->c = PQconnectdbParams(keys, vals, 1);
    if (!pc->c || PQstatus(pc->c) != CONNECTION_OK) {
        char buf[400];
        snprintf(buf, sizeof buf, "%s", pc->c ? PQerrorMessage(pc->c) : "out of memory");
        one_line(buf);
        snprintf(err, errlen, "postgres: cannot connect: %s", buf);
        PQfinish(pc->c);
        free(pc);
        return -1;
    }
    PQsetNoticeProcessor(pc->c, quiet_notices, NULL);
    PGresult *r = PQexec(pc->c, "SET client_encoding = 'UTF8'; SET TIME ZONE 'UTC'");
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
        snprintf(err, errlen, "postgres: cannot set up the session: %s", PQerrorMessage(pc->c));
        one_line(err);
        PQfinish(pc->c);
        free(pc);
        return -1;
    }
    db->impl = pc;
    return 0;
}

static void pg_close(oma_db *db)
{
    if (C(db)) PQfinish(C(db)->c);
    free(C(db));
    db->impl = NULL;
}

/* Before a statement: a broken connection gets one reset (a transaction it had is gone). */
static int ensure_conn(oma_db *db)
{
    PGconn *c = C(db)->c;
    if (PQstatus(c) == CONNECTION_OK) return 0;
    PQreset(c);
    if (PQstatus(c) != CONNECTION_OK) return fail_pg(db, "the database is unreachable", PQerrorMessage(c));
    PQsetNoticeProcessor(c, quiet_notices, NULL);
    PGresult *r = PQexec(c, "SET client_encoding = 'UTF8'; SET TIME ZONE 'UTC'");
    PQclear(r);
    return 0;
}

static void note_changes(oma_db *db, PGresult *r)
{
    const char *n = PQcmdTuples(r);
    if (n && *n) C(db)->changes = strtoll(n, NULL, 10);
}

/* A statement outside a transaction that failed because the connection broke (the server
 * restarted, an idle connection was cut) is sent once more on a fresh connection. */
static int retry_after_break(oma_db *db, int was_idle, PGresult **r)
{
    if (!was_idle || PQstatus(C(db)->c) != CONNECTION_BAD) return 0;
    PQclear(*r);
    *r = NULL;
    return ensure_conn(db) == 0;
}

static int pg_exec(oma_db *db, const char *sql)
{
    if (ensure_conn(db) != 0) return -1;
    int idle = PQtransactionStatus(C(db)->c) == PQTRANS_IDLE;
    PGresult *r = PQexec(C(db)->c, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK && retry_after_break(db, idle, &r)) {
        r = PQexec(C(db)->c, sql);
        s = PQresultStatus(r);
    }
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        fail_pg(db, "exec", r ? PQresultErrorMessage(r) : PQerrorMessage(C(db)->c));
        PQclear(r);
        return -1;
    }
    note_changes(db, r);
    PQclear(r);
    return 0;
}

static int pg_begin(oma_db *db) { return pg_exec(db, "BEGIN"); }
static int pg_commit(oma_db *db) { return pg_exec(db, "COMMIT"); }
static int pg_rollback(oma_db *db)
{
    PGTransactionStatusType t = PQtransactionStatus(C(db)->c);
    if (t == PQTRANS_IDLE || t == PQTRANS_UNKNOWN) return 0;
    return pg_exec(db, "ROLLBACK");
}

/* `?` outside '...' and "..." becomes $n. Returns the new text or NULL (too many / no memory). */
static char *rewrite_placeholders(const char *sql, int *count)
{
    size_t n = strlen(sql), extra = 0;
    for (size_t i = 0; i < n; i++)
        if (sql[i] == '?') extra += 4;
    char *out = malloc(n + extra + 1);
    if (!out) return NULL;
    size_t o = 0;
    int k = 0;
    char quote = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = sql[i];
        if (quote) {
            if (ch == quote) quote = 0; /* a doubled quote re-opens at once: same result */
            out[o++] = ch;
        } else if (ch == '\'' || ch == '"') {
            quote = ch;
            out[o++] = ch;
        } else if (ch == '?') {
            if (++k > PG_MAX_PARAMS) {
                free(out);
                return NULL;
            }
            o += (size_t)sprintf(out + o, "$%d", k);
        } else {
            out[o++] = ch;
        }
    }
    out[o] = '\0';
    *count = k;
    return out;
}

static void free_stmt(pg_stmt *p)
{
    if (!p) return;
    for (int i = 0; i < p->nparams; i++) free(p->vals[i]);
    free(p->vals);
    free(p->lens);
    free(p->fmts);
    free(p->types);
    PQclear(p->res);
    if (p->blob) PQfreemem(p->blob);
    free(p->sql);
    free(p);
}

static int pg_prepare(oma_db *db, const char *sql, oma_stmt *st)
{
    pg_stmt *p = calloc(1, sizeof *p);
    if (!p) return oma_db_fail(db, "postgres: out of memory");
    p->sql = rewrite_placeholders(sql, &p->nparams);
    if (!p->sql) {
        free(p);
        return oma_db_fail(db, "postgres: statement has more than %d parameters or no memory", PG_MAX_PARAMS);
    }
    if (p->nparams > 0) {
        size_t n = (size_t)p->nparams;
        p->vals = calloc(n, sizeof *p->vals);
        p->lens = calloc(n, sizeof *p->lens);
        p->fmts = calloc(n, sizeof *p->fmts);
        p->types = calloc(n, sizeof *p->types);
        if (!p->vals || !p->lens || !p->fmts || !p->types) {
            free_stmt(p);
            return oma_db_fail(db, "postgres: out of memory");
        }
    }
    st->impl = p;
    return 0;
}

/* Stores a copy of n bytes of v as parameter i (1-based), with its type and format. */
static int put_param(oma_stmt *st, int i, const void *v, size_t n, unsigned type, int binary)
{
    pg_stmt *p = S(st);
    if (i < 1 || i > p->nparams) return oma_db_fail(st->db, "postgres: bind: no parameter %d", i);
    if (n > (size_t)0x7fffffff) return oma_db_fail(st->db, "postgres: bind: value too large");
    char *copy = NULL;
    if (v) {
        copy = malloc(n + 1);
        if (!copy) return oma_db_fail(st->db, "postgres: out of memory");
        if (n) memcpy(copy, v, n);
        copy[n] = '\0';
    }
    free(p->vals[i - 1]);
    p->vals[i - 1] = copy;
    p->lens[i - 1] = (int)n;
    p->fmts[i - 1] = binary;
    p->types[i - 1] = type;
    return 0;
}

static int pg_bind_text(oma_stmt *st, int i, const char *s) { return put_param(st, i, s, strlen(s), 0, 0); }
static int pg_bind_int(oma_stmt *st, int i, int64_t v)
{
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%lld", (long long)v);
    return put_param(st, i, buf, (size_t)n, OID_INT8, 0);
}
static int pg_bind_double(oma_stmt *st, int i, double v)
{
    char buf[40];
    int n = snprintf(buf, sizeof buf, "%.17g", v);
    return put_param(st, i, buf, (size_t)n, OID_FLOAT8, 0);
}
static int pg_bind_blob(oma_stmt *st, int i, const void *ptr, size_t n)
{
    static const char empty = 0;
    return put_param(st, i, ptr ? ptr : &empty, ptr ? n : 0, OID_BYTEA, 1);
}
static int pg_bind_null(oma_stmt *st, int i) { return put_param(st, i, NULL, 0, 0, 0); }

static int pg_step(oma_stmt *st)
{
    pg_stmt *p = S(st);
    oma_db *db = st->db;
    if (p->done) return 0;
    if (!p->res) {
        if (ensure_conn(db) != 0) return -1;
        int idle = PQtransactionStatus(C(db)->c) == PQTRANS_IDLE;
        for (int tries = 0; tries < 2; tries++) {
            p->res = PQexecParams(C(db)->c, p->sql, p->nparams, (const Oid *)p->types,
                                  (const char *const *)p->vals, p->lens, p->fmts, 0);
            ExecStatusType s0 = PQresultStatus(p->res);
            if (s0 == PGRES_COMMAND_OK || s0 == PGRES_TUPLES_OK || tries == 1 ||
                !retry_after_break(db, idle, &p->res))
                break;
        }
        ExecStatusType s = PQresultStatus(p->res);
        if (s == PGRES_COMMAND_OK) {
            note_changes(db, p->res);
            p->done = 1;
            return 0;
        }
        if (s != PGRES_TUPLES_OK) {
            fail_pg(db, "step", p->res ? PQresultErrorMessage(p->res) : PQerrorMessage(C(db)->c));
            p->done = 1;
            return -1;
        }
        note_changes(db, p->res); /* INSERT/UPDATE ... RETURNING */
        p->nrows = PQntuples(p->res);
        p->row = -1;
    }
    if (p->row + 1 >= p->nrows) {
        p->done = 1;
        return 0;
    }
    p->row++;
    return 1;
}

static int col_ok(pg_stmt *p, int col)
{
    return p->res && p->row >= 0 && p->row < p->nrows && col >= 0 && col < PQnfields(p->res);
}

static const char *pg_text(oma_stmt *st, int col)
{
    pg_stmt *p = S(st);
    if (!col_ok(p, col) || PQgetisnull(p->res, p->row, col)) return NULL;
    return PQgetvalue(p->res, p->row, col);
}

static int64_t pg_int(oma_stmt *st, int col)
{
    const char *s = pg_text(st, col);
    if (!s) return 0;
    if (s[0] == 't' && s[1] == '\0') return 1;
    if (s[0] == 'f' && s[1] == '\0') return 0;
    if (strchr(s, '.') || strchr(s, 'e')) return (int64_t)strtod(s, NULL);
    return strtoll(s, NULL, 10);
}

static double pg_double(oma_stmt *st, int col)
{
    const char *s = pg_text(st, col);
    return s ? strtod(s, NULL) : 0.0;
}

static const void *pg_blob(oma_stmt *st, int col, size_t *n)
{
    pg_stmt *p = S(st);
    if (n) *n = 0;
    const char *s = pg_text(st, col);
    if (!s) return NULL;
    if (p->blob) PQfreemem(p->blob);
    size_t len = 0;
    p->blob = PQunescapeBytea((const unsigned char *)s, &len);
    if (!p->blob) return NULL;
    if (n) *n = len;
    return p->blob;
}

static int pg_is_null(oma_stmt *st, int col)
{
    pg_stmt *p = S(st);
    return !col_ok(p, col) || PQgetisnull(p->res, p->row, col);
}

static int64_t pg_changes(oma_db *db) { return C(db)->changes; }
static int pg_unreachable(oma_db *db) { return PQstatus(C(db)->c) != CONNECTION_OK; }

static void pg_finalize(oma_stmt *st)
{
    free_stmt(S(st));
    st->impl = NULL;
}

const oma_db_engine oma_db_engine_postgres = {
    .name = "postgres",
    .scheme = "postgres", /* matches postgres:// and postgresql:// */
    .claim_lock = " FOR UPDATE OF q SKIP LOCKED",
    .migrate_lock = "SELECT pg_advisory_xact_lock(7366512)",
    .open = pg_open,
    .close = pg_close,
    .exec = pg_exec,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .prepare = pg_prepare,
    .bind_text = pg_bind_text,
    .bind_int = pg_bind_int,
    .bind_double = pg_bind_double,
    .bind_blob = pg_bind_blob,
    .bind_null = pg_bind_null,
    .step = pg_step,
    .text = pg_text,
    .col_int = pg_int,
    .col_double = pg_double,
    .blob = pg_blob,
    .is_null = pg_is_null,
    .changes = pg_changes,
    .finalize = pg_finalize,
    .unreachable = pg_unreachable,
};
