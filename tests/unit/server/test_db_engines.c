/* test_db_engines.c — what every database engine must do the same, run on SQLite (server.
 * test_db_engines) and on PostgreSQL (server.test_db_engines@pg): every bind/column type,
 * `?` inside quotes left alone, changes(), rollback, foreign keys and cascades, migrations
 * applied once when several processes open a new database at once, job claims exclusive
 * across processes (each job claimed by exactly one of 4 racing processes), and on postgres a
 * connection the server dropped coming back on the next statement. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db_harness.h"
#include "server/jobs/jobs.h"
#include "server/store/db_driver.h"

static char tmpdir[256];
static char url[512];

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/oma-test-dbeng-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    return oma_test_db_url(url, sizeof url, tmpdir) == 0 ? 0 : -1;
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
    if (oma_db_open(&db, url, 1, err, sizeof err) != 0) fail_msg("open %s: %s", url, err);
    return db;
}

static int64_t count(oma_db *db, const char *sql)
{
    oma_stmt *st = NULL;
    int64_t n = -1;
    if (oma_db_prepare(db, sql, &st) == 0 && oma_stmt_step(st) == 1) n = oma_stmt_int(st, 0);
    oma_stmt_finalize(st);
    return n;
}

static void lower(char *s)
{
    for (; *s; s++) *s = (char)tolower((unsigned char)*s);
}

static void test_driver_and_schema(void **state)
{
    (void)state;
    oma_db *db = open_ok();
    assert_string_equal(oma_db_driver(db), oma_test_is_pg() ? "postgres" : "sqlite");
    assert_int_equal(oma_db_schema_version(db), (int)oma_migrations_count());
    oma_db_close(db);
    db = open_ok(); /* re-opening applies nothing twice */
    assert_int_equal(count(db, "SELECT COUNT(*) FROM schema_migrations"), (int64_t)oma_migrations_count());
    /* microsecond clocks fit (32-bit INTEGER on postgres did not: migration 7) */
    assert_int_equal(oma_db_exec(db, "INSERT INTO artists VALUES ('a1','a@x','A','h','x');"
                                     "INSERT INTO webtoons (id, artist_id, name, description, created_at, created_us) "
                                     "VALUES ('w1','a1','W','','x', 1800000000123456);"
                                     "INSERT INTO assets (id, webtoon_id, artist_id, name, mime, kind, storage_key, "
                                     "created_at, created_us) VALUES ('s1','w1','a1','n','m','k','key','x', 1800000000123457)"),
                     0);
    assert_true(count(db, "SELECT created_us FROM assets") == INT64_C(1800000000123457));
    oma_db_close(db);
}

static void test_types_and_placeholders(void **state)
{
    (void)state;
    oma_db *db = open_ok();
    const char *blob_type = oma_test_is_pg() ? "BYTEA" : "BLOB";
    char ddl[200];
    snprintf(ddl, sizeof ddl, "CREATE TABLE t (a TEXT, b BIGINT, c REAL, d %s, e TEXT, f INTEGER)", blob_type);
    assert_int_equal(oma_db_exec(db, ddl), 0);
    oma_stmt *st = NULL;
    /* a '?' inside a literal is not a parameter */
    assert_int_equal(oma_db_prepare(db, "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)", &st), 0);
    const uint8_t blob[6] = {0, 1, 2, 255, 0, '\\'};
    assert_int_equal(oma_stmt_bind_text(st, 1, "héllo 'quoted' ?"), 0);
    assert_int_equal(oma_stmt_bind_int(st, 2, INT64_C(9007199254740993)), 0);
    assert_int_equal(oma_stmt_bind_double(st, 3, 0.25), 0);
    assert_int_equal(oma_stmt_bind_blob(st, 4, blob, sizeof blob), 0);
    assert_int_equal(oma_stmt_bind_text(st, 5, NULL), 0);
    assert_int_equal(oma_stmt_bind_int(st, 6, -7), 0);
    assert_int_equal(oma_stmt_bind_int(st, 7, 1), -1); /* no 7th parameter: an error, no crash */
    assert_int_equal(oma_stmt_step(st), 0);
    assert_int_equal(oma_db_changes(db), 1);
    oma_stmt_finalize(st);

    assert_int_equal(oma_db_prepare(db, "SELECT a, b, c, d, e, f, 'what?', b > ? FROM t WHERE a <> 'x?y'", &st), 0);
    assert_int_equal(oma_stmt_bind_int(st, 1, 5), 0);
    assert_int_equal(oma_stmt_step(st), 1);
    assert_string_equal(oma_stmt_text(st, 0), "héllo 'quoted' ?");
    assert_true(oma_stmt_int(st, 1) == INT64_C(9007199254740993));
    assert_true(oma_stmt_double(st, 2) == 0.25);
    size_t n = 0;
    const uint8_t *p = oma_stmt_blob(st, 3, &n);
    assert_int_equal(n, sizeof blob);
    assert_memory_equal(p, blob, sizeof blob);
    assert_true(oma_stmt_is_null(st, 4));
    assert_null(oma_stmt_text(st, 4));
    assert_int_equal(oma_stmt_int(st, 5), -7);
    assert_string_equal(oma_stmt_text(st, 6), "what?");
    assert_int_equal(oma_stmt_int(st, 7), 1); /* a boolean reads as 1 */
    assert_int_equal(oma_stmt_step(st), 0);
    oma_stmt_finalize(st);

    /* UPDATE counts; a statement touching nothing reports 0 */
    assert_int_equal(oma_db_exec_bound(db, "UPDATE t SET e = ? WHERE f = -7", "x", NULL, NULL), 0);
    assert_int_equal(oma_db_changes(db), 1);
    assert_int_equal(oma_db_exec_bound(db, "UPDATE t SET e = ? WHERE f = 99", "x", NULL, NULL), 0);
    assert_int_equal(oma_db_changes(db), 0);

    /* errors are messages, not crashes */
    assert_int_equal(oma_db_exec(db, "SELEKT nonsense"), -1);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", oma_db_errmsg(db));
    lower(msg);
    assert_non_null(strstr(msg, "syntax"));
    assert_null(strchr(msg, '\n'));
    st = NULL;
    int rc = oma_db_prepare(db, "SELECT nope FROM t", &st);
    if (rc == 0) assert_int_equal(oma_stmt_step(st), -1); /* postgres reports it at step */
    oma_stmt_finalize(st);
    oma_db_close(db);
}

static void test_transactions_and_keys(void **state)
{
    (void)state;
    oma_db *db = open_ok();
    assert_int_equal(oma_db_begin(db), 0);
    assert_int_equal(oma_db_exec(db, "INSERT INTO artists VALUES ('a1','a@x','A','h','2026-01-01T00:00:00Z')"), 0);
    assert_int_equal(oma_db_rollback(db), 0);
    assert_int_equal(oma_db_rollback(db), 0); /* nothing open: fine */
    assert_int_equal(count(db, "SELECT COUNT(*) FROM artists"), 0);
    assert_int_equal(oma_db_exec(db, "INSERT INTO artists VALUES ('a1','a@x','A','h','2026-01-01T00:00:00Z');"
                                     "INSERT INTO sessions VALUES ('t1','a1','x','y');"
                                     "INSERT INTO webtoons (id, artist_id, name, description, created_at) "
                                     "VALUES ('w1','a1','W','', 'x');"),
                     0);
    assert_int_equal(oma_db_exec(db, "INSERT INTO artists VALUES ('a2','a@x','B','h','x')"), -1); /* unique */
    assert_int_equal(oma_db_exec(db, "INSERT INTO sessions VALUES ('t2','nobody','x','y')"), -1);
    char msg[512];
    snprintf(msg, sizeof msg, "%s", oma_db_errmsg(db));
    lower(msg);
    assert_non_null(strstr(msg, "foreign key"));
    assert_int_equal(oma_db_exec(db, "DELETE FROM artists WHERE id='a1'"), 0);
    assert_int_equal(count(db, "SELECT (SELECT COUNT(*) FROM sessions) + (SELECT COUNT(*) FROM webtoons)"), 0);
    /* an error inside a transaction, then rollback: the handle is usable again */
    assert_int_equal(oma_db_begin(db), 0);
    assert_int_equal(oma_db_exec(db, "INSERT INTO nope VALUES (1)"), -1);
    assert_int_equal(oma_db_rollback(db), 0);
    assert_int_equal(count(db, "SELECT COUNT(*) FROM artists"), 0);
    oma_db_close(db);
}

static void test_concurrent_first_open(void **state)
{
    (void)state;
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
    assert_int_equal(count(db, "SELECT COUNT(*) FROM schema_migrations"), (int64_t)oma_migrations_count());
    oma_db_close(db);
}

/* 4 processes claim from one queue of 60 jobs until it is empty; each writes the ids it got
 * into its own file; every job must be claimed exactly once. */
static void test_claim_across_processes(void **state)
{
    (void)state;
    enum { NPROC = 4, NJOBS = 60 };
    oma_db *db = open_ok();
    assert_int_equal(oma_db_exec(db, "INSERT INTO artists VALUES ('a1','a@x','A','h','2026-01-01T00:00:00Z');"
                                     "INSERT INTO artists VALUES ('a2','b@x','B','h','2026-01-01T00:00:00Z');"),
                     0);
    for (int i = 0; i < NJOBS; i++) {
        char id[48], err[256];
        if (oma_jobs_enqueue(db, i % 2 ? "a1" : "a2", "noop", NULL, NULL, NULL, id, sizeof id, err, sizeof err) != 0)
            fail_msg("enqueue: %s", err);
    }
    oma_db_close(db);
    pid_t pids[NPROC];
    for (int k = 0; k < NPROC; k++) {
        pids[k] = fork();
        assert_true(pids[k] >= 0);
        if (pids[k] == 0) {
            char path[400], err[256], wid[32], id[48];
            snprintf(path, sizeof path, "%s/claims.%d", tmpdir, k);
            snprintf(wid, sizeof wid, "w%d", k);
            FILE *f = fopen(path, "w");
            oma_db *d = NULL;
            if (!f || oma_db_open(&d, url, 0, err, sizeof err) != 0) _exit(2);
            int rc;
            while ((rc = oma_jobs_claim(d, wid, oma_db_unix_now(), id, sizeof id)) == 1) {
                fprintf(f, "%s\n", id);
                if (oma_jobs_finish(d, id, wid, "succeeded", NULL, NULL) != 0) _exit(3);
            }
            if (rc < 0) fprintf(stderr, "claim: %s\n", oma_db_errmsg(d));
            oma_db_close(d);
            fclose(f);
            _exit(rc == 0 ? 0 : 4);
        }
    }
    for (int k = 0; k < NPROC; k++) {
        int status = 0;
        assert_int_equal(waitpid(pids[k], &status, 0), pids[k]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    /* every id once across the files */
    char (*ids)[48] = calloc(NJOBS * 2, sizeof *ids);
    assert_non_null(ids);
    int total = 0, workers_used = 0;
    for (int k = 0; k < NPROC; k++) {
        char path[400], line[64];
        snprintf(path, sizeof path, "%s/claims.%d", tmpdir, k);
        FILE *f = fopen(path, "r");
        assert_non_null(f);
        int mine = 0;
        while (fgets(line, sizeof line, f) && total < NJOBS * 2) {
            line[strcspn(line, "\n")] = '\0';
            for (int j = 0; j < total; j++) assert_string_not_equal(ids[j], line);
            snprintf(ids[total++], 48, "%.47s", line);
            mine++;
        }
        fclose(f);
        workers_used += mine > 0;
    }
    free(ids);
    assert_int_equal(total, NJOBS);
    db = open_ok();
    assert_int_equal(count(db, "SELECT COUNT(*) FROM jobs WHERE status = 'succeeded' AND attempts = 1"), NJOBS);
    oma_db_close(db);
    fprintf(stderr, "claims spread over %d of %d processes\n", workers_used, NPROC);
}

/* postgres only: the server ends our connection (as a restart would); the next statement
 * reconnects instead of failing for ever. */
static void test_reconnect(void **state)
{
    (void)state;
    if (!oma_test_is_pg()) {
        skip();
        return;
    }
    oma_db *db = open_ok(), *admin = open_ok();
    int64_t pid = count(db, "SELECT pg_backend_pid()");
    assert_true(pid > 0);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld)", (long long)pid);
    assert_int_equal(count(admin, sql), 1);
    usleep(100 * 1000);
    /* the next statement (outside a transaction) reconnects and runs */
    assert_int_equal(count(db, "SELECT COUNT(*) FROM artists"), 0);
    /* inside a transaction a break is an error (the transaction is gone), and the handle
     * recovers after the rollback */
    pid = count(db, "SELECT pg_backend_pid()");
    assert_int_equal(oma_db_begin(db), 0);
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld)", (long long)pid);
    assert_int_equal(count(admin, sql), 1);
    usleep(100 * 1000);
    assert_int_equal(count(db, "SELECT COUNT(*) FROM artists"), -1);
    oma_db_rollback(db);
    assert_int_equal(count(db, "SELECT COUNT(*) FROM artists"), 0);
    assert_true(count(db, "SELECT pg_backend_pid()") != pid);
    oma_db_close(admin);
    oma_db_close(db);
}

int main(void)
{
    int pre = oma_test_db_prepare();
    if (pre != 0) return pre == OMA_TEST_SKIP ? OMA_TEST_SKIP : 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_driver_and_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_types_and_placeholders, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions_and_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_first_open, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_across_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
