/* http.h — the HTTP layer between libmicrohttpd and the route handlers.
 *
 * One oma_req lives for one request. The dispatcher (http.c) finds the route first, checks
 * auth and the body limit *before* reading the body (an oversized or unauthenticated upload
 * gets its error at once), gathers a JSON body (1 MiB) or streams a multipart body (20 MiB)
 * into the multipart parser, then calls the handler, which answers with one of the
 * oma_reply_* helpers. Every error has the one shape {"error":{"code","message"}}.
 * Handlers never see MHD types except through these helpers.
 */
#ifndef OMA_SERVER_HTTP_H
#define OMA_SERVER_HTTP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "server/store/db.h"
#include "server/http/multipart.h"

#define OMA_HTTP_JSON_LIMIT (1u << 20)          /* 1 MiB */
#define OMA_HTTP_UPLOAD_LIMIT (20u << 20)       /* 20 MiB */
#define OMA_HTTP_JSON_IMAGES_LIMIT (28u << 20)  /* 28 MiB: a 20 MiB image in base64, and the rest */
#define OMA_HTTP_MAX_SEGS 8
/* Connections one client address may hold (env OMA_MAX_CONNECTIONS_PER_ADDRESS, 0 = no cap)
 * and the time a connection has to deliver a request head (env OMA_HEADER_DEADLINE_MS). */
#define OMA_HTTP_PER_ADDRESS_DEFAULT 32
#define OMA_HTTP_HEADER_DEADLINE_MS 15000
#define OMA_HTTP_MAX_CONNECTIONS 4096       /* in all (the daemon's I/O threads are few) */
#define OMA_HTTP_LANE_THREADS 4             /* slow handlers at once */
#define OMA_HTTP_LANE_QUEUE 256             /* slow handlers waiting; more is a 503 */
#define OMA_HTTP_HASH_LANE_THREADS 2        /* sign-ups and log-ins at once */
#define OMA_HTTP_HASH_LANE_QUEUE 16         /* waiting; more is a 429 */
#define OMA_HTTP_MAX_PATH 1024
#define OMA_HTTP_STREAMS_MAX 64             /* S3 downloads being sent at once; more is a 503 */

struct oma_server;
struct MHD_Connection;
struct MHD_Response;

/* A suspended connection on the ticker's list (http_sse.c): event streams and waits. */
typedef struct oma_tick_item {
    struct MHD_Connection *conn;
    struct oma_tick_item *next;
} oma_tick_item;

/* JSON_IMAGES: a JSON body carrying base64 images (the A1111 API's img2img, png-info), read
 * as JSON with the larger limit OMA_HTTP_JSON_IMAGES_LIMIT. */
typedef enum { OMA_BODY_NONE = 0, OMA_BODY_JSON, OMA_BODY_MULTIPART, OMA_BODY_JSON_IMAGES } oma_body_kind;

typedef struct oma_req {
    struct oma_server *srv;
    struct MHD_Connection *conn;
    const char *method;
    const char *url;           /* as MHD decoded it (not used for routing) */
    char rawpath[OMA_HTTP_MAX_PATH];   /* the request line's path, still percent-encoded */
    int raw_overlong;          /* the raw path did not fit rawpath */
    int started;               /* begin() has run */
    const char *version;       /* "HTTP/1.1" */
    const struct oma_route *route;
    /* path split on '/', without the empty first segment; points into pathbuf */
    char pathbuf[OMA_HTTP_MAX_PATH];
    const char *segs[OMA_HTTP_MAX_SEGS];
    size_t nseg;
    const char *param[4];      /* the route's :captures, in order */
    size_t nparam;

    oma_db *db;                /* from the server's pool; released when the request ends */

    /* body */
    oma_body_kind body_kind;
    size_t body_limit;
    size_t body_seen;          /* bytes accepted */
    size_t body_total;         /* bytes received, also after an error */
    uint8_t *body;             /* JSON body, NUL-terminated */
    size_t body_len, body_cap;
    oma_multipart *mp;
    uint8_t *file;             /* the multipart field "file" */
    size_t file_len, file_cap;
    char file_name[256];
    char file_type[128];
    int file_parts;
    int in_file;
    int body_error;            /* 0, or an HTTP status already decided while reading */
    char body_errcode[32];
    char body_errmsg[160];

    /* auth */
    char artist_id[72];
    int authed;

    /* the reply */
    unsigned status;
    struct MHD_Response *resp;
    int done;                  /* handler has run */
    int close_now;             /* a framing error: answer at once and close the connection */
    int lane_state;            /* 0 not on the slow lane, 1 its handler runs there, 2 done */
    /* a handler that waits for something (oma_req_wait): polled every tick until it replies */
    int (*wait_poll)(struct oma_req *r, void *arg);
    void *wait_arg;
    void (*wait_free)(void *arg);
    int64_t wait_deadline_ms;  /* monotonic; past it the poll gets one last call with wait_expired */
    int wait_expired;
    oma_tick_item wait_tick;
    /* how the route wants errors shaped: 0 ours, 1 AUTOMATIC1111's (routes flagged A1111) */
    int a1111_errors;
} oma_req;

typedef void (*oma_route_fn)(oma_req *r);

/* AUTH: needs a session. SLOW: the handler may take long (storing an upload): it runs on
 * the slow lane (http_lane.h) with its connection suspended, never on one of the daemon's
 * I/O threads. HASH: the same on the password-hashing lane, whose short queue keeps a log-in
 * flood from delaying anything else (full: 429). */
/* A1111: an AUTOMATIC1111-compatible route (routes_sdapi*.c): errors take A1111's shape
 * ({"error","detail","body","errors"}), the session may also be an API token sent as HTTP Basic
 * (user: the artist's e-mail, password: the token), and a 401 asks for Basic. */
enum { OMA_ROUTE_AUTH = 1, OMA_ROUTE_SLOW = 2, OMA_ROUTE_HASH = 4, OMA_ROUTE_A1111 = 8 };

typedef struct oma_route {
    const char *method;        /* "GET", "POST", "DELETE" */
    const char *pattern;       /* "/api/jobs/:id/events"; ":name" captures one safe segment;
                                  "a|b" is a segment that is a or b */
    oma_route_fn fn;
    int flags;                 /* OMA_ROUTE_AUTH | OMA_ROUTE_SLOW | OMA_ROUTE_HASH */
    oma_body_kind body;
} oma_route;

/* Cheap checks a SLOW/HASH route runs on the I/O thread before it waits for a lane (they may
 * reply): handler -> its precheck (routes_table.c). */
typedef struct oma_route_precheck {
    oma_route_fn handler, precheck;
} oma_route_precheck;
extern const oma_route_precheck oma_route_prechecks[];
extern const size_t oma_route_prechecks_count;

/* The route table (routes_table.c). */
extern const oma_route oma_routes[];
extern const size_t oma_routes_count;

/* Router (http_router.c). Splits the raw (still percent-encoded) url into r->segs, decoding
 * each segment after the split; the query after '?' is ignored. 0 ok, -1 if the path is
 * unacceptable (404), -2 if an escape is broken or decodes to NUL, '/', '\\' or a control
 * character (400). */
int oma_http_split_path(oma_req *r, const char *url);
/* Finds the route for r->method and r->segs, filling r->param. Returns the route, or NULL
 * with *path_matched = 1 when the path exists for another method (405). */
const oma_route *oma_http_match(oma_req *r, int *path_matched, char *allow, size_t allowlen);
/* 1 when s is an id we could have issued: 1..64 lowercase hex digits. */
int oma_http_id_valid(const char *s);
/* 1 when s is a safe file-name segment: [A-Za-z0-9._-], 1..128 chars, not starting with '.'. */
int oma_http_name_valid(const char *s);

/* Header checks (http_guard.c); each replies and returns -1 when the request stops here.
 * framing: one Content-Length (digits only) and not beside Transfer-Encoding, one Host (needed
 * from HTTP/1.1 on): else 400 and the connection closes. origin: an unsafe request without a
 * Bearer token must not be cross-site (Sec-Fetch-Site, Origin vs Host / X-Forwarded-Host):
 * else 403. media_type: a JSON route takes only application/json: else 415. */
int oma_http_guard_framing(oma_req *r);
int oma_http_guard_origin(oma_req *r);
int oma_http_guard_media_type(oma_req *r);

/* Replies (http_reply.c). All take ownership of what they are given. */
void oma_reply_json(oma_req *r, unsigned status, json_t *body);
void oma_reply_error(oma_req *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void oma_reply_empty(oma_req *r, unsigned status);
/* data is malloc'ed and becomes the response's (freed by MHD). */
void oma_reply_bytes(oma_req *r, unsigned status, const char *mime, uint8_t *data, size_t len);
/* Adds a header to the reply already made (no-op if none). */
void oma_reply_header(oma_req *r, const char *name, const char *value);
/* 200 with the stored object key as it is read (http_stream.c): Content-Length from the
 * store, memory bounded whatever the size; 404 when the key is absent, 500 on a store error,
 * 503 when too many S3 downloads run. 0 when the 200 is made, -1 when an error reply is. */
int oma_reply_stored(oma_req *r, const char *key, const char *mime);
/* The reply for a storage call that returned rc (1: absent -> 404 "the file is gone"; else 500
 * "storage error", err logged with key). Returns -1. */
int oma_reply_storage_failed(oma_req *r, int rc, const char *key, const char *err);
/* Uses a ready MHD response (for SSE and files). */
void oma_reply_response(oma_req *r, unsigned status, struct MHD_Response *resp);

/* Makes the request wait without holding a thread: after the handler returns, the connection
 * is suspended and poll(r, arg) runs on an I/O thread at every tick of the event-stream ticker
 * (~150 ms) until it replies (returns 1 with r->resp made); 0 keeps waiting. r->db is given
 * back between polls (poll takes one with oma_req_db). After max_ms (0 = one hour) poll is
 * called once more with r->wait_expired set and must reply. When the server stops, the wait
 * ends with a 503. free_arg(arg) runs when the request ends (may be NULL). The connection's
 * idle timeout is off while it waits. */
void oma_req_wait(oma_req *r, int (*poll)(oma_req *r, void *arg), void *arg, void (*free_arg)(void *arg),
                  int64_t max_ms);

/* Request helpers (http.c). */
const char *oma_req_header(oma_req *r, const char *name);
const char *oma_req_query(oma_req *r, const char *name);
const char *oma_req_cookie(oma_req *r, const char *name);
/* The client's address as text: the peer's, or, when the peer is a loopback address (a
 * reverse proxy on this machine), the last entry of X-Forwarded-For. */
void oma_req_client_addr(oma_req *r, char *out, size_t outlen);
/* The session token sent (Bearer header first, then the oma_session cookie), or NULL. */
const char *oma_req_token(oma_req *r);
/* The parsed JSON body, which must be an object; on failure replies 400 and returns NULL.
 * The caller owns the result. */
json_t *oma_req_json_object(oma_req *r);
/* The request's db handle; replies 500 and returns NULL if none can be had. */
oma_db *oma_req_db(oma_req *r);

/* The daemon (http.c): binds srv->host:srv->port (port 0 = any; the real one is written
 * back). 0 ok, -1 with err. */
int oma_http_start(struct oma_server *srv, char *err, size_t errlen);
void oma_http_stop(struct oma_server *srv);

/* Serves the web app for a non-API GET (http_static.c). */
void oma_http_static(oma_req *r);

/* Streams a job's progress as Server-Sent Events (http_sse.c); the job must be the
 * artist's (checked by the caller). */
void oma_http_sse_job(oma_req *r, const char *job_id);

/* Reads a string member: NULL if absent or not a string. */
const char *oma_json_str(const json_t *o, const char *key);

#endif
