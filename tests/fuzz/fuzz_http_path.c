/* fuzz_http_path.c — libFuzzer target: a request path as sent (still percent-encoded) through
 * the router: split on '/', decoded per segment (an escaped NUL, slash or control character
 * must refuse the path, never shorten it), matched against route patterns like the real
 * table's, captures checked as ids and names; and the e-mail case folding on the same bytes.
 * The route table here is the harness's own, with the real table's pattern shapes (the real
 * one names every handler, which would pull in the whole server). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/auth.h"
#include "server/http/http.h"

static void handler(oma_req *r) { (void)r; }

const oma_route oma_routes[] = {
    {"GET", "/api/health", handler, 0, OMA_BODY_NONE},
    {"POST", "/api/uploads", handler, OMA_ROUTE_AUTH, OMA_BODY_MULTIPART},
    {"GET", "/api/webtoons/:id", handler, OMA_ROUTE_AUTH, OMA_BODY_NONE},
    {"DELETE", "/api/webtoons/:id", handler, OMA_ROUTE_AUTH, OMA_BODY_NONE},
    {"DELETE", "/api/webtoons/:id/samples/:upload", handler, OMA_ROUTE_AUTH, OMA_BODY_NONE},
    {"GET", "/api/jobs/:id/outputs/:name", handler, OMA_ROUTE_AUTH, OMA_BODY_NONE},
    {"GET", "/api/jobs", handler, OMA_ROUTE_AUTH, OMA_BODY_NONE},
};
const size_t oma_routes_count = sizeof oma_routes / sizeof oma_routes[0];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    if (len > 4096) return 0;
    char *url = malloc(len + 1);
    if (!url) return 0;
    memcpy(url, data, len);
    url[len] = '\0';
    static oma_req r;
    memset(&r, 0, sizeof r);
    r.method = len && (data[0] & 1) ? "DELETE" : "GET";
    int rc = oma_http_split_path(&r, url);
    if (rc == 0) {
        for (size_t i = 0; i < r.nseg; i++) {
            /* no decoded segment may hold what the split refused */
            for (const char *p = r.segs[i]; *p; p++)
                if (*p == '/' || *p == '\\' || (unsigned char)*p < 0x20) abort();
            (void)oma_http_id_valid(r.segs[i]);
            (void)oma_http_name_valid(r.segs[i]);
        }
        int pm = 0;
        char allow[64];
        const oma_route *rt = oma_http_match(&r, &pm, allow, sizeof allow);
        if (rt)
            for (size_t i = 0; i < r.nparam; i++)
                if (!r.param[i]) abort();
    }
    char folded[512];
    oma_auth_fold_email(url, folded, sizeof folded);
    if (strlen(folded) >= sizeof folded) abort();
    (void)oma_auth_utf8_chars(url);
    free(url);
    return 0;
}
