/* test_webtoon_delete_jobs.c — a webtoon deleted while its job runs (issue 16): the job ends
 * at once, cancelled, with a message that says why, stores no style, keeps no output it wrote
 * before, and never runs again; a
 * queued job of that webtoon is cancelled the same way and never starts. Before the fix the
 * running job's finish failed on the styles foreign key, it sat "running" for its lease, ran
 * again and ended "succeeded" with its style stored nowhere. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipelines/job_kind.h"
#include "server/jobs/jobs.h"
#include "server/server.h"
#include "server/jobs/workers_internal.h"

#include "check.h"
#include "raw_http.h"

static char buf[65536];
static int port;
static char token[160], webtoon[80];
static int runs;

/* A style job whose webtoon is deleted (through the API) while it runs. */
static int style_run(oma_job_ctx *ctx)
{
    runs++;
    static const uint8_t note[] = "half a style";
    CHECK(ctx->add_output(ctx, "partial.txt", "text/plain", note, sizeof note) == 0);
    char path[160];
    snprintf(path, sizeof path, "/api/webtoons/%s", webtoon);
    CHECK(raw_json(port, "DELETE", path, token, NULL, buf, sizeof buf) == 204);
    ctx->result = json_pack("{s:{s:s}}", "style", "palette", "warm");
    return 0;
}

static const oma_job_kind style_kind = {"test.style", "Test style", NULL, NULL, NULL, style_run};

static const oma_job_kind *find(const char *name)
{
    return strcmp(name, "test.style") == 0 ? &style_kind : NULL;
}

static json_t *job(oma_db *db, const char *id) { return oma_jobs_get_json(db, id, NULL); }

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

int main(void)
{
    char dir[] = "/tmp/oma_test_wtdel_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    oma_server_config cfg = {"127.0.0.1", 0, dir, 0, NULL, NULL, NULL, NULL};
    oma_server *srv = NULL;
    char err[512];
    if (oma_server_start(&srv, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "start: %s\n", err);
        return 1;
    }
    port = oma_server_port(srv);
    CHECK(raw_json(port, "POST", "/api/auth/signup", NULL,
                   "{\"email\":\"w@example.com\",\"password\":\"webtoon-pw\",\"name\":\"W\"}", buf, sizeof buf) == 201);
    CHECK(raw_json_str(buf, "token", token, sizeof token) == 0);
    char artist[80];
    CHECK(raw_json(port, "GET", "/api/me", token, NULL, buf, sizeof buf) == 200);
    CHECK(raw_json_str(buf, "id", artist, sizeof artist) == 0);
    CHECK(raw_json(port, "POST", "/api/webtoons", token, "{\"name\":\"Doomed\"}", buf, sizeof buf) == 201);
    CHECK(raw_json_str(buf, "id", webtoon, sizeof webtoon) == 0);

    char url[600];
    snprintf(url, sizeof url, "sqlite:%s/oma.db", dir);
    oma_db *db = NULL;
    oma_storage *st = NULL;
    CHECK(oma_db_open(&db, url, 0, err, sizeof err) == 0);
    snprintf(url, sizeof url, "file:%s/store", dir);
    CHECK(oma_storage_open(&st, url, err, sizeof err) == 0);
    if (!db || !st) return 1;

    char running[48], queued[48];
    CHECK(oma_jobs_enqueue(db, artist, "test.style", NULL, NULL, webtoon, running, sizeof running, err, sizeof err) == 0);
    CHECK(oma_jobs_enqueue(db, artist, "test.style", NULL, NULL, webtoon, queued, sizeof queued, err, sizeof err) == 0);
    oma_jobs_set_lease_seconds(1);

    CHECK(oma_workers_run_one_ex(db, st, NULL, dir, "host:1:0:test", NULL, find, err, sizeof err) == 1);
    CHECK(runs == 1);
    json_t *j = job(db, running);
    CHECK(strcmp(jstr(j, "status"), "cancelled") == 0);
    CHECK(strstr(jstr(j, "error"), "webtoon was deleted") != NULL);
    json_decref(j);
    j = job(db, queued);
    CHECK(strcmp(jstr(j, "status"), "cancelled") == 0);
    CHECK(strstr(jstr(j, "error"), "webtoon was deleted") != NULL);
    json_decref(j);
    oma_stmt *q = NULL;
    CHECK(oma_db_prepare(db, "SELECT COUNT(*) FROM styles", &q) == 0 && oma_stmt_step(q) == 1 &&
          oma_stmt_int(q, 0) == 0);
    oma_stmt_finalize(q);
    /* what it stored before the delete is gone too: no output rows, no files */
    q = NULL;
    CHECK(oma_db_prepare(db, "SELECT COUNT(*) FROM job_outputs", &q) == 0 && oma_stmt_step(q) == 1 &&
          oma_stmt_int(q, 0) == 0);
    oma_stmt_finalize(q);
    char jobdir[700];
    snprintf(jobdir, sizeof jobdir, "%s/store/jobs/%s", dir, running);
    DIR *d = opendir(jobdir);
    int files = 0;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) files += e->d_name[0] != '.';
        closedir(d);
    }
    CHECK(files == 0);

    /* once the lease would have run out, nothing runs again */
    struct timespec ts = {1, 200000000L};
    nanosleep(&ts, NULL);
    CHECK(oma_jobs_requeue_expired(db, oma_db_unix_now()) == 0);
    CHECK(oma_workers_run_one_ex(db, st, NULL, dir, "host:1:0:test", NULL, find, err, sizeof err) == 0);
    CHECK(runs == 1);

    oma_jobs_set_lease_seconds(OMA_JOB_LEASE_SECONDS);
    oma_storage_close(st);
    oma_db_close(db);
    oma_server_stop(srv);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    if (failures) {
        fprintf(stderr, "test_webtoon_delete_jobs: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_webtoon_delete_jobs: ok\n");
    return 0;
}
