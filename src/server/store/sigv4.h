/* sigv4.h — AWS Signature Version 4 for S3 requests (header-based), written from AWS's
 * published algorithm and checked against its published examples (tests/unit/server/
 * test_sigv4.c).
 *
 * The caller builds the canonical pieces (URI-encoded path, sorted encoded query, the headers
 * it will send with lowercase names) and the payload hash; oma_sigv4_authorization returns
 * the Authorization header value. SHA-256 and HMAC come from libsodium.
 */
#ifndef OMA_SERVER_SIGV4_H
#define OMA_SERVER_SIGV4_H

#include <stddef.h>

typedef struct oma_sigv4_header {
    const char *name;   /* lowercase, e.g. "host", "x-amz-date" */
    const char *value;  /* as sent; leading/trailing spaces are trimmed and runs folded */
} oma_sigv4_header;

typedef struct oma_sigv4_request {
    const char *method;           /* "GET" */
    const char *canonical_uri;    /* already URI-encoded path, "/bucket/key" */
    const char *canonical_query;  /* "name=value&..." sorted by name, encoded; "" if none */
    const oma_sigv4_header *headers;
    size_t n_headers;             /* at most 16; signed in name order whatever order they come in */
    const char *payload_hash;     /* 64 lowercase hex, or "UNSIGNED-PAYLOAD" */
    const char *amz_date;         /* "20130524T000000Z" (its first 8 chars are the scope date) */
    const char *region;           /* "us-east-1" */
    const char *service;          /* "s3" */
    const char *access_key;
    const char *secret_key;
} oma_sigv4_request;

/* Fills out with "AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...".
 * 0, or -1 (bad arguments, or out too small). */
int oma_sigv4_authorization(const oma_sigv4_request *r, char *out, size_t outlen);

/* The same steps, exposed for tests: the canonical request and the string to sign. */
int oma_sigv4_canonical_request(const oma_sigv4_request *r, char *out, size_t outlen);
int oma_sigv4_string_to_sign(const oma_sigv4_request *r, char *out, size_t outlen);

/* Lowercase hex SHA-256 of n bytes (out: 65 bytes). */
void oma_sha256_hex(const void *data, size_t n, char *out);

/* AWS URI encoding: every byte but A-Z a-z 0-9 - . _ ~ becomes %XX (uppercase); '/' is kept
 * when keep_slash. 0, or -1 if out is too small. */
int oma_sigv4_uri_encode(const char *s, int keep_slash, char *out, size_t outlen);

#endif
