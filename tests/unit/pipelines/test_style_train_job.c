/* test_style_train_job.c — the style.train job kind's own rules: its params (bounds, the
 * recipe's defaults, unknown names refused at submission) and the loss history that keeps the
 * curve continuous when a run resumes from a checkpoint (a step reported again replaces what
 * came after it; a checkpoint keeps what it had seen; damaged stored histories are refused). */
#include <math.h>
#include <string.h>

#include "check.h"
#include "pipelines/job_kind.h"
#include "pipelines/style/style_train_job.h"

static void test_history(void)
{
    oma_loss_history h = {0};
    for (int s = 1; s <= 10; s++) CHECK(oma_loss_history_add(&h, s, 1.0f / (float)s) == 0);
    CHECK(h.n == 10);
    /* a checkpoint at 6 keeps 1..6 */
    oma_loss_history c = h;
    oma_loss_history_cut(&c, 6);
    CHECK(c.n == 6 && c.step[5] == 6);
    /* a run resumed from the checkpoint of step 6 reports 7 again: 7..10 are replaced */
    CHECK(oma_loss_history_add(&h, 7, 0.5f) == 0);
    CHECK(h.n == 7 && h.step[6] == 7 && h.loss[6] == 0.5f && h.step[5] == 6);
    CHECK(oma_loss_history_add(&h, 8, NAN) == 0);
    json_t *j = oma_loss_history_json(&h);
    CHECK(json_is_array(j) && json_array_size(j) == 8);
    CHECK(json_is_null(json_array_get(json_array_get(j, 7), 1)));   /* NaN as null, not invalid JSON */
    CHECK(json_integer_value(json_array_get(json_array_get(j, 0), 0)) == 1);
    /* round trip */
    oma_loss_history back = {0};
    char err[256] = "";
    CHECK(oma_loss_history_from_json(&back, j, err, sizeof err) == 0);
    CHECK(back.n == 8 && back.step[7] == 8 && isnan(back.loss[7]) && back.loss[0] == 1.0f);
    json_decref(j);
    /* damaged: falling steps, wrong shapes, strings */
    const char *bad[] = {"[[2,0.1],[1,0.2]]", "[[1]]", "[[1,\"x\"]]", "{\"a\":1}", "[[-1,0.1],[-1,0.2]]",
                         "[[1,0.1,3]]", "[[99999999,0.1]]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *b = json_loads(bad[i], 0, NULL);
        err[0] = '\0';
        CHECK(b && oma_loss_history_from_json(&back, b, err, sizeof err) == -1 && err[0] && back.n == 0);
        json_decref(b);
    }
    oma_loss_history_free(&back);
    oma_loss_history_free(&h);
}

static int params_ok(const char *text, oma_style_train_opts *o)
{
    json_t *p = json_loads(text, 0, NULL);
    const char *model = NULL;
    char err[256] = "";
    int rc = p ? oma_style_train_job_params(p, o, &model, err, sizeof err) : -2;
    if (rc != 0 && !err[0]) rc = -3; /* a refusal must say why */
    json_decref(p);
    return rc;
}

static void test_params(void)
{
    oma_style_train_opts o, d;
    oma_style_train_defaults(&d);
    CHECK(params_ok("{\"name\":\"Night scenes\"}", &o) == 0);
    /* the recipe's values, the job's checkpoint and sample cadence */
    CHECK(o.resolution == d.resolution && o.steps_ti == d.steps_ti && o.steps_lora == d.steps_lora &&
          o.rank == d.rank && o.lr_ti == d.lr_ti && o.seed == d.seed);
    CHECK(o.checkpoint_every == OMA_TRAIN_CHECKPOINT_EVERY && o.sample_every == OMA_TRAIN_SAMPLE_EVERY);
    CHECK(params_ok("{\"name\":\"x\",\"steps_ti\":3,\"steps_lora\":2,\"rank\":4,\"resolution\":64,"
                    "\"checkpoint_every\":1,\"sample_every\":0,\"lr_ti\":0.001,\"lr_lora\":0.0002,"
                    "\"lr_text\":0.00002,\"seed\":7,\"grad_accum\":1,\"model\":\"tiny-sd\"}",
                    &o) == 0);
    CHECK(o.steps_ti == 3 && o.steps_lora == 2 && o.rank == 4 && o.resolution == 64 && o.checkpoint_every == 1 &&
          o.sample_every == 0 && o.seed == 7 && o.grad_accum == 1 && fabsf(o.lr_ti - 0.001f) < 1e-9f);
    const char *bad[] = {
        "[]", "{}", "{\"name\":\"\"}", "{\"name\":5}",
        "{\"name\":\"x\",\"stepz\":3}",                     /* unknown */
        "{\"name\":\"x\",\"steps_ti\":-1}", "{\"name\":\"x\",\"steps_ti\":5001}",
        "{\"name\":\"x\",\"steps_ti\":0,\"steps_lora\":0}",  /* nothing to do */
        "{\"name\":\"x\",\"steps_lora\":1.5}", "{\"name\":\"x\",\"rank\":0}", "{\"name\":\"x\",\"rank\":129}",
        "{\"name\":\"x\",\"resolution\":100}", "{\"name\":\"x\",\"resolution\":2048}",
        "{\"name\":\"x\",\"resolution\":0}", "{\"name\":\"x\",\"lr_ti\":0}", "{\"name\":\"x\",\"lr_lora\":1}",
        "{\"name\":\"x\",\"lr_text\":\"1e-5\"}", "{\"name\":\"x\",\"seed\":-1}",
        "{\"name\":\"x\",\"checkpoint_every\":0}", "{\"name\":\"x\",\"sample_every\":-5}",
        "{\"name\":\"x\",\"model\":\"../etc\"}", "{\"name\":\"x\",\"model\":\".hidden\"}",
        "{\"name\":\"x\",\"grad_accum\":0}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = params_ok(bad[i], &o);
        if (rc != -1) fprintf(stderr, "accepted or unexplained: %s (%d)\n", bad[i], rc);
        CHECK(rc == -1);
    }
    /* the registry validates through the same rules */
    const oma_job_kind *k = oma_job_kind_find("style.train");
    CHECK(k && k->validate && k->required_inputs && strcmp(k->required_inputs[0], "samples") == 0);
    if (k) {
        char err[256];
        json_t *p = json_pack("{s:s,s:i}", "name", "x", "bogus", 1);
        CHECK(k->validate(p, err, sizeof err) == -1 && strstr(err, "bogus"));
        json_decref(p);
        CHECK(!k->available(NULL) && !k->available("/nonexistent"));
    }
}

int main(void)
{
    test_history();
    test_params();
    return failures != 0;
}
