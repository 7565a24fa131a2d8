/* blas.c — OpenBLAS set-up: thread count and the OPENBLAS_CORETYPE re-exec (see blas.h). */
#include "tensor/cpu/blas.h"

#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tensor/threadpool.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;

static int current = -1;

static void init_once(void)
{
    openblas_set_num_threads(oma_threads());
    __atomic_store_n(&current, oma_threads(), __ATOMIC_RELAXED);
}

void oma_blas_init(void) { pthread_once(&once, init_once); }

void oma_blas_set_threads(int n)
{
    if (__atomic_load_n(&current, __ATOMIC_RELAXED) == n) return;
    openblas_set_num_threads(n);
    __atomic_store_n(&current, n, __ATOMIC_RELAXED);
}

const char *oma_blas_corename(void)
{
    const char *n = openblas_get_corename();
    return n ? n : "unknown";
}

void oma_blas_fix_coretype(void)
{
    int fix_core = getenv("OPENBLAS_CORETYPE") && !getenv("OMA_KEEP_CORETYPE");
    int fix_omp = !getenv("OMP_WAIT_POLICY");
    if (!fix_core && !fix_omp) return;
    /* Read our own command line: NUL-separated arguments. */
    FILE *f = fopen("/proc/self/cmdline", "rb");
    if (!f) return;
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(f);
        return;
    }
    size_t r;
    while ((r = fread(buf + len, 1, cap - len, f)) > 0) {
        len += r;
        if (len == cap) break;      /* absurdly long command line: give up below */
    }
    fclose(f);
    if (len == 0 || len == cap) {
        free(buf);
        return;
    }
    buf[len] = 0;
    size_t argc = 0;
    for (size_t i = 0; i < len; i++)
        if (buf[i] == 0) argc++;
    char **argv = calloc(argc + 1, sizeof *argv);
    if (!argv) {
        free(buf);
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < len && k < argc; i += strlen(buf + i) + 1) argv[k++] = buf + i;
    argv[k] = NULL;
    if (fix_core) unsetenv("OPENBLAS_CORETYPE");
    if (fix_omp) setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv);
    /* exec failed: keep going with the slow kernels / spinning OpenMP threads */
    free(argv);
    free(buf);
}
