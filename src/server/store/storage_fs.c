/* storage_fs.c — the local-folder storage backend ("file:/path").
 *
 * Keys map to files below one root folder. Every path is walked one segment at a time with
 * openat(O_NOFOLLOW) from a descriptor of the root, so neither a crafted key nor a symlink
 * planted inside the folder can reach outside it. Writes go to a hidden temporary file in the
 * target folder, are fsync'ed, then renamed into place (and the folder fsync'ed): a reader or
 * a crash sees the old object or the new one, never half of one.
 */
#include "server/store/storage_driver.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/files.h"

#define KEY_MAX 512
#define LIST_MAX_DEPTH 64
#define PATHBUF (KEY_MAX + 8)

typedef struct fs_store {
    int root_fd;
    char *root;
} fs_store;

static fs_store *F(oma_storage *s) { return (fs_store *)s->impl; }

static int fs_open(oma_storage *s, const char *rest, char *err, size_t errlen)
{
    if (sodium_init() < 0) {
        snprintf(err, errlen, "storage: libsodium failed to initialise");
        return -1;
    }
    if (!rest || !*rest) {
        snprintf(err, errlen, "storage: empty folder (use file:/path/to/folder)");
        return -1;
    }
    char why[600];
    if (oma_mkdir_p(rest, why, sizeof why) != 0) {
        snprintf(err, errlen, "storage: %s", why);
        return -1;
    }
    int fd = open(rest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "storage: cannot open %s: %s", rest, strerror(errno));
        return -1;
    }
    fs_store *f = calloc(1, sizeof *f);
    if (!f || !(f->root = strdup(rest))) {
        free(f);
        close(fd);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    f->root_fd = fd;
    s->impl = f;
    return 0;
}

static void fs_close(oma_storage *s)
{
    fs_store *f = F(s);
    close(f->root_fd);
    free(f->root);
    free(f);
    s->impl = NULL;
}

/* Opens the folder holding key's last segment (creating folders when create is set) and
 * points *leaf at that segment inside buf. Returns a descriptor or -1 with errno set. */
static int open_parent(fs_store *f, const char *key, int create, char *buf, const char **leaf)
{
    snprintf(buf, PATHBUF, "%s", key);
    int cur = dup(f->root_fd);
    if (cur < 0) return -1;
    char *seg = buf;
    for (;;) {
        char *slash = strchr(seg, '/');
        if (!slash) break;
        *slash = '\0';
        int next = openat(cur, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT && create) {
            if (mkdirat(cur, seg, 0755) != 0 && errno != EEXIST) {
                int e = errno;
                close(cur);
                errno = e;
                return -1;
            }
            next = openat(cur, seg, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        int e = errno;
        close(cur);
        if (next < 0) {
            errno = e;
            return -1;
        }
        cur = next;
        seg = slash + 1;
    }
    *leaf = seg;
    return cur;
}

static int fs_put(oma_storage *s, const char *key, const void *data, size_t len, char *err, size_t errlen)
{
    char buf[PATHBUF];
    const char *leaf = NULL;
    int dir = open_parent(F(s), key, 1, buf, &leaf);
    if (dir < 0) {
        snprintf(err, errlen, "storage: cannot create folders for %s: %s", key, strerror(errno));
        return -1;
    }
    unsigned char rnd[8];
    randombytes_buf(rnd, sizeof rnd);
    char tmp[40];
    snprintf(tmp, sizeof tmp, ".tmp-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
             rnd[5], rnd[6], rnd[7]);
    int fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "storage: cannot write %s: %s", key, strerror(errno));
        close(dir);
        return -1;
    }
    const uint8_t *p = data;
    size_t left = len;
    int ok = 1;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            ok = 0;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    int e = errno;
    if (ok && fsync(fd) != 0) ok = 0, e = errno;
    if (close(fd) != 0 && ok) ok = 0, e = errno;
    if (ok && renameat(dir, tmp, dir, leaf) != 0) ok = 0, e = errno;
    if (!ok) {
        unlinkat(dir, tmp, 0);
        close(dir);
        snprintf(err, errlen, "storage: cannot write %s: %s", key, strerror(e));
        return -1;
    }
    fsync(dir); /* make the rename durable; a failure here leaves a complete file either way */
    close(dir);
    return 0;
}

/* Opens key read-only as a regular file: fd, or -1 (errno), ENOENT when absent. */
static int open_regular(fs_store *f, const char *key, struct stat *sb)
{
    char buf[PATHBUF];
    const char *leaf = NULL;
    int dir = open_parent(f, key, 0, buf, &leaf);
    if (dir < 0) return -1;
    int fd = openat(dir, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    int e = errno;
    close(dir);
    if (fd < 0) {
        errno = e;
        return -1;
    }
    if (fstat(fd, sb) != 0 || !S_ISREG(sb->st_mode)) {
        close(fd);
        errno = EISDIR;
        return -1;
    }
    return fd;
}

/* open_regular for a reader: the fd, -2 when key is absent, -1 with err otherwise. */
static int open_object(fs_store *f, const char *key, struct stat *sb, char *err, size_t errlen)
{
    int fd = open_regular(f, key, sb);
    if (fd >= 0) return fd;
    if (errno == ENOENT) return -2;
    snprintf(err, errlen, "storage: cannot read %s: %s", key,
             errno == ELOOP || errno == ENOTDIR ? "not a regular file inside the store" : strerror(errno));
    return -1;
}

static int fs_get(oma_storage *s, const char *key, size_t max_len, uint8_t **data, size_t *len, char *err,
                  size_t errlen)
{
    struct stat sb;
    int fd = open_object(F(s), key, &sb, err, errlen);
    if (fd < 0) return fd == -2 ? 1 : -1;
    if ((uint64_t)sb.st_size > (uint64_t)max_len) {
        close(fd);
        snprintf(err, errlen, "storage: %s is %lld bytes, more than the limit of %zu", key, (long long)sb.st_size,
                 max_len);
        return -1;
    }
    size_t cap = (size_t)sb.st_size + 1; /* one more byte to notice growth past max_len */
    uint8_t *buf = malloc(cap);
    if (!buf) {
        close(fd);
        snprintf(err, errlen, "out of memory reading %s", key);
        return -1;
    }
    size_t got = 0;
    for (;;) {
        if (got == cap) {
            if (cap > max_len) break;
            size_t ncap = cap * 2 > max_len + 1 ? max_len + 1 : cap * 2;
            uint8_t *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                close(fd);
                snprintf(err, errlen, "out of memory reading %s", key);
                return -1;
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            snprintf(err, errlen, "storage: cannot read %s: %s", key, strerror(e));
            return -1;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (got > max_len) {
        free(buf);
        snprintf(err, errlen, "storage: %s is larger than the limit of %zu bytes", key, max_len);
        return -1;
    }
    *data = buf;
    *len = got;
    return 0;
}

/* A reader: the open file, read as it is (a rename over it later leaves this one intact). */
typedef struct fs_reader {
    oma_storage_reader base;
    int fd;
    uint64_t size, done;
    atomic_int cancelled;
    char key[KEY_MAX + 1];
} fs_reader;

static long fs_reader_read(oma_storage_reader *base, void *buf, size_t cap, char *err, size_t errlen)
{
    fs_reader *rd = (fs_reader *)base;
    if (atomic_load(&rd->cancelled)) {
        snprintf(err, errlen, "storage: reading %s was cancelled", rd->key);
        return -1;
    }
    uint64_t left = rd->size - rd->done;
    if (cap > left) cap = (size_t)left;
    if (cap > (size_t)1 << 30) cap = (size_t)1 << 30;
    if (cap == 0) return 0;
    ssize_t n;
    do n = read(rd->fd, buf, cap);
    while (n < 0 && errno == EINTR);
    if (n <= 0) { /* short: the file shrank under us */
        snprintf(err, errlen, "storage: cannot read %s: %s", rd->key, n < 0 ? strerror(errno) : "it got shorter");
        return -1;
    }
    rd->done += (uint64_t)n;
    return (long)n;
}

static void fs_reader_cancel(oma_storage_reader *base) { atomic_store(&((fs_reader *)base)->cancelled, 1); }

static void fs_reader_close(oma_storage_reader *base)
{
    fs_reader *rd = (fs_reader *)base;
    close(rd->fd);
    free(rd);
}

static const oma_storage_reader_ops fs_reader_ops = {fs_reader_read, fs_reader_cancel, fs_reader_close};

static int fs_reader_open(oma_storage *s, const char *key, oma_storage_reader **out, uint64_t *size, char *err,
                          size_t errlen)
{
    struct stat sb;
    int fd = open_object(F(s), key, &sb, err, errlen);
    if (fd < 0) return fd == -2 ? 1 : -1;
    fs_reader *rd = calloc(1, sizeof *rd);
    if (!rd) {
        close(fd);
        snprintf(err, errlen, "out of memory reading %s", key);
        return -1;
    }
    /* open_regular opened it O_NONBLOCK (a FIFO must not block the open): reads block */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    rd->base.ops = &fs_reader_ops;
    rd->fd = fd;
    rd->size = (uint64_t)sb.st_size;
    atomic_init(&rd->cancelled, 0);
    snprintf(rd->key, sizeof rd->key, "%s", key);
    *out = &rd->base;
    *size = rd->size;
    return 0;
}

static int fs_exists(oma_storage *s, const char *key)
{
    struct stat sb;
    int fd = open_regular(F(s), key, &sb);
    if (fd < 0) return 0;
    close(fd);
    return 1;
}

static int fs_del(oma_storage *s, const char *key, char *err, size_t errlen)
{
    char buf[PATHBUF];
    const char *leaf = NULL;
    int dir = open_parent(F(s), key, 0, buf, &leaf);
    if (dir < 0) {
        if (errno == ENOENT) return 0;
        snprintf(err, errlen, "storage: cannot delete %s: %s", key, strerror(errno));
        return -1;
    }
    struct stat sb;
    if (fstatat(dir, leaf, &sb, AT_SYMLINK_NOFOLLOW) != 0) {
        int e = errno;
        close(dir);
        if (e == ENOENT) return 0;
        snprintf(err, errlen, "storage: cannot delete %s: %s", key, strerror(e));
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(dir);
        snprintf(err, errlen, "storage: cannot delete %s: not a stored object", key);
        return -1;
    }
    int rc = unlinkat(dir, leaf, 0);
    int e = errno;
    close(dir);
    if (rc != 0 && e != ENOENT) {
        snprintf(err, errlen, "storage: cannot delete %s: %s", key, strerror(e));
        return -1;
    }
    return 0;
}

typedef struct listing {
    char **keys;
    size_t *sizes;
    size_t n, cap;
} listing;

static int listing_add(listing *l, const char *key, size_t size)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        char **nk = realloc(l->keys, ncap * sizeof *nk);
        if (!nk) return -1;
        l->keys = nk;
        size_t *ns = realloc(l->sizes, ncap * sizeof *ns);
        if (!ns) return -1;
        l->sizes = ns;
        l->cap = ncap;
    }
    char *k = strdup(key);
    if (!k) return -1;
    l->keys[l->n] = k;
    l->sizes[l->n] = size;
    l->n++;
    return 0;
}

/* Walks the folder dirfd (its key path is base, "" for the root); takes ownership of dirfd. */
static int walk(int dirfd, const char *base, int depth, listing *l)
{
    DIR *d = fdopendir(dirfd);
    if (!d) {
        close(dirfd);
        return -1;
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') continue; /* ".", "..", temporaries */
        char key[KEY_MAX + 2];
        int n = snprintf(key, sizeof key, "%s%s%s", base, *base ? "/" : "", de->d_name);
        if (n < 0 || (size_t)n > KEY_MAX || !oma_storage_key_valid(key)) continue;
        struct stat sb;
        if (fstatat(dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0) continue;
        if (S_ISREG(sb.st_mode)) {
            if (listing_add(l, key, (size_t)sb.st_size) != 0) rc = -1;
        } else if (S_ISDIR(sb.st_mode) && depth < LIST_MAX_DEPTH) {
            int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0) rc = walk(sub, key, depth + 1, l);
        }
    }
    closedir(d);
    return rc;
}

static int cmp_idx(const void *a, const void *b, void *keys)
{
    char **k = keys;
    return strcmp(k[*(const size_t *)a], k[*(const size_t *)b]);
}

static int fs_list(oma_storage *s, const char *prefix, int (*fn)(const char *key, size_t len, void *ud), void *ud,
                   char *err, size_t errlen)
{
    /* Start at the deepest folder the prefix names completely, then filter by the prefix. */
    char base[KEY_MAX + 1] = "";
    const char *slash = strrchr(prefix, '/');
    int dirfd;
    if (slash) {
        size_t bl = (size_t)(slash - prefix);
        memcpy(base, prefix, bl);
        base[bl] = '\0';
        if (!oma_storage_key_valid(base)) {
            snprintf(err, errlen, "invalid list prefix");
            return -1;
        }
        char buf[PATHBUF];
        char probe[KEY_MAX + 3];
        snprintf(probe, sizeof probe, "%s/x", base);
        const char *leaf = NULL;
        dirfd = open_parent(F(s), probe, 0, buf, &leaf);
        if (dirfd < 0) {
            if (errno == ENOENT || errno == ENOTDIR) return 0;
            snprintf(err, errlen, "storage: cannot list %s: %s", prefix, strerror(errno));
            return -1;
        }
    } else {
        /* A fresh open file description: a dup would share (and advance) the root's offset. */
        dirfd = openat(F(s)->root_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0) {
            snprintf(err, errlen, "storage: cannot list: %s", strerror(errno));
            return -1;
        }
    }
    listing l = {0};
    int rc = walk(dirfd, base, 0, &l);
    size_t *order = rc == 0 && l.n ? malloc(l.n * sizeof *order) : NULL;
    if (rc != 0 || (l.n && !order)) {
        snprintf(err, errlen, "storage: cannot list %s: %s", prefix, rc != 0 ? strerror(errno) : "out of memory");
        rc = -1;
    } else {
        for (size_t i = 0; i < l.n; i++) order[i] = i;
        if (l.n) qsort_r(order, l.n, sizeof *order, cmp_idx, l.keys);
        size_t pl = strlen(prefix);
        for (size_t i = 0; i < l.n; i++) {
            const char *k = l.keys[order[i]];
            if (strncmp(k, prefix, pl) != 0) continue;
            if (fn(k, l.sizes[order[i]], ud) != 0) break;
        }
    }
    free(order);
    for (size_t i = 0; i < l.n; i++) free(l.keys[i]);
    free(l.keys);
    free(l.sizes);
    return rc;
}

const oma_storage_engine oma_storage_engine_fs = {
    .name = "fs",
    .scheme = "file:",
    .open = fs_open,
    .close = fs_close,
    .put = fs_put,
    .get = fs_get,
    .exists = fs_exists,
    .reader = fs_reader_open,
    .del = fs_del,
    .list = fs_list,
};
