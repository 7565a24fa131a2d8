/* brownian_tree.c — torchsde's BrownianTree with numpy's SeedSequence (see brownian_tree.h).
 *
 * Nodes live in one growing array (indices, not pointers); a query walks down from the root as
 * torchsde's _loc does (torchsde starts at the last interval it visited, but with the halfway
 * tree every node holding the query is reached the same way from the root), splitting where
 * needed, and collects the intervals that tile [ta, tb]. An interval's increment is computed down
 * its path from the root; the increments of the last path are kept one per depth (torchsde keeps
 * an LRU dict of them; a node's increment is the same however it is reached), so the next query,
 * which usually shares most of that path, only recomputes below where the paths part. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipelines/generate/brownian_tree.h"
#include "pipelines/generate/rng.h"

/* ---- numpy SeedSequence (bit_generator.pyx): uint32 hash mixing ---- */

#define SS_INIT_A 0x43b0d7e5u
#define SS_MULT_A 0x931e8875u
#define SS_INIT_B 0x8b51f9ddu
#define SS_MULT_B 0x58f38dedu
#define SS_MIX_L 0xca01f9ddu
#define SS_MIX_R 0x4973f715u

static uint32_t hashmix(uint32_t value, uint32_t *hc)
{
    value ^= *hc;
    *hc *= SS_MULT_A;
    value *= *hc;
    value ^= value >> 16;
    return value;
}

static uint32_t mix(uint32_t x, uint32_t y)
{
    uint32_t r = SS_MIX_L * x - SS_MIX_R * y;
    r ^= r >> 16;
    return r;
}

/* _int_to_uint32_array: 0 -> [0]; else 32-bit words, least significant first */
static int int_words(uint64_t v, uint32_t *w)
{
    if (v == 0) {
        w[0] = 0;
        return 1;
    }
    int n = 0;
    while (v) {
        w[n++] = (uint32_t)v;
        v >>= 32;
    }
    return n;
}

void oma_seedseq_state(uint64_t entropy, const uint64_t *spawn, int n_spawn, int pool_size,
                       uint32_t *out, int n_out)
{
    enum { MAXW = 64 };
    uint32_t ent[MAXW + 2 * 8], pool[MAXW];
    if (pool_size < 1) pool_size = 1;
    if (pool_size > MAXW) pool_size = MAXW;
    if (n_spawn > 8) n_spawn = 8;
    int n = int_words(entropy, ent);
    if (n_spawn > 0 && n < pool_size) {    /* run entropy zero-padded to the pool size */
        while (n < pool_size) ent[n++] = 0;
    }
    for (int i = 0; i < n_spawn; i++) n += int_words(spawn[i], ent + n);
    uint32_t hc = SS_INIT_A;
    for (int i = 0; i < pool_size; i++) pool[i] = hashmix(i < n ? ent[i] : 0u, &hc);
    for (int src = 0; src < pool_size; src++)
        for (int dst = 0; dst < pool_size; dst++)
            if (src != dst) pool[dst] = mix(pool[dst], hashmix(pool[src], &hc));
    for (int src = pool_size; src < n; src++)
        for (int dst = 0; dst < pool_size; dst++) pool[dst] = mix(pool[dst], hashmix(ent[src], &hc));
    uint32_t hb = SS_INIT_B;
    for (int i = 0; i < n_out; i++) {
        uint32_t v = pool[i % pool_size];
        v ^= hb;
        hb *= SS_MULT_B;
        v *= hb;
        v ^= v >> 16;
        out[i] = v;
    }
}

double oma_round6(double x)
{
    if (!isfinite(x) || fabs(x) > 1e15) return x;
    char buf[64];
    snprintf(buf, sizeof buf, "%.6f", x);    /* glibc: correctly rounded, ties to even */
    return strtod(buf, NULL);
}

/* ---- the tree ---- */

typedef struct {
    double start, end, mid;     /* rounded; mid valid when left >= 0 */
    int parent, left, right, is_left, depth;
    uint64_t key;               /* spawn key */
    uint32_t w_seed;
} bt_node;

struct oma_brownian_tree {
    uint64_t entropy;
    size_t n;
    bt_node *nodes;
    int count, cap;
    float *w_root, *a, *z;      /* n floats each */
    float *lvl[OMA_BT_MAX_DEPTH + 2];   /* increment of lvl_node[d] (depth d), n floats, lazily */
    int lvl_node[OMA_BT_MAX_DEPTH + 2];
    int *path, *tiles;
    int ntiles, tiles_cap;
};

static int new_node(oma_brownian_tree *t, double start, double end, int parent, int is_left)
{
    if (t->count >= OMA_BT_MAX_NODES) return -1;
    if (t->count == t->cap) {
        int cap = t->cap ? 2 * t->cap : 256;
        bt_node *nn = realloc(t->nodes, sizeof *nn * (size_t)cap);
        if (!nn) return -1;
        t->nodes = nn;
        t->cap = cap;
    }
    bt_node *nd = &t->nodes[t->count];
    memset(nd, 0, sizeof *nd);
    nd->start = oma_round6(start);
    nd->end = oma_round6(end);
    nd->parent = parent;
    nd->is_left = is_left;
    nd->left = nd->right = -1;
    return t->count++;
}

/* _split_exact: children at the rounded midway, the node's seeds */
static int split_exact(oma_brownian_tree *t, int i, double midway)
{
    bt_node *nd = &t->nodes[i];
    if (nd->parent >= 0) {
        const bt_node *p = &t->nodes[nd->parent];
        if (p->depth + 1 > OMA_BT_MAX_DEPTH) return -1;
        nd->key = 2 * p->key + (nd->is_left ? 0u : 1u);
        nd->depth = p->depth + 1;
    }
    nd->mid = oma_round6(midway);
    uint64_t spawn[2] = {nd->key, (uint64_t)nd->depth};
    uint32_t st[4];
    oma_seedseq_state(t->entropy, spawn, 2, 24, st, 4);
    nd->w_seed = st[0];
    double start = nd->start, end = nd->end;
    int l = new_node(t, start, midway, i, 1);
    if (l < 0) return -1;
    int r = new_node(t, midway, end, i, 0);
    if (r < 0) return -1;
    t->nodes[i].left = l;
    t->nodes[i].right = r;
    return 0;
}

/* _split with halfway_tree: halve until the midway is the point asked for */
static int split(oma_brownian_tree *t, int i, double point)
{
    for (int guard = 0; guard <= OMA_BT_MAX_DEPTH; guard++) {
        if (split_exact(t, i, 0.5 * (t->nodes[i].end + t->nodes[i].start)) != 0) return -1;
        const bt_node *nd = &t->nodes[i];
        if (point > nd->mid) i = nd->right;
        else if (point < nd->mid) i = nd->left;
        else return 0;
    }
    return -1;
}

static int add_tile(oma_brownian_tree *t, int i)
{
    if (t->ntiles == t->tiles_cap) {
        int cap = t->tiles_cap ? 2 * t->tiles_cap : 16;
        int *nt = realloc(t->tiles, sizeof *nt * (size_t)cap);
        if (!nt) return -1;
        t->tiles = nt;
        t->tiles_cap = cap;
    }
    t->tiles[t->ntiles++] = i;
    return 0;
}

/* _loc_inner: the intervals tiling [ta, tb] below node i, in order */
static int loc(oma_brownian_tree *t, int i, double ta, double tb, int depth)
{
    for (;;) {
        if (depth++ > 4 * OMA_BT_MAX_DEPTH) return -1;
        bt_node *nd = &t->nodes[i];
        if (ta == nd->start && tb == nd->end) return add_tile(t, i);
        if (nd->left < 0) {
            /* torchsde splits at the query's inner end and hands the query to a child, which
             * passes it back up when it is not wholly inside: the same as descending from here */
            if (split(t, i, ta == nd->start ? tb : ta) != 0) return -1;
            continue;
        }
        if (tb <= nd->mid) {
            i = nd->left;
        } else if (ta >= nd->mid) {
            i = nd->right;
        } else {
            double mid = nd->mid;
            int r = nd->right;
            if (loc(t, nd->left, ta, mid, depth) != 0) return -1;
            i = r;
            ta = mid;
        }
    }
}

/* the increment over node i: the root's, then the bridge down the path (from the deepest node
 * of the path whose increment is kept) */
static int node_w(oma_brownian_tree *t, int i, float *out)
{
    int len = 0;
    for (int j = i; j >= 0; j = t->nodes[j].parent) {
        if (len > OMA_BT_MAX_DEPTH + 1) return -1;
        t->path[len++] = j;
    }
    /* path[len - 1] is the root (depth 0), path[len - 1 - d] the node at depth d */
    size_t n = t->n;
    int d = 0;
    while (d + 1 < len && t->lvl[d + 1] && t->lvl_node[d + 1] == t->path[len - 2 - d]) d++;
    const float *cur = d == 0 ? t->w_root : t->lvl[d];
    for (int k = d + 1; k < len; k++) {
        const bt_node *p = &t->nodes[t->path[len - k]];
        int node = t->path[len - 1 - k], left = node == p->left;
        if (!t->lvl[k] && !(t->lvl[k] = malloc(sizeof(float) * n))) return -1;
        float *dst = t->lvl[k];
        double h_rec = 1.0 / (p->end - p->start);
        double ld = p->mid - p->start, rd = p->end - p->mid;
        float fl = (float)ld, fh = (float)h_rec, sd = (float)sqrt(ld * rd * h_rec);
        oma_rng g;
        oma_rng_seed(&g, p->w_seed);
        oma_rng_randn(&g, t->z, n);
        for (size_t e = 0; e < n; e++) {
            float lw = (fl * cur[e]) * fh + sd * t->z[e];
            dst[e] = left ? lw : cur[e] - lw;
        }
        t->lvl_node[k] = node;
        cur = dst;
    }
    memcpy(out, cur, sizeof(float) * n);
    return 0;
}

oma_brownian_tree *oma_brownian_tree_new(double t0, double t1, uint64_t entropy, size_t n, char *err,
                                         size_t errlen)
{
    if (!(t0 < t1) || !isfinite(t0) || !isfinite(t1) || fabs(t0) > 1e9 || fabs(t1) > 1e9 || n == 0 ||
        n > ((size_t)1 << 28)) {
        snprintf(err, errlen, "brownian tree: bad interval or size");
        return NULL;
    }
    oma_brownian_tree *t = calloc(1, sizeof *t);
    if (!t) goto oom;
    t->entropy = entropy;
    t->n = n;
    t->w_root = malloc(sizeof(float) * n);
    t->a = malloc(sizeof(float) * n);
    t->z = malloc(sizeof(float) * n);
    t->path = malloc(sizeof(int) * (OMA_BT_MAX_DEPTH + 2));
    if (!t->w_root || !t->a || !t->z || !t->path) goto oom;
    for (int d = 0; d < OMA_BT_MAX_DEPTH + 2; d++) t->lvl_node[d] = -1;
    if (new_node(t, t0, t1, -1, 0) != 0) goto oom;
    uint32_t st[3];
    oma_seedseq_state(entropy, NULL, 0, 24, st, 3);
    oma_rng g;
    oma_rng_seed(&g, st[0]);
    oma_rng_randn(&g, t->w_root, n);
    float sc = (float)sqrt(t1 - t0);    /* the unrounded ends */
    for (size_t e = 0; e < n; e++) t->w_root[e] *= sc;
    return t;
oom:
    snprintf(err, errlen, "brownian tree: out of memory");
    oma_brownian_tree_free(t);
    return NULL;
}

int oma_brownian_tree_w(oma_brownian_tree *t, double ta, double tb, float *out)
{
    const bt_node *root = &t->nodes[0];
    if (isnan(ta) || isnan(tb)) return -1;
    if (ta < root->start) ta = root->start;
    if (tb < root->start) tb = root->start;
    if (ta > root->end) ta = root->end;
    if (tb > root->end) tb = root->end;
    if (ta > tb) return -1;
    if (ta == tb) {
        memset(out, 0, sizeof(float) * t->n);
        return 0;
    }
    t->ntiles = 0;
    if (loc(t, 0, oma_round6(ta), oma_round6(tb), 0) != 0 || t->ntiles < 1) return -1;
    if (node_w(t, t->tiles[0], out) != 0) return -1;
    for (int k = 1; k < t->ntiles; k++) {
        if (node_w(t, t->tiles[k], t->a) != 0) return -1;
        for (size_t e = 0; e < t->n; e++) out[e] = out[e] + t->a[e];
    }
    return 0;
}

void oma_brownian_tree_free(oma_brownian_tree *t)
{
    if (!t) return;
    free(t->nodes);
    free(t->w_root);
    free(t->a);
    free(t->z);
    for (int d = 0; d < OMA_BT_MAX_DEPTH + 2; d++) free(t->lvl[d]);
    free(t->path);
    free(t->tiles);
    free(t);
}
