/* s3_client.h — one signed S3 request over libcurl: the transport under storage_s3.c (and a
 * GET read as it arrives, s3_reader.c, for streaming downloads).
 *
 * A bucket is addressed path-style (ENDPOINT/BUCKET/KEY), which every S3-compatible server
 * accepts. Each request gets its own curl handle (the storage is shared by HTTP threads and a
 * handle is not), is signed with SigV4 over its payload's SHA-256, and collects a bounded
 * response body and the ETag header.
 */
#ifndef OMA_SERVER_S3_CLIENT_H
#define OMA_SERVER_S3_CLIENT_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

typedef struct oma_s3 {
    char endpoint[256];   /* "http://127.0.0.1:4569" (no trailing '/') */
    char host[256];       /* "127.0.0.1:4569": the Host header, as signed */
    char bucket[64];
    char prefix[256];     /* "" or "some/prefix/" (with its trailing '/') */
    char region[64];
    char access_key[128];
    char secret_key[256];
    char session_token[2048]; /* AWS_SESSION_TOKEN, "" if none */
    size_t part_size;     /* multipart above this many bytes (default 8 MiB, at least 5 MiB) */
} oma_s3;

/* Parses "BUCKET[/PREFIX][?endpoint=URL&region=R&part_size=N]" (what follows "s3://") and
 * reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION /
 * AWS_DEFAULT_REGION and AWS_ENDPOINT_URL(_S3). 0 or -1 with err. */
int oma_s3_config(oma_s3 *s3, const char *rest, char *err, size_t errlen);

typedef struct oma_s3_response {
    long status;          /* HTTP status, 0 if no answer */
    uint8_t *body;        /* malloc'ed, NUL-terminated (may be NULL when empty) */
    size_t len;
    char etag[128];
} oma_s3_response;

/* method; key (relative to the prefix; NULL = the bucket itself); query: canonical
 * "name=value&..." already sorted and encoded ("" none); body (may be NULL); max_body: the
 * most response bytes kept (more = error). 0 when an HTTP answer came (any status), -1 with
 * err on a transport error. Free resp->body with free(). */
int oma_s3_request(const oma_s3 *s3, const char *method, const char *key, const char *query, const void *body,
                   size_t body_len, size_t max_body, oma_s3_response *resp, char *err, size_t errlen);

/* The signed request without its transfer: a curl handle with the URL, the signed headers (in
 * *hdrs: free them with curl_slist_free_all after curl_easy_cleanup), the timeouts and the
 * method set; the caller adds its callbacks and performs it. NULL with err. */
CURL *oma_s3_easy(const oma_s3 *s3, const char *method, const char *key, const char *query, const void *body,
                  size_t body_len, struct curl_slist **hdrs, char *err, size_t errlen);

/* A GET read as it arrives (s3_reader.c), for streaming an object to a client with bounded
 * memory. open sends the GET and waits for the answer's head: 0 when an answer came (any
 * status; for one that is not 2xx its error document, up to 4 KiB, is read too), -1 with err
 * on a transport error. read blocks until bytes come: n > 0, 0 at the end (exactly
 * Content-Length bytes came), -1 with err (the transfer broke, ended short, or was
 * cancelled). cancel may be called from any thread: a read waiting, or the next, returns -1
 * at once and the transfer is dropped. */
typedef struct oma_s3_reader oma_s3_reader;
int oma_s3_reader_open(const oma_s3 *s3, const char *key, oma_s3_reader **out, char *err, size_t errlen);
long oma_s3_reader_status(const oma_s3_reader *rd);
int64_t oma_s3_reader_length(const oma_s3_reader *rd); /* Content-Length, -1 if none came */
const char *oma_s3_reader_error_doc(const oma_s3_reader *rd); /* "" when none */
long oma_s3_reader_read(oma_s3_reader *rd, void *buf, size_t cap, char *err, size_t errlen);
void oma_s3_reader_cancel(oma_s3_reader *rd);
void oma_s3_reader_free(oma_s3_reader *rd);

/* The text of <tag>...</tag> after *from in xml (no entities but &amp; &lt; &gt; &quot;
 * &apos;), into out; advances *from past it. 1 found, 0 not. */
int oma_s3_xml_tag(const char **from, const char *tag, char *out, size_t outlen);

#endif
