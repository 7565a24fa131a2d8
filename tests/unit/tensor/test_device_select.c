/* test_device_select.c — OMA_DEVICE / --device resolution. Runs everywhere: on a machine with no
 * CUDA device (or a build without CUDA) asking for cuda is one clear error line and the default
 * is cpu; where a device is visible (and the backend runs the pipelines) the default is cuda. Unknown names are errors. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tensor/device.h"

int main(void)
{
    char err[256];
    oma_device_kind k;
    CHECK(oma_device_parse("cpu", &k) == 0 && k == OMA_DEVICE_CPU);
    CHECK(oma_device_parse("cuda", &k) == 0 && k == OMA_DEVICE_CUDA);
    CHECK(oma_device_parse("gpu", &k) == -1 && oma_device_parse(NULL, &k) == -1);
    CHECK(!strcmp(oma_device_name(OMA_DEVICE_CUDA), "cuda"));

    unsetenv("OMA_DEVICE");
    CHECK(oma_device_resolve("cpu", &k, err, sizeof err) == 0 && k == OMA_DEVICE_CPU);
    err[0] = 0;
    CHECK(oma_device_resolve("tpu", &k, err, sizeof err) == -1);
    CHECK(strstr(err, "--device: expected cpu or cuda, got 'tpu'") != NULL);
    setenv("OMA_DEVICE", "metal", 1);
    CHECK(oma_device_resolve(NULL, &k, err, sizeof err) == -1);
    CHECK(strstr(err, "OMA_DEVICE: expected cpu or cuda") != NULL);
    setenv("OMA_DEVICE", "cpu", 1);
    CHECK(oma_device_resolve(NULL, &k, err, sizeof err) == 0 && k == OMA_DEVICE_CPU);
    CHECK(oma_device_resolve("cpu", &k, err, sizeof err) == 0 && k == OMA_DEVICE_CPU);
    unsetenv("OMA_DEVICE");

    char why[256] = "";
    int n = oma_device_cuda_count(why, sizeof why);
    fprintf(stderr, "cuda built %d, devices %d%s%s\n", oma_device_cuda_built(), n, n < 0 ? ": " : "",
            n < 0 ? why : "");
    if (!oma_device_cuda_built()) CHECK(n == -1 && strstr(why, "no CUDA backend"));
    if (n < 0) CHECK(strncmp(why, "cuda", 4) == 0 && strchr(why, '\n') == NULL);
    err[0] = 0;
    int rc = oma_device_resolve("cuda", &k, err, sizeof err);
    if (n > 0) {
        CHECK(rc == 0 && k == OMA_DEVICE_CUDA);
    } else {
        CHECK(rc == -1 && strncmp(err, "cuda: ", 6) == 0);
        fprintf(stderr, "--device cuda here: %s\n", err);
    }
    setenv("OMA_DEVICE", "cuda", 1);
    rc = oma_device_resolve(NULL, &k, err, sizeof err);
    CHECK(n > 0 ? rc == 0 : rc == -1);
    unsetenv("OMA_DEVICE");
    /* default: cuda exactly when a device is visible and the backend runs the pipelines */
    CHECK(oma_device_resolve(NULL, &k, err, sizeof err) == 0);
    CHECK(k == (n > 0 && oma_device_cuda_runs() ? OMA_DEVICE_CUDA : OMA_DEVICE_CPU));
    return failures != 0;
}
