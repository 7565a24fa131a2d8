/* server.c — starting and stopping the whole service (see server.h).
 *
 * Order matters: the database is opened once with migrations applied (so every later handle
 * sees the current schema), jobs whose lease ran out while no server was running, or whose
 * worker was a process on this host that is gone, are put back in the queue, then storage, workers and finally the HTTP daemon. Stop goes in
 * reverse: streams are told to end, the daemon joins its connection threads, workers put
 * their running jobs back to queued, and the handles are closed.
 */
#include "server/server.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/files.h"
#include "server/auth.h"
#include "server/http/http.h"
#include "server/jobs/workers_internal.h"
#include "server/server_internal.h"

static int copy_str(char *dst, size_t n, const char *src, const char *what, char *err, size_t errlen)
{
    if (!src) src = "";
    if (strlen(src) >= n) {
        snprintf(err, errlen, "%s is too long", what);
        return -1;
    }
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

int oma_server_start(oma_server **out, const oma_server_config *cfg, char *err, size_t errlen)
{
    *out = NULL;
    if (cfg->port < 0 || cfg->port > 65535) {
        snprintf(err, errlen, "port %d is out of range", cfg->port);
        return -1;
    }
    if (cfg->workers < 0 || cfg->workers > 64) {
        snprintf(err, errlen, "workers must be 0..64");
        return -1;
    }
    if (oma_auth_init() != 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return -1;
    }
    oma_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    pthread_mutex_init(&s->pool_mu, NULL);
    atomic_init(&s->stopping, 0);
    s->port = cfg->port;
    s->n_workers = cfg->workers;
    s->login_by_account = oma_throttle_new((oma_throttle_policy){OMA_LOGIN_FREE_PER_ACCOUNT, 300, 900});
    s->login_by_address = oma_throttle_new((oma_throttle_policy){OMA_LOGIN_FREE_PER_ADDRESS, 300, 900});
    if (!s->login_by_account || !s->login_by_address) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (copy_str(s->host, sizeof s->host, cfg->host ? cfg->host : "127.0.0.1", "host", err, errlen) ||
        copy_str(s->models_dir, sizeof s->models_dir, cfg->models_dir, "models folder", err, errlen) ||
        copy_str(s->web_dir, sizeof s->web_dir, cfg->web_dir, "web folder", err, errlen))
        goto fail;
    if (oma_mkdir_p(cfg->data_dir ? cfg->data_dir : "./data", err, errlen) != 0) goto fail;
    char *real = realpath(cfg->data_dir ? cfg->data_dir : "./data", NULL);
    if (!real) {
        snprintf(err, errlen, "data folder: %s", strerror(errno));
        goto fail;
    }
    int bad = copy_str(s->data_dir, sizeof s->data_dir, real, "data folder", err, errlen);
    free(real);
    if (bad) goto fail;
    snprintf(s->db_url, sizeof s->db_url, "sqlite:%s/oma.db", s->data_dir);
    snprintf(s->storage_url, sizeof s->storage_url, "file:%s/store", s->data_dir);
    if ((cfg->db_url && *cfg->db_url &&
         copy_str(s->db_url, sizeof s->db_url, cfg->db_url, "database URL", err, errlen) != 0) ||
        (cfg->storage_url && *cfg->storage_url &&
         copy_str(s->storage_url, sizeof s->storage_url, cfg->storage_url, "storage URL", err, errlen) != 0))
        goto fail;

    oma_db *db = NULL;
    char e2[256];
    if (oma_db_open(&db, s->db_url, 1, e2, sizeof e2) != 0) {
        snprintf(err, errlen, "database: %s", e2);
        goto fail;
    }
    /* a predecessor on this data folder that died (kill -9, a crash) held its jobs under
     * leases that would run for up to OMA_JOB_LEASE_SECONDS more: take them back now */
    char hostname[64];   /* as workers_pool.c names its workers */
    if (gethostname(hostname, sizeof hostname) != 0) snprintf(hostname, sizeof hostname, "host");
    hostname[sizeof hostname - 1] = '\0';
    int64_t now = oma_db_unix_now();
    if (oma_jobs_release_dead_local(db, hostname, now) < 0)
        fprintf(stderr, "oma: jobs: cannot check for a dead predecessor's jobs: %s\n", oma_db_errmsg(db));
    int requeued = oma_jobs_requeue_expired(db, now);
    if (requeued > 0) fprintf(stderr, "oma: jobs: %d interrupted job(s) back in the queue\n", requeued);
    oma_server_db_put(s, db);

    if (oma_storage_open(&s->storage, s->storage_url, e2, sizeof e2) != 0) {
        snprintf(err, errlen, "storage: %s", e2);
        goto fail;
    }
    /* leftovers of jobs that ended away from a worker, and of a killed predecessor's runs */
    db = oma_server_db_get(s);
    if (db && oma_job_state_sweep(db, s->storage) < 0)
        fprintf(stderr, "oma: jobs: cannot sweep the state of ended jobs: %s\n", oma_db_errmsg(db));
    if (db) oma_server_db_put(s, db);
    int swept = oma_train_tmp_sweep(s->data_dir);
    if (swept > 0) fprintf(stderr, "oma: jobs: removed %d work folder(s) of killed training runs\n", swept);
    if (s->n_workers > 0) {
        oma_workers_config wc = {
            .db_url = s->db_url,
            .storage_url = s->storage_url,
            .models_dir = s->models_dir[0] ? s->models_dir : NULL,
            .data_dir = s->data_dir,
            .n_workers = s->n_workers,
            .poll_ms = 200,
        };
        if (oma_workers_start(&s->workers, &wc, e2, sizeof e2) != 0) {
            snprintf(err, errlen, "workers: %s", e2);
            goto fail;
        }
    }
    if (oma_http_start(s, err, errlen) != 0) goto fail;
    *out = s;
    return 0;
fail:
    oma_server_stop(s);
    return -1;
}

int oma_server_port(const oma_server *s) { return s ? s->port : 0; }

void oma_server_stop(oma_server *s)
{
    if (!s) return;
    atomic_store(&s->stopping, 1);
    oma_http_stop(s);
    if (s->workers) oma_workers_stop(s->workers);
    s->workers = NULL;
    if (s->storage) oma_storage_close(s->storage);
    oma_server_db_close_all(s);
    oma_throttle_free(s->login_by_account);
    oma_throttle_free(s->login_by_address);
    pthread_mutex_destroy(&s->pool_mu);
    free(s);
}
