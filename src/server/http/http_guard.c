/* http_guard.c — checks on a request's headers that come before any route runs: framing
 * (RFC 9112), cross-site writes and the body's media type.
 *
 * The idea: a request whose length is ambiguous (two Content-Length headers, a malformed one,
 * Content-Length beside Transfer-Encoding) could be read one way by a proxy in front of us
 * and another way by us, so it gets one 400 and the connection closes; an HTTP/1.1 request
 * needs exactly one Host. A browser attaches the session cookie to requests other sites make
 * it send, so an unsafe request that does not carry a Bearer token (a page cannot set
 * Authorization across sites without our consent, which we never give) must come from our
 * own origin: Sec-Fetch-Site, when sent, must be same-origin or none, and Origin, when sent,
 * must name the host the request was sent to (Host, or X-Forwarded-Host behind a proxy).
 * Tools send neither header and are unaffected. JSON routes take only application/json and
 * only the upload route takes multipart, so a cross-site form (text/plain, urlencoded,
 * multipart) never reaches a JSON handler.
 */
#include "server/http/http.h"

#include <ctype.h>
#include <microhttpd.h>
#include <string.h>
#include <strings.h>

typedef struct header_count {
    const char *name;
    int n;
} header_count;

static enum MHD_Result count_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    (void)value;
    header_count *c = cls;
    if (key && strcasecmp(key, c->name) == 0) c->n++;
    return MHD_YES;
}

static int header_count_of(oma_req *r, const char *name)
{
    header_count c = {name, 0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, count_cb, &c);
    return c.n;
}

static int framing_error(oma_req *r, const char *why)
{
    oma_reply_error(r, 400, "bad_request", "%s", why);
    oma_reply_header(r, "Connection", "close");
    r->close_now = 1;
    return -1;
}

int oma_http_guard_framing(oma_req *r)
{
    int ncl = header_count_of(r, "Content-Length");
    if (ncl > 1) return framing_error(r, "the request has more than one Content-Length header");
    if (ncl == 1) {
        const char *cl = oma_req_header(r, "Content-Length");
        size_t n = cl ? strlen(cl) : 0;
        if (n == 0 || n > 19 || strspn(cl, "0123456789") != n)
            return framing_error(r, "Content-Length must be a decimal number of bytes");
        if (oma_req_header(r, "Transfer-Encoding"))
            return framing_error(r, "the request has both Content-Length and Transfer-Encoding");
    }
    if (header_count_of(r, "Transfer-Encoding") > 1)
        return framing_error(r, "the request has more than one Transfer-Encoding header");
    int nhost = header_count_of(r, "Host");
    if (nhost > 1) return framing_error(r, "the request has more than one Host header");
    if (nhost == 0 && r->version && strcmp(r->version, "HTTP/1.0") != 0)
        return framing_error(r, "an HTTP/1.1 request needs a Host header");
    return 0;
}

/* The host[:port] part of an Origin ("https://a.example:8443" -> "a.example:8443"), in out. */
static int origin_host(const char *origin, char *out, size_t outlen)
{
    const char *p = strstr(origin, "://");
    if (!p) return -1;
    p += 3;
    size_t n = strcspn(p, "/");
    if (n == 0 || n >= outlen || p[n] != '\0') return -1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

/* 1 when value (up to a comma; spaces around it ignored) equals host, ignoring case. */
static int same_host(const char *value, const char *host)
{
    if (!value) return 0;
    while (*value == ' ' || *value == '\t') value++;
    size_t n = strcspn(value, ",");
    while (n && (value[n - 1] == ' ' || value[n - 1] == '\t')) n--;
    return n == strlen(host) && strncasecmp(value, host, n) == 0;
}

int oma_http_guard_origin(oma_req *r)
{
    if (strcmp(r->method, "GET") == 0 || strcmp(r->method, "OPTIONS") == 0) return 0;
    const char *auth = oma_req_header(r, "Authorization");
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) return 0;
    const char *sfs = oma_req_header(r, "Sec-Fetch-Site");
    if (sfs && strcasecmp(sfs, "same-origin") != 0 && strcasecmp(sfs, "none") != 0) {
        oma_reply_error(r, 403, "forbidden", "cross-site requests are refused (Sec-Fetch-Site: %.32s)", sfs);
        return -1;
    }
    const char *origin = oma_req_header(r, "Origin");
    if (!origin) return 0;
    char host[256];
    if (origin_host(origin, host, sizeof host) == 0 &&
        (same_host(oma_req_header(r, "Host"), host) || same_host(oma_req_header(r, "X-Forwarded-Host"), host)))
        return 0;
    oma_reply_error(r, 403, "forbidden",
                    "cross-site requests are refused (the Origin is not this server; "
                    "behind a proxy, pass the Host or X-Forwarded-Host through)");
    return -1;
}

/* 1 when the Content-Type's media type (before ';') is mime, ignoring case and spaces. */
static int media_type_is(const char *ctype, const char *mime)
{
    if (!ctype) return 0;
    while (*ctype == ' ' || *ctype == '\t') ctype++;
    size_t n = strcspn(ctype, ";");
    while (n && (ctype[n - 1] == ' ' || ctype[n - 1] == '\t')) n--;
    return n == strlen(mime) && strncasecmp(ctype, mime, n) == 0;
}

int oma_http_guard_media_type(oma_req *r)
{
    if (r->body_kind != OMA_BODY_JSON) return 0;   /* multipart: the boundary check refuses others */
    if (media_type_is(oma_req_header(r, "Content-Type"), "application/json")) return 0;
    oma_reply_error(r, 415, "unsupported_media_type", "send the body as application/json");
    return -1;
}
