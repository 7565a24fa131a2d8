/* cli_device.c — --device / OMA_DEVICE for the commands that run models (generate, worker):
 * resolves the device (tensor/device.h) and turns every refusal into one line and a usage exit.
 * cuda is refused, plainly, while the CUDA backend does not run the pipelines (docs/cuda.md):
 * no CPU run is passed off as a GPU one. */
#include "cli/cli.h"
#include "tensor/device.h"

int oma_cli_device(const char *cmd, const char *requested)
{
    char err[320];
    oma_device_kind k;
    if (oma_device_resolve(requested, &k, err, sizeof err) != 0) {
        oma_cli_error(cmd, "%s", err);
        return OMA_EXIT_USAGE;
    }
    if (k == OMA_DEVICE_CUDA && !oma_device_cuda_runs()) {
        oma_cli_error(cmd, "cuda: a device is visible, but this version's CUDA backend has kernels "
                           "only and the pipelines do not run on it yet (docs/cuda.md); use "
                           "--device cpu");
        return OMA_EXIT_USAGE;
    }
    return OMA_EXIT_OK;
}
