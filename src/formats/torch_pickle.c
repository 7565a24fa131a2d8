/* torch_pickle.c — the pickle machine of the safe torch.save reader (see torch_pickle.h).
 *
 * The idea: a pickle is interpreted as DATA. Values live in one list owned by the run (freed
 * together at the end), the stack and the memo hold pointers to them. GLOBAL only names one of
 * five allowed callables; REDUCE and BINPERSID interpret those by hand (a storage reference, a
 * strided tensor view, an empty OrderedDict). Nothing is ever looked up by name, imported or
 * called, so a hostile pickle can at worst be refused.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/fail.h"
#include "formats/safetensors.h"
#include "formats/torch_pickle.h"

#define MAX_PICKLE ((size_t)64 << 20)
#define MAX_VALUES 500000
#define MAX_ITEMS 4000000                /* container entries in all (memo refs cost no value) */
#define MAX_STACK 100000
#define MAX_MEMO 1000000
#define MAX_STR (1 << 20)
#define MAX_DEPTH 32
#define MAX_VISITS 1000000              /* dict entries walked while flattening (a dict may hold itself) */
#define MAX_OUT_FLOATS ((int64_t)1 << 29) /* floats produced in all, and never more than 1 + bytes of the archive */

typedef enum { V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_TUPLE, V_LIST, V_DICT, V_GLOBAL, V_STORAGE, V_TENSOR, V_MARK } vkind;
typedef enum { G_REBUILD, G_FLOAT, G_HALF, G_BF16, G_ODICT, G_LONG } gkind;

typedef struct val val;
struct val {
    vkind k;
    int64_t i;              /* INT/BOOL; GLOBAL: gkind; STORAGE: numel */
    double f;
    char *s;                /* STR; STORAGE: key */
    val **items;            /* TUPLE/LIST items; DICT: key, value, key, value... */
    size_t n, cap;
    gkind dtype;            /* STORAGE */
    val *storage;           /* TENSOR */
    int64_t offset, ndim, shape[OMA_TF_MAX_DIMS], stride[OMA_TF_MAX_DIMS];
};

typedef struct vm {
    const uint8_t *p, *end;
    val **all;
    size_t n_all, cap_all;
    val **stack;
    size_t sp;
    val **memo;
    size_t n_memo;
    char *err;
    size_t errlen;
    size_t visits, items;
    int64_t out_floats, budget;
} vm;

static val *new_val(vm *m, vkind k)
{
    if (m->n_all >= MAX_VALUES) return oma_fail(m->err, m->errlen, "pickle builds too many values"), NULL;
    if (m->n_all == m->cap_all) {
        size_t nc = m->cap_all ? m->cap_all * 2 : 256;
        val **na = realloc(m->all, nc * sizeof *na);
        if (!na) return oma_fail(m->err, m->errlen, "out of memory"), NULL;
        m->all = na;
        m->cap_all = nc;
    }
    val *v = calloc(1, sizeof *v);
    if (!v) return oma_fail(m->err, m->errlen, "out of memory"), NULL;
    v->k = k;
    m->all[m->n_all++] = v;
    return v;
}

static int push(vm *m, val *v)
{
    if (!v) return -1;
    if (m->sp >= MAX_STACK) return oma_fail(m->err, m->errlen, "pickle stack deeper than %d", MAX_STACK);
    m->stack[m->sp++] = v;
    return 0;
}

static val *pop(vm *m)
{
    if (m->sp == 0) return oma_fail(m->err, m->errlen, "pickle stack underflow"), NULL;
    return m->stack[--m->sp];
}

static int append_item(vm *m, val *c, val *x)
{
    if (++m->items > MAX_ITEMS) return oma_fail(m->err, m->errlen, "pickle containers hold more than %d entries", MAX_ITEMS);
    if (c->n == c->cap) {
        size_t nc = c->cap ? c->cap * 2 : 4;
        val **ni = realloc(c->items, nc * sizeof *ni);
        if (!ni) return oma_fail(m->err, m->errlen, "out of memory");
        c->items = ni;
        c->cap = nc;
    }
    c->items[c->n++] = x;
    return 0;
}

/* Index of the topmost MARK, or -1. */
static long find_mark(vm *m)
{
    for (size_t i = m->sp; i-- > 0;)
        if (m->stack[i]->k == V_MARK) return (long)i;
    return oma_fail(m->err, m->errlen, "pickle: no MARK on the stack");
}

static int need(vm *m, size_t n)
{
    if ((size_t)(m->end - m->p) < n) return oma_fail(m->err, m->errlen, "pickle ends in the middle of an opcode");
    return 0;
}

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static val *make_str(vm *m, const uint8_t *s, uint64_t n)
{
    if (n > MAX_STR) return oma_fail(m->err, m->errlen, "pickle string of %llu bytes", (unsigned long long)n), NULL;
    if (need(m, (size_t)n)) return NULL;
    val *v = new_val(m, V_STR);
    if (!v) return NULL;
    v->s = malloc((size_t)n + 1);
    if (!v->s) return oma_fail(m->err, m->errlen, "out of memory"), NULL;
    memcpy(v->s, s, (size_t)n);
    v->s[n] = 0;
    v->n = (size_t)n;
    m->p += n;
    return v;
}

static int memo_put(vm *m, uint64_t idx)
{
    if (m->sp == 0) return oma_fail(m->err, m->errlen, "pickle: memo store with an empty stack");
    if (idx >= MAX_MEMO) return oma_fail(m->err, m->errlen, "pickle memo index %llu too large", (unsigned long long)idx);
    if (idx >= m->n_memo) {
        size_t nn = (size_t)idx + 1 > m->n_memo * 2 ? (size_t)idx + 1 : m->n_memo * 2;
        val **nm = realloc(m->memo, nn * sizeof *nm);
        if (!nm) return oma_fail(m->err, m->errlen, "out of memory");
        memset(nm + m->n_memo, 0, (nn - m->n_memo) * sizeof *nm);
        m->memo = nm;
        m->n_memo = nn;
    }
    m->memo[idx] = m->stack[m->sp - 1];
    return 0;
}

static int memo_get(vm *m, uint64_t idx)
{
    if (idx >= m->n_memo || !m->memo[idx])
        return oma_fail(m->err, m->errlen, "pickle memo index %llu was never stored", (unsigned long long)idx);
    return push(m, m->memo[idx]);
}

static int global(vm *m, const char *mod, const char *name)
{
    static const struct {
        const char *mod, *name;
        gkind g;
    } ok[] = {{"torch._utils", "_rebuild_tensor_v2", G_REBUILD}, {"torch", "FloatStorage", G_FLOAT},
              {"torch", "HalfStorage", G_HALF}, {"torch", "BFloat16Storage", G_BF16},
              {"collections", "OrderedDict", G_ODICT}, {"torch", "LongStorage", G_LONG}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (!strcmp(mod, ok[i].mod) && !strcmp(name, ok[i].name)) {
            val *v = new_val(m, V_GLOBAL);
            if (!v) return -1;
            v->i = ok[i].g;
            return push(m, v);
        }
    return oma_fail(m->err, m->errlen, "pickle global '%.100s.%.100s' is not allowed (only tensors are read)", mod,
                    name);
}

static int tuple_from(vm *m, size_t from)
{
    val *t = new_val(m, V_TUPLE);
    if (!t) return -1;
    for (size_t i = from; i < m->sp; i++)
        if (append_item(m, t, m->stack[i])) return -1;
    m->sp = from;
    return push(m, t);
}

static int int_of(const val *v, int64_t *out)
{
    if (v->k != V_INT && v->k != V_BOOL) return -1;
    *out = v->i;
    return 0;
}

static int dims_of(vm *m, const val *t, int64_t *out, int64_t *nd)
{
    if (t->k != V_TUPLE || t->n > OMA_TF_MAX_DIMS) return oma_fail(m->err, m->errlen, "tensor: bad size/stride tuple");
    for (size_t i = 0; i < t->n; i++)
        if (int_of(t->items[i], &out[i]) || out[i] < 0 || out[i] > ((int64_t)1 << 40))
            return oma_fail(m->err, m->errlen, "tensor: bad size/stride value");
    *nd = (int64_t)t->n;
    return 0;
}

static int reduce(vm *m)
{
    val *args = pop(m), *fn = pop(m);
    if (!args || !fn) return -1;
    if (fn->k != V_GLOBAL || args->k != V_TUPLE) return oma_fail(m->err, m->errlen, "pickle: REDUCE on something not callable");
    if (fn->i == G_ODICT) {
        if (args->n != 0) return oma_fail(m->err, m->errlen, "pickle: OrderedDict with arguments");
        return push(m, new_val(m, V_DICT));
    }
    if (fn->i != G_REBUILD) return oma_fail(m->err, m->errlen, "pickle: a storage type called as a function");
    /* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]) */
    if (args->n < 4 || args->items[0]->k != V_STORAGE)
        return oma_fail(m->err, m->errlen, "pickle: _rebuild_tensor_v2 with unexpected arguments");
    val *t = new_val(m, V_TENSOR);
    if (!t) return -1;
    t->storage = args->items[0];
    int64_t nd2;
    if (int_of(args->items[1], &t->offset) || t->offset < 0)
        return oma_fail(m->err, m->errlen, "tensor: bad storage offset");
    if (dims_of(m, args->items[2], t->shape, &t->ndim) || dims_of(m, args->items[3], t->stride, &nd2)) return -1;
    if (nd2 != t->ndim) return oma_fail(m->err, m->errlen, "tensor: size and stride differ in rank");
    /* the last element must lie inside the storage */
    int64_t last = t->offset, numel = 1;
    for (int64_t i = 0; i < t->ndim; i++) {
        numel *= t->shape[i];
        if (numel > ((int64_t)1 << 40)) return oma_fail(m->err, m->errlen, "tensor too large");
        if (t->shape[i] > 0) last += (t->shape[i] - 1) * t->stride[i];
    }
    if (numel > 0 && last >= t->storage->i)
        return oma_fail(m->err, m->errlen, "tensor: view reaches element %lld of a %lld-element storage",
                        (long long)last, (long long)t->storage->i);
    return push(m, t);
}

static int persid(vm *m)
{
    val *pid = pop(m);
    if (!pid) return -1;
    /* ('storage', StorageType, key, location, numel) */
    if (pid->k != V_TUPLE || pid->n != 5 || pid->items[0]->k != V_STR || strcmp(pid->items[0]->s, "storage") ||
        pid->items[1]->k != V_GLOBAL || pid->items[1]->i == G_REBUILD || pid->items[1]->i == G_ODICT ||
        pid->items[2]->k != V_STR || pid->items[4]->k != V_INT || pid->items[4]->i < 0)
        return oma_fail(m->err, m->errlen, "pickle: persistent id is not a torch storage");
    val *s = new_val(m, V_STORAGE);
    if (!s) return -1;
    s->dtype = (gkind)pid->items[1]->i;
    s->s = pid->items[2]->s;
    s->i = pid->items[4]->i;
    return push(m, s);
}

static int set_items(vm *m, long mark)
{
    if (mark < 1 || m->stack[mark - 1]->k != V_DICT) return oma_fail(m->err, m->errlen, "pickle: SETITEMS without a dict");
    val *d = m->stack[mark - 1];
    if ((m->sp - (size_t)mark - 1) % 2) return oma_fail(m->err, m->errlen, "pickle: SETITEMS with an odd count");
    for (size_t i = (size_t)mark + 1; i < m->sp; i++)
        if (append_item(m, d, m->stack[i])) return -1;
    m->sp = (size_t)mark;
    return 0;
}

static int step(vm *m, int *stop)
{
    if (need(m, 1)) return -1;
    uint8_t op = *m->p++;
    long mk;
    val *v, *a, *b;
    switch (op) {
    case 0x80: return need(m, 1) ? -1 : (m->p++, 0);                     /* PROTO */
    case 0x95: return need(m, 8) ? -1 : (m->p += 8, 0);                  /* FRAME */
    case '}': return push(m, new_val(m, V_DICT));
    case ']': return push(m, new_val(m, V_LIST));
    case ')': return push(m, new_val(m, V_TUPLE));
    case '(': return push(m, new_val(m, V_MARK));
    case 'N': return push(m, new_val(m, V_NONE));
    case 0x88: case 0x89:
        if (!(v = new_val(m, V_BOOL))) return -1;
        v->i = op == 0x88;
        return push(m, v);
    case 'q': if (need(m, 1)) return -1; m->p += 1; return memo_put(m, m->p[-1]);
    case 'r': if (need(m, 4)) return -1; m->p += 4; return memo_put(m, le(m->p - 4, 4));
    case 0x94: return memo_put(m, m->n_memo);                             /* MEMOIZE */
    case 'h': if (need(m, 1)) return -1; m->p += 1; return memo_get(m, m->p[-1]);
    case 'j': if (need(m, 4)) return -1; m->p += 4; return memo_get(m, le(m->p - 4, 4));
    case 'X': case 'T': case 'B':
        if (need(m, 4)) return -1;
        m->p += 4;
        return push(m, make_str(m, m->p, le(m->p - 4, 4)));
    case 0x8c: case 'U': case 'C':
        if (need(m, 1)) return -1;
        m->p += 1;
        return push(m, make_str(m, m->p, m->p[-1]));
    case 0x8d:
        if (need(m, 8)) return -1;
        m->p += 8;
        return push(m, make_str(m, m->p, le(m->p - 8, 8)));
    case 'K': case 'M': case 'J': {
        int n = op == 'K' ? 1 : op == 'M' ? 2 : 4;
        if (need(m, (size_t)n) || !(v = new_val(m, V_INT))) return -1;
        uint64_t u = le(m->p, n);
        v->i = op == 'J' ? (int64_t)(int32_t)(uint32_t)u : (int64_t)u;
        m->p += n;
        return push(m, v);
    }
    case 0x8a: {                                                          /* LONG1 */
        if (need(m, 1)) return -1;
        int n = *m->p++;
        if (n > 8) return oma_fail(m->err, m->errlen, "pickle integer of %d bytes", n);
        if (need(m, (size_t)n) || !(v = new_val(m, V_INT))) return -1;
        uint64_t u = le(m->p, n);
        if (n > 0 && n < 8 && (m->p[n - 1] & 0x80)) u |= ~(uint64_t)0 << (8 * n);
        v->i = (int64_t)u;
        m->p += n;
        return push(m, v);
    }
    case 'G': {
        if (need(m, 8) || !(v = new_val(m, V_FLOAT))) return -1;
        uint64_t u = 0;
        for (int i = 0; i < 8; i++) u = u << 8 | m->p[i];
        memcpy(&v->f, &u, 8);
        m->p += 8;
        return push(m, v);
    }
    case 'c': {                                                           /* GLOBAL "mod\nname\n" */
        const uint8_t *nl1 = memchr(m->p, '\n', (size_t)(m->end - m->p));
        const uint8_t *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(m->end - nl1 - 1)) : NULL;
        if (!nl2 || nl1 - m->p > 200 || nl2 - nl1 > 200) return oma_fail(m->err, m->errlen, "pickle: bad GLOBAL");
        char mod[256], name[256];
        snprintf(mod, sizeof mod, "%.*s", (int)(nl1 - m->p), (const char *)m->p);
        snprintf(name, sizeof name, "%.*s", (int)(nl2 - nl1 - 1), (const char *)nl1 + 1);
        m->p = nl2 + 1;
        return global(m, mod, name);
    }
    case 0x93:                                                            /* STACK_GLOBAL */
        if (!(b = pop(m)) || !(a = pop(m))) return -1;
        if (a->k != V_STR || b->k != V_STR) return oma_fail(m->err, m->errlen, "pickle: bad STACK_GLOBAL");
        return global(m, a->s, b->s);
    case 't':
        if ((mk = find_mark(m)) < 0) return -1;
        if (tuple_from(m, (size_t)mk + 1)) return -1;
        v = pop(m);
        m->sp = (size_t)mk;
        return push(m, v);
    case 0x85: case 0x86: case 0x87: {
        size_t n = (size_t)(op - 0x84);
        if (m->sp < n) return oma_fail(m->err, m->errlen, "pickle stack underflow");
        return tuple_from(m, m->sp - n);
    }
    case 'Q': return persid(m);
    case 'b':                                                             /* BUILD */
        /* torch.save(state_dict): the OrderedDict's _metadata attribute (versions). Dropped. */
        if (!(a = pop(m))) return -1;
        if (m->sp == 0 || m->stack[m->sp - 1]->k != V_DICT || (a->k != V_DICT && a->k != V_NONE))
            return oma_fail(m->err, m->errlen, "pickle: BUILD on something other than a dict");
        return 0;
    case 'R': return reduce(m);
    case 's':
        if (!(b = pop(m)) || !(a = pop(m))) return -1;
        if (m->sp == 0 || m->stack[m->sp - 1]->k != V_DICT) return oma_fail(m->err, m->errlen, "pickle: SETITEM without a dict");
        return append_item(m, m->stack[m->sp - 1], a) || append_item(m, m->stack[m->sp - 1], b) ? -1 : 0;
    case 'u':
        if ((mk = find_mark(m)) < 0) return -1;
        return set_items(m, mk);
    case 'a':
        if (!(a = pop(m))) return -1;
        if (m->sp == 0 || m->stack[m->sp - 1]->k != V_LIST) return oma_fail(m->err, m->errlen, "pickle: APPEND without a list");
        return append_item(m, m->stack[m->sp - 1], a);
    case 'e':
        if ((mk = find_mark(m)) < 0) return -1;
        if (mk < 1 || m->stack[mk - 1]->k != V_LIST) return oma_fail(m->err, m->errlen, "pickle: APPENDS without a list");
        for (size_t i = (size_t)mk + 1; i < m->sp; i++)
            if (append_item(m, m->stack[mk - 1], m->stack[i])) return -1;
        m->sp = (size_t)mk;
        return 0;
    case '.': *stop = 1; return 0;
    default:
        return oma_fail(m->err, m->errlen, "pickle opcode 0x%02x is not allowed", op);
    }
}

/* Copies a strided view out of its storage as float32. */
static int tensor_floats(vm *m, const val *t, oma_torch_storage_fn storage, void *ctx, float **out, int64_t *numel)
{
    const val *s = t->storage;
    size_t es = s->dtype == G_FLOAT ? 4 : 2;
    const uint8_t *bytes;
    size_t len;
    if (storage(ctx, s->s, &bytes, &len) != 0)
        return oma_fail(m->err, m->errlen, "storage '%.64s' is missing from the archive (truncated?)", s->s);
    if ((uint64_t)s->i > len / es)
        return oma_fail(m->err, m->errlen, "storage '%.64s' holds %zu bytes, %lld elements expected", s->s, len,
                        (long long)s->i);
    int64_t n = 1;
    for (int64_t i = 0; i < t->ndim; i++) n *= t->shape[i];
    if (n > s->i) return oma_fail(m->err, m->errlen, "tensor of %lld values is larger than its storage", (long long)n);
    m->out_floats += n;
    if (m->out_floats > MAX_OUT_FLOATS || m->out_floats > m->budget)
        return oma_fail(m->err, m->errlen, "the archive's tensors hold more values (%lld) than its %lld bytes allow",
                        (long long)m->out_floats, (long long)m->budget - (1 << 20));
    float *d = malloc((size_t)(n ? n : 1) * sizeof *d);
    if (!d) return oma_fail(m->err, m->errlen, "out of memory");
    int64_t idx[OMA_TF_MAX_DIMS] = {0};
    for (int64_t e = 0; e < n; e++) {
        int64_t off = t->offset;
        for (int64_t i = 0; i < t->ndim; i++) off += idx[i] * t->stride[i];
        const uint8_t *p = bytes + (size_t)off * es;
        if (es == 4) memcpy(&d[e], p, 4);
        else d[e] = s->dtype == G_HALF ? oma_f16_to_f32((uint16_t)(p[0] | p[1] << 8))
                                       : oma_bf16_to_f32((uint16_t)(p[0] | p[1] << 8));
        for (int64_t i = t->ndim - 1; i >= 0; i--) {
            if (++idx[i] < t->shape[i]) break;
            idx[i] = 0;
        }
    }
    *out = d;
    *numel = n;
    return 0;
}

static int flatten(vm *m, const val *v, const char *prefix, int depth, oma_torch_storage_fn storage, void *ctx,
                   oma_tensor_file *f)
{
    if (depth > MAX_DEPTH) return oma_fail(m->err, m->errlen, "pickle: dicts nested deeper than %d", MAX_DEPTH);
    if (++m->visits > MAX_VISITS) return oma_fail(m->err, m->errlen, "pickle: more than %d values to walk", MAX_VISITS);
    if (v->k == V_TENSOR) {
        if (v->storage->dtype == G_LONG) return 0;     /* integer buffers (CLIP position_ids): not weights */
        float *d = NULL;
        int64_t n = 0;
        if (tensor_floats(m, v, storage, ctx, &d, &n)) return -1;
        return oma_tensor_file_add(f, prefix, (int)v->ndim, v->shape, d, m->err, m->errlen);
    }
    if (v->k != V_DICT) return 0;
    for (size_t i = 0; i + 1 < v->n; i += 2) {
        const val *k = v->items[i];
        if (k->k != V_STR) continue;
        char name[1024];
        if (snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", k->s) >= (int)sizeof name)
            return oma_fail(m->err, m->errlen, "pickle: key name too long");
        if (flatten(m, v->items[i + 1], name, depth + 1, storage, ctx, f)) return -1;
    }
    return 0;
}

int oma_torch_unpickle(const uint8_t *pkl, size_t len, size_t archive_len, oma_torch_storage_fn storage, void *ctx,
                       oma_tensor_file *f, char *err, size_t errlen)
{
    if (len > MAX_PICKLE) return oma_fail(err, errlen, "pickle of %zu bytes is too large", len);
    vm m = {.p = pkl, .end = pkl + len, .err = err, .errlen = errlen, .budget = (int64_t)archive_len + (1 << 20)};
    m.stack = malloc(MAX_STACK * sizeof *m.stack);
    int rc = m.stack ? 0 : oma_fail(err, errlen, "out of memory"), stop = 0;
    while (rc == 0 && !stop) rc = step(&m, &stop);
    if (rc == 0 && m.sp != 1) rc = oma_fail(err, errlen, "pickle leaves %zu values on the stack", m.sp);
    if (rc == 0 && m.stack[0]->k != V_DICT && m.stack[0]->k != V_TENSOR)
        rc = oma_fail(err, errlen, "the archive holds neither a dict nor a tensor");
    if (rc == 0) rc = flatten(&m, m.stack[0], m.stack[0]->k == V_TENSOR ? "tensor" : "", 0, storage, ctx, f);
    for (size_t i = 0; i < m.n_all; i++) {
        if (m.all[i]->k == V_STR) free(m.all[i]->s);
        free(m.all[i]->items);
        free(m.all[i]);
    }
    free(m.all);
    free(m.memo);
    free(m.stack);
    return rc;
}
