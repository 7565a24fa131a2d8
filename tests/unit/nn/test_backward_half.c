/* test_backward_half.c — backward passes on layers whose weights stay 16-bit (keep_half: widened
 * into a per-thread buffer just before each use) give bit for bit what they give on the same
 * weights loaded as float32: Transformer2DModel (1x1 conv projections, linears with LoRA
 * adapters), ResnetBlock2D with a shortcut, Upsample2D and the VAE-style Downsample2D. Guards
 * the per-thread widened buffer (a backward that kept a pointer to it across another layer's
 * widening would read the wrong weights). */
#include <stdio.h>
#include <string.h>

#include "nn/attention.h"
#include "nn/backward.h"
#include "nn/blocks.h"
#include "tensor/half.h"
#include "tensor/threadpool.h"

#include "check.h"

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* bf16 values from the name: norm scales near 1, the rest small */
static uint16_t value(const char *name, int64_t i, uint64_t *s)
{
    (void)i;
    *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
    float u = (float)((*s >> 40) * (1.0 / 16777216.0)) - 0.5f;
    float v = strstr(name, "norm") && strstr(name, ".weight") ? 1.0f + 0.2f * u : 0.3f * u;
    uint32_t b;
    memcpy(&b, &v, 4);
    return (uint16_t)(b >> 16);
}

static int rd_half(void *ctx, const char *name, int ndim, const int64_t *shape, uint16_t *dst,
                   int *kind, char *err, size_t errlen)
{
    (void)ctx, (void)err, (void)errlen;
    uint64_t s = hash(name) | 1;
    for (int64_t i = 0; i < oma_shape_numel(ndim, shape); i++) dst[i] = value(name, i, &s);
    *kind = OMA_HALF_BF16;
    return 0;
}

static int rd(void *ctx, const char *name, int ndim, const int64_t *shape, float *dst, char *err,
              size_t errlen)
{
    (void)ctx, (void)err, (void)errlen;
    uint64_t s = hash(name) | 1;
    for (int64_t i = 0; i < oma_shape_numel(ndim, shape); i++)
        dst[i] = oma_half_to_f32(value(name, i, &s), OMA_HALF_BF16);
    return 0;
}

static int has(void *ctx, const char *name)
{
    (void)ctx, (void)name;
    return 1;
}

static void fill(oma_tensor *t, uint64_t s)
{
    for (int64_t i = 0; i < oma_tensor_numel(t); i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        t->data[i] = (float)((s >> 40) * (1.0 / 16777216.0)) - 0.5f;
    }
}

static int same(const oma_tensor *a, const oma_tensor *b)
{
    return oma_tensor_same_shape(a, b) &&
           memcmp(a->data, b->data, sizeof(float) * (size_t)oma_tensor_numel(a)) == 0;
}

typedef struct {
    oma_transformer2d t2;
    oma_resnet rn;
    oma_upsample up;
    oma_downsample dn;
    oma_lora lo[2];
    oma_tensor dx_t, dctx, dx_r, dx_u, dx_d;
} run;

static void do_run(run *r, int keep_half, const oma_tensor *x, const oma_tensor *ctx,
                   const oma_tensor *temb, const oma_tensor *dy, const oma_tensor *dyr,
                   const oma_tensor *dyu, const oma_tensor *dyd, oma_arena *ar)
{
    oma_weights w = {NULL, rd, has, rd_half, keep_half};
    char err[256];
    CHECK(oma_transformer2d_load(&r->t2, &w, "t", 32, 4, 24, 1, 0, 8, err, sizeof err) == 0);
    CHECK(oma_resnet_load(&r->rn, &w, "r", 32, 48, 20, 8, 1e-5f, err, sizeof err) == 0);
    CHECK(oma_upsample_load(&r->up, &w, "u", 32, err, sizeof err) == 0);
    CHECK(oma_downsample_load(&r->dn, &w, "d", 32, 0, err, sizeof err) == 0);
    CHECK(!keep_half || (r->t2.blocks[0].attn1.to_q.w16 && r->rn.conv1.w16 && r->t2.proj_in_conv.w16));
    oma_linear *ls[2] = {&r->t2.blocks[0].attn2.to_k, &r->t2.blocks[0].ff.proj};
    for (int i = 0; i < 2; i++) {
        CHECK(oma_lora_init(&r->lo[i], ls[i]->in, ls[i]->out, 4, 0.5f, NULL, NULL) == 0);
        fill(&r->lo[i].down, 11 + i);
        fill(&r->lo[i].up, 21 + i);
        ls[i]->lora = &r->lo[i];
    }
    CHECK(oma_tensor_alloc(&r->dctx, 3, ctx->shape) == 0);
    oma_tensor a, b, c, d;
    CHECK(oma_transformer2d_backward(&r->t2, x, ctx, dy, ar, &a, &r->dctx) == 0);
    CHECK(oma_resnet_backward(&r->rn, x, temb, dyr, ar, &b) == 0);
    CHECK(oma_upsample_backward(&r->up, x, dyu, ar, &c) == 0);
    CHECK(oma_downsample_backward(&r->dn, x, dyd, ar, &d) == 0);
    r->dx_t = a, r->dx_r = b, r->dx_u = c, r->dx_d = d;     /* arena views, kept until release */
}

static void free_run(run *r)
{
    for (int i = 0; i < 2; i++) oma_lora_free(&r->lo[i]);
    r->t2.blocks[0].attn2.to_k.lora = r->t2.blocks[0].ff.proj.lora = NULL;
    oma_transformer2d_free(&r->t2);
    oma_resnet_free(&r->rn);
    oma_upsample_free(&r->up);
    oma_downsample_free(&r->dn);
    oma_tensor_free(&r->dctx);
}

int main(void)
{
    oma_tensor x, ctx, temb, dy, dyr, dyu, dyd;
    CHECK(oma_tensor_alloc4(&x, 4, 2, 32, 6, 5) == 0);
    CHECK(oma_tensor_alloc4(&ctx, 3, 2, 7, 24, 0) == 0);
    CHECK(oma_tensor_alloc4(&temb, 2, 2, 20, 0, 0) == 0);
    CHECK(oma_tensor_alloc4(&dy, 4, 2, 32, 6, 5) == 0);
    CHECK(oma_tensor_alloc4(&dyr, 4, 2, 48, 6, 5) == 0);
    CHECK(oma_tensor_alloc4(&dyu, 4, 2, 32, 12, 10) == 0);
    CHECK(oma_tensor_alloc4(&dyd, 4, 2, 32, 3, 2) == 0);     /* 6x5 padded to 7x6, 3x3 stride 2 */
    fill(&x, 1), fill(&ctx, 2), fill(&temb, 3), fill(&dy, 4), fill(&dyr, 5), fill(&dyu, 6), fill(&dyd, 7);
    oma_arena ar;
    oma_arena_init(&ar, 1 << 22);
    static run f32, f16;
    do_run(&f32, 0, &x, &ctx, &temb, &dy, &dyr, &dyu, &dyd, &ar);
    do_run(&f16, 1, &x, &ctx, &temb, &dy, &dyr, &dyu, &dyd, &ar);
    CHECK(same(&f32.dx_t, &f16.dx_t));
    CHECK(same(&f32.dctx, &f16.dctx));
    CHECK(same(&f32.dx_r, &f16.dx_r));
    CHECK(same(&f32.dx_u, &f16.dx_u));
    CHECK(same(&f32.dx_d, &f16.dx_d));
    for (int i = 0; i < 2; i++) {
        CHECK(same(&f32.lo[i].g_down, &f16.lo[i].g_down));
        CHECK(same(&f32.lo[i].g_up, &f16.lo[i].g_up));
    }
    /* and the gradients are not trivially equal (all zero) */
    double s = 0.0;
    for (int64_t i = 0; i < oma_tensor_numel(&f32.dx_t); i++) s += f32.dx_t.data[i] * f32.dx_t.data[i];
    CHECK(s > 0.0);
    free_run(&f32);
    free_run(&f16);
    oma_arena_destroy(&ar);
    oma_tensor *all[] = {&x, &ctx, &temb, &dy, &dyr, &dyu, &dyd};
    for (size_t i = 0; i < 7; i++) oma_tensor_free(all[i]);
    oma_threads_shutdown();
    if (failures) fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
