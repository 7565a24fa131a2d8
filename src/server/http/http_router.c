/* http_router.c — splits a request path into safe segments and finds its route.
 *
 * The idea: the path arrives still percent-encoded (the raw request line), is split on '/'
 * first and only then decoded segment by segment, so an encoded '/' can never make a new
 * segment and an encoded NUL can never cut a path short: either (or a broken escape, or an
 * escaped control character) refuses the whole path. Raw control characters and backslashes
 * refuse it too, and handlers validate ids and names on top of that. A route pattern is
 * matched segment by segment; ":name" segments are captured. A path that matches some route
 * with another method gives 405 with an Allow list, anything else 404.
 */
#include "server/http/http.h"

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

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decodes %XX in place in one segment. 0 ok, -2 a broken escape or an escape that decodes to
 * a byte a segment must not hold (NUL, '/', '\\', a control character). */
static int decode_segment(char *seg)
{
    char *w = seg;
    for (const char *p = seg; *p; p++) {
        if (*p != '%') {
            *w++ = *p;
            continue;
        }
        int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
        if (hi < 0 || lo < 0) return -2;
        unsigned char c = (unsigned char)(hi * 16 + lo);
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\') return -2;
        *w++ = (char)c;
        p += 2;
    }
    *w = '\0';
    return 0;
}

int oma_http_split_path(oma_req *r, const char *url)
{
    r->nseg = 0;
    if (!url || url[0] != '/') return -1;
    size_t n = strcspn(url, "?#");   /* the query is MHD's to parse; a fragment is never sent */
    if (n >= sizeof r->pathbuf) return -1;
    memcpy(r->pathbuf, url, n);
    r->pathbuf[n] = '\0';
    char *p = r->pathbuf + 1;
    int bad_escape = 0;
    while (*p) {
        char *slash = strchr(p, '/');
        if (slash) *slash = '\0';
        if (*p) {   /* empty segments ("//", trailing '/') are skipped */
            if (r->nseg >= OMA_HTTP_MAX_SEGS) return -1;
            for (const char *q = p; *q; q++) {
                unsigned char c = (unsigned char)*q;
                if (c < 0x20 || c == 0x7f || c == '\\') return -1;
            }
            if (decode_segment(p) != 0) bad_escape = 1;
            r->segs[r->nseg++] = p;
        }
        if (!slash) break;
        p = slash + 1;
    }
    return bad_escape ? -2 : 0;
}

/* 1 when seg is one of the '|'-separated names in lit[0, len). */
static int literal_matches(const char *seg, const char *lit, size_t len)
{
    size_t sl = strlen(seg);
    while (len > 0) {
        const char *bar = memchr(lit, '|', len);
        size_t n = bar ? (size_t)(bar - lit) : len;
        if (sl == n && memcmp(seg, lit, n) == 0) return 1;
        if (!bar) return 0;
        len -= n + 1;
        lit += n + 1;
    }
    return 0;
}

/* Matches pattern against r->segs, capturing ":x" segments into r->param; a literal segment
 * may name alternatives ("a|b|c": any one of them). */
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
        } else if (!literal_matches(r->segs[k], p, len)) {
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
