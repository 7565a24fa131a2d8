/* test_devmem.c — the device-memory bookkeeping (pure host logic, no device needed): weight
 * slots are aligned, disjoint, deduplicated by stamp and half-size in fp16; the arena's
 * mark/release/peak and its hard capacity; the fits check and its message. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "tensor/devmem.h"

static void weight_plan(void)
{
    oma_weight_plan p;
    CHECK(oma_weight_plan_init(&p, 3) == -1);
    CHECK(oma_weight_plan_init(&p, 2) == 0);
    size_t o1 = 1, o2 = 1, o3 = 1, o4 = 1;
    CHECK(oma_weight_plan_add(&p, 7, 100, &o1) == 0);      /* 200 bytes */
    CHECK(oma_weight_plan_add(&p, 9, 1, &o2) == 0);
    CHECK(oma_weight_plan_add(&p, 7, 100, &o3) == 0);      /* same stamp: same slot */
    CHECK(oma_weight_plan_add(&p, 7, 101, &o4) == -1);     /* same stamp, other size */
    CHECK(oma_weight_plan_add(&p, 0, 4, &o4) == -1);       /* stamp 0: not a weight */
    CHECK(oma_weight_plan_add(&p, 11, -1, &o4) == -1);
    CHECK(oma_weight_plan_add(&p, 11, INT64_MAX, &o4) == -1);
    CHECK(o1 == 0 && o2 == 256 && o3 == 0);
    CHECK(p.count == 2 && p.total == 258);
    const oma_devmem_slot *s = oma_weight_plan_find(&p, 9);
    CHECK(s && s->bytes == 2 && s->offset == 256);
    CHECK(oma_weight_plan_find(&p, 12345) == NULL);
    /* many weights: slots never overlap and stay aligned */
    for (uint64_t st = 100; st < 400; st++) {
        size_t o;
        CHECK(oma_weight_plan_add(&p, st, (int64_t)(st * 3), &o) == 0);
        CHECK(o % OMA_DEVMEM_ALIGN == 0);
    }
    for (size_t i = 1; i < p.count; i++)
        CHECK(p.slots[i].offset >= p.slots[i - 1].offset + p.slots[i - 1].bytes);
    oma_weight_plan_free(&p);

    CHECK(oma_weight_plan_init(&p, 4) == 0);
    size_t o;
    CHECK(oma_weight_plan_add(&p, 1, 100, &o) == 0 && p.total == 400);
    oma_weight_plan_free(&p);
}

static void arena(void)
{
    oma_devarena a;
    oma_devarena_init(&a, 4096);
    size_t o1, o2, o3;
    CHECK(oma_devarena_alloc(&a, 10, &o1) == 0 && o1 == 0);
    oma_devarena_mark m = oma_devarena_mark_now(&a);
    CHECK(oma_devarena_alloc(&a, 1000, &o2) == 0 && o2 == 256);
    CHECK(a.used == 256 + 1024 && a.peak == a.used);
    CHECK(oma_devarena_alloc(&a, 4096, &o3) == -1);        /* full: an error, not growth */
    CHECK(oma_devarena_alloc(&a, SIZE_MAX, &o3) == -1);    /* overflow */
    oma_devarena_release(&a, m);
    CHECK(a.used == 256 && a.peak == 1280);
    CHECK(oma_devarena_alloc(&a, 3840, &o3) == 0 && o3 == 256 && a.used == 4096);
    CHECK(oma_devarena_alloc(&a, 1, &o3) == -1);
    oma_devarena_release(&a, (oma_devarena_mark){0});
    CHECK(a.used == 0 && a.peak == 4096);
}

static void fits(void)
{
    char err[256] = "";
    CHECK(oma_devmem_fits(1 << 20, 2 << 20, 1 << 20, 4 << 20, err, sizeof err) == 1);
    CHECK(oma_devmem_fits((size_t)3 << 30, (size_t)2 << 30, (size_t)1 << 30, (size_t)5 << 30, err,
                          sizeof err) == 0);
    CHECK(strstr(err, "out of device memory") && strstr(err, "needs 6144 MiB") &&
          strstr(err, "5120 MiB free"));
    CHECK(oma_devmem_fits(SIZE_MAX, 1, 0, 0, err, sizeof err) == -1);
}

int main(void)
{
    weight_plan();
    arena();
    fits();
    return failures != 0;
}
