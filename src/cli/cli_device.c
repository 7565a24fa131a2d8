/* cli_device.c — --device / OMA_DEVICE for the commands that run models (generate, worker):
 * resolves the device (tensor/device.h), makes the engine run there (oma_device_use: for cuda,
 * before any model is loaded) and turns every refusal into one line and a usage exit: no CPU
 * run is passed off as a GPU one. */
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
    if (oma_device_use(k, err, sizeof err) != 0) {
        oma_cli_error(cmd, "%s", err);
        return OMA_EXIT_USAGE;
    }
    return OMA_EXIT_OK;
}
