/* test_ldm_yaml.c — a single-file checkpoint with its original LDM yaml
 * (tests/fixtures/sd_cfg/ldm-v, tools/make_cfg_fixtures.py): the yaml beside the file is picked
 * up and read as diffusers v0.21.4's conversion reads it (v-prediction, betas, scale factor,
 * 2-block UNet with attention at one level only, head width 8, linear projections, 3-block VAE,
 * 32 norm groups), the networks built from it match diffusers' converted UNet and VAE on their
 * own (odd-sized latents), --config with the file's path gives the same, and yamls that
 * contradict the tensors or state what the engine cannot build are refused by name. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/safetensors.h"
#include "models/sd/sd_checkpoint_internal.h"
#include "models/sd/sd_model.h"

#include "check.h"

static char dir[1024], tmp[1024];

static void check_config(const oma_sd_config *c)
{
    const oma_unet_config *u = &c->unet;
    const oma_vae_config *v = &c->vae;
    const oma_scheduler_config *s = &c->scheduler;
    CHECK(!strcmp(s->prediction_type, "v_prediction") && s->prediction_type_set == 1);
    CHECK(fabsf(s->beta_start - 0.001f) < 1e-9f && fabsf(s->beta_end - 0.015f) < 1e-9f);
    CHECK(s->num_train_timesteps == 1000 && s->steps_offset == 1 && !strcmp(s->beta_schedule, "scaled_linear"));
    CHECK(!strcmp(s->timestep_spacing, "leading") && s->timestep_spacing_set == 1);
    CHECK(fabsf(v->scaling_factor - 0.2f) < 1e-9f);
    CHECK(u->n_blocks == 2 && u->block_out_channels[0] == 32 && u->block_out_channels[1] == 64);
    CHECK(u->layers_per_block == 1 && u->attention_head_dim[0] == 4 && u->attention_head_dim[1] == 8);
    CHECK(!strcmp(u->down_block_types[0], "DownBlock2D") && !strcmp(u->down_block_types[1], "CrossAttnDownBlock2D"));
    CHECK(!strcmp(u->up_block_types[0], "CrossAttnUpBlock2D") && !strcmp(u->up_block_types[1], "UpBlock2D"));
    CHECK(u->use_linear_projection == 1 && u->cross_attention_dim == 48 && u->transformer_layers_per_block == 1);
    CHECK(u->norm_num_groups == 32 && u->sample_size == 192);  /* 768 / 4, as the conversion */
    CHECK(v->n_blocks == 3 && v->block_out_channels[0] == 32 && v->block_out_channels[2] == 64);
    CHECK(v->layers_per_block == 1 && v->latent_channels == 4 && v->norm_num_groups == 32);
}

static double max_err(const float *a, const float *b, size_t n, double *maxref)
{
    double e = 0;
    *maxref = 0;
    for (size_t i = 0; i < n; i++) {
        e = fmax(e, fabs((double)a[i] - b[i]));
        *maxref = fmax(*maxref, fabs(b[i]));
    }
    return e;
}

static void check_nets(const oma_sd_model *m, const char *src)
{
    char path[2048], err[512];
    snprintf(path, sizeof path, "%s/tests/fixtures/sd_cfg/ref/ldm_v_nets.safetensors", src);
    oma_safetensors *r = NULL;
    if (oma_st_open(path, &r, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        CHECK(!"reference missing");
        return;
    }
    snprintf(path, sizeof path, "%s/tests/fixtures/sd/ref/txt2img_ddim.safetensors", src);
    oma_safetensors *e = NULL;
    CHECK(oma_st_open(path, &e, err, sizeof err) == 0);
    static float x[4 * 11 * 6], want[4 * 11 * 6], ctx[2 * 77 * 48], z[4 * 5 * 7], dec[3 * 20 * 28];
    const oma_st_tensor *t;
    int ok = e && (t = oma_st_find(r, "sample")) && !oma_st_read_f32(t, x, 264, err, sizeof err) &&
             (t = oma_st_find(r, "out_t500")) && !oma_st_read_f32(t, want, 264, err, sizeof err) &&
             (t = oma_st_find(e, "prompt_embeds")) && !oma_st_read_f32(t, ctx, 2 * 77 * 48, err, sizeof err) &&
             (t = oma_st_find(r, "latent")) && !oma_st_read_f32(t, z, 140, err, sizeof err) &&
             (t = oma_st_find(r, "decoded")) && !oma_st_read_f32(t, dec, 3 * 20 * 28, err, sizeof err);
    CHECK(ok);
    if (ok) {
        oma_arena ar;
        oma_arena_init(&ar, 0);
        oma_tensor xs, cs, zs, out, img;
        oma_tensor_view(&xs, x, 4, (int64_t[]){1, 4, 11, 6});
        oma_tensor_view(&cs, ctx + 77 * 48, 3, (int64_t[]){1, 77, 48});
        oma_tensor_view(&zs, z, 4, (int64_t[]){1, 4, 5, 7});
        float ts = 500.0f;
        double ref, er;
        int rc = oma_unet_forward(&m->unet, &xs, &ts, &cs, &ar, &out, err, sizeof err);
        CHECK(rc == 0);
        if (rc == 0) {
            er = max_err(out.data, want, 264, &ref);
            printf("  UNet t=500 on [1,4,11,6] vs diffusers' conversion: max err %.3g (max |ref| %.3g)\n", er, ref);
            CHECK(er <= 1e-4 * (1 + ref));
        } else {
            fprintf(stderr, "unet: %s\n", err);
        }
        rc = oma_vae_decode(&m->vae, &zs, &ar, &img, err, sizeof err);
        CHECK(rc == 0 && img.shape[2] == 20 && img.shape[3] == 28);
        if (rc == 0 && img.shape[2] == 20) {
            er = max_err(img.data, dec, 3 * 20 * 28, &ref);
            printf("  VAE decode [1,4,5,7] -> [1,3,20,28]: max err %.3g (max |ref| %.3g)\n", er, ref);
            CHECK(er <= 1e-4 * (1 + ref));
        }
        oma_arena_destroy(&ar);
    }
    oma_st_close(e);
    oma_st_close(r);
}

/* A copy of the fixture file with yaml text beside it; the open must fail naming want. */
static void refused(const char *yaml_text, const char *want)
{
    char file[2048], yaml[2048], err[512] = "";
    snprintf(file, sizeof file, "%s/m.safetensors", tmp);
    snprintf(yaml, sizeof yaml, "%s/m.yaml", tmp);
    FILE *f = fopen(yaml, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(yaml_text, f);
    fclose(f);
    oma_sd_checkpoint *ck = NULL;
    int rc = oma_sd_open_ex(file, NULL, &ck, err, sizeof err);
    CHECK(rc == -1 && strstr(err, want) != NULL);
    if (rc != -1 || !strstr(err, want)) fprintf(stderr, "  wanted '%s', got rc %d '%s'\n", want, rc, err);
    else printf("  refused: %s\n", strstr(err, "m.yaml") ? strstr(err, "m.yaml") : err);
    oma_sd_close(ck);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[n] = 0, *len = (size_t)n;
    return b;
}

/* The fixture yaml with one line's text replaced. */
static void refused_edit(const char *base, const char *from, const char *to, const char *want)
{
    const char *at = strstr(base, from);
    CHECK(at != NULL);
    if (!at) return;
    size_t n = strlen(base) + strlen(to) + 1;
    char *s = malloc(n);
    CHECK(s != NULL);
    if (!s) return;
    snprintf(s, n, "%.*s%s%s", (int)(at - base), base, to, at + strlen(from));
    refused(s, want);
    free(s);
}

/* SD 1.x's own v1-inference.yaml numbers, in its layout (lists at the key's indent, flow lists,
 * comments, the scheduler_config and lossconfig blocks the engine ignores): must give exactly the
 * SD 1.x defaults the engine assumes for a single file without a yaml. */
static const char *V1_YAML =
    "model:\n"
    "  base_learning_rate: 1.0e-04\n"
    "  target: ldm.models.diffusion.ddpm.LatentDiffusion\n"
    "  params:\n"
    "    linear_start: 0.00085\n"
    "    linear_end: 0.0120\n"
    "    num_timesteps_cond: 1\n"
    "    log_every_t: 200\n"
    "    timesteps: 1000\n"
    "    first_stage_key: \"jpg\"\n"
    "    cond_stage_key: \"txt\"\n"
    "    image_size: 64\n"
    "    channels: 4\n"
    "    cond_stage_trainable: false   # Note: different from the one we trained before\n"
    "    conditioning_key: crossattn\n"
    "    monitor: val/loss_simple_ema\n"
    "    scale_factor: 0.18215\n"
    "    use_ema: False\n"
    "\n"
    "    scheduler_config: # 10000 warmup steps\n"
    "      target: ldm.lr_scheduler.LambdaLinearScheduler\n"
    "      params:\n"
    "        warm_up_steps: [ 10000 ]\n"
    "        cycle_lengths: [ 10000000000000 ] # incredibly large number to prevent corner cases\n"
    "        f_start: [ 1.e-6 ]\n"
    "        f_max: [ 1. ]\n"
    "        f_min: [ 1. ]\n"
    "\n"
    "    unet_config:\n"
    "      target: ldm.modules.diffusionmodules.openaimodel.UNetModel\n"
    "      params:\n"
    "        image_size: 32 # unused\n"
    "        in_channels: 4\n"
    "        out_channels: 4\n"
    "        model_channels: 320\n"
    "        attention_resolutions: [ 4, 2, 1 ]\n"
    "        num_res_blocks: 2\n"
    "        channel_mult: [ 1, 2, 4, 4 ]\n"
    "        num_heads: 8\n"
    "        use_spatial_transformer: True\n"
    "        transformer_depth: 1\n"
    "        context_dim: 768\n"
    "        use_checkpoint: True\n"
    "        legacy: False\n"
    "\n"
    "    first_stage_config:\n"
    "      target: ldm.models.autoencoder.AutoencoderKL\n"
    "      params:\n"
    "        embed_dim: 4\n"
    "        monitor: val/rec_loss\n"
    "        ddconfig:\n"
    "          double_z: true\n"
    "          z_channels: 4\n"
    "          resolution: 256\n"
    "          in_channels: 3\n"
    "          out_ch: 3\n"
    "          ch: 128\n"
    "          ch_mult:\n"
    "          - 1\n"
    "          - 2\n"
    "          - 4\n"
    "          - 4\n"
    "          num_res_blocks: 2\n"
    "          attn_resolutions: []\n"
    "          dropout: 0.0\n"
    "        lossconfig:\n"
    "          target: torch.nn.Identity\n"
    "\n"
    "    cond_stage_config:\n"
    "      target: ldm.modules.encoders.modules.FrozenCLIPEmbedder\n";

static void check_v1_defaults(void)
{
    char path[2048], err[512];
    snprintf(path, sizeof path, "%s/v1.yaml", tmp);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(V1_YAML, f);
    fclose(f);
    oma_sd_config want, got;
    oma_sd_config_defaults(&want);
    oma_sd_config_defaults(&got);
    memset(got.unet.attention_head_dim, 0, sizeof got.unet.attention_head_dim);   /* all must be set */
    got.unet.n_blocks = got.vae.n_blocks = 0;
    int rc = sd_parse_ldm_yaml(path, &got, err, sizeof err);
    CHECK(rc == 0);
    if (rc) {
        fprintf(stderr, "v1 yaml: %s\n", err);
        return;
    }
    /* what the yaml states equals the defaults; the yaml path marks its scheduler fields stated */
    want.scheduler.prediction_type_set = want.scheduler.timestep_spacing_set = 1;
    CHECK(!memcmp(&want.unet, &got.unet, sizeof want.unet));
    CHECK(!memcmp(&want.vae, &got.vae, sizeof want.vae));
    CHECK(!memcmp(&want.scheduler, &got.scheduler, sizeof want.scheduler));
    printf("  v1-inference.yaml layout -> the SD 1.x defaults: %s\n",
           !memcmp(&want.unet, &got.unet, sizeof want.unet) && !memcmp(&want.vae, &got.vae, sizeof want.vae) &&
                   !memcmp(&want.scheduler, &got.scheduler, sizeof want.scheduler)
               ? "identical"
               : "DIFFERENT");
}

int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    src = src ? src : ".";
    snprintf(dir, sizeof dir, "%s/tests/fixtures/sd_cfg/ldm-v", src);
    char file[2048], yaml[2048], err[512];
    snprintf(file, sizeof file, "%s/tiny-ldm-v.safetensors", dir);
    snprintf(yaml, sizeof yaml, "%s/tiny-ldm-v.yaml", dir);

    /* the yaml beside is picked up */
    oma_sd_checkpoint *ck = NULL;
    int rc = oma_sd_open_ex(file, NULL, &ck, err, sizeof err);
    CHECK(rc == 0);
    if (rc) fprintf(stderr, "open: %s\n", err);
    if (ck) {
        check_config(oma_sd_config_of(ck));
        CHECK(oma_sd_config_path(ck) && strstr(oma_sd_config_path(ck), "tiny-ldm-v.yaml"));
        oma_sd_close(ck);
    }
    /* --config FILE.yaml names it explicitly: same result */
    oma_sd_open_opts o = {NULL, yaml};
    oma_sd_model m;
    rc = oma_sd_model_load(file, &o, OMA_SD_LOAD_ENCODER, &m, err, sizeof err);
    CHECK(rc == 0);
    if (rc == 0) {
        check_config(&m.cfg);
        check_nets(&m, src);
        oma_sd_model_free(&m);
    } else {
        fprintf(stderr, "load: %s\n", err);
    }
    /* without the yaml the same file is misread (SD 1.x defaults): the yaml is what makes it work */
    snprintf(tmp, sizeof tmp, "/tmp/oma-ldm-yaml-%d", (int)getpid());
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s' && cp '%s' '%s/m.safetensors'", tmp, tmp, file, tmp);
    CHECK(system(cmd) == 0);
    snprintf(cmd, sizeof cmd, "%s/m.safetensors", tmp);
    rc = oma_sd_open_ex(cmd, NULL, &ck, err, sizeof err);
    if (rc == 0) {
        CHECK(strcmp(oma_sd_config_of(ck)->scheduler.prediction_type, "v_prediction") != 0);
        CHECK(oma_sd_config_path(ck) == NULL);
        oma_sd_close(ck);
    }
    check_v1_defaults();
    size_t len = 0;
    char *base = read_all(yaml, &len);
    CHECK(base != NULL);
    if (base) {
        refused_edit(base, "model_channels: 32", "model_channels: 64",
                     "the yaml says UNet block widths (model_channels x channel_mult) [64, 128], the checkpoint's "
                     "tensors [32, 64]");
        refused_edit(base, "attention_resolutions: [ 2 ]", "attention_resolutions: [ 1, 2 ]",
                     "cross-attention per level (attention_resolutions) [1, 1], the checkpoint's tensors [0, 1]");
        refused_edit(base, "          - 2\n          num_res_blocks", "          - 2\n          - 2\n          num_res_blocks",
                     "VAE block widths (ch x ch_mult) [32, 32, 64, 64]");
        refused_edit(base, "context_dim: 48", "context_dim: 768", "UNet context_dim [768], the checkpoint's tensors [48]");
        refused_edit(base, "use_linear_in_transformer: True", "use_linear_in_transformer: False",
                     "use_linear_in_transformer [0]");
        refused_edit(base, "parameterization: \"v\"", "parameterization: \"x0\"", "parameterization \"x0\" is not supported");
        refused_edit(base, "FrozenCLIPEmbedder", "FrozenOpenCLIPEmbedder",
                     "cond_stage_config.target ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder is not supported");
        refused_edit(base, "legacy: False", "legacy: False\n        use_scale_shift_norm: True",
                     "unet_config.params.use_scale_shift_norm = True is not supported");
        refused_edit(base, "legacy: False", "legacy: False\n        num_classes: sequential",
                     "unet_config.params.num_classes = sequential is not supported");
        refused_edit(base, "attn_resolutions: []", "attn_resolutions: [ 16 ]", "attention inside VAE blocks");
        refused_edit(base, "linear_start: 0.001", "linear_start: 0.02", "linear_start must be below linear_end");
        refused_edit(base, "scale_factor: 0.2", "scale_factor: &a 0.2", "anchors are not supported");
        refused_edit(base, "timesteps: 1000", "timesteps: many", "model.params.timesteps must be an integer");
        refused("model:\n  target: sgm.models.diffusion.DiffusionEngine\n  params:\n    network_config:\n      target: sgm.modules.diffusionmodules.openaimodel.UNetModel\n",
                "model.target sgm.models.diffusion.DiffusionEngine is not supported");
        refused("just: text\n", "model.params is missing");
        free(base);
    }
    /* --config naming something that is not there */
    oma_sd_open_opts bad = {NULL, "/nonexistent/x.yaml"};
    rc = oma_sd_open_ex(file, &bad, &ck, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "/nonexistent/x.yaml"));
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    CHECK(system(cmd) == 0);
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures != 0;
}
