/* jobs.h — the job queue and the workers that run it.
 *
 * A job is a row (queued -> running -> succeeded | failed | cancelled) with attempts, a lease
 * (lease_until, unix seconds) and a heartbeat. A worker claims the oldest queued job in one
 * transaction, renews its lease while it runs, and writes progress into the row; readers
 * (the SSE route) poll the row, so this works across processes and machines. On start-up, and
 * periodically, jobs whose lease expired (their worker died) go back to queued, unless they
 * have used max_attempts, in which case they fail with a clear message. Inputs are upload ids
 * fetched from storage; outputs are stored under jobs/<id>/<name>.
 */
#ifndef OMA_SERVER_JOBS_H
#define OMA_SERVER_JOBS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "server/db.h"
#include "server/storage.h"

#define OMA_JOB_LEASE_SECONDS 30
#define OMA_JOB_MAX_ATTEMPTS 3

/* Inserts a queued job owned by artist_id. inputs: object name -> upload id (already checked
 * to belong to the artist by the caller). id_out gets the new id (>= 40 bytes). */
int oma_jobs_enqueue(oma_db *db, const char *artist_id, const char *kind, const json_t *params,
                     const json_t *inputs, const char *webtoon_id, char *id_out, size_t id_len,
                     char *err, size_t errlen);

/* Loads a job as the API's JSON object (see docs/API.md), or NULL if absent or not the
 * artist's (artist_id NULL = any owner). */
json_t *oma_jobs_get_json(oma_db *db, const char *job_id, const char *artist_id);

/* Cancels a queued or running job of the artist. 0 ok, 1 not found, -1 error. */
int oma_jobs_cancel(oma_db *db, const char *job_id, const char *artist_id);

/* Requeues running jobs whose lease expired before now (returns how many; -1 on error). */
int oma_jobs_requeue_expired(oma_db *db, int64_t now);

/* The worker pool. */
typedef struct oma_workers oma_workers;
typedef struct oma_workers_config {
    const char *db_url;       /* each worker opens its own handle */
    const char *storage_url;
    const char *models_dir;   /* may be NULL */
    const char *data_dir;
    int n_workers;            /* >= 1 */
    int poll_ms;              /* idle poll interval (default 200) */
} oma_workers_config;

int oma_workers_start(oma_workers **out, const oma_workers_config *cfg, char *err, size_t errlen);
/* Asks workers to stop after their current job's next progress point and joins them. A job
 * interrupted this way is put back to queued (not failed). */
void oma_workers_stop(oma_workers *w);

/* Runs exactly one claimable job in the calling thread (for tests and `oma worker --once`).
 * Returns 1 if a job ran, 0 if none was queued, -1 on error. */
int oma_workers_run_one(oma_db *db, oma_storage *st, const char *models_dir, const char *data_dir,
                        const char *worker_id, char *err, size_t errlen);

#endif
