/* workers_internal.h — what the worker pool (workers_pool.c) needs from the one-job run loop
 * (workers.c): the same loop as oma_workers_run_one, plus a flag that asks a running job to
 * stop at its next progress point so a shutdown puts it back in the queue. */
#ifndef OMA_SERVER_WORKERS_INTERNAL_H
#define OMA_SERVER_WORKERS_INTERNAL_H

#include <stdatomic.h>

#include "server/jobs/jobs.h"

/* find resolves a kind name (NULL = the built-in registry, oma_job_kind_find); tests pass
 * their own to drive the loop with kinds that misbehave on purpose. */
typedef const struct oma_job_kind *(*oma_kind_finder)(const char *name);
int oma_workers_run_one_ex(oma_db *db, oma_storage *st, const char *models_dir, const char *data_dir,
                           const char *worker_id, const atomic_int *stop, oma_kind_finder find, char *err,
                           size_t errlen);
/* The same, claiming only jobs of the kinds patterns (jobs.h; NULL = any). */
int oma_workers_run_one_kinds(oma_db *db, oma_storage *st, const char *models_dir, const char *data_dir,
                              const char *worker_id, const atomic_int *stop, oma_kind_finder find,
                              const char *kinds, char *err, size_t errlen);

/* params.style_id -> params.style (the data of a ready style of the same artist). 0, or -1
 * with err ("style not found", "the style is not ready"). No style_id: 0, nothing done. A
 * trained style (kind "lora") also gets lora_path / embedding_path: its files copied from
 * storage into data_dir/cache/styles/<id>/ (workers_style.c). */
int oma_workers_fill_style(oma_db *db, oma_storage *s, const char *data_dir, const char *artist_id, json_t *params,
                           char *err, size_t errlen);

/* After a successful job of a webtoon (webtoon_id non-NULL) whose result has a "style" object:
 * inserts a styles row (name = params.name, kind "lora" when style.kind says so, else
 * "profile", status "ready") and sets
 * result.style_id. 0 (also when there is nothing to save) or -1. */
int oma_workers_save_style(oma_db *db, const char *job_id, const char *artist_id, const char *webtoon_id,
                           const json_t *params, json_t *result);

/* A job's state files (workers_state.c): kept across attempts under jobstate/<job_id>/<name>
 * (name: [A-Za-z0-9._-], up to 64 bytes). put copies the file at path in; get writes it back
 * to path (0), or returns 1 when nothing is stored under name, -1 on error (err). drop
 * deletes them all. */
int oma_job_state_put(oma_storage *s, const char *job_id, const char *name, const char *path, char *err,
                      size_t errlen);
int oma_job_state_get(oma_storage *s, const char *job_id, const char *name, const char *path, size_t max_len,
                      char *err, size_t errlen);
void oma_job_state_drop(oma_storage *s, const char *job_id);
/* Drops the state of every job that is final (succeeded, failed, cancelled) or no longer
 * exists: those that ended away from the run loop (worker died max_attempts times, a cancel
 * of a queued job). The number of jobs dropped, or -1 (a list or database error). */
int oma_job_state_sweep(oma_db *db, oma_storage *s);

/* Removes <data_dir>/tmp/train-<pid>-* work folders whose process is gone (or is this one:
 * call before any worker starts) and the older train-XXXXXX ones that name no process. The
 * number removed, or -1 when the folder cannot be read (a missing one is 0). */
int oma_train_tmp_sweep(const char *data_dir);

#endif
