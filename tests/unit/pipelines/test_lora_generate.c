/* test_lora_generate.c — LoRAs and embeddings against the reference, image for image.
 *
 * tests/fixtures/lora (tools/make_lora_fixtures.py) holds random LoRA/embedding files for the tiny
 * SD model in every format we read, and what diffusers v0.21.4 (its own loaders where it has them,
 * the formats' documented merge otherwise) draws with them: 4 DDIM steps, seed 1004, 64x64.
 * Our picture must match within the tolerances of test_sd_layouts (mean 0.5, max 2 of 255) and be
 * far from the plain run's (the LoRA did something); for one run of each format the patch is
 * applied by hand around the embed + denoise steps and the final latents are checked too (max
 * error <= 2e-5 * (1 + max |ref|), test_generate.c's tolerance), the other runs go through
 * oma_generate_styled whole (file variants, names, tags, 16-bit weights). After each run every UNet/text-encoder weight, the embedding table and the
 * tokenizer must be bit-for-bit those of a freshly loaded model. The attention-processor file
 * also as the torch .bin diffusers saved it, and the lora_pti file also with its keys in the
 * order diffusers <= 0.14 registered the layers (found by shape), give the same pictures. Also: <lora:NAME:W> and
 * embeddings by name from an OMA_MODELS-style folder, and 16-bit weights kept in memory.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "formats/image.h"
#include "models/sd/sd_lora_internal.h"
#include "pipelines/generate/generate.h"

#include "check.h"

static char root[1024], lroot[1024];
static json_t *g_index;

/* The final latents of the same run against the reference's (index.json), with the tolerance of
 * test_generate.c: max error <= 2e-5 * (1 + max |ref|). Patch applied by hand around
 * oma_generate_embed / oma_generate_embeds. */
static int latents_check(const char *key, oma_sd_model *m, const oma_generate_params *p, const oma_sd_lora *loras,
                         int n_loras, const char *const *embs, int n_embs, oma_image *img)
{
    json_t *want = json_object_get(json_object_get(json_object_get(g_index, "cases"), key), "final_latents");
    CHECK(json_array_size(want) == 256);
    if (json_array_size(want) != 256) return -1;
    char err[1024];
    oma_sd_patch *patch = NULL;
    CHECK(oma_sd_patch_apply(m, loras, (size_t)n_loras, embs, (size_t)n_embs, &patch, err, sizeof err) == 0);
    oma_arena ar;
    oma_arena_init(&ar, 1 << 22);
    oma_tensor neg, pos;
    float got[256];
    int rc = oma_generate_embed(m, p->negative, 0, &ar, &neg, err, sizeof err);
    if (rc == 0) rc = oma_generate_embed(m, p->prompt, 0, &ar, &pos, err, sizeof err);
    if (rc == 0) rc = oma_generate_embeds(m, p, &neg, &pos, img, got, err, sizeof err);
    CHECK(rc == 0);
    oma_sd_patch_restore(m, patch);
    if (rc == 0) {
        double maxerr = 0, maxref = 0;
        for (int i = 0; i < 256; i++) {
            double r = json_number_value(json_array_get(want, (size_t)i));
            maxref = fmax(maxref, fabs(r));
            maxerr = fmax(maxerr, fabs(got[i] - r));
        }
        printf("  %-22s final latents max err %.3g (max |ref| %.3g)\n", key, maxerr, maxref);
        CHECK(maxerr <= 2e-5 * (1 + maxref));
    }
    oma_arena_destroy(&ar);
    return rc;
}
static const char *PROMPT = "a city street at night in the rain";

/* Every LoRA-reachable weight, the token table and the tokenizer equal to the fresh model's. */
static int same_as_fresh(oma_sd_model *m, oma_sd_model *fresh)
{
    lora_targets a, b;
    char err[256];
    if (lora_targets_build(m, &a, err, sizeof err) || lora_targets_build(fresh, &b, err, sizeof err)) return 0;
    int same = a.n == b.n;
    for (size_t i = 0; same && i < a.n; i++) {
        const oma_tensor *wa = a.t[i].lin ? &a.t[i].lin->w : &a.t[i].conv->w;
        const oma_tensor *wb = b.t[i].lin ? &b.t[i].lin->w : &b.t[i].conv->w;
        const uint16_t *ha = a.t[i].lin ? a.t[i].lin->w16 : a.t[i].conv->w16;
        const uint16_t *hb = b.t[i].lin ? b.t[i].lin->w16 : b.t[i].conv->w16;
        size_t n = (size_t)oma_tensor_numel(wa);
        if ((ha == NULL) != (hb == NULL) || wa->ndim != wb->ndim || memcmp(wa->shape, wb->shape, sizeof wa->shape))
            same = 0;
        else if (ha) same = memcmp(ha, hb, n * 2) == 0 && wa->data == NULL;
        else same = memcmp(wa->data, wb->data, n * sizeof(float)) == 0;
        if (!same) fprintf(stderr, "  %s differs from the base weights\n", a.t[i].name);
    }
    same = same && m->text.tok_emb.shape[0] == fresh->text.tok_emb.shape[0] &&
           m->text.p.vocab_size == fresh->text.p.vocab_size &&
           memcmp(m->text.tok_emb.data, fresh->text.tok_emb.data,
                  (size_t)oma_tensor_numel(&m->text.tok_emb) * sizeof(float)) == 0 &&
           oma_clip_added_count(m->tok) == 0;
    lora_targets_free(&a);
    lora_targets_free(&b);
    return same;
}

static void diff(const oma_image *a, const oma_image *b, double *mean, int *mx)
{
    double s = 0;
    *mx = 0;
    for (int i = 0; i < a->w * a->h * 3; i++) {
        int d = abs((int)a->px[i] - (int)b->px[i]);
        s += d;
        *mx = d > *mx ? d : *mx;
    }
    *mean = s / (a->w * a->h * 3);
}

static int load_png(const char *name, oma_image *img)
{
    char p[2048], err[256];
    snprintf(p, sizeof p, "%s/%s", lroot, name);
    return oma_image_load(p, 3, NULL, img, err, sizeof err);
}

/* One generation with styles; compares with the reference picture and the plain one. */
static void run_case(const char *what, const char *key, oma_sd_model *m, oma_sd_model *fresh, const char *png,
                     const char *prompt,
                     const oma_sd_lora *loras, int n_loras, const char *const *embs, int n_embs, const char *models)
{
    char err[1024];
    oma_generate_params p;
    oma_generate_defaults(&p);
    p.prompt = prompt;
    p.negative = "lowres, bad anatomy, blurry, worst quality";
    p.steps = 4;
    p.cfg = 7.5f;
    p.sampler = OMA_SAMPLER_DDIM;
    p.seed = 1004;
    p.width = p.height = 64;
    p.loras = loras;
    p.n_loras = n_loras;
    p.embeddings = embs;
    p.n_embeddings = n_embs;
    p.models_dir = models;
    oma_image out = {0}, ref = {0}, base = {0};
    /* with a reference latent: the patch by hand around the embed + denoise steps (latents and
     * picture checked); otherwise the whole oma_generate_styled (picture checked) */
    int rc = key ? latents_check(key, m, &p, loras, n_loras, embs, n_embs, &out)
                 : oma_generate_styled(m, &p, &out, err, sizeof err);
    CHECK(rc == 0);
    if (rc != 0) fprintf(stderr, "  %s: %s\n", what, err);
    CHECK(load_png(png, &ref) == 0);
    CHECK(load_png("base.png", &base) == 0);
    if (rc == 0 && ref.px && base.px && out.w == ref.w && out.h == ref.h) {
        double mean, mb;
        int mx, mxb;
        diff(&out, &ref, &mean, &mx);
        diff(&out, &base, &mb, &mxb);
        printf("  %-22s vs diffusers: mean %.4f max %d of 255 (plain run: mean %.1f away)\n", what, mean, mx, mb);
        CHECK(mean <= 0.5 && mx <= 2);
        CHECK(mb > 3.0);
    }
    CHECK(same_as_fresh(m, fresh));
    oma_image_free(&out);
    oma_image_free(&ref);
    oma_image_free(&base);
}

static const char *L(const char *name)
{
    static char buf[8][2048];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", lroot, name);
    return buf[k];
}

static void all_cases(const char *tag, oma_sd_model *m, oma_sd_model *fresh)
{
    char pr[512], what[64];
#define W(x) (snprintf(what, sizeof what, "%s%s", tag, x), what)
    oma_sd_lora l1 = {L("kohya_locon.safetensors"), 1.0f, 1.0f};
    run_case(W("kohya+LoCon"), "kohya_locon", m, fresh, "kohya_locon.png", PROMPT, &l1, 1, NULL, 0, NULL);
    oma_sd_lora l1c = {L("kohya_compvis.safetensors"), 1.0f, 1.0f};
    run_case(W("kohya, CompVis names"), "kohya_compvis", m, fresh, "kohya_locon.png", PROMPT, &l1c, 1, NULL, 0, NULL);
    oma_sd_lora lh = {L("lyco_loha.safetensors"), 0.8f, 0.6f};
    run_case(W("LyCORIS LoHa"), "lyco_loha", m, fresh, "lyco_loha.png", PROMPT, &lh, 1, NULL, 0, NULL);
    oma_sd_lora lk = {L("lyco_lokr.safetensors"), 1.0f, 0.7f};
    run_case(W("LyCORIS LoKr"), "lyco_lokr", m, fresh, "lyco_lokr.png", PROMPT, &lk, 1, NULL, 0, NULL);
    oma_sd_lora l2 = {L("diffusers_attnproc.safetensors"), 1.0f, 1.0f};
    run_case(W("diffusers attn-proc"), "diffusers_attnproc", m, fresh, "diffusers_attnproc.png", PROMPT, &l2, 1, NULL, 0, NULL);
    oma_sd_lora l2b = {L("pytorch_lora_weights.bin"), 1.0f, 1.0f};
    run_case(W("diffusers .bin (torch)"), NULL, m, fresh, "diffusers_attnproc.png", PROMPT, &l2b, 1, NULL, 0, NULL);
    oma_sd_lora l3 = {L("diffusers_peft.safetensors"), 0.7f, 0.5f};
    run_case(W("diffusers PEFT-era"), "diffusers_peft", m, fresh, "diffusers_peft.png", PROMPT, &l3, 1, NULL, 0, NULL);
    oma_sd_lora l4 = {L("peft_unet/adapter_model.safetensors"), 0.5f, 0.5f};
    run_case(W("PEFT native"), "peft_native", m, fresh, "peft_native.png", PROMPT, &l4, 1, NULL, 0, NULL);
    oma_sd_lora l5 = {L("lora_pti.safetensors"), 0.8f, 0.9f};
    snprintf(pr, sizeof pr, "%s <s1><s2>", PROMPT);
    run_case(W("lora_pti <s1><s2>"), "lora_pti", m, fresh, "lora_pti.png", pr, &l5, 1, NULL, 0, NULL);
    oma_sd_lora l5b = {L("lora_pti_old_order.safetensors"), 0.8f, 0.9f};
    run_case(W("lora_pti, <=0.14 order"), NULL, m, fresh, "lora_pti.png", pr, &l5b, 1, NULL, 0, NULL);
    const char *embs[] = {L("myemb.pt"), L("kohyaemb.safetensors"), L("learned_embeds.safetensors"),
                          L("learned_embeds_dog.bin")};
    snprintf(pr, sizeof pr, "%s myemb kohyaemb <cat-toy> <dog>", PROMPT);
    run_case(W("4 embedding files"), "embeddings", m, fresh, "embeddings.png", pr, NULL, 0, embs, 4, NULL);
    oma_sd_lora l7[2] = {{L("style_bundle.safetensors"), 0.8f, 0.9f}, {L("second_locon.safetensors"), 0.5f, 0.5f}};
    snprintf(pr, sizeof pr, "%s s1s2", PROMPT);
    run_case(W("style + bundle_emb"), "style_bundle", m, fresh, "style_bundle.png", pr, l7, 2, NULL, 0, NULL);
#undef W
}

int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    snprintf(root, sizeof root, "%s/tests/fixtures/sd/tiny-sd", src ? src : ".");
    snprintf(lroot, sizeof lroot, "%s/tests/fixtures/lora", src ? src : ".");
    char err[512], ipath[2048];
    snprintf(ipath, sizeof ipath, "%s/index.json", lroot);
    json_error_t je;
    g_index = json_load_file(ipath, 0, &je);
    if (!g_index) {
        fprintf(stderr, "%s: %s\n", ipath, je.text);
        return 1;
    }
    oma_sd_model m, fresh, half;
    if (oma_sd_model_load(root, NULL, 0, &m, err, sizeof err) != 0 ||
        oma_sd_model_load(root, NULL, 0, &fresh, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    all_cases("", &m, &fresh);

    /* A1111 habits: <lora:NAME:W> from MODELS/Lora, embeddings by file name from MODELS/embeddings */
    char models[] = "/tmp/oma-lora-models-XXXXXX", a[2048], b[2048];
    CHECK(mkdtemp(models) != NULL);
    snprintf(a, sizeof a, "%s/Lora", models);
    snprintf(b, sizeof b, "%s/embeddings", models);
    char abs_l[2048];
    CHECK(realpath(lroot, abs_l) != NULL);
    CHECK(symlink(abs_l, a) == 0);
    CHECK(symlink(abs_l, b) == 0);
    char pr[512];
    snprintf(pr, sizeof pr, "%s <lora:diffusers_peft:0.5:0.7>", PROMPT);
    run_case("<lora:NAME:TE:UNET>", NULL, &m, &fresh, "diffusers_peft.png", pr, NULL, 0, NULL, 0, models);
    const char *embs2[] = {"learned_embeds", "learned_embeds_dog.bin"};
    snprintf(pr, sizeof pr, "%s myemb kohyaemb <cat-toy> <dog>", PROMPT);
    run_case("embeddings by name", NULL, &m, &fresh, "embeddings.png", pr, NULL, 0, embs2, 2, models);
    oma_sd_lora byname = {"lora_pti", 0.8f, 0.9f};
    snprintf(pr, sizeof pr, "%s <s1><s2>", PROMPT);
    run_case("--lora NAME", NULL, &m, &fresh, "lora_pti.png", pr, &byname, 1, NULL, 0, models);
    unlink(a);
    unlink(b);
    rmdir(models);

    /* 16-bit weights kept in memory: merged for the run, the 16-bit originals back afterwards */
    if (oma_sd_model_load(root, NULL, OMA_SD_LOAD_HALF, &half, err, sizeof err) == 0) {
        oma_sd_model fresh_half;
        if (oma_sd_model_load(root, NULL, OMA_SD_LOAD_HALF, &fresh_half, err, sizeof err) == 0) {
            oma_sd_lora l1 = {L("kohya_locon.safetensors"), 1.0f, 1.0f};
            run_case("half: kohya+LoCon", NULL, &half, &fresh_half, "kohya_locon.png", PROMPT, &l1, 1, NULL, 0, NULL);
            oma_sd_model_free(&fresh_half);
        }
        oma_sd_model_free(&half);
    } else {
        CHECK(!"half load");
    }
    oma_sd_model_free(&m);
    oma_sd_model_free(&fresh);
    json_decref(g_index);
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
