/* migrations.c — the database schema as an ordered, append-only list of steps.
 *
 * Each step has a version; schema_migrations records which ran. At open, every step above the
 * recorded maximum runs inside one write transaction (BEGIN IMMEDIATE), so two processes
 * opening a new database at once cannot both apply a step, and a failed step leaves the schema
 * as it was. Never edit a released step: append a new one. The SQL sticks to what SQLite and
 * PostgreSQL share (TEXT, INTEGER, BIGINT, REAL, BLOB; times as RFC 3339 TEXT). A step SQL
 * cannot express has a C function instead (run), inside the same transaction.
 */
#include "server/store/db_driver.h"

#include <stdio.h>
#include <string.h>

/* Step 7. SQLite's INTEGER is 64-bit, PostgreSQL's is 32-bit: the microsecond clocks of step 3
 * (created_us, ~1.8e15) need BIGINT there. SQLite has no ALTER COLUMN and needs nothing. */
static int widen_created_us(oma_db *db, char *err, size_t errlen)
{
    if (strcmp(oma_db_driver(db), "postgres") != 0) return 0;
    if (oma_db_exec(db, "ALTER TABLE webtoons ALTER COLUMN created_us TYPE BIGINT;"
                        "ALTER TABLE assets ALTER COLUMN created_us TYPE BIGINT;") != 0) {
        snprintf(err, errlen, "%s", oma_db_errmsg(db));
        return -1;
    }
    return 0;
}

static const oma_migration migrations[] = {
    {1, "initial schema",
     "CREATE TABLE artists ("
     "  id TEXT PRIMARY KEY,"
     "  email TEXT NOT NULL UNIQUE,"
     "  name TEXT NOT NULL,"
     "  password_hash TEXT NOT NULL,"
     "  created_at TEXT NOT NULL);"

     "CREATE TABLE sessions ("
     "  token_hash TEXT PRIMARY KEY,"
     "  artist_id TEXT NOT NULL REFERENCES artists(id) ON DELETE CASCADE,"
     "  created_at TEXT NOT NULL,"
     "  expires_at TEXT NOT NULL);"
     "CREATE INDEX sessions_artist ON sessions(artist_id);"

     "CREATE TABLE uploads ("
     "  id TEXT PRIMARY KEY,"
     "  artist_id TEXT NOT NULL REFERENCES artists(id) ON DELETE CASCADE,"
     "  sha256 TEXT NOT NULL,"
     "  storage_key TEXT NOT NULL,"
     "  mime TEXT NOT NULL,"
     "  width INTEGER NOT NULL DEFAULT 0,"
     "  height INTEGER NOT NULL DEFAULT 0,"
     "  bytes BIGINT NOT NULL DEFAULT 0,"
     "  created_at TEXT NOT NULL);"
     "CREATE INDEX uploads_artist ON uploads(artist_id, created_at);"
     "CREATE INDEX uploads_sha ON uploads(sha256);"

     "CREATE TABLE webtoons ("
     "  id TEXT PRIMARY KEY,"
     "  artist_id TEXT NOT NULL REFERENCES artists(id) ON DELETE CASCADE,"
     "  name TEXT NOT NULL,"
     "  description TEXT NOT NULL DEFAULT '',"
     "  created_at TEXT NOT NULL);"
     "CREATE INDEX webtoons_artist ON webtoons(artist_id, created_at);"

     "CREATE TABLE webtoon_samples ("
     "  webtoon_id TEXT NOT NULL REFERENCES webtoons(id) ON DELETE CASCADE,"
     "  upload_id TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE,"
     "  created_at TEXT NOT NULL,"
     "  PRIMARY KEY (webtoon_id, upload_id));"

     "CREATE TABLE jobs ("
     "  id TEXT PRIMARY KEY,"
     "  artist_id TEXT NOT NULL REFERENCES artists(id) ON DELETE CASCADE,"
     "  webtoon_id TEXT REFERENCES webtoons(id) ON DELETE SET NULL,"
     "  kind TEXT NOT NULL,"
     "  status TEXT NOT NULL DEFAULT 'queued',"
     "  params TEXT NOT NULL DEFAULT '{}',"
     "  inputs TEXT NOT NULL DEFAULT '{}',"
     "  result TEXT,"
     "  error TEXT,"
     "  progress REAL NOT NULL DEFAULT 0,"
     "  message TEXT,"
     "  preview_key TEXT,"
     "  attempts INTEGER NOT NULL DEFAULT 0,"
     "  max_attempts INTEGER NOT NULL DEFAULT 3,"
     "  lease_until BIGINT,"
     "  heartbeat_at TEXT,"
     "  worker_id TEXT,"
     "  cancel_requested INTEGER NOT NULL DEFAULT 0,"
     "  enqueued_us BIGINT NOT NULL DEFAULT 0,"
     "  created_at TEXT NOT NULL,"
     "  started_at TEXT,"
     "  finished_at TEXT);"
     "CREATE INDEX jobs_status_created ON jobs(status, created_at, enqueued_us);"
     "CREATE INDEX jobs_status_lease ON jobs(status, lease_until);"
     "CREATE INDEX jobs_artist_created ON jobs(artist_id, created_at);"

     "CREATE TABLE styles ("
     "  id TEXT PRIMARY KEY,"
     "  webtoon_id TEXT NOT NULL REFERENCES webtoons(id) ON DELETE CASCADE,"
     "  artist_id TEXT NOT NULL REFERENCES artists(id) ON DELETE CASCADE,"
     "  name TEXT NOT NULL,"
     "  kind TEXT NOT NULL,"
     "  status TEXT NOT NULL,"
     "  data TEXT,"
     "  job_id TEXT REFERENCES jobs(id) ON DELETE SET NULL,"
     "  created_at TEXT NOT NULL,"
     "  updated_at TEXT NOT NULL);"
     "CREATE INDEX styles_webtoon ON styles(webtoon_id, created_at);"

     "CREATE TABLE job_outputs ("
     "  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
     "  name TEXT NOT NULL,"
     "  mime TEXT NOT NULL,"
     "  storage_key TEXT NOT NULL,"
     "  bytes BIGINT NOT NULL,"
     "  PRIMARY KEY (job_id, name));"

     "CREATE TABLE assets ("
     "  id TEXT PRIMARY KEY,"
     "  webtoon_id TEXT NOT NULL REFERENCES webtoons(id) ON DELETE CASCADE,"
     "  artist_id TEXT NOT NULL REFERENCES artists(id) ON DELETE CASCADE,"
     "  job_id TEXT REFERENCES jobs(id) ON DELETE SET NULL,"
     "  name TEXT NOT NULL,"
     "  description TEXT NOT NULL DEFAULT '',"
     "  mime TEXT NOT NULL,"
     "  kind TEXT NOT NULL,"
     "  storage_key TEXT NOT NULL,"
     "  created_at TEXT NOT NULL);"
     "CREATE INDEX assets_webtoon_created ON assets(webtoon_id, created_at);"

     "CREATE TABLE asset_inputs ("
     "  asset_id TEXT NOT NULL REFERENCES assets(id) ON DELETE CASCADE,"
     "  name TEXT NOT NULL,"
     "  upload_id TEXT NOT NULL REFERENCES uploads(id) ON DELETE CASCADE);"
     "CREATE INDEX asset_inputs_asset ON asset_inputs(asset_id);", NULL},
    {2, "job outputs keep their order",
     "ALTER TABLE job_outputs ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;", NULL},
    /* created_at has whole seconds: lists ordered "newest first" break ties by this. */
    {3, "webtoons and assets keep their creation order",
     "ALTER TABLE webtoons ADD COLUMN created_us INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE assets ADD COLUMN created_us INTEGER NOT NULL DEFAULT 0;", NULL},
    /* a kind's own progress fields (style.train: stage, step, loss, eta_s, the loss curve) */
    {4, "jobs carry a progress detail object", "ALTER TABLE jobs ADD COLUMN detail TEXT;", NULL},
    /* e-mails stored with ASCII-only lowering re-stored under Unicode folding (SQL cannot fold) */
    {5, "artists' e-mails re-folded (Unicode)", NULL, oma_migrate_email_fold},
    /* worker pools in other processes/machines say they are alive and which kinds they run */
    {6, "worker pools register",
     "CREATE TABLE worker_pools ("
     "  id TEXT PRIMARY KEY,"
     "  host TEXT NOT NULL,"
     "  kinds TEXT NOT NULL,"
     "  threads INTEGER NOT NULL,"
     "  started_at TEXT NOT NULL,"
     "  seen_at BIGINT NOT NULL);", NULL},
    {7, "microsecond clocks are 64-bit on every engine", NULL, widen_created_us},
    /* a training job's loss curve, one row per step, appended as it runs (jobs_losses.c) */
    {8, "training jobs keep their losses one row per step",
     "CREATE TABLE job_losses ("
     "  job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
     "  step INTEGER NOT NULL,"
     "  loss DOUBLE PRECISION NOT NULL,"
     "  PRIMARY KEY (job_id, step));", NULL},
    /* long-lived API tokens (auth_tokens.c) and each artist's AUTOMATIC1111 options (sdapi) */
    {9, "API tokens and A1111 options",
     "CREATE TABLE api_tokens ("
     "  id TEXT PRIMARY KEY,"
     "  artist_id TEXT NOT NULL REFERENCES artists(id) ON DELETE CASCADE,"
     "  name TEXT NOT NULL,"
     "  token_hash TEXT NOT NULL UNIQUE,"
     "  created_at TEXT NOT NULL,"
     "  last_used_at TEXT);"
     "CREATE INDEX api_tokens_artist ON api_tokens(artist_id, created_at);"
     "CREATE TABLE sdapi_options ("
     "  artist_id TEXT PRIMARY KEY REFERENCES artists(id) ON DELETE CASCADE,"
     "  options TEXT NOT NULL,"
     "  updated_at TEXT NOT NULL);", NULL},
};

size_t oma_migrations_count(void) { return sizeof migrations / sizeof migrations[0]; }

const oma_migration *oma_migration_at(size_t i)
{
    return i < oma_migrations_count() ? &migrations[i] : NULL;
}

static int current_version(oma_db *db, int *out)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &st) != 0) return -1;
    int rc = oma_stmt_step(st);
    if (rc == 1) *out = (int)oma_stmt_int(st, 0);
    oma_stmt_finalize(st);
    return rc == 1 ? 0 : -1;
}

int oma_migrations_apply(oma_db *db, char *err, size_t errlen)
{
    if (oma_db_begin(db) != 0) {
        snprintf(err, errlen, "migrations: %s", oma_db_errmsg(db));
        return -1;
    }
    int have = 0;
    if ((db->drv->migrate_lock && oma_db_exec(db, db->drv->migrate_lock) != 0) ||
        oma_db_exec(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)") != 0 ||
        current_version(db, &have) != 0) {
        snprintf(err, errlen, "migrations: %s", oma_db_errmsg(db));
        oma_db_rollback(db);
        return -1;
    }
    int latest = oma_migrations_count() ? migrations[oma_migrations_count() - 1].version : 0;
    if (have > latest) {
        snprintf(err, errlen, "database schema version %d is newer than this program (%d)", have, latest);
        oma_db_rollback(db);
        return -1;
    }
    char now[32];
    oma_db_now(now, sizeof now);
    for (size_t i = 0; i < oma_migrations_count(); i++) {
        const oma_migration *m = &migrations[i];
        if (m->version <= have) continue;
        oma_stmt *st = NULL;
        char why[256] = "";
        int ok = (!m->sql || oma_db_exec(db, m->sql) == 0) &&
                 (!m->run || m->run(db, why, sizeof why) == 0) &&
                 oma_db_prepare(db, "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)",
                                &st) == 0 &&
                 oma_stmt_bind_int(st, 1, m->version) == 0 && oma_stmt_bind_text(st, 2, m->name) == 0 &&
                 oma_stmt_bind_text(st, 3, now) == 0 && oma_stmt_step(st) == 0;
        oma_stmt_finalize(st);
        if (!ok) {
            snprintf(err, errlen, "migration %d (%s): %s", m->version, m->name,
                     why[0] ? why : oma_db_errmsg(db));
            oma_db_rollback(db);
            return -1;
        }
    }
    if (oma_db_commit(db) != 0) {
        snprintf(err, errlen, "migrations: commit: %s", oma_db_errmsg(db));
        oma_db_rollback(db);
        return -1;
    }
    return 0;
}
