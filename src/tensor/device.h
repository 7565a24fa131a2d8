/* device.h — which device the engine runs on: "cpu" or "cuda".
 *
 * The choice comes from the caller (--device), else OMA_DEVICE, else the default: cuda when this
 * build has the CUDA backend, a device is visible and the backend runs the pipelines
 * (oma_device_cuda_runs), cpu otherwise. Asking for cuda where it
 * cannot be had (a build without CUDA, no driver, a driver older than the toolkit, no device) is
 * an error with one clear line, never a crash and never a silent CPU run.
 */
#ifndef OMA_TENSOR_DEVICE_H
#define OMA_TENSOR_DEVICE_H

#include <stddef.h>

typedef enum { OMA_DEVICE_CPU = 0, OMA_DEVICE_CUDA = 1 } oma_device_kind;

/* "cpu" / "cuda" -> kind; -1 for anything else (NULL included). */
int oma_device_parse(const char *name, oma_device_kind *out);
const char *oma_device_name(oma_device_kind k);

/* 1 when this build has the CUDA backend compiled in. */
int oma_device_cuda_built(void);

/* 1 when the pipelines run on the CUDA backend (wherever it is built: docs/cuda.md). */
int oma_device_cuda_runs(void);

/* Makes the engine run on k from now on: cuda initialises device 0 and installs the device
 * backend (tensor/device_backend.h; call it before loading models, so their weights are made
 * in device-reachable memory); cpu uninstalls it. 0, or -1 with one line in err. */
int oma_device_use(oma_device_kind k, char *err, size_t errlen);

/* Visible CUDA devices: >= 0, or -1 with the reason in err (no CUDA in this build, no driver,
 * driver/toolkit mismatch). */
int oma_device_cuda_count(char *err, size_t errlen);

/* Resolves the device: `requested` (NULL: not given) else $OMA_DEVICE else the default.
 * Returns 0 with *out set, or -1 with one line in err ("OMA_DEVICE: ..." / "cuda: ..."). */
int oma_device_resolve(const char *requested, oma_device_kind *out, char *err, size_t errlen);

#endif
