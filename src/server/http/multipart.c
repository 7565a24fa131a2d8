/* multipart.c — streaming multipart/form-data parser (see multipart.h).
 *
 * The idea: the body is a sequence of parts separated by the delimiter "\r\n--BOUNDARY".
 * We treat the body as if it were preceded by "\r\n", so the first boundary line is found by
 * the same matcher. Inside a part's data we match the delimiter byte by byte; because a
 * boundary can never contain '\r', a failed partial match can only restart at the current
 * byte, so the bytes of the failed prefix are emitted from the delimiter itself and nothing
 * needs to be kept across chunks except the match length.
 */
#include "server/http/multipart.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { ST_PREAMBLE, ST_AFTER, ST_AFTER_DASH, ST_AFTER_CR, ST_HEADERS, ST_DATA, ST_DONE, ST_ERROR };

struct oma_multipart {
    oma_multipart_cb cb;
    char delim[4 + OMA_MP_MAX_BOUNDARY + 1];
    size_t dlen;
    size_t m;                       /* bytes of delim matched so far */
    int state;
    int parts;
    char hdr[OMA_MP_MAX_HEADER];
    size_t hlen;
    char err[160];
};

static int is_bchar(int c)
{
    return isalnum(c) || strchr("'()+_,-./:=? ", c) != NULL;
}

int oma_multipart_boundary(const char *ct, char *out, size_t outlen)
{
    if (!ct || outlen < 2) return -1;
    while (*ct == ' ' || *ct == '\t') ct++;
    static const char type[] = "multipart/form-data";
    if (strncasecmp(ct, type, sizeof type - 1) != 0) return -1;
    const char *p = ct + sizeof type - 1;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ';') p++;
        if (strncasecmp(p, "boundary=", 9) == 0) {
            p += 9;
            size_t n = 0;
            if (*p == '"') {
                p++;
                while (p[n] && p[n] != '"') n++;
                if (p[n] != '"') return -1;
            } else {
                while (p[n] && p[n] != ';' && p[n] != ' ' && p[n] != '\t') n++;
            }
            if (n == 0 || n > OMA_MP_MAX_BOUNDARY || n + 1 > outlen) return -1;
            for (size_t i = 0; i < n; i++)
                if (!is_bchar((unsigned char)p[i])) return -1;
            if (p[n - 1] == ' ') return -1;
            memcpy(out, p, n);
            out[n] = '\0';
            return 0;
        }
        while (*p && *p != ';') p++;
    }
    return -1;
}

oma_multipart *oma_multipart_new(const char *boundary, const oma_multipart_cb *cb)
{
    if (!boundary || !cb) return NULL;
    size_t bl = strlen(boundary);
    if (bl == 0 || bl > OMA_MP_MAX_BOUNDARY) return NULL;
    oma_multipart *mp = calloc(1, sizeof *mp);
    if (!mp) return NULL;
    mp->cb = *cb;
    memcpy(mp->delim, "\r\n--", 4);
    memcpy(mp->delim + 4, boundary, bl + 1);
    mp->dlen = 4 + bl;
    mp->m = 2;                      /* the body counts as preceded by "\r\n" */
    mp->state = ST_PREAMBLE;
    return mp;
}

void oma_multipart_free(oma_multipart *mp) { free(mp); }

const char *oma_multipart_errmsg(const oma_multipart *mp)
{
    return mp ? mp->err : "no parser";
}

static int fail(oma_multipart *mp, const char *msg)
{
    if (mp->state != ST_ERROR) snprintf(mp->err, sizeof mp->err, "%s", msg);
    mp->state = ST_ERROR;
    return -1;
}

/* Copies a header parameter value (quoted or token) into out; returns 0 or -1 if too long. */
static int param_value(const char *p, const char *end, char *out, size_t outlen)
{
    size_t n = 0;
    if (p < end && *p == '"') {
        p++;
        while (p < end && *p != '"') {
            if (*p == '\\' && p + 1 < end) p++;
            if (n + 1 >= outlen) return -1;
            out[n++] = *p++;
        }
    } else {
        while (p < end && *p != ';' && *p != ' ' && *p != '\t') {
            if (n + 1 >= outlen) return -1;
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    return 0;
}

static int parse_headers(oma_multipart *mp, char *name, size_t nl, char *fname, size_t fl,
                         char *ctype, size_t cl)
{
    name[0] = fname[0] = ctype[0] = '\0';
    const char *p = mp->hdr, *end = mp->hdr + mp->hlen - 2; /* drop the final blank line */
    while (p < end) {
        const char *eol = p;
        while (eol + 1 < end + 2 && !(eol[0] == '\r' && eol[1] == '\n')) eol++;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon) {
            size_t klen = (size_t)(colon - p);
            const char *v = colon + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) v++;
            if (klen == 19 && strncasecmp(p, "content-disposition", 19) == 0) {
                if ((size_t)(eol - v) < 9 || strncasecmp(v, "form-data", 9) != 0)
                    return fail(mp, "multipart: part is not form-data");
                const char *q = v + 9;
                while (q < eol) {
                    while (q < eol && (*q == ';' || *q == ' ' || *q == '\t')) q++;
                    if ((size_t)(eol - q) >= 5 && strncasecmp(q, "name=", 5) == 0) {
                        if (param_value(q + 5, eol, name, nl) != 0)
                            return fail(mp, "multipart: field name too long");
                    } else if ((size_t)(eol - q) >= 9 && strncasecmp(q, "filename=", 9) == 0) {
                        if (param_value(q + 9, eol, fname, fl) != 0)
                            return fail(mp, "multipart: file name too long");
                    }
                    /* skip to the next ';' outside quotes */
                    int inq = 0;
                    while (q < eol && (inq || *q != ';')) {
                        if (*q == '"') inq = !inq;
                        else if (*q == '\\' && inq && q + 1 < eol) q++;
                        q++;
                    }
                }
            } else if (klen == 12 && strncasecmp(p, "content-type", 12) == 0) {
                size_t vl = (size_t)(eol - v);
                if (vl + 1 > cl) return fail(mp, "multipart: content type too long");
                memcpy(ctype, v, vl);
                ctype[vl] = '\0';
            }
        } else if (eol > p) {
            return fail(mp, "multipart: malformed part header");
        }
        p = eol + 2;
    }
    return 0;
}

static int flush(oma_multipart *mp, const uint8_t *d, size_t n)
{
    if (n == 0) return 0;
    if (mp->cb.part_data && mp->cb.part_data(mp->cb.ud, d, n) != 0)
        return fail(mp, "multipart: part rejected");
    return 0;
}

static int headers_done(oma_multipart *mp)
{
    char name[128], fname[256], ctype[128];
    if (parse_headers(mp, name, sizeof name, fname, sizeof fname, ctype, sizeof ctype) != 0)
        return -1;
    if (++mp->parts > OMA_MP_MAX_PARTS) return fail(mp, "multipart: too many parts");
    if (mp->cb.part_begin && mp->cb.part_begin(mp->cb.ud, name, fname, ctype) != 0)
        return fail(mp, "multipart: part rejected");
    mp->state = ST_DATA;
    mp->m = 0;
    return 0;
}

int oma_multipart_feed(oma_multipart *mp, const uint8_t *d, size_t len)
{
    if (!mp) return -1;
    if (mp->state == ST_ERROR) return -1;
    size_t i = 0, run = 0;          /* run: where the pending data of this chunk starts */
    while (i < len) {
        uint8_t c = d[i];
        switch (mp->state) {
        case ST_PREAMBLE:
        case ST_DATA:
            if (c == (uint8_t)mp->delim[mp->m]) {
                if (mp->m == 0 && mp->state == ST_DATA && flush(mp, d + run, i - run) != 0)
                    return -1;
                mp->m++;
                i++;
                run = i;
                if (mp->m == mp->dlen) {
                    if (mp->state == ST_DATA && mp->cb.part_end && mp->cb.part_end(mp->cb.ud) != 0)
                        return fail(mp, "multipart: part rejected");
                    mp->state = ST_AFTER;
                    mp->m = 0;
                }
            } else if (mp->m > 0) {
                /* the matched prefix was data after all; re-examine c from scratch */
                if (mp->state == ST_DATA && flush(mp, (const uint8_t *)mp->delim, mp->m) != 0)
                    return -1;
                mp->m = 0;
                run = i;
            } else {
                i++;
            }
            break;
        case ST_AFTER:
            if (c == '-') mp->state = ST_AFTER_DASH;
            else if (c == '\r') mp->state = ST_AFTER_CR;
            else if (c != ' ' && c != '\t') return fail(mp, "multipart: bad boundary line");
            i++;
            break;
        case ST_AFTER_DASH:
            if (c != '-') return fail(mp, "multipart: bad closing boundary");
            mp->state = ST_DONE;
            i++;
            break;
        case ST_AFTER_CR:
            if (c != '\n') return fail(mp, "multipart: bad boundary line");
            mp->state = ST_HEADERS;
            mp->hlen = 0;
            i++;
            break;
        case ST_HEADERS:
            if (mp->hlen >= sizeof mp->hdr) return fail(mp, "multipart: part header too long");
            mp->hdr[mp->hlen++] = (char)c;
            i++;
            if ((mp->hlen == 2 && memcmp(mp->hdr, "\r\n", 2) == 0) ||
                (mp->hlen >= 4 && memcmp(mp->hdr + mp->hlen - 4, "\r\n\r\n", 4) == 0)) {
                if (headers_done(mp) != 0) return -1;
                run = i;
            }
            break;
        case ST_DONE:
            return 0;               /* epilogue: ignored */
        default:
            return -1;
        }
    }
    if (mp->state == ST_DATA && mp->m == 0 && flush(mp, d + run, len - run) != 0) return -1;
    return 0;
}

int oma_multipart_finish(oma_multipart *mp)
{
    if (!mp || mp->state == ST_ERROR) return -1;
    if (mp->state != ST_DONE) return fail(mp, "multipart: body ended before the closing boundary");
    return 0;
}
