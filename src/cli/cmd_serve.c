/* cmd_serve.c — `oma serve`: the HTTP API, the web UI and the workers in one process.
 *
 * Flags win over environment variables (OMA_HOST, OMA_PORT, OMA_DATA, OMA_WORKERS,
 * OMA_MODELS, OMA_WEB, OMA_DB, OMA_STORAGE), which win over defaults. SIGINT/SIGTERM are blocked before any
 * thread starts (so every thread inherits the mask) and then waited for with sigwait, so
 * shutdown runs in normal code, not in a signal handler. When ready it prints exactly
 * `oma: listening on http://HOST:PORT` (the real port, also with --port 0).
 */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "server/jobs/jobs.h"
#include "server/server.h"
#include "tensor/cpu/blas.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: oma serve [--host 127.0.0.1] [--port 8080] [--data ./data] [--workers N]\n"
            "                 [--models DIR] [--web DIR] [--db URL] [--storage URL]\n\n"
            "Runs the HTTP API, the web UI and N job workers. Environment: OMA_HOST, OMA_PORT,\n"
            "OMA_DATA, OMA_WORKERS, OMA_MODELS, OMA_WEB, OMA_DB, OMA_STORAGE (flags win).\n"
            "--port 0 picks a free port. --workers 0 serves only the API and the UI (jobs then\n"
            "run in `oma worker` processes on the same --db and --storage).\n"
            "OMA_JOB_LEASE_SECONDS (default 30): a dead worker's job is re-queued after this.\n"
            "The database is DATA/oma.db (SQLite), files live in DATA/store, unless\n"
            "  --db postgres://USER:PASS@HOST:PORT/DB   (PostgreSQL; or sqlite:PATH)\n"
            "  --storage s3://BUCKET[/PREFIX]?endpoint=URL&region=R   (S3-compatible; or file:DIR;\n"
            "            credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)\n"
            "The web UI is served from --web, else ./web/dist, else <binary>/../web/dist.\n");
}

static int has_index(const char *dir)
{
    char p[PATH_MAX + 16];
    struct stat st;
    snprintf(p, sizeof p, "%s/index.html", dir);
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* --web, OMA_WEB, ./web/dist, <binary dir>/../web/dist, <binary dir>/../../web/dist. */
static const char *find_web(const char *flag, char *buf, size_t len)
{
    if (flag) return flag;
    const char *env = getenv("OMA_WEB");
    if (env && *env) return env;
    if (has_index("web/dist")) return "web/dist";
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) *slash = '\0';
        static const char *const rel[] = {"/../web/dist", "/../../web/dist"};
        for (size_t i = 0; i < 2; i++) {
            size_t a = strlen(exe), b = strlen(rel[i]);
            if (a + b + 1 > len) continue;
            memcpy(buf, exe, a);
            memcpy(buf + a, rel[i], b + 1);
            if (has_index(buf)) return buf;
        }
    }
    return NULL;
}

int oma_cmd_serve(int argc, char **argv)
{
    if (oma_cli_wants_help(argc, argv)) {
        help(stdout);
        return OMA_EXIT_OK;
    }
    oma_blas_fix_coretype();   /* jobs run SD in-process: OpenBLAS must pick its AVX-512 kernels */
    const char *env;
    oma_server_config cfg = {"127.0.0.1", 8080, "./data", 2, NULL, NULL, NULL, NULL};
    if ((env = getenv("OMA_HOST")) && *env) cfg.host = env;
    if ((env = getenv("OMA_DATA")) && *env) cfg.data_dir = env;
    if ((env = getenv("OMA_MODELS")) && *env) cfg.models_dir = env;
    if ((env = getenv("OMA_DB")) && *env) cfg.db_url = env;
    if ((env = getenv("OMA_STORAGE")) && *env) cfg.storage_url = env;
    if ((env = getenv("OMA_PORT")) && *env && oma_cli_int(env, 0, 65535, &cfg.port) != 0) {
        oma_cli_error("serve", "OMA_PORT must be 0..65535");
        return OMA_EXIT_USAGE;
    }
    if ((env = getenv("OMA_WORKERS")) && *env && oma_cli_int(env, 0, 64, &cfg.workers) != 0) {
        oma_cli_error("serve", "OMA_WORKERS must be 0..64");
        return OMA_EXIT_USAGE;
    }
    /* How long a claimed job stays a worker's without a heartbeat; a job whose worker died
     * is re-queued after this. Default 30 s; tests shorten it to see recovery sooner. */
    if ((env = getenv("OMA_JOB_LEASE_SECONDS")) && *env) {
        int lease = 0;
        if (oma_cli_int(env, 2, 3600, &lease) != 0) {
            oma_cli_error("serve", "OMA_JOB_LEASE_SECONDS must be 2..3600");
            return OMA_EXIT_USAGE;
        }
        oma_jobs_set_lease_seconds(lease);
    }
    const char *web_flag = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int is_opt = strcmp(a, "--host") == 0 || strcmp(a, "--port") == 0 || strcmp(a, "--data") == 0 ||
                     strcmp(a, "--workers") == 0 || strcmp(a, "--models") == 0 || strcmp(a, "--web") == 0 ||
                     strcmp(a, "--db") == 0 || strcmp(a, "--storage") == 0;
        if (!is_opt) {
            oma_cli_error("serve", "unknown option %s (try oma serve --help)", a);
            return OMA_EXIT_USAGE;
        }
        if (!v) {
            oma_cli_error("serve", "%s needs a value", a);
            return OMA_EXIT_USAGE;
        }
        i++;
        if (strcmp(a, "--host") == 0) cfg.host = v;
        else if (strcmp(a, "--data") == 0) cfg.data_dir = v;
        else if (strcmp(a, "--models") == 0) cfg.models_dir = v;
        else if (strcmp(a, "--web") == 0) web_flag = v;
        else if (strcmp(a, "--db") == 0) cfg.db_url = v;
        else if (strcmp(a, "--storage") == 0) cfg.storage_url = v;
        else if (strcmp(a, "--port") == 0 && oma_cli_int(v, 0, 65535, &cfg.port) != 0) {
            oma_cli_error("serve", "--port must be 0..65535");
            return OMA_EXIT_USAGE;
        } else if (strcmp(a, "--workers") == 0 && oma_cli_int(v, 0, 64, &cfg.workers) != 0) {
            oma_cli_error("serve", "--workers must be 0..64");
            return OMA_EXIT_USAGE;
        }
    }
    char webbuf[PATH_MAX];
    cfg.web_dir = find_web(web_flag, webbuf, sizeof webbuf);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) {
        oma_cli_error("serve", "cannot block signals");
        return OMA_EXIT_FAIL;
    }
    signal(SIGPIPE, SIG_IGN);

    oma_server *srv = NULL;
    char err[512];
    if (oma_server_start(&srv, &cfg, err, sizeof err) != 0) {
        oma_cli_error("serve", "%s", err);
        return OMA_EXIT_FAIL;
    }
    if (!cfg.web_dir)
        fprintf(stderr, "oma: serve: web UI not built (make web); / explains how to build it\n");
    printf("oma: listening on http://%s:%d\n", cfg.host, oma_server_port(srv));
    fflush(stdout);

    int sig = 0;
    while (sigwait(&set, &sig) != 0) {
    }
    fprintf(stderr, "oma: serve: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    oma_server_stop(srv);
    return OMA_EXIT_OK;
}
