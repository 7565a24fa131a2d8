/* cmd_worker.c — `oma worker`: a process that runs jobs and serves no HTTP.
 *
 * It opens the shared database and storage (a wrong URL, password or bucket fails here with
 * one line and exit 1), applies migrations, registers its pool with the kinds it offers, and
 * runs N worker threads (the same pool as `oma serve --workers N`: claim, heartbeat the
 * lease, finish) until SIGINT/SIGTERM, when running jobs go back to the queue. A worker killed
 * without warning stops heart-beating; its jobs' leases expire and another worker's janitor
 * puts them back in the queue. Flags win over OMA_DB, OMA_STORAGE, OMA_MODELS, OMA_DATA,
 * OMA_WORKER_KINDS, OMA_WORKER_THREADS.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "formats/files.h"
#include "server/jobs/jobs.h"
#include "tensor/cpu/blas.h"

static void help(FILE *f)
{
    fprintf(f,
            "usage: oma worker --db URL --storage URL [--threads N] [--kinds PATTERN,...]\n"
            "                  [--models DIR] [--data DIR] [--device cpu|cuda]\n\n"
            "Runs jobs from a shared database and storage, with no HTTP (the API runs in\n"
            "`oma serve --workers 0` on the same --db and --storage).\n"
            "  --db URL        postgres://USER:PASS@HOST:PORT/DB (or sqlite:PATH on one machine)\n"
            "  --storage URL   s3://BUCKET[/PREFIX]?endpoint=URL&region=R (or file:DIR);\n"
            "                  credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY\n"
            "  --threads N     jobs run at once (1..64, default 1)\n"
            "  --kinds LIST    only these job kinds; '*' matches any run of characters,\n"
            "                  e.g. generate.*,style.train on a GPU machine (default: all)\n"
            "  --models DIR    model weights (default ./models)\n"
            "  --data DIR      local work and cache folder (default ./worker-data)\n"
            "  --device D      cpu or cuda (env OMA_DEVICE; default cuda where built and a GPU\n"
            "                  is visible; fp32; unverified on a GPU so far, docs/cuda.md)\n"
            "Environment: OMA_DB, OMA_STORAGE, OMA_WORKER_THREADS, OMA_WORKER_KINDS, OMA_MODELS,\n"
            "OMA_DATA, OMA_JOB_LEASE_SECONDS (flags win). Stops on SIGINT/SIGTERM; running jobs\n"
            "go back to the queue.\n");
}

int oma_cmd_worker(int argc, char **argv)
{
    if (oma_cli_wants_help(argc, argv)) {
        help(stdout);
        return OMA_EXIT_OK;
    }
    oma_blas_fix_coretype();
    const char *db_url = getenv("OMA_DB"), *storage_url = getenv("OMA_STORAGE"), *kinds = getenv("OMA_WORKER_KINDS");
    const char *models = getenv("OMA_MODELS"), *data = getenv("OMA_DATA"), *device = NULL;
    int threads = 1;
    const char *env = getenv("OMA_WORKER_THREADS");
    if (env && *env && oma_cli_int(env, 1, 64, &threads) != 0) {
        oma_cli_error("worker", "OMA_WORKER_THREADS must be 1..64");
        return OMA_EXIT_USAGE;
    }
    if ((env = getenv("OMA_JOB_LEASE_SECONDS")) && *env) {
        int lease = 0;
        if (oma_cli_int(env, 2, 3600, &lease) != 0) {
            oma_cli_error("worker", "OMA_JOB_LEASE_SECONDS must be 2..3600");
            return OMA_EXIT_USAGE;
        }
        oma_jobs_set_lease_seconds(lease);
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int known = strcmp(a, "--db") == 0 || strcmp(a, "--storage") == 0 || strcmp(a, "--threads") == 0 ||
                    strcmp(a, "--kinds") == 0 || strcmp(a, "--models") == 0 || strcmp(a, "--data") == 0 ||
                    strcmp(a, "--device") == 0;
        if (!known) {
            oma_cli_error("worker", "unknown option %s (try oma worker --help)", a);
            return OMA_EXIT_USAGE;
        }
        if (!v) {
            oma_cli_error("worker", "%s needs a value", a);
            return OMA_EXIT_USAGE;
        }
        i++;
        if (strcmp(a, "--db") == 0) db_url = v;
        else if (strcmp(a, "--storage") == 0) storage_url = v;
        else if (strcmp(a, "--kinds") == 0) kinds = v;
        else if (strcmp(a, "--models") == 0) models = v;
        else if (strcmp(a, "--data") == 0) data = v;
        else if (strcmp(a, "--device") == 0) device = v;
        else if (oma_cli_int(v, 1, 64, &threads) != 0) {
            oma_cli_error("worker", "--threads must be 1..64");
            return OMA_EXIT_USAGE;
        }
    }
    int drc = oma_cli_device("worker", device);
    if (drc != OMA_EXIT_OK) return drc;
    if (!db_url || !*db_url || !storage_url || !*storage_url) {
        oma_cli_error("worker", "--db and --storage are required (or OMA_DB and OMA_STORAGE)");
        return OMA_EXIT_USAGE;
    }
    if (kinds && *kinds && !oma_jobs_kinds_valid(kinds)) {
        oma_cli_error("worker", "--kinds: comma-separated patterns of A-Z a-z 0-9 . _ - * (at most 16)");
        return OMA_EXIT_USAGE;
    }
    if (!models || !*models) models = "./models";
    if (!data || !*data) data = "./worker-data";

    /* the shared stores must answer now: one clear line and exit 1 otherwise */
    char err[512];
    oma_db *db = NULL;
    if (oma_db_open(&db, db_url, 1, err, sizeof err) != 0) {
        oma_cli_error("worker", "database: %s", err);
        return OMA_EXIT_FAIL;
    }
    oma_db_close(db);
    oma_storage *st = NULL;
    if (oma_storage_open(&st, storage_url, err, sizeof err) != 0) {
        oma_cli_error("worker", "storage: %s", err);
        return OMA_EXIT_FAIL;
    }
    oma_storage_close(st);
    if (oma_mkdir_p(data, err, sizeof err) != 0) {
        oma_cli_error("worker", "data folder: %s", err);
        return OMA_EXIT_FAIL;
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) {
        oma_cli_error("worker", "cannot block signals");
        return OMA_EXIT_FAIL;
    }
    signal(SIGPIPE, SIG_IGN);
    oma_workers_config wc = {
        .db_url = db_url,
        .storage_url = storage_url,
        .models_dir = models,
        .data_dir = data,
        .n_workers = threads,
        .poll_ms = 200,
        .kinds = kinds,
    };
    oma_workers *w = NULL;
    if (oma_workers_start(&w, &wc, err, sizeof err) != 0) {
        oma_cli_error("worker", "%s", err);
        return OMA_EXIT_FAIL;
    }
    printf("oma: worker ready (%d thread%s, kinds %s)\n", threads, threads == 1 ? "" : "s",
           kinds && *kinds ? kinds : "*");
    fflush(stdout);
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {
    }
    fprintf(stderr, "oma: worker: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    oma_workers_stop(w);
    return OMA_EXIT_OK;
}
