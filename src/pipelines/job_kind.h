/* job_kind.h — what a pipeline offers the job system: a named kind of work.
 *
 * The server knows nothing about tensors and a pipeline knows nothing about HTTP; they meet
 * here. A kind validates its JSON params (before the job is queued, so a bad request is a 400
 * and never a failed job), then runs with its inputs already fetched as bytes, reporting
 * progress through a callback that also tells it to stop when the job was cancelled. Results
 * are named files (PNG, JSON, ...) plus a small JSON summary.
 */
#ifndef OMA_PIPELINES_JOB_KIND_H
#define OMA_PIPELINES_JOB_KIND_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct oma_job_input {
    const char *name;        /* the key under "inputs" in the request, e.g. "image" */
    const uint8_t *data;     /* the uploaded file's bytes */
    size_t len;
    const char *mime;        /* "image/png", ... */
} oma_job_input;

typedef struct oma_job_ctx oma_job_ctx;
struct oma_job_ctx {
    const json_t *params;               /* validated params (an object) */
    const oma_job_input *inputs;
    size_t n_inputs;
    const char *models_dir;             /* OMA_MODELS, or NULL when none */
    const char *data_dir;               /* server data folder, for kind-specific caches */

    /* Reports progress 0..1 with a short message and an optional PNG preview (may be NULL).
     * Returns non-zero when the job was cancelled: the kind must then stop and return -1. */
    int (*progress)(oma_job_ctx *ctx, double fraction, const char *message,
                    const uint8_t *preview_png, size_t preview_len);
    /* Adds a result file; name like "image.png" or "pose.json". 0 on success. */
    int (*add_output)(oma_job_ctx *ctx, const char *name, const char *mime,
                      const uint8_t *data, size_t len);
    /* Optional (NULL when the job system does not offer them; tests may leave them out).
     * progress_detail: progress as above plus a JSON object the job carries as "detail"
     * (the API and SSE pass it on as it is, e.g. stage, step, loss, eta_s). Same return. */
    int (*progress_detail)(oma_job_ctx *ctx, double fraction, const char *message, const json_t *detail,
                           const uint8_t *preview_png, size_t preview_len);
    /* Job state that outlives one attempt (a training checkpoint): a file copied into the
     * job's storage under name ([A-Za-z0-9._-], up to 64 bytes), and back. state_get returns
     * 0 with the file written to path, 1 when nothing is stored under name, -1 on error;
     * max_len bounds what is read. The state is deleted once the job ends (succeeded, failed, cancelled). */
    int (*state_put)(oma_job_ctx *ctx, const char *name, const char *path, char *err, size_t errlen);
    int (*state_get)(oma_job_ctx *ctx, const char *name, const char *path, size_t max_len, char *err,
                     size_t errlen);
    json_t *result;                     /* the kind may set an object summarising the result */
    char error[512];                    /* on failure: for a person, one line */
    void *opaque;                       /* the job system's own state */
};

typedef struct oma_job_kind {
    const char *name;                   /* "image.normalize", "generate.txt2img", ... */
    const char *title;                  /* for people: "Normalise an image" */
    /* Names of required inputs, NULL-terminated (may be NULL for none). */
    const char *const *required_inputs;
    /* Non-zero when the kind can run on this server now (e.g. its weights are present). */
    int (*available)(const char *models_dir);
    /* Checks params (may be NULL = accept an object). 0 if fine, else -1 with err filled. */
    int (*validate)(const json_t *params, char *err, size_t errlen);
    /* Does the work. 0 on success; -1 on failure (ctx->error says why) or when cancelled. */
    int (*run)(oma_job_ctx *ctx);
} oma_job_kind;

/* The registry of every kind built in (pipelines/job_kinds.c). */
size_t oma_job_kinds_count(void);
const oma_job_kind *oma_job_kind_at(size_t i);
const oma_job_kind *oma_job_kind_find(const char *name);

/* Helper for kinds: the input named name, or NULL. */
const oma_job_input *oma_job_input_find(const oma_job_ctx *ctx, const char *name);

#endif
