/* test_workers.c — running jobs for real with the image.normalize kind: success with outputs in
 * storage, every failure path (missing or foreign upload, unknown kind, corrupt image, missing
 * style), array inputs, the style rules (style_id -> params.style of the same artist only; a
 * result.style becomes a styles row), crash recovery with a child process SIGKILLed while it
 * holds a job, a cancel that lands mid-run, and the worker pool end to end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "formats/image.h"
#include "server/jobs/jobs.h"
#include "server/jobs/workers_internal.h"

static char tmpdir[256], db_url[512], st_url[512];
static oma_db *db;
static oma_storage *st;

static void make_png(int w, int h, uint8_t **png, size_t *len)
{
    oma_image img = {0};
    char err[256];
    assert_int_equal(oma_image_alloc(&img, w, h, 3), 0);
    for (size_t i = 0; i < (size_t)w * h * 3; i++) img.px[i] = (uint8_t)(i * 7 + i / 13);
    assert_int_equal(oma_image_encode_png(&img, NULL, NULL, png, len, err, sizeof err), 0);
    oma_image_free(&img);
}

/* Stores bytes as an upload row of artist; returns its id in id (33 bytes). */
static void add_upload(const char *artist, const uint8_t *data, size_t len, const char *mime, char *id)
{
    char key[96], sha[65], err[256], now[32];
    assert_int_equal(oma_storage_put_blob(st, data, len, key, sha, err, sizeof err), 0);
    assert_int_equal(oma_db_new_id(id, 33), 0);
    oma_db_now(now, sizeof now);
    oma_stmt *s = NULL;
    assert_int_equal(oma_db_prepare(db, "INSERT INTO uploads VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?)", &s), 0);
    oma_stmt_bind_text(s, 1, id);
    oma_stmt_bind_text(s, 2, artist);
    oma_stmt_bind_text(s, 3, sha);
    oma_stmt_bind_text(s, 4, key);
    oma_stmt_bind_text(s, 5, mime);
    oma_stmt_bind_int(s, 6, (int64_t)len);
    oma_stmt_bind_text(s, 7, now);
    assert_int_equal(oma_stmt_step(s), 0);
    oma_stmt_finalize(s);
}

static char up_png[33]; /* a 200x100 PNG of art1 */

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/oma-test-workers-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    snprintf(db_url, sizeof db_url, "sqlite:%s/oma.db", tmpdir);
    snprintf(st_url, sizeof st_url, "file:%s/data", tmpdir);
    char err[256];
    if (oma_db_open(&db, db_url, 1, err, sizeof err) != 0 || oma_storage_open(&st, st_url, err, sizeof err) != 0) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    oma_jobs_set_lease_seconds(OMA_JOB_LEASE_SECONDS);
    if (oma_db_exec(db, "INSERT INTO artists VALUES ('art1','a@x','A','h','2026-01-01T00:00:00Z');"
                        "INSERT INTO artists VALUES ('art2','b@x','B','h','2026-01-01T00:00:00Z');"
                        "INSERT INTO webtoons (id, artist_id, name, description, created_at) VALUES ('w1','art1','W','', '2026-01-01T00:00:00Z');") != 0)
        return -1;
    uint8_t *png = NULL;
    size_t len = 0;
    make_png(200, 100, &png, &len);
    add_upload("art1", png, len, "image/png", up_png);
    free(png);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    oma_storage_close(st);
    oma_db_close(db);
    st = NULL;
    db = NULL;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void enqueue(const char *artist, const char *kind, const char *params_json, json_t *inputs, char *id)
{
    json_t *params = params_json ? json_loads(params_json, 0, NULL) : NULL;
    char err[256];
    if (oma_jobs_enqueue(db, artist, kind, params, inputs, NULL, id, 48, err, sizeof err) != 0)
        fail_msg("enqueue: %s", err);
    json_decref(params);
}

static void enqueue_image(const char *artist, const char *params_json, const char *upload, char *id)
{
    json_t *inputs = json_pack("{s:s}", "image", upload);
    enqueue(artist, "image.normalize", params_json, inputs, id);
    json_decref(inputs);
}

static const char *jstr(json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static int run_one(void)
{
    char err[256] = "";
    int rc = oma_workers_run_one(db, st, NULL, tmpdir, "test-worker", err, sizeof err);
    if (rc < 0) fail_msg("run_one: %s", err);
    return rc;
}

/* Decodes a stored output and checks its size. */
static void check_output(const char *job_id, const char *name, int w, int h)
{
    char key[160], err[256];
    snprintf(key, sizeof key, "jobs/%s/%s", job_id, name);
    uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(oma_storage_get(st, key, 1 << 24, &data, &len, err, sizeof err), 0);
    oma_image img = {0};
    if (oma_image_decode(data, len, 0, 0, NULL, &img, err, sizeof err) != 0) fail_msg("decode: %s", err);
    assert_int_equal(img.w, w);
    assert_int_equal(img.h, h);
    oma_image_free(&img);
    free(data);
}

static void test_run_success(void **state)
{
    (void)state;
    assert_int_equal(run_one(), 0); /* nothing queued */
    char id[48];
    enqueue_image("art1", "{\"max_side\":64,\"fit\":\"contain\",\"multiple_of\":8}", up_png, id);
    assert_int_equal(run_one(), 1);
    json_t *j = oma_jobs_get_json(db, id, "art1");
    assert_string_equal(jstr(j, "status"), "succeeded");
    assert_true(json_real_value(json_object_get(j, "progress")) == 1.0);
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 1);
    json_t *outs = json_object_get(j, "outputs");
    assert_int_equal(json_array_size(outs), 1);
    assert_string_equal(jstr(json_array_get(outs, 0), "name"), "image.png");
    assert_string_equal(jstr(json_array_get(outs, 0), "mime"), "image/png");
    json_t *result = json_object_get(j, "result");
    assert_int_equal(json_integer_value(json_object_get(result, "width")), 64);
    assert_int_equal(json_integer_value(json_object_get(result, "height")), 32);
    assert_true(json_is_null(json_object_get(j, "error")));
    json_decref(j);
    check_output(id, "image.png", 64, 32);
    assert_int_equal(run_one(), 0);
}

static void test_array_inputs(void **state)
{
    (void)state;
    char id[48];
    json_t *inputs = json_pack("{s:[s]}", "image", up_png);
    enqueue("art1", "image.normalize", "{\"max_side\":50}", inputs, id);
    json_decref(inputs);
    assert_int_equal(run_one(), 1);
    json_t *j = oma_jobs_get_json(db, id, "art1");
    assert_string_equal(jstr(j, "status"), "succeeded");
    json_decref(j);
}

static void expect_failed(const char *id, const char *needle)
{
    json_t *j = oma_jobs_get_json(db, id, NULL);
    assert_non_null(j);
    assert_string_equal(jstr(j, "status"), "failed");
    const char *e = jstr(j, "error");
    if (!e || !strstr(e, needle)) fail_msg("error [%s] lacks [%s]", e ? e : "(null)", needle);
    assert_int_equal(json_array_size(json_object_get(j, "outputs")), 0);
    json_decref(j);
}

static void test_failures(void **state)
{
    (void)state;
    char id[48], foreign[33], junk[33];
    /* An upload id that does not exist. */
    enqueue_image("art1", NULL, "0123456789abcdef0123456789abcdef", id);
    assert_int_equal(run_one(), 1);
    expect_failed(id, "not found");
    /* Another artist's upload is treated as absent. */
    uint8_t *png = NULL;
    size_t len = 0;
    make_png(10, 10, &png, &len);
    add_upload("art2", png, len, "image/png", foreign);
    free(png);
    enqueue_image("art1", NULL, foreign, id);
    assert_int_equal(run_one(), 1);
    expect_failed(id, "not found");
    /* The upload row exists but its file is gone from storage. */
    char key[96], err[256];
    oma_stmt *s = NULL;
    assert_int_equal(oma_db_prepare(db, "SELECT storage_key FROM uploads WHERE id = ?", &s), 0);
    oma_stmt_bind_text(s, 1, foreign);
    assert_int_equal(oma_stmt_step(s), 1);
    snprintf(key, sizeof key, "%s", oma_stmt_text(s, 0));
    oma_stmt_finalize(s);
    assert_int_equal(oma_storage_delete(st, key, err, sizeof err), 0);
    enqueue_image("art2", NULL, foreign, id);
    assert_int_equal(run_one(), 1);
    expect_failed(id, "missing");
    /* A kind this server does not have. */
    json_t *inputs = json_pack("{s:s}", "image", up_png);
    enqueue("art1", "no.such.kind", NULL, inputs, id);
    json_decref(inputs);
    assert_int_equal(run_one(), 1);
    expect_failed(id, "unknown job kind");
    /* Bytes that are not an image: the kind's own error reaches the row. */
    add_upload("art1", (const uint8_t *)"\x89PNG\r\n\x1a\nthis is not a png", 24, "image/png", junk);
    enqueue_image("art1", NULL, junk, id);
    assert_int_equal(run_one(), 1);
    expect_failed(id, "png");
    /* A style that does not exist. */
    enqueue_image("art1", "{\"style_id\":\"nope\"}", up_png, id);
    assert_int_equal(run_one(), 1);
    expect_failed(id, "style not found");
}

static void insert_style(const char *id, const char *artist, const char *status, const char *data)
{
    oma_stmt *s = NULL;
    assert_int_equal(oma_db_prepare(db,
                                    "INSERT INTO styles (id, webtoon_id, artist_id, name, kind, status, data, "
                                    "created_at, updated_at) VALUES (?, 'w1', ?, 'S', 'profile', ?, ?, 'x', 'x')",
                                    &s),
                     0);
    oma_stmt_bind_text(s, 1, id);
    oma_stmt_bind_text(s, 2, artist);
    oma_stmt_bind_text(s, 3, status);
    oma_stmt_bind_text(s, 4, data);
    assert_int_equal(oma_stmt_step(s), 0);
    oma_stmt_finalize(s);
}

static void test_style_rules(void **state)
{
    (void)state;
    /* The webtoon w1 belongs to art1, but a style row of art2 is what we look up as foreign. */
    insert_style("s1", "art1", "ready", "{\"saturation\":0.5}");
    insert_style("s2", "art2", "ready", "{\"saturation\":0.9}");
    insert_style("s3", "art1", "training", NULL);
    char err[256];
    json_t *p = json_pack("{s:s, s:i}", "style_id", "s1", "line_width", 2);
    assert_int_equal(oma_workers_fill_style(db, NULL, NULL, "art1", p, err, sizeof err), 0);
    assert_true(json_real_value(json_object_get(json_object_get(p, "style"), "saturation")) == 0.5);
    json_decref(p);
    p = json_pack("{s:s}", "style_id", "s2");
    assert_int_equal(oma_workers_fill_style(db, NULL, NULL, "art1", p, err, sizeof err), -1);
    assert_string_equal(err, "style not found");
    assert_null(json_object_get(p, "style"));
    json_decref(p);
    p = json_pack("{s:s}", "style_id", "s3");
    assert_int_equal(oma_workers_fill_style(db, NULL, NULL, "art1", p, err, sizeof err), -1);
    assert_non_null(strstr(err, "not ready"));
    json_decref(p);
    p = json_pack("{s:i}", "style_id", 5);
    assert_int_equal(oma_workers_fill_style(db, NULL, NULL, "art1", p, err, sizeof err), -1);
    json_decref(p);
    p = json_pack("{s:i}", "line_width", 2);
    assert_int_equal(oma_workers_fill_style(db, NULL, NULL, "art1", p, err, sizeof err), 0);
    assert_null(json_object_get(p, "style"));
    json_decref(p);

    /* A job that used a style of its artist runs. */
    char id[48];
    enqueue_image("art1", "{\"style_id\":\"s1\",\"max_side\":32}", up_png, id);
    assert_int_equal(run_one(), 1);
    json_t *j = oma_jobs_get_json(db, id, NULL);
    assert_string_equal(jstr(j, "status"), "succeeded");
    json_decref(j);

    /* result.style of a webtoon job becomes a ready profile row named after params.name. */
    json_t *params = json_pack("{s:s}", "name", "Ink wash");
    json_t *result = json_pack("{s:{s:f}}", "style", "contrast", 0.25);
    assert_int_equal(oma_workers_save_style(db, id, "art1", "w1", params, result), 0);
    const char *sid = jstr(result, "style_id");
    assert_non_null(sid);
    oma_stmt *s = NULL;
    assert_int_equal(oma_db_prepare(db, "SELECT name, kind, status, data, job_id, webtoon_id, artist_id FROM styles "
                                        "WHERE id = ?",
                                    &s),
                     0);
    oma_stmt_bind_text(s, 1, sid);
    assert_int_equal(oma_stmt_step(s), 1);
    assert_string_equal(oma_stmt_text(s, 0), "Ink wash");
    assert_string_equal(oma_stmt_text(s, 1), "profile");
    assert_string_equal(oma_stmt_text(s, 2), "ready");
    json_t *data = json_loads(oma_stmt_text(s, 3), 0, NULL);
    assert_true(json_equal(data, json_object_get(result, "style")));
    json_decref(data);
    assert_string_equal(oma_stmt_text(s, 4), id);
    assert_string_equal(oma_stmt_text(s, 5), "w1");
    assert_string_equal(oma_stmt_text(s, 6), "art1");
    oma_stmt_finalize(s);
    /* No webtoon, or no style object: nothing saved. */
    json_t *r2 = json_pack("{s:{s:f}}", "style", "contrast", 0.25);
    assert_int_equal(oma_workers_save_style(db, id, "art1", NULL, params, r2), 0);
    assert_null(json_object_get(r2, "style_id"));
    json_t *r3 = json_pack("{s:s}", "style", "not an object");
    assert_int_equal(oma_workers_save_style(db, id, "art1", "w1", params, r3), 0);
    assert_null(json_object_get(r3, "style_id"));
    json_decref(r2);
    json_decref(r3);
    json_decref(params);
    json_decref(result);
}

/* A child process opens the same database, claims the job, reports some progress and is
 * killed with SIGKILL while it holds the lease. The parent sees the job stuck in running,
 * requeues it once the lease has expired, and runs it to success. */
static void test_crash_recovery(void **state)
{
    (void)state;
    oma_jobs_set_lease_seconds(1);
    char id[48];
    enqueue_image("art1", "{\"max_side\":48}", up_png, id);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        oma_db *cdb = NULL;
        char err[256], got[48];
        char ok = 'n';
        if (oma_db_open(&cdb, db_url, 1, err, sizeof err) == 0 &&
            oma_jobs_claim(cdb, "doomed-child", oma_db_unix_now(), got, sizeof got) == 1 &&
            oma_jobs_heartbeat(cdb, got, "doomed-child", oma_db_unix_now(), 0.4, "halfway", NULL) == 0)
            ok = 'y';
        if (write(fds[1], &ok, 1) != 1) _exit(3);
        for (;;) pause(); /* "working" until killed */
    }
    close(fds[1]);
    char ok = 0;
    assert_int_equal(read(fds[0], &ok, 1), 1);
    close(fds[0]);
    assert_int_equal(ok, 'y');
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    json_t *j = oma_jobs_get_json(db, id, NULL);
    assert_string_equal(jstr(j, "status"), "running");
    assert_string_equal(jstr(j, "message"), "halfway");
    json_decref(j);
    /* Nothing else to claim while the dead worker's lease holds. */
    assert_int_equal(run_one(), 0);
    assert_int_equal(oma_jobs_requeue_expired(db, oma_db_unix_now() - 5), 0);
    /* Past the lease: back in the queue, then done by this process. */
    assert_int_equal(oma_jobs_requeue_expired(db, oma_db_unix_now() + 2), 1);
    j = oma_jobs_get_json(db, id, NULL);
    assert_string_equal(jstr(j, "status"), "queued");
    json_decref(j);
    assert_int_equal(run_one(), 1);
    j = oma_jobs_get_json(db, id, NULL);
    assert_string_equal(jstr(j, "status"), "succeeded");
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 2);
    json_decref(j);
    check_output(id, "image.png", 48, 24);
    oma_jobs_set_lease_seconds(OMA_JOB_LEASE_SECONDS);
}

typedef struct canceller {
    const char *job_id;
    int hit_running; /* the cancel reached the job while it ran */
} canceller;

static void *cancel_when_running(void *arg)
{
    canceller *c = arg;
    oma_db *h = NULL;
    char err[256];
    if (oma_db_open(&h, db_url, 0, err, sizeof err) != 0) return NULL;
    for (int i = 0; i < 20000; i++) {
        json_t *j = oma_jobs_get_json(h, c->job_id, NULL);
        const char *s = j ? jstr(j, "status") : NULL;
        int running = s && strcmp(s, "running") == 0;
        int done = s && strcmp(s, "queued") != 0 && !running;
        json_decref(j);
        if (done) break;
        if (running) {
            oma_jobs_cancel(h, c->job_id, "art1");
            j = oma_jobs_get_json(h, c->job_id, NULL);
            c->hit_running = j && strcmp(jstr(j, "status"), "running") == 0 &&
                             json_is_true(json_object_get(j, "cancel_requested"));
            json_decref(j);
            break;
        }
        struct timespec ts = {0, 200000};
        nanosleep(&ts, NULL);
    }
    oma_db_close(h);
    return NULL;
}

/* A cancel that arrives while the kind runs ends the job cancelled with no outputs. Timing
 * decides whether the cancel lands mid-run; a bigger image is tried until it does. */
static void test_cancel_mid_run(void **state)
{
    (void)state;
    int sizes[] = {1500, 3000, 5000};
    int landed = 0;
    for (size_t k = 0; k < 3 && !landed; k++) {
        uint8_t *png = NULL;
        size_t len = 0;
        char up[33], id[48];
        make_png(sizes[k], sizes[k] / 2, &png, &len);
        add_upload("art1", png, len, "image/png", up);
        free(png);
        enqueue_image("art1", "{\"max_side\":1024}", up, id);
        canceller c = {.job_id = id};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, cancel_when_running, &c), 0);
        assert_int_equal(run_one(), 1);
        pthread_join(t, NULL);
        json_t *j = oma_jobs_get_json(db, id, NULL);
        const char *s = jstr(j, "status");
        if (c.hit_running) {
            landed = 1;
            assert_string_equal(s, "cancelled");
            assert_int_equal(json_array_size(json_object_get(j, "outputs")), 0);
            char key[160];
            snprintf(key, sizeof key, "jobs/%s/image.png", id);
            assert_false(oma_storage_exists(st, key));
        } else {
            assert_string_equal(s, "succeeded");
        }
        json_decref(j);
    }
    if (!landed) fprintf(stderr, "note: the cancel never landed mid-run on this machine\n");
    assert_true(landed);
}

typedef struct requeuer {
    atomic_int stop;
    int changed;
} requeuer;

static void *requeue_loop(void *arg)
{
    requeuer *q = arg;
    oma_db *h = NULL;
    char err[256];
    if (oma_db_open(&h, db_url, 0, err, sizeof err) != 0) return NULL;
    while (!atomic_load(&q->stop)) {
        int n = oma_jobs_requeue_expired(h, oma_db_unix_now());
        if (n > 0) q->changed += n;
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
    oma_db_close(h);
    return NULL;
}

/* With a 1 s lease, a job that runs longer keeps its lease (progress writes and the lease
 * timer renew it) while another process requeues expired jobs every 20 ms. */
static void test_lease_kept_alive(void **state)
{
    (void)state;
    oma_jobs_set_lease_seconds(1);
    uint8_t *png = NULL;
    size_t len = 0;
    char up[33], id[48];
    make_png(6000, 4000, &png, &len);
    add_upload("art1", png, len, "image/png", up);
    free(png);
    enqueue_image("art1", "{\"max_side\":2048}", up, id);
    requeuer q = {.changed = 0};
    atomic_init(&q.stop, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, requeue_loop, &q), 0);
    int64_t t0 = oma_db_unix_now_us();
    assert_int_equal(run_one(), 1);
    int64_t ms = (oma_db_unix_now_us() - t0) / 1000;
    atomic_store(&q.stop, 1);
    pthread_join(t, NULL);
    oma_jobs_set_lease_seconds(OMA_JOB_LEASE_SECONDS);
    fprintf(stderr, "note: the job ran %lld ms against a 1000 ms lease\n", (long long)ms);
    assert_int_equal(q.changed, 0);
    json_t *j = oma_jobs_get_json(db, id, NULL);
    assert_string_equal(jstr(j, "status"), "succeeded");
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 1);
    json_decref(j);
}

/* Stopping the pool while a job runs puts the job back in the queue, its attempt not counted;
 * the next worker runs it to the end. Timing decides whether the stop lands mid-run. */
static void test_pool_stop_requeues(void **state)
{
    (void)state;
    int sizes[] = {2000, 4000, 6000};
    int landed = 0;
    for (size_t k = 0; k < 3 && !landed; k++) {
        uint8_t *png = NULL;
        size_t len = 0;
        char up[33], id[48], err[256];
        make_png(sizes[k], sizes[k] / 2, &png, &len);
        add_upload("art1", png, len, "image/png", up);
        free(png);
        enqueue_image("art1", "{\"max_side\":1024}", up, id);
        oma_workers_config cfg = {
            .db_url = db_url, .storage_url = st_url, .data_dir = tmpdir, .n_workers = 1, .poll_ms = 5};
        oma_workers *w = NULL;
        assert_int_equal(oma_workers_start(&w, &cfg, err, sizeof err), 0);
        const char *s = NULL;
        json_t *j = NULL;
        for (int tries = 0; tries < 20000; tries++) {
            json_decref(j);
            j = oma_jobs_get_json(db, id, NULL);
            s = jstr(j, "status");
            if (strcmp(s, "queued") != 0) break;
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
        int was_running = strcmp(s, "running") == 0;
        json_decref(j);
        oma_workers_stop(w);
        j = oma_jobs_get_json(db, id, NULL);
        s = jstr(j, "status");
        if (was_running && strcmp(s, "queued") == 0) {
            landed = 1;
            assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 0);
            assert_int_equal(json_array_size(json_object_get(j, "outputs")), 0);
            assert_true(json_is_null(json_object_get(j, "error")));
            json_decref(j);
            assert_int_equal(run_one(), 1);
            j = oma_jobs_get_json(db, id, NULL);
            assert_string_equal(jstr(j, "status"), "succeeded");
            assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 1);
        } else {
            assert_string_equal(s, "succeeded");
        }
        json_decref(j);
    }
    assert_true(landed);
}

/* A job left running by a worker that died long ago is requeued by the pool's janitor at
 * start and then finished by a pool worker. */
static void test_pool_requeues_at_start(void **state)
{
    (void)state;
    char id[48], got[48], err[256];
    enqueue_image("art1", "{\"max_side\":48}", up_png, id);
    assert_int_equal(oma_jobs_claim(db, "ghost", oma_db_unix_now() - 100, got, sizeof got), 1);
    assert_string_equal(got, id);
    oma_workers_config cfg = {
        .db_url = db_url, .storage_url = st_url, .data_dir = tmpdir, .n_workers = 1, .poll_ms = 10};
    oma_workers *w = NULL;
    assert_int_equal(oma_workers_start(&w, &cfg, err, sizeof err), 0);
    const char *s = NULL;
    json_t *j = NULL;
    for (int tries = 0; tries < 1000; tries++) {
        json_decref(j);
        j = oma_jobs_get_json(db, id, NULL);
        s = jstr(j, "status");
        if (strcmp(s, "succeeded") == 0) break;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    oma_workers_stop(w);
    assert_string_equal(s, "succeeded");
    assert_int_equal(json_integer_value(json_object_get(j, "attempts")), 2);
    json_decref(j);
}

static void test_pool(void **state)
{
    (void)state;
    enum { N = 6 };
    char ids[N][48];
    for (int i = 0; i < N; i++) enqueue_image("art1", "{\"max_side\":48}", up_png, ids[i]);
    oma_workers_config cfg = {
        .db_url = db_url, .storage_url = st_url, .data_dir = tmpdir, .n_workers = 2, .poll_ms = 20};
    oma_workers *w = NULL;
    char err[256];
    assert_int_equal(oma_workers_start(&w, &cfg, err, sizeof err), 0);
    int done = 0;
    for (int tries = 0; tries < 3000 && done < N; tries++) {
        done = 0;
        for (int i = 0; i < N; i++) {
            json_t *j = oma_jobs_get_json(db, ids[i], NULL);
            if (j && strcmp(jstr(j, "status"), "succeeded") == 0) done++;
            json_decref(j);
        }
        struct timespec ts = {0, 10000000};
        if (done < N) nanosleep(&ts, NULL);
    }
    oma_workers_stop(w);
    assert_int_equal(done, N);
    for (int i = 0; i < N; i++) check_output(ids[i], "image.png", 48, 24);
    /* Bad configurations are refused. */
    cfg.n_workers = 0;
    assert_int_equal(oma_workers_start(&w, &cfg, err, sizeof err), -1);
    assert_null(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_run_success, setup, teardown),
        cmocka_unit_test_setup_teardown(test_array_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_style_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_mid_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lease_kept_alive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_requeues_at_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_stop_requeues, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
