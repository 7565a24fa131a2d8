/* sdapi_infotext.c — A1111's parse_generation_parameters (modules/infotext_utils.py, v1.10) in C,
 * for /sdapi/v1/png-info's "parameters".
 *
 * The idea: follow A1111's steps exactly. The text is stripped and split in lines; the last line
 * holds the settings when A1111's pattern
 *     \s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)
 * finds it at least 3 times, else it belongs to the prompt. Lines before "Negative prompt:" are
 * the prompt, the rest the negative prompt. Each match is a key and its value; a quoted value
 * is JSON-unquoted, "WxH" becomes key-1 and key-2, an empty value is dropped (A1111 fails on
 * v[0] and skips it), and A1111's defaults for missing keys are added. The pattern is matched by
 * hand as Python's re.findall would (a failed match moves on by one character); \w is ASCII
 * letters, digits, '_' and every non-ASCII byte (Python's \w is Unicode word characters: a key
 * of non-ASCII punctuation would differ). A1111's option-dependent steps (styles, skipped
 * fields, version back-compat) are left out.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "server/api/sdapi.h"

static int is_w(unsigned char c) { return isalnum(c) || c == '_' || c >= 0x80; }
static int is_key(unsigned char c) { return is_w(c) || c == ' ' || c == '-' || c == '/'; }
static int is_s(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* One match of the pattern at s[pos]; 1 with the spans and *end, 0 when it does not match. */
static int match_at(const char *s, size_t n, size_t pos, size_t *k0, size_t *k1, size_t *v0, size_t *v1, size_t *end)
{
    size_t i = pos;
    while (i < n && is_s((unsigned char)s[i])) i++;
    if (i >= n || !is_w((unsigned char)s[i])) return 0;
    size_t ks = i++;
    while (i < n && is_key((unsigned char)s[i])) i++;
    if (i - ks < 2 || i >= n || s[i] != ':') return 0;
    *k0 = ks;
    *k1 = i;
    i++;
    while (i < n && is_s((unsigned char)s[i])) i++;
    /* a quoted value, when a closing quote is followed by ',' or the end */
    if (i < n && s[i] == '"') {
        size_t j = i + 1, items = 0;
        while (j < n) {
            if (s[j] == '\\' && j + 1 < n && s[j + 1] != '\n') {
                j += 2;
                items++;
            } else if (s[j] != '\\' && s[j] != '"') {
                j++;
                items++;
            } else {
                break;
            }
        }
        if (items > 0 && j < n && s[j] == '"' && (j + 1 == n || s[j + 1] == ',' || (j + 2 == n && s[j + 1] == '\n'))) {
            *v0 = i;
            *v1 = j + 1;
            *end = j + 1 < n && s[j + 1] == ',' ? j + 2 : j + 1;
            return 1;
        }
    }
    size_t j = i;
    while (j < n && s[j] != ',') j++;
    *v0 = i;
    *v1 = j;
    *end = j < n ? j + 1 : j;
    return 1;
}

typedef int (*match_fn)(const char *s, size_t k0, size_t k1, size_t v0, size_t v1, void *arg);

/* re.findall over s: calls fn for each match (fn may be NULL); returns the number of matches. */
static int findall(const char *s, match_fn fn, void *arg)
{
    size_t n = strlen(s), pos = 0;
    int count = 0;
    while (pos <= n) {
        size_t k0, k1, v0, v1, end;
        if (match_at(s, n, pos, &k0, &k1, &v0, &v1, &end)) {
            count++;
            if (fn && fn(s, k0, k1, v0, v1, arg) != 0) return -1;
            pos = end > pos ? end : pos + 1;
        } else {
            pos++;
        }
    }
    return count;
}

static int set_str(json_t *o, const char *key, const char *v, size_t n)
{
    return json_object_set_new(o, key, json_stringn(v, n));
}

static int on_match(const char *s, size_t k0, size_t k1, size_t v0, size_t v1, void *arg)
{
    json_t *res = arg;
    if (v1 == v0) return 0;   /* A1111: v[0] raises, the key is skipped */
    char key[256];
    size_t kl = k1 - k0 < sizeof key - 3 ? k1 - k0 : sizeof key - 3;
    memcpy(key, s + k0, kl);
    key[kl] = '\0';
    const char *v = s + v0;
    size_t vl = v1 - v0;
    json_t *unq = NULL;
    if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
        unq = json_loadb(v, vl, JSON_DECODE_ANY, NULL);
        if (json_is_string(unq)) {
            v = json_string_value(unq);
            vl = json_string_length(unq);
        }
    }
    /* ^(\d+)x(\d+)$ */
    size_t a = 0;
    while (a < vl && isdigit((unsigned char)v[a])) a++;
    size_t b = a + 1;
    while (b < vl && isdigit((unsigned char)v[b])) b++;
    int rc;
    if (a > 0 && a < vl && v[a] == 'x' && b == vl && b > a + 1) {
        char k1s[260], k2s[260];
        snprintf(k1s, sizeof k1s, "%s-1", key);
        snprintf(k2s, sizeof k2s, "%s-2", key);
        rc = set_str(res, k1s, v, a) | set_str(res, k2s, v + a + 1, vl - a - 1);
    } else {
        rc = set_str(res, key, v, vl);
    }
    json_decref(unq);
    return rc ? -1 : 0;
}

/* Python's str.strip(): whitespace off both ends, as a span. */
static void strip(const char **s, size_t *n)
{
    while (*n && is_s((unsigned char)(*s)[0])) {
        (*s)++;
        (*n)--;
    }
    while (*n && is_s((unsigned char)(*s)[*n - 1])) (*n)--;
}

static int append_line(char **acc, size_t *len, const char *line, size_t n)
{
    char *p = realloc(*acc, *len + n + 2);
    if (!p) return -1;
    *acc = p;
    if (*len) p[(*len)++] = '\n';
    memcpy(p + *len, line, n);
    *len += n;
    p[*len] = '\0';
    return 0;
}

json_t *sdapi_parse_infotext(const char *text)
{
    json_t *res = json_object();
    if (!res) return NULL;
    const char *t = text ? text : "";
    size_t tn = strlen(t);
    strip(&t, &tn);
    /* *lines, lastline = x.strip().split("\n") */
    const char *last = t;
    for (size_t i = 0; i < tn; i++)
        if (t[i] == '\n') last = t + i + 1;
    size_t body = (size_t)(last - t), lastn = tn - body;
    char *lastline = malloc(lastn + 1);
    char *prompt = NULL, *neg = NULL;
    size_t pl = 0, nl = 0;
    int ok = lastline != NULL;
    if (ok) {
        memcpy(lastline, last, lastn);
        lastline[lastn] = '\0';
        if (findall(lastline, NULL, NULL) < 3) {
            body = tn;   /* the last line is prompt text too */
            lastline[0] = '\0';
        }
    }
    int done_with_prompt = 0;
    for (size_t i = 0; ok && i < body;) {
        size_t j = i;
        while (j < tn && t[j] != '\n') j++;
        const char *line = t + i;
        size_t ln = (j < body ? j : body) - i;
        strip(&line, &ln);
        if (ln >= 16 && strncmp(line, "Negative prompt:", 16) == 0) {
            done_with_prompt = 1;
            line += 16;
            ln -= 16;
            strip(&line, &ln);
        }
        ok = append_line(done_with_prompt ? &neg : &prompt, done_with_prompt ? &nl : &pl, line, ln) == 0;
        i = j + 1;
    }
    if (ok) ok = set_str(res, "Prompt", prompt ? prompt : "", pl) == 0 && set_str(res, "Negative prompt", neg ? neg : "", nl) == 0;
    if (ok) ok = findall(lastline, on_match, res) >= 0;
    free(lastline);
    free(prompt);
    free(neg);
    if (!ok) {
        json_decref(res);
        return NULL;
    }
    /* A1111's defaults for what the text leaves out */
    static const char *const defaults[][2] = {
        {"Clip skip", "1"}, {"Hires sampler", "Use same sampler"}, {"Hires checkpoint", "Use same checkpoint"},
        {"Hires prompt", ""}, {"Hires negative prompt", ""}, {"Mask mode", "Inpaint masked"},
        {"Masked content", "original"}, {"Inpaint area", "Whole picture"}, {"RNG", "GPU"},
        {"Schedule type", "Automatic"}, {"VAE Encoder", "Full"}, {"VAE Decoder", "Full"}, {"FP8 weight", "Disable"},
    };
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
        if (!json_object_get(res, defaults[i][0])) json_object_set_new(res, defaults[i][0], json_string(defaults[i][1]));
    static const char *const zeros[] = {"Hires resize-1", "Hires resize-2", "Schedule max sigma", "Schedule min sigma",
                                        "Schedule rho"};
    for (size_t i = 0; i < sizeof zeros / sizeof zeros[0]; i++)
        if (!json_object_get(res, zeros[i])) json_object_set_new(res, zeros[i], json_integer(0));
    if (!json_object_get(res, "Masked area padding")) json_object_set_new(res, "Masked area padding", json_integer(32));
    return res;
}
