/* test_train_reference.c — the style recipe's training loop against PyTorch: the tiny fixture
 * model, the images, VAE noise, initial rows/adapters and per-micro-step draws that
 * tools/train_reference.py made and used (tests/fixtures/train/reference.safetensors), 5
 * updates of each stage (gradient accumulation 2). Within 1e-4 relative: the cached latents,
 * the loss of every micro-step, the first LoRA update's gradients (every adapter, and the rows)
 * and the embedding rows after each stage. The LoRA adapters after the 5 Adam updates: within
 * 5e-3 of each tensor's scale (4.48e-3 now; 293 of the 304 tensors within 1e-4). Why not 1e-4:
 * the tensors past it are all `up` factors, and their worst element (printed) had a first
 * gradient of 1e-9..2e-7 — Adam's eps (1e-8) — a sum whose terms cancel, so float32 summation
 * order moves it by percents and Adam's g / (|g| + eps) makes that percents of a whole step:
 * which element is worst is a lottery that any last-bit change redraws (the noise schedule made
 * exactly torch's moved it from 2.48e-3 to 4.48e-3 while every adapter element together came
 * closer to torch). So the adapters as a whole are measured too: the root of summed squared
 * differences over all their elements, of float64's, must stay under 9e-7 of torch float32
 * (8.16e-7 now; 9.55e-7 with the float cumprod schedule of before).
 * Against torch's float64 run on the same draws (reference64.safetensors, tools/train_reference.py
 * --float64 --write) ours is 2.48e-3 and torch float32 1.99e-3: ours must stay within 1.5x
 * torch float32's own distance. */
#include "check.h"
#include "formats/safetensors.h"
#include "models/sd/sd_model.h"
#include "train/schedule.h"
#include "train/style_data.h"
#include "train/style_trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static oma_safetensors *fx, *fx64;     /* torch float32 (the loop's draws), torch float64 */
static char err[512];

static float *get_from(oma_safetensors *f, const char *name, int64_t *n)
{
    const oma_st_tensor *t = oma_st_find(f, name);
    if (!t) {
        fprintf(stderr, "fixture lacks %s\n", name);
        exit(1);
    }
    float *d = malloc((size_t)t->numel * sizeof(float));
    if (!d || oma_st_read_f32(t, d, (size_t)t->numel, err, sizeof err) != 0)
        exit(1);
    if (n)
        *n = t->numel;
    return d;
}

static float *get(const char *name, int64_t *n) { return get_from(fx, name, n); }

static double meta(const char *k)
{
    const char *v = oma_st_metadata(fx, k);
    if (!v) {
        fprintf(stderr, "fixture metadata lacks %s\n", k);
        exit(1);
    }
    return atof(v);
}

/* max |a - b| over max |b| (relative to the tensor's scale) */
static double rel(const float *a, const float *b, int64_t n)
{
    double d = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
        if (fabs((double)a[i] - b[i]) > d)
            d = fabs((double)a[i] - b[i]);
        if (fabs((double)b[i]) > s)
            s = fabs((double)b[i]);
    }
    return s > 0 ? d / s : d;
}

/* the same on the change from a start value: what training did */
static double rel_delta(const float *a, const float *b, const float *init, int64_t n)
{
    double d = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
        if (fabs((double)a[i] - b[i]) > d)
            d = fabs((double)a[i] - b[i]);
        if (fabs((double)b[i] - init[i]) > s)
            s = fabs((double)b[i] - init[i]);
    }
    return s > 0 ? d / s : d;
}

/* The first LoRA update's accumulated gradients (every adapter, both factors, and the rows)
 * against torch's, relative to each tensor's largest gradient. */
static void check_gradients(oma_style_trainer *tr)
{
    double worst = 0;
    for (int a = 0; a < tr->net.n; a++) {
        oma_lora *l = &tr->net.a[a].lora;
        for (int f = 0; f < 2; f++) {
            char key[256];
            snprintf(key, sizeof key, "grad0.%s.%s", tr->net.a[a].name, f ? "up" : "down");
            int64_t n;
            float *g = get(key, &n);
            const oma_tensor *mine = f ? &l->g_up : &l->g_down;
            CHECK(n == oma_tensor_numel(mine));
            double r = rel(mine->data, g, n);
            if (r > worst)
                worst = r;
            if (r >= 1e-4)
                printf("%s: gradient rel %.2e\n", key, r);
            CHECK(r < 1e-4);
            free(g);
        }
    }
    float *ge = get("grad0.emb", NULL);
    double re = rel(tr->g_emb, ge, 2 * tr->hidden);
    printf("first LoRA update's gradients: adapters worst rel %.2e, rows %.2e\n", worst, re);
    CHECK(re < 1e-4);
    free(ge);
}

int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/train/reference.safetensors", src ? src : ".");
    if (oma_st_open(path, &fx, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    snprintf(path, sizeof path, "%s/tests/fixtures/train/reference64.safetensors", src ? src : ".");
    if (oma_st_open(path, &fx64, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    int n_images = (int)meta("n_images"), res = (int)meta("res"), rank = (int)meta("rank");
    int accum = (int)meta("accum"), updates = (int)meta("updates");
    double lr_ti = meta("lr_ti"), lr_unet = meta("lr_unet"), lr_text = meta("lr_text");
    double lr_emb = meta("lr_emb");

    oma_sd_model m;
    snprintf(path, sizeof path, "%s/tests/fixtures/sd/tiny-sd", src ? src : ".");
    if (oma_sd_model_load(path, NULL, OMA_SD_LOAD_ENCODER, &m, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    oma_style_trainer tr;
    if (oma_style_trainer_init(&tr, &m, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    CHECK(tr.net.n == (int)meta("n_adapters"));

    /* samples: VAE encode + sample, captions */
    float *images = get("images", NULL), *vnoise = get("vae_noise", NULL);
    float *want_lat = get("latents", NULL), *tpl = get("templates", NULL), *want_ids = get("ids", NULL);
    int64_t lh = res / 8, lat_n = 4 * lh * lh;
    float *lat = malloc(sizeof(float) * (size_t)lat_n);
    for (int i = 0; i < n_images; i++) {
        CHECK(oma_style_trainer_encode(&tr, images + (int64_t)i * 3 * res * res, res,
                                       vnoise + i * lat_n, lat, err, sizeof err) == 0);
        double r = rel(lat, want_lat + i * lat_n, lat_n);
        printf("image %d: latent rel %.2e\n", i, r);
        CHECK(r < 1e-4);
        int32_t ids[77];
        CHECK(oma_style_caption_ids(m.tok, (int)tpl[i], m.text.p.vocab_size, ids, err,
                                    sizeof err) == 0);
        for (int k = 0; k < 77; k++)
            CHECK(ids[k] == (int32_t)want_ids[i * 77 + k]);
        /* train on torch's latent so that stage differences are the loop's own */
        CHECK(oma_style_trainer_add_sample(&tr, want_lat + i * lat_n, lh, lh, ids, err,
                                           sizeof err) == 0);
    }

    float *emb0 = get("emb_init", NULL);
    memcpy(tr.emb, emb0, sizeof(float) * (size_t)(2 * tr.hidden));
    float *samples = get("samples", NULL), *ts = get("timesteps", NULL), *noise = get("noise", NULL);
    int64_t n_loss;
    float *want_loss = get("loss", &n_loss);
    CHECK(n_loss == 2 * updates * accum);
    int step = 0;
    double worst_loss = 0;
    for (int stage = 1; stage <= 2; stage++) {
        if (stage == 1)
            CHECK(oma_style_trainer_begin_ti(&tr, lr_ti, err, sizeof err) == 0);
        else {
            CHECK(oma_style_trainer_begin_lora(&tr, rank, NULL, NULL, lr_unet, lr_text, lr_emb,
                                               err, sizeof err) == 0);
            for (int a = 0; a < tr.net.n; a++) {
                char key[256];
                snprintf(key, sizeof key, "lora_init.%s", tr.net.a[a].name);
                int64_t n;
                float *d = get(key, &n);
                CHECK(n == oma_tensor_numel(&tr.net.a[a].lora.down));
                memcpy(tr.net.a[a].lora.down.data, d, sizeof(float) * (size_t)n);
                free(d);
            }
        }
        for (int k = 0; k < updates; k++) {
            for (int a = 0; a < accum; a++, step++) {
                float loss = NAN;
                int rc = oma_style_trainer_micro(&tr, (int)samples[step], noise + step * lat_n,
                                                 (int)ts[step], 1.0f / (float)accum, &loss, err,
                                                 sizeof err);
                if (rc)
                    fprintf(stderr, "%s\n", err);
                CHECK(rc == 0);
                double r = fabs((double)loss - want_loss[step]) / fabs((double)want_loss[step]);
                if (r > worst_loss)
                    worst_loss = r;
                printf("stage %d step %2d: loss %.6f torch %.6f (rel %.1e)\n", stage, step, loss,
                       want_loss[step], r);
                CHECK(r < 1e-4);
            }
            if (stage == 2 && k == 0)
                check_gradients(&tr);
            oma_style_trainer_update(&tr, oma_schedule_factor(OMA_SCHED_LINEAR, k, 0, updates));
        }
        int64_t ne = 2 * tr.hidden;
        float *want = get(stage == 1 ? "emb_after_ti" : "emb_final", NULL);
        double r = rel(tr.emb, want, ne), rd = rel_delta(tr.emb, want, emb0, ne);
        printf("stage %d: embedding rows rel %.2e, of the change %.2e\n", stage, r, rd);
        CHECK(r < 1e-4);
        CHECK(rd < 1e-3);
        free(want);
    }
    double worst = 0, worst_d = 0, w64_ours = 0, w64_torch = 0;
    double ss_o64 = 0, ss_t64 = 0, ss_ot = 0, ss_ref = 0;
    int n_tight = 0;
    for (int a = 0; a < tr.net.n; a++) {
        char key[256];
        oma_lora *l = &tr.net.a[a].lora;
        snprintf(key, sizeof key, "lora.%s.down", tr.net.a[a].name);
        float *d = get(key, NULL);
        snprintf(key, sizeof key, "lora_init.%s", tr.net.a[a].name);
        float *d0 = get(key, NULL);
        snprintf(key, sizeof key, "lora.%s.up", tr.net.a[a].name);
        float *u = get(key, NULL);
        double r1 = rel(l->down.data, d, oma_tensor_numel(&l->down));
        double r2 = rel(l->up.data, u, oma_tensor_numel(&l->up));
        /* both float32 runs against torch's float64 run on the same draws */
        for (int f = 0; f < 2; f++) {
            snprintf(key, sizeof key, "lora.%s.%s", tr.net.a[a].name, f ? "up" : "down");
            int64_t n;
            float *x64 = get_from(fx64, key, &n);
            const float *ours = f ? l->up.data : l->down.data, *torch32 = f ? u : d;
            w64_ours = fmax(w64_ours, rel(ours, x64, n));
            w64_torch = fmax(w64_torch, rel(torch32, x64, n));
            for (int64_t i = 0; i < n; i++) {
                double e_o = (double)ours[i] - x64[i], e_t = (double)torch32[i] - x64[i];
                double e_ot = (double)ours[i] - torch32[i];
                ss_o64 += e_o * e_o, ss_t64 += e_t * e_t, ss_ot += e_ot * e_ot;
                ss_ref += (double)x64[i] * x64[i];
            }
            free(x64);
        }
        double r3 = rel_delta(l->down.data, d, d0, oma_tensor_numel(&l->down));
        if (r1 > worst) worst = r1;
        if (r2 > worst) worst = r2;
        if (r3 > worst_d) worst_d = r3;
        if (r1 >= 1e-4 || r2 >= 1e-4) {
            /* where: the element of up furthest off, and what its first gradient was */
            int64_t nu = oma_tensor_numel(&l->up), wi = 0;
            for (int64_t i = 1; i < nu; i++)
                if (fabs((double)l->up.data[i] - u[i]) > fabs((double)l->up.data[wi] - u[wi])) wi = i;
            snprintf(key, sizeof key, "grad0.%s.up", tr.net.a[a].name);
            float *g0 = get(key, NULL);
            double gmax = 0;
            for (int64_t i = 0; i < nu; i++) gmax = fmax(gmax, fabs((double)g0[i]));
            printf("%s: down %.2e up %.2e (worst up[%lld]: ours %.4e torch %.4e; its first "
                   "gradient %.3e = %.1e of the tensor's largest)\n", tr.net.a[a].name, r1, r2,
                   (long long)wi, l->up.data[wi], u[wi], g0[wi], fabs(g0[wi]) / gmax);
            free(g0);
        }
        n_tight += (r1 < 1e-4) + (r2 < 1e-4);
        CHECK(r1 < 5e-3 && r2 < 5e-3);
        free(d);
        free(d0);
        free(u);
    }
    printf("%d adapters: worst rel %.2e (down's change %.2e), %d of %d tensors within 1e-4; "
           "worst loss rel %.2e\n", tr.net.n, worst, worst_d, n_tight, 2 * tr.net.n, worst_loss);
    CHECK(worst_d < 5e-3);
    printf("against torch float64 on the same draws: ours worst rel %.2e, torch float32 %.2e\n",
           w64_ours, w64_torch);
    /* the whole of the adapters (root of summed squares, of float64's): not one element's luck */
    printf("all adapter elements, rms rel: ours-torch32 %.3e, ours-float64 %.3e, torch32-float64 "
           "%.3e\n", sqrt(ss_ot / ss_ref), sqrt(ss_o64 / ss_ref), sqrt(ss_t64 / ss_ref));
    CHECK(ss_ref > 0 && sqrt(ss_ot / ss_ref) < 9e-7);
    CHECK(w64_torch > 0 && w64_ours <= 1.5 * w64_torch);    /* as exact as torch's float32 */

    free(images); free(vnoise); free(want_lat); free(tpl); free(want_ids); free(lat);
    free(emb0); free(samples); free(ts); free(noise); free(want_loss);
    oma_style_trainer_free(&tr);
    oma_sd_model_free(&m);
    oma_st_close(fx);
    oma_st_close(fx64);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures != 0;
}
