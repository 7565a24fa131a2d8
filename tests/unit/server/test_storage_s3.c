/* test_storage_s3.c — the S3 storage driver against a real S3-compatible server (s3rver) and
 * AWS's own client (@aws-sdk/client-s3):
 * put/get/overwrite/missing/delete, the size limit, list by prefix (sorted, the store's prefix
 * hidden), content-addressed blobs under the same keys as the folder driver, a 12 MiB object
 * sent as a 3-part multipart upload, the SDK reading what we wrote (single and multipart) and
 * listing it, us reading what the SDK wrote, and clear one-line failures for an unknown access key,
 * a missing bucket, an unreachable endpoint, missing credentials and malformed URLs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3_harness.h"
#include "server/store/sigv4.h"
#include "server/store/storage.h"

static char url[600];
static oma_storage *st;
static int serial;

static int setup(void **state)
{
    (void)state;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "run%d/t%d", (int)getpid(), ++serial);
    if (oma_test_s3_url(url, sizeof url, prefix, "&part_size=5242880") != 0) return -1;
    char err[512];
    if (oma_storage_open(&st, url, err, sizeof err) != 0) {
        fprintf(stderr, "open %s: %s\n", url, err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    oma_storage_close(st);
    st = NULL;
    return 0;
}

static void put_ok(const char *key, const void *p, size_t n)
{
    char err[512];
    if (oma_storage_put(st, key, p, n, err, sizeof err) != 0) fail_msg("put %s: %s", key, err);
}

static void test_roundtrip(void **state)
{
    (void)state;
    char err[512];
    assert_string_equal(oma_storage_driver(st), "s3");
    put_ok("a/b/one.txt", "hello", 5);
    put_ok("empty", "", 0);
    uint8_t *d = NULL;
    size_t n = 0;
    assert_int_equal(oma_storage_get(st, "a/b/one.txt", 100, &d, &n, err, sizeof err), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(d, "hello", 5);
    free(d);
    assert_int_equal(oma_storage_get(st, "empty", 100, &d, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    assert_non_null(d);
    free(d);
    put_ok("a/b/one.txt", "bye", 3); /* overwrite */
    assert_int_equal(oma_storage_get(st, "a/b/one.txt", 100, &d, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(d, "bye", 3);
    free(d);
    /* limit */
    assert_int_equal(oma_storage_get(st, "a/b/one.txt", 2, &d, &n, err, sizeof err), -1);
    assert_null(d);
    assert_non_null(strstr(err, "larger"));
    /* missing */
    int miss = oma_storage_get(st, "a/nope", 100, &d, &n, err, sizeof err);
    if (miss != 1) fprintf(stderr, "get missing: %s\n", err);
    assert_int_equal(miss, 1);
    assert_int_equal(oma_storage_exists(st, "a/nope"), 0);
    assert_int_equal(oma_storage_exists(st, "a/b/one.txt"), 1);
    assert_int_equal(oma_storage_delete(st, "a/b/one.txt", err, sizeof err), 0);
    assert_int_equal(oma_storage_exists(st, "a/b/one.txt"), 0);
    assert_int_equal(oma_storage_delete(st, "a/b/one.txt", err, sizeof err), 0); /* missing = ok */
    /* bad keys never reach the server */
    assert_int_equal(oma_storage_put(st, "../x", "x", 1, err, sizeof err), -1);
    assert_int_equal(oma_storage_put(st, "a/.hidden", "x", 1, err, sizeof err), -1);
}

typedef struct {
    char keys[16][128];
    size_t sizes[16];
    int n;
} listing;

static int collect(const char *key, size_t len, void *ud)
{
    listing *l = ud;
    if (l->n < 16) {
        snprintf(l->keys[l->n], sizeof l->keys[0], "%s", key);
        l->sizes[l->n++] = len;
    }
    return 0;
}

static void test_list(void **state)
{
    (void)state;
    char err[512];
    put_ok("jobs/j2/out.png", "22", 2);
    put_ok("jobs/j1/out.png", "1", 1);
    put_ok("jobs/j1/a.json", "{}", 2);
    put_ok("uploads/u1", "u", 1);
    listing l = {0};
    assert_int_equal(oma_storage_list(st, "jobs/", collect, &l, err, sizeof err), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.keys[0], "jobs/j1/a.json");
    assert_string_equal(l.keys[1], "jobs/j1/out.png");
    assert_string_equal(l.keys[2], "jobs/j2/out.png");
    assert_int_equal(l.sizes[2], 2);
    memset(&l, 0, sizeof l);
    assert_int_equal(oma_storage_list(st, "", collect, &l, err, sizeof err), 0);
    assert_int_equal(l.n, 4);
    memset(&l, 0, sizeof l);
    assert_int_equal(oma_storage_list(st, "nothing/", collect, &l, err, sizeof err), 0);
    assert_int_equal(l.n, 0);
}

static void test_blobs(void **state)
{
    (void)state;
    char err[512], key[96], sha[65];
    assert_int_equal(oma_storage_put_blob(st, "abc", 3, key, sha, err, sizeof err), 0);
    assert_string_equal(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_string_equal(key, "blobs/sha256/ba/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(oma_storage_exists(st, key), 1);
    assert_int_equal(oma_storage_put_blob(st, "abc", 3, key, sha, err, sizeof err), 0); /* again: no-op */
}

static void pattern(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)((i * 31 + 7) % 251);
}

/* runs the SDK helper; out gets its first line */
static int sdk(const char *op, const char *key, const char *extra, char *out, size_t outlen)
{
    char cmd[1600];
    const char *q = strstr(url, "endpoint=");
    char endpoint[200];
    snprintf(endpoint, sizeof endpoint, "%.*s", (int)strcspn(q + 9, "&"), q + 9);
    snprintf(cmd, sizeof cmd, "NODE_NO_WARNINGS=1 node '%s/tests/scale/s3_crosscheck.mjs' '%s' oma-test %s '%s' %s", oma_s3_source_dir(),
             endpoint, op, key, extra ? extra : "");
    FILE *f = popen(cmd, "r");
    if (!f) return -1;
    out[0] = '\0';
    char line[512];
    size_t o = 0;
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        if (o + n < outlen) {
            memcpy(out + o, line, n + 1);
            o += n;
        }
    }
    return pclose(f) == 0 ? 0 : -1;
}

static void test_multipart_and_sdk_crosscheck(void **state)
{
    (void)state;
    char err[512], got[2048], want[128], full[300];
    const char *prefix = strstr(url, "s3://oma-test/") + 14;
    int plen = (int)strcspn(prefix, "?");
    /* 12 MiB in 5 MiB parts: 3 parts */
    size_t big = 12u << 20;
    uint8_t *b = malloc(big);
    assert_non_null(b);
    pattern(b, big);
    put_ok("lora/big.safetensors", b, big);
    char sha[65];
    oma_sha256_hex(b, big, sha);
    snprintf(want, sizeof want, "%s %zu\n", sha, big);
    snprintf(full, sizeof full, "%.*s/lora/big.safetensors", plen, prefix);
    assert_int_equal(sdk("get", full, NULL, got, sizeof got), 0); /* AWS's client reads it */
    assert_string_equal(got, want);
    uint8_t *d = NULL;
    size_t n = 0;
    assert_int_equal(oma_storage_get(st, "lora/big.safetensors", big, &d, &n, err, sizeof err), 0);
    assert_int_equal(n, big);
    assert_memory_equal(d, b, big);
    free(d);
    /* a small one, single PUT */
    put_ok("x/small.bin", b, 1000);
    oma_sha256_hex(b, 1000, sha);
    snprintf(want, sizeof want, "%s 1000\n", sha);
    snprintf(full, sizeof full, "%.*s/x/small.bin", plen, prefix);
    assert_int_equal(sdk("get", full, NULL, got, sizeof got), 0);
    assert_string_equal(got, want);
    /* the SDK lists what we wrote */
    snprintf(full, sizeof full, "%.*s/", plen, prefix);
    assert_int_equal(sdk("list", full, NULL, got, sizeof got), 0);
    char expect[700];
    snprintf(expect, sizeof expect, "%.*s/lora/big.safetensors\n%.*s/x/small.bin\n", plen, prefix, plen, prefix);
    assert_string_equal(got, expect);
    /* we read what the SDK wrote */
    snprintf(full, sizeof full, "%.*s/from-sdk/data.bin", plen, prefix);
    assert_int_equal(sdk("put", full, "70000", got, sizeof got), 0);
    assert_int_equal(oma_storage_get(st, "from-sdk/data.bin", 1 << 20, &d, &n, err, sizeof err), 0);
    assert_int_equal(n, 70000);
    assert_memory_equal(d, b, 70000);
    free(d);
    free(b);
}

static void test_bad_setups(void **state)
{
    (void)state;
    oma_storage *s = NULL;
    char err[512], u[700];
    const char *q = strchr(url, '?');
    /* an access key the server does not know */
    setenv("AWS_ACCESS_KEY_ID", "NOBODY", 1);
    assert_int_equal(oma_storage_open(&s, url, err, sizeof err), -1);
    assert_null(s);
    assert_non_null(strstr(err, "denied"));
    setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
    /* missing bucket */
    snprintf(u, sizeof u, "s3://no-such-bucket%s", q);
    assert_int_equal(oma_storage_open(&s, u, err, sizeof err), -1);
    assert_non_null(strstr(err, "does not exist"));
    /* unreachable */
    assert_int_equal(oma_storage_open(&s, "s3://oma-test?endpoint=http://127.0.0.1:1", err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot reach"));
    assert_null(strchr(err, '\n'));
    /* malformed */
    const char *bad[] = {"s3://", "s3://B_ad", "s3://ok-bucket/../x?endpoint=http://h", "s3://ok-bucket?endpoint=ftp://h",
                         "s3://ok-bucket?endpoint=http://h/path", "s3://ok-bucket?colour=red",
                         "s3://ok-bucket?part_size=12", "s3:ok-bucket"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(oma_storage_open(&s, bad[i], err, sizeof err), -1);
        assert_true(strncmp(err, "s3: ", 4) == 0);
    }
    /* no credentials */
    unsetenv("AWS_ACCESS_KEY_ID");
    assert_int_equal(oma_storage_open(&s, url, err, sizeof err), -1);
    assert_non_null(strstr(err, "AWS_ACCESS_KEY_ID"));
    setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
    assert_int_equal(oma_storage_open(&s, url, err, sizeof err), 0);
    oma_storage_close(s);
}

int main(void)
{
    char probe[600];
    int pre = oma_test_s3_url(probe, sizeof probe, "probe", NULL);
    if (pre != 0) return pre == OMA_TEST_SKIP ? OMA_TEST_SKIP : 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blobs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multipart_and_sdk_crosscheck, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_setups, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
