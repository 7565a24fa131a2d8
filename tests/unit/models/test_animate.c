/* test_animate.c — AnimateAnyone stage 1 in C against Moore-AnimateAnyone's own code on the tiny
 * fixture model (tests/fixtures/animate, made by tools/make_animate_fixtures.py).
 *
 * Both weight folders are loaded — tiny/ (torch.save .pth/.bin through the safe pickle reader)
 * and tiny-st/ (the F16 safetensors conversion; same numbers) — and each stage is compared with
 * what the reference computed: CLIP preprocessing and image embeddings, the reference latents
 * (VAE encoder mean * 0.18215), the PoseGuider features, every ReferenceNet bank (norm1 output;
 * the reader gets fp16 copies), the guided denoiser output of each of the 3 steps (fed the
 * reference's own step input, so one step's error does not hide in the next), and the decoded
 * image from the reference's final latents.
 * Tolerance as the SD conformance tests: max abs error <= 2e-5 * (1 + max |ref|) per tensor
 * (the banks: plus one fp16 rounding step, since a value next to a rounding boundary may round
 * the other way); the 8-bit image: mean abs difference <= 0.5, max <= 2 (as test_generate).
 * The same stages again at 72 x 120 (multiples of 8, not of 64: latents 9 x 15, odd both ways,
 * so both UNets upsample to the skip sizes as diffusers' forward_upsample_size path does),
 * against Moore's pipeline at that size (ref_72x120.safetensors; the inputs resized with Pillow
 * LANCZOS, as its VaeImageProcessor does).
 * Also: the folder report (present / missing / expected path) on a partial folder.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/image.h"
#include "formats/safetensors.h"
#include "models/animate/aa_model.h"

#include "check.h"

static char root[1024];
static oma_safetensors *gold;

static int get(const char *name, oma_tensor *t)
{
    char err[256];
    const oma_st_tensor *s = oma_st_find(gold, name);
    if (!s) {
        fprintf(stderr, "reference tensor %s missing\n", name);
        return -1;
    }
    int64_t shape[4] = {1, 1, 1, 1};
    int nd = s->ndim > 4 ? 4 : s->ndim;
    for (int i = 0; i < nd; i++) shape[i] = s->shape[i];
    if (oma_tensor_alloc(t, nd ? nd : 1, shape) != 0) return -1;
    if (oma_st_read_f32(s, t->data, (size_t)s->numel, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", name, err);
        oma_tensor_free(t);
        return -1;
    }
    return 0;
}

/* max |got - want| against tol * (1 + max |want|) (+ rel16 * |want| per value) */
static int compare_n(const char *what, const float *got, const float *want, int64_t n, double tol, double rel16)
{
    double maxref = 0, maxerr = 0, worst = 0;
    for (int64_t i = 0; i < n; i++) maxref = fmax(maxref, fabs(want[i]));
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - want[i]);
        if (isnan(e)) e = INFINITY;
        maxerr = fmax(maxerr, e);
        worst = fmax(worst, e - rel16 * fabs(want[i]));
    }
    int ok = worst <= tol * (1 + maxref);
    printf("  %-52s max err %.3g (max |ref| %.3g) %s\n", what, maxerr, maxref, ok ? "ok" : "FAIL");
    return ok;
}

static int compare(const char *what, const oma_tensor *got, const char *ref_name)
{
    oma_tensor want;
    if (get(ref_name, &want) != 0) return 0;
    int ok = oma_tensor_numel(got) == oma_tensor_numel(&want);
    if (!ok) fprintf(stderr, "%s: %lld values, reference %lld\n", what, (long long)oma_tensor_numel(got),
                     (long long)oma_tensor_numel(&want));
    else ok = compare_n(what, got->data, want.data, oma_tensor_numel(got), 2e-5, 0);
    oma_tensor_free(&want);
    return ok;
}

static int load_png(const char *name, oma_image *img)
{
    char p[2048], err[256];
    snprintf(p, sizeof p, "%s/%s", root, name);
    oma_image_limits lim = oma_image_default_limits();
    if (oma_image_load(p, 3, &lim, img, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", p, err);
        return -1;
    }
    return 0;
}

/* Moore's ReferenceNet blocks in execution order (down, mid, up) */
static const char *const banks[] = {
    "down_blocks.0.attentions.0", "down_blocks.1.attentions.0", "down_blocks.2.attentions.0",
    "mid_block.attentions.0",     "up_blocks.1.attentions.0",   "up_blocks.1.attentions.1",
    "up_blocks.2.attentions.0",   "up_blocks.2.attentions.1",   "up_blocks.3.attentions.0",
    "up_blocks.3.attentions.1"};

/* img resized to w x h (Pillow LANCZOS) in place, when it is not that size already */
static int resize_to(oma_image *img, int w, int h)
{
    if (img->w == w && img->h == h) return 0;
    oma_image r;
    if (oma_image_resize_pil(img, w, h, OMA_PIL_LANCZOS, &r) != 0) return -1;
    oma_image_free(img);
    *img = r;
    return 0;
}

/* every stage on the weights in sub against the reference run at w x h (in gold) */
static void run_folder(const char *sub, int w, int h)
{
    char dir[2048], err[1024] = "";
    snprintf(dir, sizeof dir, "%s/%s", root, sub);
    printf("%s at %dx%d:\n", sub, w, h);
    oma_aa_model m;
    if (oma_aa_model_load(&m, dir, err, sizeof err) != 0) {
        fprintf(stderr, "load %s: %s\n", dir, err);
        CHECK(0);
        return;
    }
    oma_arena ar;
    oma_arena_init(&ar, 0);
    oma_image character, pose;
    CHECK(load_png("character.png", &character) == 0);
    CHECK(load_png("pose.png", &pose) == 0);

    /* CLIP */
    oma_tensor px, emb, want;
    CHECK(oma_clip_preprocess(&character, 224, &px, err, sizeof err) == 0);
    CHECK(compare("clip pixels (Pillow bicubic + CLIP normalise)", &px, "clip_pixels"));
    oma_tensor_free(&px);
    CHECK(oma_aa_clip_embed(&m, &character, &ar, &emb, err, sizeof err) == 0);
    CHECK(compare("clip image_embeds", &emb, "clip_embeds"));

    /* reference latents, pose features (the pipeline resizes both pictures to the output size) */
    CHECK(resize_to(&character, w, h) == 0 && resize_to(&pose, w, h) == 0);
    {
        oma_tensor pin;
        int64_t ps[4] = {1, 3, h, w};
        CHECK(oma_tensor_alloc(&pin, 4, ps) == 0);
        for (int64_t i = 0; i < (int64_t)w * h; i++)
            for (int c = 0; c < 3; c++) pin.data[c * (int64_t)w * h + i] = (float)pose.px[i * 3 + c] / 255.0f;
        CHECK(compare("pose picture (Pillow LANCZOS to the output size)", &pin, "pose_in"));
        oma_tensor_free(&pin);
    }
    oma_tensor lat, pf;
    CHECK(oma_aa_ref_latents(&m, &character, &ar, &lat, err, sizeof err) == 0);
    CHECK(compare("reference latents (VAE mean * 0.18215)", &lat, "ref_latents"));
    CHECK(oma_aa_pose_features(&m, &pose, &ar, &pf, err, sizeof err) == 0);
    CHECK(compare("pose guider features", &pf, "pose_fea"));

    /* banks: use the reference's own latents and embeds so the ReferenceNet is checked alone */
    oma_tensor rl, re;
    CHECK(get("ref_latents", &rl) == 0 && get("clip_embeds", &re) == 0);
    int64_t ls[4] = {1, rl.shape[0], rl.shape[1], rl.shape[2]};
    oma_tensor_reshape(&rl, 4, ls);
    oma_ref_bank bank = {0};
    CHECK(oma_aa_reference(&m, &rl, &re, &bank, &ar, err, sizeof err) == 0);
    CHECK(bank.count == (int)(sizeof banks / sizeof banks[0]));
    for (int i = 0; i < bank.count && i < (int)(sizeof banks / sizeof banks[0]); i++) {
        char name[256], what[256];
        snprintf(name, sizeof name, "bank.%s.transformer_blocks.0", banks[i]);
        snprintf(what, sizeof what, "bank %s", banks[i]);
        if (get(name, &want) != 0) {
            CHECK(0);
            continue;
        }
        CHECK(oma_tensor_numel(&bank.feats[i]) == oma_tensor_numel(&want));
        /* against the reference's fp32 bank rounded to fp16 as Moore's update() does */
        for (int64_t j = 0; j < oma_tensor_numel(&want); j++) want.data[j] = oma_f16_to_f32(oma_f32_to_f16(want.data[j]));
        if (oma_tensor_numel(&bank.feats[i]) == oma_tensor_numel(&want))
            CHECK(compare_n(what, bank.feats[i].data, want.data, oma_tensor_numel(&want), 2e-5, 1.0 / 1024));
        oma_tensor_free(&want);
    }

    /* the three guided denoiser calls, each on the reference's own input */
    for (int s = 0; s < 3; s++) {
        char n_in[64], n_out[64], n_t[64], what[96];
        snprintf(n_in, sizeof n_in, "step%d.den_in", s);
        snprintf(n_out, sizeof n_out, "step%d.den_out", s);
        snprintf(n_t, sizeof n_t, "step%d.t", s);
        oma_tensor in, out, tt, v;
        if (get(n_in, &in) || get(n_out, &out) || get(n_t, &tt)) {
            CHECK(0);
            continue;
        }
        int64_t n = oma_tensor_numel(&in) / 2;
        int64_t xs[4] = {1, in.shape[1], in.shape[2], in.shape[3]};
        oma_tensor x;
        oma_tensor_view(&x, in.data, 4, xs);     /* row 0 (= row 1: the same latents) */
        oma_arena_mark mk = oma_arena_get_mark(&ar);
        CHECK(oma_aa_denoise(&m, &x, tt.data[0], &re, &pf, &bank, 3.5f, &ar, &v, err, sizeof err) == 0);
        /* the reference's guidance, in float32 as torch computes it */
        for (int64_t i = 0; i < n; i++) {
            float u = out.data[i], c = out.data[n + i];
            out.data[i] = u + 3.5f * (c - u);
        }
        snprintf(what, sizeof what, "step %d (t=%g): guided v", s, tt.data[0]);
        CHECK(compare_n(what, v.data, out.data, n, 2e-5, 0));
        oma_arena_release(&ar, mk);
        oma_tensor_free(&in);
        oma_tensor_free(&out);
        oma_tensor_free(&tt);
    }

    /* decode the reference's final latents */
    {
        oma_tensor fin, img, wimg;
        CHECK(get("step2.latents_after", &fin) == 0);
        CHECK(oma_aa_decode(&m, &fin, &ar, &img, err, sizeof err) == 0);
        CHECK(compare("decoded image [0, 1]", &img, "image"));
        CHECK(get("image", &wimg) == 0);
        /* 8-bit: the original truncates x * 255 */
        int64_t n = oma_tensor_numel(&wimg);
        double sum = 0, mx = 0;
        for (int64_t i = 0; i < n; i++) {
            double d = fabs(floor(img.data[i] * 255.0f) - floor(wimg.data[i] * 255.0f));
            sum += d;
            mx = fmax(mx, d);
        }
        printf("  8-bit image: mean abs diff %.4f, max %.0f\n", sum / n, mx);
        CHECK(sum / n <= 0.5 && mx <= 2);
        oma_tensor_free(&fin);
        oma_tensor_free(&wimg);
    }
    if (err[0]) fprintf(stderr, "last error: %s\n", err);
    oma_ref_bank_free(&bank);
    oma_tensor_free(&rl);
    oma_tensor_free(&re);
    oma_image_free(&character);
    oma_image_free(&pose);
    oma_arena_destroy(&ar);
    oma_aa_model_free(&m);
}

static void folder_report(void)
{
    char tmp[] = "/tmp/oma-aa-XXXXXX", p[2048], rep[4096];
    CHECK(mkdtemp(tmp) != NULL);
    snprintf(p, sizeof p, "%s/pose_guider.pth", tmp);
    FILE *f = fopen(p, "wb");
    if (f) fclose(f);
    oma_aa_files fs;
    CHECK(oma_aa_files_find(tmp, &fs) == 4);
    oma_aa_files_report(&fs, rep, sizeof rep);
    printf("%s", rep);
    CHECK(strstr(rep, "present  PoseGuider") != NULL);
    CHECK(strstr(rep, "missing  denoising UNet") != NULL);
    CHECK(strstr(rep, "/denoising_unet.pth or .safetensors") != NULL);
    CHECK(strstr(rep, "image_encoder/pytorch_model.bin") != NULL);
    oma_aa_model m;
    char err[4096];
    CHECK(oma_aa_model_load(&m, tmp, err, sizeof err) == -1);
    CHECK(strstr(err, "weights missing") != NULL);
    unlink(p);
    rmdir(tmp);
}

static int open_gold(const char *name)
{
    char p[2048], err[256];
    snprintf(p, sizeof p, "%s/%s", root, name);
    if (oma_st_open(p, &gold, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", p, err);
        return -1;
    }
    return 0;
}

int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    snprintf(root, sizeof root, "%s/tests/fixtures/animate", src ? src : ".");
    if (open_gold("ref.safetensors") != 0) return 1;
    run_folder("tiny", 64, 128);
    run_folder("tiny-st", 64, 128);
    oma_st_close(gold);
    if (open_gold("ref_72x120.safetensors") != 0) return 1;
    run_folder("tiny", 72, 120);
    oma_st_close(gold);
    folder_report();
    return failures != 0;
}
