/* yaml.c — the bounded YAML-subset reader (see yaml.h).
 *
 * Two passes: the text is cut into lines (indent counted, comments and trailing blanks taken
 * off, blank lines dropped), then a recursive descent over those lines builds the tree: a run
 * of lines at one indent is a mapping or a list, a deeper run after "key:" is its value, and a
 * one-line value is a scalar or a flow list. Whatever the subset does not cover is refused
 * rather than guessed at.
 */
#include "formats/yaml.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "formats/fail.h"
#include "formats/files.h"

typedef struct yline {
    int indent, no;
    char *s;        /* content: no indent, no comment, no trailing blanks */
} yline;

typedef struct yparser {
    yline *ln;
    size_t n, pos;
    size_t nodes;
    char *err;
    size_t errlen;
} yparser;

static void node_free(oma_yaml_node *n)
{
    for (size_t i = 0; i < n->n; i++) node_free(&n->items[i]);
    free(n->items);
    free(n->key);
    free(n->text);
}

void oma_yaml_free(oma_yaml_node *root)
{
    if (!root) return;
    node_free(root);
    free(root);
}

static int perr(yparser *p, int line, const char *what)
{
    return oma_fail(p->err, p->errlen, "line %d: %s", line, what);
}

/* ---- pass 1: lines ---- */

/* Where a comment starts in s (or strlen(s)): a '#' at the start or after a blank, outside quotes. */
static size_t comment_at(const char *s)
{
    char q = 0;
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        if (q) {
            if (c == q) {
                if (q == '\'' && s[i + 1] == '\'') i++;     /* '' inside '...' */
                else q = 0;
            } else if (q == '"' && c == '\\' && s[i + 1]) {
                i++;
            }
        } else if ((c == '"' || c == '\'') && (i == 0 || strchr(" \t[,:", s[i - 1]))) {
            q = c;
        } else if (c == '#' && (i == 0 || s[i - 1] == ' ' || s[i - 1] == '\t')) {
            return i;
        }
    }
    return strlen(s);
}

static int split_lines(yparser *p, const char *text, size_t len)
{
    size_t cap = 0;
    int no = 0, seen_content = 0;
    for (size_t at = 0; at < len;) {
        size_t end = at;
        while (end < len && text[end] != '\n') end++;
        no++;
        size_t l = end - at;
        if (l > 0 && text[at + l - 1] == '\r') l--;
        if (l > OMA_YAML_MAX_LINE) return perr(p, no, "line too long");
        char buf[OMA_YAML_MAX_LINE + 1];
        memcpy(buf, text + at, l);
        buf[l] = 0;
        at = end + 1;
        if (memchr(buf, 0, l)) return perr(p, no, "NUL byte");
        int ind = 0;
        while (buf[ind] == ' ') ind++;
        if (buf[ind] == '\t') return perr(p, no, "tabs in indentation are not allowed");
        char *s = buf + ind;
        s[comment_at(s)] = 0;
        size_t sl = strlen(s);
        while (sl > 0 && (s[sl - 1] == ' ' || s[sl - 1] == '\t')) s[--sl] = 0;
        if (sl == 0) continue;
        if (ind == 0 && (!strcmp(s, "---") || !strncmp(s, "--- ", 4))) {
            if (seen_content) return perr(p, no, "more than one document is not supported");
            if (s[3]) return perr(p, no, "content after '---' is not supported");
            seen_content = 1;
            continue;
        }
        if (ind == 0 && !strcmp(s, "...")) return perr(p, no, "document end markers are not supported");
        if (s[0] == '%') return perr(p, no, "directives are not supported");
        seen_content = 1;
        if (p->n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            yline *nl = realloc(p->ln, nc * sizeof *nl);
            if (!nl) return oma_fail(p->err, p->errlen, "out of memory");
            p->ln = nl;
            cap = nc;
        }
        p->ln[p->n].s = strdup(s);
        if (!p->ln[p->n].s) return oma_fail(p->err, p->errlen, "out of memory");
        p->ln[p->n].indent = ind;
        p->ln[p->n].no = no;
        p->n++;
    }
    return 0;
}

/* ---- pass 2: nodes ---- */

static int add_item(yparser *p, oma_yaml_node *parent, oma_yaml_node **out, int line)
{
    if (++p->nodes > OMA_YAML_MAX_NODES) return perr(p, line, "too many nodes");
    if ((parent->n & (parent->n - 1)) == 0) {   /* grow at 0, 1, 2, 4, ... */
        size_t nc = parent->n ? parent->n * 2 : 1;
        oma_yaml_node *ni = realloc(parent->items, nc * sizeof *ni);
        if (!ni) return oma_fail(p->err, p->errlen, "out of memory");
        parent->items = ni;
    }
    *out = &parent->items[parent->n++];
    memset(*out, 0, sizeof **out);
    (*out)->line = line;
    return 0;
}

static int is_item(const char *s) { return s[0] == '-' && (s[1] == 0 || s[1] == ' '); }

/* A quoted scalar starting at s (a quote): text into out (malloc'ed), *used = bytes read. */
static int quoted(yparser *p, int line, const char *s, char **out, size_t *used)
{
    char q = s[0];
    size_t n = strlen(s), k = 0;
    char *t = malloc(n + 1);
    if (!t) return oma_fail(p->err, p->errlen, "out of memory");
    size_t i = 1;
    for (;; i++) {
        if (!s[i]) {
            free(t);
            return perr(p, line, "unterminated quoted string (multi-line strings are not supported)");
        }
        char c = s[i];
        if (c == q) {
            if (q == '\'' && s[i + 1] == '\'') {
                t[k++] = '\'';
                i++;
                continue;
            }
            break;
        }
        if (q == '"' && c == '\\') {
            char e = s[++i];
            const char *from = "\\\"/nt", *to = "\\\"/\n\t";
            const char *hit = e ? strchr(from, e) : NULL;
            if (!hit) {
                free(t);
                return perr(p, line, "unsupported escape in a quoted string");
            }
            t[k++] = to[hit - from];
            continue;
        }
        t[k++] = c;
    }
    t[k] = 0;
    *out = t;
    *used = i + 1;
    return 0;
}

/* One scalar (quoted or plain) from s into n; plain null / ~ / empty give a null node. */
static int scalar(yparser *p, int line, const char *s, oma_yaml_node *n)
{
    static const char bad[] = "&*!|>{%@`?";
    const char *hit = strchr(bad, s[0]);
    if (s[0] && hit) {
        static const char *const why[] = {"anchors are not supported", "aliases are not supported",
                                          "tags are not supported", "block scalars are not supported",
                                          "block scalars are not supported", "flow mappings are not supported",
                                          "directives are not supported", "reserved character '@'",
                                          "reserved character '`'", "complex keys are not supported"};
        return perr(p, line, why[hit - bad]);
    }
    if (s[0] == '"' || s[0] == '\'') {
        size_t used;
        if (quoted(p, line, s, &n->text, &used)) return -1;
        if (s[used]) return perr(p, line, "text after a quoted string");
        n->kind = OMA_YAML_SCALAR;
        n->quoted = 1;
        return 0;
    }
    if (strstr(s, ": ") || (s[0] && s[strlen(s) - 1] == ':'))
        return perr(p, line, "a mapping is not allowed here");
    if (!s[0] || !strcmp(s, "~") || !strcasecmp(s, "null")) {
        n->kind = OMA_YAML_NULL;
        return 0;
    }
    n->kind = OMA_YAML_SCALAR;
    n->text = strdup(s);
    return n->text ? 0 : oma_fail(p->err, p->errlen, "out of memory");
}

/* "[a, 'b', 3]" on one line into a list node. */
static int flow_list(yparser *p, int line, const char *s, oma_yaml_node *n)
{
    n->kind = OMA_YAML_LIST;
    size_t i = 1;
    while (s[i] == ' ') i++;
    if (s[i] == ']') return s[i + 1] ? perr(p, line, "text after a flow list") : 0;
    for (;;) {
        while (s[i] == ' ') i++;
        oma_yaml_node *it;
        if (add_item(p, n, &it, line)) return -1;
        if (s[i] == '[' || s[i] == '{') return perr(p, line, "nested flow collections are not supported");
        char tok[OMA_YAML_MAX_LINE + 1];
        size_t k = 0;
        if (s[i] == '"' || s[i] == '\'') {
            size_t used;
            char *t;
            if (quoted(p, line, s + i, &t, &used)) return -1;
            it->kind = OMA_YAML_SCALAR;
            it->quoted = 1;
            it->text = t;
            i += used;
            while (s[i] == ' ') i++;
        } else {
            while (s[i] && s[i] != ',' && s[i] != ']') tok[k++] = s[i++];
            while (k > 0 && tok[k - 1] == ' ') k--;
            tok[k] = 0;
            if (!k) return perr(p, line, "empty item in a flow list");
            if (scalar(p, line, tok, it)) return -1;
        }
        if (s[i] == ',') {
            i++;
            continue;
        }
        if (s[i] == ']') return s[i + 1] ? perr(p, line, "text after a flow list") : 0;
        return perr(p, line, "unterminated flow list (multi-line flow lists are not supported)");
    }
}

static int value(yparser *p, int line, const char *s, oma_yaml_node *n)
{
    if (s[0] == '[') return flow_list(p, line, s, n);
    return scalar(p, line, s, n);
}

static int block(yparser *p, int indent, int depth, oma_yaml_node *n);

/* The value of "key:" with nothing after it: a deeper block, a list at the same indent, or null. */
static int nested(yparser *p, int indent, int depth, int line, oma_yaml_node *n)
{
    if (p->pos < p->n && p->ln[p->pos].indent > indent) return block(p, p->ln[p->pos].indent, depth + 1, n);
    if (p->pos < p->n && p->ln[p->pos].indent == indent && is_item(p->ln[p->pos].s))
        return block(p, indent, depth + 1, n);
    (void)line;
    n->kind = OMA_YAML_NULL;
    return 0;
}

static int list(yparser *p, int indent, int depth, oma_yaml_node *n)
{
    n->kind = OMA_YAML_LIST;
    while (p->pos < p->n && p->ln[p->pos].indent == indent && is_item(p->ln[p->pos].s)) {
        const yline *l = &p->ln[p->pos++];
        const char *rest = l->s + 1;
        while (*rest == ' ') rest++;
        oma_yaml_node *it;
        if (add_item(p, n, &it, l->no)) return -1;
        if (is_item(rest)) return perr(p, l->no, "nested '- -' lists are not supported");
        if (!*rest) {
            if (p->pos < p->n && p->ln[p->pos].indent > indent) {
                if (!is_item(p->ln[p->pos].s))
                    return perr(p, p->ln[p->pos].no, "mappings inside list items are not supported");
                if (block(p, p->ln[p->pos].indent, depth + 1, it)) return -1;
            } else {
                it->kind = OMA_YAML_NULL;
            }
            continue;
        }
        if (rest[0] != '"' && rest[0] != '\'' && rest[0] != '[' &&
            (strstr(rest, ": ") || rest[strlen(rest) - 1] == ':'))
            return perr(p, l->no, "mappings inside list items are not supported");
        if (value(p, l->no, rest, it)) return -1;
    }
    if (p->pos < p->n && p->ln[p->pos].indent == indent && depth == 0)
        return perr(p, p->ln[p->pos].no, "expected a list item");
    if (p->pos < p->n && p->ln[p->pos].indent > indent)
        return perr(p, p->ln[p->pos].no, "unexpected indentation");
    return 0;
}

static int map(yparser *p, int indent, int depth, oma_yaml_node *n)
{
    n->kind = OMA_YAML_MAP;
    while (p->pos < p->n && p->ln[p->pos].indent == indent) {
        const yline *l = &p->ln[p->pos];
        const char *s = l->s;
        if (is_item(s)) return perr(p, l->no, "a list item where a key was expected");
        char *key = NULL;
        size_t after;
        if (s[0] == '"' || s[0] == '\'') {
            if (quoted(p, l->no, s, &key, &after)) return -1;
            if (s[after] != ':' || (s[after + 1] && s[after + 1] != ' ')) {
                free(key);
                return perr(p, l->no, "expected ':' after a quoted key");
            }
        } else {
            if (strchr("&*!|>{[%@`?", s[0])) {
                oma_yaml_node tmp = {0};
                int rc = scalar(p, l->no, s, &tmp);
                node_free(&tmp);
                return rc ? -1 : perr(p, l->no, "unsupported key");
            }
            const char *c = s;
            while ((c = strchr(c, ':')) && c[1] && c[1] != ' ') c++;
            if (!c) return perr(p, l->no, "expected 'key: value'");
            if (c == s) return perr(p, l->no, "empty key");
            size_t kl = (size_t)(c - s);
            while (kl > 0 && s[kl - 1] == ' ') kl--;
            key = strndup(s, kl);
            if (!key) return oma_fail(p->err, p->errlen, "out of memory");
            after = (size_t)(c - s);
        }
        for (size_t i = 0; i < n->n; i++)
            if (!strcmp(n->items[i].key, key)) {
                free(key);
                return perr(p, l->no, "duplicate key");
            }
        oma_yaml_node *it;
        if (add_item(p, n, &it, l->no)) {
            free(key);
            return -1;
        }
        it->key = key;
        const char *v = s + after + 1;
        while (*v == ' ') v++;
        p->pos++;
        if (*v) {
            if (value(p, l->no, v, it)) return -1;
        } else if (nested(p, indent, depth, l->no, it)) {
            return -1;
        }
    }
    if (p->pos < p->n && p->ln[p->pos].indent > indent)
        return perr(p, p->ln[p->pos].no, "unexpected indentation");
    return 0;
}

static int block(yparser *p, int indent, int depth, oma_yaml_node *n)
{
    if (depth > OMA_YAML_MAX_DEPTH) return perr(p, p->ln[p->pos].no, "nested too deeply");
    if (is_item(p->ln[p->pos].s)) return list(p, indent, depth, n);
    return map(p, indent, depth, n);
}

int oma_yaml_parse(const char *text, size_t len, oma_yaml_node **out, char *err, size_t errlen)
{
    *out = NULL;
    if (len > OMA_YAML_MAX_BYTES) return oma_fail(err, errlen, "more than %u bytes", OMA_YAML_MAX_BYTES);
    yparser p = {0};
    p.err = err;
    p.errlen = errlen;
    oma_yaml_node *root = calloc(1, sizeof *root);
    int rc = -1;
    if (!root) {
        oma_fail(err, errlen, "out of memory");
        goto done;
    }
    if (split_lines(&p, text, len)) goto done;
    if (p.n == 0) {
        root->kind = OMA_YAML_NULL;
        rc = 0;
        goto done;
    }
    if (p.ln[0].indent != 0) {
        perr(&p, p.ln[0].no, "the document must start at column 1");
        goto done;
    }
    if (p.n == 1 && !is_item(p.ln[0].s) && !strchr(p.ln[0].s, ':')) {
        rc = value(&p, p.ln[0].no, p.ln[0].s, root);     /* a lone scalar or flow list */
        goto done;
    }
    if (block(&p, 0, 0, root)) goto done;
    if (p.pos < p.n) {
        perr(&p, p.ln[p.pos].no, "unexpected indentation");
        goto done;
    }
    rc = 0;
done:
    for (size_t i = 0; i < p.n; i++) free(p.ln[i].s);
    free(p.ln);
    if (rc) oma_yaml_free(root);
    else *out = root;
    return rc;
}

int oma_yaml_load(const char *path, oma_yaml_node **out, char *err, size_t errlen)
{
    unsigned char *data = NULL;
    size_t len = 0;
    char inner[256];
    *out = NULL;
    if (oma_read_file(path, OMA_YAML_MAX_BYTES, &data, &len, inner, sizeof inner))
        return oma_fail(err, errlen, "%s: %s", path, inner);
    int rc = oma_yaml_parse((const char *)data, len, out, inner, sizeof inner);
    free(data);
    if (rc) return oma_fail(err, errlen, "%s: %s", path, inner);
    return 0;
}

const oma_yaml_node *oma_yaml_get(const oma_yaml_node *m, const char *key)
{
    if (!m || m->kind != OMA_YAML_MAP) return NULL;
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->items[i].key, key)) return &m->items[i];
    return NULL;
}

const oma_yaml_node *oma_yaml_path(const oma_yaml_node *root, const char *dotted)
{
    const oma_yaml_node *n = root;
    char key[256];
    while (n && *dotted) {
        const char *dot = strchr(dotted, '.');
        size_t l = dot ? (size_t)(dot - dotted) : strlen(dotted);
        if (l >= sizeof key) return NULL;
        memcpy(key, dotted, l);
        key[l] = 0;
        n = oma_yaml_get(n, key);
        dotted += l + (dot ? 1 : 0);
    }
    return n;
}

const char *oma_yaml_str(const oma_yaml_node *n)
{
    return n && n->kind == OMA_YAML_SCALAR ? n->text : NULL;
}

int oma_yaml_num(const oma_yaml_node *n, double lo, double hi, double *out)
{
    const char *s = oma_yaml_str(n);
    if (!s || n->quoted || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || !isfinite(v) || v < lo || v > hi) return -1;
    if (strpbrk(s, "xXpP") || isalpha((unsigned char)s[strspn(s, "+-")])) return -1;  /* no hex, inf, nan */
    *out = v;
    return 0;
}

int oma_yaml_int(const oma_yaml_node *n, long long lo, long long hi, long long *out)
{
    const char *s = oma_yaml_str(n);
    if (!s || n->quoted || !*s) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end || errno || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int oma_yaml_bool(const oma_yaml_node *n, int *out)
{
    const char *s = oma_yaml_str(n);
    if (!s || n->quoted) return -1;
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    for (int i = 0; i < 3; i++) {
        if (!strcasecmp(s, yes[i])) return *out = 1, 0;
        if (!strcasecmp(s, no[i])) return *out = 0, 0;
    }
    return -1;
}
