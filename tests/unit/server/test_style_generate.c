/* test_style_generate.c — picking a trained style when generating: a webtoon style of kind
 * "lora" (as style.train leaves it: its LoRA is an output of the training job, in storage) is
 * given to generate.txt2img as params.style_id; the worker copies the file into
 * data/cache/styles/<id>/ and the kind adds ", style of <s1><s2>" and the LoRA at UNet 0.8 /
 * text 0.9. The image must equal the one made by spelling all of that out in the params
 * (prompt + loras), and differ from the plain prompt's; a style sent in the request cannot name
 * a file. The LoRA is the lora_pti fixture of the
 * tiny SD model (tests/fixtures/lora, its own conformance test compares it with diffusers). A
 * style whose file is gone fails the job with a clear error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "formats/files.h"
#include "formats/image.h"
#include "server/jobs/jobs.h"
#include "server/jobs/workers_internal.h"

static char tmpdir[256], models[1024], fixture[1024];
static oma_db *db;
static oma_storage *st;

static int setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/oma-test-stylegen-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    const char *src = getenv("OMA_SOURCE_DIR");
    snprintf(models, sizeof models, "%s/tests/fixtures/sd/tiny-sd", src ? src : ".");
    snprintf(fixture, sizeof fixture, "%s/tests/fixtures/lora/lora_pti.safetensors", src ? src : ".");
    char url[512], err[256];
    snprintf(url, sizeof url, "sqlite:%s/oma.db", tmpdir);
    if (oma_db_open(&db, url, 1, err, sizeof err) != 0) return -1;
    snprintf(url, sizeof url, "file:%s/storage", tmpdir);
    if (oma_storage_open(&st, url, err, sizeof err) != 0) return -1;
    unsigned char *lora = NULL;
    size_t len = 0;
    if (oma_read_file(fixture, (size_t)64 << 20, &lora, &len, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    int rc = oma_storage_put(st, "jobs/train1/Night.safetensors", lora, len, err, sizeof err);
    free(lora);
    char sql[2048];
    snprintf(sql, sizeof sql,
             "INSERT INTO artists VALUES ('art1','a@x','A','h','2026-01-01T00:00:00Z');"
             "INSERT INTO webtoons (id, artist_id, name, description, created_at) VALUES ('w1','art1','W','', '2026-01-01T00:00:00Z');"
             "INSERT INTO jobs (id, artist_id, webtoon_id, kind, status, created_at) "
             "VALUES ('train1','art1','w1','style.train','succeeded','2026-01-01T00:00:00Z');"
             "INSERT INTO job_outputs (job_id, name, mime, storage_key, bytes) "
             "VALUES ('train1','Night.safetensors','application/octet-stream','jobs/train1/Night.safetensors',%zu);"
             "INSERT INTO styles (id, webtoon_id, artist_id, name, kind, status, data, job_id, created_at, updated_at) "
             "VALUES ('sty1','w1','art1','Night','lora','ready',"
             "'{\"kind\":\"lora\",\"tokens\":\"<s1><s2>\",\"lora\":\"Night.safetensors\"}','train1','x','x');"
             "INSERT INTO styles (id, webtoon_id, artist_id, name, kind, status, data, job_id, created_at, updated_at) "
             "VALUES ('sty2','w1','art1','Gone','lora','ready',"
             "'{\"kind\":\"lora\",\"tokens\":\"<s1><s2>\",\"lora\":\"Gone.safetensors\"}','train1','x','x');",
             len);
    return rc == 0 ? oma_db_exec(db, sql) : -1;
}

#define PROMPT "a city street at night in the rain"
#define COMMON "\"negative\":\"lowres\",\"sampler\":\"DDIM\",\"steps\":4,\"cfg\":7.5,\"seed\":1004,\"width\":64,\"height\":64"

/* Runs one generate.txt2img job; its status; the image into img when it succeeded. */
static const char *generate(const char *params_json, oma_image *img, char *error, size_t errlen)
{
    static char status[32];
    json_t *params = json_loads(params_json, 0, NULL);
    char id[48], err[512] = "";
    CHECK(params != NULL);
    if (oma_jobs_enqueue(db, "art1", "generate.txt2img", params, NULL, "w1", id, sizeof id, err, sizeof err) != 0) {
        fprintf(stderr, "enqueue: %s\n", err);
        json_decref(params);
        return "not queued";
    }
    json_decref(params);
    CHECK(oma_workers_run_one(db, st, models, tmpdir, "gen", err, sizeof err) == 1);
    json_t *j = oma_jobs_get_json(db, id, "art1");
    snprintf(status, sizeof status, "%s", json_string_value(json_object_get(j, "status")));
    snprintf(error, errlen, "%s", json_string_value(json_object_get(j, "error")) ? json_string_value(json_object_get(j, "error")) : "");
    json_decref(j);
    if (strcmp(status, "succeeded") == 0) {
        char key[128];
        uint8_t *png = NULL;
        size_t len = 0;
        snprintf(key, sizeof key, "jobs/%s/image-0.png", id);
        CHECK(oma_storage_get(st, key, (size_t)16 << 20, &png, &len, err, sizeof err) == 0);
        CHECK(png && oma_image_decode(png, len, 3, 0, NULL, img, err, sizeof err) == 0);
        free(png);
    }
    return status;
}

static int same(const oma_image *a, const oma_image *b)
{
    return a->px && b->px && a->w == b->w && a->h == b->h && a->c == b->c &&
           memcmp(a->px, b->px, (size_t)a->w * a->h * a->c) == 0;
}

int main(void)
{
    if (setup() != 0) {
        fprintf(stderr, "setup failed\n");
        return 1;
    }
    oma_image picked = {0}, spelled = {0}, plain = {0};
    char err[512], params[2048], cached[512];
    const char *s = generate("{\"prompt\":\"" PROMPT "\"," COMMON ",\"style_id\":\"sty1\"}", &picked, err, sizeof err);
    if (strcmp(s, "succeeded") != 0) fprintf(stderr, "with style_id: %s: %s\n", s, err);
    CHECK(strcmp(s, "succeeded") == 0);
    snprintf(cached, sizeof cached, "%s/cache/styles/sty1/Night.safetensors", tmpdir);
    FILE *f = fopen(cached, "rb");
    CHECK(f != NULL); /* the worker's copy of the style's LoRA */
    if (f) fclose(f);
    snprintf(params, sizeof params,
             "{\"prompt\":\"" PROMPT ", style of <s1><s2>\"," COMMON
             ",\"loras\":[{\"path\":\"%s\",\"unet_weight\":0.8,\"text_weight\":0.9}]}",
             cached);
    s = generate(params, &spelled, err, sizeof err);
    if (strcmp(s, "succeeded") != 0) fprintf(stderr, "spelled out: %s: %s\n", s, err);
    CHECK(strcmp(s, "succeeded") == 0);
    CHECK(same(&picked, &spelled));
    s = generate("{\"prompt\":\"" PROMPT "\"," COMMON "}", &plain, err, sizeof err);
    CHECK(strcmp(s, "succeeded") == 0);
    CHECK(!same(&picked, &plain)); /* the style does change the picture */

    oma_image none = {0};
    s = generate("{\"prompt\":\"" PROMPT "\"," COMMON ",\"style_id\":\"sty2\"}", &none, err, sizeof err);
    CHECK(strcmp(s, "failed") == 0 && strstr(err, "Gone.safetensors") && strstr(err, "gone"));
    if (!strstr(err, "gone")) fprintf(stderr, "missing file error: %s\n", err);
    /* a request cannot name the file itself: a style without style_id loses its paths */
    snprintf(params, sizeof params,
             "{\"prompt\":\"" PROMPT "\"," COMMON ",\"style\":{\"kind\":\"lora\",\"tokens\":\"<s1><s2>\",\"lora_path\":\"%s\"}}",
             cached);
    s = generate(params, &none, err, sizeof err);
    CHECK(strcmp(s, "failed") == 0 && strstr(err, "not in the server's data folder"));
    s = generate("{\"prompt\":\"" PROMPT "\"," COMMON ",\"style_id\":\"nope\"}", &none, err, sizeof err);
    CHECK(strcmp(s, "failed") == 0 && strstr(err, "style not found"));

    oma_image_free(&picked);
    oma_image_free(&spelled);
    oma_image_free(&plain);
    oma_storage_close(st);
    oma_db_close(db);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    CHECK(system(cmd) == 0);
    return failures != 0;
}
