/* test_pose_dwpose.c — DWPose as a product feature, on the tiny models at DWPose's real
 * interfaces (tests/fixtures/onnx/dwpose, put under a temporary OMA_MODELS/dwpose):
 *  - oma_pose_estimate_dwpose on models.test_dwpose's 1280x1280 image against DWPose's own
 *    Python output (dwpose_e2e.ref.bin, tools/make_dwpose_e2e_fixtures.py): the OpenPose people
 *    (body 18, face 68, hands 21 each; points under 0.3 absent as wholebody.py sets them to -1)
 *    and the 133 COCO-WholeBody points (raw scores), person by person;
 *  - availability: both files needed (one missing -> not available, and a clear error);
 *  - grey and transparent inputs run, too small / too large images fail with a message;
 *  - the CLI ($OMA_BIN): `oma pose estimate --model dwpose --wholebody` writes 133 points per
 *    person, a missing folder is exit 1 with one `oma: ...` line, `oma models check` lists the
 *    two files. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "../common/check.h"
#include "formats/openpose.h"
#include "pipelines/pose/pose_dwpose.h"
#include "pipelines/pose/pose_models.h"

static char tmp[] = "/tmp/oma_dwpose_XXXXXX";

static void *load(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) { *n = 0; return NULL; }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc((size_t)len + 4);
    if (p && fread(p, 1, (size_t)len, f) != (size_t)len) { free(p); p = NULL; }
    fclose(f);
    *n = (size_t)len;
    return p;
}

/* the image of tools/make_dwpose_e2e_fixtures.py (models.test_dwpose builds the same) */
static int formula_image(oma_image *img)
{
    if (oma_image_alloc(img, 1280, 1280, 3) != 0) return -1;
    for (int y = 0; y < 1280; y++)
        for (int x = 0; x < 1280; x++) {
            uint8_t *p = img->px + ((size_t)y * 1280 + x) * 3;
            int in_block = y >= 240 && y < 1040 && x >= 400 && x < 720;
            p[0] = (uint8_t)(in_block ? 230 - (y - 240) * 40 / 800 : x * 255 / 1280);
            p[1] = (uint8_t)(in_block ? 40 + (x - 400) * 60 / 320 : y * 255 / 1280);
            p[2] = (uint8_t)(in_block ? 40 + ((x ^ y) & 31) : (x ^ y) & 255);
        }
    return 0;
}

static int bad;
static void same_kp(const oma_kp *got, const float *rk, const float *rs, int idx, const char *what, int i)
{
    int want_vis = rs[idx] >= 0.3f;
    int ok = want_vis ? got->c > 0 && fabsf(got->x - rk[2 * idx]) <= 1e-3f * (1 + fabsf(rk[2 * idx])) &&
                            fabsf(got->y - rk[2 * idx + 1]) <= 1e-3f * (1 + fabsf(rk[2 * idx + 1])) &&
                            fabsf(got->c - rs[idx]) <= 1e-3f
                      : got->c <= 0;
    if (!ok && bad++ < 5)
        fprintf(stderr, "person %d %s (OpenPose-134 #%d): (%.3f, %.3f, %.4f) vs DWPose (%.3f, %.3f, %.4f)\n", i, what, idx,
                got->x, got->y, got->c, rk[2 * idx], rk[2 * idx + 1], rs[idx]);
}

static void against_reference(const char *src)
{
    char path[1200], err[512];
    size_t nr = 0;
    snprintf(path, sizeof path, "%.1100s/tests/fixtures/onnx/dwpose_e2e.ref.bin", src);
    uint8_t *ref = load(path, &nr);
    oma_image img = {0};
    CHECK(ref && nr >= 4 && formula_image(&img) == 0);
    if (!ref || nr < 4 || !img.px) { free(ref); oma_image_free(&img); return; }
    int32_t want;
    memcpy(&want, ref, 4);
    CHECK(want > 0 && nr == 4 + (size_t)want * 134 * 3 * 4);
    if (want <= 0 || nr != 4 + (size_t)want * 134 * 3 * 4) { free(ref); oma_image_free(&img); return; }
    const float *rk = (const float *)(ref + 4), *rs = rk + (size_t)want * 134 * 2;
    oma_pose_result res;
    int rc = oma_pose_estimate_dwpose(tmp, &img, &res, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    CHECK(rc == 0);
    printf("people: %d (DWPose's Python: %d), hands found %d, faces found %d\n", rc ? -1 : res.pose.n_people, want,
           res.hands_found, res.faces_found);
    CHECK(rc == 0 && res.pose.n_people == want && res.wholebody);
    for (int i = 0; rc == 0 && i < want && i < res.pose.n_people; i++) {
        const float *k = rk + (size_t)i * 134 * 2, *s = rs + (size_t)i * 134;
        const oma_pose_person *p = &res.pose.people[i];
        for (int j = 0; j < OMA_OP_BODY; j++) same_kp(&p->body[j], k, s, j, "body", i);
        for (int j = 0; j < OMA_OP_FACE; j++) same_kp(&p->face[j], k, s, 24 + j, "face", i);
        for (int j = 0; j < OMA_OP_HAND; j++) same_kp(&p->lhand[j], k, s, 92 + j, "left hand", i);
        for (int j = 0; j < OMA_OP_HAND; j++) same_kp(&p->rhand[j], k, s, 113 + j, "right hand", i);
        /* WholeBody 133 = OpenPose-134 without the neck, in COCO order: body 0-16 are the
         * OpenPose indices of wholebody.py's reorder; 17.. follow the neck one place later */
        static const int op_of_coco[17] = {0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10};
        for (int j = 0; j < 133; j++) {
            int o = j < 17 ? op_of_coco[j] : j + 1;
            const oma_kp *q = &res.wholebody[(size_t)i * 133 + (size_t)j];
            int ok = fabsf(q->c - s[o]) <= 1e-3f &&
                     (s[o] <= 0 || (fabsf(q->x - k[2 * o]) <= 1e-3f * (1 + fabsf(k[2 * o])) &&
                                    fabsf(q->y - k[2 * o + 1]) <= 1e-3f * (1 + fabsf(k[2 * o + 1]))));
            if (!ok && bad++ < 5)
                fprintf(stderr, "person %d wholebody %d: (%.3f, %.3f, %.4f) vs DWPose (%.3f, %.3f, %.4f)\n", i, j, q->x, q->y,
                        q->c, k[2 * o], k[2 * o + 1], s[o]);
        }
    }
    printf("mismatched points: %d\n", bad);
    CHECK(bad == 0);
    oma_pose_result_free(&res);

    /* grey and transparent images run too (transparency on white, grey expanded) */
    oma_image grey = {0}, rgba = {0};
    CHECK(oma_image_convert(&img, 1, &grey) == 0 && oma_image_convert(&img, 4, &rgba) == 0);
    for (size_t i = 0; rgba.px && i < (size_t)rgba.w * rgba.h; i++) rgba.px[i * 4 + 3] = (uint8_t)(i & 255);
    CHECK(grey.px && oma_pose_estimate_dwpose(tmp, &grey, &res, err, sizeof err) == 0);
    oma_pose_result_free(&res);
    CHECK(rgba.px && oma_pose_estimate_dwpose(tmp, &rgba, &res, err, sizeof err) == 0);
    oma_pose_result_free(&res);
    oma_image_free(&grey);
    oma_image_free(&rgba);
    /* sizes out of range: a message, no result */
    oma_image tiny = {0};
    CHECK(oma_image_alloc(&tiny, 1, 1, 3) == 0);
    CHECK(oma_pose_estimate_dwpose(tmp, &tiny, &res, err, sizeof err) == -1 && strstr(err, "too small") && !res.wholebody);
    oma_image_free(&tiny);
    oma_image big = {.w = OMA_POSE_MAX_CANVAS + 1, .h = 16, .c = 3, .px = img.px};
    CHECK(oma_pose_estimate_dwpose(tmp, &big, &res, err, sizeof err) == -1 && strstr(err, "too large"));
    /* the CLI on the same image */
    char cmd[4096], out[1400];
    snprintf(path, sizeof path, "%s/in.png", tmp);
    CHECK(oma_image_save_png(path, &img, err, sizeof err) == 0);
    const char *bin = getenv("OMA_BIN");
    CHECK(bin && access(bin, X_OK) == 0);
    if (bin) {
        snprintf(cmd, sizeof cmd, "OMA_MODELS='%s' '%s' pose estimate '%s/in.png' --model dwpose -o '%s/pose.json' --wholebody '%s/wb.json' --render '%s/s.png' >'%s/out.txt' 2>&1",
                 tmp, bin, tmp, tmp, tmp, tmp, tmp);
        int st = system(cmd);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        snprintf(out, sizeof out, "%s/wb.json", tmp);
        json_error_t je;
        json_t *wb = json_load_file(out, 0, &je);
        json_t *people = json_object_get(wb, "people");
        CHECK(json_is_array(people) && (int)json_array_size(people) == want);
        for (size_t i = 0; i < json_array_size(people); i++)
            CHECK(json_array_size(json_object_get(json_array_get(people, i), "keypoints")) == 133);
        json_decref(wb);
        snprintf(out, sizeof out, "%s/pose.json", tmp);
        oma_pose pose;
        size_t len = 0;
        char *text = load(out, &len);
        CHECK(text && oma_pose_parse(text, len, 0, 0, &pose, err, sizeof err) == 0 && pose.n_people == want);
        if (text && pose.n_people == want) oma_pose_free(&pose);
        free(text);
        snprintf(out, sizeof out, "%s/out.txt", tmp);
        text = load(out, &len);
        CHECK(text && strstr(text, "20 people"));
        free(text);
        /* missing models: exit 1, one line naming both files */
        snprintf(cmd, sizeof cmd, "OMA_MODELS='%s/none' '%s' pose estimate '%s/in.png' --model dwpose -o '%s/p2.json' 2>'%s/err.txt'",
                 tmp, bin, tmp, tmp, tmp);
        st = system(cmd);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
        snprintf(out, sizeof out, "%s/err.txt", tmp);
        text = load(out, &len);
        CHECK(text && !strncmp(text, "oma: pose estimate: dwpose: ", 28) && strstr(text, "yolox_l.onnx") &&
              strstr(text, "dw-ll_ucoco_384.onnx"));
        free(text);
        /* oma models check lists them */
        snprintf(cmd, sizeof cmd, "OMA_MODELS='%s' '%s' models check >'%s/check.txt' 2>&1", tmp, bin, tmp);
        st = system(cmd);
        CHECK(WIFEXITED(st));
        snprintf(out, sizeof out, "%s/check.txt", tmp);
        text = load(out, &len);
        CHECK(text && strstr(text, "DWPose") && strstr(text, "/dwpose/yolox_l.onnx (") &&
              strstr(text, "/dwpose/dw-ll_ucoco_384.onnx ("));
        free(text);
    }
    oma_image_free(&img);
    free(ref);
}

int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    char real[4096], link_path[700], dir[600], err[512];
    if (!realpath(src ? src : "..", real)) return 1;
    CHECK(mkdtemp(tmp) != NULL);
    /* without the files: not available, and a message naming both */
    char buf[4200];
    CHECK(oma_pose_dwpose_available(tmp, buf, sizeof buf) == 0);
    int dw = -1;
    for (int i = 0; i < oma_pose_model_count(); i++)
        if (!strcmp(oma_pose_model_name(i), "dwpose")) dw = i;
    CHECK(dw >= 0 && oma_pose_model_available(tmp, dw) == 0);
    oma_image small = {0};
    oma_pose_result res;
    CHECK(oma_image_alloc(&small, 32, 32, 3) == 0);
    CHECK(oma_pose_estimate_dwpose(tmp, &small, &res, err, sizeof err) == -1 && strstr(err, "yolox_l.onnx") &&
          strstr(err, "dw-ll_ucoco_384.onnx"));
    /* one file only: still not available */
    snprintf(dir, sizeof dir, "%s/dwpose", tmp);
    CHECK(mkdir(dir, 0755) == 0);
    snprintf(link_path, sizeof link_path, "%s/yolox_l.onnx", dir);
    snprintf(buf, sizeof buf, "%s/tests/fixtures/onnx/dwpose/yolox_l.onnx", real);
    CHECK(symlink(buf, link_path) == 0);
    CHECK(oma_pose_model_available(tmp, dw) == 0);
    snprintf(link_path, sizeof link_path, "%s/dw-ll_ucoco_384.onnx", dir);
    snprintf(buf, sizeof buf, "%s/tests/fixtures/onnx/dwpose/dw-ll_ucoco_384.onnx", real);
    CHECK(symlink(buf, link_path) == 0);
    CHECK(oma_pose_model_available(tmp, dw) == 1);
    against_reference(real);
    oma_image_free(&small);
    char rm[700];
    snprintf(rm, sizeof rm, "rm -rf '%s'", tmp);
    CHECK(system(rm) == 0);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    return failures != 0;
}
