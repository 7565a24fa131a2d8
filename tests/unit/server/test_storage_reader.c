/* test_storage_reader.c — reading a stored object as it comes (storage.h oma_storage_reader_*),
 * on the folder driver and on the S3 driver against s3rver (skipped with the reason when
 * tests/scale is not installed): the size before the first byte, the exact bytes through reads
 * of odd sizes, 0 at the end (again and again), an empty object, an absent key (1), a key
 * outside the grammar (-1), and cancel (before a read, and from another thread mid-object:
 * the reads then fail, never end as if complete). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "s3_harness.h"
#include "server/store/storage.h"

#define BIG (3u << 20)

static oma_storage *st;
static int have_s3;
static char fs_dir[64];

static uint8_t pattern(size_t i) { return (uint8_t)((i * 131 + i / 977) & 0xff); }

static void put_pattern(const char *key, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++) b[i] = pattern(i);
    char err[512];
    if (oma_storage_put(st, key, b, n, err, sizeof err) != 0) fail_msg("put %s: %s", key, err);
    free(b);
}

static int open_fs(void **state)
{
    (void)state;
    char url[300], err[512];
    snprintf(fs_dir, sizeof fs_dir, "/tmp/oma_reader_XXXXXX");
    assert_non_null(mkdtemp(fs_dir));
    snprintf(url, sizeof url, "file:%s", fs_dir);
    if (oma_storage_open(&st, url, err, sizeof err) != 0) fail_msg("open %s: %s", url, err);
    return 0;
}

static int open_s3(void **state)
{
    (void)state;
    static int serial;
    char prefix[64], url[600], err[512];
    snprintf(prefix, sizeof prefix, "reader%d/t%d", (int)getpid(), ++serial);
    if (oma_test_s3_url(url, sizeof url, prefix, NULL) != 0) return -1;
    if (oma_storage_open(&st, url, err, sizeof err) != 0) fail_msg("open %s: %s", url, err);
    return 0;
}

static int close_store(void **state)
{
    (void)state;
    oma_storage_close(st);
    st = NULL;
    if (fs_dir[0]) { /* mkdtemp's name: no quoting needed */
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", fs_dir);
        if (system(cmd) != 0) fprintf(stderr, "test_storage_reader: could not remove %s\n", fs_dir);
        fs_dir[0] = '\0';
    }
    return 0;
}

static void test_whole_object(void **state)
{
    (void)state;
    put_pattern("a/big.bin", BIG);
    oma_storage_reader *rd = NULL;
    uint64_t size = 0;
    char err[512];
    assert_int_equal(oma_storage_reader_open(st, "a/big.bin", &rd, &size, err, sizeof err), 0);
    assert_int_equal(size, BIG);
    assert_int_equal(oma_storage_reader_remote(rd), strcmp(oma_storage_driver(st), "s3") == 0);
    uint8_t buf[100003];
    size_t got = 0;
    long n;
    while ((n = oma_storage_reader_read(rd, buf, sizeof buf, err, sizeof err)) > 0) {
        assert_true(got + (size_t)n <= BIG);
        for (long i = 0; i < n; i++)
            if (buf[i] != pattern(got + (size_t)i)) fail_msg("byte %zu differs", got + (size_t)i);
        got += (size_t)n;
    }
    if (n < 0) fail_msg("read: %s", err);
    assert_int_equal(got, BIG);
    assert_int_equal(oma_storage_reader_read(rd, buf, sizeof buf, err, sizeof err), 0);
    oma_storage_reader_close(rd);

    put_pattern("empty", 0);
    assert_int_equal(oma_storage_reader_open(st, "empty", &rd, &size, err, sizeof err), 0);
    assert_int_equal(size, 0);
    assert_int_equal(oma_storage_reader_read(rd, buf, sizeof buf, err, sizeof err), 0);
    oma_storage_reader_close(rd);
}

static void test_absent_and_bad_keys(void **state)
{
    (void)state;
    oma_storage_reader *rd = (oma_storage_reader *)&rd;
    uint64_t size = 7;
    char err[512];
    assert_int_equal(oma_storage_reader_open(st, "no/such/key", &rd, &size, err, sizeof err), 1);
    assert_null(rd);
    assert_int_equal(size, 0);
    const char *bad[] = {"../etc/passwd", "/abs", "a//b", ".hidden", "a/", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(oma_storage_reader_open(st, bad[i], &rd, &size, err, sizeof err), -1);
        assert_non_null(strstr(err, "invalid storage key"));
    }
}

typedef struct canceller {
    oma_storage_reader *rd;
} canceller;

static void *cancel_soon(void *arg)
{
    usleep(20000);
    oma_storage_reader_cancel(((canceller *)arg)->rd);
    return NULL;
}

static void test_cancel(void **state)
{
    (void)state;
    put_pattern("c.bin", BIG);
    oma_storage_reader *rd = NULL;
    uint64_t size = 0;
    char err[512];
    uint8_t buf[4096];
    /* cancelled before the first read */
    assert_int_equal(oma_storage_reader_open(st, "c.bin", &rd, &size, err, sizeof err), 0);
    oma_storage_reader_cancel(rd);
    assert_int_equal(oma_storage_reader_read(rd, buf, sizeof buf, err, sizeof err), -1);
    assert_non_null(strstr(err, "cancel"));
    oma_storage_reader_close(rd);
    /* from another thread while this one reads, slowly: the reads fail before the end */
    assert_int_equal(oma_storage_reader_open(st, "c.bin", &rd, &size, err, sizeof err), 0);
    canceller c = {rd};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, cancel_soon, &c), 0);
    size_t got = 0;
    long n;
    while ((n = oma_storage_reader_read(rd, buf, sizeof buf, err, sizeof err)) > 0) {
        got += (size_t)n;
        usleep(1000);
    }
    pthread_join(th, NULL);
    assert_int_equal(n, -1);
    assert_true(got < BIG);
    assert_non_null(strstr(err, "cancel"));
    oma_storage_reader_close(rd);
}

int main(void)
{
    const struct CMUnitTest fs_tests[] = {
        cmocka_unit_test_setup_teardown(test_whole_object, open_fs, close_store),
        cmocka_unit_test_setup_teardown(test_absent_and_bad_keys, open_fs, close_store),
        cmocka_unit_test_setup_teardown(test_cancel, open_fs, close_store),
    };
    int failed = cmocka_run_group_tests_name("fs", fs_tests, NULL, NULL);
    char probe[600];
    int pre = oma_test_s3_url(probe, sizeof probe, "probe", NULL);
    have_s3 = pre == 0;
    if (!have_s3) {
        fprintf(stderr, "test_storage_reader: the S3 half skipped (no s3rver: see tests/scale/README.md)\n");
        return failed ? 1 : 0;
    }
    const struct CMUnitTest s3_tests[] = {
        cmocka_unit_test_setup_teardown(test_whole_object, open_s3, close_store),
        cmocka_unit_test_setup_teardown(test_absent_and_bad_keys, open_s3, close_store),
        cmocka_unit_test_setup_teardown(test_cancel, open_s3, close_store),
    };
    failed += cmocka_run_group_tests_name("s3", s3_tests, NULL, NULL);
    return failed ? 1 : 0;
}
