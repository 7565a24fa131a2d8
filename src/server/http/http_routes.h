/* http_routes.h — the route handlers, one group per routes_*.c file, and small helpers
 * they share (routes_util.c). The table that maps paths to them is routes_table.c. */
#ifndef OMA_SERVER_HTTP_ROUTES_H
#define OMA_SERVER_HTTP_ROUTES_H

#include "server/http/http.h"

/* routes_meta.c */
void oma_route_health(oma_req *r);
void oma_route_capabilities(oma_req *r);
/* routes_auth.c */
void oma_route_signup(oma_req *r);
/* The log-in back-off, on the I/O thread before the hashing lane: 429 when blocked. */
void oma_route_login_precheck(oma_req *r);
void oma_route_login(oma_req *r);
void oma_route_logout(oma_req *r);
void oma_route_me(oma_req *r);
/* routes_uploads.c */
void oma_route_upload_create(oma_req *r);
void oma_route_upload_get(oma_req *r);
void oma_route_upload_file(oma_req *r);
/* Stores an image sent in a request body as the artist's upload (checked as POST /api/uploads
 * checks a file). 0 with id_out (>= 40 bytes), else replied. */
int oma_route_store_upload(oma_req *r, const uint8_t *data, size_t len, char *id_out);
/* routes_webtoons.c */
void oma_route_webtoon_create(oma_req *r);
void oma_route_webtoon_list(oma_req *r);
void oma_route_webtoon_get(oma_req *r);
void oma_route_webtoon_delete(oma_req *r);
void oma_route_sample_add(oma_req *r);
void oma_route_sample_delete(oma_req *r);
void oma_route_styles_list(oma_req *r);
/* routes_jobs.c */
void oma_route_job_create(oma_req *r);
void oma_route_job_list(oma_req *r);
void oma_route_job_get(oma_req *r);
void oma_route_job_events(oma_req *r);
void oma_route_job_preview(oma_req *r);
void oma_route_job_losses(oma_req *r);
void oma_route_job_output(oma_req *r);
void oma_route_job_cancel(oma_req *r);
/* routes_assets.c */
void oma_route_asset_create(oma_req *r);
void oma_route_asset_list(oma_req *r);
void oma_route_asset_get(oma_req *r);
void oma_route_asset_file(oma_req *r);
void oma_route_asset_delete(oma_req *r);

/* routes_tokens.c */
void oma_route_token_create(oma_req *r);
void oma_route_token_list(oma_req *r);
void oma_route_token_revoke(oma_req *r);
/* routes_sdapi.c, routes_sdapi_info.c, routes_sdapi_progress.c: AUTOMATIC1111's API */
void oma_route_sdapi_txt2img(oma_req *r);
void oma_route_sdapi_img2img(oma_req *r);
void oma_route_sdapi_samplers(oma_req *r);
void oma_route_sdapi_schedulers(oma_req *r);
void oma_route_sdapi_sd_models(oma_req *r);
void oma_route_sdapi_loras(oma_req *r);
void oma_route_sdapi_embeddings(oma_req *r);
void oma_route_sdapi_options_get(oma_req *r);
void oma_route_sdapi_options_set(oma_req *r);
void oma_route_sdapi_png_info(oma_req *r);
void oma_route_sdapi_progress(oma_req *r);
void oma_route_sdapi_interrupt(oma_req *r);
void oma_route_sdapi_skip(oma_req *r);
/* routes_sdapi_empty.c: what A1111 lists and this server has none of */
void oma_route_sdapi_empty_list(oma_req *r);
void oma_route_sdapi_null(oma_req *r);
void oma_route_sdapi_scripts(oma_req *r);
void oma_route_sdapi_cmd_flags(oma_req *r);

/* routes_util.c */
/* The captured id r->param[i] if it is well-formed; otherwise replies 404 and returns NULL. */
const char *oma_route_id(oma_req *r, size_t i, const char *what);
/* Replies 500 with the db's message; always returns -1. */
int oma_route_dberr(oma_req *r, const char *what);
/* 1 if the row `SELECT 1 FROM <table> WHERE id = ? AND artist_id = ?` exists, 0 if not,
 * -1 on error (table is one of ours, never user input). */
int oma_route_owned(oma_req *r, const char *table, const char *id);
/* 0 when the artist owns row id of table; else replies (404 "no such <what>", or 500 while
 * "finding the <what>") and returns -1. */
int oma_route_require_owned(oma_req *r, const char *table, const char *id, const char *what);
/* Steps st (prepared and bound; its first column an id), finalises it and returns the array of
 * one(db, id, artist) for each row, leaving out rows gone in between. NULL when it failed, after
 * replying (500 "while <what>" for the db). */
json_t *oma_route_list(oma_req *r, oma_stmt *st, const char *what,
                       json_t *(*one)(oma_db *db, const char *id, const char *artist_id));
/* Reads the whole object at key (bounded); replies on failure; returns 0 ok. */
int oma_route_storage_get(oma_req *r, const char *key, size_t max, uint8_t **data, size_t *len);
/* Steps st (prepared and bound; columns storage_key, mime), finalises it and sends the stored
 * object with that type, streamed whatever its size (oma_reply_stored): 404 "no such <what>"
 * without a row, 500 "database error while reading the <what>" on a db error. */
void oma_route_send_stored(oma_req *r, oma_stmt *st, const char *what);
/* Parses a non-negative integer query parameter within [lo, hi], default def. -1 (replied) if bad. */
int oma_route_query_int(oma_req *r, const char *name, long lo, long hi, long def, long *out);
/* Upload metadata row as JSON, or NULL if absent/not the artist's. */
json_t *oma_route_upload_json(oma_db *db, const char *upload_id, const char *artist_id);

#endif
