/* db_driver.h — the private table behind db.h: one struct of function pointers per engine.
 *
 * oma_db_open picks a driver by URL scheme ("sqlite:", "postgres://") and every public call
 * forwards to it; callers and migrations (portable SQL through the public API) do not change.
 * The two places where engines need different SQL for the same guarantee are data here:
 * claim_lock (appended to the claim's SELECT) and migrate_lock (run first in the migration
 * transaction).
 */
#ifndef OMA_SERVER_DB_DRIVER_H
#define OMA_SERVER_DB_DRIVER_H

#include "server/store/db.h"

typedef struct oma_db_engine {
    const char *name;     /* "sqlite" */
    const char *scheme;   /* "sqlite:" — the URL prefix this driver answers */
    /* appended to the job claim's SELECT over jobs q ("" on sqlite, whose BEGIN IMMEDIATE
     * already serialises writers; FOR UPDATE OF q SKIP LOCKED on postgres) */
    const char *claim_lock;
    /* run first inside the migration transaction (NULL = nothing): serialises processes that
     * open a new database at once */
    const char *migrate_lock;
    /* Opens rest-of-URL into db->impl. On failure fills err and returns -1 (db->impl NULL). */
    int (*open)(oma_db *db, const char *rest, char *err, size_t errlen);
    void (*close)(oma_db *db);
    int (*exec)(oma_db *db, const char *sql);
    int (*begin)(oma_db *db);
    int (*commit)(oma_db *db);
    int (*rollback)(oma_db *db);
    int (*prepare)(oma_db *db, const char *sql, oma_stmt *st);
    int (*bind_text)(oma_stmt *st, int i, const char *s);
    int (*bind_int)(oma_stmt *st, int i, int64_t v);
    int (*bind_double)(oma_stmt *st, int i, double v);
    int (*bind_blob)(oma_stmt *st, int i, const void *p, size_t n);
    int (*bind_null)(oma_stmt *st, int i);
    int (*step)(oma_stmt *st);
    const char *(*text)(oma_stmt *st, int col);
    int64_t (*col_int)(oma_stmt *st, int col);
    double (*col_double)(oma_stmt *st, int col);
    const void *(*blob)(oma_stmt *st, int col, size_t *n);
    int (*is_null)(oma_stmt *st, int col);
    int64_t (*changes)(oma_db *db);
    void (*finalize)(oma_stmt *st);
    /* 1 when the database cannot be reached right now (its connection is broken); NULL = never */
    int (*unreachable)(oma_db *db);
} oma_db_engine;

struct oma_db {
    const oma_db_engine *drv;
    void *impl;
    char *url;
    char errmsg[512];
};

struct oma_stmt {
    oma_db *db;
    void *impl;
};

extern const oma_db_engine oma_db_engine_sqlite;
extern const oma_db_engine oma_db_engine_postgres;

/* migrations.c: the ordered, append-only list of schema steps (portable SQL). */
typedef struct oma_migration {
    int version;
    const char *name;
    const char *sql;   /* may be NULL for a step done in C */
    /* a step SQL cannot express (runs after sql, inside the same transaction); NULL if none */
    int (*run)(oma_db *db, char *err, size_t errlen);
} oma_migration;
size_t oma_migrations_count(void);
const oma_migration *oma_migration_at(size_t i);
/* Applies every pending migration in one transaction; 0 or -1 with err. */
int oma_migrations_apply(oma_db *db, char *err, size_t errlen);
/* migrate_email_fold.c: step 5, artists' e-mails re-stored under Unicode case folding. */
int oma_migrate_email_fold(oma_db *db, char *err, size_t errlen);

#endif
