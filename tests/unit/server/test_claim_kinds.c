/* test_claim_kinds.c — a worker that offers only some kinds claims only those: patterns with
 * '*' (any run), literal '_' and '.', several patterns, bad patterns refused; and the worker
 * pool registry (beat, live window, leave) that /api/capabilities reads. Runs on SQLite and,
 * as server.test_claim_kinds@pg, on PostgreSQL. */
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_harness.h"
#include "server/jobs/jobs.h"

static void enqueue(oma_db *db, const char *kind, char *id)
{
    char err[256];
    if (oma_jobs_enqueue(db, "a1", kind, NULL, NULL, NULL, id, 48, err, sizeof err) != 0) {
        fprintf(stderr, "enqueue: %s\n", err);
        failures++;
    }
}

int main(void)
{
    int pre = oma_test_db_prepare();
    if (pre != 0) return pre == OMA_TEST_SKIP ? OMA_TEST_SKIP : 1;
    char dir[] = "/tmp/oma_test_kinds_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char url[600], err[512];
    oma_db *db = NULL;
    if (oma_test_db_url(url, sizeof url, dir) != 0 || oma_db_open(&db, url, 1, err, sizeof err) != 0) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    CHECK(oma_db_exec(db, "INSERT INTO artists VALUES ('a1','a@x','A','h','2026-01-01T00:00:00Z')") == 0);

    /* the pattern rules, in C */
    CHECK(oma_jobs_kind_offered("generate.*,style.train", "generate.txt2img"));
    CHECK(oma_jobs_kind_offered("generate.*,style.train", "style.train"));
    CHECK(!oma_jobs_kind_offered("generate.*,style.train", "style.training"));
    CHECK(!oma_jobs_kind_offered("generate.*", "image.normalize"));
    CHECK(oma_jobs_kind_offered("*", "anything"));
    CHECK(oma_jobs_kind_offered(NULL, "anything"));
    CHECK(oma_jobs_kind_offered("a*b*c", "aXXbYYc") && !oma_jobs_kind_offered("a*b*c", "aXXbYY"));
    CHECK(oma_jobs_kinds_valid("generate.*,style.train"));
    CHECK(!oma_jobs_kinds_valid("") && !oma_jobs_kinds_valid("a,,b") && !oma_jobs_kinds_valid("a,") &&
          !oma_jobs_kinds_valid("x'; DROP TABLE jobs; --") && !oma_jobs_kinds_valid("a%") && !oma_jobs_kinds_valid(NULL));

    /* the same rules in SQL: '_' and '.' literal, '*' any run */
    char gen[48], img[48], under[48], got[48];
    enqueue(db, "generate.txt2img", gen);
    enqueue(db, "image.normalize", img);
    enqueue(db, "pose_render", under);
    int64_t now = oma_db_unix_now();
    CHECK(oma_jobs_claim_kinds(db, "w1", now, "style.train", got, sizeof got) == 0);
    CHECK(oma_jobs_claim_kinds(db, "w1", now, "pose.render", got, sizeof got) == 0); /* '.' is not any char */
    CHECK(oma_jobs_claim_kinds(db, "w1", now, "pose_rende*", got, sizeof got) == 1 && strcmp(got, under) == 0);
    CHECK(oma_jobs_claim_kinds(db, "w1", now, "style.*,generate.*", got, sizeof got) == 1 && strcmp(got, gen) == 0);
    CHECK(oma_jobs_claim_kinds(db, "w1", now, "generate.*", got, sizeof got) == 0);
    CHECK(oma_jobs_claim_kinds(db, "w1", now, "bad'", got, sizeof got) == -1);
    CHECK(oma_jobs_claim_kinds(db, "w1", now, NULL, got, sizeof got) == 1 && strcmp(got, img) == 0);

    /* the registry */
    CHECK(oma_workers_registry_offers(db, "generate.txt2img", now) == 0);
    CHECK(oma_workers_registry_beat(db, "gpu:1:pool:x", "gpu", "generate.*,style.train", 2, now - 5) == 0);
    CHECK(oma_workers_registry_beat(db, "cpu:2:pool:y", "cpu", "image.*", 4, now - OMA_WORKER_LIVE_SECONDS - 1) == 0);
    CHECK(oma_workers_registry_offers(db, "generate.txt2img", now) == 1);
    CHECK(oma_workers_registry_offers(db, "image.normalize", now) == 0); /* its pool is not live */
    CHECK(oma_workers_registry_beat(db, "cpu:2:pool:y", "cpu", "image.*", 4, now) == 0); /* beats again */
    CHECK(oma_workers_registry_offers(db, "image.normalize", now) == 1);
    json_t *j = oma_workers_registry_json(db, now);
    CHECK(j && json_integer_value(json_object_get(j, "pools")) == 2 && json_integer_value(json_object_get(j, "threads")) == 6);
    json_decref(j);
    CHECK(oma_workers_registry_leave(db, "gpu:1:pool:x") == 0);
    CHECK(oma_workers_registry_offers(db, "generate.txt2img", now) == 0);

    oma_db_close(db);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    if (failures) fprintf(stderr, "test_claim_kinds: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}
