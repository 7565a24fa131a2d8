/* onnx_rt.c — the ONNX runtime's session (see onnx_rt.h): every value name gets a slot once at
 * create time (graph inputs, initializers as borrowed views, node outputs), each slot knows the
 * last node that reads it, and a run walks the nodes in order, calling the op kernels and
 * freeing each intermediate after its last reader. One fusion: SiLU as torch exports it
 * (Sigmoid(X) read only by a Mul(X, .)) runs as one kernel on the Mul node (same bits). */
#include "models/onnx/onnx_rt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/onnx/onnx_ops.h"

struct oma_ort_session {
    const oma_onnx_model *m;
    size_t n_slots;
    const char **names;
    int *kind;                      /* 0 node output, 1 graph input, 2 initializer */
    size_t *init_of;                /* initializer index for kind 2 */
    long *last_use;                 /* last node reading it; LONG_MAX for graph outputs */
    int **in_slot, **out_slot;      /* per node: slot per input (-1 omitted) / output */
    ort_op_fn *fns;
    size_t n_fused;
};

size_t oma_ort_n_fused(const oma_ort_session *s) { return s ? s->n_fused : 0; }

int oma_ort_value_alloc(oma_ort_value *v, int dtype, int ndim, const int64_t *dims)
{
    memset(v, 0, sizeof *v);
    if (ndim < 0 || ndim > OMA_ONNX_MAX_DIMS || (dtype != OMA_ONNX_FLOAT && dtype != OMA_ONNX_INT64)) return -1;
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0 || dims[i] > OMA_ONNX_MAX_DIM) return -1;
        if (dims[i] && n > OMA_ONNX_MAX_NUMEL / dims[i]) return -1;
        n *= dims[i];
        v->dims[i] = dims[i];
    }
    v->dtype = dtype;
    v->ndim = ndim;
    v->numel = n;
    v->data = calloc((size_t)(n ? n : 1), dtype == OMA_ONNX_FLOAT ? 4 : 8);
    if (!v->data) return -1;
    v->owned = 1;
    return 0;
}

void oma_ort_value_free(oma_ort_value *v)
{
    if (v && v->owned) free(v->data);
    if (v) memset(v, 0, sizeof *v);
}

int ort_fail(ort_ctx *c, const char *fmt, ...)
{
    if (c->err && c->errlen) {
        char msg[384];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(c->err, c->errlen, "oma: onnx: node '%s' (%s): %s", c->n->name, c->n->op_type, msg);
    }
    return -1;
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        char msg[384];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        snprintf(err, errlen, "oma: onnx: %s", msg);
    }
    return -1;
}

static long find_slot(const oma_ort_session *s, const char *name)
{
    for (size_t i = 0; i < s->n_slots; i++)
        if (!strcmp(s->names[i], name)) return (long)i;
    return -1;
}

void oma_ort_destroy(oma_ort_session *s)
{
    if (!s) return;
    if (s->in_slot) for (size_t i = 0; i < s->m->n_nodes; i++) free(s->in_slot[i]);
    if (s->out_slot) for (size_t i = 0; i < s->m->n_nodes; i++) free(s->out_slot[i]);
    free(s->in_slot); free(s->out_slot); free(s->fns);
    free(s->names); free(s->kind); free(s->init_of); free(s->last_use);
    free(s);
}

/* Sigmoid node i (X -> S) whose S is read by exactly one node j, a Mul of X and S: j computes
 * SiLU from X alone (its S input dropped) and i does nothing. */
static void fuse_silu(oma_ort_session *s)
{
    const oma_onnx_model *m = s->m;
    for (size_t i = 0; i < m->n_nodes; i++) {
        const oma_onnx_node *n = &m->nodes[i];
        if (strcmp(n->op_type, "Sigmoid") || n->n_inputs != 1 || n->n_outputs != 1) continue;
        int x = s->in_slot[i][0], sg = s->out_slot[i][0];
        if (x < 0 || sg < 0 || s->last_use[sg] <= (long)i || s->last_use[sg] >= (long)m->n_nodes) continue;
        size_t j = (size_t)s->last_use[sg];
        const oma_onnx_node *mul = &m->nodes[j];
        if (strcmp(mul->op_type, "Mul") || mul->n_inputs != 2 || mul->n_outputs != 1) continue;
        int a = s->in_slot[j][0], b = s->in_slot[j][1];
        if (!((a == x && b == sg) || (a == sg && b == x))) continue;
        int readers = 0;             /* S must have no other reader */
        for (size_t k = i + 1; k <= j; k++)
            for (int q = 0; q < m->nodes[k].n_inputs; q++) readers += s->in_slot[k][q] == sg;
        if (readers != 1) continue;
        s->fns[i] = ort_op_skip;
        s->fns[j] = ort_op_silu;
        s->in_slot[j][a == sg ? 0 : 1] = -1;
        s->n_fused++;
    }
}

int oma_ort_create(const oma_onnx_model *m, oma_ort_session **out, char *err, size_t errlen)
{
    *out = NULL;
    oma_ort_session *s = calloc(1, sizeof *s);
    if (!s) return fail(err, errlen, "out of memory");
    s->m = m;
    size_t cap = m->n_inputs + m->n_inits;
    for (size_t i = 0; i < m->n_nodes; i++) cap += (size_t)m->nodes[i].n_outputs;
    s->names = calloc(cap + 1, sizeof *s->names);
    s->kind = calloc(cap + 1, sizeof *s->kind);
    s->init_of = calloc(cap + 1, sizeof *s->init_of);
    s->last_use = calloc(cap + 1, sizeof *s->last_use);
    s->in_slot = calloc(m->n_nodes + 1, sizeof *s->in_slot);
    s->out_slot = calloc(m->n_nodes + 1, sizeof *s->out_slot);
    s->fns = calloc(m->n_nodes + 1, sizeof *s->fns);
    if (!s->names || !s->kind || !s->init_of || !s->last_use || !s->in_slot || !s->out_slot || !s->fns) {
        oma_ort_destroy(s);
        return fail(err, errlen, "out of memory");
    }
    for (size_t i = 0; i < m->n_inputs; i++) { s->kind[s->n_slots] = 1; s->names[s->n_slots++] = m->inputs[i].name; }
    for (size_t i = 0; i < m->n_inits; i++) {
        int dt = m->inits[i].dtype;
        s->kind[s->n_slots] = 2;
        s->init_of[s->n_slots] = i;
        s->names[s->n_slots++] = m->inits[i].name;
        (void)dt;
    }
    for (size_t i = 0; i < m->n_nodes; i++) {
        const oma_onnx_node *n = &m->nodes[i];
        if (!(s->fns[i] = ort_find_op(n->op_type))) {
            oma_ort_destroy(s);
            return fail(err, errlen, "node '%s': op %s is not supported by this runtime", n->name, n->op_type);
        }
        s->in_slot[i] = calloc((size_t)n->n_inputs + 1, sizeof(int));
        s->out_slot[i] = calloc((size_t)n->n_outputs + 1, sizeof(int));
        if (!s->in_slot[i] || !s->out_slot[i]) { oma_ort_destroy(s); return fail(err, errlen, "out of memory"); }
        for (int j = 0; j < n->n_inputs; j++) {
            long k = n->inputs[j][0] ? find_slot(s, n->inputs[j]) : -1;
            if (n->inputs[j][0] && k < 0) { oma_ort_destroy(s); return fail(err, errlen, "node '%s': input '%s' undefined", n->name, n->inputs[j]); }
            s->in_slot[i][j] = (int)k;
            if (k >= 0) s->last_use[k] = (long)i;
        }
        for (int j = 0; j < n->n_outputs; j++) {
            if (!n->outputs[j][0]) { s->out_slot[i][j] = -1; continue; }
            s->out_slot[i][j] = (int)s->n_slots;
            s->names[s->n_slots++] = n->outputs[j];
        }
    }
    for (size_t i = 0; i < m->n_outputs; i++) {
        long k = find_slot(s, m->outputs[i].name);
        if (k < 0) { oma_ort_destroy(s); return fail(err, errlen, "graph output '%s' undefined", m->outputs[i].name); }
        s->last_use[k] = (long)m->n_nodes;  /* kept to the end */
    }
    fuse_silu(s);
    *out = s;
    return 0;
}

/* A borrowed view of an initializer, converted to float/int64 when stored narrower. */
static int init_value(const oma_onnx_tensor *t, oma_ort_value *v)
{
    memset(v, 0, sizeof *v);
    v->ndim = t->ndim;
    memcpy(v->dims, t->dims, sizeof v->dims);
    v->numel = t->numel;
    if (t->dtype == OMA_ONNX_FLOAT || t->dtype == OMA_ONNX_INT64) {
        v->dtype = t->dtype;
        v->data = t->data;
        return 0;
    }
    int to = (t->dtype == OMA_ONNX_DOUBLE || t->dtype == OMA_ONNX_FLOAT16) ? OMA_ONNX_FLOAT : OMA_ONNX_INT64;
    if (t->dtype == OMA_ONNX_FLOAT16) return -1;
    if (oma_ort_value_alloc(v, to, t->ndim, t->dims) != 0) return -1;
    for (int64_t i = 0; i < t->numel; i++) {
        switch (t->dtype) {
        case OMA_ONNX_DOUBLE: ((float *)v->data)[i] = (float)((const double *)t->data)[i]; break;
        case OMA_ONNX_INT32: ((int64_t *)v->data)[i] = ((const int32_t *)t->data)[i]; break;
        case OMA_ONNX_INT8: ((int64_t *)v->data)[i] = ((const int8_t *)t->data)[i]; break;
        default: ((int64_t *)v->data)[i] = ((const uint8_t *)t->data)[i]; break;
        }
    }
    return 0;
}

int oma_ort_run(oma_ort_session *s, const oma_ort_value *inputs, size_t n_inputs,
                oma_ort_value *outputs, char *err, size_t errlen)
{
    const oma_onnx_model *m = s->m;
    if (n_inputs != m->n_inputs) return fail(err, errlen, "%zu inputs given, the model takes %zu", n_inputs, m->n_inputs);
    oma_ort_value *vals = calloc(s->n_slots + 1, sizeof *vals);
    if (!vals) return fail(err, errlen, "out of memory");
    int rc = -1;
    for (size_t i = 0; i < m->n_inputs; i++) {
        const oma_onnx_value *d = &m->inputs[i];
        const oma_ort_value *x = &inputs[i];
        if (d->dtype && d->dtype != x->dtype) { fail(err, errlen, "input '%s': %s given, %s expected", d->name, oma_onnx_dtype_name(x->dtype), oma_onnx_dtype_name(d->dtype)); goto done; }
        if (d->ndim >= 0) {
            int ok = d->ndim == x->ndim;
            for (int k = 0; ok && k < d->ndim; k++) ok = d->dims[k] < 0 || d->dims[k] == x->dims[k];
            if (!ok) { fail(err, errlen, "input '%s': shape does not match the model's", d->name); goto done; }
        }
        vals[i] = *x;
        vals[i].owned = 0;
    }
    for (size_t i = 0; i < s->n_slots; i++)
        if (s->kind[i] == 2 && init_value(&m->inits[s->init_of[i]], &vals[i]) != 0) {
            fail(err, errlen, "initializer '%s': type %s is not supported", s->names[i], oma_onnx_dtype_name(m->inits[s->init_of[i]].dtype));
            goto done;
        }
    for (size_t i = 0; i < m->n_nodes; i++) {
        const oma_onnx_node *n = &m->nodes[i];
        oma_ort_value *in[OMA_ONNX_MAX_IO] = {0};
        oma_ort_value outv[OMA_ONNX_MAX_IO];
        memset(outv, 0, sizeof outv);
        for (int j = 0; j < n->n_inputs; j++) {
            int k = s->in_slot[i][j];
            in[j] = k >= 0 ? &vals[k] : NULL;
            if (in[j] && !in[j]->data) { fail(err, errlen, "node '%s': input '%s' has no value", n->name, n->inputs[j]); goto done; }
        }
        ort_ctx c = {n, err, errlen};
        if (s->fns[i](&c, in, n->n_inputs, outv, n->n_outputs) != 0) {
            for (int j = 0; j < n->n_outputs; j++) oma_ort_value_free(&outv[j]);
            goto done;
        }
        for (int j = 0; j < n->n_outputs; j++) {
            int k = s->out_slot[i][j];
            if (k >= 0) vals[k] = outv[j]; else oma_ort_value_free(&outv[j]);
        }
        for (int j = 0; j < n->n_inputs; j++) {
            int k = s->in_slot[i][j];
            if (k >= 0 && s->kind[k] == 0 && s->last_use[k] == (long)i) oma_ort_value_free(&vals[k]);
        }
    }
    for (size_t i = 0; i < m->n_outputs; i++) {
        long k = find_slot(s, m->outputs[i].name);
        oma_ort_value *v = &vals[k];
        if (v->owned) { outputs[i] = *v; memset(v, 0, sizeof *v); continue; }
        /* an input or initializer passed straight through: copy it */
        if (oma_ort_value_alloc(&outputs[i], v->dtype, v->ndim, v->dims) != 0) {
            for (size_t j = 0; j < i; j++) oma_ort_value_free(&outputs[j]);
            fail(err, errlen, "out of memory");
            goto done;
        }
        memcpy(outputs[i].data, v->data, (size_t)v->numel * (v->dtype == OMA_ONNX_FLOAT ? 4 : 8));
    }
    rc = 0;
done:
    for (size_t i = 0; i < s->n_slots; i++) oma_ort_value_free(&vals[i]);
    free(vals);
    return rc;
}
