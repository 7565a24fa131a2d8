/* http_conns.c — a deadline for a request's headers, over every open connection.
 *
 * The idea: libmicrohttpd's own timeout is an idle timer that every byte resets, so a client
 * sending a header line a second holds its connection for ever. Here each connection is
 * tracked from the moment it opens (MHD's connection notifications): it must deliver a
 * complete request head within the deadline, counted from when it opened or from when its
 * previous request ended (a kept-alive connection waiting for its next request counts as
 * waiting for headers). While a request is being served (body, handler, a download or an
 * event stream) no deadline applies. A watchdog thread looks once a second and shuts down
 * the socket of a connection past its deadline; MHD then sees the end of the stream and
 * closes it in its own thread. The list's lock is held while shutting down, and MHD tells
 * us a connection closed before it closes the socket, so a reused descriptor is never hit.
 */
#include "server/http/http_conns.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

typedef struct oma_conn {
    int fd;
    int serving;          /* a request's head has arrived and it is not finished */
    int shut;             /* already shut down by the watchdog */
    int64_t since_ms;     /* waiting for a head since */
    struct oma_conn *prev, *next;
} oma_conn;

struct oma_conns {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    oma_conn *head;
    int deadline_ms;
    int stop;
    int started;
    pthread_t watchdog;
    long shut_count;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *watchdog_main(void *arg)
{
    oma_conns *c = arg;
    pthread_mutex_lock(&c->mu);
    while (!c->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int step_ms = c->deadline_ms < 4000 ? 100 : 1000;
        ts.tv_nsec += (long)step_ms * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&c->cv, &c->mu, &ts);
        if (c->stop) break;
        int64_t now = now_ms();
        for (oma_conn *k = c->head; k; k = k->next) {
            if (k->serving || k->shut || now - k->since_ms < c->deadline_ms) continue;
            shutdown(k->fd, SHUT_RDWR);
            k->shut = 1;
            c->shut_count++;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

oma_conns *oma_conns_start(int deadline_ms)
{
    oma_conns *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->deadline_ms = deadline_ms > 0 ? deadline_ms : 1;
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return NULL;
    }
    if (pthread_cond_init(&c->cv, NULL) != 0 || pthread_create(&c->watchdog, NULL, watchdog_main, c) != 0) {
        pthread_mutex_destroy(&c->mu);
        free(c);
        return NULL;
    }
    c->started = 1;
    return c;
}

void oma_conns_stop(oma_conns *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_signal(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (c->started) pthread_join(c->watchdog, NULL);
    while (c->head) {   /* MHD has closed every connection by now; nothing should be left */
        oma_conn *k = c->head;
        c->head = k->next;
        free(k);
    }
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void oma_conns_opened(oma_conns *c, int fd, void **socket_context)
{
    *socket_context = NULL;
    if (!c) return;
    oma_conn *k = calloc(1, sizeof *k);
    if (!k) return;   /* untracked: only MHD's idle timeout applies to it */
    k->fd = fd;
    k->since_ms = now_ms();
    pthread_mutex_lock(&c->mu);
    k->next = c->head;
    if (c->head) c->head->prev = k;
    c->head = k;
    pthread_mutex_unlock(&c->mu);
    *socket_context = k;
}

void oma_conns_closed(oma_conns *c, void **socket_context)
{
    oma_conn *k = *socket_context;
    *socket_context = NULL;
    if (!c || !k) return;
    pthread_mutex_lock(&c->mu);
    if (k->prev) k->prev->next = k->next;
    else c->head = k->next;
    if (k->next) k->next->prev = k->prev;
    pthread_mutex_unlock(&c->mu);
    free(k);
}

void oma_conns_serving(oma_conns *c, void *socket_context, int serving)
{
    oma_conn *k = socket_context;
    if (!c || !k) return;
    pthread_mutex_lock(&c->mu);
    k->serving = serving;
    if (!serving) k->since_ms = now_ms();
    pthread_mutex_unlock(&c->mu);
}

long oma_conns_shut_count(oma_conns *c)
{
    if (!c) return 0;
    pthread_mutex_lock(&c->mu);
    long n = c->shut_count;
    pthread_mutex_unlock(&c->mu);
    return n;
}
