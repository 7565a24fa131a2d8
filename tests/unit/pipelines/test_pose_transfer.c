/* test_pose_transfer.c — the whole AnimateAnyone pose-to-image loop against Moore's own
 * Pose2ImagePipeline on the tiny fixture model (tests/fixtures/animate): seed 42, 3 DDIM steps
 * (v_prediction, zero-SNR, trailing: Moore's inference_v2.yaml), guidance 3.5, 64 x 128. The
 * latents after every step and the final 8-bit image are compared with what the reference
 * computed (tolerances as test_generate: latents max abs err <= 2e-5 * (1 + max |ref|), image
 * mean abs difference <= 0.5, max <= 2). Also: the pose picture drawn from OpenPose JSON at the
 * output size, bad sizes refused, cancelling from the step callback.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/safetensors.h"
#include "pipelines/pose/pose_transfer.h"

#include "check.h"

static char root[1024];
static oma_safetensors *gold;

typedef struct steps_seen {
    int n, cancel_at;
    double worst;       /* max over steps of err / (1 + max |ref|) */
} steps_seen;

static int on_step(void *ctx, int step, int steps, const oma_tensor *lat)
{
    steps_seen *s = ctx;
    s->n = step;
    if (s->cancel_at) return step >= s->cancel_at;
    char name[64], err[256];
    snprintf(name, sizeof name, "step%d.latents_after", step - 1);
    const oma_st_tensor *t = oma_st_find(gold, name);
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
        const oma_st_tensor *t = oma_st_find(gold, "image_u8");
        float *want = t ? malloc(sizeof(float) * (size_t)t->numel) : NULL;
        CHECK(want && t->numel == (int64_t)out.w * out.h * 3 && oma_st_read_f32(t, want, (size_t)t->numel, err, sizeof err) == 0);
        if (want && t->numel == (int64_t)out.w * out.h * 3) {
            double sum = 0, mx = 0;
            for (int64_t i = 0; i < t->numel; i++) {
                double d = fabs((double)out.px[i] - want[i]);
                sum += d;
                mx = fmax(mx, d);
            }
            printf("  8-bit image vs Moore's: mean abs diff %.4f, max %.0f\n", sum / t->numel, mx);
            CHECK(sum / t->numel <= 0.5 && mx <= 2);
        }
        free(want);
        oma_image_free(&out);
    }

    /* cancel after the first step */
    steps_seen c = {.cancel_at = 1};
    tp.ctx = &c;
    CHECK(oma_pose_transfer(&m, &character, &pose, &tp, &out, err, sizeof err) == 1);
    CHECK(c.n == 1 && out.px == NULL);

    /* sizes that are not multiples of 64 are refused with a clear message */
    tp.on_step = NULL;
    tp.width = 72;
    CHECK(oma_pose_transfer(&m, &character, &pose, &tp, &out, err, sizeof err) == -1);
    CHECK(strstr(err, "multiples of 64") != NULL);

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
    oma_st_close(gold);
    return failures != 0;
}
