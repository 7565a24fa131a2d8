/* test_workers_kinds.c — the run loop driven by kinds written for the test (passed through the
 * loop's kind-finder hook, the registry itself is untouched): progress writes are throttled to
 * about 5 a second, previews land in storage and the row, a cancel reaches a running kind as a
 * non-zero return from its progress callback, output names that could escape jobs/<id>/ are
 * refused, a kind that is not available fails cleanly, and a result.style of a webtoon job
 * becomes a styles row. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipelines/job_kind.h"
#include "server/jobs/jobs.h"
#include "server/jobs/workers_internal.h"

static char tmpdir[256], db_url[512], st_url[512];
static oma_db *db;
static oma_storage *st;
static const char *current_job; /* for kinds that act on their own job */

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/oma-test-wkinds-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    snprintf(db_url, sizeof db_url, "sqlite:%s/oma.db", tmpdir);
    snprintf(st_url, sizeof st_url, "file:%s/data", tmpdir);
    char err[256];
    if (oma_db_open(&db, db_url, 1, err, sizeof err) != 0 || oma_storage_open(&st, st_url, err, sizeof err) != 0) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    /* Count every write of the progress column (test-only trigger). */
    return oma_db_exec(db, "INSERT INTO artists VALUES ('art1','a@x','A','h','2026-01-01T00:00:00Z');"
                           "INSERT INTO webtoons (id, artist_id, name, description, created_at) VALUES ('w1','art1','W','', '2026-01-01T00:00:00Z');"
                           "CREATE TABLE progress_log (job_id TEXT, progress REAL);"
                           "CREATE TRIGGER log_progress AFTER UPDATE OF progress ON jobs "
                           "WHEN NEW.status = 'running' BEGIN "
                           "INSERT INTO progress_log VALUES (NEW.id, NEW.progress); END;");
}

static int teardown(void **state)
{
    (void)state;
    oma_storage_close(st);
    oma_db_close(db);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- kinds ---- */

static const uint8_t fake_png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 1, 2, 3};

/* Reports progress every millisecond for ~1 s, with a preview each time. */
static int chatty_run(oma_job_ctx *ctx)
{
    for (int i = 0; i <= 1000; i++) {
        uint8_t preview[sizeof fake_png + 1];
        memcpy(preview, fake_png, sizeof fake_png);
        preview[sizeof fake_png] = (uint8_t)(i & 0xff);
        char msg[32];
        snprintf(msg, sizeof msg, "step %d/1000", i);
        if (ctx->progress(ctx, i / 1000.0, msg, preview, sizeof preview)) return -1;
        sleep_ms(1);
    }
    ctx->result = json_pack("{s:i}", "steps", 1000);
    return 0;
}

/* Cancels its own job (through another handle, as the HTTP route would) and then waits for
 * the progress callback to say stop. */
static int cancel_me_run(oma_job_ctx *ctx)
{
    if (ctx->add_output(ctx, "partial.txt", "text/plain", (const uint8_t *)"half", 4) != 0) return -1;
    oma_db *h = NULL;
    char err[256];
    if (oma_db_open(&h, db_url, 0, err, sizeof err) != 0) return -1;
    int rc = oma_jobs_cancel(h, current_job, "art1");
    oma_db_close(h);
    if (rc != 0) return -1;
    for (int i = 0; i < 5000; i++) {
        if (ctx->progress(ctx, 0.5, "working", NULL, 0)) return -1;
        sleep_ms(1);
    }
    ctx->result = json_pack("{s:b}", "ignored_cancel", 1);
    return 0; /* the loop must still end the job cancelled */
}

static int bad_outputs_run(oma_job_ctx *ctx)
{
    const char *bad[] = {"../escape.png", "a/b.png", ".hidden", "preview.png", "", "x y.png"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (ctx->add_output(ctx, bad[i], "image/png", fake_png, sizeof fake_png) == 0) {
            snprintf(ctx->error, sizeof ctx->error, "accepted bad name %s", bad[i]);
            return -1;
        }
    if (ctx->add_output(ctx, "ok.png", NULL, fake_png, sizeof fake_png) == 0) {
        snprintf(ctx->error, sizeof ctx->error, "accepted a NULL mime");
        return -1;
    }
    for (int i = 0; i < 64; i++) {
        char name[32];
        snprintf(name, sizeof name, "out-%02d.png", i);
        if (ctx->add_output(ctx, name, "image/png", fake_png, sizeof fake_png) != 0) return -1;
    }
    if (ctx->add_output(ctx, "one-too-many.png", "image/png", fake_png, sizeof fake_png) == 0) {
        snprintf(ctx->error, sizeof ctx->error, "accepted a 65th output");
        return -1;
    }
    ctx->error[0] = '\0';
    return 0;
}

static int profile_run(oma_job_ctx *ctx)
{
    ctx->result = json_pack("{s:{s:f, s:[]}}", "style", "contrast", 0.7, "palette");
    return 0;
}

static int fail_run(oma_job_ctx *ctx)
{
    snprintf(ctx->error, sizeof ctx->error, "the model said no");
    return -1;
}

static int never_available(const char *models_dir)
{
    (void)models_dir;
    return 0;
}

static const oma_job_kind kinds[] = {
    {.name = "test.chatty", .run = chatty_run},
    {.name = "test.cancel_me", .run = cancel_me_run},
    {.name = "test.bad_outputs", .run = bad_outputs_run},
    {.name = "test.profile", .run = profile_run},
    {.name = "test.fail", .run = fail_run},
    {.name = "test.unavailable", .available = never_available, .run = fail_run},
};

static const oma_job_kind *find(const char *name)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i].name, name) == 0) return &kinds[i];
    return NULL;
}

static void enqueue(const char *kind, const char *params_json, const char *webtoon, char *id)
{
    json_t *params = params_json ? json_loads(params_json, 0, NULL) : NULL;
    char err[256];
    if (oma_jobs_enqueue(db, "art1", kind, params, NULL, webtoon, id, 48, err, sizeof err) != 0)
        fail_msg("enqueue: %s", err);
    json_decref(params);
    current_job = id;
}

static int run_one(void)
{
    char err[256] = "";
    int rc = oma_workers_run_one_ex(db, st, NULL, tmpdir, "kind-tester", NULL, find, err, sizeof err);
    if (rc < 0) fail_msg("run: %s", err);
    return rc;
}

static const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static int64_t count(const char *sql, const char *arg)
{
    oma_stmt *s = NULL;
    assert_int_equal(oma_db_prepare(db, sql, &s), 0);
    if (arg) assert_int_equal(oma_stmt_bind_text(s, 1, arg), 0);
    assert_int_equal(oma_stmt_step(s), 1);
    int64_t n = oma_stmt_int(s, 0);
    oma_stmt_finalize(s);
    return n;
}

static void test_throttle_and_preview(void **state)
{
    (void)state;
    char id[48];
    enqueue("test.chatty", NULL, NULL, id);
    int64_t t0 = oma_db_unix_now_us();
    assert_int_equal(run_one(), 1);
    double secs = (double)(oma_db_unix_now_us() - t0) / 1e6;
    json_t *j = oma_jobs_get_json(db, id, NULL);
    assert_string_equal(jstr(j, "status"), "succeeded");
    assert_non_null(jstr(j, "preview"));
    json_decref(j);
    int64_t writes = count("SELECT COUNT(*) FROM progress_log WHERE job_id = ?", id);
    fprintf(stderr, "note: 1001 progress reports in %.2f s gave %lld row writes\n", secs, (long long)writes);
    /* ~5 per second, plus the first and the final (fraction 1) report, plus timer beats. */
    assert_true(writes >= 2);
    assert_true(writes <= (int64_t)(secs * 5.0) + 4);
    /* The preview in storage is one the kind sent. */
    char key[128], err[256];
    snprintf(key, sizeof key, "jobs/%s/preview.png", id);
    uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(oma_storage_get(st, key, 1024, &data, &len, err, sizeof err), 0);
    assert_int_equal(len, sizeof fake_png + 1);
    assert_memory_equal(data, fake_png, sizeof fake_png);
    free(data);
}

static void test_cancel_through_progress(void **state)
{
    (void)state;
    char id[48];
    enqueue("test.cancel_me", NULL, NULL, id);
    int64_t t0 = oma_db_unix_now_us();
    assert_int_equal(run_one(), 1);
    double secs = (double)(oma_db_unix_now_us() - t0) / 1e6;
    json_t *j = oma_jobs_get_json(db, id, NULL);
    assert_string_equal(jstr(j, "status"), "cancelled");
    assert_int_equal(json_array_size(json_object_get(j, "outputs")), 0);
    assert_true(json_is_null(json_object_get(j, "result")));
    json_decref(j);
    /* The kind saw the cancel long before its 5 s loop ran out. */
    assert_true(secs < 2.5);
    char key[128];
    snprintf(key, sizeof key, "jobs/%s/partial.txt", id);
    assert_false(oma_storage_exists(st, key));
}

static void test_output_names(void **state)
{
    (void)state;
    char id[48];
    enqueue("test.bad_outputs", NULL, NULL, id);
    assert_int_equal(run_one(), 1);
    json_t *j = oma_jobs_get_json(db, id, NULL);
    if (strcmp(jstr(j, "status"), "succeeded") != 0) fail_msg("status %s: %s", jstr(j, "status"), jstr(j, "error"));
    json_t *outs = json_object_get(j, "outputs");
    assert_int_equal(json_array_size(outs), 64);
    assert_string_equal(jstr(json_array_get(outs, 0), "name"), "out-00.png");
    assert_string_equal(jstr(json_array_get(outs, 63), "name"), "out-63.png");
    json_decref(j);
    char path[512];
    snprintf(path, sizeof path, "%s/data/jobs/escape.png", tmpdir);
    FILE *f = fopen(path, "r");
    assert_null(f);
}

static void test_failures_and_availability(void **state)
{
    (void)state;
    char a[48], b[48];
    enqueue("test.fail", NULL, NULL, a);
    enqueue("test.unavailable", NULL, NULL, b);
    assert_int_equal(run_one(), 1);
    assert_int_equal(run_one(), 1);
    json_t *j = oma_jobs_get_json(db, a, NULL);
    assert_string_equal(jstr(j, "status"), "failed");
    assert_string_equal(jstr(j, "error"), "the model said no");
    json_decref(j);
    j = oma_jobs_get_json(db, b, NULL);
    assert_string_equal(jstr(j, "status"), "failed");
    assert_non_null(strstr(jstr(j, "error"), "not available"));
    json_decref(j);
}

static void test_profile_saved(void **state)
{
    (void)state;
    char a[48], b[48];
    enqueue("test.profile", "{\"name\":\"Rainy streets\"}", "w1", a);
    assert_int_equal(run_one(), 1);
    enqueue("test.profile", "{\"name\":\"No webtoon\"}", NULL, b);
    assert_int_equal(run_one(), 1);
    json_t *j = oma_jobs_get_json(db, a, NULL);
    assert_string_equal(jstr(j, "status"), "succeeded");
    const char *sid = jstr(json_object_get(j, "result"), "style_id");
    assert_non_null(sid);
    assert_int_equal(count("SELECT COUNT(*) FROM styles WHERE id = ? AND name = 'Rainy streets' AND status = 'ready' "
                           "AND kind = 'profile' AND webtoon_id = 'w1'",
                           sid),
                     1);
    json_decref(j);
    assert_int_equal(count("SELECT COUNT(*) FROM styles", NULL), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_throttle_and_preview, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_through_progress, setup, teardown),
        cmocka_unit_test_setup_teardown(test_output_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failures_and_availability, setup, teardown),
        cmocka_unit_test_setup_teardown(test_profile_saved, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
