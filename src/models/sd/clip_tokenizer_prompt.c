/* clip_tokenizer_prompt.c — the A1111 emphasis syntax: "(word)", "(word:1.3)", "[word]", "\(".
 *
 * A hand-written scanner that follows stable-diffusion-webui's parse_prompt_attention token by
 * token (its regex alternatives, in their order): an opening bracket remembers where the spans
 * list stands, a closing one multiplies every span since then (x1.1 for ")", /1.1 for "]",
 * xW for ":W)"), brackets still open at the end apply their factor to the end, a closing bracket
 * with nothing open is plain text, and adjacent spans of exactly equal weight are merged.
 * Weights are computed in double, as Python does, then stored as float.
 * Differences, on purpose: digits in ":W)" are ASCII only, a malformed number (":1.2.3)") is plain
 * text where A1111 raises an error, and "BREAK" is plain text (we encode one 77-token chunk).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/fail.h"
#include "models/sd/clip_tokenizer.h"

typedef struct span {
    char *text;
    double w;
} span;

typedef struct spans {
    span *v;
    size_t n, cap;
} spans;

static int push_text(spans *s, const char *t, size_t len, double w) {
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 16;
        span *nv = realloc(s->v, nc * sizeof *nv);
        if (!nv) return -1;
        s->v = nv;
        s->cap = nc;
    }
    char *c = malloc(len + 1);
    if (!c) return -1;
    memcpy(c, t, len);
    c[len] = 0;
    s->v[s->n].text = c;
    s->v[s->n].w = w;
    s->n++;
    return 0;
}

static void multiply_from(spans *s, size_t start, double m) {
    for (size_t i = start; i < s->n; i++) s->v[i].w *= m;
}

/* ":([+-]?[.0-9]+)\)" at p[i]; on a match sets *end past the paren, and num, numlen. */
static int match_weight(const char *p, size_t i, size_t *end, const char **num, size_t *numlen) {
    size_t j = i + 1;
    size_t start = j;
    if (p[j] == '+' || p[j] == '-') j++;
    size_t run = j;
    while (p[j] == '.' || (p[j] >= '0' && p[j] <= '9')) j++;
    if (j == run || p[j] != ')') return 0;
    *num = p + start;
    *numlen = j - start;
    *end = j + 1;
    return 1;
}

/* Python float() of an ASCII [+-]?[.0-9]+ string; -1 if it is not a number ("1.2.3", "."). */
static int parse_number(const char *s, size_t len, double *out) {
    char buf[64];
    if (len == 0 || len >= sizeof buf) return -1;
    memcpy(buf, s, len);
    buf[len] = 0;
    int dots = 0, digits = 0;
    for (size_t i = 0; i < len; i++) {
        dots += buf[i] == '.';
        digits += buf[i] >= '0' && buf[i] <= '9';
    }
    if (dots > 1 || digits == 0) return -1;
    char *e;
    *out = strtod(buf, &e);
    return *e ? -1 : 0;
}

void oma_prompt_spans_free(oma_prompt_span *sp, size_t n) {
    if (!sp) return;
    for (size_t i = 0; i < n; i++) free(sp[i].text);
    free(sp);
}

static void spans_free(spans *s) {
    for (size_t i = 0; i < s->n; i++) free(s->v[i].text);
    free(s->v);
}

int oma_prompt_parse_emphasis(const char *p, oma_prompt_span **out, size_t *n_out, char *err,
                              size_t errlen) {
    *out = NULL;
    *n_out = 0;
    size_t len = strlen(p);
    spans s = {0};
    size_t *round = malloc((len + 1) * sizeof *round), *square = malloc((len + 1) * sizeof *square);
    size_t nr = 0, nsq = 0;
    int oom = !round || !square;
    const double round_mul = 1.1, square_mul = 1 / 1.1;
    size_t i = 0;
    while (!oom && i < len) {
        char c = p[i];
        if (c == '\\') {
            char d = p[i + 1];
            if (d == '(' || d == ')' || d == '[' || d == ']' || d == '\\') {
                oom = push_text(&s, p + i + 1, 1, 1.0);
                i += 2;
            } else {
                oom = push_text(&s, "", 0, 1.0);
                i += 1;
            }
        } else if (c == '(') {
            round[nr++] = s.n;
            i++;
        } else if (c == '[') {
            square[nsq++] = s.n;
            i++;
        } else if (c == ':') {
            size_t end;
            const char *num;
            size_t numlen;
            double w;
            if (match_weight(p, i, &end, &num, &numlen)) {
                if (nr > 0 && parse_number(num, numlen, &w) == 0)
                    multiply_from(&s, round[--nr], w);
                else
                    oom = push_text(&s, p + i, end - i, 1.0);
                i = end;
            } else {
                oom = push_text(&s, ":", 1, 1.0);
                i++;
            }
        } else if (c == ')') {
            if (nr > 0) multiply_from(&s, round[--nr], round_mul);
            else oom = push_text(&s, ")", 1, 1.0);
            i++;
        } else if (c == ']') {
            if (nsq > 0) multiply_from(&s, square[--nsq], square_mul);
            else oom = push_text(&s, "]", 1, 1.0);
            i++;
        } else {
            size_t j = i;
            while (j < len && !strchr("\\()[]:", p[j])) j++;
            oom = push_text(&s, p + i, j - i, 1.0);
            i = j;
        }
    }
    for (size_t k = 0; !oom && k < nr; k++) multiply_from(&s, round[k], round_mul);
    for (size_t k = 0; !oom && k < nsq; k++) multiply_from(&s, square[k], square_mul);
    free(round);
    free(square);
    if (!oom && s.n == 0) oom = push_text(&s, "", 0, 1.0);
    /* merge runs of identical weights */
    size_t total = oom ? 0 : s.n, w = 0;
    for (size_t k = 0; k < total; k++) {
        if (!oom && w > 0 && s.v[w - 1].w == s.v[k].w) {
            size_t la = strlen(s.v[w - 1].text), lb = strlen(s.v[k].text);
            char *m = realloc(s.v[w - 1].text, la + lb + 1);
            if (m) {
                memcpy(m + la, s.v[k].text, lb + 1);
                s.v[w - 1].text = m;
                free(s.v[k].text);
                continue;
            }
            oom = 1;
        }
        s.v[w++] = s.v[k];
    }
    if (total) s.n = w;
    if (oom) {
        spans_free(&s);
        return oma_fail(err, errlen, "out of memory");
    }
    oma_prompt_span *o = malloc(s.n * sizeof *o);
    if (!o) {
        spans_free(&s);
        return oma_fail(err, errlen, "out of memory");
    }
    for (size_t k = 0; k < s.n; k++) {
        o[k].text = s.v[k].text;
        o[k].weight = (float)s.v[k].w;
    }
    free(s.v);
    *out = o;
    *n_out = s.n;
    return 0;
}
