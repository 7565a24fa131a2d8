/* s3_harness.h — an S3-compatible server for a C test: starts tests/scale/s3_server.mjs
 * (s3rver from npm; it checks the access key id but, in its own words, leaves V4 signature
 * calculation unimplemented, so signing is checked by test_sigv4 instead) in a temp dir, reads the port it prints, sets the
 * AWS_* credentials s3rver expects, and returns an s3:// URL for a prefix of its bucket. The
 * server is killed at exit. Returns 0, -1, or OMA_TEST_SKIP (77) when node or
 * tests/scale/node_modules are missing (make test installs them).
 */
#ifndef OMA_TEST_S3_HARNESS_H
#define OMA_TEST_S3_HARNESS_H

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef OMA_TEST_SKIP
#define OMA_TEST_SKIP 77
#endif

static pid_t oma_s3_pid;
static pid_t oma_s3_owner;
static char oma_s3_dir[256];
static char oma_s3_endpoint[128];

static void oma_s3_stop(void)
{
    if (oma_s3_pid <= 0 || getpid() != oma_s3_owner) return;
    kill(oma_s3_pid, SIGTERM);
    int st;
    waitpid(oma_s3_pid, &st, 0);
    oma_s3_pid = 0;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", oma_s3_dir);
    if (system(cmd) != 0) fprintf(stderr, "s3_harness: cannot remove %s\n", oma_s3_dir);
}

static const char *oma_s3_source_dir(void)
{
    const char *s = getenv("OMA_SOURCE_DIR");
    return s && *s ? s : ".";
}

/* Starts the server once per process; fills the endpoint. */
static int oma_s3_start(void)
{
    if (oma_s3_pid > 0) return 0;
    char script[600], mod[600];
    snprintf(script, sizeof script, "%s/tests/scale/s3_server.mjs", oma_s3_source_dir());
    snprintf(mod, sizeof mod, "%s/tests/scale/node_modules/s3rver/package.json", oma_s3_source_dir());
    struct stat sb;
    if (stat(mod, &sb) != 0 || system("node --version >/dev/null 2>&1") != 0) {
        fprintf(stderr, "SKIP: node or tests/scale/node_modules (s3rver) missing: run "
                        "(cd tests/scale && npm ci) or make test\n");
        return OMA_TEST_SKIP;
    }
    snprintf(oma_s3_dir, sizeof oma_s3_dir, "/tmp/oma-s3-XXXXXX");
    if (!mkdtemp(oma_s3_dir)) return -1;
    int fds[2];
    if (pipe(fds) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        execlp("node", "node", script, oma_s3_dir, "oma-test", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    oma_s3_pid = pid;
    oma_s3_owner = getpid();
    atexit(oma_s3_stop);
    FILE *f = fdopen(fds[0], "r");
    char line[256] = "";
    if (!f || !fgets(line, sizeof line, f) || strncmp(line, "s3rver ", 7) != 0) {
        fprintf(stderr, "s3_harness: s3rver did not start (%s)\n", line);
        if (f) fclose(f);
        return -1;
    }
    fclose(f);
    line[strcspn(line, "\r\n")] = '\0';
    snprintf(oma_s3_endpoint, sizeof oma_s3_endpoint, "%.120s", line + 7);
    setenv("AWS_ACCESS_KEY_ID", "S3RVER", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "S3RVER", 1);
    unsetenv("AWS_SESSION_TOKEN");
    return 0;
}

/* "s3://oma-test/PREFIX?endpoint=...&region=us-east-1" plus extra ("&part_size=..." or ""). */
static int oma_test_s3_url(char *url, size_t len, const char *prefix, const char *extra)
{
    int rc = oma_s3_start();
    if (rc != 0) return rc;
    snprintf(url, len, "s3://oma-test/%s?endpoint=%s&region=us-east-1%s", prefix, oma_s3_endpoint,
             extra ? extra : "");
    return 0;
}

#endif
