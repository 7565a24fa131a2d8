/* test_conv_kept.c — 3x3 convolution layers whose Winograd-transformed weights the CPU backend
 * keeps between calls (tensor/cpu/cpu_kept.c, keyed by the layer's weight stamp).
 *
 * Checked against a double-precision direct convolution: the first and the repeated call on a
 * 32x32 image (kept weights), a 64x64 batch of two through the same layer (oneDNN may pick
 * another Winograd layout for it: kept weights are keyed by layout too) and back to 32x32, an 8x8 image (direct kernels); after a LoRA
 * merge the next call must use the merged weights (a stale kept copy would give the old
 * output); freeing the layers gives the memory back; and with OMA_WEIGHT_CACHE_MB=0 (in a
 * child process, since the budget is read once) nothing is kept and the results are the same.
 * Tolerance: 1e-4 of the output's magnitude (Winograd F(4x4,3x3) in f32 is ~1e-6 here; a wrong
 * layout or stale weights are off by the output's whole size).
 * In bf16 mode (CPUs with AVX512_BF16) the direct kernels' bf16 blocked weights are kept the same
 * way: with keeping on, the first and the repeated call give the same bits as a call with
 * keeping off (the same reorder, done once), within bf16's rounding of the double reference
 * (2e-2), and a LoRA merge is seen; with keeping off nothing new is kept. The bf16 blocked
 * weights come from our own conversion (tensor/cpu/cpu_dnnl_weights.c): convolutions of odd
 * shapes (channels not a multiple of the blocks, odd input channels, SD's 1280x1280) give the
 * same bits with it as with oneDNN's reorder (OMA_BF16_REORDER=onednn), and it must have run.
 * Handed-over weights (bf16_hand_over): the same bits, written over the floats.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nn/layers.h"
#include "tensor/backend.h"
#include "tensor/cpu/cpu_internal.h"
#include "tensor/ops.h"
#include "tensor/threadpool.h"

#include "check.h"

enum { C = 32, OC = 48 };

static uint64_t rs = 0x9e3779b97f4a7c15ull;
static float rnd(void)
{
    rs ^= rs << 13, rs ^= rs >> 7, rs ^= rs << 17;
    return (float)((rs >> 40) * (1.0 / 8388608.0)) - 1.0f;
}

static int fake_has(void *ctx, const char *name)
{
    (void)ctx, (void)name;
    return 1;
}

static int fake_read(void *ctx, const char *name, int ndim, const int64_t *shape, float *dst,
                     char *err, size_t errlen)
{
    (void)ctx, (void)name, (void)err, (void)errlen;
    int64_t n = oma_shape_numel(ndim, shape);
    for (int64_t i = 0; i < n; i++) dst[i] = 0.2f * rnd();
    return 0;
}

/* y = conv3x3(x, w) + b, pad 1, in double; then the max error of got against it, relative. */
static double conv_err(const oma_tensor *x, const float *w, const float *b, const oma_tensor *got)
{
    int64_t n = x->shape[0], h = x->shape[2], wd = x->shape[3];
    double maxref = 0, maxerr = 0;
    for (int64_t bi = 0; bi < n; bi++)
        for (int64_t o = 0; o < OC; o++)
            for (int64_t i = 0; i < h; i++)
                for (int64_t j = 0; j < wd; j++) {
                    double s = b[o];
                    for (int64_t c = 0; c < C; c++)
                        for (int ki = 0; ki < 3; ki++)
                            for (int kj = 0; kj < 3; kj++) {
                                int64_t ii = i + ki - 1, jj = j + kj - 1;
                                if (ii < 0 || jj < 0 || ii >= h || jj >= wd) continue;
                                s += (double)w[((o * C + c) * 3 + ki) * 3 + kj] *
                                     x->data[((bi * C + c) * h + ii) * wd + jj];
                            }
                    double g = got->data[((bi * OC + o) * h + i) * wd + j];
                    maxref = fmax(maxref, fabs(s));
                    double e = fabs(g - s);
                    if (!(e <= maxerr)) maxerr = isnan(e) ? INFINITY : e;
                }
    return maxerr / (1 + maxref);
}

/* One forward of layer l over a fresh random [n, C, hw, hw] input, checked. */
static void run_check(const char *what, const oma_conv2d *l, int64_t n, int64_t hw)
{
    oma_arena ar;
    oma_arena_init(&ar, 1 << 20);
    oma_tensor x, y;
    int64_t xs[4] = {n, C, hw, hw};
    CHECK(oma_arena_tensor(&ar, &x, 4, xs) == 0);
    for (int64_t i = 0; i < oma_tensor_numel(&x); i++) x.data[i] = rnd();
    CHECK(oma_conv2d_forward(l, &x, &ar, &y) == 0);
    double e = conv_err(&x, l->w.data, l->b.data, &y);
    printf("  %-36s n=%lld %lldx%lld: max error %.2e of the output's size, kept %.2f MB\n", what,
           (long long)n, (long long)hw, (long long)hw, e, oma_cpu_kept_bytes() / 1048576.0);
    CHECK(e <= 1e-4);
    oma_arena_destroy(&ar);
}

/* One forward of l over an input drawn from `seed`, checked against the double reference within
 * tol; the output is copied to out. */
static void forward_fixed_w(const char *what, const oma_conv2d *l, const float *wref, int64_t n, int64_t hw,
                            uint64_t seed, double tol, float *out);
static void forward_fixed(const char *what, const oma_conv2d *l, int64_t n, int64_t hw, uint64_t seed,
                          double tol, float *out)
{
    forward_fixed_w(what, l, l->w.data, n, hw, seed, tol, out);
}

/* The same, checked against the weights wref (a copy of the layer's floats). */
static void forward_fixed_w(const char *what, const oma_conv2d *l, const float *wref, int64_t n, int64_t hw,
                            uint64_t seed, double tol, float *out)
{
    oma_arena ar;
    oma_arena_init(&ar, 1 << 20);
    oma_tensor x, y;
    int64_t xs[4] = {n, C, hw, hw};
    CHECK(oma_arena_tensor(&ar, &x, 4, xs) == 0);
    uint64_t saved = rs;
    rs = seed;
    for (int64_t i = 0; i < oma_tensor_numel(&x); i++) x.data[i] = rnd();
    rs = saved;
    CHECK(oma_conv2d_forward(l, &x, &ar, &y) == 0);
    double e = conv_err(&x, wref, l->b.data, &y);
    printf("  %-36s n=%lld %lldx%lld: max error %.2e of the output's size, kept %.2f MB\n", what,
           (long long)n, (long long)hw, (long long)hw, e, oma_cpu_kept_bytes() / 1048576.0);
    CHECK(e <= tol);
    memcpy(out, y.data, sizeof(float) * (size_t)oma_tensor_numel(&y));
    oma_arena_destroy(&ar);
}

/* One bf16 convolution (per-call weights: stamp 0) of [1, c, hw, hw] by [oc, c, k, k], pad k/2. */
static float *conv_bf16_once(int64_t oc, int64_t c, int64_t k, int64_t hw, const float *x,
                             const float *wt)
{
    float *y = malloc(sizeof(float) * (size_t)(oc * hw * hw));
    if (!y) return NULL;
    if (oma_backend_current()->conv2d(x, 1, c, hw, hw, wt, 0, NULL, oc, k, k, 1, (int)(k / 2), y, hw,
                                      hw) != 0) {
        free(y);
        return NULL;
    }
    return y;
}

/* Our bf16 weight conversion against oneDNN's reorder, through whole convolutions. */
static void bf16_conversion(void)
{
    static const int64_t shapes[][4] = {   /* oc, c, k, hw */
        {48, 32, 3, 16}, {4, 320, 3, 8}, {320, 4, 3, 8}, {37, 5, 3, 9}, {33, 7, 3, 6},
        {1280, 1280, 3, 4}, {96, 64, 4, 8}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int64_t oc = shapes[s][0], c = shapes[s][1], k = shapes[s][2], hw = shapes[s][3];
        size_t nx = (size_t)(c * hw * hw), nw = (size_t)(oc * c * k * k);
        float *x = malloc(nx * sizeof(float)), *wt = malloc(nw * sizeof(float));
        CHECK(x && wt);
        if (!x || !wt) {
            free(x), free(wt);
            return;
        }
        for (size_t i = 0; i < nx; i++) x[i] = rnd();
        for (size_t i = 0; i < nw; i++) wt[i] = 0.2f * rnd();
        int64_t before = oma_dnnl_weights_bf16_done();
        float *ours = conv_bf16_once(oc, c, k, hw, x, wt);
        int64_t ran = oma_dnnl_weights_bf16_done() - before;
        setenv("OMA_BF16_REORDER", "onednn", 1);
        float *theirs = conv_bf16_once(oc, c, k, hw, x, wt);
        unsetenv("OMA_BF16_REORDER");
        CHECK(ours && theirs);
        int same = ours && theirs && memcmp(ours, theirs, sizeof(float) * (size_t)(oc * hw * hw)) == 0;
        printf("  bf16 weights %lldx%lldx%lldx%lld: ours %s, same bits as oneDNN's reorder: %s\n",
               (long long)oc, (long long)c, (long long)k, (long long)k, ran ? "ran" : "not used",
               same ? "yes" : "NO");
        CHECK(same);
        /* k = 4 convolutions may get another layout; the 3x3 ones must take our path */
        if (k == 3) CHECK(ran > 0);
        free(ours), free(theirs), free(x), free(wt);
    }
}

/* bf16 mode: kept bf16 blocked weights give the bits of per-call reorders. */
static void bf16_kept(void)
{
    if (!oma_precision_bf16_native()) {
        printf("  bf16: skipped (no AVX512_BF16 or no oneDNN)\n");
        return;
    }
    CHECK(oma_precision_set("bf16") == 0);
    bf16_conversion();
    oma_weights w = {.read = fake_read, .has = fake_has};
    char err[256];
    oma_conv2d l;
    CHECK(oma_conv2d_load(&l, &w, "e", C, OC, 3, 1, 1, 1, err, sizeof err) == 0);
    const int64_t n = 2, hw = 32;
    size_t count = (size_t)(n * OC * hw * hw);
    float *a = malloc(count * sizeof(float)), *b = malloc(count * sizeof(float)),
          *c = malloc(count * sizeof(float));
    CHECK(a && b && c);
    if (a && b && c) {
        size_t base = oma_cpu_kept_bytes();
        CHECK(oma_cpu_keep_weights(0) == 0);
        forward_fixed("bf16, keeping off", &l, n, hw, 77, 2e-2, a);
        CHECK(oma_cpu_kept_bytes() == base);
        CHECK(oma_cpu_keep_weights(1) == 0);
        forward_fixed("bf16, kept on first use", &l, n, hw, 77, 2e-2, b);
        CHECK(oma_cpu_kept_bytes() > base);
        size_t one = oma_cpu_kept_bytes();
        CHECK(memcmp(a, b, count * sizeof(float)) == 0);
        forward_fixed("bf16, kept weights", &l, n, hw, 77, 2e-2, c);
        CHECK(oma_cpu_kept_bytes() == one);
        CHECK(memcmp(a, c, count * sizeof(float)) == 0);
        oma_tensor up, down;
        int64_t us[4] = {OC, 2, 1, 1}, ds[4] = {2, C, 3, 3};
        CHECK(oma_tensor_alloc(&up, 4, us) == 0 && oma_tensor_alloc(&down, 4, ds) == 0);
        for (int64_t i = 0; i < oma_tensor_numel(&up); i++) up.data[i] = rnd();
        for (int64_t i = 0; i < oma_tensor_numel(&down); i++) down.data[i] = rnd();
        CHECK(oma_conv2d_merge_lora(&l, &up, &down, 0.8f) == 0);
        forward_fixed("bf16 after a LoRA merge", &l, n, hw, 77, 2e-2, c);
        CHECK(memcmp(a, c, count * sizeof(float)) != 0);
        oma_tensor_free(&up), oma_tensor_free(&down);
        oma_conv2d_free(&l);
        CHECK(oma_cpu_kept_bytes() == base);
    }
    free(a), free(b), free(c);
    CHECK(oma_precision_set("fp32") == 0);
}

/* Float weights handed over (oma_layers_hand_over: a one-shot process): the layer's floats
 * become their bf16 blocked form in place — the bits of per-call reorders, no new kept memory,
 * the floats gone; the form is used after the hand-over ends too; another precision refuses
 * (-1) instead of reading the floats, the upsampler's phases decline; freeing the layer drops
 * it. A view (weights the layer does not own) is never handed over. */
static void bf16_hand_over(void)
{
    if (!oma_precision_bf16_native()) return;
    CHECK(oma_precision_set("bf16") == 0);
    oma_weights w = {.read = fake_read, .has = fake_has};
    char err[256];
    oma_conv2d l;
    CHECK(oma_conv2d_load(&l, &w, "h", C, OC, 3, 1, 1, 1, err, sizeof err) == 0);
    const int64_t n = 2, hw = 32;
    size_t count = (size_t)(n * OC * hw * hw), nw = (size_t)oma_tensor_numel(&l.w);
    float *a = malloc(count * sizeof(float)), *b = malloc(count * sizeof(float)),
          *save = malloc(nw * sizeof(float)), *a1 = malloc(count * sizeof(float));
    CHECK(a && b && save && a1);
    if (a && b && save && a1) {
        memcpy(save, l.w.data, nw * sizeof(float));
        size_t base = oma_cpu_kept_bytes(), handed = oma_cpu_handed_over_bytes();
        uint64_t stamp = l.w.stamp;
        CHECK(oma_cpu_keep_weights(0) == 0);     /* as a short one-shot run: nothing new kept */
        forward_fixed("bf16, per call", &l, n, hw, 91, 2e-2, a);
        forward_fixed("bf16, per call, batch of one", &l, 1, hw, 93, 2e-2, a1);
        oma_tensor view = l.w;
        view.owns = 0;
        oma_layers_hand_over(1);
        oma_op_weights_consumable(&view);        /* not the layer's own: ignored */
        CHECK(oma_cpu_handed_over_bytes() == handed);
        forward_fixed_w("bf16, handed over", &l, save, n, hw, 91, 2e-2, b);
        CHECK(memcmp(a, b, count * sizeof(float)) == 0);
        CHECK(oma_cpu_handed_over_bytes() > handed && oma_cpu_kept_bytes() == base);
        CHECK(memcmp(save, l.w.data, nw * sizeof(float)) != 0);    /* the floats are gone */
        forward_fixed_w("bf16, handed-over form", &l, save, n, hw, 91, 2e-2, b);
        CHECK(memcmp(a, b, count * sizeof(float)) == 0);
        oma_layers_hand_over(0);
        forward_fixed_w("bf16, after the hand-over", &l, save, n, hw, 91, 2e-2, b);
        CHECK(memcmp(a, b, count * sizeof(float)) == 0);
        /* a batch of one may want another layout (oneDNN picks one per shape): made from the
         * taken bf16 form, the same bits as from the floats; per call, then kept */
        forward_fixed_w("bf16, handed over, batch of one", &l, save, 1, hw, 93, 2e-2, b);
        CHECK(memcmp(a1, b, count / 2 * sizeof(float)) == 0);
        CHECK(oma_cpu_keep_weights(1) == 0);
        forward_fixed_w("bf16, handed over, one, kept", &l, save, 1, hw, 93, 2e-2, b);
        CHECK(memcmp(a1, b, count / 2 * sizeof(float)) == 0);
        forward_fixed_w("bf16, handed over, one, again", &l, save, 1, hw, 93, 2e-2, b);
        CHECK(memcmp(a1, b, count / 2 * sizeof(float)) == 0);
        CHECK(oma_cpu_keep_weights(0) == 0);
        const oma_backend *be = oma_backend_current();
        if (be->conv2d_up2x_work) {   /* 64x64: offered for weights not handed over, not for these */
            CHECK(be->conv2d_up2x_work(1, C, 64, 64, OC, oma_stamp_next()) > 0);
            CHECK(be->conv2d_up2x_work(1, C, 64, 64, OC, l.w.stamp) == 0);
        }
        CHECK(oma_precision_set("fp32") == 0);
        oma_arena ar;
        oma_arena_init(&ar, 1 << 20);
        oma_tensor x, y;
        int64_t xs[4] = {n, C, hw, hw};
        CHECK(oma_arena_tensor(&ar, &x, 4, xs) == 0);
        CHECK(oma_conv2d_forward(&l, &x, &ar, &y) == -1);   /* fp32 would need the floats */
        oma_arena_destroy(&ar);
        CHECK(oma_cpu_keep_weights(1) == 0);
        printf("  handed over %.2f MB of float weights; fp32 then refuses\n",
               (oma_cpu_handed_over_bytes() - handed) / 1048576.0);
        CHECK(oma_kept_taken(stamp));
        oma_conv2d_free(&l);
        CHECK(!oma_kept_taken(stamp));      /* forgotten with the layer */
        CHECK(oma_cpu_kept_bytes() == base);
    }
    free(a), free(b), free(save), free(a1);
    CHECK(oma_precision_set("fp32") == 0);
}

/* Handed-over weights wanted in another layout: SD's 320x320 3x3 at 32x32 gets one bf16 weight
 * layout for a batch of two and another for a batch of one (oneDNN's choice on AVX512_BF16):
 * that layout is made from the taken form, and gives the bits of a per-call conversion of the
 * floats. */
static void bf16_hand_over_relayout(void)
{
    if (!oma_precision_bf16_native()) return;
    CHECK(oma_precision_set("bf16") == 0);
    const oma_backend *be = oma_backend_current();
    enum { K = 320, HW = 32 };
    size_t nw = (size_t)K * K * 9, nx = (size_t)2 * K * HW * HW;
    float *w = oma_aligned_alloc(nw * sizeof(float)), *x = malloc(nx * sizeof(float)),
          *y = malloc(nx * sizeof(float)), *want = malloc(nx * sizeof(float));
    CHECK(w && x && y && want && be->weights_consumable);
    if (w && x && y && want && be->weights_consumable) {
        for (size_t i = 0; i < nw; i++) w[i] = 0.05f * rnd();
        for (size_t i = 0; i < nx; i++) x[i] = rnd();
        uint64_t st = oma_stamp_next();
        CHECK(be->conv2d(x, 1, K, HW, HW, w, 0, NULL, K, 3, 3, 1, 1, want, HW, HW) == 0);   /* per call */
        be->weights_consumable(st, w, nw * sizeof(float));
        int64_t before = oma_dnnl_from_taken_done();
        CHECK(be->conv2d(x, 2, K, HW, HW, w, st, NULL, K, 3, 3, 1, 1, y, HW, HW) == 0);     /* takes */
        CHECK(oma_kept_taken(st));
        CHECK(be->conv2d(x, 1, K, HW, HW, w, st, NULL, K, 3, 3, 1, 1, y, HW, HW) == 0);
        int64_t made = oma_dnnl_from_taken_done() - before;
        int same = memcmp(y, want, (size_t)K * HW * HW * sizeof(float)) == 0;
        printf("  320x320 handed over at batch 2, then batch 1: %s layout, %s bits as per call\n",
               made ? "another" : "the same", same ? "the same" : "OTHER");
        CHECK(same);
        be->forget_weights(st);
        CHECK(!oma_kept_taken(st));
    }
    oma_aligned_free(w), free(x), free(y), free(want);
    CHECK(oma_precision_set("fp32") == 0);
}

static int oneDNN(void) { return strcmp(oma_cpu_conv_name(), "auto") == 0; }

/* The child's half: no budget, nothing kept, same results. */
static int without_budget(void)
{
    oma_weights w = {.read = fake_read, .has = fake_has};
    char err[256];
    oma_conv2d l;
    if (oma_conv2d_load(&l, &w, "c", C, OC, 3, 1, 1, 1, err, sizeof err) != 0) return 1;
    run_check("budget 0: 32x32", &l, 1, 32);
    run_check("budget 0: 64x64 (per-call Winograd)", &l, 2, 64);
    CHECK(oma_cpu_kept_bytes() == 0);
    oma_conv2d_free(&l);
    oma_threads_shutdown();
    return failures ? 1 : 0;
}

int main(void)
{
    setenv("OMA_THREADS", "2", 1);
    /* fork before any thread exists */
    pid_t pid = fork();
    if (pid == 0) {
        setenv("OMA_WEIGHT_CACHE_MB", "0", 1);
        int rc = without_budget();
        fflush(stdout);
        _exit(rc);
    }
    int status = 0;
    CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    unsetenv("OMA_WEIGHT_CACHE_MB");

    oma_weights w = {.read = fake_read, .has = fake_has};
    char err[256];
    oma_conv2d l, l2;
    CHECK(oma_conv2d_load(&l, &w, "c", C, OC, 3, 1, 1, 1, err, sizeof err) == 0);
    CHECK(oma_conv2d_load(&l2, &w, "d", C, OC, 3, 1, 1, 1, err, sizeof err) == 0);
    CHECK(l.w.stamp != 0 && l2.w.stamp != 0 && l.w.stamp != l2.w.stamp);
    run_check("8x8 (direct, not kept)", &l, 1, 8);
    CHECK(oma_cpu_kept_bytes() == 0);
    run_check("32x32 (kept on first use)", &l, 1, 32);
    size_t one = oma_cpu_kept_bytes();
    if (oneDNN()) CHECK(one > 0);
    run_check("32x32 again (kept weights)", &l, 1, 32);
    CHECK(oma_cpu_kept_bytes() == one);
    run_check("64x64 batch 2 (larger image)", &l, 2, 64);
    size_t two = oma_cpu_kept_bytes();     /* the same layout reused, or a second one kept */
    CHECK(two >= one);
    run_check("32x32 after 64x64", &l, 1, 32);
    run_check("second layer 32x32", &l2, 1, 32);
    if (oneDNN()) CHECK(oma_cpu_kept_bytes() > two);

    /* LoRA: up [OC, 2, 1, 1], down [2, C, 3, 3] */
    oma_tensor up, down;
    int64_t us[4] = {OC, 2, 1, 1}, ds[4] = {2, C, 3, 3};
    CHECK(oma_tensor_alloc(&up, 4, us) == 0 && oma_tensor_alloc(&down, 4, ds) == 0);
    for (int64_t i = 0; i < oma_tensor_numel(&up); i++) up.data[i] = rnd();
    for (int64_t i = 0; i < oma_tensor_numel(&down); i++) down.data[i] = rnd();
    uint64_t before = l.w.stamp;
    CHECK(oma_conv2d_merge_lora(&l, &up, &down, 0.8f) == 0);
    CHECK(l.w.stamp != before);
    run_check("32x32 after a LoRA merge", &l, 1, 32);
    run_check("64x64 batch 2 after the merge", &l, 2, 64);
    oma_conv2d_free(&l);
    oma_conv2d_free(&l2);
    CHECK(oma_cpu_kept_bytes() == 0);
    oma_tensor_free(&up), oma_tensor_free(&down);
    bf16_kept();
    bf16_hand_over();
    bf16_hand_over_relayout();
    oma_threads_shutdown();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_conv_kept: ok\n");
    return 0;
}
