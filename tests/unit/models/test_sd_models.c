/* test_sd_models.c — the SD models built from tiny configs with made-up weights, checking what
 * holds whatever the weights: output shapes; finite values; a batch of two equals each item run
 * alone (no mixing across the batch in norms or attention); CLIP's causal mask (changing token
 * 5 leaves positions 0..4 unchanged and changes 5..); clip skip changes the output; bad inputs
 * and missing tensors give errors naming them. Numbers against diffusers are checked by the
 * fixture conformance tests. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/sd/clip_text.h"
#include "models/sd/unet.h"
#include "models/sd/vae.h"
#include "tensor/threadpool.h"

#include "check.h"

typedef struct {
    const char *missing;
} fake_src;

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int fake_has(void *ctx, const char *name)
{
    fake_src *f = ctx;
    return !(f->missing && strcmp(name, f->missing) == 0);
}

static int fake_read(void *ctx, const char *name, int ndim, const int64_t *shape, float *dst,
                     char *err, size_t errlen)
{
    if (!fake_has(ctx, name)) {
        snprintf(err, errlen, "tensor '%s': missing", name);
        return -1;
    }
    uint64_t s = hash(name) | 1;
    int64_t n = oma_shape_numel(ndim, shape);
    int norm_w = strstr(name, "norm") && strstr(name, ".weight");
    float amp = ndim >= 2 ? 1.0f / sqrtf((float)(n / shape[0])) : 0.2f;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        float u = (float)((s >> 40) * (1.0 / 8388608.0)) - 1.0f;
        dst[i] = norm_w ? 1.0f + 0.1f * u : amp * u;
    }
    return 0;
}

static int finite_all(const oma_tensor *t)
{
    for (int64_t i = 0; i < oma_tensor_numel(t); i++)
        if (!isfinite(t->data[i])) return 0;
    return 1;
}

static float maxdiff(const float *a, const float *b, int64_t n)
{
    float m = 0;
    for (int64_t i = 0; i < n; i++) m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

static void test_clip(void)
{
    fake_src f = {0};
    oma_weights w = {.ctx = &f, .read = fake_read, .has = fake_has};
    oma_clip_text_params p = {50, 16, 32, 3, 2, 10, 1e-5f, 1};
    oma_clip_text m;
    char err[256];
    CHECK(oma_clip_text_load(&m, &w, "text_encoder", &p, err, sizeof err) == 0);
    oma_arena ar;
    oma_arena_init(&ar, 1 << 20);
    int32_t ids[20] = {49 % 50, 3, 7, 9, 11, 13, 1, 2, 2, 2, 49 % 50, 3, 7, 9, 11, 40, 1, 2, 2, 2};
    oma_tensor out, out1;
    CHECK(oma_clip_text_forward(&m, ids, 2, 10, 0, &ar, &out, err, sizeof err) == 0);
    CHECK(out.shape[0] == 2 && out.shape[1] == 10 && out.shape[2] == 16 && finite_all(&out));
    /* batch items differ only from position 5 on (the causal mask). Not bit-equal: OpenBLAS's
     * Haswell kernel (OPENBLAS_CORETYPE=Haswell, which tests do not drop) rounds the rows of a
     * matrix's last block in another order, ~1e-7; a leak past the mask is ~1e-1 */
    CHECK(maxdiff(out.data, out.data + 160, 5 * 16) < 1e-5f);
    CHECK(maxdiff(out.data + 5 * 16, out.data + 160 + 5 * 16, 16) > 1e-3f);
    /* one item alone equals the batch */
    CHECK(oma_clip_text_forward(&m, ids + 10, 1, 10, 0, &ar, &out1, err, sizeof err) == 0);
    CHECK(maxdiff(out1.data, out.data + 160, 160) < 1e-5f);
    CHECK(oma_clip_text_forward(&m, ids, 1, 10, 1, &ar, &out1, err, sizeof err) == 0);
    CHECK(maxdiff(out1.data, out.data, 160) > 1e-3f);     /* clip skip changes it */
    int32_t bad[10] = {0, 50};
    CHECK(oma_clip_text_forward(&m, bad, 1, 2, 0, &ar, &out1, err, sizeof err) == -1);
    CHECK(strstr(err, "50") != NULL);
    CHECK(oma_clip_text_forward(&m, ids, 1, 11, 0, &ar, &out1, err, sizeof err) == -1);
    oma_clip_text_free(&m);

    f.missing = "text_encoder.text_model.encoder.layers.2.mlp.fc2.bias";
    CHECK(oma_clip_text_load(&m, &w, "text_encoder", &p, err, sizeof err) == -1);
    CHECK(strstr(err, f.missing) != NULL);
    oma_arena_destroy(&ar);
}

static void tiny_unet_config(oma_unet_config *c)
{
    memset(c, 0, sizeof *c);
    c->in_channels = c->out_channels = 4;
    c->n_blocks = 2;
    c->block_out_channels[0] = 8;
    c->block_out_channels[1] = 16;
    strcpy(c->down_block_types[0], "CrossAttnDownBlock2D");
    strcpy(c->down_block_types[1], "DownBlock2D");
    strcpy(c->up_block_types[0], "UpBlock2D");
    strcpy(c->up_block_types[1], "CrossAttnUpBlock2D");
    c->layers_per_block = 1;
    c->attention_head_dim[0] = c->attention_head_dim[1] = 2;
    c->cross_attention_dim = 12;
    c->norm_num_groups = 4;
    c->norm_eps = 1e-5f;
    c->transformer_layers_per_block = 1;
    c->flip_sin_to_cos = 1;
    c->downsample_padding = 1;
}

static void test_unet(void)
{
    fake_src f = {0};
    oma_weights w = {.ctx = &f, .read = fake_read, .has = fake_has};
    oma_unet_config c;
    tiny_unet_config(&c);
    oma_unet u;
    char err[256];
    CHECK(oma_unet_load(&u, &w, "unet", &c, err, sizeof err) == 0);
    if (!u.loaded) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    oma_arena ar;
    oma_arena_init(&ar, 1 << 20);
    oma_tensor lat, ctx, out, out1, lat1, ctx1;
    int64_t ls[4] = {2, 4, 8, 6}, cs[3] = {2, 5, 12};
    oma_arena_tensor(&ar, &lat, 4, ls);
    oma_arena_tensor(&ar, &ctx, 3, cs);
    for (int64_t i = 0; i < oma_tensor_numel(&lat); i++) lat.data[i] = sinf((float)i * 0.37f);
    for (int64_t i = 0; i < oma_tensor_numel(&ctx); i++) ctx.data[i] = cosf((float)i * 0.11f);
    float ts[2] = {999.0f, 21.0f};
    CHECK(oma_unet_forward(&u, &lat, ts, &ctx, &ar, &out, err, sizeof err) == 0);
    CHECK(out.shape[0] == 2 && out.shape[1] == 4 && out.shape[2] == 8 && out.shape[3] == 6);
    CHECK(finite_all(&out));
    /* item 1 alone */
    oma_tensor_view(&lat1, lat.data + 4 * 48, 4, (int64_t[]){1, 4, 8, 6});
    oma_tensor_view(&ctx1, ctx.data + 60, 3, (int64_t[]){1, 5, 12});
    CHECK(oma_unet_forward(&u, &lat1, ts + 1, &ctx1, &ar, &out1, err, sizeof err) == 0);
    CHECK(maxdiff(out1.data, out.data + 4 * 48, 4 * 48) < 1e-4f);
    /* the timestep matters */
    float t2 = 500.0f;
    CHECK(oma_unet_forward(&u, &lat1, &t2, &ctx1, &ar, &out1, err, sizeof err) == 0);
    CHECK(maxdiff(out1.data, out.data + 4 * 48, 4 * 48) > 1e-4f);
    /* odd latent size: the upsamplers interpolate to the skips' sizes (diffusers'
     * forward_upsample_size; checked against diffusers in pipelines.test_generate_sizes) */
    oma_tensor odd;
    oma_arena_tensor(&ar, &odd, 4, (int64_t[]){1, 4, 7, 6});
    for (int64_t i = 0; i < oma_tensor_numel(&odd); i++) odd.data[i] = lat1.data[i % (4 * 48)];
    CHECK(oma_unet_forward(&u, &odd, ts, &ctx1, &ar, &out1, err, sizeof err) == 0);
    CHECK(out1.ndim == 4 && out1.shape[1] == 4 && out1.shape[2] == 7 && out1.shape[3] == 6 && finite_all(&out1));
    oma_unet_free(&u);
    f.missing = "unet.up_blocks.1.attentions.1.transformer_blocks.0.attn2.to_k.weight";
    CHECK(oma_unet_load(&u, &w, "unet", &c, err, sizeof err) == -1);
    CHECK(strstr(err, f.missing) != NULL);
    strcpy(c.down_block_types[1], "SimpleDownBlock2D");
    CHECK(oma_unet_load(&u, &w, "unet", &c, err, sizeof err) == -1);
    oma_arena_destroy(&ar);
}

static void test_vae(void)
{
    fake_src f = {0};
    oma_weights w = {.ctx = &f, .read = fake_read, .has = fake_has};
    oma_vae_config c;
    memset(&c, 0, sizeof c);
    c.in_channels = c.out_channels = 3;
    c.latent_channels = 4;
    c.n_blocks = 2;
    c.block_out_channels[0] = 8;
    c.block_out_channels[1] = 16;
    c.layers_per_block = 1;
    c.norm_num_groups = 4;
    c.scaling_factor = 0.18215f;
    oma_vae v;
    char err[256];
    CHECK(oma_vae_load(&v, &w, "vae", &c, 1, err, sizeof err) == 0);
    if (!v.loaded) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    oma_arena ar;
    oma_arena_init(&ar, 1 << 16);       /* small chunks: exercises chunk release in keep() */
    oma_tensor img, mom, lat, dec;
    oma_arena_tensor(&ar, &img, 4, (int64_t[]){2, 3, 16, 12});
    for (int64_t i = 0; i < oma_tensor_numel(&img); i++) img.data[i] = sinf((float)i * 0.05f);
    CHECK(oma_vae_encode(&v, &img, &ar, &mom, err, sizeof err) == 0);
    CHECK(mom.shape[1] == 8 && mom.shape[2] == 8 && mom.shape[3] == 6 && finite_all(&mom));
    oma_tensor img1, mom1;
    oma_tensor_view(&img1, img.data + 3 * 192, 4, (int64_t[]){1, 3, 16, 12});
    CHECK(oma_vae_encode(&v, &img1, &ar, &mom1, err, sizeof err) == 0);
    CHECK(maxdiff(mom1.data, mom.data + 8 * 48, 8 * 48) < 1e-4f);
    oma_arena_tensor(&ar, &lat, 4, (int64_t[]){1, 4, 8, 6});
    memcpy(lat.data, mom.data, sizeof(float) * 4 * 48);
    CHECK(oma_vae_decode(&v, &lat, &ar, &dec, err, sizeof err) == 0);
    CHECK(dec.shape[1] == 3 && dec.shape[2] == 16 && dec.shape[3] == 12 && finite_all(&dec));
    oma_vae_free(&v);
    CHECK(oma_vae_load(&v, &w, "vae", &c, 0, err, sizeof err) == 0);
    CHECK(oma_vae_encode(&v, &img, &ar, &mom, err, sizeof err) == -1);   /* no encoder loaded */
    oma_vae_free(&v);
    oma_arena_destroy(&ar);
}

int main(void)
{
    setenv("OMA_THREADS", "2", 1);
    test_clip();
    test_unet();
    test_vae();
    oma_threads_shutdown();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_sd_models: ok\n");
    return 0;
}
