/* auth_hasher.c — the threads that do the argon2id work, apart from the ones that serve.
 *
 * The idea: a password hash costs tens of milliseconds of CPU and 64 MiB; a flood of log-ins
 * run on the serving threads would starve every other request of CPU. So each hash is handed
 * to a small pool of hashing threads (half the CPUs, 1..4), so hashing can never take more
 * than half the machine, and the serving thread sleeps until its hash is done. (They ran at
 * nice +10 at first; measured with a log-in flood on 2 CPUs, the busy requests starved them:
 * 12 hashes in 3 s, the queue stayed full and real log-ins got 429. Same priority now.)
 * The queue is bounded: when it is full the caller hears "busy" at once (the route answers
 * 429 with Retry-After) instead of piling up. If no thread can be started the work runs in
 * the caller, one at a time.
 */
#include "server/auth.h"

#include <pthread.h>
#include <unistd.h>

#define HASHERS_MAX 4
#define QUEUE_MAX 32

typedef struct hash_job {
    void (*fn)(void *);
    void *arg;
    int done;
    struct hash_job *next;
} hash_job;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv_work = PTHREAD_COND_INITIALIZER;
static pthread_cond_t cv_done = PTHREAD_COND_INITIALIZER;
static hash_job *head, *tail;
static int queued, nthreads;
static pthread_once_t start_once = PTHREAD_ONCE_INIT;

static void *hasher_main(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (!head) pthread_cond_wait(&cv_work, &mu);
        hash_job *j = head;
        head = j->next;
        if (!head) tail = NULL;
        queued--;
        pthread_mutex_unlock(&mu);
        j->fn(j->arg);
        pthread_mutex_lock(&mu);
        j->done = 1;
        pthread_cond_broadcast(&cv_done);
    }
    return NULL;
}

static void start_threads(void)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int want = cpus > 1 ? (int)(cpus / 2) : 1;
    if (want > HASHERS_MAX) want = HASHERS_MAX;
    pthread_attr_t a;
    if (pthread_attr_init(&a) != 0) return;
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    for (int i = 0; i < want; i++) {
        pthread_t t;
        if (pthread_create(&t, &a, hasher_main, NULL) != 0) break;
        nthreads++;
    }
    pthread_attr_destroy(&a);
}

int oma_auth_hasher_run(void (*fn)(void *), void *arg)
{
    pthread_once(&start_once, start_threads);
    hash_job j = {fn, arg, 0, NULL};
    pthread_mutex_lock(&mu);
    if (nthreads == 0) {   /* no pool: one at a time in the caller */
        fn(arg);
        pthread_mutex_unlock(&mu);
        return 0;
    }
    if (queued >= QUEUE_MAX) {
        pthread_mutex_unlock(&mu);
        return -1;
    }
    if (tail) tail->next = &j;
    else head = &j;
    tail = &j;
    queued++;
    pthread_cond_signal(&cv_work);
    while (!j.done) pthread_cond_wait(&cv_done, &mu);
    pthread_mutex_unlock(&mu);
    return 0;
}
