/* s3_client.c — the S3 transport (see s3_client.h): configuration from the URL and the AWS_*
 * environment, and one SigV4-signed request over libcurl with bounded response capture.
 */
#include "server/store/s3_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/store/sigv4.h"
#include "server/store/storage.h"

#define PART_MIN (5u << 20)
#define PART_DEFAULT (8u << 20)

static int copy(char *dst, size_t n, const char *src, size_t len)
{
    if (len >= n) return -1;
    memcpy(dst, src, len);
    dst[len] = '\0';
    return 0;
}

/* %XX-decodes a query value in place. */
static void url_decode(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (p[0] == '%' && p[1] && p[2]) {
            char hx[3] = {p[1], p[2], 0};
            char *end = NULL;
            long v = strtol(hx, &end, 16);
            if (end == hx + 2 && v > 0) {
                *o++ = (char)v;
                p += 2;
                continue;
            }
        }
        *o++ = *p;
    }
    *o = '\0';
}

static int bucket_ok(const char *b)
{
    size_t n = strlen(b);
    if (n < 3 || n > 63) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return 0;
    }
    return b[0] != '.' && b[0] != '-';
}

static int set_endpoint(oma_s3 *s3, const char *url, char *err, size_t errlen)
{
    const char *hostp = NULL;
    if (strncmp(url, "http://", 7) == 0) hostp = url + 7;
    else if (strncmp(url, "https://", 8) == 0) hostp = url + 8;
    if (!hostp || !*hostp) {
        snprintf(err, errlen, "s3: endpoint must be http://HOST[:PORT] or https://HOST[:PORT]");
        return -1;
    }
    size_t hl = strcspn(hostp, "/?#");
    if (hostp[hl] && strcmp(hostp + hl, "/") != 0) {
        snprintf(err, errlen, "s3: the endpoint must not have a path (path-style addressing adds the bucket)");
        return -1;
    }
    for (size_t i = 0; i < hl; i++)
        if (hostp[i] <= ' ' || hostp[i] == '@' || (unsigned char)hostp[i] >= 0x7f) {
            snprintf(err, errlen, "s3: bad endpoint host");
            return -1;
        }
    if (hl == 0 || copy(s3->host, sizeof s3->host, hostp, hl) != 0 ||
        copy(s3->endpoint, sizeof s3->endpoint, url, (size_t)(hostp - url) + hl) != 0) {
        snprintf(err, errlen, "s3: bad or too long endpoint");
        return -1;
    }
    return 0;
}

int oma_s3_config(oma_s3 *s3, const char *rest, char *err, size_t errlen)
{
    memset(s3, 0, sizeof *s3);
    s3->part_size = PART_DEFAULT;
    if (!rest || strncmp(rest, "//", 2) != 0) {
        snprintf(err, errlen, "s3: expected s3://BUCKET[/PREFIX]?endpoint=URL&region=R");
        return -1;
    }
    rest += 2;
    size_t pathlen = strcspn(rest, "?");
    char path[600];
    if (copy(path, sizeof path, rest, pathlen) != 0) {
        snprintf(err, errlen, "s3: bucket/prefix too long");
        return -1;
    }
    char *slash = strchr(path, '/');
    if (slash) *slash = '\0';
    if (!bucket_ok(path) || copy(s3->bucket, sizeof s3->bucket, path, strlen(path)) != 0) {
        snprintf(err, errlen, "s3: bad bucket name (3..63 of a-z 0-9 . -)");
        return -1;
    }
    if (slash && slash[1]) {
        char *pre = slash + 1;
        size_t pl = strlen(pre);
        if (pre[pl - 1] == '/') pre[--pl] = '\0';
        if (!oma_storage_key_valid(pre) || pl + 2 > sizeof s3->prefix) {
            snprintf(err, errlen, "s3: bad prefix (segments of A-Z a-z 0-9 . _ -)");
            return -1;
        }
        snprintf(s3->prefix, sizeof s3->prefix, "%s/", pre);
    }
    const char *env = getenv("AWS_REGION");
    if (!env || !*env) env = getenv("AWS_DEFAULT_REGION");
    snprintf(s3->region, sizeof s3->region, "%s", env && *env ? env : "us-east-1");
    char endpoint[300] = "";
    if ((env = getenv("AWS_ENDPOINT_URL_S3")) && *env) snprintf(endpoint, sizeof endpoint, "%s", env);
    else if ((env = getenv("AWS_ENDPOINT_URL")) && *env) snprintf(endpoint, sizeof endpoint, "%s", env);
    /* the query: endpoint, region, part_size (the URL wins over the environment) */
    const char *q = rest[pathlen] == '?' ? rest + pathlen + 1 : "";
    while (*q) {
        size_t n = strcspn(q, "&");
        char pair[400];
        if (copy(pair, sizeof pair, q, n) != 0) {
            snprintf(err, errlen, "s3: query parameter too long");
            return -1;
        }
        q += n + (q[n] == '&');
        char *eq = strchr(pair, '=');
        if (!eq) continue;
        *eq = '\0';
        char *v = eq + 1;
        url_decode(v);
        if (strcmp(pair, "endpoint") == 0) {
            snprintf(endpoint, sizeof endpoint, "%s", v);
        } else if (strcmp(pair, "region") == 0) {
            if (!*v || copy(s3->region, sizeof s3->region, v, strlen(v)) != 0 || strpbrk(v, "/ \n")) {
                snprintf(err, errlen, "s3: bad region");
                return -1;
            }
        } else if (strcmp(pair, "part_size") == 0) {
            char *end = NULL;
            unsigned long long ps = strtoull(v, &end, 10);
            if (!*v || *end || ps < PART_MIN || ps > (1ull << 30)) {
                snprintf(err, errlen, "s3: part_size must be 5242880..1073741824 bytes");
                return -1;
            }
            s3->part_size = (size_t)ps;
        } else {
            snprintf(err, errlen, "s3: unknown URL parameter %s (endpoint, region, part_size)", pair);
            return -1;
        }
    }
    if (!endpoint[0]) snprintf(endpoint, sizeof endpoint, "https://s3.%s.amazonaws.com", s3->region);
    if (set_endpoint(s3, endpoint, err, errlen) != 0) return -1;
    const char *ak = getenv("AWS_ACCESS_KEY_ID"), *sk = getenv("AWS_SECRET_ACCESS_KEY");
    if (!ak || !*ak || !sk || !*sk) {
        snprintf(err, errlen, "s3: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
        return -1;
    }
    const char *tok = getenv("AWS_SESSION_TOKEN");
    if (copy(s3->access_key, sizeof s3->access_key, ak, strlen(ak)) != 0 ||
        copy(s3->secret_key, sizeof s3->secret_key, sk, strlen(sk)) != 0 ||
        (tok && copy(s3->session_token, sizeof s3->session_token, tok, strlen(tok)) != 0)) {
        snprintf(err, errlen, "s3: credentials too long");
        return -1;
    }
    return 0;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static int curl_ok;
static void curl_init_once(void) { curl_ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }

typedef struct sink {
    oma_s3_response *r;
    size_t cap, max;
    int overflow, checked;
    CURL *curl;
} sink;

#define ERROR_BODY_MAX 65536

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    sink *s = ud;
    size_t len = size * n;
    if (!s->checked) { /* an error document is kept up to 64 KiB, whatever the caller's limit */
        long status = 0;
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
        if ((status < 200 || status > 299) && s->max < ERROR_BODY_MAX) s->max = ERROR_BODY_MAX;
        s->checked = 1;
    }
    if (s->r->len + len > s->max) {
        s->overflow = 1;
        return 0;
    }
    if (s->r->len + len + 1 > s->cap) {
        size_t nc = s->cap ? s->cap : 4096;
        while (nc < s->r->len + len + 1) nc *= 2;
        if (nc > s->max + 1) nc = s->max + 1;
        uint8_t *nb = realloc(s->r->body, nc);
        if (!nb) return 0;
        s->r->body = nb;
        s->cap = nc;
    }
    memcpy(s->r->body + s->r->len, p, len);
    s->r->len += len;
    s->r->body[s->r->len] = '\0';
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    oma_s3_response *r = ud;
    size_t len = size * n;
    if (len > 5 && strncasecmp(p, "etag:", 5) == 0) {
        size_t i = 5;
        while (i < len && (p[i] == ' ' || p[i] == '\t')) i++;
        size_t e = len;
        while (e > i && (p[e - 1] == '\r' || p[e - 1] == '\n' || p[e - 1] == ' ')) e--;
        if (e - i < sizeof r->etag) copy(r->etag, sizeof r->etag, p + i, e - i);
    }
    return len;
}

typedef struct source {
    const uint8_t *p;
    size_t len, off;
} source;

static size_t on_read(char *buf, size_t size, size_t n, void *ud)
{
    source *s = ud;
    size_t want = size * n, left = s->len - s->off;
    if (want > left) want = left;
    if (want) memcpy(buf, s->p + s->off, want);
    s->off += want;
    return want;
}

CURL *oma_s3_easy(const oma_s3 *s3, const char *method, const char *key, const char *query, const void *body,
                  size_t body_len, struct curl_slist **hdrs_out, char *err, size_t errlen)
{
    *hdrs_out = NULL;
    pthread_once(&curl_once, curl_init_once);
    if (!curl_ok) {
        snprintf(err, errlen, "s3: libcurl failed to initialise");
        return NULL;
    }
    char raw[1024], uri[3200], url[3600];
    int n = key ? snprintf(raw, sizeof raw, "/%s/%s%s", s3->bucket, s3->prefix, key)
                : snprintf(raw, sizeof raw, "/%s", s3->bucket);
    if (n < 0 || (size_t)n >= sizeof raw || oma_sigv4_uri_encode(raw, 1, uri, sizeof uri) != 0) {
        snprintf(err, errlen, "s3: key too long");
        return NULL;
    }
    n = snprintf(url, sizeof url, "%s%s%s%s", s3->endpoint, uri, query && *query ? "?" : "", query ? query : "");
    if (n < 0 || (size_t)n >= sizeof url) {
        snprintf(err, errlen, "s3: URL too long");
        return NULL;
    }
    char payload[65], amz_date[20];
    oma_sha256_hex(body ? body : "", body ? body_len : 0, payload);
    time_t t = time(NULL);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(amz_date, sizeof amz_date, "%Y%m%dT%H%M%SZ", &tm) != 16) {
        snprintf(err, errlen, "s3: clock");
        return NULL;
    }
    oma_sigv4_header sh[4] = {{"host", s3->host}, {"x-amz-content-sha256", payload}, {"x-amz-date", amz_date}};
    size_t nsh = 3;
    if (s3->session_token[0]) sh[nsh++] = (oma_sigv4_header){"x-amz-security-token", s3->session_token};
    oma_sigv4_request sr = {method, uri, query ? query : "", sh, nsh, payload, amz_date,
                            s3->region, "s3", s3->access_key, s3->secret_key};
    char auth[600];
    if (oma_sigv4_authorization(&sr, auth, sizeof auth) != 0) {
        snprintf(err, errlen, "s3: cannot sign the request");
        return NULL;
    }
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(err, errlen, "s3: out of memory");
        return NULL;
    }
    struct curl_slist *hdrs = NULL;
    char line[2200];
    int ok = 1;
#define ADD(...)                                                        \
    do {                                                                \
        snprintf(line, sizeof line, __VA_ARGS__);                       \
        struct curl_slist *nl = curl_slist_append(hdrs, line);          \
        if (!nl) ok = 0;                                                \
        else hdrs = nl;                                                 \
    } while (0)
    ADD("Host: %s", s3->host);
    ADD("x-amz-content-sha256: %s", payload);
    ADD("x-amz-date: %s", amz_date);
    ADD("Authorization: %s", auth);
    if (s3->session_token[0]) ADD("x-amz-security-token: %s", s3->session_token);
    ADD("Expect:");
    ADD("Content-Type:");
#undef ADD
    if (!ok) {
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(c);
        snprintf(err, errlen, "s3: out of memory");
        return NULL;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (strcmp(method, "HEAD") == 0) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "GET") != 0) curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    *hdrs_out = hdrs;
    return c;
}

int oma_s3_request(const oma_s3 *s3, const char *method, const char *key, const char *query, const void *body,
                   size_t body_len, size_t max_body, oma_s3_response *resp, char *err, size_t errlen)
{
    memset(resp, 0, sizeof *resp);
    struct curl_slist *hdrs = NULL;
    CURL *c = oma_s3_easy(s3, method, key, query, body, body_len, &hdrs, err, errlen);
    if (!c) return -1;
    sink snk = {resp, 0, max_body, 0, 0, c};
    source src = {body, body ? body_len : 0, 0};
    char curl_err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &snk);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
    if (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &src);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)src.len);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    if (rc != CURLE_OK) {
        if (snk.overflow) snprintf(err, errlen, "s3: the object is larger than the limit of %zu bytes", max_body);
        else snprintf(err, errlen, "s3: %s: %s", s3->endpoint, curl_err[0] ? curl_err : curl_easy_strerror(rc));
        free(resp->body);
        resp->body = NULL;
        resp->len = 0;
        return -1;
    }
    return 0;
}

static void unescape(char *s)
{
    static const struct {
        const char *e;
        char c;
    } ents[] = {{"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    char *o = s;
    for (char *p = s; *p;) {
        int done = 0;
        if (*p == '&')
            for (size_t i = 0; i < sizeof ents / sizeof ents[0]; i++) {
                size_t n = strlen(ents[i].e);
                if (strncmp(p, ents[i].e, n) == 0) {
                    *o++ = ents[i].c;
                    p += n;
                    done = 1;
                    break;
                }
            }
        if (!done) *o++ = *p++;
    }
    *o = '\0';
}

int oma_s3_xml_tag(const char **from, const char *tag, char *out, size_t outlen)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *a = strstr(*from, open);
    if (!a) return 0;
    a += strlen(open);
    const char *b = strstr(a, close);
    if (!b) return 0;
    if (copy(out, outlen, a, (size_t)(b - a)) != 0) out[0] = '\0';
    else unescape(out);
    *from = b + strlen(close);
    return 1;
}
