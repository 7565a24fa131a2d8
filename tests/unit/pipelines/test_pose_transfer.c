/* test_pose_transfer.c — the whole AnimateAnyone pose-to-image loop against Moore's own
 * Pose2ImagePipeline on the tiny fixture model (tests/fixtures/animate): seed 42, 3 DDIM steps
 * (v_prediction, zero-SNR, trailing: Moore's inference_v2.yaml), guidance 3.5, 64 x 128. The
 * latents after every step and the final 8-bit image are compared with what the reference
 * computed (tolerances as test_generate: latents max abs err <= 2e-5 * (1 + max |ref|), image
 * mean abs difference <= 0.5, max <= 2); the same at 72 x 120 (multiples of 8, not of 64) against
 * Moore's run at that size. A transparent character is composited over white (an RGBA cut-out
 * whose hidden RGB is black draws exactly as the same character on white). Also: the pose
 * picture drawn from OpenPose JSON at the output size, bad sizes refused, cancelling from the
 * step callback; the job kind pose.transfer
 * (available only with the weights in OMA_MODELS/animate-anyone, params validated, a run with a
 * preview per step and image.png, cancelled mid-way).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>
#include <unistd.h>

#include "formats/safetensors.h"
#include "pipelines/generate/rng.h"
#include "pipelines/generate/scheduler.h"
#include "pipelines/job_kind.h"
#include "pipelines/pose/pose_transfer.h"

#include "check.h"

static char root[1024];
static oma_safetensors *gold;

typedef struct steps_seen {
    int n, cancel_at;
    double worst;       /* max over steps of err / (1 + max |ref|) */
    oma_safetensors *gold;      /* the reference run (NULL: the 64 x 128 one) */
} steps_seen;

static int on_step(void *ctx, int step, int steps, const oma_tensor *lat)
{
    steps_seen *s = ctx;
    s->n = step;
    if (s->cancel_at) return step >= s->cancel_at;
    char name[64], err[256];
    snprintf(name, sizeof name, "step%d.latents_after", step - 1);
    const oma_st_tensor *t = oma_st_find(s->gold ? s->gold : gold, name);
    if (!t || t->numel != oma_tensor_numel(lat)) {
        CHECK(0);
        return 0;
    }
    float *want = malloc(sizeof(float) * (size_t)t->numel);
    if (!want || oma_st_read_f32(t, want, (size_t)t->numel, err, sizeof err) != 0) {
        CHECK(0);
        free(want);
        return 0;
    }
    double maxref = 0, maxerr = 0;
    for (int64_t i = 0; i < t->numel; i++) {
        maxref = fmax(maxref, fabs(want[i]));
        double e = fabs((double)lat->data[i] - want[i]);
        maxerr = isnan(e) ? INFINITY : fmax(maxerr, e);
    }
    printf("  step %d/%d: latents max err %.3g (max |ref| %.3g)\n", step, steps, maxerr, maxref);
    s->worst = fmax(s->worst, maxerr / (1 + maxref));
    free(want);
    return 0;
}

/* the 8-bit picture against the reference's image_u8 (truncated x * 255, as the original) */
static void compare_image(oma_safetensors *g, const oma_image *out)
{
    char err[256];
    const oma_st_tensor *t = oma_st_find(g, "image_u8");
    float *want = t ? malloc(sizeof(float) * (size_t)t->numel) : NULL;
    int ok = want && t->numel == (int64_t)out->w * out->h * 3 && oma_st_read_f32(t, want, (size_t)t->numel, err, sizeof err) == 0;
    CHECK(ok);
    if (ok) {
        double sum = 0, mx = 0;
        for (int64_t i = 0; i < t->numel; i++) {
            double d = fabs((double)out->px[i] - want[i]);
            sum += d;
            mx = fmax(mx, d);
        }
        printf("  8-bit image %dx%d vs Moore's: mean abs diff %.4f, max %.0f\n", out->w, out->h, sum / t->numel, mx);
        CHECK(sum / t->numel <= 0.5 && mx <= 2);
    }
    free(want);
}

typedef struct fake_job {
    oma_job_ctx ctx;
    int previews, reports, cancel_after, outputs;
    size_t png_len;
} fake_job;

static int job_progress(oma_job_ctx *c, double f, const char *msg, const uint8_t *png, size_t len)
{
    fake_job *j = (fake_job *)c;
    (void)f, (void)msg;
    j->reports++;
    if (png && len > 8 && !memcmp(png, "\x89PNG", 4)) j->previews++;
    return j->cancel_after && j->previews >= j->cancel_after;
}

static int job_output(oma_job_ctx *c, const char *name, const char *mime, const uint8_t *data, size_t len)
{
    fake_job *j = (fake_job *)c;
    (void)mime, (void)data;
    if (!strcmp(name, "image.png")) j->outputs++, j->png_len = len;
    return 0;
}

static void job_kind(void)
{
    const oma_job_kind *k = oma_job_kind_find("pose.transfer");
    CHECK(k != NULL);
    if (!k) return;
    char models[] = "/tmp/oma-aa-models-XXXXXX", link[1100], target[2300], err[256];
    CHECK(mkdtemp(models) != NULL);
    CHECK(!k->available(NULL) && !k->available(models));
    snprintf(link, sizeof link, "%s/animate-anyone", models);
    snprintf(target, sizeof target, "%s/tiny", root);
    if (target[0] != '/') {
        char cwd[1024];
        if (getcwd(cwd, sizeof cwd)) snprintf(target, sizeof target, "%s/%s/tiny", cwd, root);
    }
    CHECK(symlink(target, link) == 0);
    CHECK(k->available(models));
    /* validation before queueing */
    static const char *const bad[] = {"{\"width\":70}", "{\"height\":2056}", "{\"width\":56}", "{\"steps\":0}",
                                      "{\"cfg\":-1}", "{\"seed\":-3}", "{\"pose\":{\"people\":7}}", "{\"denoise\":1}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *p = json_loads(bad[i], 0, NULL);
        CHECK(p && k->validate(p, err, sizeof err) == -1);
        json_decref(p);
    }
    {
        json_t *p = json_loads("{\"width\":72,\"height\":120}", 0, NULL);     /* multiples of 8 */
        CHECK(p && k->validate(p, err, sizeof err) == 0);
        json_decref(p);
    }
    /* a run: the character and a skeleton picture as inputs */
    char path[2048];
    static uint8_t ch[1 << 16], po[1 << 16];
    snprintf(path, sizeof path, "%s/character.png", root);
    FILE *f = fopen(path, "rb");
    size_t chl = f ? fread(ch, 1, sizeof ch, f) : 0;
    if (f) fclose(f);
    snprintf(path, sizeof path, "%s/pose.png", root);
    f = fopen(path, "rb");
    size_t pol = f ? fread(po, 1, sizeof po, f) : 0;
    if (f) fclose(f);
    oma_job_input in[2] = {{"character", ch, chl, "image/png"}, {"pose", po, pol, "image/png"}};
    json_t *params = json_loads("{\"width\":64,\"height\":128,\"steps\":3,\"seed\":42}", 0, NULL);
    CHECK(k->validate(params, err, sizeof err) == 0);
    for (int cancel = 0; cancel < 2; cancel++) {
        fake_job j;
        memset(&j, 0, sizeof j);
        j.ctx.params = params;
        j.ctx.inputs = in;
        j.ctx.n_inputs = 2;
        j.ctx.models_dir = models;
        j.ctx.progress = job_progress;
        j.ctx.add_output = job_output;
        j.cancel_after = cancel;
        int rc = k->run(&j.ctx);
        printf("  pose.transfer job (cancel after %d previews): rc %d, %d previews, %d image.png (%zu bytes) %s\n",
               cancel, rc, j.previews, j.outputs, j.png_len, j.ctx.error);
        if (cancel) CHECK(rc == -1 && j.previews == 1 && j.outputs == 0 && strstr(j.ctx.error, "cancelled"));
        else CHECK(rc == 0 && j.previews == 3 && j.outputs == 1 && j.ctx.result != NULL);
        json_decref(j.ctx.result);
    }
    json_decref(params);
    unlink(link);
    rmdir(models);
}

/* A cut-out character: transparent around an ellipse, the hidden RGB black (as most editors
 * export it), with a soft half-transparent rim. It must draw exactly as the same character
 * composited over white by hand; the alpha dropped instead (the hidden black showing) gives
 * another picture, so the check can fail. */
static void alpha_on_white(const oma_aa_model *m, const oma_image *character, const oma_image *pose)
{
    char err[1024];
    oma_image cut, white, dropped, a = {0}, b = {0}, c = {0};
    int w = character->w, h = character->h;
    CHECK(oma_image_alloc(&cut, w, h, 4) == 0 && oma_image_alloc(&white, w, h, 3) == 0 &&
          oma_image_alloc(&dropped, w, h, 3) == 0);
    int partial = 0, clear = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            double dx = (x + 0.5 - w / 2.0) / (w * 0.4), dy = (y + 0.5 - h / 2.0) / (h * 0.42);
            double r = sqrt(dx * dx + dy * dy);
            int alpha = r < 0.9 ? 255 : r < 1.0 ? 128 : 0;
            partial += alpha == 128, clear += alpha == 0;
            const uint8_t *s = character->px + ((size_t)y * w + x) * 3;
            uint8_t *o = cut.px + ((size_t)y * w + x) * 4, *wh = white.px + ((size_t)y * w + x) * 3;
            for (int k = 0; k < 3; k++) {
                o[k] = alpha ? s[k] : 0;
                /* over white, rounded: c * a / 255 + 255 * (1 - a / 255) */
                wh[k] = (uint8_t)((o[k] * alpha + 255 * (255 - alpha) + 127) / 255);
                dropped.px[((size_t)y * w + x) * 3 + k] = o[k];
            }
            o[3] = (uint8_t)alpha;
        }
    printf("  cut-out character: %d transparent, %d half-transparent pixels\n", clear, partial);
    CHECK(clear > 1000 && partial > 50);
    oma_transfer_params tp = oma_transfer_defaults();
    tp.width = 64;
    tp.height = 128;
    tp.steps = 2;
    CHECK(oma_pose_transfer(m, &cut, pose, &tp, &a, err, sizeof err) == 0);
    CHECK(oma_pose_transfer(m, &white, pose, &tp, &b, err, sizeof err) == 0);
    CHECK(oma_pose_transfer(m, &dropped, pose, &tp, &c, err, sizeof err) == 0);
    if (a.px && b.px && c.px) {
        int same = memcmp(a.px, b.px, (size_t)w * h * 3) == 0;
        long diff = 0;
        for (size_t i = 0; i < (size_t)w * h * 3; i++) diff += abs((int)a.px[i] - (int)c.px[i]);
        printf("  RGBA cut-out vs the same on white: %s; vs alpha dropped (black showing): sum abs diff %ld\n",
               same ? "identical" : "DIFFERENT", diff);
        CHECK(same);
        CHECK(diff > 0);
    }
    oma_image_free(&a);
    oma_image_free(&b);
    oma_image_free(&c);
    oma_image_free(&cut);
    oma_image_free(&white);
    oma_image_free(&dropped);
}

int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    snprintf(root, sizeof root, "%s/tests/fixtures/animate", src ? src : ".");
    char p[2048], err[1024];
    snprintf(p, sizeof p, "%s/ref.safetensors", root);
    if (oma_st_open(p, &gold, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", p, err);
        return 1;
    }
    snprintf(p, sizeof p, "%s/tiny", root);
    oma_aa_model m;
    if (oma_aa_model_load(&m, p, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    oma_image character, pose, out;
    oma_image_limits lim = oma_image_default_limits();
    snprintf(p, sizeof p, "%s/character.png", root);
    CHECK(oma_image_load(p, 3, &lim, &character, err, sizeof err) == 0);
    snprintf(p, sizeof p, "%s/pose.png", root);
    CHECK(oma_image_load(p, 3, &lim, &pose, err, sizeof err) == 0);

    /* the schedule alone: Moore's timesteps, and each step from the reference's own guided output */
    {
        oma_scheduler_config sc;
        oma_transfer_scheduler_config(&sc);
        oma_scheduler s;
        CHECK(oma_scheduler_init(&s, OMA_SAMPLER_DDIM, &sc, 3, err, sizeof err) == 0);
        printf("  timesteps %d %d %d (Moore: 999 666 332), init sigma %g\n", oma_scheduler_timestep(&s, 0),
               oma_scheduler_timestep(&s, 1), oma_scheduler_timestep(&s, 2), oma_scheduler_init_sigma(&s));
        CHECK(oma_scheduler_timestep(&s, 0) == 999 && oma_scheduler_timestep(&s, 1) == 666 &&
              oma_scheduler_timestep(&s, 2) == 332);
        static float x[1024], v[1024], want[1024], in[2048], out[2048];
        for (int i = 0; i < 3; i++) {
            char n1[64], n2[64], n3[64];
            snprintf(n1, sizeof n1, "step%d.den_in", i);
            snprintf(n2, sizeof n2, "step%d.den_out", i);
            snprintf(n3, sizeof n3, "step%d.latents_after", i);
            const oma_st_tensor *a = oma_st_find(gold, n1), *b = oma_st_find(gold, n2), *c = oma_st_find(gold, n3);
            if (!a || !b || !c || c->numel > 1024 || oma_st_read_f32(a, in, (size_t)a->numel, err, sizeof err) ||
                oma_st_read_f32(b, out, (size_t)b->numel, err, sizeof err) || oma_st_read_f32(c, want, (size_t)c->numel, err, sizeof err)) {
                CHECK(0);
                break;
            }
            int64_t n = c->numel;
            for (int64_t j = 0; j < n; j++) x[j] = in[j], v[j] = out[j] + 3.5f * (out[n + j] - out[j]);
            CHECK(oma_scheduler_step(&s, i, v, x, 1, (size_t)n, NULL) == 0);
            double e = 0, mx = 0;
            for (int64_t j = 0; j < n; j++) e = fmax(e, fabs(x[j] - want[j])), mx = fmax(mx, fabs(want[j]));
            printf("  DDIM step %d alone: max err %.3g (max |ref| %.3g)\n", i, e, mx);
            CHECK(e <= 2e-5 * (1 + mx));
        }
        oma_scheduler_free(&s);
    }
    /* the starting noise: torch.randn([1, 4, 16, 8], Generator().manual_seed(42)) */
    {
        const oma_st_tensor *t = oma_st_find(gold, "init_noise");
        static float want[512], got[512];
        CHECK(t && t->numel == 512 && oma_st_read_f32(t, want, 512, err, sizeof err) == 0);
        oma_rng r;
        oma_rng_seed(&r, 42);
        oma_rng_randn(&r, got, 512);
        double e = 0;
        for (int i = 0; i < 512; i++) e = fmax(e, fabs(got[i] - want[i]));
        printf("  initial noise: max err %.3g\n", e);
        CHECK(e <= 1e-5);   /* PyTorch's vectorised log/sin/cos: last-bit differences (rng.h) */
    }

    oma_transfer_params tp = oma_transfer_defaults();
    tp.width = 64;
    tp.height = 128;
    tp.steps = 3;
    tp.cfg = 3.5f;
    tp.seed = 42;
    steps_seen seen = {0};
    tp.on_step = on_step;
    tp.ctx = &seen;
    int rc = oma_pose_transfer(&m, &character, &pose, &tp, &out, err, sizeof err);
    if (rc != 0) fprintf(stderr, "transfer: %s\n", err);
    CHECK(rc == 0);
    CHECK(seen.n == 3);
    CHECK(seen.worst <= 2e-5);
    if (rc == 0) {
        compare_image(gold, &out);
        oma_image_free(&out);
    }

    /* 72 x 120: multiples of 8, not of 64 (latents 9 x 15), against Moore's pipeline at that size;
     * the 64 x 128 inputs are resized inside (Pillow LANCZOS, as its VaeImageProcessor) */
    {
        oma_safetensors *g72 = NULL;
        snprintf(p, sizeof p, "%s/ref_72x120.safetensors", root);
        CHECK(oma_st_open(p, &g72, err, sizeof err) == 0);
        if (g72) {
            oma_transfer_params t72 = tp;
            t72.width = 72;
            t72.height = 120;
            steps_seen s72 = {.gold = g72};
            t72.ctx = &s72;
            rc = oma_pose_transfer(&m, &character, &pose, &t72, &out, err, sizeof err);
            if (rc != 0) fprintf(stderr, "transfer 72x120: %s\n", err);
            CHECK(rc == 0 && s72.n == 3 && s72.worst <= 2e-5);
            if (rc == 0) {
                CHECK(out.w == 72 && out.h == 120);
                compare_image(g72, &out);
                oma_image_free(&out);
            }
            oma_st_close(g72);
        }
    }

    /* cancel after the first step */
    steps_seen c = {.cancel_at = 1};
    tp.ctx = &c;
    CHECK(oma_pose_transfer(&m, &character, &pose, &tp, &out, err, sizeof err) == 1);
    CHECK(c.n == 1 && out.px == NULL);

    /* sizes that are not multiples of 8, or out of 64..2048, are refused with a clear message */
    tp.on_step = NULL;
    static const int bad_sizes[][2] = {{68, 128}, {64, 124}, {56, 128}, {64, 2056}};
    for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
        tp.width = bad_sizes[i][0];
        tp.height = bad_sizes[i][1];
        CHECK(oma_pose_transfer(&m, &character, &pose, &tp, &out, err, sizeof err) == -1);
        CHECK(strstr(err, "multiples of 8 in 64..2048") != NULL);
    }
    tp.height = 128;

    alpha_on_white(&m, &character, &pose);

    /* the pose picture from OpenPose JSON, drawn at the output size */
    {
        static const char js[] = "{\"canvas_width\":100,\"canvas_height\":200,\"people\":[{\"pose_keypoints_2d\":"
                                 "[50,20,1, 50,50,1, 30,50,1, 20,90,1, 15,130,1, 70,50,1, 80,90,1, 85,130,1,"
                                 " 40,110,1, 40,150,1, 40,190,1, 60,110,1, 60,150,1, 60,190,1, 45,15,1, 55,15,1,"
                                 " 40,18,1, 60,18,1]}]}";
        oma_pose op;
        CHECK(oma_pose_parse(js, strlen(js), 0, 0, &op, err, sizeof err) == 0);
        oma_image pic;
        CHECK(oma_transfer_pose_image(&op, 64, 128, &pic, err, sizeof err) == 0);
        int lit = 0;
        for (int i = 0; i < 64 * 128 * 3; i++) lit += pic.px[i] != 0;
        CHECK(pic.w == 64 && pic.h == 128 && lit > 300);
        tp.width = 64;
        tp.steps = 1;
        CHECK(oma_pose_transfer(&m, &character, &pic, &tp, &out, err, sizeof err) == 0);
        oma_image_free(&out);
        oma_image_free(&pic);
        oma_pose_free(&op);
    }
    oma_image_free(&character);
    oma_image_free(&pose);
    oma_aa_model_free(&m);
    job_kind();
    oma_st_close(gold);
    return failures != 0;
}
