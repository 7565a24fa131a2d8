/* test_unet_keep.c — the UNet training pass gives the same loss and gradients whether it keeps
 * every block's intermediates (the default budget), keeps some (a budget of half the arena's peak) or recomputes every block in the backward (OMA_TRAIN_KEEP_MB=0): the
 * same operations in the same order, so bit for bit. Tiny fixture model, adapters with non-zero
 * up factors so every gradient path carries something. */
#include "check.h"
#include "models/sd/sd_model.h"
#include "train/style_net.h"
#include "train/train_rng.h"
#include "train/unet_train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    float loss;
    float *grads;       /* every adapter's g_down then g_up, in net order */
    float *dctx;
    int64_t n_grads, n_ctx;
    size_t peak;        /* the arena's */
} result;

static int run(oma_sd_model *m, oma_style_net *net, const char *budget_mb, result *r)
{
    char err[512];
    if (budget_mb) setenv("OMA_TRAIN_KEEP_MB", budget_mb, 1);
    else unsetenv("OMA_TRAIN_KEEP_MB");
    oma_train_rng rng;
    oma_train_rng_seed(&rng, 7);
    int64_t ls[4] = {1, 4, 8, 8}, cs[3] = {1, 77, m->unet.cfg.cross_attention_dim};
    oma_tensor noisy, target, ctx, dctx;
    if (oma_tensor_alloc(&noisy, 4, ls) || oma_tensor_alloc(&target, 4, ls) ||
        oma_tensor_alloc(&ctx, 3, cs) || oma_tensor_alloc(&dctx, 3, cs))
        return -1;
    for (int64_t i = 0; i < oma_tensor_numel(&noisy); i++) {
        noisy.data[i] = (float)oma_train_rng_normal(&rng);
        target.data[i] = (float)oma_train_rng_normal(&rng);
    }
    for (int64_t i = 0; i < oma_tensor_numel(&ctx); i++)
        ctx.data[i] = (float)oma_train_rng_normal(&rng);
    oma_style_net_zero_grad(net);
    oma_arena ar;
    oma_arena_init(&ar, 0);
    float t = 321.0f;
    int rc = oma_unet_train_pass(&m->unet, &noisy, &t, &ctx, &target, 0.5f, &ar, &r->loss, &dctx,
                                 err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    r->n_grads = 0;
    for (int a = 0; a < net->n_unet; a++)
        r->n_grads += oma_tensor_numel(&net->a[a].lora.g_down) + oma_tensor_numel(&net->a[a].lora.g_up);
    r->grads = malloc(sizeof(float) * (size_t)r->n_grads);
    r->n_ctx = oma_tensor_numel(&dctx);
    r->dctx = malloc(sizeof(float) * (size_t)r->n_ctx);
    if (!r->grads || !r->dctx) rc = -1;
    else {
        int64_t o = 0;
        for (int a = 0; a < net->n_unet; a++) {
            const oma_lora *l = &net->a[a].lora;
            memcpy(r->grads + o, l->g_down.data, sizeof(float) * (size_t)oma_tensor_numel(&l->g_down));
            o += oma_tensor_numel(&l->g_down);
            memcpy(r->grads + o, l->g_up.data, sizeof(float) * (size_t)oma_tensor_numel(&l->g_up));
            o += oma_tensor_numel(&l->g_up);
        }
        memcpy(r->dctx, dctx.data, sizeof(float) * (size_t)r->n_ctx);
    }
    r->peak = oma_arena_peak(&ar);
    oma_arena_destroy(&ar);
    oma_tensor_free(&noisy);
    oma_tensor_free(&target);
    oma_tensor_free(&ctx);
    oma_tensor_free(&dctx);
    return rc;
}

static void same(const result *a, const result *b, const char *what)
{
    CHECK(a->loss == b->loss);
    CHECK(a->n_grads == b->n_grads && a->n_ctx == b->n_ctx);
    int64_t diff = 0;
    for (int64_t i = 0; i < a->n_grads; i++) diff += a->grads[i] != b->grads[i];
    for (int64_t i = 0; i < a->n_ctx; i++) diff += a->dctx[i] != b->dctx[i];
    printf("%s: loss %.7f vs %.7f, %lld of %lld gradient values differ\n", what, a->loss, b->loss,
           (long long)diff, (long long)(a->n_grads + a->n_ctx));
    CHECK(diff == 0);
}

int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/tests/fixtures/sd/tiny-sd", src ? src : ".");
    oma_sd_model m;
    if (oma_sd_model_load(path, NULL, 0, &m, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    oma_clip_text no_text;
    memset(&no_text, 0, sizeof no_text);
    oma_style_net net;
    oma_train_rng rng;
    oma_train_rng_seed(&rng, 42);
    CHECK(oma_style_net_plan(&net, &m.unet, &no_text, err, sizeof err) == 0);
    CHECK(oma_style_net_alloc(&net, 4, oma_train_rng_randn_cb, &rng, err, sizeof err) == 0);
    for (int i = 0; i < net.n; i++)
        for (int64_t j = 0; j < oma_tensor_numel(&net.a[i].lora.up); j++)
            net.a[i].lora.up.data[j] = (float)(oma_train_rng_normal(&rng) * 0.1);
    oma_style_net_attach(&net);

    result keep_all, keep_none, keep_some;
    CHECK(run(&m, &net, NULL, &keep_all) == 0);
    CHECK(run(&m, &net, "0", &keep_none) == 0);
    char half[64];
    snprintf(half, sizeof half, "%.6f", (double)keep_all.peak / 2 / 1048576.0);
    CHECK(run(&m, &net, half, &keep_some) == 0);
    printf("arena peak: all kept %zu, half budget %zu, none kept %zu bytes\n", keep_all.peak,
           keep_some.peak, keep_none.peak);
    CHECK(keep_none.peak < keep_some.peak && keep_some.peak < keep_all.peak);
    CHECK(isfinite(keep_all.loss) && keep_all.loss > 0);
    double gsq = 0;
    for (int64_t i = 0; i < keep_all.n_grads; i++) gsq += (double)keep_all.grads[i] * keep_all.grads[i];
    CHECK(gsq > 0);
    same(&keep_all, &keep_none, "kept vs recomputed");
    same(&keep_all, &keep_some, "kept vs half kept");
    free(keep_all.grads); free(keep_all.dctx);
    free(keep_none.grads); free(keep_none.dctx);
    free(keep_some.grads); free(keep_some.dctx);
    unsetenv("OMA_TRAIN_KEEP_MB");
    oma_style_net_free(&net);
    oma_sd_model_free(&m);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    return failures != 0;
}
