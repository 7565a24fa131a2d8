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

#include "server/store/db.h"
#include "server/store/storage.h"

#define OMA_JOB_LEASE_SECONDS 30
#define OMA_JOB_MAX_ATTEMPTS 3
#define OMA_JOB_QUEUED_PER_ARTIST 20   /* more waiting jobs of one artist: 429 at submission */

/* Inserts a queued job owned by artist_id. inputs: object name -> upload id, or an array of
 * upload ids (already checked to belong to the artist by the caller); NULL = {}. params: an
 * object or NULL. id_out gets the new id (>= 40 bytes). */
int oma_jobs_enqueue(oma_db *db, const char *artist_id, const char *kind, const json_t *params,
                     const json_t *inputs, const char *webtoon_id, char *id_out, size_t id_len,
                     char *err, size_t errlen);

/* Loads a job as the API's JSON object (see docs/API.md), or NULL if absent or not the
 * artist's (artist_id NULL = any owner). Besides the documented fields it carries
 * "webtoon_id", "preview" ("/api/jobs/ID/preview" or null) and "cancel_requested". */
json_t *oma_jobs_get_json(oma_db *db, const char *job_id, const char *artist_id);
/* The same with the detail's whole loss history (the job JSON above carries its latest
 * OMA_JOB_LOSS_WINDOW points and "loss_count"). */
json_t *oma_jobs_get_json_full(oma_db *db, const char *job_id, const char *artist_id);

/* jobs_losses.c. A detail object (owned, as parsed from the row) with a "losses" array cut to
 * its last OMA_JOB_LOSS_WINDOW points and "loss_count" (the full length, unless the object
 * already says more) added; anything else comes back as it is. Returns the (owned) result. */
#define OMA_JOB_LOSS_WINDOW 50
json_t *oma_jobs_detail_window(json_t *detail);
/* {"losses": [[total_step, loss], ...] (all), "loss_count", "resumed_from", "sample_steps",
 * "status"} of the artist's job (artist_id NULL = any); NULL when there is no such job. The
 * points come from the job_losses rows (a detail written before them: its own array). */
json_t *oma_jobs_losses_json(oma_db *db, const char *job_id, const char *artist_id);
/* Appends a detail's loss points [[step, loss], ...] (ascending steps) to the job's job_losses
 * rows: the points after *written (what this run stored last; 0 for none, then the whole
 * history is written once, e.g. after a resume) replace or add rows, rows after the last point
 * go (a resumed run redoes them). *written becomes the last point's step. 0, or -1. */
int oma_jobs_store_losses(oma_db *db, const char *job_id, const json_t *losses, int64_t *written);

/* Cancels a job of the artist: a queued one becomes cancelled at once; a running one gets
 * cancel_requested and ends cancelled when its worker next reports progress; a finished one
 * is left as it is. 0 ok, 1 not found, -1 error. */
int oma_jobs_cancel(oma_db *db, const char *job_id, const char *artist_id);

/* Handles running jobs whose lease expired before now: back to queued, or failed with
 * "worker died N times" once max_attempts is used, or cancelled if a cancel was pending.
 * Returns how many jobs it changed; -1 on error. */
int oma_jobs_requeue_expired(oma_db *db, int64_t now);

/* Ends now the lease of running jobs whose worker id ("host:pid:...") names this host and a
 * process that no longer exists (jobs_recover.c), so that oma_jobs_requeue_expired(now) takes
 * them at once. Returns how many; -1 on error. */
int oma_jobs_release_dead_local(oma_db *db, const char *host, int64_t now);

/* The artist's recent jobs, newest first, as {"jobs":[job objects]}; limit clamped to 1..100. */
json_t *oma_jobs_list_json(oma_db *db, const char *artist_id, int limit);

/* ---- Lower-level queue steps: used by the workers, exposed for tests and tools. ---- */

/* Lease length in seconds for claims and renewals (default OMA_JOB_LEASE_SECONDS). Tests
 * shorten it; process-wide. */
void oma_jobs_set_lease_seconds(int seconds);
int oma_jobs_lease_seconds(void);

/* How many of the artist's jobs are queued; -1 on error. */
int oma_jobs_count_queued(oma_db *db, const char *artist_id);

/* Claims a queued job for worker_id in one BEGIN IMMEDIATE transaction, fairly across
 * artists: the oldest queued job of the artist with the fewest running jobs. Status
 * running, attempts+1, lease_until = now + lease, worker_id, started_at. Returns 1 with the id
 * in id_out (>= 40 bytes), 0 if nothing is queued, -1 on error. */
int oma_jobs_claim(oma_db *db, const char *worker_id, int64_t now, char *id_out, size_t id_len);
/* jobs_claim.c. The same, taking only jobs whose kind matches one of kinds: comma-separated
 * patterns where '*' is any run of characters ("generate.*,style.train"; NULL or "" = any). */
int oma_jobs_claim_kinds(oma_db *db, const char *worker_id, int64_t now, const char *kinds, char *id_out,
                         size_t id_len);
/* 1 if kinds is a valid pattern list (1..16 patterns of [A-Za-z0-9._*-], 1..64 chars). */
int oma_jobs_kinds_valid(const char *kinds);
/* 1 if kind matches one of the patterns (NULL or "" offers every kind). */
int oma_jobs_kind_offered(const char *kinds, const char *kind);

/* Renews the lease of a job worker_id runs, and writes progress when progress >= 0, message
 * when non-NULL (cut to 200 bytes), preview_key when non-NULL. Returns 0 carry on, 1 a cancel
 * was requested, 2 the job is no longer this worker's (its lease was taken back), -1 error. */
int oma_jobs_heartbeat(oma_db *db, const char *job_id, const char *worker_id, int64_t now,
                       double progress, const char *message, const char *preview_key);

/* Sets the job's progress detail (a kind's own fields, the API's "detail"; NULL clears it),
 * if worker_id still runs it. It stays after the job ends and across attempts, so a resumed
 * job shows its history until it reports again. A "losses" array is not stored whole: the row
 * keeps its last OMA_JOB_LOSS_WINDOW points and "loss_count", and the points go to job_losses
 * (oma_jobs_store_losses with *written; set_detail: all of them each time). 0, 2 not this
 * worker's, -1 error (also when the stored JSON is over OMA_JOB_DETAIL_MAX bytes). */
#define OMA_JOB_DETAIL_MAX (1 << 20)
int oma_jobs_set_detail(oma_db *db, const char *job_id, const char *worker_id, const json_t *detail);
int oma_jobs_set_detail_run(oma_db *db, const char *job_id, const char *worker_id,
                            const json_t *detail, int64_t *written);

/* Records one output file (its bytes already stored under storage_key); replaces a same-named
 * one. Outputs keep the order they were added in. */
int oma_jobs_add_output_row(oma_db *db, const char *job_id, const char *name, const char *mime,
                            const char *storage_key, int64_t bytes);

/* Ends a job worker_id runs. status "succeeded" (result: object or NULL), "failed" (error),
 * "cancelled", or "queued" (interrupted by a shutdown: put back, the attempt not counted).
 * Any outcome but success drops the job's output rows. Runs no transaction of its own (the
 * caller may wrap it). Returns 0, 1 if the job is no longer this worker's, -1 on error. */
int oma_jobs_finish(oma_db *db, const char *job_id, const char *worker_id, const char *status,
                    const json_t *result, const char *error);

/* The worker pool. */
typedef struct oma_workers oma_workers;
typedef struct oma_workers_config {
    const char *db_url;       /* each worker opens its own handle */
    const char *storage_url;
    const char *models_dir;   /* may be NULL */
    const char *data_dir;
    int n_workers;            /* >= 1 */
    int poll_ms;              /* idle poll interval (default 200) */
    const char *kinds;        /* the kinds this pool runs (patterns as above; NULL = all) */
} oma_workers_config;

int oma_workers_start(oma_workers **out, const oma_workers_config *cfg, char *err, size_t errlen);
/* Asks workers to stop after their current job's next progress point and joins them. A job
 * interrupted this way is put back to queued (not failed). */
void oma_workers_stop(oma_workers *w);

/* Runs exactly one claimable job in the calling thread (for tests and `oma worker --once`).
 * Returns 1 if a job ran, 0 if none was queued, -1 on error. */
int oma_workers_run_one(oma_db *db, oma_storage *st, const char *models_dir, const char *data_dir,
                        const char *worker_id, char *err, size_t errlen);

/* workers_registry.c: every worker pool (an `oma worker` process, or the threads of `oma
 * serve --workers N`) keeps a row in the workers table fresh (its kinds, threads, host, last
 * seen); /api/capabilities counts a kind as available only while a live pool offers it. */
#define OMA_WORKER_LIVE_SECONDS 20
int oma_workers_registry_beat(oma_db *db, const char *pool_id, const char *host, const char *kinds, int threads,
                              int64_t now);
int oma_workers_registry_leave(oma_db *db, const char *pool_id);
/* 1 when a pool seen within OMA_WORKER_LIVE_SECONDS before now offers kind, 0 not, -1 error. */
int oma_workers_registry_offers(oma_db *db, const char *kind, int64_t now);
/* {"pools": n, "threads": n} of the live pools, or NULL on error. */
json_t *oma_workers_registry_json(oma_db *db, int64_t now);

#endif
