/* test_style_train_resume.c — the style.train job on the tiny SD fixture model, through the
 * real run loop, storage and database: a shutdown in the middle puts the job back in the
 * queue with its checkpoint copied into storage; the next attempt fetches it, resumes at the
 * step after it and finishes. Checked: the loss history is continuous (every step once, the
 * steps before the checkpoint exactly as first reported), the resumed run's losses equal
 * those of a run that was never interrupted (the engine restores its RNG and optimizer), the
 * LoRA and embedding files and samples are outputs, the webtoon gets a "lora" style, and the
 * job's state is gone at the end. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "formats/image.h"
#include "pipelines/job_kind.h"
#include "server/jobs/jobs.h"
#include "server/jobs/workers_internal.h"

#include "check.h"

static char tmpdir[256], models[1024];
static oma_db *db;
static oma_storage *st;

static int put_sample(const char *id, int seed)
{
    oma_image img = {64, 64, 3, malloc(64 * 64 * 3)};
    if (!img.px) return -1;
    for (int i = 0; i < 64 * 64 * 3; i++) img.px[i] = (uint8_t)((i * 7 + seed * 31 + (i / 192) * 3) & 0xff);
    uint8_t *png = NULL;
    size_t len = 0;
    char err[256], key[96], sql[512];
    int rc = oma_image_encode_png(&img, NULL, NULL, &png, &len, err, sizeof err);
    free(img.px);
    if (rc != 0) return -1;
    snprintf(key, sizeof key, "uploads/%s.png", id);
    rc = oma_storage_put(st, key, png, len, err, sizeof err);
    free(png);
    snprintf(sql, sizeof sql,
             "INSERT INTO uploads (id, artist_id, sha256, storage_key, mime, width, height, bytes, created_at) "
             "VALUES ('%s', 'art1', 'x', '%s', 'image/png', 64, 64, %zu, '2026-01-01T00:00:00Z')",
             id, key, len);
    return rc == 0 ? oma_db_exec(db, sql) : -1;
}

static int setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/oma-test-train-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    const char *src = getenv("OMA_SOURCE_DIR");
    snprintf(models, sizeof models, "%s/tests/fixtures/sd/tiny-sd", src ? src : ".");
    char url[512], err[256];
    snprintf(url, sizeof url, "sqlite:%s/oma.db", tmpdir);
    if (oma_db_open(&db, url, 1, err, sizeof err) != 0) return -1;
    snprintf(url, sizeof url, "file:%s/data", tmpdir);
    if (oma_storage_open(&st, url, err, sizeof err) != 0) return -1;
    if (oma_db_exec(db, "INSERT INTO artists VALUES ('art1','a@x','A','h','2026-01-01T00:00:00Z');"
                        "INSERT INTO webtoons (id, artist_id, name, description, created_at) "
                        "VALUES ('w1','art1','W','', '2026-01-01T00:00:00Z');") != 0)
        return -1;
    return put_sample("u1", 1) || put_sample("u2", 2) || put_sample("u3", 3);
}

static const char *PARAMS = "{\"name\":\"Test style\",\"steps_ti\":3,\"steps_lora\":3,\"rank\":2,\"resolution\":64,"
                            "\"grad_accum\":1,\"checkpoint_every\":2,\"sample_every\":3}";
#define TOTAL 6

static void enqueue(char *id)
{
    json_t *params = json_loads(PARAMS, 0, NULL);
    json_t *inputs = json_pack("{s:[s,s,s]}", "samples", "u1", "u2", "u3");
    char err[256];
    if (oma_jobs_enqueue(db, "art1", "style.train", params, inputs, "w1", id, 48, err, sizeof err) != 0) {
        fprintf(stderr, "enqueue: %s\n", err);
        failures++;
    }
    json_decref(params);
    json_decref(inputs);
}

typedef struct worker_arg {
    atomic_int stop;
    int rc;
    char err[256];
} worker_arg;

static void *worker(void *p)
{
    worker_arg *a = p;
    oma_db *wdb = NULL;
    char url[512];
    snprintf(url, sizeof url, "sqlite:%s/oma.db", tmpdir);
    if (oma_db_open(&wdb, url, 1, a->err, sizeof a->err) != 0) {
        a->rc = -1;
        return NULL;
    }
    a->rc = oma_workers_run_one_ex(wdb, st, models, tmpdir, "trainer", &a->stop, NULL, a->err, sizeof a->err);
    oma_db_close(wdb);
    return NULL;
}

static json_t *job(const char *id) { return oma_jobs_get_json(db, id, "art1"); }

static int detail_step(const char *id)
{
    json_t *j = job(id);
    const json_t *s = json_object_get(json_object_get(j, "detail"), "total_step");
    int v = json_is_integer(s) ? (int)json_integer_value(s) : -1;
    const char *status = json_string_value(json_object_get(j, "status"));
    if (status && strcmp(status, "running") != 0 && strcmp(status, "queued") != 0) v = 1 << 20;
    json_decref(j);
    return v;
}

static int state_exists(const char *id, const char *name)
{
    char key[200];
    snprintf(key, sizeof key, "jobstate/%s/%s", id, name);
    return oma_storage_exists(st, key);
}

/* losses [[step, loss]...] -> loss by step (1..TOTAL); 0 if each step is there once, in order */
static int losses_by_step(const json_t *losses, double *out, int *n)
{
    *n = 0;
    if (!json_is_array(losses)) return -1;
    size_t i;
    const json_t *e;
    json_array_foreach(losses, i, e) {
        int s = (int)json_integer_value(json_array_get(e, 0));
        if (s != *n + 1 || s > TOTAL) return -1;
        out[s] = json_number_value(json_array_get(e, 1));
        (*n)++;
    }
    return 0;
}

static int has_output(const json_t *j, const char *name)
{
    size_t i;
    const json_t *o;
    json_array_foreach(json_object_get(j, "outputs"), i, o) if (strcmp(json_string_value(json_object_get(o, "name")),
                                                                      name) == 0) return 1;
    return 0;
}

int main(void)
{
    if (setup() != 0) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    char id[48], whole[48], err[256] = "";
    enqueue(id);

    /* attempt 1, stopped by a shutdown once step 2 was reported */
    worker_arg a = {.rc = 0};
    atomic_init(&a.stop, 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, &a) == 0);
    for (int k = 0; k < 60000 && detail_step(id) < 2; k++) nanosleep(&(struct timespec){0, 5000000}, NULL);
    atomic_store(&a.stop, 1);
    pthread_join(t, NULL);
    CHECK(a.rc == 1);
    json_t *j1 = job(id);
    CHECK(strcmp(json_string_value(json_object_get(j1, "status")), "queued") == 0);
    CHECK(state_exists(id, "checkpoint") && state_exists(id, "history.json"));
    double first[TOTAL + 1] = {0};
    int n1 = 0;
    CHECK(losses_by_step(json_object_get(json_object_get(j1, "detail"), "losses"), first, &n1) == 0);
    CHECK(n1 >= 2 && n1 < TOTAL);
    int samples1[8], n_samples1 = 0;
    size_t si;
    const json_t *se;
    json_array_foreach(json_object_get(json_object_get(j1, "detail"), "sample_steps"), si, se) if (n_samples1 < 8)
        samples1[n_samples1++] = (int)json_integer_value(se);
    fprintf(stderr, "attempt 1 stopped after %d steps, %d samples\n", n1, n_samples1);
    json_decref(j1);

    /* attempt 2 resumes and finishes */
    CHECK(oma_workers_run_one_ex(db, st, models, tmpdir, "trainer", NULL, NULL, err, sizeof err) == 1);
    json_t *j2 = job(id);
    const char *status = json_string_value(json_object_get(j2, "status"));
    CHECK(strcmp(status, "succeeded") == 0);
    if (strcmp(status, "succeeded") != 0)
        fprintf(stderr, "job: %s\n", json_string_value(json_object_get(j2, "error")));
    const json_t *res = json_object_get(j2, "result");
    int resumed = (int)json_integer_value(json_object_get(res, "resumed_from"));
    CHECK(json_is_integer(json_object_get(res, "resumed_from")) && resumed >= 2 && resumed <= n1 + 1);
    double second[TOTAL + 1] = {0};
    int n2 = 0;
    /* the result carries the count; the curve is GET /api/jobs/{id}/losses (job_losses rows) */
    CHECK(json_integer_value(json_object_get(res, "loss_count")) == TOTAL && !json_object_get(res, "losses"));
    json_t *all2 = oma_jobs_losses_json(db, id, "art1");
    CHECK(losses_by_step(json_object_get(all2, "losses"), second, &n2) == 0 && n2 == TOTAL);
    json_decref(all2);
    for (int s = 1; s <= resumed && s <= n1; s++) CHECK(second[s] == first[s]); /* nothing lost or changed */
    CHECK(has_output(j2, "Test_style.safetensors") && has_output(j2, "Test_style.embedding.safetensors") &&
          has_output(j2, "losses.json") && has_output(j2, "sample-000006.png"));
    for (int i = 0; i < n_samples1; i++) { /* samples drawn before the stop are kept too */
        char name[40];
        snprintf(name, sizeof name, "sample-%06d.png", samples1[i]);
        if (!has_output(j2, name)) fprintf(stderr, "lost %s\n", name);
        CHECK(has_output(j2, name));
    }
    const json_t *style = json_object_get(res, "style");
    CHECK(strcmp(json_string_value(json_object_get(style, "kind")), "lora") == 0);
    CHECK(strcmp(json_string_value(json_object_get(style, "tokens")), "<s1><s2>") == 0);
    CHECK(json_is_string(json_object_get(res, "style_id")));
    CHECK(!state_exists(id, "checkpoint") && !state_exists(id, "history.json"));
    oma_stmt *q = NULL;
    CHECK(oma_db_prepare(db, "SELECT kind, status FROM styles WHERE webtoon_id = 'w1'", &q) == 0 &&
          oma_stmt_step(q) == 1 && strcmp(oma_stmt_text(q, 0), "lora") == 0 && strcmp(oma_stmt_text(q, 1), "ready") == 0);
    oma_stmt_finalize(q);

    /* the same job never interrupted gives the same losses */
    enqueue(whole);
    CHECK(oma_workers_run_one_ex(db, st, models, tmpdir, "trainer", NULL, NULL, err, sizeof err) == 1);
    json_t *j3 = job(whole);
    double third[TOTAL + 1] = {0};
    int n3 = 0;
    json_t *all3 = oma_jobs_losses_json(db, whole, "art1");
    CHECK(losses_by_step(json_object_get(all3, "losses"), third, &n3) == 0 && n3 == TOTAL);
    json_decref(all3);
    for (int s = 1; s <= TOTAL; s++) {
        double d = second[s] - third[s];
        if (d < 0) d = -d;
        if (d > 1e-5 * (third[s] < 0 ? -third[s] : third[s]) + 1e-7)
            fprintf(stderr, "step %d: resumed %.8g, uninterrupted %.8g\n", s, second[s], third[s]);
        CHECK(d <= 1e-5 * (third[s] < 0 ? -third[s] : third[s]) + 1e-7);
    }
    json_decref(j2);
    json_decref(j3);

    oma_storage_close(st);
    oma_db_close(db);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    CHECK(system(cmd) == 0);
    return failures != 0;
}
