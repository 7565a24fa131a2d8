/* threadpool.c — blocking pthread pool behind oma_parallel_for (see threadpool.h). */
#include "tensor/threadpool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#define MAX_THREADS 256

typedef struct pool {
    pthread_mutex_t mu;
    pthread_cond_t wake;        /* workers wait here for a new generation */
    pthread_cond_t done;        /* the caller waits here for pending == 0 */
    pthread_t tid[MAX_THREADS];
    int n_workers;              /* threads besides the caller */
    unsigned long generation;
    int stop;
    int pending;
    int busy;                   /* a parallel_for is in flight */
    /* the current job */
    oma_range_fn fn;
    void *ctx;
    int64_t n, pieces;
} pool;

static pool g_pool = {.mu = PTHREAD_MUTEX_INITIALIZER,
                      .wake = PTHREAD_COND_INITIALIZER,
                      .done = PTHREAD_COND_INITIALIZER};
static int g_started;
static int g_threads;
static unsigned long g_start_gen;   /* generation when the workers were started */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

static _Thread_local int t_alone;   /* inside oma_parallel_tasks: kernels run on this thread */

static void piece_range(int64_t n, int64_t pieces, int64_t i, int64_t *b, int64_t *e)
{
    *b = n * i / pieces;
    *e = n * (i + 1) / pieces;
}

static void *worker(void *arg)
{
    int idx = (int)(intptr_t)arg;   /* piece index idx+1 (the caller runs piece 0) */
    pthread_mutex_lock(&g_pool.mu);
    unsigned long seen = g_start_gen;
    for (;;) {
        while (!g_pool.stop && g_pool.generation == seen) pthread_cond_wait(&g_pool.wake, &g_pool.mu);
        if (g_pool.stop) break;
        seen = g_pool.generation;
        int64_t piece = idx + 1;
        if (piece < g_pool.pieces) {
            oma_range_fn fn = g_pool.fn;
            void *ctx = g_pool.ctx;
            int64_t b, e;
            piece_range(g_pool.n, g_pool.pieces, piece, &b, &e);
            pthread_mutex_unlock(&g_pool.mu);
            fn(ctx, b, e);
            pthread_mutex_lock(&g_pool.mu);
            if (--g_pool.pending == 0) pthread_cond_signal(&g_pool.done);
        }
    }
    pthread_mutex_unlock(&g_pool.mu);
    return NULL;
}

static void init_threads(void)
{
    int n = 0;
    const char *env = getenv("OMA_THREADS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == 0 && v > 0) n = v > MAX_THREADS ? MAX_THREADS : (int)v;
    }
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (c > MAX_THREADS ? MAX_THREADS : (int)c) : 1;
    }
    g_threads = n;
}

int oma_threads(void)
{
    pthread_once(&g_once, init_threads);
    return g_threads;
}

static int start_locked(void)
{
    if (g_started) return g_pool.n_workers >= 0;
    g_started = 1;
    g_pool.stop = 0;
    g_pool.n_workers = 0;
    g_start_gen = g_pool.generation;
    for (int i = 0; i < g_threads - 1; i++) {
        if (pthread_create(&g_pool.tid[i], NULL, worker, (void *)(intptr_t)i) != 0) break;
        g_pool.n_workers++;
    }
    return 1;
}

int oma_threads_here(void) { return t_alone ? 1 : oma_threads(); }

void oma_parallel_for(int64_t n, int64_t grain, oma_range_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (t_alone) {
        fn(ctx, 0, n);
        return;
    }
    if (grain < 1) grain = 1;
    int threads = oma_threads();
    int64_t pieces = (n + grain - 1) / grain;
    if (pieces > threads) pieces = threads;
    if (pieces <= 1) {
        fn(ctx, 0, n);
        return;
    }
    pthread_mutex_lock(&g_pool.mu);
    if (g_pool.busy) {      /* another caller owns the pool: run serially */
        pthread_mutex_unlock(&g_pool.mu);
        fn(ctx, 0, n);
        return;
    }
    start_locked();
    if (pieces > g_pool.n_workers + 1) pieces = g_pool.n_workers + 1;
    if (pieces <= 1) {
        pthread_mutex_unlock(&g_pool.mu);
        fn(ctx, 0, n);
        return;
    }
    g_pool.busy = 1;
    g_pool.fn = fn;
    g_pool.ctx = ctx;
    g_pool.n = n;
    g_pool.pieces = pieces;
    g_pool.pending = (int)pieces - 1;
    g_pool.generation++;
    pthread_cond_broadcast(&g_pool.wake);
    pthread_mutex_unlock(&g_pool.mu);

    int64_t b, e;
    piece_range(n, pieces, 0, &b, &e);
    fn(ctx, b, e);

    pthread_mutex_lock(&g_pool.mu);
    while (g_pool.pending > 0) pthread_cond_wait(&g_pool.done, &g_pool.mu);
    g_pool.busy = 0;
    pthread_mutex_unlock(&g_pool.mu);
}

typedef struct {
    oma_task_fn task;
    void *ctx;
    int64_t n;
    atomic_llong next;   /* the next task to take */
} tasks;

static void *take_tasks(void *p)
{
    tasks *t = p;
    int was = t_alone;
    t_alone = 1;
    for (int64_t i; (i = atomic_fetch_add(&t->next, 1)) < t->n;) t->task(t->ctx, i);
    t_alone = was;
    return NULL;
}

void oma_parallel_tasks(int64_t n, oma_task_fn task, void *ctx)
{
    if (n <= 0) return;
    int threads = oma_threads_here();
    if (threads > n) threads = (int)n;
    if (threads <= 1) {
        for (int64_t i = 0; i < n; i++) task(ctx, i);
        return;
    }
    tasks t = {task, ctx, n, 0};
    pthread_t tid[MAX_THREADS];
    int started = 0;
    for (int k = 0; k < threads - 1; k++) {
        if (pthread_create(&tid[k], NULL, take_tasks, &t) != 0) break;
        started++;
    }
    take_tasks(&t);   /* with none started, this takes every task */
    for (int k = 0; k < started; k++) pthread_join(tid[k], NULL);
}

void oma_threads_shutdown(void)
{
    pthread_mutex_lock(&g_pool.mu);
    if (!g_started || g_pool.busy) {
        pthread_mutex_unlock(&g_pool.mu);
        return;
    }
    g_pool.stop = 1;
    pthread_cond_broadcast(&g_pool.wake);
    int nw = g_pool.n_workers;
    pthread_mutex_unlock(&g_pool.mu);
    for (int i = 0; i < nw; i++) pthread_join(g_pool.tid[i], NULL);
    pthread_mutex_lock(&g_pool.mu);
    g_started = 0;
    g_pool.n_workers = 0;
    g_pool.stop = 0;
    pthread_mutex_unlock(&g_pool.mu);
}
