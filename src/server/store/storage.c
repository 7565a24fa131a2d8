/* storage.c — the backend-neutral half of storage.h: picks a backend by URL scheme, checks every
 * key against one strict grammar before any backend sees it, and implements content
 * addressing (SHA-256 via libsodium) on top of put/exists so every backend shares it.
 */
#include "server/store/storage_driver.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 512

static const oma_storage_engine *const engines[] = {
    &oma_storage_engine_fs,
    &oma_storage_engine_s3,
};

int oma_storage_key_valid(const char *key)
{
    if (!key) return 0;
    size_t n = strnlen(key, KEY_MAX + 1);
    if (n == 0 || n > KEY_MAX) return 0;
    int seg_start = 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c == '/') {
            if (seg_start) return 0; /* leading "/" or "//" */
            seg_start = 1;
            continue;
        }
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                 c == '_' || c == '-';
        if (!ok) return 0;
        if (seg_start && c == '.') return 0; /* ".", "..", hidden names, temporaries */
        seg_start = 0;
    }
    return !seg_start; /* no trailing "/" */
}

int oma_storage_open(oma_storage **out, const char *url, char *err, size_t errlen)
{
    if (!out) return -1;
    *out = NULL;
    if (!url || !*url) {
        snprintf(err, errlen, "storage URL is empty");
        return -1;
    }
    const oma_storage_engine *drv = NULL;
    for (size_t i = 0; i < sizeof engines / sizeof engines[0]; i++)
        if (strncmp(url, engines[i]->scheme, strlen(engines[i]->scheme)) == 0) drv = engines[i];
    if (!drv) {
        snprintf(err, errlen, "unknown storage URL scheme (expected file:PATH or s3://BUCKET[/PREFIX]?endpoint=URL&region=R)");
        return -1;
    }
    oma_storage *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->drv = drv;
    if (drv->open(s, url + strlen(drv->scheme), err, errlen) != 0) {
        free(s);
        return -1;
    }
    *out = s;
    return 0;
}

void oma_storage_close(oma_storage *s)
{
    if (!s) return;
    if (s->impl) s->drv->close(s);
    free(s);
}

const char *oma_storage_driver(oma_storage *s) { return s ? s->drv->name : ""; }

static int bad_key(const char *key, char *err, size_t errlen)
{
    snprintf(err, errlen, "invalid storage key \"%.64s%s\"", key ? key : "(null)",
             key && strnlen(key, 65) > 64 ? "..." : "");
    return -1;
}

int oma_storage_put(oma_storage *s, const char *key, const void *data, size_t len, char *err, size_t errlen)
{
    if (!oma_storage_key_valid(key)) return bad_key(key, err, errlen);
    if (!data && len) {
        snprintf(err, errlen, "no data");
        return -1;
    }
    return s->drv->put(s, key, data, len, err, errlen);
}

int oma_storage_get(oma_storage *s, const char *key, size_t max_len, uint8_t **data, size_t *len, char *err,
                    size_t errlen)
{
    *data = NULL;
    *len = 0;
    if (!oma_storage_key_valid(key)) return bad_key(key, err, errlen);
    return s->drv->get(s, key, max_len, data, len, err, errlen);
}

int oma_storage_exists(oma_storage *s, const char *key)
{
    if (!oma_storage_key_valid(key)) return 0;
    return s->drv->exists(s, key);
}

int oma_storage_reader_open(oma_storage *s, const char *key, oma_storage_reader **out, uint64_t *size,
                            char *err, size_t errlen)
{
    *out = NULL;
    *size = 0;
    if (!oma_storage_key_valid(key)) return bad_key(key, err, errlen);
    return s->drv->reader(s, key, out, size, err, errlen);
}

long oma_storage_reader_read(oma_storage_reader *rd, void *buf, size_t cap, char *err, size_t errlen)
{
    return rd->ops->read(rd, buf, cap, err, errlen);
}

void oma_storage_reader_cancel(oma_storage_reader *rd)
{
    if (rd) rd->ops->cancel(rd);
}

int oma_storage_reader_remote(const oma_storage_reader *rd) { return rd ? rd->remote : 0; }

void oma_storage_reader_close(oma_storage_reader *rd)
{
    if (rd) rd->ops->close(rd);
}

int oma_storage_delete(oma_storage *s, const char *key, char *err, size_t errlen)
{
    if (!oma_storage_key_valid(key)) return bad_key(key, err, errlen);
    return s->drv->del(s, key, err, errlen);
}

int oma_storage_list(oma_storage *s, const char *prefix, int (*fn)(const char *key, size_t len, void *ud),
                     void *ud, char *err, size_t errlen)
{
    if (!prefix) prefix = "";
    if (strnlen(prefix, KEY_MAX + 1) > KEY_MAX || !fn) {
        snprintf(err, errlen, "invalid list prefix");
        return -1;
    }
    return s->drv->list(s, prefix, fn, ud, err, errlen);
}

int oma_storage_put_blob(oma_storage *s, const void *data, size_t len, char *key_out, char *sha_hex_out,
                         char *err, size_t errlen)
{
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return -1;
    }
    if (!data && len) {
        snprintf(err, errlen, "no data");
        return -1;
    }
    static const unsigned char empty = 0;
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(digest, data ? data : &empty, len);
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
    char key[96];
    snprintf(key, sizeof key, "blobs/sha256/%.2s/%s", hex, hex);
    if (!oma_storage_exists(s, key) && oma_storage_put(s, key, data, len, err, errlen) != 0) return -1;
    if (key_out) memcpy(key_out, key, strlen(key) + 1);
    if (sha_hex_out) memcpy(sha_hex_out, hex, sizeof hex);
    return 0;
}
