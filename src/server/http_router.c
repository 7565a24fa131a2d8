/* http_router.c — splits a request path into safe segments and finds its route.
 *
 * The idea: a path is accepted only if every segment is made of a small set of characters
 * (so "..", "%00", backslashes and friends never reach a handler), and a route pattern is
 * matched segment by segment; ":name" segments are captured. A path that matches some route
 * with another method gives 405 with an Allow list, anything else 404.
 */
#include "server/http.h"

#include <stdio.h>
#include <string.h>

int oma_http_id_valid(const char *s)
{
    if (!s) return 0;
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return 0;
        if (n >= 64) return 0;
    }
    return n >= 1;
}

int oma_http_name_valid(const char *s)
{
    if (!s || !s[0] || s[0] == '.') return 0;
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
        if (n >= 128) return 0;
    }
    return 1;
}

int oma_http_split_path(oma_req *r, const char *url)
{
    r->nseg = 0;
    if (!url || url[0] != '/') return -1;
    size_t n = strlen(url);
    if (n >= sizeof r->pathbuf) return -1;
    memcpy(r->pathbuf, url, n + 1);
    char *p = r->pathbuf + 1;
    while (*p) {
        char *slash = strchr(p, '/');
        if (slash) *slash = '\0';
        if (*p) {   /* empty segments ("//", trailing '/') are skipped */
            if (r->nseg >= OMA_HTTP_MAX_SEGS) return -1;
            for (const char *q = p; *q; q++) {
                unsigned char c = (unsigned char)*q;
                if (c < 0x20 || c == 0x7f || c == '\\') return -1;
            }
            r->segs[r->nseg++] = p;
        }
        if (!slash) break;
        p = slash + 1;
    }
    return 0;
}

/* Matches pattern against r->segs, capturing ":x" segments into r->param. */
static int match_pattern(oma_req *r, const char *pattern)
{
    size_t k = 0;
    const char *p = pattern;
    r->nparam = 0;
    while (*p == '/') p++;
    while (*p) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (k >= r->nseg) return 0;
        if (p[0] == ':') {
            if (r->nparam >= sizeof r->param / sizeof r->param[0]) return 0;
            r->param[r->nparam++] = r->segs[k];
        } else if (strlen(r->segs[k]) != len || memcmp(r->segs[k], p, len) != 0) {
            return 0;
        }
        k++;
        p += len;
        while (*p == '/') p++;
    }
    return k == r->nseg;
}

const oma_route *oma_http_match(oma_req *r, int *path_matched, char *allow, size_t allowlen)
{
    *path_matched = 0;
    if (allowlen) allow[0] = '\0';
    const oma_route *found = NULL;
    for (size_t i = 0; i < oma_routes_count; i++) {
        const oma_route *rt = &oma_routes[i];
        if (!match_pattern(r, rt->pattern)) continue;
        if (strcmp(rt->method, r->method) == 0) {
            found = rt;
            break;
        }
        *path_matched = 1;
        size_t used = strlen(allow);
        if (!strstr(allow, rt->method) && used + strlen(rt->method) + 3 < allowlen)
            snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "", rt->method);
    }
    if (found) {
        match_pattern(r, found->pattern);   /* captures of the winning route */
        *path_matched = 0;
    }
    return found;
}
