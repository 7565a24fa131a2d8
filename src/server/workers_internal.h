/* workers_internal.h — what the worker pool (workers_pool.c) needs from the one-job run loop
 * (workers.c): the same loop as oma_workers_run_one, plus a flag that asks a running job to
 * stop at its next progress point so a shutdown puts it back in the queue. */
#ifndef OMA_SERVER_WORKERS_INTERNAL_H
#define OMA_SERVER_WORKERS_INTERNAL_H

#include <stdatomic.h>

#include "server/jobs.h"

int oma_workers_run_one_ex(oma_db *db, oma_storage *st, const char *models_dir, const char *data_dir,
                           const char *worker_id, const atomic_int *stop, char *err, size_t errlen);

#endif
