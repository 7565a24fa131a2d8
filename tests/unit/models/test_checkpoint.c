/* test_checkpoint.c — both layouts of the tiny SD fixture present the same tensors under the
 * same diffusers names (the single file was written by diffusers' own conversion script, so this
 * checks our original->diffusers mapping name by name), configs are read or inferred as stated,
 * and missing tensors, wrong shapes, broken configs and foreign checkpoints give errors that name
 * what is wrong.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/safetensors.h"
#include "models/sd/sd_checkpoint.h"

static char fixdir[1024];

static void fx(char *out, size_t len, const char *rel) { snprintf(out, len, "%s/%s", fixdir, rel); }

static oma_sd_checkpoint *open_folder(void) {
    char p[1200], err[512];
    fx(p, sizeof p, "tiny-sd");
    oma_sd_checkpoint *ck;
    if (oma_sd_open(p, NULL, &ck, err, sizeof err)) fail_msg("%s", err);
    return ck;
}

static oma_sd_checkpoint *open_single(int with_config) {
    char p[1200], c[1200], err[512];
    fx(p, sizeof p, "single/tiny-sd-v1.safetensors");
    fx(c, sizeof c, "tiny-sd");
    oma_sd_open_opts o = {NULL, with_config ? c : NULL};
    oma_sd_checkpoint *ck;
    if (oma_sd_open_ex(p, &o, &ck, err, sizeof err)) fail_msg("%s", err);
    return ck;
}

static void test_folder_config(void **s) {
    (void)s;
    oma_sd_checkpoint *ck = open_folder();
    assert_int_equal(oma_sd_layout_of(ck), OMA_SD_DIFFUSERS);
    const oma_sd_config *c = oma_sd_config_of(ck);
    assert_int_equal(c->unet.n_blocks, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(c->unet.block_out_channels[i], 32);
        assert_int_equal(c->unet.attention_head_dim[i], 8);
        assert_int_equal(c->vae.block_out_channels[i], 32);
    }
    assert_string_equal(c->unet.down_block_types[0], "CrossAttnDownBlock2D");
    assert_string_equal(c->unet.down_block_types[3], "DownBlock2D");
    assert_string_equal(c->unet.up_block_types[0], "UpBlock2D");
    assert_int_equal(c->unet.layers_per_block, 2);
    assert_int_equal(c->unet.cross_attention_dim, 48);
    assert_int_equal(c->unet.norm_num_groups, 8);
    assert_int_equal(c->unet.sample_size, 8);
    assert_int_equal(c->unet.in_channels, 4);
    assert_int_equal(c->unet.use_linear_projection, 0);
    assert_int_equal(c->unet.flip_sin_to_cos, 1);
    assert_int_equal(c->vae.norm_num_groups, 8);
    assert_int_equal(c->vae.latent_channels, 4);
    assert_int_equal(c->vae.sample_size, 64);
    assert_true(c->vae.scaling_factor == 0.18215f);
    assert_int_equal(c->text.vocab_size, 1000);
    assert_int_equal(c->text.hidden_size, 48);
    assert_int_equal(c->text.num_hidden_layers, 2);
    assert_int_equal(c->text.num_attention_heads, 12);
    assert_int_equal(c->text.intermediate_size, 192);
    assert_string_equal(c->text.hidden_act, "quick_gelu");
    assert_int_equal(c->scheduler.num_train_timesteps, 1000);
    assert_true(c->scheduler.beta_start == 0.00085f && c->scheduler.beta_end == 0.012f);
    assert_string_equal(c->scheduler.beta_schedule, "scaled_linear");
    assert_int_equal(c->scheduler.steps_offset, 1);
    assert_string_equal(c->scheduler.timestep_spacing, "leading");
    assert_non_null(oma_sd_tokenizer_dir(ck));
    assert_non_null(strstr(oma_sd_tokenizer_dir(ck), "tiny-sd/tokenizer"));
    const oma_st_tensor *t = oma_sd_find(ck, "unet.conv_in.weight");
    assert_non_null(t);
    assert_string_equal(t->name, "unet.conv_in.weight");
    assert_int_equal(t->dtype, OMA_ST_F16);
    assert_string_equal(oma_sd_source_name(ck, "unet.conv_in.weight"), "conv_in.weight");
    assert_int_equal(oma_sd_find(ck, "text_encoder.text_model.final_layer_norm.weight")->dtype, OMA_ST_F32);
    oma_sd_close(ck);
}

static void test_single_file_inferred_config(void **s) {
    (void)s;
    oma_sd_checkpoint *ck = open_single(0);
    assert_int_equal(oma_sd_layout_of(ck), OMA_SD_SINGLE_FILE);
    const oma_sd_config *c = oma_sd_config_of(ck);
    /* what shapes show */
    assert_int_equal(c->unet.n_blocks, 4);
    for (int i = 0; i < 4; i++) assert_int_equal(c->unet.block_out_channels[i], 32);
    assert_string_equal(c->unet.down_block_types[2], "CrossAttnDownBlock2D");
    assert_string_equal(c->unet.down_block_types[3], "DownBlock2D");
    assert_string_equal(c->unet.up_block_types[0], "UpBlock2D");
    assert_string_equal(c->unet.up_block_types[1], "CrossAttnUpBlock2D");
    assert_int_equal(c->unet.layers_per_block, 2);
    assert_int_equal(c->unet.cross_attention_dim, 48);
    assert_int_equal(c->vae.n_blocks, 4);
    assert_int_equal(c->vae.layers_per_block, 2);
    assert_int_equal(c->vae.latent_channels, 4);
    assert_int_equal(c->text.vocab_size, 1000);
    assert_int_equal(c->text.hidden_size, 48);
    assert_int_equal(c->text.num_hidden_layers, 2);
    assert_int_equal(c->text.intermediate_size, 192);
    assert_int_equal(c->text.max_position_embeddings, 77);
    /* what they cannot show stays SD 1.x */
    assert_int_equal(c->unet.norm_num_groups, 32);
    assert_int_equal(c->unet.attention_head_dim[0], 8);
    assert_int_equal(c->text.num_attention_heads, 12);
    assert_true(c->vae.scaling_factor == 0.18215f);
    /* tokenizer/ beside the file */
    assert_non_null(oma_sd_tokenizer_dir(ck));
    assert_non_null(strstr(oma_sd_tokenizer_dir(ck), "single/tokenizer"));
    oma_sd_close(ck);
}

static void test_single_file_with_config_dir(void **s) {
    (void)s;
    oma_sd_checkpoint *a = open_folder(), *b = open_single(1);
    assert_memory_equal(oma_sd_config_of(a), oma_sd_config_of(b), sizeof(oma_sd_config));
    oma_sd_close(a);
    oma_sd_close(b);
}

/* The heart: every tensor, same name, same shape, same values, in both layouts. */
static void test_both_layouts_same_tensors(void **s) {
    (void)s;
    oma_sd_checkpoint *a = open_folder(), *b = open_single(1);
    char err[512];
    assert_true(oma_sd_count(a) > 900);
    assert_int_equal(oma_sd_count(a), oma_sd_count(b));
    size_t max = 0;
    for (size_t i = 0; i < oma_sd_count(a); i++)
        if ((size_t)oma_sd_at(a, i)->numel > max) max = (size_t)oma_sd_at(a, i)->numel;
    float *x = malloc(max * sizeof *x), *y = malloc(max * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    size_t reshaped = 0;
    for (size_t i = 0; i < oma_sd_count(a); i++) {
        const oma_st_tensor *ta = oma_sd_at(a, i);
        const oma_st_tensor *tb = oma_sd_find(b, ta->name);
        if (!tb) fail_msg("'%s' (folder) has no single-file counterpart", ta->name);
        if (oma_st_check_shape(tb, ta->ndim, ta->shape, err, sizeof err))
            fail_msg("%s (single-file source '%s')", err, oma_sd_source_name(b, ta->name));
        if (ta->dtype == OMA_ST_OTHER) {
            assert_string_equal(ta->dtype_str, tb->dtype_str);
            assert_int_equal(ta->nbytes, tb->nbytes);
            assert_memory_equal(ta->data, tb->data, ta->nbytes);
            continue;
        }
        if (oma_sd_read_f32(a, ta->name, ta->ndim, ta->shape, x, (size_t)ta->numel, err, sizeof err) ||
            oma_sd_read_f32(b, ta->name, ta->ndim, ta->shape, y, (size_t)ta->numel, err, sizeof err))
            fail_msg("%s", err);
        if (memcmp(x, y, (size_t)ta->numel * sizeof *x))
            fail_msg("'%s': values differ between layouts (single-file source '%s')", ta->name,
                     oma_sd_source_name(b, ta->name));
        reshaped += strstr(oma_sd_source_name(b, ta->name), "attn_1.q.weight") != NULL;
    }
    assert_int_equal(reshaped, 2); /* encoder and decoder attention q, [C,C,1,1] shown as [C,C] */
    free(x);
    free(y);
    /* spot checks of the mapping on SD 1.5 names */
    assert_string_equal(oma_sd_source_name(b, "unet.down_blocks.1.attentions.1.transformer_blocks.0.attn2.to_k.weight"),
                        "model.diffusion_model.input_blocks.5.1.transformer_blocks.0.attn2.to_k.weight");
    assert_string_equal(oma_sd_source_name(b, "unet.up_blocks.0.upsamplers.0.conv.weight"),
                        "model.diffusion_model.output_blocks.2.1.conv.weight");
    assert_string_equal(oma_sd_source_name(b, "unet.up_blocks.2.upsamplers.0.conv.bias"),
                        "model.diffusion_model.output_blocks.8.2.conv.bias");
    assert_string_equal(oma_sd_source_name(b, "vae.decoder.up_blocks.0.resnets.2.conv1.weight"),
                        "first_stage_model.decoder.up.3.block.2.conv1.weight");
    assert_null(oma_sd_find(b, "alphas_cumprod"));
    oma_sd_close(a);
    oma_sd_close(b);
}

static void test_map_original_names(void **s) {
    (void)s;
    static const char *const cases[][2] = {
        {"model.diffusion_model.input_blocks.0.0.weight", "unet.conv_in.weight"},
        {"model.diffusion_model.input_blocks.3.0.op.bias", "unet.down_blocks.0.downsamplers.0.conv.bias"},
        {"model.diffusion_model.input_blocks.10.0.emb_layers.1.weight", "unet.down_blocks.3.resnets.0.time_emb_proj.weight"},
        {"model.diffusion_model.input_blocks.4.0.skip_connection.weight", "unet.down_blocks.1.resnets.0.conv_shortcut.weight"},
        {"model.diffusion_model.middle_block.2.out_layers.3.weight", "unet.mid_block.resnets.1.conv2.weight"},
        {"model.diffusion_model.middle_block.1.proj_in.weight", "unet.mid_block.attentions.0.proj_in.weight"},
        {"model.diffusion_model.output_blocks.11.1.transformer_blocks.0.ff.net.0.proj.weight",
         "unet.up_blocks.3.attentions.2.transformer_blocks.0.ff.net.0.proj.weight"},
        {"model.diffusion_model.out.2.bias", "unet.conv_out.bias"},
        {"model.diffusion_model.time_embed.2.weight", "unet.time_embedding.linear_2.weight"},
        {"first_stage_model.encoder.down.1.downsample.conv.weight", "vae.encoder.down_blocks.1.downsamplers.0.conv.weight"},
        {"first_stage_model.encoder.down.1.block.0.nin_shortcut.bias", "vae.encoder.down_blocks.1.resnets.0.conv_shortcut.bias"},
        {"first_stage_model.decoder.up.1.upsample.conv.weight", "vae.decoder.up_blocks.2.upsamplers.0.conv.weight"},
        {"first_stage_model.decoder.mid.attn_1.norm.weight", "vae.decoder.mid_block.attentions.0.group_norm.weight"},
        {"first_stage_model.encoder.norm_out.bias", "vae.encoder.conv_norm_out.bias"},
        {"first_stage_model.post_quant_conv.weight", "vae.post_quant_conv.weight"},
        {"cond_stage_model.transformer.embeddings.token_embedding.weight",
         "text_encoder.text_model.embeddings.token_embedding.weight"},
        {"cond_stage_model.transformer.text_model.final_layer_norm.bias", "text_encoder.text_model.final_layer_norm.bias"},
        {"model_ema.decay", NULL},
        {"cond_stage_model.model.token_embedding.weight", NULL},
        {"model.diffusion_model.label_emb.0.0.weight", NULL},
    };
    char out[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = oma_sd_map_original_name(cases[i][0], out, sizeof out);
        if (cases[i][1] == NULL) {
            if (rc == 0)
                fail_msg("'%s' mapped to '%s', expected no mapping", cases[i][0], out);
            continue;
        }
        if (rc) fail_msg("'%s' not mapped", cases[i][0]);
        assert_string_equal(out, cases[i][1]);
    }
}

static void test_missing_and_wrong_shape(void **s) {
    (void)s;
    oma_sd_checkpoint *b = open_single(1);
    char err[512];
    const oma_st_tensor *t;
    int64_t sh[4] = {32, 4, 3, 3};
    assert_int_equal(oma_sd_get(b, "unet.conv_in.weight", 4, sh, &t, err, sizeof err), 0);
    assert_non_null(t);
    assert_int_equal(oma_sd_get(b, "unet.down_blocks.9.resnets.0.conv1.weight", 4, sh, &t, err, sizeof err), -1);
    assert_null(t);
    assert_non_null(strstr(err, "'unet.down_blocks.9.resnets.0.conv1.weight'"));
    assert_non_null(strstr(err, "missing"));
    int64_t bad[4] = {32, 4, 1, 1};
    assert_int_equal(oma_sd_get(b, "unet.conv_in.weight", 4, bad, &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "unet.conv_in.weight"));
    assert_non_null(strstr(err, "model.diffusion_model.input_blocks.0.0.weight"));
    assert_non_null(strstr(err, "expected [32,4,1,1]"));
    float f[4];
    int64_t pid[2] = {1, 77};
    assert_int_equal(oma_sd_read_f32(b, "text_encoder.text_model.embeddings.position_ids", 2, pid, f, 77,
                                     err, sizeof err), -1);
    assert_non_null(strstr(err, "I64"));
    oma_sd_close(b);
}

/* ---- broken inputs ---- */
static char tmpdir[64];

static void wr(const char *rel, const char *text) {
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void single_with(const char *extra_name, const char *path) {
    char err[256];
    oma_st_writer *w = oma_st_writer_new();
    assert_non_null(w);
    float z[9] = {0};
    int64_t sh[4] = {1, 1, 3, 3};
    assert_int_equal(oma_st_writer_add_f32(w, "model.diffusion_model.input_blocks.0.0.weight", OMA_ST_F32, 4,
                                           sh, z, err, sizeof err), 0);
    if (extra_name)
        assert_int_equal(oma_st_writer_add_f32(w, extra_name, OMA_ST_F32, 4, sh, z, err, sizeof err), 0);
    assert_int_equal(oma_st_writer_save(w, path, err, sizeof err), 0);
    oma_st_writer_free(w);
}

static void expect_open_error(const char *path, const char *config_dir, const char *needle) {
    char err[512] = "";
    oma_sd_open_opts o = {NULL, config_dir};
    oma_sd_checkpoint *ck = (oma_sd_checkpoint *)1;
    assert_int_equal(oma_sd_open_ex(path, &o, &ck, err, sizeof err), -1);
    assert_null(ck);
    if (!strstr(err, needle)) fail_msg("error '%s' lacks '%s'", err, needle);
}

static void test_broken_models(void **s) {
    (void)s;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/oma_ck_XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char p[256], fold[1200];
    fx(fold, sizeof fold, "tiny-sd");
    expect_open_error("/nonexistent/model", NULL, "no such model");
    /* a folder without weights */
    char d[256];
    snprintf(d, sizeof d, "%s/unet", tmpdir);
    assert_int_equal(mkdir(d, 0700), 0);
    snprintf(d, sizeof d, "%s/vae", tmpdir);
    assert_int_equal(mkdir(d, 0700), 0);
    snprintf(d, sizeof d, "%s/text_encoder", tmpdir);
    assert_int_equal(mkdir(d, 0700), 0);
    wr("unet/config.json", "{\"block_out_channels\": [32, 32], \"norm_num_groups\": 8}");
    wr("vae/config.json", "{}");
    wr("text_encoder/config.json", "{}");
    expect_open_error(tmpdir, NULL, "diffusion_pytorch_model.safetensors");
    wr("unet/diffusion_pytorch_model.bin", "pickle");
    expect_open_error(tmpdir, NULL, "pickle");
    /* broken configs name the file and key */
    wr("unet/config.json", "{\"block_out_channels\": [32, 32], \"norm_num_groups\": 7}");
    expect_open_error(tmpdir, NULL, "groups");
    wr("unet/config.json", "{\"block_out_channels\": \"many\"}");
    expect_open_error(tmpdir, NULL, "block_out_channels");
    wr("unet/config.json", "{\"layers_per_block\": 99999999999}");
    expect_open_error(tmpdir, NULL, "layers_per_block");
    wr("unet/config.json", "{\"attention_head_dim\": [8, 8]}");
    expect_open_error(tmpdir, NULL, "attention_head_dim");
    /* false/true are read as 0/1 and must be in range too (a 0 here was a division by zero) */
    wr("unet/config.json", "{\"block_out_channels\": [32, 32], \"norm_num_groups\": false}");
    expect_open_error(tmpdir, NULL, "norm_num_groups");
    wr("unet/config.json", "{\"block_out_channels\": [32, 32], \"attention_head_dim\": false}");
    expect_open_error(tmpdir, NULL, "attention_head_dim");
    wr("unet/config.json", "{\"block_out_channels\": [32, 32], \"norm_num_groups\": 8}");
    wr("text_encoder/config.json", "{\"num_attention_heads\": false}");
    expect_open_error(tmpdir, NULL, "num_attention_heads");
    wr("text_encoder/config.json", "{}");
    wr("unet/config.json", "{not json");
    expect_open_error(tmpdir, NULL, "unet/config.json");
    /* single files: foreign, SD 2.x, duplicate, empty of SD, truncated */
    snprintf(p, sizeof p, "%s/m.safetensors", tmpdir);
    single_with("model.diffusion_model.label_emb.0.0.weight", p);
    expect_open_error(p, NULL, "'model.diffusion_model.label_emb.0.0.weight'");
    single_with("cond_stage_model.model.transformer.resblocks.0.ln_1.weight", p);
    expect_open_error(p, NULL, "SD 2.x");
    single_with("model.diffusion_model.input_blocks.1.0.in_layers.2.weight", p);
    expect_open_error(p, NULL, "'vae.encoder.down_blocks.0.resnets.0.conv1.weight': missing");
    single_with(NULL, p);
    expect_open_error(p, NULL, "'unet.down_blocks.0.resnets.0.conv1.weight': missing");
    /* the single file with configs whose widths disagree with its tensors */
    expect_open_error(p, fold, "'unet.conv_in.weight'");
    oma_st_writer *w = oma_st_writer_new();
    float z[9] = {0};
    int64_t sh[4] = {1, 1, 3, 3};
    char err[256];
    assert_int_equal(oma_st_writer_add_f32(w, "alphas_cumprod", OMA_ST_F32, 4, sh, z, err, sizeof err), 0);
    assert_int_equal(oma_st_writer_save(w, p, err, sizeof err), 0);
    oma_st_writer_free(w);
    expect_open_error(p, NULL, "no Stable Diffusion tensors");
    w = oma_st_writer_new();
    assert_int_equal(oma_st_writer_add_f32(w, "cond_stage_model.transformer.text_model.final_layer_norm.bias",
                                           OMA_ST_F32, 4, sh, z, err, sizeof err), 0);
    assert_int_equal(oma_st_writer_add_f32(w, "cond_stage_model.transformer.final_layer_norm.bias",
                                           OMA_ST_F32, 4, sh, z, err, sizeof err), 0);
    assert_int_equal(oma_st_writer_save(w, p, err, sizeof err), 0);
    oma_st_writer_free(w);
    expect_open_error(p, NULL, "twice");
    /* truncated copy of the real single file */
    char src[1200];
    fx(src, sizeof src, "single/tiny-sd-v1.safetensors");
    FILE *in = fopen(src, "rb"), *out = fopen(p, "wb");
    assert_non_null(in);
    assert_non_null(out);
    char buf[65536];
    size_t total = 0, n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0 && total < 1000000) {
        fwrite(buf, 1, n, out);
        total += n;
    }
    fclose(in);
    fclose(out);
    expect_open_error(p, NULL, "beyond");
    /* an explicit tokenizer folder that is not one */
    oma_sd_open_opts o = {tmpdir, NULL};
    oma_sd_checkpoint *ck;
    char e2[512];
    assert_int_equal(oma_sd_open_ex(fold, &o, &ck, e2, sizeof e2), -1);
    assert_non_null(strstr(e2, "vocab.json"));
    /* clean up */
    const char *files[] = {"unet/config.json", "unet/diffusion_pytorch_model.bin", "vae/config.json",
                           "text_encoder/config.json", "m.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, files[i]);
        remove(p);
    }
    const char *dirs[] = {"unet", "vae", "text_encoder", ""};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", tmpdir, dirs[i]);
        rmdir(p);
    }
}

/* A folder as older diffusers saved it: VAE attention named query/key/value/proj_attn, and the
 * weights under the fp16 variant name. Must present the same tensors as the fixture folder. */
static void test_old_vae_names_and_fp16_variant(void **s) {
    (void)s;
    char dir[] = "/tmp/oma_ck_old_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p[512], q[1200], err[512];
    const char *subs[] = {"unet", "vae", "text_encoder"};
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, subs[i]);
        assert_int_equal(mkdir(p, 0700), 0);
        snprintf(p, sizeof p, "%s/%s/config.json", dir, subs[i]);
        snprintf(q, sizeof q, "%s/tiny-sd/%s/config.json", fixdir, subs[i]);
        assert_int_equal(symlink(q, p), 0);
    }
    snprintf(p, sizeof p, "%s/unet/diffusion_pytorch_model.safetensors", dir);
    snprintf(q, sizeof q, "%s/tiny-sd/unet/diffusion_pytorch_model.safetensors", fixdir);
    assert_int_equal(symlink(q, p), 0);
    snprintf(p, sizeof p, "%s/text_encoder/model.safetensors", dir);
    snprintf(q, sizeof q, "%s/tiny-sd/text_encoder/model.safetensors", fixdir);
    assert_int_equal(symlink(q, p), 0);
    snprintf(q, sizeof q, "%s/tiny-sd/vae/diffusion_pytorch_model.safetensors", fixdir);
    oma_safetensors *st;
    if (oma_st_open(q, &st, err, sizeof err)) fail_msg("%s", err);
    oma_st_writer *w = oma_st_writer_new();
    static const char *const ren[][2] = {{"to_q.", "query."}, {"to_k.", "key."}, {"to_v.", "value."},
                                         {"to_out.0.", "proj_attn."}};
    size_t renamed = 0;
    for (size_t i = 0; i < oma_st_count(st); i++) {
        const oma_st_tensor *t = oma_st_at(st, i);
        char name[300];
        snprintf(name, sizeof name, "%s", t->name);
        for (size_t k = 0; k < 4; k++) {
            char *at = strstr(name, ren[k][0]);
            if (at && strstr(name, "attentions.0.")) {
                char tail[200];
                snprintf(tail, sizeof tail, "%s", at + strlen(ren[k][0]));
                snprintf(at, sizeof name - (size_t)(at - name), "%s%s", ren[k][1], tail);
                renamed++;
                break;
            }
        }
        assert_int_equal(oma_st_writer_add(w, name, t->dtype, t->ndim, t->shape, t->data, err, sizeof err), 0);
    }
    assert_int_equal(renamed, 16); /* q,k,v,out x weight,bias x encoder,decoder */
    snprintf(p, sizeof p, "%s/vae/diffusion_pytorch_model.fp16.safetensors", dir);
    assert_int_equal(oma_st_writer_save(w, p, err, sizeof err), 0);
    oma_st_writer_free(w);
    oma_st_close(st);
    oma_sd_checkpoint *old;
    if (oma_sd_open(dir, NULL, &old, err, sizeof err)) fail_msg("%s", err);
    oma_sd_checkpoint *ref = open_folder();
    assert_int_equal(oma_sd_count(old), oma_sd_count(ref));
    for (size_t i = 0; i < oma_sd_count(ref); i++) {
        const oma_st_tensor *a = oma_sd_at(ref, i), *b = oma_sd_find(old, a->name);
        if (!b) fail_msg("'%s' missing from the old-style folder", a->name);
        assert_int_equal(a->nbytes, b->nbytes);
        assert_memory_equal(a->data, b->data, a->nbytes);
    }
    assert_string_equal(oma_sd_source_name(old, "vae.decoder.mid_block.attentions.0.to_out.0.weight"),
                        "decoder.mid_block.attentions.0.proj_attn.weight");
    assert_null(oma_sd_tokenizer_dir(old)); /* no tokenizer/ in that folder */
    oma_sd_close(old);
    oma_sd_close(ref);
    const char *files[] = {"unet/config.json", "unet/diffusion_pytorch_model.safetensors", "vae/config.json",
                           "vae/diffusion_pytorch_model.fp16.safetensors", "text_encoder/config.json",
                           "text_encoder/model.safetensors", "unet", "vae", "text_encoder"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        remove(p);
    }
    rmdir(dir);
}

/* ref/index.json is strict JSON (jansson reads it) and every file and tensor shape it lists is
 * what the safetensors files hold. */
static void test_fixture_index_consistent(void **s) {
    (void)s;
    char p[1200], err[512];
    fx(p, sizeof p, "ref/index.json");
    json_error_t je;
    json_t *ix = json_load_file(p, 0, &je);
    if (!ix) fail_msg("%s: %s (line %d)", p, je.text, je.line);
    json_t *files = json_object_get(ix, "files");
    assert_true(json_object_size(files) >= 8);
    const char *name;
    json_t *f;
    size_t checked = 0;
    json_object_foreach(files, name, f) {
        json_t *tensors = json_object_get(f, "tensors");
        if (!tensors) continue; /* tokens.json */
        fx(p, sizeof p, name);
        oma_safetensors *st;
        if (oma_st_open(p, &st, err, sizeof err)) fail_msg("%s", err);
        assert_int_equal(oma_st_count(st), json_object_size(tensors));
        const char *tn;
        json_t *shape;
        json_object_foreach(tensors, tn, shape) {
            const oma_st_tensor *t = oma_st_find(st, tn);
            if (!t) fail_msg("%s: no tensor '%s'", name, tn);
            int64_t sh[OMA_ST_MAX_DIMS];
            for (size_t k = 0; k < json_array_size(shape) && k < OMA_ST_MAX_DIMS; k++)
                sh[k] = json_integer_value(json_array_get(shape, k));
            if (oma_st_check_shape(t, (int)json_array_size(shape), sh, err, sizeof err))
                fail_msg("%s: %s", name, err);
            checked++;
        }
        oma_st_close(st);
    }
    assert_true(checked > 100);
    json_decref(ix);
}

int main(void) {
    const char *src = getenv("OMA_SOURCE_DIR");
    snprintf(fixdir, sizeof fixdir, "%s/tests/fixtures/sd", src ? src : "..");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_folder_config),
        cmocka_unit_test(test_single_file_inferred_config),
        cmocka_unit_test(test_single_file_with_config_dir),
        cmocka_unit_test(test_both_layouts_same_tensors),
        cmocka_unit_test(test_map_original_names),
        cmocka_unit_test(test_missing_and_wrong_shape),
        cmocka_unit_test(test_broken_models),
        cmocka_unit_test(test_old_vae_names_and_fp16_variant),
        cmocka_unit_test(test_fixture_index_consistent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
