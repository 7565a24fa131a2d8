/* test_tensor_core.c — tensors, the arena and the thread pool: shapes are validated, views
 * do not own, arena marks free what came after them, parallel_for covers every index once,
 * parallel_tasks runs every task once with the kernels inside it alone on its thread. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>

#include "tensor/arena.h"
#include "tensor/half.h"
#include "tensor/tensor.h"
#include "tensor/threadpool.h"

#include "check.h"

static void test_shapes(void)
{
    oma_tensor t;
    CHECK(oma_tensor_alloc4(&t, 3, 2, 3, 4, 0) == 0);
    CHECK(oma_tensor_numel(&t) == 24);
    CHECK(t.owns && t.data);
    for (int i = 0; i < 24; i++) CHECK(t.data[i] == 0.0f);
    int64_t s2[2] = {6, 4};
    CHECK(oma_tensor_reshape(&t, 2, s2) == 0 && t.shape[0] == 6 && t.shape[1] == 4);
    int64_t bad[2] = {5, 5};
    CHECK(oma_tensor_reshape(&t, 2, bad) == -1);
    char buf[64];
    CHECK(strcmp(oma_tensor_shape_str(&t, buf, sizeof buf), "[6, 4]") == 0);
    oma_tensor_free(&t);
    CHECK(t.data == NULL);

    int64_t neg[2] = {3, -1};
    CHECK(oma_tensor_alloc(&t, 2, neg) == -1);
    int64_t huge[4] = {1 << 20, 1 << 20, 1 << 20, 1};
    CHECK(oma_tensor_alloc(&t, 4, huge) == -1);     /* overflow bound, not a giant malloc */
    CHECK(oma_tensor_alloc(&t, 5, huge) == -1);     /* too many dims */
    CHECK(oma_shape_numel(0, NULL) == 1);

    float buf4[4] = {1, 2, 3, 4};
    int64_t s1[1] = {4};
    CHECK(oma_tensor_view(&t, buf4, 1, s1) == 0 && !t.owns && t.data == buf4);
    oma_tensor_free(&t);        /* must not free buf4 */
    CHECK(buf4[3] == 4.0f);
}

static void test_arena(void)
{
    oma_arena a;
    oma_arena_init(&a, 1024);
    void *p1 = oma_arena_alloc(&a, 100);
    CHECK(p1 && ((uintptr_t)p1 % 64) == 0);
    oma_arena_mark m = oma_arena_get_mark(&a);
    void *p2 = oma_arena_alloc(&a, 4000);           /* bigger than a chunk: its own chunk */
    CHECK(p2 && ((uintptr_t)p2 % 64) == 0);
    memset(p2, 1, 4000);
    void *p3 = oma_arena_alloc(&a, 10);
    CHECK(p3 != NULL);
    size_t peak = oma_arena_peak(&a);
    CHECK(peak >= 4000 + 128);
    oma_arena_release(&a, m);
    CHECK(a.used == 128);
    void *p4 = oma_arena_alloc(&a, 64);
    CHECK(p4 == (char *)p1 + 128);                  /* reuses the space after the mark */
    void *p5 = oma_arena_alloc(&a, 3000);           /* a released chunk is big enough: reused */
    CHECK(p5 == p2 || p5 == p3);
    memset(p5, 2, 3000);
    oma_tensor t;
    int64_t s[2] = {3, 5};
    CHECK(oma_arena_tensor(&a, &t, 2, s) == 0 && !t.owns && t.data[14] == 0.0f);
    CHECK(oma_arena_alloc(&a, SIZE_MAX - 10) == NULL);
    oma_arena_destroy(&a);
}

typedef struct {
    int *hits;
} hit_ctx;

static void mark_range(void *p, int64_t b, int64_t e)
{
    hit_ctx *h = p;
    for (int64_t i = b; i < e; i++) __atomic_fetch_add(&h->hits[i], 1, __ATOMIC_RELAXED);
}

static void test_pool(void)
{
    CHECK(oma_threads() >= 1);
    int n = 10007;
    int *hits = calloc((size_t)n, sizeof *hits);
    CHECK(hits != NULL);
    if (!hits) return;
    hit_ctx h = {hits};
    for (int round = 0; round < 50; round++) oma_parallel_for(n, 1, mark_range, &h);
    int ok = 1;
    for (int i = 0; i < n; i++) ok &= hits[i] == 50;
    CHECK(ok);
    oma_threads_shutdown();
    /* the pool restarts after a shutdown */
    memset(hits, 0, (size_t)n * sizeof *hits);
    oma_parallel_for(n, 100, mark_range, &h);
    ok = 1;
    for (int i = 0; i < n; i++) ok &= hits[i] == 1;
    CHECK(ok);
    oma_parallel_for(0, 1, mark_range, &h);         /* empty range: nothing happens */
    free(hits);
    oma_threads_shutdown();
}

/* A task: counts itself, checks that kernels inside run alone on its thread, and records
 * which thread ran it. */
typedef struct {
    int *hits;
    pthread_t *who;
    int alone_bad;
} task_ctx;

typedef struct {
    pthread_t self;
    int other;
} same_thread;

static void on_which_thread(void *p, int64_t b, int64_t e)
{
    same_thread *s = p;
    (void)b, (void)e;
    if (!pthread_equal(s->self, pthread_self())) __atomic_store_n(&s->other, 1, __ATOMIC_RELAXED);
}

static void one_task(void *p, int64_t i)
{
    task_ctx *t = p;
    __atomic_fetch_add(&t->hits[i], 1, __ATOMIC_RELAXED);
    t->who[i] = pthread_self();
    same_thread s = {pthread_self(), 0};
    oma_parallel_for(1000, 1, on_which_thread, &s);
    if (s.other || oma_threads_here() != 1) __atomic_store_n(&t->alone_bad, 1, __ATOMIC_RELAXED);
    volatile double x = 0;   /* a little work, so that more than one thread gets some */
    for (int k = 0; k < 20000; k++) x += k;
}

static void test_tasks(void)
{
    enum { N = 64 };
    int hits[N] = {0};
    pthread_t who[N];
    task_ctx t = {hits, who, 0};
    oma_parallel_tasks(N, one_task, &t);
    int ok = 1, threads = 0;
    for (int i = 0; i < N; i++) ok &= hits[i] == 1;
    CHECK(ok);                       /* every task once */
    CHECK(!t.alone_bad);             /* kernels inside a task stay on its thread */
    for (int i = 0; i < N; i++) {    /* how many threads took tasks */
        int seen = 0;
        for (int k = 0; k < i; k++) seen |= pthread_equal(who[k], who[i]);
        threads += !seen;
    }
    CHECK(threads >= 1 && threads <= oma_threads());
    CHECK(oma_threads_here() == oma_threads());   /* back outside: the pool again */
    /* one task runs on the caller, with the pool available to it */
    memset(hits, 0, sizeof hits);
    oma_parallel_tasks(1, one_task, &t);
    CHECK(hits[0] == 1 && pthread_equal(who[0], pthread_self()));
    oma_parallel_tasks(0, one_task, &t);   /* none: nothing happens */
    CHECK(hits[1] == 0);
}

static void test_half(void)
{
    CHECK(oma_half_to_f32(0x3c00, OMA_HALF_F16) == 1.0f);
    CHECK(oma_half_to_f32(0xc000, OMA_HALF_F16) == -2.0f);
    CHECK(oma_half_to_f32(0x7bff, OMA_HALF_F16) == 65504.0f);
    CHECK(oma_half_to_f32(0x0001, OMA_HALF_F16) == ldexpf(1.0f, -24));      /* smallest subnormal */
    CHECK(oma_half_to_f32(0x03ff, OMA_HALF_F16) == 1023.0f * ldexpf(1.0f, -24));
    CHECK(isinf(oma_half_to_f32(0x7c00, OMA_HALF_F16)) && oma_half_to_f32(0xfc00, OMA_HALF_F16) < 0);
    CHECK(isnan(oma_half_to_f32(0x7e00, OMA_HALF_F16)));
    CHECK(signbit(oma_half_to_f32(0x8000, OMA_HALF_F16)) && oma_half_to_f32(0x8000, OMA_HALF_F16) == 0.0f);
    CHECK(oma_half_to_f32(0x3f80, OMA_HALF_BF16) == 1.0f && oma_half_to_f32(0xc049, OMA_HALF_BF16) == -3.140625f);
    /* the bulk path (F16C where present) equals the scalar one on all 65536 values */
    uint16_t *all = malloc(65536 * sizeof *all);
    float *out = malloc(65536 * sizeof *out);
    CHECK(all && out);
    if (!all || !out) return;
    for (int i = 0; i < 65536; i++) all[i] = (uint16_t)i;
    for (int k = OMA_HALF_F16; k <= OMA_HALF_BF16; k++) {
        oma_half_widen(all, (oma_half_kind)k, out, 65536);
        int ok = 1;
        for (int i = 0; i < 65536; i++) {
            float want = oma_half_to_f32((uint16_t)i, (oma_half_kind)k);
            ok &= isnan(want) ? isnan(out[i]) : memcmp(&want, &out[i], sizeof want) == 0;
        }
        CHECK(ok);
    }
    free(all);
    free(out);
}

int main(void)
{
    setenv("OMA_THREADS", "3", 1);
    test_shapes();
    test_arena();
    test_pool();
    test_tasks();
    test_half();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_tensor_core: ok\n");
    return 0;
}
