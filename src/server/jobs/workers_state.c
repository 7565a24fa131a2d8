/* workers_state.c — a job's state files: what a kind keeps across attempts (a training
 * checkpoint and its loss history), stored under jobstate/<job id>/<name>, apart from the
 * job's outputs (jobs/<id>/, dropped when an attempt fails or is interrupted). A file on disk
 * goes in and comes back as a file, because that is what the training engine reads and
 * writes. The worker drops the state once the job ends.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/files.h"
#include "server/jobs/workers_internal.h"

#define STATE_FILE_MAX ((size_t)2 << 30)

static int state_key(const char *job_id, const char *name, char *key, size_t len)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64 || strchr(name, '/') || name[0] == '.') return -1;
    return snprintf(key, len, "jobstate/%s/%s", job_id, name) < (int)len && oma_storage_key_valid(key) ? 0 : -1;
}

int oma_job_state_put(oma_storage *s, const char *job_id, const char *name, const char *path, char *err,
                      size_t errlen)
{
    char key[160];
    if (state_key(job_id, name, key, sizeof key) != 0) {
        snprintf(err, errlen, "bad state name");
        return -1;
    }
    unsigned char *data = NULL;
    size_t len = 0;
    if (oma_read_file(path, STATE_FILE_MAX, &data, &len, err, errlen) != 0) return -1;
    int rc = oma_storage_put(s, key, data, len, err, errlen);
    free(data);
    return rc;
}

int oma_job_state_get(oma_storage *s, const char *job_id, const char *name, const char *path, size_t max_len,
                      char *err, size_t errlen)
{
    char key[160];
    if (state_key(job_id, name, key, sizeof key) != 0) {
        snprintf(err, errlen, "bad state name");
        return -1;
    }
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = oma_storage_get(s, key, max_len, &data, &len, err, errlen);
    if (rc != 0) return rc;
    rc = oma_write_file(path, data, len, err, errlen);
    free(data);
    return rc;
}

typedef struct state_keys {
    char (*keys)[160];
    size_t n, cap;
} state_keys;

static int collect(const char *key, size_t len, void *ud)
{
    (void)len;
    state_keys *k = ud;
    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 32;
        char(*v)[160] = realloc(k->keys, cap * sizeof *v);
        if (!v) return 1;
        k->keys = v;
        k->cap = cap;
    }
    snprintf(k->keys[k->n++], sizeof k->keys[0], "%s", key);
    return 0;
}

void oma_job_state_drop(oma_storage *s, const char *job_id)
{
    char prefix[96], err[256];
    if (snprintf(prefix, sizeof prefix, "jobstate/%s/", job_id) >= (int)sizeof prefix) return;
    state_keys k = {0};
    if (oma_storage_list(s, prefix, collect, &k, err, sizeof err) == 0)
        for (size_t i = 0; i < k.n; i++) oma_storage_delete(s, k.keys[i], err, sizeof err);
    free(k.keys);
}

/* ---- sweep: state of jobs that ended without their worker dropping it ----
 * A job can reach a final state away from the run loop: its worker died max_attempts times
 * (oma_jobs_requeue_expired fails it), a pending cancel lands after the worker is gone, a
 * queued job (holding state from an earlier attempt) is cancelled. The sweep lists
 * jobstate/, and drops the state of every job whose row is final or gone. */

/* Job ids (the part between "jobstate/" and the next '/'), each once: keys come sorted. */
static int collect_job(const char *key, size_t len, void *ud)
{
    (void)len;
    state_keys *k = ud;
    const char *id = key + strlen("jobstate/");
    const char *slash = strchr(id, '/');
    size_t n = slash ? (size_t)(slash - id) : 0;
    if (n == 0 || n >= sizeof k->keys[0]) return 0;
    if (k->n && strncmp(k->keys[k->n - 1], id, n) == 0 && k->keys[k->n - 1][n] == '\0') return 0;
    if (k->n == k->cap) {
        size_t cap = k->cap ? 2 * k->cap : 32;
        char(*v)[160] = realloc(k->keys, cap * sizeof *v);
        if (!v) return 1;
        k->keys = v;
        k->cap = cap;
    }
    memcpy(k->keys[k->n], id, n);
    k->keys[k->n++][n] = '\0';
    return 0;
}

/* 1 when the job's row is final (succeeded, failed, cancelled) or gone, 0 when it still
 * runs or waits, -1 on a database error. */
static int job_over(oma_db *db, const char *job_id)
{
    oma_stmt *st = NULL;
    if (oma_db_prepare(db, "SELECT status FROM jobs WHERE id = ?", &st) != 0) return -1;
    int rc = oma_stmt_bind_text(st, 1, job_id) == 0 ? oma_stmt_step(st) : -1;
    int over = -1;
    if (rc == 0) over = 1; /* no row */
    else if (rc == 1) {
        const char *s = oma_stmt_text(st, 0);
        over = s && (strcmp(s, "succeeded") == 0 || strcmp(s, "failed") == 0 || strcmp(s, "cancelled") == 0);
    }
    oma_stmt_finalize(st);
    return over;
}

int oma_job_state_sweep(oma_db *db, oma_storage *s)
{
    char err[256];
    state_keys k = {0};
    if (oma_storage_list(s, "jobstate/", collect_job, &k, err, sizeof err) != 0) {
        free(k.keys);
        return -1;
    }
    int dropped = 0, rc = 0;
    for (size_t i = 0; i < k.n; i++) {
        int over = job_over(db, k.keys[i]);
        if (over < 0) rc = -1;
        else if (over) {
            oma_job_state_drop(s, k.keys[i]);
            dropped++;
        }
    }
    free(k.keys);
    return rc < 0 ? -1 : dropped;
}
