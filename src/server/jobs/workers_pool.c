/* workers_pool.c — N worker threads for `oma serve` and `oma worker`.
 *
 * Each thread opens its own db and storage handles (one handle per thread, as db.h asks),
 * then loops: run one job, and when the queue is empty sleep poll_ms on a condition variable
 * that stop() signals. One more thread, the janitor, gives expired leases back to the queue
 * at start and every few seconds, so that happens even while every worker is busy. stop() sets a
 * flag the run loop's progress callback reports as "stop", so a running job ends at its next
 * progress point and goes back to queued; then it joins the threads. The janitor also keeps
 * the pool's row in worker_pools fresh (workers_registry.c) and deletes it at stop.
 */
#include "server/jobs/jobs.h"
#include "server/jobs/workers_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REQUEUE_EVERY_S 5

typedef struct worker {
    struct oma_workers *pool;
    int index;
    pthread_t thread;
    int started;
    char id[128];
} worker;

struct oma_workers {
    char *db_url, *storage_url, *models_dir, *data_dir, *kinds;
    char pool_id[128], host[64];
    int poll_ms;
    atomic_int stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n;
    worker *w;
    pthread_t janitor;
    int janitor_started;
};

static void nap(oma_workers *p, int ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ms / 1000;
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->mu);
    if (!atomic_load(&p->stop)) pthread_cond_timedwait(&p->cv, &p->mu, &until);
    pthread_mutex_unlock(&p->mu);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    oma_workers *p = w->pool;
    oma_db *db = NULL;
    oma_storage *st = NULL;
    char err[512];
    /* Keep trying to open (the database may be briefly locked at start-up). */
    while (!atomic_load(&p->stop)) {
        if (!db && oma_db_open(&db, p->db_url, 1, err, sizeof err) != 0) db = NULL;
        if (db && !st && oma_storage_open(&st, p->storage_url, err, sizeof err) != 0) st = NULL;
        if (db && st) break;
        fprintf(stderr, "oma: worker %s: %s (retrying)\n", w->id, err);
        nap(p, 1000);
    }
    while (!atomic_load(&p->stop)) {
        int rc = oma_workers_run_one_kinds(db, st, p->models_dir, p->data_dir, w->id, &p->stop, NULL, p->kinds,
                                           err, sizeof err);
        if (rc < 0) fprintf(stderr, "oma: worker %s: %s\n", w->id, err);
        if (rc <= 0) nap(p, rc < 0 ? 1000 : p->poll_ms);
    }
    oma_storage_close(st);
    oma_db_close(db);
    return NULL;
}

static void *janitor_main(void *arg)
{
    oma_workers *p = arg;
    oma_db *db = NULL;
    oma_storage *st = NULL;
    char err[512];
    while (!atomic_load(&p->stop)) {
        if (!db && oma_db_open(&db, p->db_url, 1, err, sizeof err) != 0) {
            db = NULL;
            fprintf(stderr, "oma: workers: requeue: %s (retrying)\n", err);
        }
        if (db) {
            if (oma_workers_registry_beat(db, p->pool_id, p->host, p->kinds, p->n, oma_db_unix_now()) != 0)
                fprintf(stderr, "oma: workers: register: %s\n", oma_db_errmsg(db));
            int n = oma_jobs_requeue_expired(db, oma_db_unix_now());
            if (n < 0) fprintf(stderr, "oma: workers: requeue: %s\n", oma_db_errmsg(db));
            else if (n > 0) fprintf(stderr, "oma: workers: %d job(s) whose worker stopped responding handled\n", n);
            /* a job failed above (its worker died max_attempts times) or cancelled while queued
             * ended away from the run loop: its state goes here */
            if (!st && oma_storage_open(&st, p->storage_url, err, sizeof err) != 0) st = NULL;
            if (st && oma_job_state_sweep(db, st) < 0)
                fprintf(stderr, "oma: workers: state sweep: %s\n", oma_db_errmsg(db));
        }
        nap(p, REQUEUE_EVERY_S * 1000);
    }
    if (db && oma_workers_registry_leave(db, p->pool_id) != 0)
        fprintf(stderr, "oma: workers: unregister: %s\n", oma_db_errmsg(db));
    oma_storage_close(st);
    oma_db_close(db);
    return NULL;
}

static void pool_free(oma_workers *p)
{
    if (!p) return;
    free(p->db_url);
    free(p->storage_url);
    free(p->models_dir);
    free(p->data_dir);
    free(p->kinds);
    free(p->w);
    free(p);
}

static char *dup_or_null(const char *s, int *oom)
{
    if (!s) return NULL;
    char *d = strdup(s);
    if (!d) *oom = 1;
    return d;
}

int oma_workers_start(oma_workers **out, const oma_workers_config *cfg, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg || !cfg->db_url || !cfg->storage_url || cfg->n_workers < 1 || cfg->n_workers > 256) {
        snprintf(err, errlen, "workers: need a database, a storage and 1..256 workers");
        return -1;
    }
    oma_workers *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int oom = 0;
    p->db_url = dup_or_null(cfg->db_url, &oom);
    p->storage_url = dup_or_null(cfg->storage_url, &oom);
    p->models_dir = dup_or_null(cfg->models_dir, &oom);
    p->data_dir = dup_or_null(cfg->data_dir, &oom);
    p->kinds = dup_or_null(cfg->kinds && *cfg->kinds ? cfg->kinds : NULL, &oom);
    if (p->kinds && !oma_jobs_kinds_valid(p->kinds)) {
        pool_free(p);
        snprintf(err, errlen, "workers: bad --kinds (comma-separated patterns of A-Z a-z 0-9 . _ - *)");
        return -1;
    }
    p->poll_ms = cfg->poll_ms > 0 ? cfg->poll_ms : 200;
    p->n = cfg->n_workers;
    p->w = calloc((size_t)p->n, sizeof *p->w);
    atomic_init(&p->stop, 0);
    if (oom || !p->w) {
        pool_free(p);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (pthread_mutex_init(&p->mu, NULL) != 0 || pthread_cond_init(&p->cv, NULL) != 0) {
        pool_free(p);
        snprintf(err, errlen, "workers: cannot create a lock");
        return -1;
    }
    char host[64] = "host";
    if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "host");
    host[sizeof host - 1] = '\0';
    snprintf(p->host, sizeof p->host, "%s", host);
    {
        char tag[33] = "00000000";
        if (oma_db_new_id(tag, sizeof tag) != 0) snprintf(tag, sizeof tag, "%08lx", (unsigned long)time(NULL));
        snprintf(p->pool_id, sizeof p->pool_id, "%s:%ld:pool:%.8s", host, (long)getpid(), tag);
    }
    for (int i = 0; i < p->n; i++) {
        worker *w = &p->w[i];
        w->pool = p;
        w->index = i;
        /* host:pid:n plus a random tag, so a restarted process with the same pid (pid 1 in a
         * container) never shares a worker id with its dead predecessor. */
        char tag[33] = "00000000";
        if (oma_db_new_id(tag, sizeof tag) != 0) snprintf(tag, sizeof tag, "%08lx", (unsigned long)time(NULL));
        snprintf(w->id, sizeof w->id, "%s:%ld:%d:%.8s", host, (long)getpid(), i, tag);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            snprintf(err, errlen, "workers: cannot start thread %d", i);
            oma_workers_stop(p);
            return -1;
        }
        w->started = 1;
    }
    if (pthread_create(&p->janitor, NULL, janitor_main, p) != 0) {
        snprintf(err, errlen, "workers: cannot start the requeue thread");
        oma_workers_stop(p);
        return -1;
    }
    p->janitor_started = 1;
    *out = p;
    return 0;
}

void oma_workers_stop(oma_workers *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, 1);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->n; i++)
        if (p->w[i].started) pthread_join(p->w[i].thread, NULL);
    if (p->janitor_started) pthread_join(p->janitor, NULL);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    pool_free(p);
}
