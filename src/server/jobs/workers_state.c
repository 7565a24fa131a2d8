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
