/* device.c — device selection (see device.h). The CUDA probe is compiled in only with the
 * backend (OMA_HAVE_CUDA); without it, cuda is reported as not built. */
#include "tensor/device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef OMA_HAVE_CUDA
#include "tensor/cuda/cuda_api.h"
#endif

int oma_device_parse(const char *name, oma_device_kind *out)
{
    if (!name) return -1;
    if (!strcmp(name, "cpu")) *out = OMA_DEVICE_CPU;
    else if (!strcmp(name, "cuda")) *out = OMA_DEVICE_CUDA;
    else return -1;
    return 0;
}

const char *oma_device_name(oma_device_kind k) { return k == OMA_DEVICE_CUDA ? "cuda" : "cpu"; }

/* 0 until the CUDA backend fills the whole oma_backend table and the pipelines run on it: until
 * then the kernels exist (unverified) but nothing above src/tensor uses them, so the default
 * stays cpu and an explicit cuda request is refused by the commands (oma_device_cuda_runs). */
#define OMA_CUDA_RUNS_PIPELINES 0

int oma_device_cuda_runs(void) { return OMA_CUDA_RUNS_PIPELINES; }

int oma_device_cuda_built(void)
{
#ifdef OMA_HAVE_CUDA
    return 1;
#else
    return 0;
#endif
}

int oma_device_cuda_count(char *err, size_t errlen)
{
#ifdef OMA_HAVE_CUDA
    int n = oma_cuda_device_count();
    if (n < 0) snprintf(err, errlen, "%s", oma_cuda_last_error());
    return n;
#else
    snprintf(err, errlen, "cuda: this build has no CUDA backend (build where the CUDA toolkit is "
                          "installed, see docs/cuda.md)");
    return -1;
#endif
}

int oma_device_resolve(const char *requested, oma_device_kind *out, char *err, size_t errlen)
{
    const char *src = "--device";
    const char *name = requested;
    if (!name || !*name) {
        name = getenv("OMA_DEVICE");
        src = "OMA_DEVICE";
        if (name && !*name) name = NULL;
    }
    if (!name) {   /* default: cuda when it can be had and runs, else cpu (nothing was asked) */
        char ignored[256];
        *out = oma_device_cuda_runs() && oma_device_cuda_count(ignored, sizeof ignored) > 0
                   ? OMA_DEVICE_CUDA : OMA_DEVICE_CPU;
        return 0;
    }
    oma_device_kind k;
    if (oma_device_parse(name, &k) != 0) {
        snprintf(err, errlen, "%s: expected cpu or cuda, got '%.40s'", src, name);
        return -1;
    }
    if (k == OMA_DEVICE_CUDA) {
        char why[256];
        int n = oma_device_cuda_count(why, sizeof why);
        if (n < 0) {
            snprintf(err, errlen, "%s", why);
            return -1;
        }
        if (n == 0) {
            snprintf(err, errlen, "cuda: no CUDA device is visible");
            return -1;
        }
    }
    *out = k;
    return 0;
}
