/* onnx_parse.c — ModelProto, GraphProto, NodeProto, AttributeProto and ValueInfoProto for the
 * ONNX reader (see onnx.h): each message is walked field by field (onnx_wire.c), unknown
 * fields are skipped, counts are bounded, and what the runtime cannot run (subgraphs, sparse
 * tensors, training info is ignored) is refused by name. Loading ends with the graph checks
 * of onnx_check.c. */

#include "formats/onnx_wire.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Grows *arr (elements of size sz) so that index *n fits; bounded by max. */
static int grow(onnx_ctx *c, void **arr, size_t *cap, size_t n, size_t sz, size_t max, const char *what)
{
    if (n >= max) return onnx_err(c, "more than %zu %s", max, what);
    if (n < *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 8;
    if (nc > max) nc = max;
    void *p = realloc(*arr, nc * sz);
    if (!p) return onnx_err(c, "%s: out of memory", what);
    memset((uint8_t *)p + *cap * sz, 0, (nc - *cap) * sz);
    *arr = p;
    *cap = nc;
    return 0;
}

static void attr_free(oma_onnx_attr *a)
{
    free(a->name);
    free(a->s);
    free(a->floats);
    free(a->ints);
    if (a->t) { onnx_tensor_free(a->t); free(a->t); }
}

static void node_free(oma_onnx_node *n)
{
    free(n->name); free(n->op_type); free(n->domain);
    for (int i = 0; i < n->n_inputs; i++) free(n->inputs[i]);
    for (int i = 0; i < n->n_outputs; i++) free(n->outputs[i]);
    free(n->inputs); free(n->outputs);
    for (int i = 0; i < n->n_attrs; i++) attr_free(&n->attrs[i]);
    free(n->attrs);
}

void oma_onnx_free(oma_onnx_model *m)
{
    if (!m) return;
    for (size_t i = 0; i < m->n_nodes; i++) node_free(&m->nodes[i]);
    free(m->nodes);
    for (size_t i = 0; i < m->n_inits; i++) onnx_tensor_free(&m->inits[i]);
    free(m->inits);
    for (size_t i = 0; i < m->n_inputs; i++) free(m->inputs[i].name);
    free(m->inputs);
    for (size_t i = 0; i < m->n_outputs; i++) free(m->outputs[i].name);
    free(m->outputs);
    free(m->producer);
    memset(m, 0, sizeof *m);
}

/* Counts and reads a repeated ints (varint) or floats (fixed32) attribute field. */
static int add_list(onnx_ctx *c, oma_onnx_attr *a, const pb_field *f, int floats)
{
    size_t cnt;
    if (f->wire == 2) {
        if (floats) {
            if (f->len % 4) return onnx_err(c, "attribute '%s': packed floats length", a->name ? a->name : "");
            cnt = f->len / 4;
        } else {
            cnt = 0;
            for (size_t i = 0; i < f->len; i++) cnt += !(f->data[i] & 0x80);
        }
    } else if ((floats && f->wire == 5) || (!floats && f->wire == 0)) {
        cnt = 1;
    } else {
        return onnx_err(c, "attribute '%s': list field has the wrong wire type", a->name ? a->name : "");
    }
    if (a->n + cnt > OMA_ONNX_MAX_LIST) return onnx_err(c, "attribute '%s': more than %d values", a->name ? a->name : "", OMA_ONNX_MAX_LIST);
    void **arr = floats ? (void **)&a->floats : (void **)&a->ints;
    size_t es = floats ? sizeof(float) : sizeof(int64_t);
    void *p = realloc(*arr, (a->n + cnt + 1) * es);
    if (!p) return onnx_err(c, "attribute: out of memory");
    *arr = p;
    if (floats) {
        if (f->wire == 2) memcpy(a->floats + a->n, f->data, f->len);
        else { uint32_t x = (uint32_t)f->v; memcpy(a->floats + a->n, &x, 4); }
        a->n += cnt;
        return 0;
    }
    if (f->wire == 0) { a->ints[a->n++] = (int64_t)f->v; return 0; }
    pb_reader d = {f->data, f->data + f->len};
    uint64_t v;
    while (d.p < d.end) {
        if (pb_varint(&d, &v) != 0) return onnx_err(c, "attribute '%s': malformed packed ints", a->name ? a->name : "");
        a->ints[a->n++] = (int64_t)v;
    }
    return 0;
}

static int parse_attr(onnx_ctx *c, const pb_field *in, oma_onnx_attr *a)
{
    pb_reader r = {in->data, in->data + in->len};
    pb_field f;
    const char *why = NULL;
    int k, seen = 0;                /* bit per field kind present, to infer a missing type */
    int64_t type = 0;
    while ((k = pb_next(&r, &f, &why)) == 1) {
        switch (f.num) {
        case 1: free(a->name); if (!(a->name = onnx_strdup(c, &f, "attribute name"))) return -1; break;
        case 20: if (f.wire != 0) return onnx_err(c, "attribute type: wrong wire type"); type = (int64_t)f.v; break;
        case 2: if (f.wire != 5) return onnx_err(c, "attribute f: wrong wire type");
            { uint32_t x = (uint32_t)f.v; memcpy(&a->f, &x, 4); } seen |= 1; break;
        case 3: if (f.wire != 0) return onnx_err(c, "attribute i: wrong wire type"); a->i = (int64_t)f.v; seen |= 2; break;
        case 4:
            if (f.wire != 2) return onnx_err(c, "attribute s: wrong wire type");
            if (f.len > OMA_ONNX_MAX_LIST) return onnx_err(c, "attribute s: longer than %d bytes", OMA_ONNX_MAX_LIST);
            free(a->s);
            if (!(a->s = malloc(f.len + 1))) return onnx_err(c, "attribute: out of memory");
            if (f.len) memcpy(a->s, f.data, f.len);
            a->s[f.len] = 0;
            a->slen = f.len;
            seen |= 4;
            break;
        case 5:
            if (f.wire != 2) return onnx_err(c, "attribute t: wrong wire type");
            if (a->t) { onnx_tensor_free(a->t); free(a->t); }
            if (!(a->t = calloc(1, sizeof *a->t))) return onnx_err(c, "attribute: out of memory");
            if (onnx_parse_tensor(c, f.data, f.len, a->t) != 0) return -1;
            seen |= 8;
            break;
        case 6: case 10: case 11: case 22: case 23:
            return onnx_err(c, "attribute '%s': subgraph, tensor-list and sparse attributes are not supported", a->name ? a->name : "");
        case 7: if (add_list(c, a, &f, 1) != 0) return -1; seen |= 16; break;
        case 8: if (add_list(c, a, &f, 0) != 0) return -1; seen |= 32; break;
        case 9:
            if (f.wire != 2) return onnx_err(c, "attribute strings: wrong wire type");
            if (++a->n > OMA_ONNX_MAX_LIST) return onnx_err(c, "attribute: too many strings");
            seen |= 64;
            break;
        default: break;
        }
    }
    if (k < 0) return onnx_err(c, "attribute '%s': %s", a->name ? a->name : "", why);
    if (!a->name || !a->name[0]) return onnx_err(c, "attribute without a name");
    if (type == 0) {                /* IR < 2 files have no type: infer it from the field set */
        static const int kinds[] = {OMA_ONNX_ATTR_FLOAT, OMA_ONNX_ATTR_INT, OMA_ONNX_ATTR_STRING, OMA_ONNX_ATTR_TENSOR,
                                    OMA_ONNX_ATTR_FLOATS, OMA_ONNX_ATTR_INTS, OMA_ONNX_ATTR_STRINGS};
        for (int b = 0; b < 7; b++) if (seen == (1 << b)) type = kinds[b];
        if (type == 0) return onnx_err(c, "attribute '%s': no type", a->name);
    }
    switch (type) {
    case OMA_ONNX_ATTR_FLOAT: case OMA_ONNX_ATTR_INT: case OMA_ONNX_ATTR_STRING:
    case OMA_ONNX_ATTR_FLOATS: case OMA_ONNX_ATTR_INTS: case OMA_ONNX_ATTR_STRINGS: break;
    case OMA_ONNX_ATTR_TENSOR:
        if (!a->t) return onnx_err(c, "attribute '%s': tensor type without a tensor", a->name);
        break;
    default: return onnx_err(c, "attribute '%s': type %lld is not supported", a->name, (long long)type);
    }
    if ((type == OMA_ONNX_ATTR_FLOATS && (seen & 32)) || (type == OMA_ONNX_ATTR_INTS && (seen & 16)))
        return onnx_err(c, "attribute '%s': values do not match its type", a->name);
    a->type = (int)type;
    return 0;
}

static int add_name(onnx_ctx *c, char ***arr, int *n, const pb_field *f, const char *what)
{
    if (*n >= OMA_ONNX_MAX_IO) return onnx_err(c, "node with more than %d %s", OMA_ONNX_MAX_IO, what);
    char **p = realloc(*arr, (size_t)(*n + 1) * sizeof *p);
    if (!p) return onnx_err(c, "out of memory");
    *arr = p;
    if (!(p[*n] = onnx_strdup(c, f, what))) return -1;
    (*n)++;
    return 0;
}

static int parse_node(onnx_ctx *c, const pb_field *in, oma_onnx_node *n)
{
    pb_reader r = {in->data, in->data + in->len};
    pb_field f;
    const char *why = NULL;
    int k;
    size_t acap = 0, na = 0;
    while ((k = pb_next(&r, &f, &why)) == 1) {
        switch (f.num) {
        case 1: if (add_name(c, &n->inputs, &n->n_inputs, &f, "node input") != 0) return -1; break;
        case 2: if (add_name(c, &n->outputs, &n->n_outputs, &f, "node output") != 0) return -1; break;
        case 3: free(n->name); if (!(n->name = onnx_strdup(c, &f, "node name"))) return -1; break;
        case 4: free(n->op_type); if (!(n->op_type = onnx_strdup(c, &f, "op_type"))) return -1; break;
        case 7: free(n->domain); if (!(n->domain = onnx_strdup(c, &f, "node domain"))) return -1; break;
        case 5:
            if (f.wire != 2) return onnx_err(c, "node attribute: wrong wire type");
            if (grow(c, (void **)&n->attrs, &acap, na, sizeof *n->attrs, OMA_ONNX_MAX_ATTRS, "attributes on a node") != 0) return -1;
            n->n_attrs = (int)++na;
            if (parse_attr(c, &f, &n->attrs[na - 1]) != 0) return -1;
            break;
        default: break;
        }
    }
    if (k < 0) return onnx_err(c, "node: %s", why);
    if (!n->name && !(n->name = strdup(""))) return onnx_err(c, "out of memory");
    if (!n->domain && !(n->domain = strdup(""))) return onnx_err(c, "out of memory");
    if (!n->op_type || !n->op_type[0]) return onnx_err(c, "node '%s': no op_type", n->name);
    if (n->domain[0] && strcmp(n->domain, "ai.onnx"))
        return onnx_err(c, "node '%s' (%s): domain '%s' is not supported", n->name, n->op_type, n->domain);
    for (int i = 0; i < n->n_attrs; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(n->attrs[i].name, n->attrs[j].name))
                return onnx_err(c, "node '%s': attribute '%s' given twice", n->name, n->attrs[i].name);
    return 0;
}

/* ValueInfoProto {name 1, type 2 -> TypeProto {tensor_type 1 -> {elem_type 1, shape 2 ->
 * {dim 1 -> {dim_value 1, dim_param 2}}}}}. */
static int parse_value(onnx_ctx *c, const pb_field *in, oma_onnx_value *v)
{
    pb_reader r = {in->data, in->data + in->len};
    pb_field f, g, h, d, e;
    const char *why = NULL;
    int k;
    v->ndim = -1;
    while ((k = pb_next(&r, &f, &why)) == 1) {
        if (f.num == 1) { free(v->name); if (!(v->name = onnx_strdup(c, &f, "value name"))) return -1; continue; }
        if (f.num != 2) continue;
        if (f.wire != 2) return onnx_err(c, "value type: wrong wire type");
        pb_reader tr = {f.data, f.data + f.len};
        while ((k = pb_next(&tr, &g, &why)) == 1) {
            if (g.num == 4 || g.num == 5 || g.num == 8 || g.num == 9)
                return onnx_err(c, "value '%s': only tensor values are supported", v->name ? v->name : "");
            if (g.num != 1) continue;
            if (g.wire != 2) return onnx_err(c, "tensor type: wrong wire type");
            pb_reader ttr = {g.data, g.data + g.len};
            while ((k = pb_next(&ttr, &h, &why)) == 1) {
                if (h.num == 1 && h.wire == 0) v->dtype = (int)(int64_t)h.v;
                if (h.num != 2 || h.wire != 2) continue;
                v->ndim = 0;
                pb_reader sr = {h.data, h.data + h.len};
                while ((k = pb_next(&sr, &d, &why)) == 1) {
                    if (d.num != 1 || d.wire != 2) continue;
                    if (v->ndim >= OMA_ONNX_MAX_DIMS) return onnx_err(c, "value '%s': more than %d dims", v->name ? v->name : "", OMA_ONNX_MAX_DIMS);
                    int64_t dv = -1;
                    pb_reader dr = {d.data, d.data + d.len};
                    while ((k = pb_next(&dr, &e, &why)) == 1)
                        if (e.num == 1 && e.wire == 0) dv = (int64_t)e.v;
                    if (k < 0) break;
                    if (dv < -1 || dv > OMA_ONNX_MAX_DIM)
                        return onnx_err(c, "value '%s': dim %lld out of range", v->name ? v->name : "", (long long)dv);
                    v->dims[v->ndim++] = dv;
                }
                if (k < 0) break;
            }
            if (k < 0) break;
        }
        if (k < 0) break;
    }
    if (k < 0) return onnx_err(c, "value '%s': %s", v->name ? v->name : "", why);
    if (!v->name || !v->name[0]) return onnx_err(c, "graph input/output without a name");
    if (v->dtype && !oma_onnx_dtype_size(v->dtype))
        return onnx_err(c, "value '%s': element type %d is not supported", v->name, v->dtype);
    return 0;
}

static int parse_graph(onnx_ctx *c, const pb_field *in, oma_onnx_model *m)
{
    pb_reader r = {in->data, in->data + in->len};
    pb_field f;
    const char *why = NULL;
    int k;
    size_t ncap = 0, icap = 0, incap = 0, ocap = 0;
    while ((k = pb_next(&r, &f, &why)) == 1) {
        if ((f.num == 1 || f.num == 5 || f.num == 11 || f.num == 12) && f.wire != 2)
            return onnx_err(c, "graph field %u: wrong wire type", f.num);
        switch (f.num) {
        case 1:
            if (grow(c, (void **)&m->nodes, &ncap, m->n_nodes, sizeof *m->nodes, OMA_ONNX_MAX_NODES, "nodes") != 0) return -1;
            m->n_nodes++;
            if (parse_node(c, &f, &m->nodes[m->n_nodes - 1]) != 0) return -1;
            break;
        case 5:
            if (grow(c, (void **)&m->inits, &icap, m->n_inits, sizeof *m->inits, OMA_ONNX_MAX_NODES, "initializers") != 0) return -1;
            if (onnx_parse_tensor(c, f.data, f.len, &m->inits[m->n_inits]) != 0) return -1;
            m->n_inits++;
            break;
        case 11:
            if (grow(c, (void **)&m->inputs, &incap, m->n_inputs, sizeof *m->inputs, OMA_ONNX_MAX_NODES, "graph inputs") != 0) return -1;
            m->n_inputs++;
            if (parse_value(c, &f, &m->inputs[m->n_inputs - 1]) != 0) return -1;
            break;
        case 12:
            if (grow(c, (void **)&m->outputs, &ocap, m->n_outputs, sizeof *m->outputs, OMA_ONNX_MAX_NODES, "graph outputs") != 0) return -1;
            m->n_outputs++;
            if (parse_value(c, &f, &m->outputs[m->n_outputs - 1]) != 0) return -1;
            break;
        case 15: return onnx_err(c, "sparse initializers are not supported");
        default: break;
        }
    }
    if (k < 0) return onnx_err(c, "graph: %s", why);
    return 0;
}

static int parse_opset(onnx_ctx *c, const pb_field *in, oma_onnx_model *m)
{
    pb_reader r = {in->data, in->data + in->len};
    pb_field f;
    const char *why = NULL;
    int k, dflt = 1;
    int64_t ver = 0;
    while ((k = pb_next(&r, &f, &why)) == 1) {
        if (f.num == 1 && f.wire == 2) dflt = f.len == 0 || (f.len == 7 && !memcmp(f.data, "ai.onnx", 7));
        if (f.num == 2 && f.wire == 0) ver = (int64_t)f.v;
    }
    if (k < 0) return onnx_err(c, "opset_import: %s", why);
    if (dflt) m->opset = ver;
    return 0;
}

static int load(onnx_ctx *c, const uint8_t *buf, size_t len, oma_onnx_model *m)
{
    memset(m, 0, sizeof *m);
    static const uint8_t none[1];
    if (!buf && len) return onnx_err(c, "no data");
    if (!buf) buf = none;
    if ((uint64_t)len > OMA_ONNX_MAX_FILE) return onnx_err(c, "larger than 2 GiB");
    pb_reader r = {buf, buf + len};
    pb_field f;
    const char *why = NULL;
    int k, graphs = 0;
    while ((k = pb_next(&r, &f, &why)) == 1) {
        switch (f.num) {
        case 1: if (f.wire == 0) m->ir_version = (int64_t)f.v; break;
        case 2:
            if (f.wire != 2) return onnx_err(c, "producer_name: wrong wire type");
            free(m->producer);
            if (!(m->producer = onnx_strdup(c, &f, "producer_name"))) return -1;
            break;
        case 7:
            if (f.wire != 2) return onnx_err(c, "graph: wrong wire type");
            if (graphs++) return onnx_err(c, "more than one graph");
            if (parse_graph(c, &f, m) != 0) return -1;
            break;
        case 8:
            if (f.wire != 2) return onnx_err(c, "opset_import: wrong wire type");
            if (parse_opset(c, &f, m) != 0) return -1;
            break;
        case 25: return onnx_err(c, "model-local functions are not supported");
        default: break;
        }
    }
    if (k < 0) return onnx_err(c, "not an ONNX model (malformed protobuf: %s)", why);
    if (!graphs) return onnx_err(c, "not an ONNX model (no graph)");
    if (m->ir_version < 3 || m->ir_version > 10)
        return onnx_err(c, "IR version %lld is not supported (3..10)", (long long)m->ir_version);
    if (m->opset < 7 || m->opset > 21)
        return onnx_err(c, "opset %lld is not supported (7..21)", (long long)m->opset);
    return onnx_check_graph(c, m);
}

int oma_onnx_load_memory(const uint8_t *buf, size_t len, const char *dir, oma_onnx_model *m,
                         char *err, size_t errlen)
{
    onnx_ctx c = {dir, "<memory>", err, errlen};
    if (load(&c, buf, len, m) != 0) { oma_onnx_free(m); return -1; }
    return 0;
}

int oma_onnx_load(const char *path, oma_onnx_model *m, char *err, size_t errlen)
{
    onnx_ctx c = {NULL, path, err, errlen};
    memset(m, 0, sizeof *m);
    char *dir = strdup(path);
    if (!dir) return onnx_err(&c, "out of memory");
    char *slash = strrchr(dir, '/');
    if (!slash) { free(dir); dir = strdup("."); if (!dir) return onnx_err(&c, "out of memory"); }
    else if (slash == dir) slash[1] = 0;
    else *slash = 0;
    c.dir = dir;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0) { int e = errno; free(dir); return onnx_err(&c, "%s", strerror(e)); }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) { close(fd); free(dir); return onnx_err(&c, "not a regular file"); }
    if ((uint64_t)st.st_size > OMA_ONNX_MAX_FILE) { close(fd); free(dir); return onnx_err(&c, "larger than 2 GiB"); }
    size_t len = (size_t)st.st_size;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf) { close(fd); free(dir); return onnx_err(&c, "out of memory (%zu bytes)", len); }
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n <= 0) { close(fd); free(buf); free(dir); return onnx_err(&c, "read failed"); }
        got += (size_t)n;
    }
    close(fd);
    int rc = load(&c, buf, len, m);
    free(buf);
    free(dir);
    if (rc != 0) oma_onnx_free(m);
    return rc;
}
