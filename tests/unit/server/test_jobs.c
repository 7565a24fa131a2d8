/* test_jobs.c — the job queue as table operations, without running any kind: enqueue and the
 * API object, claim order and exclusivity (threads racing on separate handles), heartbeat
 * (progress, message cut, cancel flag, lost lease), finish states, cancel, requeue of expired
 * leases up to "worker died N times", and the per-artist listing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_harness.h"
#include "server/jobs/jobs.h"

static char tmpdir[256];
static char url[512];
static oma_db *db;

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/oma-test-jobs-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    if (oma_test_db_url(url, sizeof url, tmpdir) != 0) return -1;
    char err[256];
    if (oma_db_open(&db, url, 1, err, sizeof err) != 0) {
        fprintf(stderr, "open: %s\n", err);
        return -1;
    }
    oma_jobs_set_lease_seconds(OMA_JOB_LEASE_SECONDS);
    return oma_db_exec(db, "INSERT INTO artists VALUES ('art1','a@x','A','h','2026-01-01T00:00:00Z');"
                           "INSERT INTO artists VALUES ('art2','b@x','B','h','2026-01-01T00:00:00Z');"
                           "INSERT INTO webtoons (id, artist_id, name, description, created_at) VALUES ('w1','art1','W','', '2026-01-01T00:00:00Z');");
}

static int teardown(void **state)
{
    (void)state;
    oma_db_close(db);
    db = NULL;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void enqueue(const char *artist, const char *kind, const char *params_json, char *id)
{
    json_t *params = params_json ? json_loads(params_json, 0, NULL) : NULL;
    json_t *inputs = json_pack("{s:s}", "image", "up1");
    char err[256];
    if (oma_jobs_enqueue(db, artist, kind, params, inputs, NULL, id, 48, err, sizeof err) != 0)
        fail_msg("enqueue: %s", err);
    json_decref(params);
    json_decref(inputs);
}

static const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static void test_enqueue_and_json(void **state)
{
    (void)state;
    char id[48], err[256];
    json_t *params = json_pack("{s:i, s:s}", "max_side", 512, "fit", "cover");
    json_t *inputs = json_pack("{s:s, s:[s,s]}", "image", "u1", "samples", "u2", "u3");
    assert_int_equal(oma_jobs_enqueue(db, "art1", "image.normalize", params, inputs, "w1", id, sizeof id, err,
                                      sizeof err),
                     0);
    assert_int_equal(strlen(id), 32);
    json_t *j = oma_jobs_get_json(db, id, "art1");
    assert_non_null(j);
    assert_string_equal(jstr(j, "id"), id);
    assert_string_equal(jstr(j, "kind"), "image.normalize");
    assert_string_equal(jstr(j, "status"), "queued");
    assert_true(json_equal(json_object_get(j, "params"), params));
    assert_true(json_equal(json_object_get(j, "inputs"), inputs));
    assert_true(json_is_null(json_object_get(j, "result")));
    assert_true(json_is_null(json_object_get(j, "error")));
    assert_true(json_is_null(json_object_get(j, "started_at")));
    assert_true(json_is_null(json_object_get(j, "finished_at")));
    assert_true(json_is_null(json_object_get(j, "preview")));
    assert_true(json_is_array(json_object_get(j, "outputs")));
    assert_int_equal(json_array_size(json_object_get(j, "outputs")), 0);
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 0);
    assert_true(json_real_value(json_object_get(j, "progress")) == 0.0);
    assert_string_equal(jstr(j, "webtoon_id"), "w1");
    assert_int_equal(strlen(jstr(j, "created_at")), 20);
    json_decref(j);
    /* Owner scoping. */
    assert_null(oma_jobs_get_json(db, id, "art2"));
    j = oma_jobs_get_json(db, id, NULL);
    assert_non_null(j);
    json_decref(j);
    assert_null(oma_jobs_get_json(db, "nope", NULL));
    json_decref(params);
    json_decref(inputs);

    /* Bad requests are refused with a reason, nothing queued. */
    json_t *arr = json_array();
    assert_int_equal(oma_jobs_enqueue(db, "art1", "k", arr, NULL, NULL, id, sizeof id, err, sizeof err), -1);
    assert_non_null(strstr(err, "params"));
    json_t *bad = json_pack("{s:i}", "image", 5);
    assert_int_equal(oma_jobs_enqueue(db, "art1", "k", NULL, bad, NULL, id, sizeof id, err, sizeof err), -1);
    json_decref(bad);
    bad = json_pack("{s:[s,i]}", "image", "u1", 5);
    assert_int_equal(oma_jobs_enqueue(db, "art1", "k", NULL, bad, NULL, id, sizeof id, err, sizeof err), -1);
    json_decref(bad);
    json_t *many = json_array();
    for (int i = 0; i < 65; i++) json_array_append_new(many, json_string("u"));
    bad = json_pack("{s:o}", "samples", many);
    assert_int_equal(oma_jobs_enqueue(db, "art1", "k", NULL, bad, NULL, id, sizeof id, err, sizeof err), -1);
    assert_non_null(strstr(err, "too many"));
    json_decref(bad);
    assert_int_equal(oma_jobs_enqueue(db, "art1", "", NULL, NULL, NULL, id, sizeof id, err, sizeof err), -1);
    assert_int_equal(oma_jobs_enqueue(db, "ghost", "k", NULL, NULL, NULL, id, sizeof id, err, sizeof err), -1);
    assert_int_equal(oma_jobs_enqueue(db, "art1", "k", NULL, NULL, "no-such-webtoon", id, sizeof id, err, sizeof err),
                     -1);
    json_decref(arr);
    json_t *list = oma_jobs_list_json(db, "art1", 10);
    assert_int_equal(json_array_size(json_object_get(list, "jobs")), 1);
    json_decref(list);
}

static void test_claim_order(void **state)
{
    (void)state;
    char a[48], b[48], c[48], got[48];
    enqueue("art1", "k", NULL, a);
    enqueue("art2", "k", NULL, b);
    enqueue("art1", "k", NULL, c);
    int64_t now = oma_db_unix_now();
    assert_int_equal(oma_jobs_claim(db, "w-1", now, got, sizeof got), 1);
    assert_string_equal(got, a);
    assert_int_equal(oma_jobs_claim(db, "w-2", now, got, sizeof got), 1);
    assert_string_equal(got, b);
    assert_int_equal(oma_jobs_claim(db, "w-1", now, got, sizeof got), 1);
    assert_string_equal(got, c);
    assert_int_equal(oma_jobs_claim(db, "w-1", now, got, sizeof got), 0);

    json_t *j = oma_jobs_get_json(db, a, NULL);
    assert_string_equal(jstr(j, "status"), "running");
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 1);
    assert_non_null(jstr(j, "started_at"));
    json_decref(j);
    oma_stmt *st = NULL;
    assert_int_equal(oma_db_prepare(db, "SELECT worker_id, lease_until FROM jobs WHERE id = ?", &st), 0);
    assert_int_equal(oma_stmt_bind_text(st, 1, b), 0);
    assert_int_equal(oma_stmt_step(st), 1);
    assert_string_equal(oma_stmt_text(st, 0), "w-2");
    assert_true(oma_stmt_int(st, 1) == now + OMA_JOB_LEASE_SECONDS);
    oma_stmt_finalize(st);
}

typedef struct racer {
    char ids[64][48];
    int n;
    int errors;
    char name[16];
} racer;

static void *race(void *arg)
{
    racer *r = arg;
    oma_db *h = NULL;
    char err[256];
    if (oma_db_open(&h, url, 1, err, sizeof err) != 0) {
        r->errors++;
        return NULL;
    }
    for (;;) {
        char id[48];
        int rc = oma_jobs_claim(h, r->name, oma_db_unix_now(), id, sizeof id);
        if (rc < 0) {
            r->errors++;
            fprintf(stderr, "claim: %s\n", oma_db_errmsg(h));
            break;
        }
        if (rc == 0) break;
        if (r->n < 64) snprintf(r->ids[r->n], 48, "%s", id);
        r->n++;
    }
    oma_db_close(h);
    return NULL;
}

static void test_claim_exclusive(void **state)
{
    (void)state;
    enum { JOBS = 40, THREADS = 4 };
    char ids[JOBS][48];
    for (int i = 0; i < JOBS; i++) enqueue("art1", "k", NULL, ids[i]);
    racer r[THREADS];
    pthread_t t[THREADS];
    memset(r, 0, sizeof r);
    for (int i = 0; i < THREADS; i++) {
        snprintf(r[i].name, sizeof r[i].name, "racer-%d", i);
        assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(r[i].errors, 0);
        total += r[i].n;
    }
    assert_int_equal(total, JOBS);
    /* Every job claimed exactly once, by the worker the row names, with one attempt. */
    for (int i = 0; i < THREADS; i++)
        for (int k = 0; k < r[i].n; k++) {
            oma_stmt *st = NULL;
            assert_int_equal(oma_db_prepare(db, "SELECT worker_id, attempts FROM jobs WHERE id = ?", &st), 0);
            assert_int_equal(oma_stmt_bind_text(st, 1, r[i].ids[k]), 0);
            assert_int_equal(oma_stmt_step(st), 1);
            assert_string_equal(oma_stmt_text(st, 0), r[i].name);
            assert_int_equal(oma_stmt_int(st, 1), 1);
            oma_stmt_finalize(st);
        }
}

static void test_heartbeat(void **state)
{
    (void)state;
    char id[48], got[48];
    enqueue("art1", "k", NULL, id);
    int64_t now = oma_db_unix_now();
    assert_int_equal(oma_jobs_claim(db, "w", now, got, sizeof got), 1);
    char longmsg[600] = "";
    for (int i = 0; i < 150; i++) strcat(longmsg, "\xc3\xa9"); /* 300 bytes of "é" */
    assert_int_equal(oma_jobs_heartbeat(db, id, "w", now + 10, 0.5, longmsg, "jobs/x/preview.png"), 0);
    json_t *j = oma_jobs_get_json(db, id, "art1");
    assert_true(json_real_value(json_object_get(j, "progress")) == 0.5);
    const char *m = jstr(j, "message");
    assert_non_null(m); /* valid UTF-8 after the cut, or jansson would not have made a string */
    assert_int_equal(strlen(m), 200);
    char want[128];
    snprintf(want, sizeof want, "/api/jobs/%s/preview", id);
    assert_string_equal(jstr(j, "preview"), want);
    json_decref(j);
    /* Negative progress and NULL message leave them; lease moves. */
    assert_int_equal(oma_jobs_heartbeat(db, id, "w", now + 20, -1, NULL, NULL), 0);
    j = oma_jobs_get_json(db, id, "art1");
    assert_true(json_real_value(json_object_get(j, "progress")) == 0.5);
    assert_int_equal(strlen(jstr(j, "message")), 200);
    json_decref(j);
    oma_stmt *st = NULL;
    assert_int_equal(oma_db_prepare(db, "SELECT lease_until FROM jobs WHERE id = ?", &st), 0);
    assert_int_equal(oma_stmt_bind_text(st, 1, id), 0);
    assert_int_equal(oma_stmt_step(st), 1);
    assert_true(oma_stmt_int(st, 0) == now + 20 + OMA_JOB_LEASE_SECONDS);
    oma_stmt_finalize(st);
    /* Progress beyond 1 is clamped. */
    assert_int_equal(oma_jobs_heartbeat(db, id, "w", now, 7.0, "x", NULL), 0);
    j = oma_jobs_get_json(db, id, "art1");
    assert_true(json_real_value(json_object_get(j, "progress")) == 1.0);
    json_decref(j);
    /* Another worker's heartbeat does nothing and says so. */
    assert_int_equal(oma_jobs_heartbeat(db, id, "intruder", now, 0.1, "hi", NULL), 2);
    /* A cancel request is reported. */
    assert_int_equal(oma_jobs_cancel(db, id, "art1"), 0);
    assert_int_equal(oma_jobs_heartbeat(db, id, "w", now, 0.6, NULL, NULL), 1);
}

static void test_finish(void **state)
{
    (void)state;
    char a[48], b[48], c[48], got[48];
    enqueue("art1", "k", NULL, a);
    enqueue("art1", "k", NULL, b);
    enqueue("art1", "k", NULL, c);
    int64_t now = oma_db_unix_now();
    for (int i = 0; i < 3; i++) assert_int_equal(oma_jobs_claim(db, "w", now, got, sizeof got), 1);
    /* Success, with outputs in the order they were added. */
    assert_int_equal(oma_jobs_add_output_row(db, a, "image.png", "image/png", "jobs/a/image.png", 10), 0);
    assert_int_equal(oma_jobs_add_output_row(db, a, "flats.png", "image/png", "jobs/a/flats.png", 20), 0);
    assert_int_equal(oma_jobs_add_output_row(db, a, "image.png", "image/png", "jobs/a/image.png", 11), 0);
    json_t *result = json_pack("{s:i}", "width", 64);
    assert_int_equal(oma_jobs_finish(db, a, "intruder", "succeeded", result, NULL), 1);
    assert_int_equal(oma_jobs_finish(db, a, "w", "succeeded", result, NULL), 0);
    json_t *j = oma_jobs_get_json(db, a, "art1");
    assert_string_equal(jstr(j, "status"), "succeeded");
    assert_true(json_equal(json_object_get(j, "result"), result));
    assert_true(json_real_value(json_object_get(j, "progress")) == 1.0);
    assert_non_null(jstr(j, "finished_at"));
    json_t *outs = json_object_get(j, "outputs");
    assert_int_equal(json_array_size(outs), 2);
    assert_string_equal(jstr(json_array_get(outs, 0), "name"), "image.png");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(outs, 0), "bytes")), 11);
    assert_string_equal(jstr(json_array_get(outs, 1), "name"), "flats.png");
    json_decref(j);
    json_decref(result);
    /* A finished job cannot be finished again. */
    assert_int_equal(oma_jobs_finish(db, a, "w", "failed", NULL, "late"), 1);
    /* Failure keeps the error and drops outputs. */
    assert_int_equal(oma_jobs_add_output_row(db, b, "x.png", "image/png", "jobs/b/x.png", 1), 0);
    assert_int_equal(oma_jobs_finish(db, b, "w", "failed", NULL, "png: truncated"), 0);
    j = oma_jobs_get_json(db, b, "art1");
    assert_string_equal(jstr(j, "status"), "failed");
    assert_string_equal(jstr(j, "error"), "png: truncated");
    assert_int_equal(json_array_size(json_object_get(j, "outputs")), 0);
    json_decref(j);
    /* Back to the queue on shutdown: the attempt is not counted. */
    assert_int_equal(oma_jobs_finish(db, c, "w", "queued", NULL, NULL), 0);
    j = oma_jobs_get_json(db, c, "art1");
    assert_string_equal(jstr(j, "status"), "queued");
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 0);
    json_decref(j);
    assert_int_equal(oma_jobs_finish(db, c, "w", "exploded", NULL, NULL), -1);
}

static void test_cancel(void **state)
{
    (void)state;
    char q[48], r[48], got[48];
    enqueue("art1", "k", NULL, r);
    enqueue("art1", "k", NULL, q);
    assert_int_equal(oma_jobs_claim(db, "w", oma_db_unix_now(), got, sizeof got), 1);
    assert_string_equal(got, r);
    /* Not the owner: not found, nothing changes. */
    assert_int_equal(oma_jobs_cancel(db, q, "art2"), 1);
    assert_int_equal(oma_jobs_cancel(db, "nope", "art1"), 1);
    /* Queued: cancelled at once, and never claimed. */
    assert_int_equal(oma_jobs_cancel(db, q, "art1"), 0);
    json_t *j = oma_jobs_get_json(db, q, "art1");
    assert_string_equal(jstr(j, "status"), "cancelled");
    assert_non_null(jstr(j, "finished_at"));
    json_decref(j);
    assert_int_equal(oma_jobs_claim(db, "w", oma_db_unix_now(), got, sizeof got), 0);
    /* Running: flagged; the worker ends it. */
    assert_int_equal(oma_jobs_cancel(db, r, "art1"), 0);
    j = oma_jobs_get_json(db, r, "art1");
    assert_string_equal(jstr(j, "status"), "running");
    assert_true(json_is_true(json_object_get(j, "cancel_requested")));
    json_decref(j);
    assert_int_equal(oma_jobs_finish(db, r, "w", "cancelled", NULL, NULL), 0);
    /* Finished: a no-op that still answers 0. */
    assert_int_equal(oma_jobs_cancel(db, r, "art1"), 0);
    j = oma_jobs_get_json(db, r, "art1");
    assert_string_equal(jstr(j, "status"), "cancelled");
    json_decref(j);
}

static void test_requeue_expired(void **state)
{
    (void)state;
    oma_jobs_set_lease_seconds(5);
    char id[48], got[48], other[48];
    enqueue("art1", "k", NULL, id);
    int64_t t = 1000000;
    for (int attempt = 1; attempt <= OMA_JOB_MAX_ATTEMPTS; attempt++) {
        assert_int_equal(oma_jobs_claim(db, "dies", t, got, sizeof got), 1);
        assert_string_equal(got, id);
        assert_int_equal(oma_jobs_requeue_expired(db, t + 5), 0); /* lease still holds until t+5 */
        assert_int_equal(oma_jobs_requeue_expired(db, t + 6), 1);
        json_t *j = oma_jobs_get_json(db, id, NULL);
        if (attempt < OMA_JOB_MAX_ATTEMPTS) {
            assert_string_equal(jstr(j, "status"), "queued");
            assert_int_equal(json_integer_value(json_object_get(j, "attempts")), attempt);
        } else {
            assert_string_equal(jstr(j, "status"), "failed");
            assert_string_equal(jstr(j, "error"), "worker died 3 times");
        }
        json_decref(j);
        /* The dead worker cannot write any more. */
        assert_int_equal(oma_jobs_heartbeat(db, id, "dies", t + 7, 0.9, NULL, NULL), 2);
        assert_int_equal(oma_jobs_finish(db, id, "dies", "succeeded", NULL, NULL), 1);
        t += 100;
    }
    assert_int_equal(oma_jobs_claim(db, "w", t, got, sizeof got), 0);
    /* An expired job whose cancel was pending ends cancelled. */
    enqueue("art1", "k", NULL, other);
    assert_int_equal(oma_jobs_claim(db, "w", t, got, sizeof got), 1);
    assert_int_equal(oma_jobs_cancel(db, other, "art1"), 0);
    assert_int_equal(oma_jobs_requeue_expired(db, t + 60), 1);
    json_t *j = oma_jobs_get_json(db, other, NULL);
    assert_string_equal(jstr(j, "status"), "cancelled");
    json_decref(j);
    /* A requeued job keeps its place ahead of newer ones. */
    char first[48], second[48];
    enqueue("art1", "k", NULL, first);
    enqueue("art1", "k", NULL, second);
    assert_int_equal(oma_jobs_claim(db, "w", t, got, sizeof got), 1);
    assert_string_equal(got, first);
    assert_int_equal(oma_jobs_requeue_expired(db, t + 60), 1);
    assert_int_equal(oma_jobs_claim(db, "w", t + 60, got, sizeof got), 1);
    assert_string_equal(got, first);
}

static void test_list(void **state)
{
    (void)state;
    char ids[5][48];
    for (int i = 0; i < 5; i++) enqueue(i == 2 ? "art2" : "art1", "k", NULL, ids[i]);
    json_t *l = oma_jobs_list_json(db, "art1", 3);
    json_t *jobs = json_object_get(l, "jobs");
    assert_int_equal(json_array_size(jobs), 3);
    assert_string_equal(jstr(json_array_get(jobs, 0), "id"), ids[4]);
    assert_string_equal(jstr(json_array_get(jobs, 1), "id"), ids[3]);
    assert_string_equal(jstr(json_array_get(jobs, 2), "id"), ids[1]);
    json_decref(l);
    l = oma_jobs_list_json(db, "art2", 0); /* clamped to 1 */
    assert_int_equal(json_array_size(json_object_get(l, "jobs")), 1);
    json_decref(l);
}

int main(void)
{
    int pre = oma_test_db_prepare();
    if (pre != 0) return pre == OMA_TEST_SKIP ? OMA_TEST_SKIP : 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_enqueue_and_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_exclusive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_heartbeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_finish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requeue_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
