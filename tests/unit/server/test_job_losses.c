/* test_job_losses.c — a training job's loss history stays out of its events (issue 10 §4):
 * with 1200 points in the row's detail, the job JSON (what GET /api/jobs/{id} and each SSE
 * event send) carries the latest OMA_JOB_LOSS_WINDOW points and loss_count 1200, while
 * oma_jobs_losses_json (GET /api/jobs/{id}/losses) gives all 1200 in order; a detail without
 * losses passes unchanged; another artist gets nothing. Before, the job JSON held all 1200.
 * The row itself holds only the window (before: the whole history, rewritten at every step);
 * the points are job_losses rows, appended per write (a run's write adds only its new steps, a
 * resumed attempt rewrites its history once and drops the steps it redoes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/jobs/jobs.h"

#include "check.h"

int main(void)
{
    char dir[] = "/tmp/oma_test_losses_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char url[600], err[256];
    snprintf(url, sizeof url, "sqlite:%s/oma.db", dir);
    oma_db *db = NULL;
    if (oma_db_open(&db, url, 1, err, sizeof err) != 0) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    CHECK(oma_db_exec(db, "INSERT INTO artists VALUES ('art1','a@x','A','h','2026-01-01T00:00:00Z');") == 0);
    char id[48], got[48];
    CHECK(oma_jobs_enqueue(db, "art1", "style.train", NULL, NULL, NULL, id, sizeof id, err, sizeof err) == 0);
    CHECK(oma_jobs_claim(db, "w1", oma_db_unix_now(), got, sizeof got) == 1);

    json_t *losses = json_array();
    for (int i = 1; i <= 1200; i++) json_array_append_new(losses, json_pack("[i, f]", i, 1.0 / i));
    json_t *detail = json_pack("{s:s, s:i, s:o, s:i}", "stage", "lora", "total_step", 1200, "losses", losses,
                               "resumed_from", 600);
    CHECK(detail && oma_jobs_set_detail(db, id, "w1", detail) == 0);
    json_decref(detail);

    json_t *j = oma_jobs_get_json(db, id, "art1");
    json_t *d = json_object_get(j, "detail");
    json_t *w = json_object_get(d, "losses");
    CHECK(json_array_size(w) == OMA_JOB_LOSS_WINDOW);
    CHECK(json_integer_value(json_object_get(d, "loss_count")) == 1200);
    CHECK(json_integer_value(json_array_get(json_array_get(w, 0), 0)) == 1200 - OMA_JOB_LOSS_WINDOW + 1);
    CHECK(json_integer_value(json_array_get(json_array_get(w, OMA_JOB_LOSS_WINDOW - 1), 0)) == 1200);
    CHECK(strcmp(json_string_value(json_object_get(d, "stage")), "lora") == 0);
    char *text = json_dumps(j, JSON_COMPACT);
    CHECK(text && strlen(text) < 4000); /* bounded, whatever the run's length */
    free(text);
    json_decref(j);

    json_t *all = oma_jobs_losses_json(db, id, "art1");
    json_t *a = json_object_get(all, "losses");
    CHECK(json_array_size(a) == 1200);
    CHECK(json_integer_value(json_object_get(all, "loss_count")) == 1200);
    CHECK(json_integer_value(json_object_get(all, "resumed_from")) == 600);
    for (size_t i = 0; i < json_array_size(a); i++)
        if (json_integer_value(json_array_get(json_array_get(a, i), 0)) != (json_int_t)i + 1) {
            CHECK(!"losses out of order");
            break;
        }
    json_decref(all);
    CHECK(oma_jobs_losses_json(db, id, "someone-else") == NULL);

    /* the row holds the window, not the history; the points are rows of job_losses */
    oma_stmt *q = NULL;
    CHECK(oma_db_prepare(db, "SELECT length(detail), (SELECT COUNT(*) FROM job_losses WHERE job_id = jobs.id) "
                             "FROM jobs WHERE id = ?", &q) == 0 &&
          oma_stmt_bind_text(q, 1, id) == 0 && oma_stmt_step(q) == 1);
    CHECK(oma_stmt_int(q, 0) < 4000 && oma_stmt_int(q, 1) == 1200);
    oma_stmt_finalize(q);

    /* a run's writes: the first one stores its whole history, later ones only the new steps
     * (the earlier points they repeat are not read); a resumed run rewinds and redoes steps */
    int64_t written = 0;
    json_t *h = json_array();
    for (int i = 1; i <= 10; i++) json_array_append_new(h, json_pack("[i, f]", i, 2.0));
    json_t *d2 = json_pack("{s:O}", "losses", h);
    CHECK(oma_jobs_set_detail_run(db, id, "w1", d2, &written) == 0 && written == 10);
    json_decref(d2);
    /* the same steps with other values, then step 11: only 11 is new to this run */
    json_array_clear(h);
    for (int i = 1; i <= 11; i++) json_array_append_new(h, json_pack("[i, f]", i, 3.0));
    d2 = json_pack("{s:O}", "losses", h);
    CHECK(oma_jobs_set_detail_run(db, id, "w1", d2, &written) == 0 && written == 11);
    json_decref(d2);
    all = oma_jobs_losses_json(db, id, "art1");
    a = json_object_get(all, "losses");
    CHECK(json_array_size(a) == 11 && json_integer_value(json_object_get(all, "loss_count")) == 11);
    CHECK(json_real_value(json_array_get(json_array_get(a, 9), 1)) == 2.0);   /* step 10 as first stored */
    CHECK(json_real_value(json_array_get(json_array_get(a, 10), 1)) == 3.0);  /* step 11 appended */
    json_decref(all);
    /* a new attempt (written 0) resumed at step 6: steps 1..6 rewritten, 7..11 gone */
    written = 0;
    json_array_clear(h);
    for (int i = 1; i <= 6; i++) json_array_append_new(h, json_pack("[i, f]", i, 4.0));
    d2 = json_pack("{s:O}", "losses", h);
    CHECK(oma_jobs_set_detail_run(db, id, "w1", d2, &written) == 0 && written == 6);
    json_decref(d2);
    all = oma_jobs_losses_json(db, id, "art1");
    a = json_object_get(all, "losses");
    CHECK(json_array_size(a) == 6 && json_real_value(json_array_get(json_array_get(a, 5), 1)) == 4.0);
    json_decref(all);
    json_decref(h);
    /* another worker's write changes nothing */
    json_t *d3 = json_pack("{s:[[i, f]]}", "losses", 7, 9.0);
    CHECK(oma_jobs_set_detail_run(db, id, "w2", d3, &written) == 2 && written == 6);
    json_decref(d3);

    /* a detail with no history passes as it is; garbage losses are left alone */
    json_t *plain = json_pack("{s:s, s:s}", "stage", "x", "losses", "not an array");
    json_t *back = oma_jobs_detail_window(plain);
    CHECK(back && json_is_string(json_object_get(back, "losses")) && !json_object_get(back, "loss_count"));
    json_decref(back);
    CHECK(oma_jobs_detail_window(NULL) == NULL);

    oma_db_close(db);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    if (failures) {
        fprintf(stderr, "test_job_losses: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_job_losses: ok\n");
    return 0;
}
