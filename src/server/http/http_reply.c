/* http_reply.c — building responses: JSON, the one error shape, bytes, empty.
 *
 * A handler makes exactly one reply; making a second one replaces the first (the first is
 * destroyed), so an error path never leaks. If even building the reply fails, the request
 * ends with a plain 500 made by the dispatcher.
 */
#include "server/http/http.h"

#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void oma_reply_response(oma_req *r, unsigned status, struct MHD_Response *resp)
{
    if (r->resp) MHD_destroy_response(r->resp);
    r->resp = resp;
    r->status = resp ? status : 0;
    if (resp) {
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(resp, "X-Frame-Options", "DENY");
        MHD_add_response_header(resp, "Referrer-Policy", "same-origin");
        if (!MHD_get_response_header(resp, "Cache-Control"))
            MHD_add_response_header(resp, "Cache-Control", "no-store");
    }
}

void oma_reply_bytes(oma_req *r, unsigned status, const char *mime, uint8_t *data, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(len, data, free);
    if (!resp) {
        free(data);
        oma_reply_response(r, 500, NULL);
        return;
    }
    if (mime) MHD_add_response_header(resp, "Content-Type", mime);
    oma_reply_response(r, status, resp);
}

void oma_reply_json(oma_req *r, unsigned status, json_t *body)
{
    char *s = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!s) {
        oma_reply_response(r, 500, NULL);
        return;
    }
    oma_reply_bytes(r, status, "application/json", (uint8_t *)s, strlen(s));
}

void oma_reply_error(oma_req *r, unsigned status, const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* a failure because the database is unreachable (it restarted, the network dropped) is
     * temporary: 503 + Retry-After, and the next request reconnects */
    int down = status == 500 && r->db && oma_db_unreachable(r->db);
    if (down) {
        status = 503;
        code = "unavailable";
        snprintf(msg, sizeof msg, "the database is unreachable; try again shortly");
    }
    json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg);
    oma_reply_json(r, status, o);
    if (down) oma_reply_header(r, "Retry-After", "2");
}

void oma_reply_empty(oma_req *r, unsigned status)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    oma_reply_response(r, status, resp);
}

void oma_reply_header(oma_req *r, const char *name, const char *value)
{
    if (r->resp) MHD_add_response_header(r->resp, name, value);
}
