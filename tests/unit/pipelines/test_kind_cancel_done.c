/* test_kind_cancel_done.c — a job cancelled at its very last progress report ("done") must
 * still stop: the kind returns -1 with "cancelled" and no result (job_kind.h's contract), for
 * convert.lineart and style.profile, which once ignored that last answer. The same runs
 * without the cancel succeed, so the test can tell the two apart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/image.h"
#include "pipelines/job_kind.h"

#include "check.h"

typedef struct {
    oma_job_ctx ctx;
    int cancel_at_done, saw_done;
} fake;

static int on_progress(oma_job_ctx *c, double f, const char *msg, const uint8_t *png, size_t len)
{
    fake *fk = (fake *)c;
    (void)f, (void)png, (void)len;
    if (strcmp(msg, "done") != 0) return 0;
    fk->saw_done = 1;
    return fk->cancel_at_done;
}

static int on_output(oma_job_ctx *c, const char *name, const char *mime, const uint8_t *data, size_t len)
{
    (void)c, (void)name, (void)mime, (void)data, (void)len;
    return 0;
}

/* A small RGB test card as PNG bytes: shaded background, a dark bar, a light square. */
static uint8_t *card_png(int seed, size_t *len)
{
    oma_image img;
    if (oma_image_alloc(&img, 48, 40, 3) != 0) exit(1);
    for (int y = 0; y < img.h; y++)
        for (int x = 0; x < img.w; x++) {
            uint8_t *p = img.px + (y * img.w + x) * 3;
            int v = 60 + (x * 3 + y * 2 + seed * 17) % 150;
            if (x > 10 && x < 16) v = 20;
            if (x > 25 && x < 40 && y > 8 && y < 24) v = 230;
            p[0] = (uint8_t)v, p[1] = (uint8_t)(v * 3 / 4), p[2] = (uint8_t)(255 - v);
        }
    uint8_t *out = NULL;
    char err[128];
    if (oma_image_encode_png(&img, NULL, NULL, &out, len, err, sizeof err) != 0) exit(1);
    oma_image_free(&img);
    return out;
}

static void run_kind(const char *kind_name, const char *params_json, const oma_job_input *inputs,
                     size_t n)
{
    const oma_job_kind *k = oma_job_kind_find(kind_name);
    CHECK(k != NULL);
    if (!k) return;
    json_t *params = json_loads(params_json, 0, NULL);
    for (int cancel = 0; cancel < 2; cancel++) {
        fake f;
        memset(&f, 0, sizeof f);
        f.ctx.params = params;
        f.ctx.inputs = inputs;
        f.ctx.n_inputs = n;
        f.ctx.progress = on_progress;
        f.ctx.add_output = on_output;
        f.cancel_at_done = cancel;
        int rc = k->run(&f.ctx);
        printf("  %-16s cancel at done %d: rc %d, error \"%s\", result %s\n", kind_name, cancel, rc,
               f.ctx.error, f.ctx.result ? "set" : "none");
        CHECK(f.saw_done);
        if (cancel) {
            CHECK(rc == -1);
            CHECK(strcmp(f.ctx.error, "cancelled") == 0);
            CHECK(f.ctx.result == NULL);
        } else {
            CHECK(rc == 0);
            CHECK(f.ctx.result != NULL);
        }
        json_decref(f.ctx.result);
    }
    json_decref(params);
}

int main(void)
{
    size_t len[3];
    uint8_t *png[3];
    for (int i = 0; i < 3; i++) png[i] = card_png(i, &len[i]);
    oma_job_input image = {"image", png[0], len[0], "image/png"};
    run_kind("convert.lineart", "{}", &image, 1);
    oma_job_input samples[3];
    for (int i = 0; i < 3; i++) samples[i] = (oma_job_input){"samples", png[i], len[i], "image/png"};
    run_kind("style.profile", "{\"name\": \"test\"}", samples, 3);
    for (int i = 0; i < 3; i++) free(png[i]);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_kind_cancel_done: ok\n");
    return 0;
}
