/* test_http_lane.c — the slow-handler lane: jobs run on its threads; a full queue refuses at
 * once (and then `admitted` is not called); `admitted` runs before a lane thread can start
 * the job; close waits for everything queued and running, and refuses new jobs after. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "server/http/http_lane.h"

#include "check.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int gate_open;
static atomic_int ran, admitted_n, order_ok = 1;

typedef struct job {
    int admitted;
} job;

static void work(void *arg)
{
    job *j = arg;
    if (!j->admitted) atomic_store(&order_ok, 0);
    pthread_mutex_lock(&mu);
    while (!gate_open) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    atomic_fetch_add(&ran, 1);
}

static void admit(void *arg)
{
    struct timespec ts = {0, 2000000L};   /* give a lane thread the chance to start too early */
    nanosleep(&ts, NULL);
    ((job *)arg)->admitted = 1;
    atomic_fetch_add(&admitted_n, 1);
}

int main(void)
{
    oma_lane *l = oma_lane_start(1, 2);
    CHECK(l != NULL);
    if (!l) return 1;
    job jobs[4] = {{0}};
    CHECK(oma_lane_submit(l, work, &jobs[0], admit) == 0);
    struct timespec ts = {0, 50000000L};
    nanosleep(&ts, NULL);   /* the one thread is now inside jobs[0] */
    CHECK(oma_lane_submit(l, work, &jobs[1], admit) == 0);
    CHECK(oma_lane_submit(l, work, &jobs[2], admit) == 0);
    CHECK(oma_lane_submit(l, work, &jobs[3], admit) == -1);   /* two queued: full */
    CHECK(atomic_load(&admitted_n) == 3 && jobs[3].admitted == 0);
    pthread_mutex_lock(&mu);
    gate_open = 1;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    oma_lane_close(l);
    CHECK(atomic_load(&ran) == 3);
    CHECK(atomic_load(&order_ok) == 1);
    CHECK(oma_lane_submit(l, work, &jobs[3], admit) == -1);   /* closed */
    oma_lane_stop(l);
    if (failures) {
        fprintf(stderr, "test_http_lane: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_http_lane: ok\n");
    return 0;
}
