/* server_dbpool.c — a small pool of database handles, one per request thread at a time.
 *
 * A handle is not shared between threads at once (db.h's rule); request threads take one
 * when they start, give it back when the request ends, and idle handles are kept (up to
 * OMA_DBPOOL_MAX) so a busy server does not reopen the database for every request.
 */
#include "server/server_internal.h"

#include <stdio.h>

oma_db *oma_server_db_get(struct oma_server *s)
{
    oma_db *db = NULL;
    pthread_mutex_lock(&s->pool_mu);
    if (s->npool > 0) db = s->pool[--s->npool];
    pthread_mutex_unlock(&s->pool_mu);
    if (db) return db;
    char err[256];
    if (oma_db_open(&db, s->db_url, 0, err, sizeof err) != 0) {
        fprintf(stderr, "oma: db: %s\n", err);
        return NULL;
    }
    return db;
}

void oma_server_db_put(struct oma_server *s, oma_db *db)
{
    if (!db) return;
    pthread_mutex_lock(&s->pool_mu);
    if (s->npool < OMA_DBPOOL_MAX) {
        s->pool[s->npool++] = db;
        db = NULL;
    }
    pthread_mutex_unlock(&s->pool_mu);
    if (db) oma_db_close(db);
}

void oma_server_db_close_all(struct oma_server *s)
{
    pthread_mutex_lock(&s->pool_mu);
    for (int i = 0; i < s->npool; i++) oma_db_close(s->pool[i]);
    s->npool = 0;
    pthread_mutex_unlock(&s->pool_mu);
}
