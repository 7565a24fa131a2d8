/* test_storage.c — the storage interface on the local-folder backend: round trips, atomic
 * overwrite, bounded reads, sorted listing by prefix, content addressing, and every way a key
 * or a planted symlink might try to get outside the store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/store/storage.h"

static char tmpdir[256];   /* holds store/ and outside/ */
static char root[300];
static char outside[300];
static oma_storage *st;

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/oma-test-storage-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    snprintf(root, sizeof root, "%s/store/nested", tmpdir); /* created by open */
    snprintf(outside, sizeof outside, "%s/outside", tmpdir);
    if (mkdir(outside, 0755) != 0) return -1;
    char url[400], err[256];
    snprintf(url, sizeof url, "file:%s", root);
    if (oma_storage_open(&st, url, err, sizeof err) != 0) {
        fprintf(stderr, "open: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    oma_storage_close(st);
    st = NULL;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_key_grammar(void **state)
{
    (void)state;
    const char *good[] = {"a", "a/b", "jobs/0123abcd/image.png", "blobs/sha256/ab/x_y-z.9", "A.B", "a..b"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) assert_true(oma_storage_key_valid(good[i]));
    const char *bad[] = {"",      "../x",   "/etc/passwd", "a//b", "a/./b", "a/../b", "..",    ".",
                         "a/",    "/",      ".hidden",     "a/.b", "a b",   "a\\b",   "a%00b", "\x01",
                         "caf\xc3\xa9", "a/b/..", "~root", "a:b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (oma_storage_key_valid(bad[i])) fail_msg("accepted bad key [%s]", bad[i]);
    }
    assert_false(oma_storage_key_valid(NULL));
    /* An embedded NUL ends the key for C; what remains is judged on its own. */
    const char nul[] = "ok\0/../../etc/passwd";
    assert_true(oma_storage_key_valid(nul));
    char err[256];
    assert_int_equal(oma_storage_put(st, nul, "x", 1, err, sizeof err), 0);
    assert_true(oma_storage_exists(st, "ok"));
    /* Length limit: 512 fine, 513 refused. */
    char longkey[600];
    memset(longkey, 'k', sizeof longkey);
    longkey[512] = '\0';
    assert_true(oma_storage_key_valid(longkey));
    longkey[512] = 'k';
    longkey[513] = '\0';
    assert_false(oma_storage_key_valid(longkey));
    longkey[599] = '\0';
    assert_int_equal(oma_storage_put(st, longkey, "x", 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "invalid storage key"));
}

static void test_roundtrip_and_overwrite(void **state)
{
    (void)state;
    char err[256];
    assert_string_equal(oma_storage_driver(st), "fs");
    assert_int_equal(oma_storage_put(st, "jobs/j1/out.png", "hello", 5, err, sizeof err), 0);
    uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(oma_storage_get(st, "jobs/j1/out.png", 100, &data, &len, err, sizeof err), 0);
    assert_int_equal(len, 5);
    assert_memory_equal(data, "hello", 5);
    free(data);
    assert_int_equal(oma_storage_put(st, "jobs/j1/out.png", "bye", 3, err, sizeof err), 0);
    assert_int_equal(oma_storage_get(st, "jobs/j1/out.png", 100, &data, &len, err, sizeof err), 0);
    assert_int_equal(len, 3);
    assert_memory_equal(data, "bye", 3);
    free(data);
    /* Empty object. */
    assert_int_equal(oma_storage_put(st, "empty", NULL, 0, err, sizeof err), 0);
    assert_int_equal(oma_storage_get(st, "empty", 10, &data, &len, err, sizeof err), 0);
    assert_int_equal(len, 0);
    free(data);
    /* Missing: 1, not an error. */
    assert_int_equal(oma_storage_get(st, "jobs/nope/x", 100, &data, &len, err, sizeof err), 1);
    assert_null(data);
    assert_false(oma_storage_exists(st, "jobs/nope/x"));
    assert_true(oma_storage_exists(st, "jobs/j1/out.png"));
    /* A folder is not an object. */
    assert_false(oma_storage_exists(st, "jobs/j1"));
    assert_int_equal(oma_storage_get(st, "jobs/j1", 100, &data, &len, err, sizeof err), -1);
    /* Bounded read. */
    assert_int_equal(oma_storage_get(st, "jobs/j1/out.png", 2, &data, &len, err, sizeof err), -1);
    assert_null(data);
    assert_non_null(strstr(err, "limit"));
    assert_int_equal(oma_storage_get(st, "jobs/j1/out.png", 3, &data, &len, err, sizeof err), 0);
    free(data);
    /* No temporaries left behind. */
    char dir[400];
    snprintf(dir, sizeof dir, "%s/jobs/j1", root);
    char cmd[500];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A '%s' | grep -v '^out.png$')\"", dir);
    assert_int_equal(system(cmd), 0);
    /* Delete: present, then missing (both fine). */
    assert_int_equal(oma_storage_delete(st, "jobs/j1/out.png", err, sizeof err), 0);
    assert_false(oma_storage_exists(st, "jobs/j1/out.png"));
    assert_int_equal(oma_storage_delete(st, "jobs/j1/out.png", err, sizeof err), 0);
    assert_int_equal(oma_storage_delete(st, "no/such/folder/x", err, sizeof err), 0);
    assert_int_equal(oma_storage_delete(st, "../x", err, sizeof err), -1);
}

typedef struct seen {
    char keys[16][64];
    size_t sizes[16];
    int n, stop_after;
} seen;

static int collect(const char *key, size_t len, void *ud)
{
    seen *s = ud;
    if (s->n < 16) {
        snprintf(s->keys[s->n], sizeof s->keys[0], "%s", key);
        s->sizes[s->n] = len;
    }
    s->n++;
    return s->stop_after && s->n >= s->stop_after;
}

static void test_list(void **state)
{
    (void)state;
    char err[256];
    const char *keys[] = {"b/2", "a/1", "b/10", "c", "b/sub/x", "bb/1", "a/0"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        assert_int_equal(oma_storage_put(st, keys[i], "0123456789", i, err, sizeof err), 0);
    seen s = {0};
    assert_int_equal(oma_storage_list(st, "", collect, &s, err, sizeof err), 0);
    assert_int_equal(s.n, 7);
    const char *sorted[] = {"a/0", "a/1", "b/10", "b/2", "b/sub/x", "bb/1", "c"};
    for (int i = 0; i < 7; i++) assert_string_equal(s.keys[i], sorted[i]);
    assert_int_equal(s.sizes[0], 6); /* "a/0" was written with len 6 */
    memset(&s, 0, sizeof s);
    assert_int_equal(oma_storage_list(st, "b/", collect, &s, err, sizeof err), 0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.keys[0], "b/10");
    assert_string_equal(s.keys[2], "b/sub/x");
    memset(&s, 0, sizeof s);
    assert_int_equal(oma_storage_list(st, "b", collect, &s, err, sizeof err), 0);
    assert_int_equal(s.n, 4); /* b/... and bb/1 */
    memset(&s, 0, sizeof s);
    assert_int_equal(oma_storage_list(st, "b/1", collect, &s, err, sizeof err), 0);
    assert_int_equal(s.n, 1);
    memset(&s, 0, sizeof s);
    assert_int_equal(oma_storage_list(st, "zzz/", collect, &s, err, sizeof err), 0);
    assert_int_equal(s.n, 0);
    memset(&s, 0, sizeof s);
    s.stop_after = 2;
    assert_int_equal(oma_storage_list(st, "", collect, &s, err, sizeof err), 0);
    assert_int_equal(s.n, 2);
    memset(&s, 0, sizeof s);
    assert_int_equal(oma_storage_list(st, "../", collect, &s, err, sizeof err), -1);
    /* Hidden files and symlinks planted in the folder are never listed. */
    char path[500];
    snprintf(path, sizeof path, "%s/a/.tmp-leftover", root);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(path, sizeof path, "%s/a/link", root);
    assert_int_equal(symlink("/etc/passwd", path), 0);
    memset(&s, 0, sizeof s);
    assert_int_equal(oma_storage_list(st, "a/", collect, &s, err, sizeof err), 0);
    assert_int_equal(s.n, 2);
}

static void test_symlink_escape(void **state)
{
    (void)state;
    char err[256], path[500], target[500];
    /* A secret outside the store. */
    snprintf(target, sizeof target, "%s/secret", outside);
    FILE *f = fopen(target, "w");
    assert_non_null(f);
    fputs("secret", f);
    fclose(f);
    /* A folder symlink and a file symlink inside the store, both pointing out. */
    snprintf(path, sizeof path, "%s/evil", root);
    assert_int_equal(symlink(outside, path), 0);
    snprintf(path, sizeof path, "%s/leak", root);
    assert_int_equal(symlink(target, path), 0);
    snprintf(path, sizeof path, "%s/etc", root);
    assert_int_equal(symlink("/etc", path), 0);

    uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(oma_storage_get(st, "evil/secret", 100, &data, &len, err, sizeof err), -1);
    assert_null(data);
    assert_int_equal(oma_storage_get(st, "leak", 100, &data, &len, err, sizeof err), -1);
    assert_int_equal(oma_storage_get(st, "etc/passwd", 1 << 20, &data, &len, err, sizeof err), -1);
    assert_false(oma_storage_exists(st, "evil/secret"));
    assert_false(oma_storage_exists(st, "leak"));
    /* Writing through the link must not land outside. */
    assert_int_equal(oma_storage_put(st, "evil/planted", "x", 1, err, sizeof err), -1);
    snprintf(path, sizeof path, "%s/planted", outside);
    assert_int_equal(access(path, F_OK), -1);
    /* Overwriting a symlink key replaces the link itself, never the target. */
    assert_int_equal(oma_storage_put(st, "leak", "new", 3, err, sizeof err), 0);
    f = fopen(target, "r");
    assert_non_null(f);
    char buf[16] = "";
    assert_non_null(fgets(buf, sizeof buf, f));
    fclose(f);
    assert_string_equal(buf, "secret");
    /* Deleting through the folder link is refused, and the target survives. */
    assert_int_equal(oma_storage_delete(st, "evil/secret", err, sizeof err), -1);
    assert_int_equal(access(target, F_OK), 0);
    /* Traversal keys never reach the backend. */
    assert_int_equal(oma_storage_get(st, "../outside/secret", 100, &data, &len, err, sizeof err), -1);
    assert_int_equal(oma_storage_get(st, "/etc/passwd", 100, &data, &len, err, sizeof err), -1);
    assert_int_equal(oma_storage_get(st, "a/./b", 100, &data, &len, err, sizeof err), -1);
    assert_int_equal(oma_storage_get(st, "a//b", 100, &data, &len, err, sizeof err), -1);
}

static void test_blobs(void **state)
{
    (void)state;
    char err[256], key[96], sha[65], key2[96];
    assert_int_equal(oma_storage_put_blob(st, "abc", 3, key, sha, err, sizeof err), 0);
    /* SHA-256("abc"), the FIPS 180-2 test vector. */
    assert_string_equal(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_string_equal(key, "blobs/sha256/ba/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(oma_storage_put_blob(st, "abc", 3, key2, NULL, err, sizeof err), 0);
    assert_string_equal(key, key2);
    seen s = {0};
    assert_int_equal(oma_storage_list(st, "blobs/", collect, &s, err, sizeof err), 0);
    assert_int_equal(s.n, 1);
    uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(oma_storage_get(st, key, 10, &data, &len, err, sizeof err), 0);
    assert_int_equal(len, 3);
    free(data);
    assert_int_equal(oma_storage_put_blob(st, "", 0, key, sha, err, sizeof err), 0);
    assert_string_equal(sha, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

enum { BIG = 256 * 1024 };

static atomic_int writers_done;

static void *writer(void *arg)
{
    uint8_t fill = (uint8_t)(uintptr_t)arg;
    uint8_t *buf = malloc(BIG);
    if (!buf) return (void *)1;
    memset(buf, fill, BIG);
    char err[256];
    for (int i = 0; i < 20; i++)
        if (oma_storage_put(st, "race/obj", buf, BIG, err, sizeof err) != 0) {
            free(buf);
            return (void *)1;
        }
    free(buf);
    atomic_fetch_add(&writers_done, 1);
    return NULL;
}

/* Writers racing on one key never let a reader see a torn or short object. */
static void test_atomic_overwrite(void **state)
{
    (void)state;
    pthread_t t[3];
    atomic_store(&writers_done, 0);
    for (uintptr_t i = 0; i < 3; i++) assert_int_equal(pthread_create(&t[i], NULL, writer, (void *)(i + 1)), 0);
    int reads = 0;
    char err[256];
    /* Read until every writer is done (and at least once after). */
    for (int last = 0; !last;) {
        last = atomic_load(&writers_done) == 3;
        uint8_t *data = NULL;
        size_t len = 0;
        int rc = oma_storage_get(st, "race/obj", BIG, &data, &len, err, sizeof err);
        if (rc == 1) continue; /* not written yet */
        assert_int_equal(rc, 0);
        assert_int_equal(len, BIG);
        for (size_t k = 1; k < len; k++)
            if (data[k] != data[0]) fail_msg("torn object at byte %zu", k);
        free(data);
        reads++;
    }
    for (int i = 0; i < 3; i++) {
        void *r = NULL;
        pthread_join(t[i], &r);
        assert_null(r);
    }
    /* No temporaries left. */
    char cmd[500];
    snprintf(cmd, sizeof cmd, "test \"$(ls -A '%s/race')\" = obj", root);
    assert_int_equal(system(cmd), 0);
    fprintf(stderr, "note: %d complete reads during the race\n", reads);
    assert_true(reads >= 1);
}

static void test_bad_urls(void **state)
{
    (void)state;
    oma_storage *s = NULL;
    char err[256];
    unsetenv("AWS_ACCESS_KEY_ID"); /* the s3 driver then refuses before any network */
    assert_int_equal(oma_storage_open(&s, "s3://bucket/x", err, sizeof err), -1);
    assert_non_null(strstr(err, "AWS_ACCESS_KEY_ID"));
    assert_null(s);
    assert_int_equal(oma_storage_open(&s, "ftp://x", err, sizeof err), -1);
    assert_int_equal(oma_storage_open(&s, "file:", err, sizeof err), -1);
    assert_int_equal(oma_storage_open(&s, "file:/proc/oma-cannot-create", err, sizeof err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_key_grammar, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roundtrip_and_overwrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_escape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atomic_overwrite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_urls, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
