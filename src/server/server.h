/* server.h — `oma serve` as a library: configuration, start and stop.
 *
 * Start opens the database (applying migrations), the storage, the worker pool and the HTTP
 * daemon, in that order, and stop undoes them in reverse. The CLI only parses flags and
 * waits for a signal; tests can start a server in-process the same way.
 */
#ifndef OMA_SERVER_SERVER_H
#define OMA_SERVER_SERVER_H

#include <stddef.h>

typedef struct oma_server_config {
    const char *host;        /* "127.0.0.1" */
    int port;                /* 0 = pick a free port */
    const char *data_dir;    /* "./data": db at DATA/oma.db, storage at DATA/store */
    int workers;             /* worker threads (>= 0; 0 = no workers in this process) */
    const char *models_dir;  /* may be NULL */
    const char *web_dir;     /* may be NULL: not served, / says how to build it */
    /* scale-out (README "Scale-out"): NULL = the embedded defaults under data_dir */
    const char *db_url;      /* "postgres://USER:PASS@HOST:PORT/DB" or "sqlite:PATH" */
    const char *storage_url; /* "s3://BUCKET[/PREFIX]?endpoint=URL&region=R" or "file:DIR" */
} oma_server_config;

typedef struct oma_server oma_server;

int oma_server_start(oma_server **out, const oma_server_config *cfg, char *err, size_t errlen);
/* The port actually bound (useful with port 0). */
int oma_server_port(const oma_server *s);
void oma_server_stop(oma_server *s);

#endif
