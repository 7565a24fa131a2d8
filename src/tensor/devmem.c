/* devmem.c — the weight plan and the device activation arena (see devmem.h): offsets only, so
 * the logic is tested on the CPU; the CUDA backend maps them onto its device allocations. */
#include "tensor/devmem.h"

#include <stdio.h>
#include <stdlib.h>

static int align_up(size_t v, size_t *out)
{
    if (v > SIZE_MAX - (OMA_DEVMEM_ALIGN - 1)) return -1;
    *out = (v + OMA_DEVMEM_ALIGN - 1) & ~(size_t)(OMA_DEVMEM_ALIGN - 1);
    return 0;
}

int oma_weight_plan_init(oma_weight_plan *p, int elem_bytes)
{
    p->slots = NULL;
    p->count = p->cap = p->total = 0;
    p->elem_bytes = elem_bytes;
    return elem_bytes == 4 || elem_bytes == 2 ? 0 : -1;
}

void oma_weight_plan_free(oma_weight_plan *p)
{
    free(p->slots);
    p->slots = NULL;
    p->count = p->cap = p->total = 0;
}

const oma_devmem_slot *oma_weight_plan_find(const oma_weight_plan *p, uint64_t stamp)
{
    for (size_t i = 0; i < p->count; i++)
        if (p->slots[i].stamp == stamp) return &p->slots[i];
    return NULL;
}

int oma_weight_plan_add(oma_weight_plan *p, uint64_t stamp, int64_t elements, size_t *offset)
{
    if (stamp == 0 || elements <= 0 || (p->elem_bytes != 2 && p->elem_bytes != 4)) return -1;
    if ((uint64_t)elements > SIZE_MAX / (size_t)p->elem_bytes) return -1;
    size_t bytes = (size_t)elements * (size_t)p->elem_bytes;
    const oma_devmem_slot *old = oma_weight_plan_find(p, stamp);
    if (old) {
        if (old->bytes != bytes) return -1;
        *offset = old->offset;
        return 0;
    }
    size_t start, end;
    if (align_up(p->total, &start) != 0 || bytes > SIZE_MAX - start) return -1;
    end = start + bytes;
    if (p->count == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 64;
        if (nc > SIZE_MAX / sizeof *p->slots) return -1;
        oma_devmem_slot *ns = realloc(p->slots, nc * sizeof *ns);
        if (!ns) return -1;
        p->slots = ns;
        p->cap = nc;
    }
    p->slots[p->count++] = (oma_devmem_slot){stamp, start, bytes};
    p->total = end;
    *offset = start;
    return 0;
}

void oma_devarena_init(oma_devarena *a, size_t capacity)
{
    a->capacity = capacity;
    a->used = a->peak = 0;
}

int oma_devarena_alloc(oma_devarena *a, size_t bytes, size_t *offset)
{
    size_t start, len;
    if (align_up(a->used, &start) != 0 || align_up(bytes ? bytes : 1, &len) != 0) return -1;
    if (start > a->capacity || len > a->capacity - start) return -1;
    *offset = start;
    a->used = start + len;
    if (a->used > a->peak) a->peak = a->used;
    return 0;
}

oma_devarena_mark oma_devarena_mark_now(const oma_devarena *a)
{
    return (oma_devarena_mark){a->used};
}

void oma_devarena_release(oma_devarena *a, oma_devarena_mark m)
{
    if (m.used <= a->used) a->used = m.used;
}

int oma_devmem_fits(size_t weights, size_t arena, size_t reserve, size_t free_bytes, char *err,
                    size_t errlen)
{
    if (weights > SIZE_MAX - arena || weights + arena > SIZE_MAX - reserve) return -1;
    size_t need = weights + arena + reserve;
    if (need <= free_bytes) return 1;
    snprintf(err, errlen,
             "cuda: out of device memory: needs %zu MiB (weights %zu + activations %zu + reserve "
             "%zu), %zu MiB free",
             need >> 20, weights >> 20, arena >> 20, reserve >> 20, free_bytes >> 20);
    return 0;
}
