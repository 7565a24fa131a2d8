/* test_onnx_rt.c — the ONNX runtime against onnxruntime-node: each tiny model in
 * tests/fixtures/onnx (random weights, exported by Debian's torch, tools/make_onnx_fixtures.py)
 * is run on its committed input and every output compared with what onnxruntime-node 1.17.3
 * produced for the same file and input (tools/onnx_ort_ref.mjs, graph optimisations off).
 * Twice: against the committed .ref files, and against onnxruntime-node run now (the test
 * spawns `node tools/onnx_ort_ref.mjs` from the source tree; tests/package.json pins
 * onnxruntime-node, which `make test` installs), which also covers DWPose's two tiny models at
 * the real interfaces (tests/fixtures/onnx/dwpose: 640x640 detector on models.test_dwpose's
 * letterboxed image, 64x48 pose on noise). Without node or onnxruntime-node the test fails and says so.
 * Tolerance |got - want| <= 1e-4 + 1e-4 |want| (tighter than the pose tests' 2e-3). Also: a
 * model using an op the runtime lacks, inputs of the wrong shape, and graphs edited to lie
 * (Conv group, Reshape target, Gather index, MatMul inner dim) fail with a message. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../common/check.h"
#include "formats/onnx.h"
#include "models/dwpose/dwpose_pre.h"
#include "models/onnx/onnx_rt.h"

static char err[512];

static void *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc(n > 0 ? (size_t)n : 1);
    if (p && fread(p, 1, (size_t)n, f) != (size_t)n) { free(p); p = NULL; }
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* Runs model (path) on the float32 input in_path and compares with ref_prefix.ref.{txt,bin}. */
static void check_model(const char *name, const char *model, const char *in_path, const char *ref_prefix)
{
    char path[1024];
    oma_onnx_model m;
    int rc = oma_onnx_load(model, &m, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    CHECK(rc == 0);
    if (rc) return;
    CHECK(m.n_inputs == 1 && m.inputs[0].ndim > 0);
    oma_ort_value in;
    CHECK(oma_ort_value_alloc(&in, OMA_ONNX_FLOAT, m.inputs[0].ndim, m.inputs[0].dims) == 0);
    size_t len = 0;
    float *x = read_all(in_path, &len);
    CHECK(x && len == (size_t)in.numel * 4);
    if (x && len == (size_t)in.numel * 4) memcpy(in.data, x, len);
    free(x);
    oma_ort_session *s = NULL;
    rc = oma_ort_create(&m, &s, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    CHECK(rc == 0);
    oma_ort_value outs[8];
    memset(outs, 0, sizeof outs);
    CHECK(m.n_outputs <= 8);
    rc = rc ? rc : oma_ort_run(s, &in, 1, outs, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    CHECK(rc == 0);
    snprintf(path, sizeof path, "%s.ref.bin", ref_prefix);
    float *ref = read_all(path, &len);
    snprintf(path, sizeof path, "%s.ref.txt", ref_prefix);
    FILE *f = fopen(path, "r");
    CHECK(ref && f);
    size_t at = 0, k = 0;
    char line[512];
    double worst = 0;
    while (rc == 0 && ref && f && fgets(line, sizeof line, f)) {
        char oname[256];
        int nd, used;
        if (sscanf(line, "out %255s %d%n", oname, &nd, &used) != 2) continue;
        CHECK(k < m.n_outputs);
        if (k >= m.n_outputs) break;
        const oma_ort_value *o = &outs[k];
        CHECK(!strcmp(m.outputs[k].name, oname));
        CHECK(o->ndim == nd && o->dtype == OMA_ONNX_FLOAT);
        char *p = line + used;
        int64_t numel = 1;
        for (int i = 0; i < nd; i++) {
            int64_t d = strtoll(p, &p, 10);
            CHECK(i < o->ndim && o->dims[i] == d);
            numel *= d;
        }
        CHECK(o->numel == numel && (at + (size_t)numel) * 4 <= len);
        int bad = 0;
        for (int64_t i = 0; o->numel == numel && (at + (size_t)numel) * 4 <= len && i < numel; i++) {
            double want = ref[at + (size_t)i], got = ((const float *)o->data)[i], d = fabs(got - want);
            if (d > worst) worst = d;
            if (!(d <= 1e-4 + 1e-4 * fabs(want)) && bad++ < 5)
                fprintf(stderr, "%s %s[%lld]: got %.7g, onnxruntime %.7g\n", name, oname, (long long)i, got, want);
        }
        CHECK(bad == 0);
        at += (size_t)numel;
        k++;
    }
    CHECK(k == m.n_outputs);
    CHECK(at * 4 == len);
    printf("%s (%s): %zu nodes (%zu SiLU fused), %zu outputs, max |diff| vs onnxruntime-node %.3g\n", name, ref_prefix,
           m.n_nodes, oma_ort_n_fused(s), k, worst);
    /* every model here uses SiLU (Sigmoid * x), so the fused kernel is what was compared */
    CHECK(oma_ort_n_fused(s) > 0);
    if (f) fclose(f);
    free(ref);
    /* a wrong input shape is refused */
    if (s) {
        oma_ort_value bad;
        int64_t d[4] = {1, 2, 3, 4};
        CHECK(oma_ort_value_alloc(&bad, OMA_ONNX_FLOAT, 4, d) == 0);
        oma_ort_value o2[8];
        CHECK(oma_ort_run(s, &bad, 1, o2, err, sizeof err) == -1 && strstr(err, "shape does not match"));
        oma_ort_value_free(&bad);
    }
    for (size_t i = 0; i < m.n_outputs && i < 8; i++) oma_ort_value_free(&outs[i]);
    oma_ort_value_free(&in);
    oma_ort_destroy(s);
    oma_onnx_free(&m);
}

/* Runs tiny_ops after `mutate` edited the loaded graph; expects an error containing needle. */
static void expect_run_error(const char *dir, void (*mutate)(oma_onnx_model *), const char *needle, int at_create)
{
    char path[1024];
    oma_onnx_model m;
    snprintf(path, sizeof path, "%s/tiny_ops.onnx", dir);
    if (oma_onnx_load(path, &m, err, sizeof err) != 0) { CHECK(0); return; }
    mutate(&m);
    oma_ort_session *s = NULL;
    int rc = oma_ort_create(&m, &s, err, sizeof err);
    CHECK(at_create ? rc == -1 : rc == 0);
    if (rc == 0) {
        oma_ort_value in, outs[8];
        CHECK(oma_ort_value_alloc(&in, OMA_ONNX_FLOAT, 4, m.inputs[0].dims) == 0);
        rc = oma_ort_run(s, &in, 1, outs, err, sizeof err);
        CHECK(rc == -1);
        if (rc == 0) for (size_t i = 0; i < m.n_outputs; i++) oma_ort_value_free(&outs[i]);
        oma_ort_value_free(&in);
    }
    if (!strstr(err, needle)) fprintf(stderr, "expected '%s' in: %s\n", needle, err);
    CHECK(strncmp(err, "oma: onnx: ", 11) == 0 && strstr(err, needle) != NULL);
    oma_ort_destroy(s);
    oma_onnx_free(&m);
}

static oma_onnx_node *first(oma_onnx_model *m, const char *op)
{
    for (size_t i = 0; i < m->n_nodes; i++) if (!strcmp(m->nodes[i].op_type, op)) return &m->nodes[i];
    return NULL;
}
static void unknown_op(oma_onnx_model *m) { char *p = first(m, "Sigmoid")->op_type; strcpy(p, "Sigmoix"); }
static void bad_group(oma_onnx_model *m)
{
    oma_onnx_node *n = first(m, "Conv");
    for (int i = 0; i < n->n_attrs; i++) if (!strcmp(n->attrs[i].name, "group")) n->attrs[i].i = 3;
}
static void bad_reshape(oma_onnx_model *m)
{
    oma_onnx_node *n = first(m, "Reshape");
    /* its shape input is a Constant's output: make that constant ask for 7 x -1 */
    for (size_t i = 0; i < m->n_nodes; i++)
        if (!strcmp(m->nodes[i].outputs[0], n->inputs[1])) {
            oma_onnx_tensor *t = m->nodes[i].attrs[0].t;
            ((int64_t *)t->data)[0] = 7;
            ((int64_t *)t->data)[1] = -1;
        }
}
static void bad_gather(oma_onnx_model *m)
{
    oma_onnx_node *n = first(m, "Gather");
    for (size_t i = 0; i < m->n_nodes; i++)
        if (!strcmp(m->nodes[i].outputs[0], n->inputs[1])) ((int64_t *)m->nodes[i].attrs[0].t->data)[0] = 1000;
}
static void bad_matmul(oma_onnx_model *m)
{
    oma_onnx_node *n = first(m, "MatMul");
    for (size_t i = 0; i < m->n_inits; i++)
        if (!strcmp(m->inits[i].name, n->inputs[1])) m->inits[i].dims[0] -= 1, m->inits[i].numel -= m->inits[i].dims[1];
}

/* onnxruntime-node now: `node tools/onnx_ort_ref.mjs model in shape prefix` run in the source
 * tree (argv, no shell). 0 when it wrote prefix.ref.{txt,bin}. */
static int ort_now(const char *root, const char *model, const char *in, const char *shape, const char *prefix)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        if (chdir(root) != 0) _exit(126);
        execlp("node", "node", "tools/onnx_ort_ref.mjs", model, in, shape, prefix, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) return -1;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "node tools/onnx_ort_ref.mjs %s failed (status %d): is onnxruntime-node installed? "
                        "(cd tests && npm ci)\n", model, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        return -1;
    }
    return 0;
}

/* A deterministic input for the DWPose models. The detector gets what it sees in
 * models.test_dwpose: the letterbox of that test's 1280x1280 formula image (the same formula as
 * tools/make_dwpose_e2e_fixtures.py), so the max |diff| printed is the one that decides whether
 * NMS could order that test's boxes differently; the pose model gets uniform noise. */
static int write_input(const char *path, size_t n, float scale, float offset)
{
    float *x = malloc(n * sizeof *x);
    if (!x) return -1;
    if (n == 3 * 640 * 640) {
        const int w = 1280, h = 1280;
        uint8_t *img = malloc((size_t)w * h * 3);
        float ratio = 0;
        for (int y = 0; img && y < h; y++)
            for (int xx = 0; xx < w; xx++) {
                uint8_t *p = img + ((size_t)y * w + xx) * 3;
                int in_block = y >= 240 && y < 1040 && xx >= 400 && xx < 720;
                p[0] = (uint8_t)(in_block ? 230 - (y - 240) * 40 / 800 : xx * 255 / w);
                p[1] = (uint8_t)(in_block ? 40 + (xx - 400) * 60 / 320 : y * 255 / h);
                p[2] = (uint8_t)(in_block ? 40 + ((xx ^ y) & 31) : (xx ^ y) & 255);
            }
        int rc = img ? oma_dwpose_letterbox(img, w, h, 640, x, &ratio) : -1;
        free(img);
        if (rc != 0) { free(x); return -1; }
    } else {
        uint32_t r = 12345;
        for (size_t i = 0; i < n; i++) {
            r = r * 1664525u + 1013904223u;
            x[i] = offset + scale * ((float)(r >> 8) / 16777216.0f - 0.5f);
        }
    }
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(x, sizeof *x, n, f) == n;
    if (f && fclose(f) != 0) ok = 0;
    free(x);
    return ok ? 0 : -1;
}

static void live(const char *root, const char *dir)
{
    char tmp[] = "/tmp/oma_ort_XXXXXX";
    if (!mkdtemp(tmp)) { CHECK(0); return; }
    static const struct { const char *name, *model, *shape; size_t n; float scale, offset; } cases[] = {
        {"tiny_ops", "tiny_ops", "1,3,16,16", 0, 0, 0},
        {"tiny_rtmpose", "tiny_rtmpose", "1,3,64,48", 0, 0, 0},
        {"tiny_yolox", "tiny_yolox", "1,3,64,64", 0, 0, 0},
        {"dwpose_det", "dwpose/yolox_l", "1,3,640,640", 3 * 640 * 640, 255, 127.5f},
        {"dwpose_pose", "dwpose/dw-ll_ucoco_384", "1,3,64,48", 3 * 64 * 48, 4, 0},
    };
    char model[4400], in[4400], prefix[1200], file[1300];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(model, sizeof model, "%s/%s.onnx", dir, cases[i].model);
        snprintf(prefix, sizeof prefix, "%s/%s", tmp, cases[i].name);
        if (cases[i].n) {
            snprintf(in, sizeof in, "%s/%s.in.bin", tmp, cases[i].name);
            CHECK(write_input(in, cases[i].n, cases[i].scale, cases[i].offset) == 0);
        } else {
            snprintf(in, sizeof in, "%s/%s.in.bin", dir, cases[i].model);
        }
        int rc = ort_now(root, model, in, cases[i].shape, prefix);
        CHECK(rc == 0);
        if (rc == 0) check_model(cases[i].name, model, in, prefix);
        static const char *const ext[] = {".ref.txt", ".ref.bin", ".in.bin"};
        for (int e = 0; e < 3; e++) {
            snprintf(file, sizeof file, "%s%s", prefix, ext[e]);
            unlink(file);
        }
    }
    CHECK(rmdir(tmp) == 0);
}

int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    char root[4096], dir[4200], model[4300], in[4300], prefix[4300];
    if (!realpath(src ? src : "..", root)) { fprintf(stderr, "no source tree at %s\n", src ? src : ".."); return 1; }
    snprintf(dir, sizeof dir, "%s/tests/fixtures/onnx", root);
    static const char *const committed[] = {"tiny_ops", "tiny_rtmpose", "tiny_yolox"};
    for (int i = 0; i < 3; i++) {
        snprintf(model, sizeof model, "%s/%s.onnx", dir, committed[i]);
        snprintf(in, sizeof in, "%s/%s.in.bin", dir, committed[i]);
        snprintf(prefix, sizeof prefix, "%s/%s", dir, committed[i]);
        check_model(committed[i], model, in, prefix);
    }
    live(root, dir);
    expect_run_error(dir, unknown_op, "op Sigmoix is not supported", 1);
    expect_run_error(dir, bad_group, "group 3 does not fit", 0);
    expect_run_error(dir, bad_reshape, "cannot infer -1", 0);
    expect_run_error(dir, bad_gather, "index 1000 out of range", 0);
    expect_run_error(dir, bad_matmul, "inner dims", 0);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    return failures != 0;
}
