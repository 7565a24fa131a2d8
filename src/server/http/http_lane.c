/* http_lane.c — the slow-handler thread pool (see http_lane.h).
 *
 * The idea: a fixed ring of (fn, arg) slots guarded by one mutex; workers sleep on a
 * condition variable until a slot is filled. `busy` counts jobs queued or running, so close
 * can refuse new jobs and wait for the lane to be empty before the daemon stops (a suspended connection must be
 * resumed before MHD_stop_daemon).
 */
#include "server/http/http_lane.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct lane_job {
    void (*fn)(void *);
    void *arg;
} lane_job;

struct oma_lane {
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_idle;
    lane_job *ring;
    int cap, head, count, busy, closing, stop, nthreads;
    pthread_t *threads;
};

static void *lane_main(void *arg)
{
    oma_lane *l = arg;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->count && !l->stop) pthread_cond_wait(&l->cv_work, &l->mu);
        if (!l->count && l->stop) break;
        lane_job j = l->ring[l->head];
        l->head = (l->head + 1) % l->cap;
        l->count--;
        pthread_mutex_unlock(&l->mu);
        j.fn(j.arg);
        pthread_mutex_lock(&l->mu);
        if (--l->busy == 0) pthread_cond_broadcast(&l->cv_idle);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

oma_lane *oma_lane_start(int threads, int queue_max)
{
    if (threads < 1 || queue_max < 1) return NULL;
    oma_lane *l = calloc(1, sizeof *l);
    if (!l) return NULL;
    l->ring = calloc((size_t)queue_max, sizeof *l->ring);
    l->threads = calloc((size_t)threads, sizeof *l->threads);
    if (!l->ring || !l->threads || pthread_mutex_init(&l->mu, NULL) != 0) {
        free(l->ring);
        free(l->threads);
        free(l);
        return NULL;
    }
    pthread_cond_init(&l->cv_work, NULL);
    pthread_cond_init(&l->cv_idle, NULL);
    l->cap = queue_max;
    for (int i = 0; i < threads; i++) {
        if (pthread_create(&l->threads[i], NULL, lane_main, l) != 0) break;
        l->nthreads++;
    }
    if (l->nthreads == 0) {
        oma_lane_stop(l);
        return NULL;
    }
    return l;
}

int oma_lane_submit(oma_lane *l, void (*fn)(void *), void *arg, void (*admitted)(void *))
{
    pthread_mutex_lock(&l->mu);
    if (l->closing || l->count >= l->cap) {
        pthread_mutex_unlock(&l->mu);
        return -1;
    }
    if (admitted) admitted(arg);   /* before any lane thread can see the job */
    l->ring[(l->head + l->count) % l->cap] = (lane_job){fn, arg};
    l->count++;
    l->busy++;
    pthread_cond_signal(&l->cv_work);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

void oma_lane_close(oma_lane *l)
{
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->closing = 1;
    while (l->busy) pthread_cond_wait(&l->cv_idle, &l->mu);
    pthread_mutex_unlock(&l->mu);
}

void oma_lane_stop(oma_lane *l)
{
    if (!l) return;
    oma_lane_close(l);
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->cv_work);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->nthreads; i++) pthread_join(l->threads[i], NULL);
    pthread_cond_destroy(&l->cv_work);
    pthread_cond_destroy(&l->cv_idle);
    pthread_mutex_destroy(&l->mu);
    free(l->ring);
    free(l->threads);
    free(l);
}
