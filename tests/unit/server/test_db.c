/* test_db.c — the database layer: driver choice by URL, SQLite set-up (WAL, foreign keys),
 * migrations (applied once, recorded, safe when several processes open a new file at once),
 * binding and reading every type, transactions, cascades, ids and clocks. */
#include "server/store/db_driver.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/store/db.h"

static char tmpdir[256];
static char url[512];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/oma-test-db-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    snprintf(url, sizeof url, "sqlite:%s/oma.db", tmpdir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static oma_db *open_ok(void)
{
    oma_db *db = NULL;
    char err[256] = "";
    int rc = oma_db_open(&db, url, 1, err, sizeof err);
    if (rc != 0) fail_msg("open: %s", err);
    return db;
}

static void test_open_and_pragmas(void **state)
{
    (void)state;
    oma_db *db = open_ok();
    assert_string_equal(oma_db_driver(db), "sqlite");
    assert_string_equal(oma_db_url(db), url);
    assert_int_equal(oma_db_schema_version(db), (int)oma_migrations_count());
    oma_stmt *st = NULL;
    assert_int_equal(oma_db_prepare(db, "PRAGMA journal_mode", &st), 0);
    assert_int_equal(oma_stmt_step(st), 1);
    assert_string_equal(oma_stmt_text(st, 0), "wal");
    oma_stmt_finalize(st);
    assert_int_equal(oma_db_prepare(db, "PRAGMA foreign_keys", &st), 0);
    assert_int_equal(oma_stmt_step(st), 1);
    assert_int_equal(oma_stmt_int(st, 0), 1);
    oma_stmt_finalize(st);
    assert_int_equal(oma_db_prepare(db, "PRAGMA synchronous", &st), 0);
    assert_int_equal(oma_stmt_step(st), 1);
    assert_int_equal(oma_stmt_int(st, 0), 1); /* NORMAL */
    oma_stmt_finalize(st);
    oma_db_close(db);

    /* Re-opening applies nothing twice. */
    db = open_ok();
    assert_int_equal(oma_db_prepare(db, "SELECT COUNT(*) FROM schema_migrations", &st), 0);
    assert_int_equal(oma_stmt_step(st), 1);
    assert_int_equal(oma_stmt_int(st, 0), (int64_t)oma_migrations_count());
    oma_stmt_finalize(st);
    oma_db_close(db);
}

static void test_upgrade_from_v1(void **state)
{
    (void)state;
    /* Turn a fresh database back into a version-1 one, then open it again: only steps 2.. run. */
    oma_db *db = open_ok();
    assert_int_equal(oma_db_exec(db, "INSERT INTO artists VALUES ('a1','a@x','A','h','x');"
                                     "ALTER TABLE job_outputs DROP COLUMN seq;"
                                     "ALTER TABLE webtoons DROP COLUMN created_us;"
                                     "ALTER TABLE assets DROP COLUMN created_us;"
                                     "ALTER TABLE jobs DROP COLUMN detail;"
                                     "DROP TABLE worker_pools;"
                                     "DROP TABLE job_losses;"
                                     "DELETE FROM schema_migrations WHERE version >= 2;"),
                     0);
    assert_int_equal(oma_db_schema_version(db), 1);
    oma_db_close(db);
    db = open_ok();
    assert_int_equal(oma_db_schema_version(db), (int)oma_migrations_count());
    oma_stmt *st = NULL;
    assert_int_equal(oma_db_prepare(db, "SELECT detail FROM jobs", &st), 0);
    oma_stmt_finalize(st);
    assert_int_equal(oma_db_prepare(db, "SELECT seq FROM job_outputs", &st), 0);
    oma_stmt_finalize(st);
    assert_int_equal(oma_db_prepare(db, "SELECT created_us FROM webtoons", &st), 0);
    oma_stmt_finalize(st);
    assert_int_equal(oma_db_prepare(db, "SELECT created_us FROM assets", &st), 0);
    oma_stmt_finalize(st);
    assert_int_equal(oma_db_prepare(db, "SELECT kinds, seen_at FROM worker_pools", &st), 0);
    assert_int_equal(oma_db_prepare(db, "SELECT job_id, step, loss FROM job_losses", &st), 0);
    oma_stmt_finalize(st);
    /* Data from before the upgrade is still there. */
    assert_int_equal(oma_db_prepare(db, "SELECT COUNT(*) FROM artists", &st), 0);
    assert_int_equal(oma_stmt_step(st), 1);
    assert_int_equal(oma_stmt_int(st, 0), 1);
    oma_stmt_finalize(st);
    oma_db_close(db);
}

static void test_bad_urls(void **state)
{
    (void)state;
    oma_db *db = (oma_db *)1;
    char err[256] = "";
    /* nothing listens on port 1: one clear line, no handle */
    assert_int_equal(oma_db_open(&db, "postgres://u:secret@127.0.0.1:1/db", 1, err, sizeof err), -1);
    assert_null(db);
    assert_non_null(strstr(err, "postgres: cannot connect"));
    assert_null(strstr(err, "secret"));
    assert_null(strchr(err, '\n'));
    assert_int_equal(oma_db_open(&db, "mysql://x", 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "scheme"));
    assert_int_equal(oma_db_open(&db, "sqlite:", 1, err, sizeof err), -1);
    assert_int_equal(oma_db_open(&db, "", 1, err, sizeof err), -1);
    assert_int_equal(oma_db_open(&db, NULL, 1, err, sizeof err), -1);
    assert_int_equal(oma_db_open(&db, "sqlite:/nonexistent-dir-oma/x/y.db", 1, err, sizeof err), -1);
    assert_true(strlen(err) > 0);
}

static void test_newer_schema_refused(void **state)
{
    (void)state;
    oma_db *db = open_ok();
    assert_int_equal(oma_db_exec(db, "INSERT INTO schema_migrations VALUES (999, 'future', 'x')"), 0);
    oma_db_close(db);
    char err[256] = "";
    assert_int_equal(oma_db_open(&db, url, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "newer"));
    /* Without migrate it opens (e.g. for a read-only tool). */
    assert_int_equal(oma_db_open(&db, url, 0, err, sizeof err), 0);
    assert_int_equal(oma_db_schema_version(db), 999);
    oma_db_close(db);
}

static void test_types_roundtrip(void **state)
{
    (void)state;
    oma_db *db = open_ok();
    assert_int_equal(oma_db_exec(db, "CREATE TABLE t (a TEXT, b BIGINT, c REAL, d BLOB, e TEXT)"), 0);
    oma_stmt *st = NULL;
    assert_int_equal(oma_db_prepare(db, "INSERT INTO t VALUES (?, ?, ?, ?, ?)", &st), 0);
    const uint8_t blob[5] = {0, 1, 2, 255, 0};
    assert_int_equal(oma_stmt_bind_text(st, 1, "héllo"), 0);
    assert_int_equal(oma_stmt_bind_int(st, 2, INT64_C(9007199254740993)), 0);
    assert_int_equal(oma_stmt_bind_double(st, 3, 0.25), 0);
    assert_int_equal(oma_stmt_bind_blob(st, 4, blob, sizeof blob), 0);
    assert_int_equal(oma_stmt_bind_text(st, 5, NULL), 0);
    assert_int_equal(oma_stmt_step(st), 0);
    assert_int_equal(oma_db_changes(db), 1);
    oma_stmt_finalize(st);
    /* Out-of-range bind index is an error, not a crash. */
    assert_int_equal(oma_db_prepare(db, "SELECT ?", &st), 0);
    assert_int_equal(oma_stmt_bind_int(st, 5, 1), -1);
    assert_true(strlen(oma_db_errmsg(db)) > 0);
    oma_stmt_finalize(st);

    assert_int_equal(oma_db_prepare(db, "SELECT a, b, c, d, e FROM t", &st), 0);
    assert_int_equal(oma_stmt_step(st), 1);
    assert_string_equal(oma_stmt_text(st, 0), "héllo");
    assert_true(oma_stmt_int(st, 1) == INT64_C(9007199254740993));
    assert_true(oma_stmt_double(st, 2) == 0.25);
    size_t n = 0;
    const uint8_t *p = oma_stmt_blob(st, 3, &n);
    assert_int_equal(n, 5);
    assert_memory_equal(p, blob, 5);
    assert_true(oma_stmt_is_null(st, 4));
    assert_null(oma_stmt_text(st, 4));
    assert_false(oma_stmt_is_null(st, 0));
    assert_int_equal(oma_stmt_step(st), 0);
    oma_stmt_finalize(st);

    assert_int_equal(oma_db_prepare(db, "SELEKT nonsense", &st), -1);
    assert_null(st);
    assert_non_null(strstr(oma_db_errmsg(db), "syntax"));
    assert_int_equal(oma_db_exec(db, "DROP TABLE nope"), -1);
    oma_db_close(db);
}

static void test_transactions_and_cascade(void **state)
{
    (void)state;
    oma_db *db = open_ok();
    assert_int_equal(oma_db_begin(db), 0);
    assert_int_equal(oma_db_exec(db, "INSERT INTO artists VALUES ('a1','a@x','A','h','2026-01-01T00:00:00Z')"), 0);
    assert_int_equal(oma_db_rollback(db), 0);
    oma_stmt *st = NULL;
    assert_int_equal(oma_db_prepare(db, "SELECT COUNT(*) FROM artists", &st), 0);
    assert_int_equal(oma_stmt_step(st), 1);
    assert_int_equal(oma_stmt_int(st, 0), 0);
    oma_stmt_finalize(st);

    assert_int_equal(oma_db_begin(db), 0);
    assert_int_equal(oma_db_exec(db, "INSERT INTO artists VALUES ('a1','a@x','A','h','2026-01-01T00:00:00Z');"
                                     "INSERT INTO sessions VALUES ('t1','a1','x','y');"
                                     "INSERT INTO webtoons (id, artist_id, name, description, created_at) VALUES ('w1','a1','W','', 'x');"),
                     0);
    assert_int_equal(oma_db_commit(db), 0);
    /* Unique email. */
    assert_int_equal(oma_db_exec(db, "INSERT INTO artists VALUES ('a2','a@x','B','h','x')"), -1);
    /* Foreign keys enforced. */
    assert_int_equal(oma_db_exec(db, "INSERT INTO sessions VALUES ('t2','nobody','x','y')"), -1);
    assert_non_null(strstr(oma_db_errmsg(db), "FOREIGN KEY"));
    /* Cascade. */
    assert_int_equal(oma_db_exec(db, "DELETE FROM artists WHERE id='a1'"), 0);
    assert_int_equal(oma_db_prepare(db, "SELECT (SELECT COUNT(*) FROM sessions) + (SELECT COUNT(*) FROM webtoons)", &st), 0);
    assert_int_equal(oma_stmt_step(st), 1);
    assert_int_equal(oma_stmt_int(st, 0), 0);
    oma_stmt_finalize(st);
    oma_db_close(db);
}

static void test_concurrent_first_open(void **state)
{
    (void)state;
    /* Several processes open a brand-new file at once: all succeed, schema applied once. */
    enum { N = 4 };
    pid_t pids[N];
    for (int i = 0; i < N; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            oma_db *db = NULL;
            char err[256];
            int rc = oma_db_open(&db, url, 1, err, sizeof err);
            if (rc != 0) fprintf(stderr, "child open: %s\n", err);
            oma_db_close(db);
            _exit(rc == 0 ? 0 : 1);
        }
    }
    for (int i = 0; i < N; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    oma_db *db = open_ok();
    oma_stmt *st = NULL;
    assert_int_equal(oma_db_prepare(db, "SELECT COUNT(*) FROM schema_migrations", &st), 0);
    assert_int_equal(oma_stmt_step(st), 1);
    assert_int_equal(oma_stmt_int(st, 0), (int64_t)oma_migrations_count());
    oma_stmt_finalize(st);
    oma_db_close(db);
}

static void test_ids_and_clock(void **state)
{
    (void)state;
    char a[33], b[33];
    assert_int_equal(oma_db_new_id(a, sizeof a), 0);
    assert_int_equal(oma_db_new_id(b, sizeof b), 0);
    assert_int_equal(strlen(a), 32);
    assert_int_equal(strspn(a, "0123456789abcdef"), 32);
    assert_string_not_equal(a, b);
    assert_int_equal(oma_db_new_id(a, 32), -1);
    char now[32];
    oma_db_now(now, sizeof now);
    assert_int_equal(strlen(now), 20);
    assert_int_equal(now[4], '-');
    assert_int_equal(now[10], 'T');
    assert_int_equal(now[19], 'Z');
    int64_t t = oma_db_unix_now();
    assert_true(t > 1700000000);
    int64_t us = oma_db_unix_now_us();
    assert_true(us / 1000000 >= t - 1 && us / 1000000 <= t + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_open_and_pragmas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade_from_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_urls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_types_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions_and_cascade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_first_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ids_and_clock, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
