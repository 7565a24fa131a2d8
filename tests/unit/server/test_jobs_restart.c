/* test_jobs_restart.c — a server starting on a data folder takes back at once the jobs its
 * dead predecessor held (issue 16): a running job whose worker id names this host and a
 * process that is gone is queued again by oma_server_start, not after its 30 s lease; jobs of
 * a live process (our parent) or of another host keep their lease. Before the fix all three
 * stayed "running" until the lease ran out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/jobs/jobs.h"
#include "server/server.h"

#include "check.h"

static char url[512];

static void claim_as(oma_db *db, const char *worker_id, char *id)
{
    char err[256];
    CHECK(oma_jobs_enqueue(db, "art1", "image.normalize", NULL, NULL, NULL, id, 48, err, sizeof err) == 0);
    char got[48];
    CHECK(oma_jobs_claim(db, worker_id, oma_db_unix_now(), got, sizeof got) == 1);
    CHECK(strcmp(got, id) == 0);
}

static const char *status_of(oma_db *db, const char *id, char *out, size_t n)
{
    json_t *j = oma_jobs_get_json(db, id, NULL);
    snprintf(out, n, "%s", j ? json_string_value(json_object_get(j, "status")) : "?");
    json_decref(j);
    return out;
}

int main(void)
{
    char dir[] = "/tmp/oma_test_restart_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    snprintf(url, sizeof url, "sqlite:%s/oma.db", dir);
    oma_db *db = NULL;
    char err[256];
    if (oma_db_open(&db, url, 1, err, sizeof err) != 0) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    CHECK(oma_db_exec(db, "INSERT INTO artists VALUES ('art1','a@x','A','h','2026-01-01T00:00:00Z');") == 0);

    /* a process id that is certainly gone: a child that exited and was reaped */
    pid_t child = fork();
    if (child == 0) _exit(0);
    CHECK(child > 0);
    int wst;
    waitpid(child, &wst, 0);
    char host[64] = "host";
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "host");
    host[sizeof host - 1] = '\0';

    char dead_w[160], live_w[160], other_w[160], dead_id[48], live_id[48], other_id[48];
    snprintf(dead_w, sizeof dead_w, "%s:%ld:0:deadbeef", host, (long)child);
    snprintf(live_w, sizeof live_w, "%s:%ld:0:cafebabe", host, (long)getppid());
    snprintf(other_w, sizeof other_w, "not-%s:%ld:0:0badf00d", host, (long)child);
    claim_as(db, dead_w, dead_id);
    claim_as(db, live_w, live_id);
    claim_as(db, other_w, other_id);
    oma_db_close(db);

    oma_server_config cfg = {"127.0.0.1", 0, dir, 0, NULL, NULL, NULL, NULL};
    oma_server *srv = NULL;
    CHECK(oma_server_start(&srv, &cfg, err, sizeof err) == 0);

    CHECK(oma_db_open(&db, url, 0, err, sizeof err) == 0);
    char st[32];
    CHECK(strcmp(status_of(db, dead_id, st, sizeof st), "queued") == 0);
    CHECK(strcmp(status_of(db, live_id, st, sizeof st), "running") == 0);
    CHECK(strcmp(status_of(db, other_id, st, sizeof st), "running") == 0);
    /* the helper on its own: nothing more to take back, garbage ids are ignored */
    CHECK(oma_db_exec(db, "UPDATE jobs SET worker_id = 'x:y:z' WHERE id = '' OR 1 = 0;") == 0);
    CHECK(oma_jobs_release_dead_local(db, host, oma_db_unix_now()) == 0);
    oma_db_close(db);
    oma_server_stop(srv);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    if (failures) {
        fprintf(stderr, "test_jobs_restart: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_jobs_restart: ok\n");
    return 0;
}
