/* test_generate_draft.c — draft mode (DeepCache feature reuse) against DeepCache's own code.
 *
 * tests/fixtures/sd/draft (tools/make_draft_fixtures.py) holds, per case, the final latents of
 * DeepCache's DeepCacheSDHelper wrapped around diffusers v0.21.4's UNet on the tiny SD model in
 * StableDiffusionPipeline's loop (64x64, CFG 7.5, the embeddings of ref/txt2img_ddim, the case's
 * sampler, steps, seed, cache_interval, cache_branch_id; one img2img), and the same run without
 * DeepCache. Checked per case: our draft run (params.draft = interval, draft_branch = branch)
 * lands on DeepCache's latents within 2e-5 * (1 + max |ref|) as the other SD tests; our full run
 * on the full latents; and the draft differs from the full run by far more than that (a draft
 * that silently ran the whole UNet fails). Printed: how far the draft image is from the full
 * one (8-bit mean / max of 255), the error README's "Draft mode" states, and the share of UNet
 * passes that took the shallow path. Also: bad draft params are refused, the parameters text
 * says Draft. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/sd/sd_checkpoint_internal.h"
#include "pipelines/generate/generate.h"
#include "tensor/threadpool.h"

#include "sd_fixture_harness.h"

typedef struct {
    const char *file;
    oma_sampler_kind kind;
    int steps, seed, interval, branch;
    float strength;
} draft_case;

/* the cases of tools/make_draft_fixtures.py */
static const draft_case cases[] = {
    {"ddim_n3_b0", OMA_SAMPLER_DDIM, 10, 4000, 3, 0, 0.0f},
    {"ddim_n3_b1", OMA_SAMPLER_DDIM, 10, 4001, 3, 1, 0.0f},
    {"ddim_n2_b4", OMA_SAMPLER_DDIM, 9, 4002, 2, 4, 0.0f},
    {"ddim_n5_b0", OMA_SAMPLER_DDIM, 12, 4003, 5, 0, 0.0f},
    {"dpmpp2m_karras_n3_b0", OMA_SAMPLER_DPMPP_2M_KARRAS, 10, 4004, 3, 0, 0.0f},
    {"euler_a_n3_b0", OMA_SAMPLER_EULER_A, 10, 4005, 3, 0, 0.0f},
    {"i2i_ddim_n3_b0", OMA_SAMPLER_DDIM, 10, 4006, 3, 0, 0.55f},
};

static oma_image init_img;

static double max_err(const float *a, const float *b, double *maxref)
{
    double m = 0;
    *maxref = 0;
    for (int i = 0; i < 256; i++) {
        *maxref = fmax(*maxref, fabs(b[i]));
        m = fmax(m, fabs((double)a[i] - b[i]));
    }
    return m;
}

static void run_case(const oma_sd_model *m, const sd_case *base, const draft_case *dc)
{
    char rel[256], err[512];
    snprintf(rel, sizeof rel, "draft/%s.safetensors", dc->file);
    oma_safetensors *ref = open_st(rel);
    float want_draft[256], want_full[256], lat_draft[256], lat_full[256];
    CHECK(read_ref(ref, "final_latents", want_draft, 256) == 0);
    CHECK(read_ref(ref, "full_latents", want_full, 256) == 0);
    oma_st_close(ref);

    oma_generate_params p = base->p;
    oma_generate_times tm;
    p.sampler = dc->kind;
    p.seed = (uint64_t)dc->seed;
    p.steps = dc->steps;
    p.init = dc->strength > 0 ? &init_img : NULL;
    p.strength = dc->strength;
    p.times = &tm;
    oma_image full = {0}, draft = {0};
    int r = oma_generate_embeds(m, &p, &base->neg, &base->pos, &full, lat_full, err, sizeof err);
    CHECK(r == 0);
    CHECK(tm.draft_passes == 0);
    p.draft = dc->interval, p.draft_branch = dc->branch;
    int r2 = oma_generate_embeds(m, &p, &base->neg, &base->pos, &draft, lat_draft, err, sizeof err);
    CHECK(r2 == 0);
    if (r != 0 || r2 != 0) {
        fprintf(stderr, "%s: %s\n", dc->file, err);
        oma_image_free(&full);
        oma_image_free(&draft);
        return;
    }
    /* passes on the shallow path: every step but those (i - first) % N == 0 */
    int n = tm.unet_passes, want_reuse = n - (n + dc->interval - 1) / dc->interval;
    CHECK(tm.draft_passes == want_reuse);
    double ref_d, ref_f, dummy;
    double e_draft = max_err(lat_draft, want_draft, &ref_d);
    double e_full = max_err(lat_full, want_full, &ref_f);
    double gap = max_err(want_draft, want_full, &dummy);
    double tol_d = 2e-5 * (1 + ref_d), tol_f = 2e-5 * (1 + ref_f);
    double sum = 0, mx = 0;
    for (int i = 0; i < 64 * 64 * 3; i++) {
        double d = fabs((double)draft.px[i] - full.px[i]);
        sum += d;
        mx = fmax(mx, d);
    }
    int ok = e_draft <= tol_d && e_full <= tol_f && gap > 100 * tol_d;
    printf("  %-22s %-16s N=%d branch %d: vs DeepCache max err %.3g, full vs diffusers %.3g (max |ref| %.3g); "
           "draft vs full latents max %.3g, image mean %.2f max %.0f of 255; %d/%d passes shallow %s\n",
           dc->file, oma_sampler_name(dc->kind), dc->interval, dc->branch, e_draft, e_full, ref_d, gap,
           sum / (64 * 64 * 3), mx, tm.draft_passes, n, ok ? "ok" : "FAIL");
    CHECK(e_draft <= tol_d);
    CHECK(e_full <= tol_f);
    CHECK(gap > 100 * tol_d);
    oma_image_free(&full);
    oma_image_free(&draft);
}

static void bad_params(const oma_sd_model *m, const sd_case *base)
{
    char err[512], text[4096];
    oma_generate_params p = base->p;
    oma_image out = {0};
    float lat[256];
    p.draft = 1;        /* 1 would be the full UNet every step: refused, as 21 and negatives */
    CHECK(oma_generate_check(&p, err, sizeof err) != 0 && strstr(err, "draft") != NULL);
    p.draft = OMA_GEN_MAX_DRAFT + 1;
    CHECK(oma_generate_check(&p, err, sizeof err) != 0);
    p.draft = -3;
    CHECK(oma_generate_check(&p, err, sizeof err) != 0);
    p.draft = 3, p.draft_branch = -1;
    CHECK(oma_generate_check(&p, err, sizeof err) != 0);
    p.draft_branch = 12;  /* the tiny UNet has 4 blocks x 3 branches: 0..11 */
    CHECK(oma_generate_check(&p, err, sizeof err) == 0);
    CHECK(oma_generate_embeds(m, &p, &base->neg, &base->pos, &out, lat, err, sizeof err) == -1);
    CHECK(strstr(err, "branch") != NULL);
    p.draft_branch = 11;
    CHECK(oma_generate_embeds(m, &p, &base->neg, &base->pos, &out, lat, err, sizeof err) == 0);
    oma_image_free(&out);
    CHECK(oma_generate_parameters_text(&p, 7, text, sizeof text) == 0);
    CHECK(strstr(text, ", Draft: DeepCache N=3 branch 11") != NULL);
    p.draft = 0;
    CHECK(oma_generate_parameters_text(&p, 7, text, sizeof text) == 0);
    CHECK(strstr(text, "Draft") == NULL);
}

int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    snprintf(root, sizeof root, "%s/tests/fixtures/sd", src ? src : ".");
    f_unet = open_st("tiny-sd/unet/diffusion_pytorch_model.safetensors");
    f_vae = open_st("tiny-sd/vae/diffusion_pytorch_model.safetensors");
    oma_sd_model m;
    memset(&m, 0, sizeof m);
    tiny_config(&m.cfg);
    oma_weights w = {.ctx = NULL, .read = fx_read, .has = fx_has};
    char err[512];
    CHECK(oma_unet_load(&m.unet, &w, "unet", &m.cfg.unet, err, sizeof err) == 0);
    CHECK(oma_vae_load(&m.vae, &w, "vae", &m.cfg.vae, 1, err, sizeof err) == 0);
    m.has_encoder = 1;
    (void)latent_error;
    (void)image_diff;
    if (m.unet.loaded && m.vae.loaded) {
        sd_case base;
        char path[2048];
        snprintf(path, sizeof path, "%s/ref/init.png", root);
        CHECK(oma_image_load(path, 3, NULL, &init_img, err, sizeof err) == 0);
        if (case_open(&base, "txt2img_ddim.safetensors", OMA_SAMPLER_DDIM, 0, NULL, 0) == 0) {
            for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run_case(&m, &base, &cases[i]);
            bad_params(&m, &base);
            case_close(&base);
        }
        oma_image_free(&init_img);
    }
    oma_unet_free(&m.unet);
    oma_vae_free(&m.vae);
    oma_st_close(f_unet);
    oma_st_close(f_vae);
    oma_threads_shutdown();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_generate_draft: ok\n");
    return 0;
}
