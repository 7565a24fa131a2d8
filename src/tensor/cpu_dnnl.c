/* cpu_dnnl.c — convolutions on oneDNN's JIT kernels (see cpu_internal.h): direct convolution,
 * or Winograd F(4x4, 3x3) where the caller asks for it (3x3 stride 1 over large images).
 *
 * Our tensors are NCHW. oneDNN's AVX-512 kernels want other layouts (NHWC or nChw16c
 * activations, blocked weights), so each call reorders the input and the weights into the
 * layout the primitive chose, runs it with the bias fused, and reorders the output back. The
 * reorders are memory-bound and cheap next to the convolution; the blocked buffers are
 * per-thread scratch kept between calls (no page faults per call). Weights are reordered every
 * call, never cached: a LoRA merge may change them in place.
 *
 * Primitives are built once per shape and kept in a small table (they are safe to execute from
 * several threads at once). oneDNN runs them on its OpenMP threads while our pool sleeps; the
 * team size follows oma_threads(). fpmath mode is strict: no silent down-conversion to bf16.
 */
#include "tensor/cpu_internal.h"

#ifdef OMA_HAVE_DNNL

#include <dlfcn.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <string.h>

#include "tensor/threadpool.h"

#define CACHE_SLOTS 128

typedef struct {
    int64_t key[12];
    int used;
    dnnl_primitive_t conv, r_src, r_wei, r_dst;      /* reorders are NULL when not needed */
    dnnl_memory_desc_t usr_src, usr_wei, usr_dst, bias, src, wei, dst, scratch;
} conv_entry;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static dnnl_engine_t engine;
static int engine_ok;
static void (*set_omp_threads)(int);
static conv_entry cache[CACHE_SLOTS];
static int cache_next;

static void init_once(void)
{
    engine_ok = dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success;
    /* libgomp comes with libdnnl; look omp_set_num_threads up instead of linking it */
    void *f = dlsym(RTLD_DEFAULT, "omp_set_num_threads");
    memcpy(&set_omp_threads, &f, sizeof f);
}

static void entry_free(conv_entry *e)
{
    if (e->conv) dnnl_primitive_destroy(e->conv);
    if (e->r_src) dnnl_primitive_destroy(e->r_src);
    if (e->r_wei) dnnl_primitive_destroy(e->r_wei);
    if (e->r_dst) dnnl_primitive_destroy(e->r_dst);
    memset(e, 0, sizeof *e);
}

static int make_reorder(dnnl_primitive_t *out, const dnnl_memory_desc_t *from,
                        const dnnl_memory_desc_t *to)
{
    *out = NULL;
    if (dnnl_memory_desc_equal(from, to)) return 0;
    dnnl_primitive_desc_t pd;
    if (dnnl_reorder_primitive_desc_create(&pd, from, engine, to, engine, NULL) != dnnl_success)
        return -1;
    dnnl_status_t st = dnnl_primitive_create(out, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success) *out = NULL;
    return st == dnnl_success ? 0 : -1;
}

static int entry_build(conv_entry *e, const int64_t *key)
{
    int64_t n = key[0], c = key[1], h = key[2], w = key[3], oc = key[4], kh = key[5], kw = key[6];
    int64_t stride = key[7], pad = key[8], oh = key[9], ow = key[10];
    memset(e, 0, sizeof *e);
    dnnl_dims_t sd = {n, c, h, w}, wd = {oc, c, kh, kw}, bd = {oc}, dd = {n, oc, oh, ow};
    dnnl_dims_t strides = {stride, stride}, pl = {pad, pad};
    /* right padding: whatever makes the output size come out (PyTorch drops the remainder) */
    dnnl_dims_t pr = {(oh - 1) * stride + kh - h - pad, (ow - 1) * stride + kw - w - pad};
    dnnl_memory_desc_t any_src, any_wei, any_dst;
    dnnl_format_tag_t act = dnnl_format_tag_any;
    if (dnnl_memory_desc_init_by_tag(&e->usr_src, 4, sd, dnnl_f32, dnnl_nchw) ||
        dnnl_memory_desc_init_by_tag(&e->usr_wei, 4, wd, dnnl_f32, dnnl_oihw) ||
        dnnl_memory_desc_init_by_tag(&e->usr_dst, 4, dd, dnnl_f32, dnnl_nchw) ||
        dnnl_memory_desc_init_by_tag(&e->bias, 1, bd, dnnl_f32, dnnl_x) ||
        dnnl_memory_desc_init_by_tag(&any_src, 4, sd, dnnl_f32, act) ||
        dnnl_memory_desc_init_by_tag(&any_wei, 4, wd, dnnl_f32, dnnl_format_tag_any) ||
        dnnl_memory_desc_init_by_tag(&any_dst, 4, dd, dnnl_f32, act))
        return -1;
    dnnl_primitive_attr_t attr;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) return -1;
    dnnl_primitive_attr_set_fpmath_mode(attr, dnnl_fpmath_mode_strict);
    /* our own scratchpad (per-thread, kept): oneDNN's is allocated and freed per execution,
     * hundreds of MB of fresh pages for Winograd at 512x512 */
    dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    dnnl_primitive_desc_t pd;
    dnnl_status_t st = dnnl_unimplemented;
    /* Winograd first where it was asked for (the shapes where it wins), direct otherwise or
     * when oneDNN has no Winograd kernel for the shape */
    for (int wino = key[11]; wino >= 0 && st != dnnl_success; wino--) {
        dnnl_convolution_desc_t cd;
        if (dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference,
                                               wino ? dnnl_convolution_winograd : dnnl_convolution_direct,
                                               &any_src, &any_wei, &e->bias, &any_dst, strides, pl,
                                               pr) != dnnl_success)
            continue;
        st = dnnl_primitive_desc_create(&pd, &cd, attr, engine, NULL);
    }
    dnnl_primitive_attr_destroy(attr);
    if (st != dnnl_success) return -1;
    e->src = *dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
    e->wei = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    e->dst = *dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
    e->scratch = *dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    st = dnnl_primitive_create(&e->conv, pd);
    dnnl_primitive_desc_destroy(pd);
    if (st != dnnl_success) {
        e->conv = NULL;
        return -1;
    }
    if (make_reorder(&e->r_src, &e->usr_src, &e->src) || make_reorder(&e->r_wei, &e->usr_wei, &e->wei) ||
        make_reorder(&e->r_dst, &e->dst, &e->usr_dst)) {
        entry_free(e);
        return -1;
    }
    memcpy(e->key, key, sizeof e->key);
    e->used = 1;
    return 0;
}

/* The table entry for this shape, built on first use; NULL when oneDNN cannot do it. */
static conv_entry *entry_get(const int64_t *key)
{
    pthread_mutex_lock(&mu);
    conv_entry *hit = NULL;
    for (int i = 0; i < CACHE_SLOTS && !hit; i++)
        if (cache[i].used && memcmp(cache[i].key, key, sizeof cache[i].key) == 0) hit = &cache[i];
    if (!hit) {
        /* entries are never replaced (another thread may be running one): past CACHE_SLOTS
         * shapes (SD uses a few dozen) the caller falls back to im2col */
        conv_entry *e = cache_next < CACHE_SLOTS ? &cache[cache_next] : NULL;
        if (e && entry_build(e, key) == 0) {
            cache_next++;
            hit = e;
        }
    }
    pthread_mutex_unlock(&mu);
    return hit;
}

static int mem(dnnl_memory_t *m, const dnnl_memory_desc_t *md, const void *p)
{
    return dnnl_memory_create(m, md, engine, (void *)p) == dnnl_success ? 0 : -1;
}

static int exec2(dnnl_primitive_t p, dnnl_stream_t s, dnnl_memory_t from, dnnl_memory_t to)
{
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
    return dnnl_primitive_execute(p, s, 2, args) == dnnl_success ? 0 : -1;
}

int oma_dnnl_available(void)
{
    pthread_once(&once, init_once);
    return engine_ok;
}

int oma_dnnl_conv2d(const float *x, int64_t n, int64_t c, int64_t h, int64_t w,
                    const float *weight, const float *bias, int64_t oc, int64_t kh, int64_t kw,
                    int stride, int pad, float *y, int64_t oh, int64_t ow, int winograd)
{
    pthread_once(&once, init_once);
    if (!engine_ok) return -2;
    int64_t key[12] = {n, c, h, w, oc, kh, kw, stride, pad, oh, ow, winograd != 0};
    conv_entry *e = entry_get(key);
    if (!e) return -2;
    /* per-thread scratch: slots 1..3 the reordered tensors, 4 oneDNN's scratchpad, 5 zero bias
     * (slot 0 is im2col's) */
    float *bsrc = (float *)x, *bwei = (float *)weight, *bdst = y;
    if (e->r_src && !(bsrc = oma_cpu_scratch(1, dnnl_memory_desc_get_size(&e->src)))) return -1;
    if (e->r_wei && !(bwei = oma_cpu_scratch(2, dnnl_memory_desc_get_size(&e->wei)))) return -1;
    if (e->r_dst && !(bdst = oma_cpu_scratch(3, dnnl_memory_desc_get_size(&e->dst)))) return -1;
    size_t scratch_bytes = dnnl_memory_desc_get_size(&e->scratch);
    void *scratch = NULL;
    if (scratch_bytes && !(scratch = oma_cpu_scratch(4, scratch_bytes))) return -1;
    float *zb = NULL;
    if (!bias) {   /* the primitive was built with a bias: feed zeros */
        zb = oma_cpu_scratch(5, (size_t)oc * sizeof(float));
        if (!zb) return -1;
        memset(zb, 0, (size_t)oc * sizeof(float));
    }
    if (set_omp_threads) set_omp_threads(oma_threads());
    dnnl_stream_t s;
    if (dnnl_stream_create(&s, engine, dnnl_stream_default_flags) != dnnl_success) return -2;
    dnnl_memory_t m_usrc = NULL, m_uwei = NULL, m_udst = NULL, m_src = NULL, m_wei = NULL,
                  m_dst = NULL, m_bias = NULL, m_scratch = NULL;
    int rc = -2;
    if (mem(&m_usrc, &e->usr_src, x) || mem(&m_uwei, &e->usr_wei, weight) ||
        mem(&m_udst, &e->usr_dst, y) || mem(&m_src, &e->src, bsrc) || mem(&m_wei, &e->wei, bwei) ||
        mem(&m_dst, &e->dst, bdst) || mem(&m_bias, &e->bias, bias ? bias : zb) ||
        mem(&m_scratch, &e->scratch, scratch))
        goto out;
    if (e->r_src && exec2(e->r_src, s, m_usrc, m_src)) goto out;
    if (e->r_wei && exec2(e->r_wei, s, m_uwei, m_wei)) goto out;
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, m_src}, {DNNL_ARG_WEIGHTS, m_wei},
                               {DNNL_ARG_BIAS, m_bias}, {DNNL_ARG_DST, m_dst},
                               {DNNL_ARG_SCRATCHPAD, m_scratch}};
    if (dnnl_primitive_execute(e->conv, s, 5, args) != dnnl_success) goto out;
    if (e->r_dst && exec2(e->r_dst, s, m_dst, m_udst)) goto out;
    if (dnnl_stream_wait(s) != dnnl_success) goto out;
    rc = 0;
out:
    dnnl_memory_destroy(m_usrc);
    dnnl_memory_destroy(m_uwei);
    dnnl_memory_destroy(m_udst);
    dnnl_memory_destroy(m_src);
    dnnl_memory_destroy(m_wei);
    dnnl_memory_destroy(m_dst);
    dnnl_memory_destroy(m_bias);
    dnnl_memory_destroy(m_scratch);
    dnnl_stream_destroy(s);
    return rc;
}

void oma_dnnl_release(void)
{
    pthread_mutex_lock(&mu);
    for (int i = 0; i < CACHE_SLOTS; i++)
        if (cache[i].used) entry_free(&cache[i]);
    cache_next = 0;
    pthread_mutex_unlock(&mu);
}

#else

int oma_dnnl_conv2d(const float *x, int64_t n, int64_t c, int64_t h, int64_t w,
                    const float *weight, const float *bias, int64_t oc, int64_t kh, int64_t kw,
                    int stride, int pad, float *y, int64_t oh, int64_t ow, int winograd)
{
    (void)winograd, (void)x, (void)n, (void)c, (void)h, (void)w, (void)weight, (void)bias, (void)oc, (void)kh;
    (void)kw, (void)stride, (void)pad, (void)y, (void)oh, (void)ow;
    return -2;
}

int oma_dnnl_available(void) { return 0; }

void oma_dnnl_release(void) {}

#endif
