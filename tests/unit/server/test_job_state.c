/* test_job_state.c — what the run loop gives a long job (style.train) to survive restarts,
 * driven by a kind written for the test: the progress detail object reaches the row and the
 * job's JSON (and stays while the job waits for its next attempt); state files put in one
 * attempt come back in the next one after a shutdown put the job back in the queue; bad state
 * names are refused; the state is gone once the job ends (succeeded, failed, cancelled). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/job_kind.h"
#include "db_harness.h"
#include "server/jobs/jobs.h"
#include "server/jobs/workers_internal.h"

static char tmpdir[256], db_url[512], st_url[512];
static oma_db *db;
static oma_storage *st;
static const char *current_job;

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/oma-test-jstate-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    if (oma_test_db_url(db_url, sizeof db_url, tmpdir) != 0) return -1;
    snprintf(st_url, sizeof st_url, "file:%s/data", tmpdir);
    char err[256];
    if (oma_db_open(&db, db_url, 1, err, sizeof err) != 0 || oma_storage_open(&st, st_url, err, sizeof err) != 0) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    return oma_db_exec(db, "INSERT INTO artists VALUES ('art1','a@x','A','h','2026-01-01T00:00:00Z');");
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

/* ---- the kind: a counter that checkpoints "step N" and resumes from it ---- */

static int runs, last_resumed_from, last_get_rc;
static atomic_int *shutdown_at_2; /* a shutdown that arrives while step 2 runs */

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int counter_run(oma_job_ctx *ctx)
{
    runs++;
    char path[400], err[256] = "";
    snprintf(path, sizeof path, "%s/ckpt-%d", tmpdir, runs);
    if (!ctx->state_put || !ctx->state_get || !ctx->progress_detail) {
        snprintf(ctx->error, sizeof ctx->error, "no state callbacks");
        return -1;
    }
    /* hostile names never reach storage */
    if (ctx->state_put(ctx, "../escape", path, err, sizeof err) != -1 ||
        ctx->state_get(ctx, "a/b", path, 100, err, sizeof err) != -1 ||
        ctx->state_get(ctx, ".hidden", path, 100, err, sizeof err) != -1) {
        snprintf(ctx->error, sizeof ctx->error, "a bad state name was accepted");
        return -1;
    }
    int from = 0;
    last_get_rc = ctx->state_get(ctx, "checkpoint", path, 100, err, sizeof err);
    if (last_get_rc < 0) {
        snprintf(ctx->error, sizeof ctx->error, "state_get: %s", err);
        return -1;
    }
    if (last_get_rc == 0) {
        FILE *f = fopen(path, "rb");
        if (!f || fscanf(f, "step %d", &from) != 1) from = -1;
        if (f) fclose(f);
    }
    last_resumed_from = from;
    const json_t *fail = json_object_get(ctx->params, "fail");
    for (int step = from + 1; step <= 6; step++) {
        char text[32];
        snprintf(text, sizeof text, "step %d", step);
        if (step % 2 == 0) {
            if (write_text(path, text) != 0 || ctx->state_put(ctx, "checkpoint", path, err, sizeof err) != 0) {
                snprintf(ctx->error, sizeof ctx->error, "state_put: %s", err);
                return -1;
            }
        }
        if (step == 2 && shutdown_at_2) atomic_store(shutdown_at_2, 1);
        if (json_is_true(fail) && step == 3) {
            snprintf(ctx->error, sizeof ctx->error, "failing on purpose");
            return -1;
        }
        json_t *d = json_pack("{s:i, s:i}", "step", step, "resumed_from", from);
        int stop = ctx->progress_detail(ctx, step / 6.0, text, d, NULL, 0);
        json_decref(d);
        if (stop) {
            snprintf(ctx->error, sizeof ctx->error, "stopped");
            return -1;
        }
    }
    ctx->result = json_pack("{s:i}", "resumed_from", from);
    return 0;
}

static const oma_job_kind counter = {.name = "test.counter", .title = "counter", .run = counter_run};

static const oma_job_kind *find(const char *name) { return strcmp(name, "test.counter") == 0 ? &counter : NULL; }

static void enqueue(const char *params_json, char *id)
{
    json_t *params = params_json ? json_loads(params_json, 0, NULL) : NULL;
    char err[256];
    if (oma_jobs_enqueue(db, "art1", "test.counter", params, NULL, NULL, id, 48, err, sizeof err) != 0)
        fail_msg("enqueue: %s", err);
    json_decref(params);
    current_job = id;
}

static int run_one(const atomic_int *stop)
{
    char err[256] = "";
    int rc = oma_workers_run_one_ex(db, st, NULL, tmpdir, "state-tester", stop, find, err, sizeof err);
    if (rc < 0) fail_msg("run: %s", err);
    return rc;
}

static int state_exists(const char *id, const char *name)
{
    char key[200];
    snprintf(key, sizeof key, "jobstate/%s/%s", id, name);
    return oma_storage_exists(st, key);
}

static void test_resume_through_storage(void **state)
{
    (void)state;
    char id[48];
    enqueue(NULL, id);
    runs = 0;
    /* attempt 1: a shutdown arrives at step 2 (after its checkpoint): back to the queue */
    atomic_int stop;
    atomic_init(&stop, 0);
    shutdown_at_2 = &stop;
    assert_int_equal(run_one(&stop), 1);
    shutdown_at_2 = NULL;
    assert_int_equal(last_get_rc, 1); /* nothing was stored before the first attempt */
    json_t *j = oma_jobs_get_json(db, id, "art1");
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "queued");
    json_t *d = json_object_get(j, "detail");
    assert_true(json_is_object(d)); /* the detail stays while the job waits */
    assert_int_equal(json_integer_value(json_object_get(d, "step")), 2);
    json_decref(j);
    assert_true(state_exists(id, "checkpoint"));

    /* attempt 2 starts from step 2's checkpoint and finishes */
    assert_int_equal(run_one(NULL), 1);
    assert_int_equal(runs, 2);
    assert_int_equal(last_get_rc, 0);
    assert_int_equal(last_resumed_from, 2);
    j = oma_jobs_get_json(db, id, "art1");
    assert_string_equal(json_string_value(json_object_get(j, "status")), "succeeded");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "result"), "resumed_from")), 2);
    d = json_object_get(j, "detail");
    assert_int_equal(json_integer_value(json_object_get(d, "step")), 6);
    assert_int_equal(json_integer_value(json_object_get(d, "resumed_from")), 2);
    json_decref(j);
    assert_false(state_exists(id, "checkpoint")); /* dropped once the job ended */
}

static void test_resume_from_checkpoint(void **state)
{
    (void)state;
    char id[48];
    enqueue(NULL, id);
    runs = 0;
    /* put a checkpoint in place as an earlier attempt would have (step 4) */
    char path[400], err[256];
    snprintf(path, sizeof path, "%s/seed-ckpt", tmpdir);
    assert_int_equal(write_text(path, "step 4"), 0);
    assert_int_equal(oma_job_state_put(st, id, "checkpoint", path, err, sizeof err), 0);
    assert_true(state_exists(id, "checkpoint"));
    assert_int_equal(oma_job_state_put(st, id, "../x", path, err, sizeof err), -1);
    assert_int_equal(oma_job_state_get(st, id, "nothing", path, 100, err, sizeof err), 1);
    /* too large for max_len: an error, not a truncated file */
    assert_int_equal(oma_job_state_get(st, id, "checkpoint", path, 3, err, sizeof err), -1);

    assert_int_equal(run_one(NULL), 1);
    assert_int_equal(last_get_rc, 0);
    assert_int_equal(last_resumed_from, 4);
    json_t *j = oma_jobs_get_json(db, id, "art1");
    assert_string_equal(json_string_value(json_object_get(j, "status")), "succeeded");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "detail"), "resumed_from")), 4);
    json_decref(j);
    assert_false(state_exists(id, "checkpoint"));
}

static void test_failed_job_drops_state(void **state)
{
    (void)state;
    char id[48];
    enqueue("{\"fail\": true}", id);
    runs = 0;
    assert_int_equal(run_one(NULL), 1);
    json_t *j = oma_jobs_get_json(db, id, "art1");
    assert_string_equal(json_string_value(json_object_get(j, "status")), "failed");
    assert_string_equal(json_string_value(json_object_get(j, "error")), "failing on purpose");
    json_decref(j);
    assert_false(state_exists(id, "checkpoint")); /* step 2's checkpoint was stored, then dropped */
}

static void test_detail_rules(void **state)
{
    (void)state;
    char id[48];
    enqueue(NULL, id);
    /* not this worker's job: nothing written */
    json_t *d = json_pack("{s:i}", "x", 1);
    assert_int_equal(oma_jobs_set_detail(db, id, "nobody", d), 2);
    json_decref(d);
    json_t *j = oma_jobs_get_json(db, id, "art1");
    assert_true(json_is_null(json_object_get(j, "detail")));
    json_decref(j);
}

int main(void)
{
    int pre = oma_test_db_prepare();
    if (pre != 0) return pre == OMA_TEST_SKIP ? OMA_TEST_SKIP : 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_resume_through_storage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume_from_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_job_drops_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detail_rules, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
