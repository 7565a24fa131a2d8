/* storage.h — object storage behind one interface: put/get/delete/list by key.
 *
 * Keys are relative, slash-separated paths made of [A-Za-z0-9._-] segments (no segment may
 * start with "." — so no "." or ".." — no leading or trailing "/", no empty segment, at most
 * 512 bytes; names starting with "." are the store's own temporaries); every implementation rejects any other
 * key, so no caller can reach outside the store. The local-folder implementation writes to a
 * temporary file and renames it into place (a crash never leaves half a file); the S3 one
 * (libcurl + SigV4, storage_s3.c) sits behind the same table. Objects are read whole (bounded)
 * or as they come (a reader, for downloads of any size).
 */
#ifndef OMA_SERVER_STORAGE_H
#define OMA_SERVER_STORAGE_H

#include <stddef.h>
#include <stdint.h>

typedef struct oma_storage oma_storage;

/* url: "file:/path/to/folder" (created if missing) or "s3://BUCKET[/PREFIX]?endpoint=URL&region=R"
 * (credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; storage_s3.c). */
int oma_storage_open(oma_storage **out, const char *url, char *err, size_t errlen);
void oma_storage_close(oma_storage *s);
const char *oma_storage_driver(oma_storage *s);     /* "fs" or "s3" */

/* 1 if key is acceptable, 0 if not. */
int oma_storage_key_valid(const char *key);

int oma_storage_put(oma_storage *s, const char *key, const void *data, size_t len,
                    char *err, size_t errlen);
/* *data is malloc'ed; max_len bounds what will be read (-1 with err if larger).
 * Returns 0, -1 on error, or 1 if the key does not exist. */
int oma_storage_get(oma_storage *s, const char *key, size_t max_len, uint8_t **data, size_t *len,
                    char *err, size_t errlen);
int oma_storage_exists(oma_storage *s, const char *key);

/* Reading an object as it comes, for sending it to a client in bounded memory (any size).
 * open: 0 with *out and *size, 1 if the key does not exist, -1 with err. read blocks until
 * bytes come (the disk, or the network for S3): n > 0, 0 at the end (exactly *size bytes were
 * read), -1 with err (a broken or short transfer is an error, never an early end). cancel may
 * be called from any thread while another reads (until close): that read, or the next, returns
 * -1 soon and an S3 transfer is dropped. remote: 1 when reads wait on the network (the HTTP
 * layer then reads on a thread of its own), 0 for the local folder. */
typedef struct oma_storage_reader oma_storage_reader;
int oma_storage_reader_open(oma_storage *s, const char *key, oma_storage_reader **out, uint64_t *size,
                            char *err, size_t errlen);
long oma_storage_reader_read(oma_storage_reader *rd, void *buf, size_t cap, char *err, size_t errlen);
void oma_storage_reader_cancel(oma_storage_reader *rd);
int oma_storage_reader_remote(const oma_storage_reader *rd);
void oma_storage_reader_close(oma_storage_reader *rd);
int oma_storage_delete(oma_storage *s, const char *key, char *err, size_t errlen); /* missing = ok */
/* Calls fn for each key under prefix (prefix "" = all), sorted; stops if fn returns non-zero. */
int oma_storage_list(oma_storage *s, const char *prefix,
                     int (*fn)(const char *key, size_t len, void *ud), void *ud,
                     char *err, size_t errlen);

/* Content addressing: key "blobs/sha256/ab/<64 hex>" for data; put if absent.
 * key_out must hold 96 bytes, sha_hex_out 65 (either may be NULL). */
int oma_storage_put_blob(oma_storage *s, const void *data, size_t len, char *key_out,
                         char *sha_hex_out, char *err, size_t errlen);

#endif
