/* server_internal.h — what the server's own files share: the running server's state and
 * the per-thread database handle pool. Not for use outside src/server. */
#ifndef OMA_SERVER_SERVER_INTERNAL_H
#define OMA_SERVER_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "server/store/db.h"
#include "server/http/http.h"
#include "server/http/http_conns.h"
#include "server/http/http_lane.h"
#include "server/jobs/jobs.h"
#include "server/server.h"
#include "server/store/storage.h"
#include "server/http/throttle.h"

#define OMA_DBPOOL_MAX 32
/* Log-in back-off (throttle.h): wrong passwords allowed before a wait starts. */
#define OMA_LOGIN_FREE_PER_ACCOUNT 5
#define OMA_LOGIN_FREE_PER_ADDRESS 20

struct MHD_Daemon;
struct MHD_Connection;
typedef struct oma_sse_ticker oma_sse_ticker;

/* The event-stream ticker (http_sse.c): start; quiesce (resume every stream, file no more);
 * stop (quiesce, join, free); file: suspend it->conn until the next tick (~150 ms), 0 filed,
 * -1 shutting down (nothing suspended). Event streams and waiting requests (oma_req_wait) use it. */
oma_sse_ticker *oma_sse_ticker_start(void);
int oma_sse_ticker_file(oma_sse_ticker *t, oma_tick_item *it);
void oma_sse_ticker_quiesce(oma_sse_ticker *t);
void oma_sse_ticker_stop(oma_sse_ticker *t);

/* Live downloads read from S3 (http_stream.c): new; stop (cancel and resume every one, take no
 * more); free (stop, wait for their threads, free). */
typedef struct oma_streams oma_streams;
oma_streams *oma_streams_new(void);
void oma_streams_stop(oma_streams *g);
void oma_streams_free(oma_streams *g);

struct oma_server {
    char host[256];
    int port;
    int n_workers;
    char data_dir[1024];
    char models_dir[1024];   /* "" = none */
    char web_dir[1024];      /* "" = none */
    char db_url[1100];
    char storage_url[1100];
    oma_storage *storage;
    oma_workers *workers;
    struct MHD_Daemon *mhd;
    oma_conns *conns;                 /* the header deadline (http_conns.c) */
    oma_lane *lane;                   /* slow handlers, off the I/O threads (http_lane.c) */
    oma_lane *hash_lane;              /* sign-up and log-in (password hashing) */
    struct oma_sse_ticker *sse;       /* resumes event streams (http_sse.c) */
    oma_streams *streams;             /* downloads being read from S3 (http_stream.c) */
    atomic_int stopping;
    atomic_int waiting;               /* requests in oma_req_wait (answered 503 at shutdown) */
    oma_throttle *login_by_account;   /* wrong passwords per lowercased email */
    oma_throttle *login_by_address;   /* wrong passwords per client address */

    pthread_mutex_t pool_mu;
    oma_db *pool[OMA_DBPOOL_MAX];
    int npool;
};

/* A db handle for this thread's use until it is put back (server_dbpool.c). */
oma_db *oma_server_db_get(struct oma_server *s);
void oma_server_db_put(struct oma_server *s, oma_db *db);
void oma_server_db_close_all(struct oma_server *s);

#endif
