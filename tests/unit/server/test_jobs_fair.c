/* test_jobs_fair.c — one artist cannot starve the others (issue 16): with six jobs of artist
 * A queued before one of artist B, the second claim goes to B (A already has one running;
 * before the fix it went to A's next job, so B waited for all six); and an artist with
 * OMA_JOB_QUEUED_PER_ARTIST jobs waiting gets 429 with Retry-After on the next submission
 * (before: any number was queued), until some have started. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_harness.h"
#include "server/jobs/jobs.h"
#include "server/server.h"

#include "check.h"
#include "raw_http.h"

static char buf[65536];

static void enqueue(oma_db *db, const char *artist, char *id)
{
    char err[256];
    CHECK(oma_jobs_enqueue(db, artist, "pose.render", NULL, NULL, NULL, id, 48, err, sizeof err) == 0);
}

static const char *artist_of(oma_db *db, const char *job, char *out, size_t n)
{
    oma_stmt *st = NULL;
    out[0] = '\0';
    if (oma_db_prepare(db, "SELECT artist_id FROM jobs WHERE id = ?", &st) == 0 && oma_stmt_bind_text(st, 1, job) == 0 &&
        oma_stmt_step(st) == 1)
        snprintf(out, n, "%s", oma_stmt_text(st, 0));
    oma_stmt_finalize(st);
    return out;
}

int main(void)
{
    int pre = oma_test_db_prepare();
    if (pre != 0) return pre == OMA_TEST_SKIP ? OMA_TEST_SKIP : 1;
    char dir[] = "/tmp/oma_test_fair_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char url[600], err[512];
    if (oma_test_db_url(url, sizeof url, dir) != 0) return 1;
    oma_db *db = NULL;
    if (oma_db_open(&db, url, 1, err, sizeof err) != 0) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    CHECK(oma_db_exec(db, "INSERT INTO artists VALUES ('artA','a@x','A','h','2026-01-01T00:00:00Z');"
                          "INSERT INTO artists VALUES ('artB','b@x','B','h','2026-01-01T00:00:00Z');") == 0);
    char id[8][48], got[48], who[80];
    for (int i = 0; i < 6; i++) enqueue(db, "artA", id[i]);
    enqueue(db, "artB", id[6]);
    int64_t now = oma_db_unix_now();
    CHECK(oma_jobs_claim(db, "w1", now, got, sizeof got) == 1);
    CHECK(strcmp(artist_of(db, got, who, sizeof who), "artA") == 0);
    CHECK(oma_jobs_claim(db, "w2", now, got, sizeof got) == 1);
    CHECK(strcmp(artist_of(db, got, who, sizeof who), "artB") == 0);
    CHECK(strcmp(got, id[6]) == 0);
    CHECK(oma_jobs_claim(db, "w3", now, got, sizeof got) == 1);   /* then A again, in order */
    CHECK(strcmp(got, id[1]) == 0);
    CHECK(oma_jobs_count_queued(db, "artA") == 4);
    CHECK(oma_jobs_count_queued(db, "artB") == 0);
    oma_db_close(db);

    /* the per-artist queue limit, through the API */
    oma_server_config cfg = {"127.0.0.1", 0, dir, 0, NULL, NULL, url, NULL};
    oma_server *srv = NULL;
    if (oma_server_start(&srv, &cfg, err, sizeof err) != 0) {
        fprintf(stderr, "start: %s\n", err);
        return 1;
    }
    int port = oma_server_port(srv);
    char token[160], artist[80];
    CHECK(raw_json(port, "POST", "/api/auth/signup", NULL,
                   "{\"email\":\"q@example.com\",\"password\":\"queue-pw-1\",\"name\":\"Q\"}", buf, sizeof buf) == 201);
    CHECK(raw_json_str(buf, "token", token, sizeof token) == 0);
    CHECK(raw_json(port, "GET", "/api/me", token, NULL, buf, sizeof buf) == 200);
    CHECK(raw_json_str(buf, "id", artist, sizeof artist) == 0);
    CHECK(oma_db_open(&db, url, 0, err, sizeof err) == 0);
    for (int i = 0; i < OMA_JOB_QUEUED_PER_ARTIST; i++) enqueue(db, artist, id[7]);
    const char *job = "{\"kind\":\"pose.render\",\"params\":{\"pose\":{}}}";
    CHECK(raw_json(port, "POST", "/api/jobs", token, job, buf, sizeof buf) == 429);
    CHECK(strstr(buf, "\"code\":\"too_many_requests\"") != NULL && strstr(buf, "Retry-After: ") != NULL);
    /* one starts: the next submission is judged on its own again (here: a bad pose, 400) */
    CHECK(oma_jobs_claim(db, "w4", oma_db_unix_now(), got, sizeof got) == 1);
    CHECK(raw_json(port, "POST", "/api/jobs", token, job, buf, sizeof buf) == 400);
    oma_db_close(db);
    oma_server_stop(srv);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    if (failures) {
        fprintf(stderr, "test_jobs_fair: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_jobs_fair: ok\n");
    return 0;
}
