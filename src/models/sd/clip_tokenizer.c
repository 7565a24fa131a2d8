/* clip_tokenizer.c — CLIP byte-level BPE: load vocab/merges, clean and split text, merge, frame.
 *
 * The vocab (token -> id) and the merge ranks ("a b" -> rank) live in two open-addressing hash
 * tables keyed by strings. Text is decoded as UTF-8 (invalid bytes become U+FFFD, as Python's
 * decoding with errors="replace" would), cleaned (white space runs -> one space, trimmed,
 * lowercased with the generated Unicode tables), split with CLIP's pattern, and each piece's
 * bytes are mapped through GPT-2's byte -> printable-character table before BPE. The BPE loop
 * is the reference's: repeatedly merge every occurrence (left to right) of the adjacent pair
 * with the lowest rank until no ranked pair is left.
 */
#include "models/sd/clip_tokenizer.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "formats/fail.h"
#include "models/sd/clip_tokenizer_unicode.h"

#define MAX_VOCAB 1000000
#define MAX_FILE (64u * 1024 * 1024)
#define MAX_PROMPT (64u * 1024)

/* ---- string -> int hash table ---- */
typedef struct strmap {
    char **keys;
    int *vals;
    size_t cap, n;
} strmap;

static uint64_t hash_str(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static int strmap_init(strmap *m, size_t expect) {
    size_t cap = 64;
    while (cap < expect * 2) cap *= 2;
    m->keys = calloc(cap, sizeof *m->keys);
    m->vals = calloc(cap, sizeof *m->vals);
    m->cap = cap;
    m->n = 0;
    return (m->keys && m->vals) ? 0 : -1;
}

static void strmap_free(strmap *m) {
    if (m->keys)
        for (size_t i = 0; i < m->cap; i++) free(m->keys[i]);
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* Looks up len bytes of s (not necessarily terminated); -1 if absent. */
static int strmap_get(const strmap *m, const char *s, size_t len) {
    size_t i = (size_t)hash_str(s, len) & (m->cap - 1);
    while (m->keys[i]) {
        if (strlen(m->keys[i]) == len && !memcmp(m->keys[i], s, len)) return m->vals[i];
        i = (i + 1) & (m->cap - 1);
    }
    return -1;
}

/* Inserts (first value wins for duplicates); 0 ok, -1 out of memory/full. */
static int strmap_put(strmap *m, const char *s, int v) {
    if ((m->n + 1) * 2 > m->cap) return -1;
    size_t len = strlen(s);
    size_t i = (size_t)hash_str(s, len) & (m->cap - 1);
    while (m->keys[i]) {
        if (!strcmp(m->keys[i], s)) return 0;
        i = (i + 1) & (m->cap - 1);
    }
    m->keys[i] = strdup(s);
    if (!m->keys[i]) return -1;
    m->vals[i] = v;
    m->n++;
    return 0;
}

struct oma_clip_tokenizer {
    strmap vocab;       /* token -> id */
    strmap ranks;       /* "a b" -> merge rank */
    char byte_sym[256][4]; /* byte -> UTF-8 of its printable stand-in */
    int bos, eos, pad;
    struct added_token {   /* textual-inversion names: text -> n consecutive ids */
        char *text;
        size_t len;
        int first, n;
    } *added;
    size_t n_added;
    int next_id;           /* vocab size + ids added so far */
};

static size_t utf8_put(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes one UTF-8 code point at s[*i] (len bytes); invalid -> U+FFFD, one byte consumed. */
static uint32_t utf8_next(const unsigned char *s, size_t len, size_t *i) {
    unsigned char c = s[*i];
    uint32_t cp;
    size_t n;
    if (c < 0x80) {
        (*i)++;
        return c;
    } else if ((c & 0xE0) == 0xC0) {
        cp = c & 0x1F;
        n = 1;
    } else if ((c & 0xF0) == 0xE0) {
        cp = c & 0x0F;
        n = 2;
    } else if ((c & 0xF8) == 0xF0) {
        cp = c & 0x07;
        n = 3;
    } else {
        (*i)++;
        return 0xFFFD;
    }
    if (*i + n >= len) {
        (*i)++;
        return 0xFFFD;
    }
    for (size_t k = 1; k <= n; k++) {
        if ((s[*i + k] & 0xC0) != 0x80) {
            (*i)++;
            return 0xFFFD;
        }
        cp = (cp << 6) | (s[*i + k] & 0x3F);
    }
    static const uint32_t min_cp[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        (*i)++;
        return 0xFFFD;
    }
    *i += n + 1;
    return cp;
}

/* GPT-2/CLIP byte table: printable Latin-1 bytes map to themselves, the rest to 256+n. */
static void build_byte_table(oma_clip_tokenizer *t) {
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        uint32_t cp = keep ? (uint32_t)b : (uint32_t)(256 + n++);
        memset(t->byte_sym[b], 0, 4);
        utf8_put(cp, t->byte_sym[b]);
    }
}

static char *read_file(const char *path, size_t *len, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        oma_fail(err, errlen, "%s: cannot open", path);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
        if (n == cap) {
            if (cap >= MAX_FILE) {
                free(buf);
                fclose(f);
                oma_fail(err, errlen, "%s: larger than %u bytes", path, MAX_FILE);
                return NULL;
            }
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf) {
        oma_fail(err, errlen, "out of memory");
        return NULL;
    }
    if (bad) {
        free(buf);
        oma_fail(err, errlen, "%s: read error", path);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static int load_vocab(oma_clip_tokenizer *t, const char *path, char *err, size_t errlen) {
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) return oma_fail(err, errlen, "%s: %s (line %d)", path, je.text, je.line);
    int rc = -1;
    if (!json_is_object(root) || json_object_size(root) == 0 ||
        json_object_size(root) > MAX_VOCAB) {
        oma_fail(err, errlen, "%s: not a token -> id object", path);
        goto out;
    }
    if (strmap_init(&t->vocab, json_object_size(root))) {
        oma_fail(err, errlen, "out of memory");
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) >= MAX_VOCAB) {
            oma_fail(err, errlen, "%s: id of '%.40s' is not an integer in [0, %d)", path, k, MAX_VOCAB);
            goto out;
        }
        if (strmap_put(&t->vocab, k, (int)json_integer_value(v))) {
            oma_fail(err, errlen, "out of memory");
            goto out;
        }
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

static int load_merges(oma_clip_tokenizer *t, const char *path, char *err, size_t errlen) {
    size_t len;
    char *buf = read_file(path, &len, err, errlen);
    if (!buf) return -1;
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
    if (strmap_init(&t->ranks, lines)) {
        free(buf);
        return oma_fail(err, errlen, "out of memory");
    }
    int rank = 0;
    size_t lineno = 0;
    char *p = buf;
    while (p < buf + len) {
        char *nl = memchr(p, '\n', (size_t)(buf + len - p));
        char *end = nl ? nl : buf + len;
        lineno++;
        if (end > p && end[-1] == '\r') end[-1] = 0;
        *end = 0;
        if (*p && !(lineno == 1 && !strncmp(p, "#version", 8))) {
            char *sp = strchr(p, ' ');
            if (!sp || sp == p || !sp[1] || strchr(sp + 1, ' ')) {
                free(buf);
                return oma_fail(err, errlen, "%s:%zu: a merge is two symbols separated by one space",
                                path, lineno);
            }
            if (strmap_put(&t->ranks, p, rank++)) {
                free(buf);
                return oma_fail(err, errlen, "out of memory");
            }
        }
        p = end + 1;
    }
    free(buf);
    if (rank == 0) return oma_fail(err, errlen, "%s: no merges", path);
    return 0;
}

/* pad token from a JSON config: "pad_token": "x" or {"content": "x"}; NULL when absent. */
static char *config_pad(const char *path) {
    json_t *root = json_load_file(path, 0, NULL);
    if (!root) return NULL;
    json_t *p = json_object_get(root, "pad_token");
    if (json_is_object(p)) p = json_object_get(p, "content");
    char *out = json_is_string(p) ? strdup(json_string_value(p)) : NULL;
    json_decref(root);
    return out;
}

int oma_clip_tokenizer_load_files(const char *vocab_json, const char *merges_txt,
                                  const char *pad_token, oma_clip_tokenizer **out, char *err,
                                  size_t errlen) {
    *out = NULL;
    oma_clip_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return oma_fail(err, errlen, "out of memory");
    build_byte_table(t);
    if (load_vocab(t, vocab_json, err, errlen) || load_merges(t, merges_txt, err, errlen)) {
        oma_clip_tokenizer_free(t);
        return -1;
    }
    t->bos = strmap_get(&t->vocab, "<|startoftext|>", 15);
    t->eos = strmap_get(&t->vocab, "<|endoftext|>", 13);
    if (t->bos < 0 || t->eos < 0) {
        oma_clip_tokenizer_free(t);
        return oma_fail(err, errlen, "%s: no <|startoftext|> / <|endoftext|> token", vocab_json);
    }
    t->pad = t->eos;
    if (pad_token) {
        t->pad = strmap_get(&t->vocab, pad_token, strlen(pad_token));
        if (t->pad < 0) {
            oma_clip_tokenizer_free(t);
            return oma_fail(err, errlen, "%s: pad token '%.40s' not in the vocab", vocab_json, pad_token);
        }
    }
    for (int b = 0; b < 256; b++)
        if (strmap_get(&t->vocab, t->byte_sym[b], strlen(t->byte_sym[b])) < 0) {
            oma_clip_tokenizer_free(t);
            return oma_fail(err, errlen, "%s: byte 0x%02x has no token: not a CLIP byte-level vocab",
                            vocab_json, b);
        }
    *out = t;
    return 0;
}

int oma_clip_tokenizer_load(const char *dir, oma_clip_tokenizer **out, char *err, size_t errlen) {
    size_t dl = strlen(dir);
    char *v = malloc(dl + 32), *m = malloc(dl + 32), *c = malloc(dl + 32);
    if (!v || !m || !c) {
        free(v);
        free(m);
        free(c);
        return oma_fail(err, errlen, "out of memory");
    }
    snprintf(v, dl + 32, "%s/vocab.json", dir);
    snprintf(m, dl + 32, "%s/merges.txt", dir);
    snprintf(c, dl + 32, "%s/special_tokens_map.json", dir);
    char *pad = config_pad(c);
    if (!pad) {
        snprintf(c, dl + 32, "%s/tokenizer_config.json", dir);
        pad = config_pad(c);
    }
    int rc = oma_clip_tokenizer_load_files(v, m, pad, out, err, errlen);
    free(pad);
    free(v);
    free(m);
    free(c);
    return rc;
}

void oma_clip_tokenizer_free(oma_clip_tokenizer *tok) {
    if (!tok) return;
    oma_clip_drop_added(tok, 0);
    strmap_free(&tok->vocab);
    strmap_free(&tok->ranks);
    free(tok);
}

int oma_clip_bos(const oma_clip_tokenizer *tok) { return tok->bos; }
int oma_clip_eos(const oma_clip_tokenizer *tok) { return tok->eos; }
int oma_clip_pad(const oma_clip_tokenizer *tok) { return tok->pad; }
size_t oma_clip_vocab_size(const oma_clip_tokenizer *tok) { return tok->vocab.n; }

int oma_clip_token_id(const oma_clip_tokenizer *tok, const char *token) {
    return strmap_get(&tok->vocab, token, strlen(token));
}

/* ---- growing int array ---- */
typedef struct ivec {
    int *v;
    size_t n, cap;
} ivec;

static int ivec_push(ivec *a, int x) {
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 64;
        int *nv = realloc(a->v, nc * sizeof *nv);
        if (!nv) return -1;
        a->v = nv;
        a->cap = nc;
    }
    a->v[a->n++] = x;
    return 0;
}

/* The few HTML entities ftfy's unescape_html decodes that prompts meet (it knows all of HTML5). */
static size_t html_entity(const char *s, uint32_t *cp) {
    static const struct { const char *name; uint32_t cp; } ents[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}, {"&nbsp;", 0xA0},
    };
    for (size_t i = 0; i < sizeof ents / sizeof ents[0]; i++) {
        size_t l = strlen(ents[i].name);
        if (!strncmp(s, ents[i].name, l)) {
            *cp = ents[i].cp;
            return l;
        }
    }
    return 0;
}

typedef struct cleaner {
    uint32_t *cps;
    size_t n;
    int pending_space;
} cleaner;

/* white space runs -> one ' ' (none at the ends), lowercase */
static void emit(cleaner *c, uint32_t cp) {
    if (oma_uni_is_space(cp)) {
        c->pending_space = 1;
        return;
    }
    if (c->pending_space && c->n > 0) c->cps[c->n++] = ' ';
    c->pending_space = 0;
    if (cp == 0x130) {
        c->cps[c->n++] = 'i';
        c->cps[c->n++] = 0x307;
    } else {
        c->cps[c->n++] = oma_uni_lower(cp);
    }
}

/* Cleans text into code points as CLIPTokenizer does: ftfy (HTML entities when the text has no
 * '<', the per-character repairs, terminal colour escapes removed), white space runs -> ' ',
 * trimmed, lowercased. */
static uint32_t *clean_text(const char *text, size_t *n_out) {
    size_t len = strlen(text);
    /* a byte gives at most one code point and a repair at most one per input byte; 'İ' gives
     * two and a pending space one more: 4 per byte bounds the output */
    uint32_t *u = malloc((len + 1) * sizeof *u);
    cleaner c = {malloc((4 * len + 1) * sizeof(uint32_t)), 0, 0};
    if (!u || !c.cps) {
        free(u);
        free(c.cps);
        return NULL;
    }
    size_t nu = 0, i = 0;
    int html = strchr(text, '<') == NULL;
    while (i < len) {
        uint32_t cp;
        size_t el = (html && text[i] == '&') ? html_entity(text + i, &cp) : 0;
        if (el) i += el;
        else cp = utf8_next((const unsigned char *)text, len, &i);
        const char *rep = cp == 0x1B ? NULL : oma_uni_ftfy(cp); /* ESC: see below */
        if (!rep) {
            u[nu++] = cp;
            continue;
        }
        size_t rl = strlen(rep), k = 0;
        while (k < rl) u[nu++] = utf8_next((const unsigned char *)rep, rl, &k);
    }
    for (size_t k = 0; k < nu; k++) {
        if (u[k] == 0x1B) { /* ftfy drops "ESC [ digits/; letter", then any other ESC */
            size_t j = k + 1;
            if (j < nu && u[j] == '[') {
                j++;
                while (j < nu && ((u[j] >= '0' && u[j] <= '9') || u[j] == ';')) j++;
                if (j < nu && ((u[j] | 0x20) >= 'a' && (u[j] | 0x20) <= 'z')) k = j;
            }
            continue;
        }
        emit(&c, u[k]);
    }
    free(u);
    *n_out = c.n;
    return c.cps;
}

static int match_lit(const uint32_t *c, size_t n, size_t i, const char *lit) {
    size_t k = 0;
    for (; lit[k]; k++)
        if (i + k >= n || c[i + k] != (uint32_t)(unsigned char)lit[k]) return 0;
    return (int)k;
}

/* Length (in code points) of CLIP's pattern match at i; 0 when none (white space). */
static size_t pretoken_len(const uint32_t *c, size_t n, size_t i) {
    static const char *const lits[] = {"<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re",
                                       "'ve", "'m", "'ll", "'d"};
    for (size_t k = 0; k < sizeof lits / sizeof lits[0]; k++) {
        int m = match_lit(c, n, i, lits[k]);
        if (m) return (size_t)m;
    }
    size_t j = i;
    if (oma_uni_is_letter(c[i])) {
        while (j < n && oma_uni_is_letter(c[j])) j++;
        return j - i;
    }
    if (oma_uni_is_number(c[i])) return 1;
    while (j < n && !oma_uni_is_space(c[j]) && !oma_uni_is_letter(c[j]) && !oma_uni_is_number(c[j]))
        j++;
    return j - i;
}

/* ---- BPE of one piece, O(n log n) ----
 * Symbols are byte ranges of one buffer (the byte-mapped piece + "</w>"), kept in a linked list;
 * candidate pairs sit in a min-heap ordered by (merge rank, position). The reference merges, per
 * round, every occurrence of the lowest-ranked pair left to right in the word as it stood at the
 * start of the round; here a round pops all heap entries of that rank in position order (stale
 * ones skipped) and only then adds the pairs the round created. Same result, without the
 * reference's quadratic rescans (a 16 kB word took 0.7 s that way). */
typedef struct bpe_pair {
    int rank;
    int left, right;       /* symbol indices */
    int llen, rlen;        /* their lengths when the pair was made (stale check) */
    int pos;               /* byte offset of left: the tie-break */
} bpe_pair;

typedef struct bpe_heap {
    bpe_pair *v;
    size_t n, cap;
} bpe_heap;

static int pair_less(const bpe_pair *a, const bpe_pair *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static int heap_push(bpe_heap *h, bpe_pair p) {
    if (h->n == h->cap) {
        size_t nc = h->cap ? h->cap * 2 : 64;
        bpe_pair *nv = realloc(h->v, nc * sizeof *nv);
        if (!nv) return -1;
        h->v = nv;
        h->cap = nc;
    }
    size_t i = h->n++;
    h->v[i] = p;
    while (i > 0) {
        size_t up = (i - 1) / 2;
        if (!pair_less(&h->v[i], &h->v[up])) break;
        bpe_pair t = h->v[i];
        h->v[i] = h->v[up];
        h->v[up] = t;
        i = up;
    }
    return 0;
}

static bpe_pair heap_pop(bpe_heap *h) {
    bpe_pair top = h->v[0];
    h->v[0] = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < h->n && pair_less(&h->v[l], &h->v[m])) m = l;
        if (r < h->n && pair_less(&h->v[r], &h->v[m])) m = r;
        if (m == i) break;
        bpe_pair t = h->v[i];
        h->v[i] = h->v[m];
        h->v[m] = t;
        i = m;
    }
    return top;
}

typedef struct bpe_word {
    const char *buf;
    int *off, *len, *next, *prev;
} bpe_word;

/* Rank of the pair (a, b), -1 if none; key is scratch space of keycap bytes. */
static int pair_rank(const oma_clip_tokenizer *t, const bpe_word *w, int a, int b, char *key,
                     size_t keycap) {
    size_t la = (size_t)w->len[a], lb = (size_t)w->len[b];
    if (la + lb + 1 > keycap) return -1; /* longer than any merge */
    memcpy(key, w->buf + w->off[a], la);
    key[la] = ' ';
    memcpy(key + la + 1, w->buf + w->off[b], lb);
    return strmap_get(&t->ranks, key, la + 1 + lb);
}

static int push_pair(const oma_clip_tokenizer *t, const bpe_word *w, bpe_heap *h, int a, int b,
                     char *key, size_t keycap) {
    if (a < 0 || b < 0) return 0;
    int r = pair_rank(t, w, a, b, key, keycap);
    if (r < 0) return 0;
    bpe_pair p = {r, a, b, w->len[a], w->len[b], w->off[a]};
    return heap_push(h, p);
}

/* buf: the piece's byte symbols + "</w>"; starts[k] the offset of symbol k (ns symbols, the
 * last ending at buflen). Appends the ids of the final symbols. */
static int bpe_piece(const oma_clip_tokenizer *t, const char *buf, size_t buflen,
                     const int *starts, int ns, ivec *ids) {
    int *mem = malloc((size_t)ns * 4 * sizeof *mem);
    char key[1024];
    bpe_heap h = {0}, pend = {0};
    if (!mem) return -1;
    bpe_word w = {buf, mem, mem + ns, mem + 2 * ns, mem + 3 * ns};
    for (int k = 0; k < ns; k++) {
        w.off[k] = starts[k];
        w.len[k] = (k + 1 < ns ? starts[k + 1] : (int)buflen) - starts[k];
        w.next[k] = k + 1 < ns ? k + 1 : -1;
        w.prev[k] = k - 1;
    }
    int rc = 0;
    for (int k = 0; k + 1 < ns && rc == 0; k++) rc = push_pair(t, &w, &h, k, k + 1, key, sizeof key);
    while (rc == 0 && h.n > 0) {
        int rank = h.v[0].rank;
        pend.n = 0;
        while (rc == 0 && h.n > 0 && h.v[0].rank == rank) {
            bpe_pair p = heap_pop(&h);
            if (w.len[p.left] != p.llen || w.next[p.left] != p.right || w.len[p.right] != p.rlen ||
                w.len[p.left] == 0 || w.len[p.right] == 0)
                continue; /* stale: a neighbour changed since the pair was made */
            int a = p.left, b = p.right;
            w.len[a] += w.len[b];
            w.len[b] = 0;
            w.next[a] = w.next[b];
            if (w.next[b] >= 0) w.prev[w.next[b]] = a;
            rc = push_pair(t, &w, &pend, w.prev[a], a, key, sizeof key);
            if (rc == 0) rc = push_pair(t, &w, &pend, a, w.next[a], key, sizeof key);
        }
        for (size_t k = 0; rc == 0 && k < pend.n; k++) rc = heap_push(&h, pend.v[k]);
    }
    for (int k = 0; rc == 0 && k >= 0; k = w.next[k]) {
        int id = strmap_get(&t->vocab, buf + w.off[k], (size_t)w.len[k]);
        if (id >= 0) rc = ivec_push(ids, id);
    }
    free(h.v);
    free(pend.v);
    free(mem);
    return rc;
}

/* Tokenizes one pre-token (code points c[0..len)). */
static int encode_piece(const oma_clip_tokenizer *t, const uint32_t *c, size_t len, ivec *ids) {
    int special = (len == 15 && match_lit(c, len, 0, "<|startoftext|>")) ||
                  (len == 13 && match_lit(c, len, 0, "<|endoftext|>"));
    if (special)
        return ivec_push(ids, len == 15 ? t->bos : t->eos);
    /* each code point is at most 4 bytes, each byte's stand-in at most 2 UTF-8 bytes */
    size_t nbytes_max = len * 4;
    char *buf = malloc(nbytes_max * 2 + 5);
    int *starts = malloc(nbytes_max * sizeof *starts);
    if (!buf || !starts || nbytes_max > (size_t)INT32_MAX / 4) {
        free(buf);
        free(starts);
        return -1;
    }
    size_t bl = 0;
    int ns = 0;
    for (size_t k = 0; k < len; k++) {
        char u[4];
        size_t n = utf8_put(c[k], u);
        for (size_t q = 0; q < n; q++) {
            const char *bs = t->byte_sym[(unsigned char)u[q]];
            size_t l = strlen(bs);
            starts[ns++] = (int)bl;
            memcpy(buf + bl, bs, l);
            bl += l;
        }
    }
    memcpy(buf + bl, "</w>", 4);
    bl += 4;
    int rc = ns > 0 ? bpe_piece(t, buf, bl, starts, ns, ids) : 0;
    free(buf);
    free(starts);
    return rc;
}

static int bpe_text(const oma_clip_tokenizer *tok, const char *text, ivec *ids) {
    size_t n;
    uint32_t *c = clean_text(text, &n);
    if (!c) return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        size_t l = pretoken_len(c, n, i);
        if (l == 0) {
            i++;
            continue;
        }
        rc = encode_piece(tok, c + i, l, ids);
        i += l;
    }
    free(c);
    return rc;
}

static int is_word_char(unsigned char c) { return (c >= '0' && c <= '9') || ((c | 32) >= 'a' && (c | 32) <= 'z') || c >= 0x80; }

/* Does added token a match text at i? Case-insensitive; a name that starts (ends) with a word
 * character must not continue a word before (after) it. */
static int added_at(const struct added_token *a, const char *text, size_t i, size_t len) {
    if (len - i < a->len || strncasecmp(text + i, a->text, a->len) != 0) return 0;
    if (is_word_char((unsigned char)a->text[0]) && i > 0 && is_word_char((unsigned char)text[i - 1])) return 0;
    if (is_word_char((unsigned char)a->text[a->len - 1]) && i + a->len < len &&
        is_word_char((unsigned char)text[i + a->len]))
        return 0;
    return 1;
}

/* Added tokens are split out of the text first (as transformers does with added tokens), the
 * pieces between go through BPE. */
static int tokenize_into(const oma_clip_tokenizer *tok, const char *text, ivec *ids) {
    if (tok->n_added == 0) return bpe_text(tok, text, ids);
    size_t len = strlen(text), start = 0;
    for (size_t i = 0; i <= len; i++) {
        const struct added_token *best = NULL;
        for (size_t k = 0; i < len && k < tok->n_added; k++)
            if (added_at(&tok->added[k], text, i, len) && (!best || tok->added[k].len > best->len)) best = &tok->added[k];
        if (!best && i < len) continue;
        if (i > start) {
            char *piece = strndup(text + start, i - start);
            if (!piece) return -1;
            int rc = bpe_text(tok, piece, ids);
            free(piece);
            if (rc) return -1;
        }
        if (!best) break;
        for (int j = 0; j < best->n; j++)
            if (ivec_push(ids, best->first + j)) return -1;
        i += best->len - 1;
        start = i + 1;
    }
    return 0;
}

int oma_clip_add_token(oma_clip_tokenizer *tok, const char *text, int n_ids, char *err, size_t errlen) {
    size_t len = strlen(text);
    if (len == 0 || len > 256 || n_ids < 1 || n_ids > OMA_CLIP_CONTEXT - 2)
        return oma_fail(err, errlen, "token '%.64s': bad name or %d vectors", text, n_ids);
    for (size_t k = 0; k < tok->n_added; k++)
        if (strcasecmp(tok->added[k].text, text) == 0) return oma_fail(err, errlen, "token '%s' is already added", text);
    if (tok->next_id > (1 << 24)) return oma_fail(err, errlen, "too many added tokens");
    struct added_token *na = realloc(tok->added, (tok->n_added + 1) * sizeof *na);
    if (!na) return oma_fail(err, errlen, "out of memory");
    tok->added = na;
    char *t = strdup(text);
    if (!t) return oma_fail(err, errlen, "out of memory");
    if (tok->next_id < (int)tok->vocab.n) tok->next_id = (int)tok->vocab.n;
    tok->added[tok->n_added++] = (struct added_token){t, len, tok->next_id, n_ids};
    tok->next_id += n_ids;
    return tok->added[tok->n_added - 1].first;
}

size_t oma_clip_added_count(const oma_clip_tokenizer *tok) { return tok->n_added; }

size_t oma_clip_total_ids(const oma_clip_tokenizer *tok) {
    return tok->next_id > (int)tok->vocab.n ? (size_t)tok->next_id : tok->vocab.n;
}

void oma_clip_drop_added(oma_clip_tokenizer *tok, size_t keep) {
    while (tok->n_added > keep) {
        struct added_token *a = &tok->added[--tok->n_added];
        tok->next_id = a->first;
        free(a->text);
    }
    if (tok->n_added == 0) {
        free(tok->added);
        tok->added = NULL;
    }
}

int oma_clip_tokenize(const oma_clip_tokenizer *tok, const char *text, int **ids, size_t *n,
                      char *err, size_t errlen) {
    *ids = NULL;
    *n = 0;
    if (strlen(text) > MAX_PROMPT)
        return oma_fail(err, errlen, "prompt longer than %u bytes", MAX_PROMPT);
    ivec v = {0};
    if (tokenize_into(tok, text, &v)) {
        free(v.v);
        return oma_fail(err, errlen, "out of memory");
    }
    *ids = v.v;
    *n = v.n;
    return 0;
}

static void frame(const oma_clip_tokenizer *tok, const int *ids, const float *w, size_t n,
                  oma_clip_tokens *out) {
    const size_t max = OMA_CLIP_CONTEXT - 2;
    out->truncated = n > max;
    if (n > max) n = max;
    out->ids[0] = tok->bos;
    out->weights[0] = 1.0f;
    for (size_t i = 0; i < n; i++) {
        out->ids[1 + i] = ids[i];
        out->weights[1 + i] = w ? w[i] : 1.0f;
    }
    out->ids[1 + n] = tok->eos;
    out->weights[1 + n] = 1.0f;
    out->length = (int)n + 2;
    for (size_t i = n + 2; i < OMA_CLIP_CONTEXT; i++) {
        out->ids[i] = tok->pad;
        out->weights[i] = 1.0f;
    }
}

int oma_clip_encode(const oma_clip_tokenizer *tok, const char *text, oma_clip_tokens *out,
                    char *err, size_t errlen) {
    int *ids;
    size_t n;
    if (oma_clip_tokenize(tok, text, &ids, &n, err, errlen)) return -1;
    frame(tok, ids, NULL, n, out);
    free(ids);
    return 0;
}

int oma_clip_encode_weighted(const oma_clip_tokenizer *tok, const char *prompt,
                             oma_clip_tokens *out, char *err, size_t errlen) {
    if (strlen(prompt) > MAX_PROMPT)
        return oma_fail(err, errlen, "prompt longer than %u bytes", MAX_PROMPT);
    oma_prompt_span *spans;
    size_t ns;
    if (oma_prompt_parse_emphasis(prompt, &spans, &ns, err, errlen)) return -1;
    ivec ids = {0};
    float *w = NULL;
    size_t wcap = 0;
    int rc = 0;
    for (size_t s = 0; s < ns && rc == 0; s++) {
        size_t before = ids.n;
        if (tokenize_into(tok, spans[s].text, &ids)) {
            rc = -1;
            break;
        }
        if (ids.n > wcap) {
            size_t nc = ids.cap;
            float *nw = realloc(w, nc * sizeof *nw);
            if (!nw) {
                rc = -1;
                break;
            }
            w = nw;
            wcap = nc;
        }
        for (size_t i = before; i < ids.n; i++) w[i] = spans[s].weight;
    }
    oma_prompt_spans_free(spans, ns);
    if (rc) {
        free(ids.v);
        free(w);
        return oma_fail(err, errlen, "out of memory");
    }
    frame(tok, ids.v, w, ids.n, out);
    free(ids.v);
    free(w);
    return 0;
}
