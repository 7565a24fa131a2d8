/* test_style_train.c — oma_style_train end to end on the tiny fixture model: bad input is
 * refused with a clear error, a run writes the kohya LoRA file (152 adapters, alpha, the
 * embedding bundled both ways, metadata) and the embedding file, a cancelled run resumed from
 * its checkpoint ends bit-identical to an uninterrupted one (loss curve, rows, adapters,
 * optimizer), and a checkpoint that cannot be written (file size limit = a full disk) fails
 * with a clear error and leaves the last good checkpoint. */
#include "check.h"
#include "formats/image.h"
#include "formats/safetensors.h"
#include "train/style_train.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static char dir[256], model[1024];
static const char *imgs[3];
static char img_paths[3][512];

static void make_images(void)
{
    for (int i = 0; i < 3; i++) {
        oma_image im;
        CHECK(oma_image_alloc(&im, 80, 64, 3) == 0);
        for (int y = 0; y < 64; y++)
            for (int x = 0; x < 80; x++)
                for (int c = 0; c < 3; c++)
                    im.px[(y * 80 + x) * 3 + c] =
                        (uint8_t)(128 + 100 * sin(0.1 * (x + 7 * i) * (c + 1) + 0.07 * y * (i + 1)));
        snprintf(img_paths[i], sizeof img_paths[i], "%s/img%d.png", dir, i);
        char err[256];
        CHECK(oma_image_save_png(img_paths[i], &im, err, sizeof err) == 0);
        oma_image_free(&im);
        imgs[i] = img_paths[i];
    }
}

static void base_opts(oma_style_train_opts *o, const char *name)
{
    oma_style_train_defaults(o);
    o->model_path = model;
    o->name = name;
    o->images = imgs;
    o->n_images = 3;
    o->out_dir = dir;
    o->resolution = 64;
    o->steps_ti = 4;
    o->steps_lora = 4;
    o->rank = 4;
    o->grad_accum = 2;
    o->lr_ti = 5e-3f;
    o->lr_lora_unet = 1e-3f;
    o->lr_lora_text = 1e-3f;
}

typedef struct rec {
    int cancel_at;                  /* total step at which to cancel (0 none) */
    int limit_at;                   /* total step after which file writes are limited */
    float loss[64];
    int n, checkpoints, samples, last_ckpt_step;
} rec;

static int on_progress(void *ctx, const oma_style_train_progress *p)
{
    rec *r = ctx;
    if (!strcmp(p->stage, "ti") || !strcmp(p->stage, "lora")) {
        if (p->total_step >= 1 && p->total_step <= 64)
            r->loss[p->total_step - 1] = p->loss;
        r->n = p->total_step;
        CHECK(p->total_steps == 8);
        CHECK(isfinite(p->loss));
        CHECK(p->step >= 1 && p->step <= p->steps);
    }
    if (r->limit_at && p->total_step == r->limit_at) {
        struct rlimit rl;
        CHECK(getrlimit(RLIMIT_FSIZE, &rl) == 0);
        rl.rlim_cur = 16384;   /* the soft limit only, so the test can lift it again */
        CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
    }
    return r->cancel_at && p->total_step == r->cancel_at;
}

static void on_checkpoint(void *ctx, const char *path, int step)
{
    rec *r = ctx;
    (void)path;
    r->checkpoints++;
    r->last_ckpt_step = step;
}

static void on_sample(void *ctx, const char *stage, int step, const uint8_t *rgb, int w, int h)
{
    rec *r = ctx;
    (void)stage;
    (void)step;
    CHECK(w == 64 && h == 64);
    long sum = 0;
    for (int i = 0; i < w * h * 3; i++)
        sum += rgb[i];
    CHECK(sum > 0);
    r->samples++;
}

static void expect_error(oma_style_train_opts *o, const char *needle)
{
    char err[512] = "";
    int rc = oma_style_train(o, NULL, NULL, 0, NULL, 0, err, sizeof err);
    printf("bad input -> %d: %s\n", rc, err);
    CHECK(rc == -1);
    CHECK(strstr(err, needle) != NULL);
}

static void test_bad_input(void)
{
    oma_style_train_opts o;
    base_opts(&o, "bad");
    o.n_images = 0;
    expect_error(&o, "at least 2");
    o.n_images = 1;
    expect_error(&o, "1 image: a style needs at least 2");
    o.n_images = 300;
    expect_error(&o, "at most");
    o.n_images = 3;
    o.resolution = 256;         /* the 80x64 images are too small for it */
    expect_error(&o, "too small");
    o.resolution = 100;
    expect_error(&o, "multiple of 64");
    base_opts(&o, "../evil");
    expect_error(&o, "style name");
    base_opts(&o, "x");
    o.rank = 0;
    expect_error(&o, "rank");
    base_opts(&o, "x");
    const char *missing[2] = {img_paths[0], "/nonexistent/image.png"};
    o.images = missing;
    o.n_images = 2;
    expect_error(&o, "/nonexistent/image.png");
}

static float *read_all(oma_safetensors *st, const char *name, int64_t *n)
{
    const oma_st_tensor *t = oma_st_find(st, name);
    if (!t)
        return NULL;
    float *d = malloc(sizeof(float) * (size_t)t->numel);
    char err[256];
    if (d && oma_st_read_f32(t, d, (size_t)t->numel, err, sizeof err) != 0) {
        free(d);
        return NULL;
    }
    if (n)
        *n = t->numel;
    return d;
}

/* Every tensor of a and b equal, bit for bit. */
static int same_tensors(const char *pa, const char *pb)
{
    oma_safetensors *a, *b;
    char err[256];
    if (oma_st_open(pa, &a, err, sizeof err) || oma_st_open(pb, &b, err, sizeof err))
        return 0;
    int same = oma_st_count(a) == oma_st_count(b);
    for (size_t i = 0; same && i < oma_st_count(a); i++) {
        const oma_st_tensor *ta = oma_st_at(a, i), *tb = oma_st_find(b, ta->name);
        same = tb && ta->nbytes == tb->nbytes && memcmp(ta->data, tb->data, ta->nbytes) == 0;
        if (!same)
            printf("differs: %s\n", ta->name);
    }
    oma_st_close(a);
    oma_st_close(b);
    return same;
}

static void test_run_and_resume(void)
{
    char err[512], lora[4096], emb[4096], ck_a[512], ck_b[512];
    oma_style_train_opts o;
    oma_style_train_hooks h = {0};
    h.progress = on_progress;
    h.checkpoint = on_checkpoint;
    h.sample = on_sample;

    /* A: uninterrupted, checkpoints every 2 steps, a preview every 4 */
    rec ra = {0};
    h.ctx = &ra;
    base_opts(&o, "style_a");
    snprintf(ck_a, sizeof ck_a, "%s/a.ckpt", dir);
    o.checkpoint_path = ck_a;
    o.checkpoint_every = 2;
    o.sample_every = 4;
    int rc = oma_style_train(&o, &h, lora, sizeof lora, emb, sizeof emb, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    CHECK(rc == 0);
    CHECK(ra.n == 8);
    CHECK(ra.checkpoints == 4);
    CHECK(ra.samples == 2);
    printf("run A losses:");
    for (int i = 0; i < 8; i++)
        printf(" %.5f", ra.loss[i]);
    printf("\n");

    /* the files */
    oma_safetensors *st;
    CHECK(oma_st_open(lora, &st, err, sizeof err) == 0);
    int downs = 0, ups = 0, alphas = 0;
    for (size_t i = 0; i < oma_st_count(st); i++) {
        const char *k = oma_st_at(st, i)->name;
        downs += strstr(k, ".lora_down.weight") != NULL;
        ups += strstr(k, ".lora_up.weight") != NULL;
        alphas += strstr(k, ".alpha") != NULL;
    }
    CHECK(downs == 152 && ups == 152 && alphas == 152);
    const oma_st_tensor *t =
        oma_st_find(st, "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_down.weight");
    CHECK(t && t->ndim == 2 && t->shape[0] == 4 && t->shape[1] == 32 && t->dtype == OMA_ST_F16);
    t = oma_st_find(st, "lora_te_text_model_encoder_layers_1_self_attn_out_proj.lora_up.weight");
    CHECK(t && t->shape[0] == 48 && t->shape[1] == 4);
    float *alpha = read_all(st, "lora_te_text_model_encoder_layers_1_self_attn_out_proj.alpha", NULL);
    CHECK(alpha && alpha[0] == 4.0f);
    free(alpha);
    int64_t ne = 0;
    float *bundle = read_all(st, "bundle_emb.style_a.string_to_param.*", &ne);
    float *s2 = read_all(st, "<s2>", NULL);
    CHECK(bundle && ne == 96 && s2 && memcmp(bundle + 48, s2, 48 * sizeof(float)) == 0);
    CHECK(oma_st_metadata(st, "<s1>") && !strcmp(oma_st_metadata(st, "<s1>"), "<embed>"));
    CHECK(oma_st_metadata(st, "ss_network_dim") && !strcmp(oma_st_metadata(st, "ss_network_dim"), "4"));
    CHECK(oma_st_metadata(st, "oma_resolution") && !strcmp(oma_st_metadata(st, "oma_resolution"), "64"));
    CHECK(oma_st_metadata(st, "oma_tokens") && oma_st_metadata(st, "oma_base_model_fnv1a64"));
    oma_st_close(st);
    CHECK(oma_st_open(emb, &st, err, sizeof err) == 0);
    float *ep = read_all(st, "emb_params", &ne);
    CHECK(ep && ne == 96 && bundle && memcmp(ep, bundle, 96 * sizeof(float)) == 0);
    /* clip_ti_decay kept the rows' norms near 0.4 */
    for (int r = 0; ep && r < 2; r++) {
        double sq = 0;
        for (int j = 0; j < 48; j++)
            sq += (double)ep[r * 48 + j] * ep[r * 48 + j];
        printf("row %d norm %.4f\n", r, sqrt(sq));
        CHECK(sqrt(sq) > 0.01 && sqrt(sq) < 1.0);
    }
    free(ep);
    free(bundle);
    free(s2);
    oma_st_close(st);

    /* B: cancelled at step 3 (mid-accumulation: the checkpoint is step 2's), then resumed */
    rec rb = {0};
    rb.cancel_at = 3;
    h.ctx = &rb;
    base_opts(&o, "style_b");
    snprintf(ck_b, sizeof ck_b, "%s/b.ckpt", dir);
    o.checkpoint_path = ck_b;
    o.checkpoint_every = 2;
    rc = oma_style_train(&o, &h, lora, sizeof lora, emb, sizeof emb, err, sizeof err);
    CHECK(rc == 1);
    CHECK(rb.last_ckpt_step == 2);
    for (int i = 0; i < 3; i++)
        CHECK(rb.loss[i] == ra.loss[i]);
    rb.cancel_at = 6;   /* at a boundary this time */
    rc = oma_style_train(&o, &h, lora, sizeof lora, emb, sizeof emb, err, sizeof err);
    CHECK(rc == 1);
    CHECK(rb.last_ckpt_step == 6);
    rb.cancel_at = 0;
    rc = oma_style_train(&o, &h, lora, sizeof lora, emb, sizeof emb, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    CHECK(rc == 0);
    for (int i = 0; i < 8; i++)
        CHECK(rb.loss[i] == ra.loss[i]);
    /* the final checkpoints (rows, adapters, moments, loss curve) and results: identical */
    CHECK(same_tensors(ck_a, ck_b));
    char la[4096], lb[4096];
    snprintf(la, sizeof la, "%s/style_a.embedding.safetensors", dir);
    snprintf(lb, sizeof lb, "%s/style_b.embedding.safetensors", dir);
    CHECK(same_tensors(la, lb));

    /* a broken checkpoint (truncated, then garbage) is refused with the file named */
    char ck_bad[600];
    snprintf(ck_bad, sizeof ck_bad, "%s/bad.ckpt", dir);
    FILE *src_f = fopen(ck_a, "rb"), *dst_f = fopen(ck_bad, "wb");
    CHECK(src_f && dst_f);
    char buf[4096];
    size_t got = src_f ? fread(buf, 1, sizeof buf, src_f) : 0;
    if (dst_f)
        fwrite(buf, 1, got / 2, dst_f);
    if (src_f)
        fclose(src_f);
    if (dst_f)
        fclose(dst_f);
    base_opts(&o, "style_e");
    o.checkpoint_path = ck_bad;
    rc = oma_style_train(&o, NULL, NULL, 0, NULL, 0, err, sizeof err);
    printf("truncated checkpoint -> %s\n", err);
    CHECK(rc == -1 && strstr(err, "bad.ckpt"));
    dst_f = fopen(ck_bad, "wb");
    if (dst_f) {
        static const char junk[] = "\x10\0\0\0\0\0\0\0{\"a\": [1, 2]}  garbage";
        fwrite(junk, 1, sizeof junk - 1, dst_f);
        fclose(dst_f);
    }
    rc = oma_style_train(&o, NULL, NULL, 0, NULL, 0, err, sizeof err);
    printf("garbage checkpoint -> %s\n", err);
    CHECK(rc == -1 && strstr(err, "bad.ckpt"));

    /* a wrong checkpoint (another run's) is refused */
    base_opts(&o, "style_c");
    o.checkpoint_path = ck_a;
    o.seed = 7;
    rc = oma_style_train(&o, NULL, NULL, 0, NULL, 0, err, sizeof err);
    printf("other run's checkpoint -> %s\n", err);
    CHECK(rc == -1 && strstr(err, "other images or settings"));
}

static void test_full_disk(void)
{
    char err[512], ck[512];
    oma_style_train_opts o;
    oma_style_train_hooks h = {0};
    rec r = {0};
    r.limit_at = 5;     /* after step 4's checkpoint (stage 1's, small), writes over 16 kB fail
                         * (EFBIG): stage 2's first checkpoint, at step 6, cannot be written */
    h.ctx = &r;
    h.progress = on_progress;
    h.checkpoint = on_checkpoint;
    base_opts(&o, "style_d");
    snprintf(ck, sizeof ck, "%s/d.ckpt", dir);
    o.checkpoint_path = ck;
    o.checkpoint_every = 2;
    struct rlimit old;
    getrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_IGN);
    int rc = oma_style_train(&o, &h, NULL, 0, NULL, 0, err, sizeof err);
    setrlimit(RLIMIT_FSIZE, &old);
    printf("full disk -> %d: %s (last checkpoint at step %d)\n", rc, err, r.last_ckpt_step);
    CHECK(rc == -1);
    CHECK(strstr(err, "d.ckpt") && strstr(err, "last good one is kept"));
    CHECK(r.last_ckpt_step == 4);
    oma_safetensors *st;
    CHECK(oma_st_open(ck, &st, err, sizeof err) == 0);
    printf("kept checkpoint: step %s\n", oma_st_metadata(st, "step"));
    CHECK(oma_st_metadata(st, "step") && !strcmp(oma_st_metadata(st, "step"), "4"));
    oma_st_close(st);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", ck);
    CHECK(access(tmp, F_OK) != 0);
    /* and the run resumes from it */
    r.limit_at = 0;
    rc = oma_style_train(&o, &h, NULL, 0, NULL, 0, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    CHECK(rc == 0);
}

int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    snprintf(model, sizeof model, "%s/tests/fixtures/sd/tiny-sd", src ? src : ".");
    snprintf(dir, sizeof dir, "/tmp/oma_style_train_XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    make_images();
    test_bad_input();
    test_run_and_resume();
    test_full_disk();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures != 0;
}
