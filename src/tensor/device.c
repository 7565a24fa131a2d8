/* device.c — device selection (see device.h). The CUDA probe is compiled in only with the
 * backend (OMA_HAVE_CUDA); without it, cuda is reported as not built. */
#include "tensor/device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/device_backend.h"
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

/* The CUDA backend fills the backend table (device_backend.c over cuda_devops.cu), so the
 * pipelines run on it wherever it is built. */
int oma_device_cuda_runs(void) { return oma_device_cuda_built(); }

int oma_device_use(oma_device_kind k, char *err, size_t errlen)
{
    if (k == OMA_DEVICE_CPU) {
        if (oma_devbackend_active()) oma_devbackend_uninstall();
        return 0;
    }
#ifdef OMA_HAVE_CUDA
    if (oma_devbackend_active()) return 0;
    const oma_devops *ops = oma_cuda_devops(err, errlen);
    if (!ops) return -1;
    if (oma_devbackend_install(ops) != 0) {
        snprintf(err, errlen, "cuda: the device backend could not be installed");
        return -1;
    }
    return 0;
#else
    (void)oma_device_cuda_count(err, errlen);   /* "this build has no CUDA backend" */
    return -1;
#endif
}

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
