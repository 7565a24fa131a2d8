/* devmem.h — device-memory bookkeeping for an accelerator backend, as pure host logic.
 *
 * Two plans, both over byte offsets into ONE device allocation each (so they are testable with no
 * device: the backend adds the offsets to its cudaMalloc'd base):
 *  - the weight plan: every long-lived weight tensor (identified by its oma_tensor stamp) gets a
 *    fixed, aligned slot, uploaded once and kept; a stamp seen twice keeps its first slot;
 *    weights may be stored at half size (fp16/bf16 on the device).
 *  - the activation arena: a bump allocator with mark/release, a fixed capacity (no growth on the
 *    device: running out is the clear "out of device memory" error, not a crash) and a peak.
 * oma_devmem_fits checks a plan against the device's free memory, keeping a reserve for the
 * libraries' own workspaces.
 */
#ifndef OMA_TENSOR_DEVMEM_H
#define OMA_TENSOR_DEVMEM_H

#include <stddef.h>
#include <stdint.h>

#define OMA_DEVMEM_ALIGN 256

typedef struct oma_devmem_slot {
    uint64_t stamp;
    size_t offset, bytes;
} oma_devmem_slot;

typedef struct oma_weight_plan {
    oma_devmem_slot *slots;
    size_t count, cap;
    size_t total;                 /* bytes of the weight block (aligned slots) */
    int elem_bytes;               /* bytes per element on the device: 4 (fp32) or 2 (fp16/bf16) */
} oma_weight_plan;

/* elem_bytes 4 or 2; -1 otherwise. */
int oma_weight_plan_init(oma_weight_plan *p, int elem_bytes);
void oma_weight_plan_free(oma_weight_plan *p);
/* Adds a weight of `elements` floats under `stamp` (non-zero); returns its slot's offset through
 * *offset. 0, or -1 on a zero stamp, overflow or out of host memory. Adding a stamp already
 * planned returns the existing slot (its element count must match, else -1). */
int oma_weight_plan_add(oma_weight_plan *p, uint64_t stamp, int64_t elements, size_t *offset);
/* The slot of a stamp, or NULL. */
const oma_devmem_slot *oma_weight_plan_find(const oma_weight_plan *p, uint64_t stamp);

typedef struct oma_devarena {
    size_t capacity, used, peak;
} oma_devarena;

typedef struct oma_devarena_mark {
    size_t used;
} oma_devarena_mark;

void oma_devarena_init(oma_devarena *a, size_t capacity);
/* Offset of `bytes` (aligned); 0 with *offset set, or -1 when the arena is full / overflow. */
int oma_devarena_alloc(oma_devarena *a, size_t bytes, size_t *offset);
oma_devarena_mark oma_devarena_mark_now(const oma_devarena *a);
void oma_devarena_release(oma_devarena *a, oma_devarena_mark m);

/* Whether weights + arena + reserve fit in free_bytes. 1 fits, 0 does not (err says by how
 * much, in MiB), -1 on overflow. */
int oma_devmem_fits(size_t weights, size_t arena, size_t reserve, size_t free_bytes, char *err,
                    size_t errlen);

#endif
