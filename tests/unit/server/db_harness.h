/* db_harness.h — gives a test a fresh, empty database on the engine the run asks for, so the
 * same test runs against SQLite and PostgreSQL (ctest registers the "@pg" variants with
 * OMA_TEST_DB=postgres).
 *
 * oma_test_db_url(url, len, dir): "sqlite:<dir>/oma.db" by default. With OMA_TEST_DB=postgres
 * the first call starts a throw-away PostgreSQL cluster for this process (initdb + pg_ctl from
 * /usr/lib/postgresql/<v>/bin or OMA_PG_BIN, in a temp dir, on a free localhost port, fsync
 * off; as the user "postgres" via runuser when the test runs as root, since the server refuses
 * root), stopped and removed at exit; every call then creates a new database in it and returns
 * its postgres:// URL. Returns 0, -1 on failure, or OMA_TEST_SKIP (77) when postgres was asked
 * for but is not installed (ctest counts 77 as skipped).
 */
#ifndef OMA_TEST_DB_HARNESS_H
#define OMA_TEST_DB_HARNESS_H

#include <arpa/inet.h>
#include <glob.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/store/db.h"

#define OMA_TEST_SKIP 77

static char oma_pg_dir[256];
static char oma_pg_bin[256];
static char oma_pg_runas[64];
static int oma_pg_port;
static pid_t oma_pg_owner;
static int oma_pg_serial;

static int oma_test_is_pg(void)
{
    const char *e = getenv("OMA_TEST_DB");
    return e && strcmp(e, "postgres") == 0;
}

static void oma_pg_stop(void)
{
    if (!oma_pg_dir[0] || getpid() != oma_pg_owner) return; /* forked children leave it alone */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "%s %s/pg_ctl -D %s/data -m immediate stop >/dev/null 2>&1; rm -rf '%s'",
             oma_pg_runas, oma_pg_bin, oma_pg_dir, oma_pg_dir);
    if (system(cmd) != 0) fprintf(stderr, "db_harness: could not stop the test cluster in %s\n", oma_pg_dir);
    oma_pg_dir[0] = '\0';
}

static int oma_pg_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t n = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &n) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* Starts the cluster once per process. 0, -1, or OMA_TEST_SKIP. */
static int oma_pg_start(void)
{
    if (oma_pg_dir[0]) return 0;
    const char *bin = getenv("OMA_PG_BIN");
    if (bin && *bin) {
        snprintf(oma_pg_bin, sizeof oma_pg_bin, "%s", bin);
    } else {
        glob_t g;
        if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0 || g.gl_pathc == 0) {
            fprintf(stderr, "SKIP: PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb; "
                            "scripts/install-deps.sh test installs it)\n");
            globfree(&g);
            return OMA_TEST_SKIP;
        }
        snprintf(oma_pg_bin, sizeof oma_pg_bin, "%s", g.gl_pathv[g.gl_pathc - 1]);
        globfree(&g);
        char *slash = strrchr(oma_pg_bin, '/');
        if (slash) *slash = '\0';
    }
    snprintf(oma_pg_dir, sizeof oma_pg_dir, "/tmp/oma-pg-XXXXXX");
    if (!mkdtemp(oma_pg_dir)) {
        oma_pg_dir[0] = '\0';
        return -1;
    }
    oma_pg_owner = getpid();
    oma_pg_runas[0] = '\0';
    if (geteuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw) {
            fprintf(stderr, "db_harness: running as root and there is no user 'postgres' to run the server\n");
            return -1;
        }
        if (chown(oma_pg_dir, pw->pw_uid, pw->pw_gid) != 0) return -1;
        snprintf(oma_pg_runas, sizeof oma_pg_runas, "runuser -u postgres --");
    }
    atexit(oma_pg_stop);
    oma_pg_port = oma_pg_free_port();
    if (oma_pg_port <= 0) return -1;
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "%s %s/initdb -D %s/data -A trust -U oma -E UTF8 --no-sync >%s/initdb.log 2>&1 && "
             "%s %s/pg_ctl -D %s/data -l %s/server.log -w -t 60 -o \"-p %d -k %s -c listen_addresses=127.0.0.1 "
             "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200\" "
             "start >/dev/null 2>&1",
             oma_pg_runas, oma_pg_bin, oma_pg_dir, oma_pg_dir, oma_pg_runas, oma_pg_bin, oma_pg_dir, oma_pg_dir,
             oma_pg_port, oma_pg_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "db_harness: could not start PostgreSQL in %s (see initdb.log, server.log there)\n",
                oma_pg_dir);
        return -1;
    }
    return 0;
}

/* The URL of database name in the test cluster. */
static void oma_pg_url(char *url, size_t len, const char *name)
{
    snprintf(url, len, "postgres://oma@127.0.0.1:%d/%s", oma_pg_port, name);
}

static int oma_test_db_url(char *url, size_t len, const char *dir)
{
    if (!oma_test_is_pg()) {
        snprintf(url, len, "sqlite:%s/oma.db", dir);
        return 0;
    }
    int rc = oma_pg_start();
    if (rc != 0) return rc;
    char admin[256], name[64], sql[128], err[512];
    oma_pg_url(admin, sizeof admin, "postgres");
    snprintf(name, sizeof name, "t%d_%d", (int)getpid(), ++oma_pg_serial);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    oma_db *db = NULL;
    if (oma_db_open(&db, admin, 0, err, sizeof err) != 0) {
        fprintf(stderr, "db_harness: %s\n", err);
        return -1;
    }
    rc = oma_db_exec(db, sql);
    if (rc != 0) fprintf(stderr, "db_harness: %s\n", oma_db_errmsg(db));
    oma_db_close(db);
    if (rc != 0) return -1;
    oma_pg_url(url, len, name);
    return 0;
}

/* Call first in main: starts the cluster when the run asks for postgres. 0, -1 or
 * OMA_TEST_SKIP (return it from main). */
static int oma_test_db_prepare(void) { return oma_test_is_pg() ? oma_pg_start() : 0; }

#endif
