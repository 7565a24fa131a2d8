/* torch_zip.c — the zip side of torch.save archives: find PREFIX/data.pkl and the storages.
 *
 * Only what torch writes is accepted: a single-disk zip whose entries are stored (method 0,
 * compressed size == size), no zip64. The central directory is found from the end record, every
 * offset and length is checked against the buffer, and each entry's data is located through its
 * local header. The pickle (torch_pickle.c) then asks for storages by key: PREFIX/data/<key>.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/fail.h"
#include "formats/torch_pickle.h"

#define MAX_ENTRIES 200000

typedef struct zentry {
    const char *name;       /* into the buffer, not terminated */
    size_t name_len;
    const uint8_t *data;
    size_t size;
} zentry;

typedef struct zarchive {
    zentry *e;
    size_t n;
    const char *prefix;     /* "archive/" part before data.pkl */
    size_t prefix_len;
} zarchive;

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | rd16(p + 2) << 16; }

static int read_directory(const uint8_t *d, size_t len, zarchive *z, char *err, size_t errlen)
{
    if (len < 22) return oma_fail(err, errlen, "not a zip archive (too short)");
    size_t lo = len > 22 + 65535 ? len - 22 - 65535 : 0, eocd = (size_t)-1;
    for (size_t i = len - 22 + 1; i-- > lo;)
        if (rd32(d + i) == 0x06054b50) {
            eocd = i;
            break;
        }
    if (eocd == (size_t)-1) return oma_fail(err, errlen, "not a zip archive (no end record; truncated?)");
    uint32_t count = rd16(d + eocd + 10), cd_size = rd32(d + eocd + 12), cd_off = rd32(d + eocd + 16);
    if (count == 0xFFFF || cd_off == 0xFFFFFFFFu) return oma_fail(err, errlen, "zip64 archives are not supported");
    if (count > MAX_ENTRIES) return oma_fail(err, errlen, "zip with %u entries", count);
    if ((uint64_t)cd_off + cd_size > eocd) return oma_fail(err, errlen, "zip directory outside the file (truncated?)");
    z->e = calloc(count ? count : 1, sizeof *z->e);
    if (!z->e) return oma_fail(err, errlen, "out of memory");
    size_t p = cd_off;
    for (uint32_t i = 0; i < count; i++) {
        if (p + 46 > (size_t)cd_off + cd_size || rd32(d + p) != 0x02014b50)
            return oma_fail(err, errlen, "zip directory entry %u is damaged", i);
        uint32_t method = rd16(d + p + 10), csize = rd32(d + p + 20), usize = rd32(d + p + 24);
        uint32_t nlen = rd16(d + p + 28), xlen = rd16(d + p + 30), clen = rd16(d + p + 32);
        uint32_t loff = rd32(d + p + 42);
        if (p + 46 + (size_t)nlen + xlen + clen > (size_t)cd_off + cd_size)
            return oma_fail(err, errlen, "zip directory entry %u is damaged", i);
        const char *name = (const char *)d + p + 46;
        if (csize == 0xFFFFFFFFu || usize == 0xFFFFFFFFu || loff == 0xFFFFFFFFu)
            return oma_fail(err, errlen, "zip entry '%.*s': zip64 is not supported", (int)nlen, name);
        if (method != 0 || csize != usize)
            return oma_fail(err, errlen, "zip entry '%.*s': compressed (method %u); torch stores entries", (int)nlen,
                            name, method);
        if ((uint64_t)loff + 30 > len || rd32(d + loff) != 0x04034b50)
            return oma_fail(err, errlen, "zip entry '%.*s': local header outside the file (truncated?)", (int)nlen, name);
        uint64_t start = (uint64_t)loff + 30 + rd16(d + loff + 26) + rd16(d + loff + 28);
        if (start + usize > len)
            return oma_fail(err, errlen, "zip entry '%.*s': data beyond the end of the file (truncated?)", (int)nlen,
                            name);
        z->e[i] = (zentry){name, nlen, d + start, usize};
        p += 46 + (size_t)nlen + xlen + clen;
    }
    z->n = count;
    return 0;
}

static int storage(void *ctx, const char *key, const uint8_t **bytes, size_t *len)
{
    zarchive *z = ctx;
    size_t kl = strlen(key);
    for (size_t i = 0; i < z->n; i++) {
        const zentry *e = &z->e[i];
        if (e->name_len == z->prefix_len + 5 + kl && !memcmp(e->name, z->prefix, z->prefix_len) &&
            !memcmp(e->name + z->prefix_len, "data/", 5) && !memcmp(e->name + z->prefix_len + 5, key, kl)) {
            *bytes = e->data;
            *len = e->size;
            return 0;
        }
    }
    return -1;
}

int oma_torch_zip_parse(const uint8_t *data, size_t len, oma_tensor_file *f, char *err, size_t errlen)
{
    zarchive z = {0};
    int rc = read_directory(data, len, &z, err, errlen);
    const zentry *pkl = NULL;
    for (size_t i = 0; rc == 0 && i < z.n; i++) {
        const zentry *e = &z.e[i];
        if (e->name_len >= 8 && !memcmp(e->name + e->name_len - 8, "data.pkl", 8) &&
            (e->name_len == 8 || e->name[e->name_len - 9] == '/')) {
            if (pkl) rc = oma_fail(err, errlen, "zip holds two data.pkl entries");
            pkl = e;
        }
    }
    if (rc == 0 && !pkl) rc = oma_fail(err, errlen, "no data.pkl in the archive (not a torch.save file)");
    if (rc == 0) {
        z.prefix = pkl->name;
        z.prefix_len = pkl->name_len - 8;
        rc = oma_torch_unpickle(pkl->data, pkl->size, len, storage, &z, f, err, errlen);
    }
    free(z.e);
    return rc;
}

int oma_torch_zip_load(const char *path, size_t max_bytes, oma_tensor_file *f, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return oma_fail(err, errlen, "cannot open");
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            if (cap >= max_bytes) {
                free(buf);
                fclose(fp);
                return oma_fail(err, errlen, "larger than %zu bytes", max_bytes);
            }
            size_t nc = cap ? cap * 2 : 65536;
            if (nc > max_bytes) nc = max_bytes;
            uint8_t *nb = realloc(buf, nc);
            if (!nb) {
                free(buf);
                fclose(fp);
                return oma_fail(err, errlen, "out of memory");
            }
            buf = nb;
            cap = nc;
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(fp);
    fclose(fp);
    int rc = bad ? oma_fail(err, errlen, "read error") : oma_torch_zip_parse(buf, len, f, err, errlen);
    free(buf);
    return rc;
}
