/* http_conns.h — the header deadline over open connections (see http_conns.c). */
#ifndef OMA_SERVER_HTTP_CONNS_H
#define OMA_SERVER_HTTP_CONNS_H

#include <stdint.h>

typedef struct oma_conns oma_conns;

/* Starts the watchdog; a connection must deliver a request head within deadline_ms of
 * opening or of its previous request's end. NULL when out of memory or threads. */
oma_conns *oma_conns_start(int deadline_ms);
/* Stops the watchdog and frees the list (after the daemon has closed every connection). */
void oma_conns_stop(oma_conns *c);

/* From MHD's connection notifications: a connection opened on fd / closed. socket_context is
 * MHD's per-connection slot. */
void oma_conns_opened(oma_conns *c, int fd, void **socket_context);
void oma_conns_closed(oma_conns *c, void **socket_context);
/* A request's head has arrived (serving 1: no deadline) / its answer is done (0: the
 * connection waits for its next head from now). */
void oma_conns_serving(oma_conns *c, void *socket_context, int serving);
/* How many connections the watchdog has shut (for tests and logs). */
long oma_conns_shut_count(oma_conns *c);

#endif
