/* onnx_check.c — graph checks for the ONNX reader: every value name is defined once (graph
 * input, initializer or one node output), every node input and graph output is defined, and
 * the nodes are sorted topologically (Kahn's algorithm over producer -> consumer edges); what
 * is left unsorted lies on or behind a cycle, which is an error naming one such node. Names
 * are looked up in an open-addressing hash table built once per load. */
#include "formats/onnx_wire.h"

#include <stdlib.h>
#include <string.h>

typedef struct name_map {
    const char **keys;
    long *vals;                     /* -1: graph input or initializer, else producing node */
    size_t cap;
} name_map;

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

/* Slot of key (its own or the empty one where it would go). */
static size_t slot(const name_map *m, const char *key)
{
    size_t i = (size_t)hash(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key)) i = (i + 1) & (m->cap - 1);
    return i;
}

/* Adds key; 1 when it was already there. */
static int put(name_map *m, const char *key, long v)
{
    size_t i = slot(m, key);
    if (m->keys[i]) return 1;
    m->keys[i] = key;
    m->vals[i] = v;
    return 0;
}

static int get(const name_map *m, const char *key, long *v)
{
    size_t i = slot(m, key);
    if (!m->keys[i]) return 0;
    *v = m->vals[i];
    return 1;
}

int onnx_check_graph(onnx_ctx *c, oma_onnx_model *m)
{
    size_t total = m->n_inits + m->n_inputs;
    for (size_t i = 0; i < m->n_nodes; i++) total += (size_t)m->nodes[i].n_outputs;
    name_map nm = {0};
    nm.cap = 16;
    while (nm.cap < 2 * total + 1) nm.cap *= 2;
    nm.keys = calloc(nm.cap, sizeof *nm.keys);
    nm.vals = calloc(nm.cap, sizeof *nm.vals);
    size_t *indeg = calloc(m->n_nodes + 1, sizeof *indeg);
    size_t *start = calloc(m->n_nodes + 2, sizeof *start);
    size_t *edges = NULL, *fill = NULL, *order = NULL;
    oma_onnx_node *sorted = NULL;
    int rc = -1;
    if (!nm.keys || !nm.vals || !indeg || !start) { onnx_err(c, "out of memory"); goto done; }

    for (size_t i = 0; i < m->n_inits; i++) {
        const char *n = m->inits[i].name;
        if (!n[0]) { onnx_err(c, "initializer without a name"); goto done; }
        if (put(&nm, n, -1)) { onnx_err(c, "initializer '%s' defined twice", n); goto done; }
    }
    /* graph inputs that are also initializers (IR < 4 style) are defaults: keep the rest */
    size_t kept = 0;
    for (size_t i = 0; i < m->n_inputs; i++) {
        long v;
        if (get(&nm, m->inputs[i].name, &v)) { free(m->inputs[i].name); continue; }
        m->inputs[kept++] = m->inputs[i];
    }
    m->n_inputs = kept;
    for (size_t i = 0; i < m->n_inputs; i++)
        if (put(&nm, m->inputs[i].name, -1)) { onnx_err(c, "graph input '%s' defined twice", m->inputs[i].name); goto done; }
    for (size_t i = 0; i < m->n_nodes; i++) {
        const oma_onnx_node *n = &m->nodes[i];
        if (n->n_outputs == 0) { onnx_err(c, "node '%s' (%s) has no outputs", n->name, n->op_type); goto done; }
        for (int j = 0; j < n->n_outputs; j++) {
            if (!n->outputs[j][0]) continue;
            if (put(&nm, n->outputs[j], (long)i)) {
                onnx_err(c, "node '%s' (%s): output '%s' is already defined", n->name, n->op_type, n->outputs[j]);
                goto done;
            }
        }
    }
    /* edges producer -> consumer, counted then filled (CSR) */
    size_t ne = 0;
    for (size_t i = 0; i < m->n_nodes; i++) {
        const oma_onnx_node *n = &m->nodes[i];
        for (int j = 0; j < n->n_inputs; j++) {
            long p;
            if (!n->inputs[j][0]) continue;
            if (!get(&nm, n->inputs[j], &p)) {
                onnx_err(c, "node '%s' (%s): input '%s' is not defined", n->name, n->op_type, n->inputs[j]);
                goto done;
            }
            if (p >= 0) { start[p + 1]++; indeg[i]++; ne++; }
        }
    }
    for (size_t i = 0; i < m->n_outputs; i++) {
        long p;
        if (!get(&nm, m->outputs[i].name, &p)) { onnx_err(c, "graph output '%s' is not defined", m->outputs[i].name); goto done; }
    }
    if (m->n_outputs == 0) { onnx_err(c, "the graph has no outputs"); goto done; }
    for (size_t i = 0; i < m->n_nodes; i++) start[i + 1] += start[i];
    edges = malloc((ne + 1) * sizeof *edges);
    fill = calloc(m->n_nodes + 1, sizeof *fill);
    order = malloc((m->n_nodes + 1) * sizeof *order);
    if (!edges || !fill || !order) { onnx_err(c, "out of memory"); goto done; }
    for (size_t i = 0; i < m->n_nodes; i++) {
        const oma_onnx_node *n = &m->nodes[i];
        for (int j = 0; j < n->n_inputs; j++) {
            long p;
            if (n->inputs[j][0] && get(&nm, n->inputs[j], &p) && p >= 0) edges[start[p] + fill[p]++] = i;
        }
    }
    /* a file already in topological order (the ONNX rule, what exporters write) keeps it */
    int ordered = 1;
    for (size_t u = 0; u < m->n_nodes && ordered; u++)
        for (size_t e = start[u]; e < start[u + 1]; e++)
            if (edges[e] <= u) { ordered = 0; break; }
    if (ordered) { rc = 0; goto done; }
    size_t head = 0, tail = 0;
    for (size_t i = 0; i < m->n_nodes; i++) if (!indeg[i]) order[tail++] = i;
    while (head < tail) {
        size_t u = order[head++];
        for (size_t e = start[u]; e < start[u + 1]; e++)
            if (--indeg[edges[e]] == 0) order[tail++] = edges[e];
    }
    if (tail < m->n_nodes) {
        for (size_t i = 0; i < m->n_nodes; i++)
            if (indeg[i]) {
                onnx_err(c, "the graph has a cycle (through node '%s' (%s))", m->nodes[i].name, m->nodes[i].op_type);
                goto done;
            }
    }
    sorted = malloc((m->n_nodes + 1) * sizeof *sorted);
    if (!sorted) { onnx_err(c, "out of memory"); goto done; }
    for (size_t i = 0; i < m->n_nodes; i++) sorted[i] = m->nodes[order[i]];
    free(m->nodes);
    m->nodes = sorted;
    rc = 0;
done:
    free(nm.keys); free(nm.vals); free(indeg); free(start); free(edges); free(fill); free(order);
    return rc;
}

const oma_onnx_tensor *oma_onnx_find_init(const oma_onnx_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_inits; i++)
        if (!strcmp(m->inits[i].name, name)) return &m->inits[i];
    return NULL;
}

const oma_onnx_attr *oma_onnx_find_attr(const oma_onnx_node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, name)) return &n->attrs[i];
    return NULL;
}
