/* sdapi.h — what the AUTOMATIC1111-compatible routes (routes_sdapi*.c) share: the artist's
 * A1111 options, the models folder as A1111 lists it, A1111's error shapes, and the infotext
 * parser (sdapi_infotext.c). docs/API.md says what is compatible and what differs. */
#ifndef OMA_SERVER_API_SDAPI_H
#define OMA_SERVER_API_SDAPI_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "server/http/http.h"

#define SDAPI_OPTIONS_MAX (64 * 1024)   /* bytes of one artist's stored options (JSON) */

/* One model of the models folder as A1111 names it. */
typedef struct sdapi_model {
    char name[256];        /* the entry: "v1-5.safetensors" or a diffusers folder's name */
    char model_name[256];  /* without ".safetensors" */
    int is_root;           /* the models folder is this model (no "model" param picks it) */
} sdapi_model;

/* The model an A1111 name (title, file name or model_name) means: 0 found, 1 none, -1 no folder. */
int sdapi_model_find(const char *models_dir, const char *want, sdapi_model *out);
/* The model a job runs when none is named (the first by name): 0, or -1 when there is none. */
int sdapi_model_default(const char *models_dir, sdapi_model *out);
/* A1111's SDModelItem array for the folder (empty when there is none). NULL out of memory. */
json_t *sdapi_models_json(const char *models_dir);

/* The artist's stored options (an object, owned; {} when none), or NULL on a db error. */
json_t *sdapi_options_load(oma_db *db, const char *artist_id);
/* Replaces them. 0, or -1 on a db error. */
int sdapi_options_save(oma_db *db, const char *artist_id, const json_t *options);
/* The model the artist's options select, falling back to the default one. 0, -1 none. */
int sdapi_model_current(oma_db *db, const char *artist_id, const char *models_dir, sdapi_model *out);

/* A1111 (pydantic) validation error: 422 {"detail":[{"loc":["body",field],"msg","type"}]}. */
void sdapi_reply_422(oma_req *r, const char *field, const char *msg, const char *type);
/* An exception that is not an HTTPException in A1111 (its class name and str(e)): 500. */
void sdapi_reply_exception(oma_req *r, unsigned status, const char *cls, const char *msg);

/* A1111's parse_generation_parameters (modules/infotext_utils.py) in C: the prompt, the
 * negative prompt and every "Key: value" of the last line, with its defaults for keys left out.
 * NULL out of memory. */
json_t *sdapi_parse_infotext(const char *text);

/* Decodes a request's base64 image (a "data:image/...;base64," prefix allowed; URLs refused as
 * A1111 does by default), at most 20 MiB. 0 with *out malloc'ed, else replied (A1111: 500
 * "Invalid encoded image"). */
int sdapi_decode_image(oma_req *r, const char *field, const char *text, uint8_t **out, size_t *len);

/* Base64 of a stored object (at most max bytes), NULL-terminated and malloc'ed; NULL on failure. */
char *sdapi_stored_b64(oma_req *r, const char *key, size_t max);

#endif
