/* sigv4.c — AWS Signature Version 4 (see sigv4.h).
 *
 * The steps, as AWS documents them: a canonical request (method, path, query, the signed
 * headers as "name:value" lines in name order, their names joined by ';', the payload hash),
 * its SHA-256 in a string to sign with the date and the credential scope
 * (date/region/service/aws4_request), a signing key derived by chained HMAC-SHA256 from
 * "AWS4" + secret over date, region, service and "aws4_request", and the hex HMAC of the
 * string to sign under that key.
 */
#include "server/store/sigv4.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 16

static void hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

void oma_sha256_hex(const void *data, size_t n, char *out)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)data, n);
    hex(h, sizeof h, out);
}

static void hmac(const unsigned char *key, size_t keylen, const char *msg, unsigned char out[32])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)msg, strlen(msg));
    crypto_auth_hmacsha256_final(&st, out);
}

int oma_sigv4_uri_encode(const char *s, int keep_slash, char *out, size_t outlen)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '_' || c == '~' || (keep_slash && c == '/');
        if (plain) {
            if (o + 1 >= outlen) return -1;
            out[o++] = (char)c;
        } else {
            if (o + 3 >= outlen) return -1;
            out[o++] = '%';
            out[o++] = digits[c >> 4];
            out[o++] = digits[c & 15];
        }
    }
    if (o >= outlen) return -1;
    out[o] = '\0';
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(const oma_sigv4_header *const *)a)->name, (*(const oma_sigv4_header *const *)b)->name);
}

/* Appends printf-style text at *o; -1 when it does not fit. */
static int put(char *out, size_t outlen, size_t *o, const char *fmt, const char *a)
{
    if (*o >= outlen) return -1;
    int n = snprintf(out + *o, outlen - *o, fmt, a);
    if (n < 0 || (size_t)n >= outlen - *o) return -1;
    *o += (size_t)n;
    return 0;
}

/* A header value as signed: outer spaces trimmed, inner runs of spaces folded to one. */
static int put_value(char *out, size_t outlen, size_t *o, const char *v)
{
    while (*v == ' ' || *v == '\t') v++;
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
    int in_space = 0;
    for (size_t i = 0; i < n; i++) {
        char c = v[i] == '\t' ? ' ' : v[i];
        if (c == ' ' && in_space) continue;
        in_space = c == ' ';
        if (*o + 1 >= outlen) return -1;
        out[(*o)++] = c;
    }
    out[*o] = '\0';
    return 0;
}

static int sorted_headers(const oma_sigv4_request *r, const oma_sigv4_header **h)
{
    if (!r->headers || r->n_headers == 0 || r->n_headers > MAX_HEADERS) return -1;
    for (size_t i = 0; i < r->n_headers; i++) {
        if (!r->headers[i].name || !r->headers[i].value) return -1;
        h[i] = &r->headers[i];
    }
    qsort(h, r->n_headers, sizeof *h, by_name);
    return 0;
}

static int signed_names(const oma_sigv4_header **h, size_t n, char *out, size_t outlen, size_t *o)
{
    for (size_t i = 0; i < n; i++)
        if (put(out, outlen, o, i ? ";%s" : "%s", h[i]->name) != 0) return -1;
    return 0;
}

static int args_ok(const oma_sigv4_request *r)
{
    return r && r->method && r->canonical_uri && r->canonical_query && r->payload_hash && r->amz_date &&
           strlen(r->amz_date) == 16 && r->region && r->service && r->access_key && r->secret_key;
}

int oma_sigv4_canonical_request(const oma_sigv4_request *r, char *out, size_t outlen)
{
    const oma_sigv4_header *h[MAX_HEADERS];
    if (!args_ok(r) || !out || sorted_headers(r, h) != 0) return -1;
    size_t o = 0;
    if (put(out, outlen, &o, "%s\n", r->method) || put(out, outlen, &o, "%s\n", r->canonical_uri) ||
        put(out, outlen, &o, "%s\n", r->canonical_query))
        return -1;
    for (size_t i = 0; i < r->n_headers; i++)
        if (put(out, outlen, &o, "%s:", h[i]->name) || put_value(out, outlen, &o, h[i]->value) ||
            put(out, outlen, &o, "%s", "\n"))
            return -1;
    if (put(out, outlen, &o, "%s", "\n") || signed_names(h, r->n_headers, out, outlen, &o) ||
        put(out, outlen, &o, "\n%s", r->payload_hash))
        return -1;
    return 0;
}

static void scope(const oma_sigv4_request *r, char *out, size_t outlen)
{
    snprintf(out, outlen, "%.8s/%s/%s/aws4_request", r->amz_date, r->region, r->service);
}

int oma_sigv4_string_to_sign(const oma_sigv4_request *r, char *out, size_t outlen)
{
    if (!args_ok(r) || !out) return -1;
    size_t cap = 16384;
    char *creq = malloc(cap);
    if (!creq) return -1;
    if (oma_sigv4_canonical_request(r, creq, cap) != 0) {
        free(creq);
        return -1;
    }
    char ch[65], sc[256];
    oma_sha256_hex(creq, strlen(creq), ch);
    free(creq);
    scope(r, sc, sizeof sc);
    int n = snprintf(out, outlen, "AWS4-HMAC-SHA256\n%s\n%s\n%s", r->amz_date, sc, ch);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int oma_sigv4_authorization(const oma_sigv4_request *r, char *out, size_t outlen)
{
    if (!args_ok(r) || !out) return -1;
    if (sodium_init() < 0) return -1;
    char sts[1024];
    if (oma_sigv4_string_to_sign(r, sts, sizeof sts) != 0) return -1;
    /* the signing key */
    size_t sl = strlen(r->secret_key);
    unsigned char *k0 = malloc(sl + 4);
    if (!k0) return -1;
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, r->secret_key, sl);
    char date[9];
    snprintf(date, sizeof date, "%.8s", r->amz_date);
    unsigned char k1[32], k2[32], k3[32], k4[32], sig[32];
    hmac(k0, sl + 4, date, k1);
    sodium_memzero(k0, sl + 4);
    free(k0);
    hmac(k1, 32, r->region, k2);
    hmac(k2, 32, r->service, k3);
    hmac(k3, 32, "aws4_request", k4);
    hmac(k4, 32, sts, sig);
    char sighex[65], sc[256], names[512];
    hex(sig, 32, sighex);
    scope(r, sc, sizeof sc);
    const oma_sigv4_header *h[MAX_HEADERS];
    size_t o = 0;
    if (sorted_headers(r, h) != 0 || signed_names(h, r->n_headers, names, sizeof names, &o) != 0) return -1;
    int n = snprintf(out, outlen, "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s", r->access_key,
                     sc, names, sighex);
    sodium_memzero(k4, sizeof k4);
    return n < 0 || (size_t)n >= outlen ? -1 : 0;
}
