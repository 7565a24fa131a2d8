/* test_backward_fixtures.c — the layer and block backward passes (nn/backward.h) against torch
 * autograd on diffusers v0.21.4's own modules (tests/fixtures/grad, made by
 * tools/make_grad_fixtures.py): Attention (self, cross), FeedForward, BasicTransformerBlock,
 * Transformer2DModel (conv and linear projections), ResnetBlock2D (with and without shortcut),
 * Downsample2D (UNet and VAE padding), Upsample2D, a linear layer, with LoRA adapters (rank 4,
 * scale 0.75) on the attention and ff.net.0.proj linears; and the causal attention kernel.
 * Compared: dx, dcontext, every adapter's g_down and g_up, within 1e-4 of each reference's
 * largest magnitude; again in the opt-in bf16 compute mode (where oneDNN is built in) within
 * 2e-2 (measured: 8e-3 at worst). Transformer2DModel without dx (the lowest trainable layer's
 * backward) gives the same adapter gradients and dcontext bit for bit. (Here rather than tests/unit/nn because it reads the fixture through
 * formats/safetensors, which nn does not link.)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/safetensors.h"
#include "nn/attention.h"
#include "nn/backward.h"
#include "nn/blocks.h"
#include "tensor/backend.h"
#include "tensor/ops.h"
#include "tensor/ops_backward.h"
#include "tensor/threadpool.h"

#include "check.h"

/* the larger error; a NaN counts as infinite (fmax would drop it) */
static double worse(double e, double d) { return d <= e ? e : isnan(d) ? INFINITY : d; }

#define RANK 4
#define SCALE 0.75f

static oma_safetensors *st;
static double tol = 1e-4;      /* of the reference's largest magnitude; 2e-2 in bf16 mode */

/* ---- the fixture ---- */

static int get(const char *name, oma_tensor *t)
{
    const oma_st_tensor *s = oma_st_find(st, name);
    char err[256];
    if (!s || s->ndim < 1 || s->ndim > OMA_TENSOR_MAX_DIMS) {
        fprintf(stderr, "fixture: %s missing\n", name);
        return -1;
    }
    if (oma_tensor_alloc(t, s->ndim, s->shape) != 0) return -1;
    if (oma_st_read_f32(s, t->data, (size_t)s->numel, err, sizeof err) != 0) {
        fprintf(stderr, "fixture: %s: %s\n", name, err);
        oma_tensor_free(t);
        return -1;
    }
    return 0;
}

static int fx_read(void *ctx, const char *name, int ndim, const int64_t *shape, float *dst,
                   char *err, size_t errlen)
{
    char full[512];
    snprintf(full, sizeof full, "%s.w.%s", (const char *)ctx, name);
    const oma_st_tensor *t = oma_st_find(st, full);
    if (!t) {
        snprintf(err, errlen, "tensor '%s': missing", full);
        return -1;
    }
    if (oma_st_check_shape(t, ndim, shape, err, errlen) != 0) return -1;
    return oma_st_read_f32(t, dst, (size_t)t->numel, err, errlen);
}

static int fx_has(void *ctx, const char *name)
{
    char full[512];
    snprintf(full, sizeof full, "%s.w.%s", (const char *)ctx, name);
    return oma_st_find(st, full) != NULL;
}

static oma_weights weights_of(const char *cs)
{
    oma_weights w = {(void *)cs, fx_read, fx_has, NULL, 0};
    return w;
}

/* max |got - ref| <= 1e-4 * max |ref| */
static void compare(const char *cs, const char *what, const float *got, const char *refname)
{
    oma_tensor ref;
    if (get(refname, &ref) != 0) {
        CHECK(0);
        return;
    }
    double e = 0.0, mag = 0.0;
    for (int64_t i = 0; i < oma_tensor_numel(&ref); i++) {
        e = worse(e, fabs((double)got[i] - ref.data[i]));
        mag = fmax(mag, fabs(ref.data[i]));
    }
    int ok = e <= tol * mag && mag > 0.0;
    printf("%-11s %-42s max err %.3g of %.3g%s\n", cs, what, e, mag, ok ? "" : "  FAIL");
    CHECK(ok);
    oma_tensor_free(&ref);
}

/* ---- adapters ---- */

#define MAX_LORAS 32
static oma_lora loras[MAX_LORAS];
static char lora_names[MAX_LORAS][96];
static int n_loras;

static void attach(const char *cs, const char *path, oma_linear *l)
{
    char n[256];
    CHECK(n_loras < MAX_LORAS);
    if (n_loras >= MAX_LORAS) return;
    oma_lora *lo = &loras[n_loras];
    CHECK(oma_lora_init(lo, l->in, l->out, RANK, SCALE, NULL, NULL) == 0);
    oma_tensor d, u;
    snprintf(n, sizeof n, "%s.lora.%s.down", cs, path);
    CHECK(get(n, &d) == 0 && oma_tensor_numel(&d) == RANK * l->in);
    snprintf(n, sizeof n, "%s.lora.%s.up", cs, path);
    CHECK(get(n, &u) == 0 && oma_tensor_numel(&u) == RANK * l->out);
    memcpy(lo->down.data, d.data, sizeof(float) * (size_t)(RANK * l->in));
    memcpy(lo->up.data, u.data, sizeof(float) * (size_t)(RANK * l->out));
    oma_tensor_free(&d);
    oma_tensor_free(&u);
    snprintf(lora_names[n_loras], sizeof lora_names[0], "%s", path);
    l->lora = lo;
    n_loras++;
}

static void attach_attention(const char *cs, const char *prefix, oma_attention *a)
{
    char p[128];
    snprintf(p, sizeof p, "%sto_q", prefix), attach(cs, p, &a->to_q);
    snprintf(p, sizeof p, "%sto_k", prefix), attach(cs, p, &a->to_k);
    snprintf(p, sizeof p, "%sto_v", prefix), attach(cs, p, &a->to_v);
    snprintf(p, sizeof p, "%sto_out.0", prefix), attach(cs, p, &a->to_out);
}

static void attach_block(const char *cs, const char *prefix, oma_transformer *t)
{
    char p[128];
    snprintf(p, sizeof p, "%sattn1.", prefix), attach_attention(cs, p, &t->attn1);
    snprintf(p, sizeof p, "%sattn2.", prefix), attach_attention(cs, p, &t->attn2);
    snprintf(p, sizeof p, "%sff.net.0.proj", prefix), attach(cs, p, &t->ff.proj);
}

/* compares every attached adapter's gradients, then frees them */
static void check_loras(const char *cs)
{
    char n[256], what[160];
    for (int i = 0; i < n_loras; i++) {
        snprintf(n, sizeof n, "%.100s.lora.%.95s.down.grad", cs, lora_names[i]);
        snprintf(what, sizeof what, "%.95s g_down", lora_names[i]);
        compare(cs, what, loras[i].g_down.data, n);
        snprintf(n, sizeof n, "%.100s.lora.%.95s.up.grad", cs, lora_names[i]);
        snprintf(what, sizeof what, "%.95s g_up", lora_names[i]);
        compare(cs, what, loras[i].g_up.data, n);
        oma_lora_free(&loras[i]);
    }
    n_loras = 0;
}

static char errbuf[512];
#define LOAD(call) do { if ((call) != 0) { fprintf(stderr, "load: %s\n", errbuf); CHECK(0); return; } } while (0)
#define T(cs, suffix, t) do { char n_[128]; snprintf(n_, sizeof n_, "%s.%s", cs, suffix); CHECK(get(n_, t) == 0); } while (0)
#define REF(cs, suffix, buf) do { char n_[128]; snprintf(n_, sizeof n_, "%s.%s", cs, suffix); compare(cs, suffix, buf, n_); } while (0)

/* ---- cases ---- */

static void case_linear(oma_arena *ar)
{
    const char *cs = "linear";
    oma_weights w = weights_of(cs);
    oma_linear l;
    LOAD(oma_linear_load(&l, &w, "", 24, 20, 1, errbuf, sizeof errbuf));
    attach(cs, "lin", &l);
    oma_tensor x, dy, dx;
    T(cs, "x", &x); T(cs, "dy", &dy);
    CHECK(oma_linear_backward(&l, &x, &dy, ar, &dx) == 0);
    REF(cs, "dx", dx.data);
    CHECK(oma_linear_backward(&l, &x, &x, ar, &dx) != 0);      /* dy's last dim 24 != 20 */
    CHECK(oma_linear_backward(&l, &dy, &dy, ar, &dx) != 0);    /* x's last dim 20 != 24 */
    check_loras(cs);
    oma_linear_free(&l), oma_tensor_free(&x), oma_tensor_free(&dy);
}

static void case_attention(oma_arena *ar, const char *cs, int64_t cdim, int64_t heads)
{
    oma_weights w = weights_of(cs);
    oma_attention a;
    LOAD(oma_attention_load(&a, &w, "", 32, cdim, heads, 0, errbuf, sizeof errbuf));
    attach_attention(cs, "", &a);
    oma_tensor x, dy, dx, ctx, dctx;
    int cross = strcmp(cs, "attn_cross") == 0;
    T(cs, "x", &x); T(cs, "dy", &dy);
    if (cross) {
        T(cs, "context", &ctx);
        CHECK(oma_tensor_alloc(&dctx, ctx.ndim, ctx.shape) == 0);
    }
    CHECK(oma_attention_backward(&a, &x, cross ? &ctx : NULL, &dy, ar, &dx, cross ? &dctx : NULL) == 0);
    REF(cs, "dx", dx.data);
    if (cross) {
        CHECK(oma_attention_backward(&a, &x, &ctx, &dy, ar, &dx, &dy) != 0);    /* dcontext shape */
        CHECK(oma_attention_backward(&a, &x, &x, &dy, ar, &dx, NULL) != 0);     /* context dim */
    }
    {
        oma_tensor bad;
        int64_t bs[3] = {x.shape[0], x.shape[1] + 1, x.shape[2]};
        CHECK(oma_tensor_alloc(&bad, 3, bs) == 0);
        CHECK(oma_attention_backward(&a, &x, cross ? &ctx : NULL, &bad, ar, &dx, NULL) != 0);
        oma_tensor_free(&bad);
    }
    if (cross) {
        REF(cs, "dcontext", dctx.data);
        oma_tensor_free(&ctx), oma_tensor_free(&dctx);
    }
    check_loras(cs);
    oma_attention_free(&a), oma_tensor_free(&x), oma_tensor_free(&dy);
}

static void case_ff(oma_arena *ar)
{
    const char *cs = "ff";
    oma_weights w = weights_of(cs);
    oma_feedforward f;
    LOAD(oma_feedforward_load(&f, &w, "", 32, 128, errbuf, sizeof errbuf));
    attach(cs, "net.0.proj", &f.proj);
    oma_tensor x, dy, dx;
    T(cs, "x", &x); T(cs, "dy", &dy);
    CHECK(oma_feedforward_backward(&f, &x, &dy, ar, &dx) == 0);
    REF(cs, "dx", dx.data);
    check_loras(cs);
    oma_feedforward_free(&f), oma_tensor_free(&x), oma_tensor_free(&dy);
}

static void case_block(oma_arena *ar)
{
    const char *cs = "block";
    oma_weights w = weights_of(cs);
    oma_transformer t;
    LOAD(oma_transformer_load(&t, &w, "", 32, 24, 4, errbuf, sizeof errbuf));
    attach_block(cs, "", &t);
    oma_tensor x, dy, dx, ctx, dctx;
    T(cs, "x", &x); T(cs, "dy", &dy); T(cs, "context", &ctx);
    CHECK(oma_tensor_alloc(&dctx, ctx.ndim, ctx.shape) == 0);
    CHECK(oma_transformer_backward(&t, &x, &ctx, &dy, ar, &dx, &dctx) == 0);
    REF(cs, "dx", dx.data);
    REF(cs, "dcontext", dctx.data);
    check_loras(cs);
    oma_transformer_free(&t);
    oma_tensor_free(&x), oma_tensor_free(&dy), oma_tensor_free(&ctx), oma_tensor_free(&dctx);
}

/* dx NULL (the lowest trainable layer's backward: nothing below wants dx): the adapters'
 * gradients and dcontext are those of the full backward, bit for bit. Leaves the adapters'
 * gradients as they were. */
static void same_without_dx(const oma_transformer2d *t, const oma_tensor *x, const oma_tensor *ctx,
                            const oma_tensor *dy, const oma_tensor *dctx, oma_arena *ar)
{
    float *saved[MAX_LORAS][2];
    int ok = 1;
    for (int i = 0; i < n_loras; i++)
        for (int f = 0; f < 2; f++) {
            oma_tensor *g = f ? &loras[i].g_up : &loras[i].g_down;
            size_t bytes = sizeof(float) * (size_t)oma_tensor_numel(g);
            saved[i][f] = malloc(bytes);
            CHECK(saved[i][f] != NULL);
            if (saved[i][f]) memcpy(saved[i][f], g->data, bytes);
            memset(g->data, 0, bytes);
        }
    oma_tensor dc2;
    CHECK(oma_tensor_alloc(&dc2, ctx->ndim, ctx->shape) == 0);
    CHECK(oma_transformer2d_backward(t, x, ctx, dy, ar, NULL, &dc2) == 0);
    ok &= memcmp(dc2.data, dctx->data, sizeof(float) * (size_t)oma_tensor_numel(dctx)) == 0;
    for (int i = 0; i < n_loras; i++)
        for (int f = 0; f < 2; f++) {
            oma_tensor *g = f ? &loras[i].g_up : &loras[i].g_down;
            size_t bytes = sizeof(float) * (size_t)oma_tensor_numel(g);
            if (saved[i][f]) {
                ok &= memcmp(saved[i][f], g->data, bytes) == 0;
                memcpy(g->data, saved[i][f], bytes);
                free(saved[i][f]);
            }
        }
    CHECK(ok);
    oma_tensor_free(&dc2);
}

static void case_t2d(oma_arena *ar, const char *cs, int linear, int layers)
{
    oma_weights w = weights_of(cs);
    oma_transformer2d t;
    LOAD(oma_transformer2d_load(&t, &w, "", 32, 4, 24, layers, linear, 8, errbuf, sizeof errbuf));
    for (int i = 0; i < layers; i++) {
        char p[64];
        snprintf(p, sizeof p, "transformer_blocks.%d.", i);
        attach_block(cs, p, &t.blocks[i]);
    }
    oma_tensor x, dy, dx, ctx, dctx;
    T(cs, "x", &x); T(cs, "dy", &dy); T(cs, "context", &ctx);
    CHECK(oma_tensor_alloc(&dctx, ctx.ndim, ctx.shape) == 0);
    CHECK(oma_transformer2d_backward(&t, &x, &ctx, &dy, ar, &dx, &dctx) == 0);
    REF(cs, "dx", dx.data);
    REF(cs, "dcontext", dctx.data);
    same_without_dx(&t, &x, &ctx, &dy, &dctx, ar);
    check_loras(cs);
    oma_transformer2d_free(&t);
    oma_tensor_free(&x), oma_tensor_free(&dy), oma_tensor_free(&ctx), oma_tensor_free(&dctx);
}

static void case_resnet(oma_arena *ar, const char *cs, int64_t out)
{
    oma_weights w = weights_of(cs);
    oma_resnet r;
    LOAD(oma_resnet_load(&r, &w, "", 16, out, 20, 8, 1e-5f, errbuf, sizeof errbuf));
    oma_tensor x, dy, dx, temb;
    T(cs, "x", &x); T(cs, "dy", &dy); T(cs, "temb", &temb);
    CHECK(oma_resnet_backward(&r, &x, &temb, &dy, ar, &dx) == 0);
    REF(cs, "dx", dx.data);
    /* bad shapes: refused before anything is touched (adapter gradients included) */
    if (out != 16) CHECK(oma_resnet_backward(&r, &x, &temb, &x, ar, &dx) != 0);
    CHECK(oma_resnet_backward(&r, &dy, &temb, &dy, ar, &dx) != 0 || out == 16);
    CHECK(oma_resnet_backward(&r, &x, NULL, &dy, ar, &dx) != 0);
    oma_resnet_free(&r);
    oma_tensor_free(&x), oma_tensor_free(&dy), oma_tensor_free(&temb);
}

static void case_sampler(oma_arena *ar, const char *cs)
{
    oma_weights w = weights_of(cs);
    oma_tensor x, dy, dx;
    T(cs, "x", &x); T(cs, "dy", &dy);
    if (strcmp(cs, "up") == 0) {
        oma_upsample u;
        LOAD(oma_upsample_load(&u, &w, "", 16, errbuf, sizeof errbuf));
        CHECK(oma_upsample_backward(&u, &x, &dy, ar, &dx) == 0);
        oma_upsample_free(&u);
    } else {
        oma_downsample d;
        LOAD(oma_downsample_load(&d, &w, "", 16, strcmp(cs, "down") == 0 ? 1 : 0, errbuf, sizeof errbuf));
        CHECK(oma_downsample_backward(&d, &x, &dy, ar, &dx) == 0);
        oma_downsample_free(&d);
    }
    REF(cs, "dx", dx.data);
    oma_tensor_free(&x), oma_tensor_free(&dy);
}

static void case_causal(void)
{
    const char *cs = "attn_causal";
    oma_tensor q, k, v, o, dy, dq, dk, dv;
    T(cs, "q", &q); T(cs, "k", &k); T(cs, "v", &v); T(cs, "dy", &dy);
    CHECK(oma_tensor_alloc(&o, 3, q.shape) == 0);
    CHECK(oma_tensor_alloc(&dq, 3, q.shape) == 0);
    CHECK(oma_tensor_alloc(&dk, 3, k.shape) == 0);
    CHECK(oma_tensor_alloc(&dv, 3, v.shape) == 0);
    CHECK(oma_op_attention(&q, &k, &v, 2, 0.0f, 1, &o) == 0);
    REF(cs, "o", o.data);
    CHECK(oma_op_attention_backward(&q, &k, &v, &o, &dy, 2, 0.0f, 1, &dq, &dk, &dv) == 0);
    REF(cs, "dq", dq.data);
    REF(cs, "dk", dk.data);
    REF(cs, "dv", dv.data);
    oma_tensor *all[] = {&q, &k, &v, &o, &dy, &dq, &dk, &dv};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) oma_tensor_free(all[i]);
}

int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    char path[1024], err[256];
    snprintf(path, sizeof path, "%s/tests/fixtures/grad/grad.safetensors", src ? src : ".");
    if (oma_st_open(path, &st, err, sizeof err) != 0) {
        fprintf(stderr, "open %s: %s\n", path, err);
        return 1;
    }
    oma_arena ar;
    oma_arena_init(&ar, 1 << 22);
    oma_arena_mark m = oma_arena_get_mark(&ar);
    for (int pass = 0; pass < 2; pass++) {
        /* fp32 (the default), then the opt-in bf16 compute mode where oneDNN is built in:
         * convolutions and large products round to bf16 (2^-9), so its own tolerance */
        if (pass == 1) {
            if (oma_precision_set("bf16") != 0) break;
            tol = 2e-2;
            printf("-- bf16 compute mode\n");
        }
        case_linear(&ar), oma_arena_release(&ar, m);
        case_attention(&ar, "attn_self", 32, 4), oma_arena_release(&ar, m);
        case_attention(&ar, "attn_cross", 24, 2), oma_arena_release(&ar, m);
        case_ff(&ar), oma_arena_release(&ar, m);
        case_block(&ar), oma_arena_release(&ar, m);
        case_t2d(&ar, "t2d_conv", 0, 1), oma_arena_release(&ar, m);
        case_t2d(&ar, "t2d_linear", 1, 2), oma_arena_release(&ar, m);
        case_resnet(&ar, "resnet_sc", 24), oma_arena_release(&ar, m);
        case_resnet(&ar, "resnet", 16), oma_arena_release(&ar, m);
        case_sampler(&ar, "down"), oma_arena_release(&ar, m);
        case_sampler(&ar, "down_vae"), oma_arena_release(&ar, m);
        case_sampler(&ar, "up"), oma_arena_release(&ar, m);
        case_causal();
    }
    oma_precision_set("fp32");
    oma_arena_destroy(&ar);
    oma_st_close(st);
    oma_threads_shutdown();
    if (failures) fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
