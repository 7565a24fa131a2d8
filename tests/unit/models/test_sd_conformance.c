/* test_sd_conformance.c — CLIP text encoder, UNet and VAE against diffusers 0.21.4 / OpenAI
 * CLIP outputs on the tiny SD fixtures (tests/fixtures/sd, made by tools/make_sd_fixtures.py).
 * The weights are read straight from the diffusers folder's safetensors files (unet/vae F16,
 * text_encoder F32) by name, so this checks the networks independently of the checkpoint
 * loader; test_sd_layouts checks the loader and both layouts.
 * Tolerance (float32 engine vs float32 reference): max abs error <= 2e-5 * (1 + max |ref|)
 * for every tensor; measured here 1e-6..4e-6 (printed by the test). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/safetensors.h"
#include "models/sd/clip_text.h"
#include "models/sd/unet.h"
#include "models/sd/vae.h"
#include "tensor/threadpool.h"

#include "check.h"

static char root[1024];
static oma_safetensors *f_unet, *f_vae, *f_text, *r_text, *r_unet, *r_vae;

static oma_safetensors *open_st(const char *rel)
{
    char p[2048], err[256];
    snprintf(p, sizeof p, "%s/%s", root, rel);
    oma_safetensors *st = NULL;
    if (oma_st_open(p, &st, err, sizeof err) != 0) {
        fprintf(stderr, "open %s: %s\n", p, err);
        exit(1);
    }
    return st;
}

/* "unet.x" -> unet file "x", "vae.x" -> vae file, "text_encoder.x" -> text encoder file */
static const oma_st_tensor *lookup(const char *name)
{
    if (!strncmp(name, "unet.", 5)) return oma_st_find(f_unet, name + 5);
    if (!strncmp(name, "vae.", 4)) return oma_st_find(f_vae, name + 4);
    if (!strncmp(name, "text_encoder.", 13)) return oma_st_find(f_text, name + 13);
    return NULL;
}

static int fx_has(void *ctx, const char *name)
{
    (void)ctx;
    return lookup(name) != NULL;
}

static int fx_read(void *ctx, const char *name, int ndim, const int64_t *shape, float *dst, char *err,
                   size_t errlen)
{
    (void)ctx;
    const oma_st_tensor *t = lookup(name);
    if (!t) {
        snprintf(err, errlen, "tensor '%s': missing", name);
        return -1;
    }
    if (oma_st_check_shape(t, ndim, shape, err, errlen) != 0) return -1;
    return oma_st_read_f32(t, dst, (size_t)oma_shape_numel(ndim, shape), err, errlen);
}

/* A reference tensor as a float tensor view in the arena. */
static int ref(oma_safetensors *st, const char *name, oma_arena *ar, oma_tensor *t)
{
    const oma_st_tensor *s = oma_st_find(st, name);
    char err[256];
    if (!s || s->ndim > 4) {
        fprintf(stderr, "reference tensor %s missing\n", name);
        return -1;
    }
    if (oma_arena_tensor(ar, t, s->ndim, s->shape) != 0) return -1;
    return oma_st_read_f32(s, t->data, (size_t)s->numel, err, sizeof err);
}

static int compare(const char *what, const oma_tensor *got, const oma_tensor *want, double tol)
{
    if (oma_tensor_numel(got) != oma_tensor_numel(want)) {
        fprintf(stderr, "%s: %lld values, reference has %lld\n", what, (long long)oma_tensor_numel(got),
                (long long)oma_tensor_numel(want));
        return 0;
    }
    double maxref = 0, maxerr = 0;
    for (int64_t i = 0; i < oma_tensor_numel(got); i++) {
        maxref = fmax(maxref, fabs(want->data[i]));
        double e = fabs((double)got->data[i] - want->data[i]);
        if (!(e <= maxerr)) maxerr = isnan(e) ? INFINITY : e;
    }
    int ok = maxerr <= tol * (1 + maxref);
    printf("  %-34s max abs err %.3g (max |ref| %.3g) %s\n", what, maxerr, maxref, ok ? "ok" : "FAIL");
    return ok;
}

#define TOL 2e-5

static void test_text(void)
{
    oma_weights w = {.ctx = NULL, .read = fx_read, .has = fx_has};
    oma_clip_text_params p = {1000, 48, 192, 2, 12, 77, 1e-5f, 1};
    oma_clip_text m;
    char err[256], path[2048];
    CHECK(oma_clip_text_load(&m, &w, "text_encoder", &p, err, sizeof err) == 0);
    snprintf(path, sizeof path, "%s/ref/tokens.json", root);
    json_error_t je;
    json_t *tok = json_load_file(path, 0, &je);
    CHECK(tok != NULL);
    if (!tok) return;
    json_t *plain = json_object_get(tok, "plain");
    oma_arena ar;
    oma_arena_init(&ar, 1 << 20);
    for (int i = 0; i < 3; i++) {
        json_t *ids = json_object_get(json_array_get(plain, (size_t)i), "ids");
        int32_t v[77];
        CHECK(json_array_size(ids) == 77);
        for (int k = 0; k < 77; k++) v[k] = (int32_t)json_integer_value(json_array_get(ids, (size_t)k));
        oma_tensor out, want;
        char name[64];
        for (int skip = 0; skip < 2; skip++) {
            CHECK(oma_clip_text_forward(&m, v, 1, 77, skip, &ar, &out, err, sizeof err) == 0);
            snprintf(name, sizeof name, skip ? "p%d.clip_skip2" : "p%d.last_hidden_state", i);
            CHECK(ref(r_text, name, &ar, &want) == 0);
            CHECK(compare(name, &out, &want, TOL));
        }
    }
    json_decref(tok);
    oma_arena_destroy(&ar);
    oma_clip_text_free(&m);
}

static void tiny_unet(oma_unet_config *c)
{
    memset(c, 0, sizeof *c);
    c->in_channels = c->out_channels = 4;
    c->n_blocks = 4;
    for (int i = 0; i < 4; i++) {
        c->block_out_channels[i] = 32;
        c->attention_head_dim[i] = 8;
        strcpy(c->down_block_types[i], i < 3 ? "CrossAttnDownBlock2D" : "DownBlock2D");
        strcpy(c->up_block_types[i], i == 0 ? "UpBlock2D" : "CrossAttnUpBlock2D");
    }
    c->layers_per_block = 2;
    c->cross_attention_dim = 48;
    c->norm_num_groups = 8;
    c->norm_eps = 1e-5f;
    c->transformer_layers_per_block = 1;
    c->flip_sin_to_cos = 1;
    c->downsample_padding = 1;
}

static void test_unet(void)
{
    oma_weights w = {.ctx = NULL, .read = fx_read, .has = fx_has};
    oma_unet_config c;
    tiny_unet(&c);
    oma_unet u;
    char err[256];
    CHECK(oma_unet_load(&u, &w, "unet", &c, err, sizeof err) == 0);
    if (!u.loaded) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    oma_arena ar;
    oma_arena_init(&ar, 1 << 20);
    oma_tensor x, ctx, out, want;
    CHECK(ref(r_unet, "sample", &ar, &x) == 0 && ref(r_unet, "encoder_hidden_states", &ar, &ctx) == 0);
    float t500[2] = {500, 500}, t1[2] = {1, 1};
    CHECK(oma_unet_forward(&u, &x, t500, &ctx, &ar, &out, err, sizeof err) == 0);
    CHECK(ref(r_unet, "out_t500", &ar, &want) == 0 && compare("unet out_t500", &out, &want, TOL));
    CHECK(oma_unet_forward(&u, &x, t1, &ctx, &ar, &out, err, sizeof err) == 0);
    CHECK(ref(r_unet, "out_t1", &ar, &want) == 0 && compare("unet out_t1", &out, &want, TOL));
    oma_arena_destroy(&ar);
    oma_unet_free(&u);
}

static void test_vae(void)
{
    oma_weights w = {.ctx = NULL, .read = fx_read, .has = fx_has};
    oma_vae_config c;
    memset(&c, 0, sizeof c);
    c.in_channels = c.out_channels = 3;
    c.latent_channels = 4;
    c.n_blocks = 4;
    for (int i = 0; i < 4; i++) c.block_out_channels[i] = 32;
    c.layers_per_block = 2;
    c.norm_num_groups = 8;
    c.scaling_factor = 0.18215f;
    oma_vae v;
    char err[256];
    CHECK(oma_vae_load(&v, &w, "vae", &c, 1, err, sizeof err) == 0);
    if (!v.loaded) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    oma_arena ar;
    oma_arena_init(&ar, 1 << 20);
    oma_tensor img, mom, mean, logvar, lat, dec, want;
    CHECK(ref(r_vae, "image", &ar, &img) == 0);
    CHECK(oma_vae_encode(&v, &img, &ar, &mom, err, sizeof err) == 0);
    CHECK(ref(r_vae, "posterior_mean", &ar, &mean) == 0 && ref(r_vae, "posterior_logvar", &ar, &logvar) == 0);
    oma_tensor m0, l0;
    oma_tensor_view(&m0, mom.data, 4, (int64_t[]){1, 4, 8, 8});
    oma_tensor_view(&l0, mom.data + 256, 4, (int64_t[]){1, 4, 8, 8});
    CHECK(compare("vae posterior_mean", &m0, &mean, TOL));
    CHECK(compare("vae posterior_logvar", &l0, &logvar, TOL));
    CHECK(ref(r_vae, "latent", &ar, &lat) == 0);
    CHECK(oma_vae_decode(&v, &lat, &ar, &dec, err, sizeof err) == 0);
    CHECK(ref(r_vae, "decoded", &ar, &want) == 0 && compare("vae decoded", &dec, &want, TOL));
    oma_arena_destroy(&ar);
    oma_vae_free(&v);
}

int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    snprintf(root, sizeof root, "%s/tests/fixtures/sd", src ? src : ".");
    f_unet = open_st("tiny-sd/unet/diffusion_pytorch_model.safetensors");
    f_vae = open_st("tiny-sd/vae/diffusion_pytorch_model.safetensors");
    f_text = open_st("tiny-sd/text_encoder/model.safetensors");
    r_text = open_st("ref/text_encoder.safetensors");
    r_unet = open_st("ref/unet.safetensors");
    r_vae = open_st("ref/vae.safetensors");
    test_text();
    test_unet();
    test_vae();
    oma_st_close(f_unet), oma_st_close(f_vae), oma_st_close(f_text);
    oma_st_close(r_text), oma_st_close(r_unet), oma_st_close(r_vae);
    oma_threads_shutdown();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_sd_conformance: ok\n");
    return 0;
}
