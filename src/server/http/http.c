/* http.c — the libmicrohttpd daemon and the request dispatcher.
 *
 * The idea: MHD calls us first with the headers only. At that point we already know the
 * route, whether it needs a session and how large its body may be, so an unknown path,
 * a missing token or a too-large Content-Length is decided before a byte of the body is
 * kept: the answer goes out at once when the client waits for "100 Continue" or has no
 * body, otherwise the body is counted and dropped (never stored) and the answer follows;
 * a body far over the limit just gets the connection closed. Body chunks are bounded as they arrive:
 * JSON bodies are gathered (1 MiB), multipart bodies are streamed through the parser into
 * the one "file" field (20 MiB in all). The handler runs on the last call.
 * MHD runs a small pool of I/O threads (poll(2); its epoll mode in 0.9.75 missed a client's
 * half-close: measured 15-20 s to notice instead of under 10 ms), each serving many
 * connections, so nothing here may block for long: routes flagged SLOW run on the slow lane
 * (http_lane.c) with their connection suspended, routes flagged HASH (sign-up, log-in) on a
 * lane of their own with a short queue (full: 429) after their cheap checks (the log-in
 * back-off) ran here, and event streams suspend between polls (http_sse.c).
 * Before routing, the request line's raw path (uri_logged) is split and decoded by the
 * router, and the framing, cross-site and media-type guards (http_guard.c) run.
 */
#include "server/http/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "server/auth.h"
#include "server/server_internal.h"

const char *oma_req_header(oma_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *oma_req_query(oma_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *oma_req_cookie(oma_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

void oma_req_client_addr(oma_req *r, char *out, size_t outlen)
{
    if (!outlen) return;
    snprintf(out, outlen, "unknown");
    const union MHD_ConnectionInfo *ci =
        r->conn ? MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS) : NULL;
    if (!ci || !ci->client_addr) return;
    int loopback = 0;
    if (ci->client_addr->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ci->client_addr;
        inet_ntop(AF_INET, &a->sin_addr, out, (socklen_t)outlen);
        loopback = (ntohl(a->sin_addr.s_addr) >> 24) == 127;
    } else if (ci->client_addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ci->client_addr;
        inet_ntop(AF_INET6, &a->sin6_addr, out, (socklen_t)outlen);
        loopback = IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    }
    const char *xff = loopback ? oma_req_header(r, "X-Forwarded-For") : NULL;
    if (!xff) return;
    const char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    while (*last == ' ' || *last == '\t') last++;
    size_t n = strcspn(last, " \t");
    if (n == 0 || n > 64 || n >= outlen) return;
    memcpy(out, last, n);
    out[n] = '\0';
}

const char *oma_json_str(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

oma_db *oma_req_db(oma_req *r)
{
    if (!r->db) r->db = oma_server_db_get(r->srv);
    if (!r->db) {
        oma_reply_error(r, 503, "unavailable", "the database is not available; try again shortly");
        oma_reply_header(r, "Retry-After", "2");
    }
    return r->db;
}

json_t *oma_req_json_object(oma_req *r)
{
    if (!r->body || r->body_len == 0) {
        oma_reply_error(r, 400, "invalid_json", "the request needs a JSON object body");
        return NULL;
    }
    json_error_t e;
    json_t *j = json_loadb((const char *)r->body, r->body_len, JSON_REJECT_DUPLICATES, &e);
    if (!j) {
        /* where, but not the parser's own words (they echo its internals and the input) */
        oma_reply_error(r, 400, "invalid_json", "the body is not valid JSON (line %d, column %d)", e.line,
                        e.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        oma_reply_error(r, 400, "invalid_json", "the request body must be a JSON object");
        return NULL;
    }
    return j;
}

/* ---- multipart callbacks: keep only the part named "file" ---- */

static int mp_begin(void *ud, const char *name, const char *filename, const char *ctype)
{
    oma_req *r = ud;
    r->in_file = strcmp(name, "file") == 0;
    if (r->in_file) {
        if (++r->file_parts > 1) return -1;
        snprintf(r->file_name, sizeof r->file_name, "%s", filename);
        snprintf(r->file_type, sizeof r->file_type, "%s", ctype);
    }
    return 0;
}

static int mp_data(void *ud, const uint8_t *d, size_t n)
{
    oma_req *r = ud;
    if (!r->in_file) return 0;
    if (n > OMA_HTTP_UPLOAD_LIMIT - r->file_len) return -1;
    if (r->file_len + n > r->file_cap) {
        size_t cap = r->file_cap ? r->file_cap : 65536;
        while (cap < r->file_len + n) cap *= 2;
        if (cap > OMA_HTTP_UPLOAD_LIMIT) cap = OMA_HTTP_UPLOAD_LIMIT;
        uint8_t *p = realloc(r->file, cap);
        if (!p) return -1;
        r->file = p;
        r->file_cap = cap;
    }
    memcpy(r->file + r->file_len, d, n);
    r->file_len += n;
    return 0;
}

static int mp_end(void *ud)
{
    ((oma_req *)ud)->in_file = 0;
    return 0;
}

static void body_fail(oma_req *r, unsigned status, const char *code, const char *msg)
{
    if (r->body_error) return;
    r->body_error = (int)status;
    snprintf(r->body_errcode, sizeof r->body_errcode, "%s", code);
    snprintf(r->body_errmsg, sizeof r->body_errmsg, "%s", msg);
}

static const char *limit_message(const oma_req *r)
{
    if (r->body_kind == OMA_BODY_MULTIPART) return "uploads are limited to 20 MiB";
    if (r->body_limit > OMA_HTTP_JSON_LIMIT) return "request bodies with images are limited to 28 MiB";
    return "request bodies are limited to 1 MiB";
}

static void consume(oma_req *r, const char *data, size_t n)
{
    if (r->body_error) return;
    if (n > r->body_limit - r->body_seen) {
        body_fail(r, 413, "payload_too_large", limit_message(r));
        return;
    }
    r->body_seen += n;
    if (r->body_kind == OMA_BODY_MULTIPART) {
        if (oma_multipart_feed(r->mp, (const uint8_t *)data, n) != 0)
            body_fail(r, 400, "bad_request", oma_multipart_errmsg(r->mp));
        return;
    }
    if (r->body_kind != OMA_BODY_JSON) return;     /* not wanted: counted and dropped */
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 4096;
        while (cap < r->body_len + n + 1) cap *= 2;
        uint8_t *p = realloc(r->body, cap);
        if (!p) {
            body_fail(r, 500, "internal", "out of memory");
            return;
        }
        r->body = p;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
}

const char *oma_req_token(oma_req *r)
{
    const char *h = oma_req_header(r, "Authorization");
    if (h && strncasecmp(h, "Bearer ", 7) == 0) {
        h += 7;
        while (*h == ' ') h++;
        return h;
    }
    return oma_req_cookie(r, "oma_session");
}

/* A 401 in the route's shape; A1111 routes ask for Basic as A1111's --api-auth does. */
static void unauthorized(oma_req *r, const char *msg)
{
    oma_reply_error(r, 401, "unauthorized", "%s", msg);
    if (r->a1111_errors) oma_reply_header(r, "WWW-Authenticate", "Basic");
}

/* Resolves the session from the Bearer header (a session token or an API token) or the
 * cookie; on A1111 routes also from HTTP Basic (e-mail : API token). 0 ok, else replied. */
static int authenticate(oma_req *r)
{
    const char *h = oma_req_header(r, "Authorization");
    int basic = r->a1111_errors && h && strncasecmp(h, "Basic ", 6) == 0;
    const char *token = basic ? NULL : oma_req_token(r);
    if (!basic && (!token || !*token)) {
        unauthorized(r, r->a1111_errors ? "Not authenticated" : "sign in first (no session token)");
        return -1;
    }
    oma_db *db = oma_req_db(r);
    if (!db) return -1;
    int rc;
    if (basic) rc = oma_auth_basic_lookup(db, h + 6, r->artist_id);
    else if (oma_auth_api_token_wellformed(token)) rc = oma_auth_api_token_lookup(db, token, r->artist_id);
    else rc = oma_auth_session_lookup(db, token, r->artist_id);
    if (rc < 0) {
        oma_reply_error(r, 500, "internal", "session lookup failed");
        return -1;
    }
    if (rc == 1) {
        unauthorized(r, r->a1111_errors ? "Incorrect username or password" : "the session token is unknown or expired");
        return -1;
    }
    r->authed = 1;
    return 0;
}

/* First call: route, auth, limits. Leaves a reply in r->resp when the request ends here. */
static void begin(oma_req *r)
{
    const char *m = strcmp(r->method, "HEAD") == 0 ? "GET" : r->method;
    r->method = m;
    r->body_limit = OMA_HTTP_JSON_LIMIT;
    if (oma_http_guard_framing(r) != 0) return;
    int split = r->raw_overlong ? -1 : oma_http_split_path(r, r->rawpath);
    if (split == -2) {
        oma_reply_error(r, 400, "bad_request",
                        "the path has a broken escape or an escaped NUL, slash or control character");
        return;
    }
    if (split != 0) {
        oma_reply_error(r, 404, "not_found", "no such path");
        return;
    }
    int path_matched = 0;
    char allow[64];
    r->route = oma_http_match(r, &path_matched, allow, sizeof allow);
    int is_api = r->nseg > 0 && (strcmp(r->segs[0], "api") == 0 || strcmp(r->segs[0], "sdapi") == 0);
    if (r->route && (r->route->flags & OMA_ROUTE_A1111)) r->a1111_errors = 1;
    if (!r->route) {
        r->a1111_errors = is_api && strcmp(r->segs[0], "sdapi") == 0;
        if (path_matched) {
            if (r->a1111_errors) oma_reply_error(r, 405, "method_not_allowed", "Method Not Allowed");
            else oma_reply_error(r, 405, "method_not_allowed", "%s is not allowed here", r->method);
            oma_reply_header(r, "Allow", allow);
        } else if (is_api) {
            oma_reply_error(r, 404, "not_found", r->a1111_errors ? "Not Found" : "no such API route");
        } else if (strcmp(m, "GET") != 0) {
            oma_reply_error(r, 405, "method_not_allowed", "only GET serves the web app");
            oma_reply_header(r, "Allow", "GET");
        }
        return;   /* static file, served on the last call */
    }
    r->body_kind = r->route->body == OMA_BODY_JSON_IMAGES ? OMA_BODY_JSON : r->route->body;
    if (r->body_kind == OMA_BODY_MULTIPART) r->body_limit = OMA_HTTP_UPLOAD_LIMIT;
    if (r->route->body == OMA_BODY_JSON_IMAGES) r->body_limit = OMA_HTTP_JSON_IMAGES_LIMIT;
    const char *cl = oma_req_header(r, "Content-Length");
    if (cl) {
        char *end = NULL;
        unsigned long long v = strtoull(cl, &end, 10);
        if (end && *end == '\0' && v > r->body_limit) {
            oma_reply_error(r, 413, "payload_too_large", "%s", limit_message(r));
            return;
        }
    }
    if (oma_http_guard_origin(r) != 0) return;
    if ((r->route->flags & OMA_ROUTE_AUTH) && authenticate(r) != 0) return;
    if (oma_http_guard_media_type(r) != 0) return;
    if (r->body_kind == OMA_BODY_MULTIPART) {
        char boundary[OMA_MP_MAX_BOUNDARY + 1];
        if (oma_multipart_boundary(oma_req_header(r, "Content-Type"), boundary, sizeof boundary) != 0) {
            oma_reply_error(r, 415, "unsupported_media_type",
                            "send the file as multipart/form-data with a boundary");
            return;
        }
        oma_multipart_cb cb = {mp_begin, mp_data, mp_end, r};
        r->mp = oma_multipart_new(boundary, &cb);
        if (!r->mp) oma_reply_error(r, 500, "internal", "out of memory");
    }
}

/* Last call: run the handler (or the static file server). */
static void finish(oma_req *r)
{
    if (r->body_error) {
        oma_reply_error(r, (unsigned)r->body_error, r->body_errcode, "%s", r->body_errmsg);
        return;
    }
    if (!r->route) {
        oma_http_static(r);
        return;
    }
    if (r->body_kind == OMA_BODY_MULTIPART && oma_multipart_finish(r->mp) != 0) {
        oma_reply_error(r, 400, "bad_request", "%s", oma_multipart_errmsg(r->mp));
        return;
    }
    r->route->fn(r);
}

/* A reply decided from the headers alone (401, 404, 413...) goes out at once when the
 * client has no body to send, or waits for "100 Continue" (it then never sends it), or
 * announced more than 4x the limit (we would rather close on it than read that much).
 * Otherwise the body is read and dropped first: closing a socket with unread data makes
 * the kernel reset the connection, and the client would lose our answer. */
static int answer_now(oma_req *r)
{
    const char *cl = oma_req_header(r, "Content-Length");
    const char *te = oma_req_header(r, "Transfer-Encoding");
    const char *ex = oma_req_header(r, "Expect");
    if (r->close_now) return 1;
    if (ex && strcasecmp(ex, "100-continue") == 0) return 1;
    if (!te && (!cl || strcmp(cl, "0") == 0)) return 1;
    if (cl) {
        char *end = NULL;
        unsigned long long v = strtoull(cl, &end, 10);
        if (!end || *end || v / 4 > r->body_limit) return 1;
    }
    return 0;
}

static enum MHD_Result queue(oma_req *r)
{
    if (!r->resp) {
        static const char fallback[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"the server could not answer\"}}";
        r->resp = MHD_create_response_from_buffer(sizeof fallback - 1, (void *)fallback,
                                                  MHD_RESPMEM_PERSISTENT);
        if (!r->resp) return MHD_NO;
        MHD_add_response_header(r->resp, "Content-Type", "application/json");
        r->status = 500;
    }
    enum MHD_Result rc = MHD_queue_response(r->conn, r->status, r->resp);
    MHD_destroy_response(r->resp);
    r->resp = NULL;
    r->done = 1;
    return rc;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void oma_req_wait(oma_req *r, int (*poll)(oma_req *r, void *arg), void *arg, void (*free_arg)(void *arg),
                  int64_t max_ms)
{
    if (!r->wait_poll) atomic_fetch_add(&r->srv->waiting, 1);
    r->wait_poll = poll;
    r->wait_arg = arg;
    r->wait_free = free_arg;
    r->wait_deadline_ms = mono_ms() + (max_ms > 0 ? max_ms : 3600 * 1000);
}

/* One poll of a waiting request: its reply goes out, or it is filed for the next tick. */
static enum MHD_Result wait_step(oma_req *r)
{
    if (!r->resp) {
        int rc;
        if (atomic_load(&r->srv->stopping)) {
            rc = -1;
        } else {
            r->wait_expired = mono_ms() >= r->wait_deadline_ms;
            rc = r->wait_poll(r, r->wait_arg);
            if (rc == 0 && r->wait_expired) rc = -1;
        }
        if (r->db) {   /* no handle is held while suspended */
            oma_server_db_put(r->srv, r->db);
            r->db = NULL;
        }
        if (rc == 0 && !r->resp) {
            r->wait_tick.conn = r->conn;
            MHD_set_connection_option(r->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
            if (oma_sse_ticker_file(r->srv->sse, &r->wait_tick) == 0) return MHD_YES;
        }
        if (!r->resp) {
            oma_reply_error(r, 503, "busy", "the server is stopping; the job goes on (see /api/jobs)");
            oma_reply_header(r, "Retry-After", "5");
        }
    }
    return queue(r);
}

/* On the slow lane: the handler, then the connection is resumed and MHD calls on_request
 * again, which sends the reply. */
static void lane_run(void *arg)
{
    oma_req *r = arg;
    finish(r);
    r->lane_state = 2;
    MHD_resume_connection(r->conn);
}

/* The lane took the request: suspend its connection before a lane thread can start it (the
 * lane may finish, and resume, before on_request returns). */
static void lane_admitted(void *arg)
{
    oma_req *r = arg;
    MHD_suspend_connection(r->conn);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    oma_req *r = *con_cls;
    if (!r) return MHD_NO;   /* uri_logged() made it; NULL means it ran out of memory */
    if (!r->started) {
        r->started = 1;
        r->srv = cls;
        r->conn = conn;
        r->method = method;
        r->url = url;
        r->version = version;
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        if (ci) oma_conns_serving(r->srv->conns, ci->socket_context, 1);
        begin(r);
        if (r->resp && answer_now(r)) return queue(r);
        return MHD_YES;   /* a reply made already waits in r->resp while the body drains */
    }
    if (r->done) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->wait_poll && !*upload_data_size && r->lane_state != 1) return wait_step(r);
    if (*upload_data_size) {
        /* MHD (0.9.7x) cannot queue a reply while a body is arriving, so once a body without
         * Content-Length is over its limit the rest is counted and dropped (nothing kept),
         * and the 413 goes out at the end; a body 4x over the limit just gets the connection
         * closed. Bodies with a Content-Length were refused before reading (begin()). */
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        r->body_total = n > SIZE_MAX - r->body_total ? SIZE_MAX : r->body_total + n;
        if (r->resp || r->body_error) return r->body_total / 4 > r->body_limit ? MHD_NO : MHD_YES;
        consume(r, upload_data, n);
        return MHD_YES;
    }
    int lane_flags = r->route ? r->route->flags & (OMA_ROUTE_SLOW | OMA_ROUTE_HASH) : 0;
    if (!r->resp && lane_flags && !r->body_error) {
        if (r->lane_state == 1) return MHD_YES;   /* not done yet (should not be called) */
        if (r->lane_state == 0) {
            /* what can be refused cheaply is refused here, before it waits for a lane */
            for (size_t i = 0; i < oma_route_prechecks_count; i++)
                if (oma_route_prechecks[i].handler == r->route->fn) oma_route_prechecks[i].precheck(r);
            if (!r->resp) {
                int hashing = (lane_flags & OMA_ROUTE_HASH) != 0;
                r->lane_state = 1;
                if (oma_lane_submit(hashing ? r->srv->hash_lane : r->srv->lane, lane_run, r, lane_admitted) == 0)
                    return MHD_YES;
                r->lane_state = 2;
                if (hashing) {
                    oma_reply_error(r, 429, "too_many_requests",
                                    "the server is busy checking passwords; try again in a moment");
                    oma_reply_header(r, "Retry-After", "2");
                } else {
                    oma_reply_error(r, 503, "busy", "the server is busy; try again in a moment");
                    oma_reply_header(r, "Retry-After", "1");
                }
            }
        }
    }
    if (!r->resp && r->lane_state != 2) finish(r);   /* a lane handler ran already */
    if (r->wait_poll) return wait_step(r);
    return queue(r);
}

/* MHD calls this with the request line's URI before it decodes it in place: the request's
 * state starts here so that routing sees the path as sent (see http_router.c). */
static void *uri_logged(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    oma_req *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    size_t n = uri ? strcspn(uri, "?") : 0;
    if (n >= sizeof r->rawpath) {
        r->raw_overlong = 1;
        n = 0;
    }
    if (n) memcpy(r->rawpath, uri, n);
    r->rawpath[n] = '\0';
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    struct oma_server *srv = cls;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (ci) oma_conns_serving(srv->conns, ci->socket_context, 0);
    oma_req *r = *con_cls;
    if (!r) return;
    if (r->resp) MHD_destroy_response(r->resp);
    if (r->wait_free) r->wait_free(r->wait_arg);
    if (r->wait_poll) atomic_fetch_sub(&srv->waiting, 1);
    if (r->db) oma_server_db_put(cls, r->db);
    oma_multipart_free(r->mp);
    free(r->body);
    free(r->file);
    free(r);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct oma_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci) oma_conns_opened(s->conns, ci->connect_fd, socket_context);
        else *socket_context = NULL;
    } else {
        oma_conns_closed(s->conns, socket_context);
    }
}

/* A positive integer from the environment, or def. */
static unsigned env_uint(const char *name, unsigned def, unsigned max)
{
    const char *v = getenv(name);
    if (!v || !*v) return def;
    char *end = NULL;
    unsigned long n = strtoul(v, &end, 10);
    if (!end || *end || n > max) {
        fprintf(stderr, "oma: %s=%s is not a number 0..%u; using %u\n", name, v, max, def);
        return def;
    }
    return (unsigned)n;
}

int oma_http_start(struct oma_server *s, char *err, size_t errlen)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)s->port);
    const char *host = strcmp(s->host, "localhost") == 0 ? "127.0.0.1" : s->host;
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        snprintf(err, errlen, "host %s is not an IPv4 address", s->host);
        return -1;
    }
    unsigned per_addr = env_uint("OMA_MAX_CONNECTIONS_PER_ADDRESS", OMA_HTTP_PER_ADDRESS_DEFAULT, 100000);
    unsigned deadline_ms = env_uint("OMA_HEADER_DEADLINE_MS", OMA_HTTP_HEADER_DEADLINE_MS, 3600000);
    s->conns = oma_conns_start((int)(deadline_ms ? deadline_ms : 3600000));
    s->lane = oma_lane_start(OMA_HTTP_LANE_THREADS, OMA_HTTP_LANE_QUEUE);
    s->hash_lane = oma_lane_start(OMA_HTTP_HASH_LANE_THREADS, OMA_HTTP_HASH_LANE_QUEUE);
    s->sse = oma_sse_ticker_start();
    s->streams = oma_streams_new();
    if (!s->conns || !s->lane || !s->hash_lane || !s->sse || !s->streams) {
        snprintf(err, errlen, "cannot start the server's helper threads");
        return -1;
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned io_threads = cpus >= 4 ? (unsigned)(cpus > 16 ? 16 : cpus) : 4;
    /* no MHD_USE_ERROR_LOG: it reports every malformed request a stranger sends on stderr */
    s->mhd = MHD_start_daemon(MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME,
                              (uint16_t)s->port, NULL, NULL, on_request, s,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                              MHD_OPTION_URI_LOG_CALLBACK, uri_logged, s,
                              MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                              MHD_OPTION_PER_IP_CONNECTION_LIMIT, per_addr,
                              MHD_OPTION_THREAD_POOL_SIZE, io_threads,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)OMA_HTTP_MAX_CONNECTIONS,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                              MHD_OPTION_END);
    if (!s->mhd) {
        snprintf(err, errlen, "cannot listen on %s:%d (in use or not allowed)", s->host, s->port);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    if (info && info->port) s->port = info->port;
    return 0;
}

void oma_http_stop(struct oma_server *s)
{
    /* nothing may stay suspended when the daemon stops: finish the slow handlers (new ones
     * are refused from now on with a 503) and resume every stream */
    oma_lane_close(s->lane);
    oma_lane_close(s->hash_lane);
    oma_sse_ticker_quiesce(s->sse);
    /* waiting requests (oma_req_wait) were resumed and answer 503 now: give them up to 2 s to
     * go out before the daemon closes every connection */
    for (int i = 0; i < 200 && atomic_load(&s->waiting) > 0; i++) usleep(10000);
    oma_streams_stop(s->streams);   /* downloads end (closed short) and none stays suspended */
    if (s->mhd) MHD_stop_daemon(s->mhd);
    s->mhd = NULL;
    oma_streams_free(s->streams);
    s->streams = NULL;
    oma_lane_stop(s->lane);
    s->lane = NULL;
    oma_lane_stop(s->hash_lane);
    s->hash_lane = NULL;
    oma_sse_ticker_stop(s->sse);
    s->sse = NULL;
    oma_conns_stop(s->conns);
    s->conns = NULL;
}
