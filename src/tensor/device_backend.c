/* device_backend.c — the accelerator's oma_backend table (see device_backend.h): an allocator
 * whose allocations are recorded in an address-sorted registry, and per op one decision —
 * every operand inside a live device allocation and a kernel that covers the shape: the device
 * runs it and is waited for; otherwise the CPU backend runs it on the same (host-reachable)
 * memory. Pure host logic; the device's kernels come in through oma_devops. */
#include "tensor/device_backend.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/tensor.h"

typedef struct region {
    uintptr_t base;
    size_t bytes;
} region;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
/* held from a device decision to the end of its wait: one op on the device at a time, so
 * threads (a worker's jobs) share the one stream and library handles safely */
static pthread_mutex_t g_dev_mu = PTHREAD_MUTEX_INITIALIZER;
static const oma_devops *g_ops;       /* kernels and memory of the installed device */
static const oma_devops *g_mem;       /* frees device buffers, kept after uninstall */
static int g_active;
static region *g_reg;
static size_t g_nreg, g_capreg;
static oma_devbackend_stats g_st;
static uint64_t g_opno;
static char g_err[320];

/* ---- registry (g_mu held) ---- */

/* index of the first region with base > p */
static size_t reg_upper(uintptr_t p)
{
    size_t lo = 0, hi = g_nreg;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g_reg[mid].base <= p) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

static int reg_add(void *p, size_t bytes)
{
    if (g_nreg == g_capreg) {
        size_t cap = g_capreg ? g_capreg * 2 : 256;
        region *r = realloc(g_reg, cap * sizeof *r);
        if (!r) return -1;
        g_reg = r;
        g_capreg = cap;
    }
    size_t i = reg_upper((uintptr_t)p);
    memmove(g_reg + i + 1, g_reg + i, (g_nreg - i) * sizeof *g_reg);
    g_reg[i] = (region){(uintptr_t)p, bytes};
    g_nreg++;
    return 0;
}

/* removes the region starting at p; its size, or 0 when p is not a region's start */
static size_t reg_remove(void *p)
{
    size_t i = reg_upper((uintptr_t)p);
    if (i == 0 || g_reg[i - 1].base != (uintptr_t)p) return 0;
    size_t bytes = g_reg[i - 1].bytes;
    memmove(g_reg + i - 1, g_reg + i, (g_nreg - i) * sizeof *g_reg);
    g_nreg--;
    return bytes;
}

static int reg_contains(const void *p, size_t bytes)
{
    uintptr_t a = (uintptr_t)p;
    size_t i = reg_upper(a);
    if (i == 0) return 0;
    const region *r = &g_reg[i - 1];
    return a - r->base <= r->bytes && bytes <= r->bytes - (a - r->base);
}

int oma_devbackend_reachable(const void *p, size_t bytes)
{
    pthread_mutex_lock(&g_mu);
    int ok = reg_contains(p, bytes);
    pthread_mutex_unlock(&g_mu);
    return ok;
}

/* ---- allocator ---- */

static void *dev_alloc(size_t bytes)
{
    size_t rounded = (bytes + 255) & ~(size_t)255;
    if (rounded < bytes) return NULL;
    pthread_mutex_lock(&g_mu);
    const oma_devops *ops = g_active ? g_ops : NULL;
    pthread_mutex_unlock(&g_mu);
    if (!ops) return aligned_alloc(64, (bytes + 63) & ~(size_t)63);   /* uninstalled: host */
    void *p = ops->alloc(rounded);
    if (!p) return NULL;
    pthread_mutex_lock(&g_mu);
    int rc = reg_add(p, rounded);
    if (rc == 0) {
        g_st.allocs++;
        g_st.live_bytes += rounded;
        if (g_st.live_bytes > g_st.peak_bytes) g_st.peak_bytes = g_st.live_bytes;
    }
    pthread_mutex_unlock(&g_mu);
    if (rc != 0) {
        ops->free(p);
        return NULL;
    }
    return p;
}

static int dev_free(void *p)
{
    pthread_mutex_lock(&g_mu);
    size_t bytes = reg_remove(p);
    if (bytes) g_st.live_bytes -= bytes;
    const oma_devops *mem = g_mem;
    pthread_mutex_unlock(&g_mu);
    if (!bytes) return -1;          /* a host buffer: tensor.c frees it */
    mem->free(p);
    return 0;
}

static int dev_zero(void *p, size_t bytes)
{
    pthread_mutex_lock(&g_mu);
    int mine = g_active && reg_contains(p, bytes);
    const oma_devops *ops = g_ops;
    pthread_mutex_unlock(&g_mu);
    if (!mine || !ops->zero) return -1;     /* memset */
    pthread_mutex_lock(&g_dev_mu);
    int rc = ops->zero(p, bytes);
    pthread_mutex_unlock(&g_dev_mu);
    return rc;
}

static const oma_allocator g_allocator = {dev_alloc, dev_free, dev_zero};

/* ---- dispatch ---- */

typedef struct span {
    const void *p;
    size_t bytes;
} span;

#define F4(n) ((size_t)(n) * sizeof(float))

static const oma_backend *host(void) { return oma_backend_cpu(); }

/* 1: run the device kernel (g_dev_mu is then held until finish); 0: run on the host (counted);
 * -1: a device error is pending (do nothing). NULL pointers in spans are absent operands. */
static int decide(const char *op, int kernel, int shape_ok, const span *s, int n)
{
    pthread_mutex_lock(&g_mu);
    int rc;
    g_opno++;
    if (g_err[0]) {
        rc = -1;
    } else {
        int reach = 1;
        for (int i = 0; i < n && reach; i++)
            if (s[i].p && !reg_contains(s[i].p, s[i].bytes)) reach = 0;
        rc = kernel && shape_ok && reach;
        if (!rc) {
            g_st.host_ops++;
            g_st.last_host_op = g_opno;
            snprintf(g_st.last_host_why, sizeof g_st.last_host_why, "%s: %s", op,
                     !reach ? "host memory" : !kernel ? "no device kernel" : "shape not covered");
            if (!reach) g_st.host_unreachable++;
            else if (kernel) g_st.host_shape++;
        }
    }
    pthread_mutex_unlock(&g_mu);
    if (rc == 1) pthread_mutex_lock(&g_dev_mu);
    return rc;
}

/* after a device kernel returned rc: wait for it; a failure becomes the sticky error */
static int finish(int rc)
{
    if (rc == 0) rc = g_ops->sync();
    pthread_mutex_unlock(&g_dev_mu);
    pthread_mutex_lock(&g_mu);
    if (rc == 0) g_st.device_ops++;
    else if (!g_err[0]) {
        const char *why = g_ops->last_error();
        snprintf(g_err, sizeof g_err, "%s", why && *why ? why : "device kernel failed");
    }
    pthread_mutex_unlock(&g_mu);
    return rc == 0 ? 0 : -1;
}

#define SPANS(...) ((const span[]){__VA_ARGS__}), (int)(sizeof((const span[]){__VA_ARGS__}) / sizeof(span))

static void d_gemm(int ta, int tb, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
                   int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    if (m <= 0 || n <= 0) return;
    size_t ea = ta ? F4((k - 1) * lda + m) : F4((m - 1) * lda + k);
    size_t eb = tb ? F4((n - 1) * ldb + k) : F4((k - 1) * ldb + n);
    int r = decide("gemm", g_ops->gemm != NULL, k > 0, SPANS({a, ea}, {b, eb}, {c, F4((m - 1) * ldc + n)}));
    if (r > 0) finish(g_ops->gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc));
    else if (r == 0) host()->gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

static int d_conv2d(const float *x, int64_t n, int64_t c, int64_t h, int64_t w,
                    const float *weight, uint64_t stamp, const float *bias, int64_t oc,
                    int64_t kh, int64_t kw, int stride, int pad, float *y, int64_t oh, int64_t ow)
{
    int r = decide("conv2d", g_ops->conv2d != NULL, kh <= 64 && kw <= 64 && (oc + 15) / 16 <= 65535,
                   SPANS({x, F4(n * c * h * w)}, {weight, F4(oc * c * kh * kw)},
                         {bias, F4(oc)}, {y, F4(n * oc * oh * ow)}));
    if (r > 0) return finish(g_ops->conv2d(x, n, c, h, w, weight, stamp, bias, oc, kh, kw, stride, pad,
                                           y, oh, ow));
    if (r < 0) return -1;
    return host()->conv2d(x, n, c, h, w, weight, stamp, bias, oc, kh, kw, stride, pad, y, oh, ow);
}

static void d_forget(uint64_t stamp) { host()->forget_weights(stamp); }

static void d_group_norm(const float *x, int64_t n, int64_t c, int64_t hw, int64_t groups,
                         const float *gamma, const float *beta, float eps, int silu, float *y)
{
    int r = decide("group_norm", g_ops->group_norm != NULL, gamma && beta && n <= 65535,
                   SPANS({x, F4(n * c * hw)}, {gamma, F4(c)}, {beta, F4(c)}, {y, F4(n * c * hw)}));
    if (r > 0) finish(g_ops->group_norm(x, n, c, hw, groups, gamma, beta, eps, silu, y));
    else if (r == 0) host()->group_norm(x, n, c, hw, groups, gamma, beta, eps, silu, y);
}

static void d_layer_norm(const float *x, int64_t rows, int64_t dim, const float *gamma,
                         const float *beta, float eps, float *y)
{
    int r = decide("layer_norm", g_ops->layer_norm != NULL, gamma && beta,
                   SPANS({x, F4(rows * dim)}, {gamma, F4(dim)}, {beta, F4(dim)},
                         {y, F4(rows * dim)}));
    if (r > 0) finish(g_ops->layer_norm(x, rows, dim, gamma, beta, eps, y));
    else if (r == 0) host()->layer_norm(x, rows, dim, gamma, beta, eps, y);
}

static void d_softmax(float *x, int64_t rows, int64_t dim)
{
    int r = decide("softmax", g_ops->softmax != NULL, 1, SPANS({x, F4(rows * dim)}));
    if (r > 0) finish(g_ops->softmax(x, rows, dim));
    else if (r == 0) host()->softmax(x, rows, dim);
}

/* extent of a token-major buffer: the last token's start plus the heads it holds */
static size_t tok_bytes(int64_t tokens, int64_t ld, int64_t width)
{
    return tokens > 0 ? F4((tokens - 1) * ld + width) : 0;
}

static int d_attention(const oma_attn_args *a)
{
    int64_t wd = a->heads * a->head_dim;
    int shape_ok = a->head_dim > 0 && a->head_dim <= 160 && a->batch * a->heads <= 65535;
    int r = decide("attention", g_ops->attention != NULL, shape_ok,
                   SPANS({a->q, tok_bytes(a->batch * a->nq, a->ldq, wd)},
                         {a->k, tok_bytes(a->batch * a->nk, a->ldk, wd)},
                         {a->v, tok_bytes(a->batch * a->nk, a->ldv, wd)},
                         {a->out, tok_bytes(a->batch * a->nq, a->ldo, wd)}));
    if (r > 0) return finish(g_ops->attention(a));
    if (r < 0) return -1;
    return host()->attention(a);
}

#define UNARY(fn)                                                                  \
    static void d_##fn(const float *x, float *y, int64_t n)                        \
    {                                                                              \
        int r = decide(#fn, g_ops->fn != NULL, 1, SPANS({x, F4(n)}, {y, F4(n)}));       \
        if (r > 0) finish(g_ops->fn(x, y, n));                                     \
        else if (r == 0) host()->fn(x, y, n);                                      \
    }
UNARY(gelu)
UNARY(quick_gelu)
UNARY(silu)

static void d_geglu(const float *x, int64_t rows, int64_t dim, float *y)
{
    int r = decide("geglu", g_ops->geglu != NULL, 1, SPANS({x, F4(rows * 2 * dim)}, {y, F4(rows * dim)}));
    if (r > 0) finish(g_ops->geglu(x, rows, dim, y));
    else if (r == 0) host()->geglu(x, rows, dim, y);
}

static void d_upsample(const float *x, int64_t nc, int64_t h, int64_t w, float *y)
{
    int r = decide("upsample_nearest2x", g_ops->upsample_nearest2x != NULL, 1,
                   SPANS({x, F4(nc * h * w)}, {y, F4(nc * 4 * h * w)}));
    if (r > 0) finish(g_ops->upsample_nearest2x(x, nc, h, w, y));
    else if (r == 0) host()->upsample_nearest2x(x, nc, h, w, y);
}

static void d_concat(const float *a, int64_t ca, const float *b, int64_t cb, int64_t n,
                     int64_t hw, float *y)
{
    int r = decide("concat_channels", g_ops->concat_channels != NULL, 1,
                   SPANS({a, F4(n * ca * hw)}, {b, F4(n * cb * hw)}, {y, F4(n * (ca + cb) * hw)}));
    if (r > 0) finish(g_ops->concat_channels(a, ca, b, cb, n, hw, y));
    else if (r == 0) host()->concat_channels(a, ca, b, cb, n, hw, y);
}

#define BINARY(fn)                                                                      \
    static void d_##fn(const float *a, const float *b, float *y, int64_t n)             \
    {                                                                                   \
        int r = decide(#fn, g_ops->fn != NULL, 1, SPANS({a, F4(n)}, {b, F4(n)}, {y, F4(n)})); \
        if (r > 0) finish(g_ops->fn(a, b, y, n));                                       \
        else if (r == 0) host()->fn(a, b, y, n);                                        \
    }
BINARY(add)
BINARY(mul)

static void d_axpby(float alpha, const float *x, float beta, float *y, int64_t n)
{
    int r = decide("axpby", g_ops->axpby != NULL, 1, SPANS({x, F4(n)}, {y, F4(n)}));
    if (r > 0) finish(g_ops->axpby(alpha, x, beta, y, n));
    else if (r == 0) host()->axpby(alpha, x, beta, y, n);
}

static void d_transpose(const float *x, int64_t batch, int64_t rows, int64_t cols, float *y)
{
    size_t e = F4(batch * rows * cols);
    int r = decide("transpose", g_ops->transpose != NULL, 1, SPANS({x, e}, {y, e}));
    if (r > 0) finish(g_ops->transpose(x, batch, rows, cols, y));
    else if (r == 0) host()->transpose(x, batch, rows, cols, y);
}

static void d_add_bias(float *x, const float *bias, int64_t n, int64_t c, int64_t inner)
{
    int r = decide("add_bias", g_ops->add_bias != NULL, 1, SPANS({x, F4(n * c * inner)}, {bias, F4(c)}));
    if (r > 0) finish(g_ops->add_bias(x, bias, n, c, inner));
    else if (r == 0) host()->add_bias(x, bias, n, c, inner);
}

/* ---- backward: the CPU backend's kernels on the same memory (no device kernels yet) ---- */

static int host_only(const char *op) { return decide(op, 0, 0, NULL, 0); }

static int b_conv(const float *dy, int64_t n, int64_t oc, int64_t oh, int64_t ow,
                  const float *weight, uint64_t stamp, int64_t c, int64_t kh, int64_t kw,
                  int stride, int pad, float *dx, int64_t h, int64_t w)
{
    if (host_only(__func__) < 0) return -1;
    return host()->conv2d_backward_data(dy, n, oc, oh, ow, weight, stamp, c, kh, kw, stride, pad,
                                        dx, h, w);
}
static void b_group_norm(const float *x, int64_t n, int64_t c, int64_t hw, int64_t groups,
                         const float *gamma, const float *beta, float eps, int silu,
                         const float *dy, float *dx)
{
    if (host_only(__func__) == 0)
        host()->group_norm_backward(x, n, c, hw, groups, gamma, beta, eps, silu, dy, dx);
}
static void b_layer_norm(const float *x, int64_t rows, int64_t dim, const float *gamma,
                         float eps, const float *dy, float *dx)
{
    if (host_only(__func__) == 0) host()->layer_norm_backward(x, rows, dim, gamma, eps, dy, dx);
}
static int b_attention(const oma_attn_bwd_args *a)
{
    if (host_only(__func__) < 0) return -1;
    return host()->attention_backward(a);
}
#define BACT(fn)                                                                 \
    static void b_##fn(const float *x, const float *dy, float *dx, int64_t n)    \
    {                                                                            \
        if (host_only(__func__) == 0) host()->fn##_backward(x, dy, dx, n);               \
    }
BACT(gelu)
BACT(quick_gelu)
BACT(silu)
static void b_geglu(const float *x, const float *dy, int64_t rows, int64_t dim, float *dx)
{
    if (host_only(__func__) == 0) host()->geglu_backward(x, dy, rows, dim, dx);
}
static void b_upsample(const float *dy, int64_t nc, int64_t h, int64_t w, float *dx)
{
    if (host_only(__func__) == 0) host()->upsample_nearest2x_backward(dy, nc, h, w, dx);
}
static void b_split(const float *dy, int64_t n, int64_t ca, int64_t cb, int64_t hw, float *da,
                    float *db)
{
    if (host_only(__func__) == 0) host()->split_channels(dy, n, ca, cb, hw, da, db);
}
static void b_embedding(const int32_t *ids, int64_t count, const float *dy, int64_t dim,
                        float *dtable)
{
    if (host_only(__func__) == 0) host()->embedding_backward(ids, count, dy, dim, dtable);
}

static oma_backend g_table = {
    .gemm = d_gemm,
    .conv2d = d_conv2d,
    .forget_weights = d_forget,
    .group_norm = d_group_norm,
    .layer_norm = d_layer_norm,
    .softmax = d_softmax,
    .attention = d_attention,
    .gelu = d_gelu,
    .quick_gelu = d_quick_gelu,
    .silu = d_silu,
    .geglu = d_geglu,
    .upsample_nearest2x = d_upsample,
    .concat_channels = d_concat,
    .add = d_add,
    .mul = d_mul,
    .axpby = d_axpby,
    .transpose = d_transpose,
    .add_bias = d_add_bias,
    .conv2d_backward_data = b_conv,
    .group_norm_backward = b_group_norm,
    .layer_norm_backward = b_layer_norm,
    .attention_backward = b_attention,
    .gelu_backward = b_gelu,
    .quick_gelu_backward = b_quick_gelu,
    .silu_backward = b_silu,
    .geglu_backward = b_geglu,
    .upsample_nearest2x_backward = b_upsample,
    .split_channels = b_split,
    .embedding_backward = b_embedding,
};

/* ---- install ---- */

int oma_devbackend_install(const oma_devops *ops)
{
    if (!ops || !ops->alloc || !ops->free || !ops->sync || !ops->last_error) return -1;
    pthread_mutex_lock(&g_mu);
    if (g_mem && g_mem != ops && g_nreg > 0) {   /* another device's buffers are still alive */
        pthread_mutex_unlock(&g_mu);
        return -1;
    }
    g_ops = ops;
    g_mem = ops;
    g_active = 1;
    g_err[0] = 0;
    g_table.name = ops->name ? ops->name : "device";
    pthread_mutex_unlock(&g_mu);
    oma_allocator_set(&g_allocator);
    oma_backend_set(&g_table);
    return 0;
}

void oma_devbackend_uninstall(void)
{
    oma_backend_set(NULL);
    pthread_mutex_lock(&g_mu);
    g_active = 0;     /* the allocator stays: it frees device buffers, allocates host ones */
    pthread_mutex_unlock(&g_mu);
}

int oma_devbackend_active(void)
{
    pthread_mutex_lock(&g_mu);
    int a = g_active;
    pthread_mutex_unlock(&g_mu);
    return a;
}

void oma_devbackend_stats_get(oma_devbackend_stats *s)
{
    pthread_mutex_lock(&g_mu);
    *s = g_st;
    pthread_mutex_unlock(&g_mu);
}

void oma_devbackend_stats_reset(void)
{
    pthread_mutex_lock(&g_mu);
    size_t live = g_st.live_bytes;
    memset(&g_st, 0, sizeof g_st);
    g_st.live_bytes = g_st.peak_bytes = live;
    g_opno = 0;
    pthread_mutex_unlock(&g_mu);
}

int oma_devbackend_check(char *err, size_t errlen)
{
    pthread_mutex_lock(&g_mu);
    int bad = g_active && g_err[0] != 0;     /* back on the CPU, an old device error is moot */
    if (bad) snprintf(err, errlen, "%s", g_err);
    pthread_mutex_unlock(&g_mu);
    return bad ? -1 : 0;
}
