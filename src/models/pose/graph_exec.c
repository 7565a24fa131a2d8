/* graph_exec.c — the TFJS graph executor (see graph_exec.h). Nodes are addressed by index;
 * each node owns as many value slots as the highest "name:k" anyone reads from it (Unpack,
 * Split, TopKV2 have several outputs); a slot is freed once its last reader has run. Any op
 * graph_ops.c does not implement is refused at load, so a model we cannot run fails when it is
 * loaded, not half-way through a job. */
#include "models/pose/graph_exec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/fail.h"

struct oma_graph {
    oma_tfjs_model m;
    int n;
    int **in_idx;        /* per node: indices of its inputs */
    int **in_slot;       /* per node: value slot of each input (slot_base[node] + port) */
    int *n_outs;         /* per node: how many outputs are read (>= 1) */
    int *slot_base;      /* per node: its first value slot; n_slots in all */
    int n_slots;
    int *order;          /* topological order, n entries */
    const oma_tfjs_weight **weight;   /* per node: its weight when op == Const */
    int *by_name;        /* node indices sorted by name, for binary search */
};

void oma_graph_free(oma_graph *g)
{
    if (!g) return;
    if (g->in_idx)
        for (int i = 0; i < g->n; i++) free(g->in_idx[i]);
    if (g->in_slot)
        for (int i = 0; i < g->n; i++) free(g->in_slot[i]);
    free(g->in_idx);
    free(g->in_slot);
    free(g->n_outs);
    free(g->slot_base);
    free(g->order);
    free(g->weight);
    free(g->by_name);
    oma_tfjs_free(&g->m);
    free(g);
}

/* Compares a node name with the first len bytes of key, as if key ended there. */
static int name_cmp(const char *name, const char *key, size_t len)
{
    int c = strncmp(name, key, len);
    if (c) return c;
    return name[len] != 0;
}

static int by_name_cmp(const void *a, const void *b, void *ctx)
{
    const oma_graph *g = ctx;
    return strcmp(g->m.nodes[*(const int *)a].name, g->m.nodes[*(const int *)b].name);
}

static int weight_cmp(const void *a, const void *b)
{
    return strcmp((*(const oma_tfjs_weight *const *)a)->name, (*(const oma_tfjs_weight *const *)b)->name);
}

static const oma_tfjs_weight *find_weight(const oma_tfjs_weight *const *sorted, int n, const char *name)
{
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(sorted[mid]->name, name);
        if (c == 0) return sorted[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

static int find_node(const oma_graph *g, const char *name, size_t len)
{
    int lo = 0, hi = g->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, k = g->by_name[mid];
        int c = name_cmp(g->m.nodes[k].name, name, len);
        if (c == 0) return k;
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

int oma_graph_load(const char *model_json, oma_graph **out, char *err, size_t errlen)
{
    *out = NULL;
    oma_graph *g = calloc(1, sizeof *g);
    if (!g)
        return oma_fail(err, errlen, "graph: out of memory");
    if (oma_tfjs_load(model_json, &g->m, err, errlen)) {
        free(g);
        return -1;
    }
    g->n = g->m.n_nodes;
    const size_t nn = g->n > 0 ? (size_t)g->n : 1;   /* the loader guarantees >= 1 node */
    g->in_idx = calloc(nn, sizeof *g->in_idx);
    g->in_slot = calloc(nn, sizeof *g->in_slot);
    g->n_outs = calloc(nn, sizeof(int));
    g->slot_base = calloc(nn + 1, sizeof(int));
    g->order = calloc(nn, sizeof *g->order);
    g->weight = calloc(nn, sizeof *g->weight);
    int *indeg = calloc(nn, sizeof(int));
    int *cons_start = calloc(nn + 1, sizeof(int)), *cons = NULL;
    const oma_tfjs_weight **wsorted = malloc(((size_t)g->m.n_weights + 1) * sizeof *wsorted);
    if (!wsorted) goto oom;
    for (int i = 0; i < g->m.n_weights; i++) wsorted[i] = &g->m.weights[i];
    qsort(wsorted, (size_t)g->m.n_weights, sizeof *wsorted, weight_cmp);
    g->by_name = malloc(nn * sizeof(int));
    if (!g->in_idx || !g->in_slot || !g->n_outs || !g->slot_base || !g->order || !g->weight ||
        !indeg || !cons_start || !g->by_name)
        goto oom;
    for (int i = 0; i < g->n; i++) g->by_name[i] = i;
    qsort_r(g->by_name, nn, sizeof(int), by_name_cmp, g);   /* glibc (_GNU_SOURCE) */
    for (int i = 0; i + 1 < g->n; i++)
        if (!strcmp(g->m.nodes[g->by_name[i]].name, g->m.nodes[g->by_name[i + 1]].name)) {
            oma_fail(err, errlen, "graph: duplicate node %s", g->m.nodes[g->by_name[i]].name);
            goto fail;
        }
    for (int i = 0; i < g->n; i++) {
        const oma_tfjs_node *nd = &g->m.nodes[i];
        if (!strcmp(nd->op, "Const")) {
            g->weight[i] = find_weight(wsorted, g->m.n_weights, nd->name);
            if (!g->weight[i]) {
                oma_fail(err, errlen, "graph: constant %s has no weight", nd->name);
                goto fail;
            }
        } else if (strcmp(nd->op, "Placeholder") != 0 && !oma_gop_supported(nd->op)) {
            oma_fail(err, errlen, "graph: op %s (node %s) is not supported", nd->op, nd->name);
            goto fail;
        }
        if (nd->n_inputs) {
            g->in_idx[i] = calloc((size_t)nd->n_inputs, sizeof(int));
            g->in_slot[i] = calloc((size_t)nd->n_inputs, sizeof(int));
            if (!g->in_idx[i] || !g->in_slot[i]) goto oom;
        }
        for (int k = 0; k < nd->n_inputs; k++) {
            const char *s = nd->inputs[k];
            const char *colon = strrchr(s, ':');
            size_t len = strlen(s);
            int port = 0;
            if (colon) {
                char *end;
                long p = strtol(colon + 1, &end, 10);
                if (end == colon + 1 || *end || p < 0 || p >= OMA_GOP_MAX_OUTS) {
                    oma_fail(err, errlen, "graph: node %s reads output %s (bad output index)", nd->name, s);
                    goto fail;
                }
                port = (int)p;
                len = (size_t)(colon - s);
            }
            if (s[0] == '^') {
                oma_fail(err, errlen, "graph: node %s has a control input %s (unsupported)", nd->name, s);
                goto fail;
            }
            int j = find_node(g, s, len);
            if (j < 0) {
                oma_fail(err, errlen, "graph: node %s reads unknown node %s", nd->name, s);
                goto fail;
            }
            g->in_idx[i][k] = j;
            g->in_slot[i][k] = port;   /* made absolute below */
            if (port + 1 > g->n_outs[j]) g->n_outs[j] = port + 1;
            indeg[i]++;
        }
    }
    for (int i = 0; i < g->n; i++) {
        if (g->n_outs[i] < 1) g->n_outs[i] = 1;
        if (g->n_outs[i] > 1 && !oma_gop_multi_ok(g->m.nodes[i].op, g->n_outs[i])) {
            oma_fail(err, errlen, "graph: node %s (%s) has no output %d", g->m.nodes[i].name,
                     g->m.nodes[i].op, g->n_outs[i] - 1);
            goto fail;
        }
        g->slot_base[i + 1] = g->slot_base[i] + g->n_outs[i];
    }
    g->n_slots = g->slot_base[g->n];
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < g->m.nodes[i].n_inputs; k++) g->in_slot[i][k] += g->slot_base[g->in_idx[i][k]];
    /* Kahn's algorithm over a consumer list (CSR: consumers of u are
     * cons[cons_start[u] .. cons_start[u + 1])). */
    size_t edges = 0;
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < g->m.nodes[i].n_inputs; k++) {
            cons_start[g->in_idx[i][k] + 1]++;
            edges++;
        }
    for (int i = 0; i < g->n; i++) cons_start[i + 1] += cons_start[i];
    cons = malloc((edges ? edges : 1) * sizeof(int));
    int *fill = calloc(nn, sizeof(int));
    if (!cons || !fill) {
        free(fill);
        goto oom;
    }
    for (int i = 0; i < g->n; i++)
        for (int k = 0; k < g->m.nodes[i].n_inputs; k++) {
            int u = g->in_idx[i][k];
            cons[cons_start[u] + fill[u]++] = i;
        }
    free(fill);
    int head = 0, tail = 0;
    for (int i = 0; i < g->n; i++)
        if (indeg[i] == 0) g->order[tail++] = i;
    while (head < tail) {
        int u = g->order[head++];
        for (int c = cons_start[u]; c < cons_start[u + 1]; c++)
            if (--indeg[cons[c]] == 0) g->order[tail++] = cons[c];
    }
    if (tail != g->n) {
        oma_fail(err, errlen, "graph: the graph has a cycle");
        goto fail;
    }
    free(indeg);
    free(cons_start);
    free(cons);
    free(wsorted);
    *out = g;
    return 0;
oom:
    oma_fail(err, errlen, "graph: out of memory");
fail:
    free(indeg);
    free(cons_start);
    free(cons);
    free(wsorted);
    oma_graph_free(g);
    return -1;
}

static int check_placeholder(const oma_tfjs_node *nd, const oma_gt *x, char *err, size_t errlen)
{
    const json_t *a = nd->attr ? json_object_get(nd->attr, "shape") : NULL;
    const json_t *dims = a ? json_object_get(json_object_get(a, "shape"), "dim") : NULL;
    if (!json_is_array(dims)) return 0;
    if (json_array_size(dims) != (size_t)x->rank)
        return oma_fail(err, errlen, "graph: input %s wants rank %zu", nd->name, json_array_size(dims));
    for (int k = 0; k < x->rank; k++) {
        const json_t *s = json_object_get(json_array_get(dims, (size_t)k), "size");
        long long v = json_is_integer(s) ? json_integer_value(s) : json_string_value(s) ? atoll(json_string_value(s)) : -1;
        if (v >= 0 && v != x->d[k])
            return oma_fail(err, errlen, "graph: input %s dim %d must be %lld, got %lld", nd->name, k, v, (long long)x->d[k]);
    }
    return 0;
}

/* Finds an output "name" or "name:k": its value slot, or -1. */
static int find_output(const oma_graph *g, const char *name)
{
    const char *colon = strrchr(name, ':');
    size_t len = strlen(name);
    long port = 0;
    if (colon) {
        char *end;
        port = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || *end || port < 0) return -1;
        len = (size_t)(colon - name);
    }
    int j = find_node(g, name, len);
    if (j < 0 || port >= g->n_outs[j]) return -1;
    return g->slot_base[j] + (int)port;
}

int oma_graph_run(oma_graph *g, const char *input, const oma_gt *x, int n_out,
                  const char *const *outputs, oma_gt *results, char *err, size_t errlen)
{
    int rc = -1;
    for (int k = 0; k < n_out; k++) memset(&results[k], 0, sizeof results[k]);
    const size_t ns = (size_t)g->n_slots;
    char *need = calloc((size_t)g->n, 1);
    int *uses = calloc(ns, sizeof(int)), *stack = malloc((size_t)g->n * sizeof(int) + sizeof(int));
    int *out_slot = calloc((size_t)(n_out > 0 ? n_out : 1), sizeof(int));
    oma_gt *val = calloc(ns, sizeof *val);
    char *done = calloc((size_t)g->n, 1);
    if (!need || !uses || !stack || !out_slot || !val || !done) {
        oma_fail(err, errlen, "graph: out of memory");
        goto end;
    }
    int in_node = find_node(g, input, strlen(input));
    if (in_node < 0 || strcmp(g->m.nodes[in_node].op, "Placeholder") != 0) {
        oma_fail(err, errlen, "graph: no input named %s", input);
        goto end;
    }
    if (x->dtype != OMA_TFJS_F32 || check_placeholder(&g->m.nodes[in_node], x, err, errlen)) {
        if (x->dtype != OMA_TFJS_F32) oma_fail(err, errlen, "graph: input must be float");
        goto end;
    }
    int sp = 0;
    for (int k = 0; k < n_out; k++) {
        out_slot[k] = find_output(g, outputs[k]);
        if (out_slot[k] < 0) {
            oma_fail(err, errlen, "graph: no output named %s", outputs[k]);
            goto end;
        }
        int u = 0;
        while (g->slot_base[u + 1] <= out_slot[k]) u++;
        if (!need[u]) {
            need[u] = 1;
            stack[sp++] = u;
        }
    }
    while (sp > 0) {
        int u = stack[--sp];
        for (int k = 0; k < g->m.nodes[u].n_inputs; k++) {
            int v = g->in_idx[u][k];
            uses[g->in_slot[u][k]]++;
            if (!need[v]) {
                need[v] = 1;
                stack[sp++] = v;
            }
        }
    }
    for (int k = 0; k < n_out; k++) uses[out_slot[k]]++;   /* outputs are never freed early */
    for (int oi = 0; oi < g->n; oi++) {
        int u = g->order[oi];
        if (!need[u]) continue;
        const oma_tfjs_node *nd = &g->m.nodes[u];
        oma_gt *mine = &val[g->slot_base[u]];
        if (!strcmp(nd->op, "Placeholder")) {
            if (u != in_node) {
                oma_fail(err, errlen, "graph: placeholder %s was not fed", nd->name);
                goto end;
            }
            mine[0] = *x;
            mine[0].borrowed = 1;
        } else if (!strcmp(nd->op, "Const")) {
            const oma_tfjs_weight *w = g->weight[u];
            memset(&mine[0], 0, sizeof mine[0]);
            mine[0].dtype = w->dtype;
            mine[0].rank = w->rank;
            memcpy(mine[0].d, w->shape, sizeof w->shape);
            mine[0].n = w->n;
            mine[0].f = w->f;
            mine[0].i = w->i;
            mine[0].borrowed = 1;
        } else {
            oma_gt *ins[64];
            if (nd->n_inputs > 64) {
                oma_fail(err, errlen, "graph: node %s has too many inputs", nd->name);
                goto end;
            }
            for (int k = 0; k < nd->n_inputs; k++) ins[k] = &val[g->in_slot[u][k]];
            int r = g->n_outs[u] > 1 ? oma_gop_run_multi(nd, ins, nd->n_inputs, mine, g->n_outs[u], err, errlen)
                                     : oma_gop_run(nd, ins, nd->n_inputs, mine, err, errlen);
            if (r) goto end;
        }
        done[u] = 1;
        for (int s = 0; s < g->n_outs[u]; s++)   /* outputs nobody needed this run */
            if (uses[g->slot_base[u] + s] == 0) oma_gt_free(&mine[s]);
        for (int k = 0; k < nd->n_inputs; k++) {
            int sl = g->in_slot[u][k];
            if (--uses[sl] == 0) oma_gt_free(&val[sl]);
        }
    }
    for (int k = 0; k < n_out; k++) {
        /* A constant, the input itself or a value asked for twice (its first result was moved
         * out) is handed back as a copy; any other value is moved, so that on failure each
         * buffer has one owner: results[] or val[]. */
        int q = 0;
        while (q < k && out_slot[q] != out_slot[k]) q++;
        oma_gt *v = q < k ? &results[q] : &val[out_slot[k]];
        if (q < k || v->borrowed) {
            if (oma_gt_copy(v, &results[k])) {
                oma_fail(err, errlen, "graph: out of memory");
                goto end;
            }
        } else {
            results[k] = *v;
            memset(v, 0, sizeof *v);
        }
    }
    rc = 0;
end:
    if (val)
        for (int i = 0; i < g->n; i++)
            if (done && done[i])
                for (int s = 0; s < g->n_outs[i]; s++) oma_gt_free(&val[g->slot_base[i] + s]);
    if (rc)
        for (int k = 0; k < n_out; k++) oma_gt_free(&results[k]);
    free(need);
    free(uses);
    free(stack);
    free(out_slot);
    free(val);
    free(done);
    return rc;
}
