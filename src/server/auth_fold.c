/* auth_fold.c — case folding of e-mail addresses, so ÜNÏ@exämple.com and ünï@exämple.com
 * are one account.
 *
 * The idea: decode UTF-8 and map each upper-case letter of the scripts people write names
 * in (Latin, Latin-1, Latin Extended-A and Additional, Greek, Cyrillic) to its lower-case
 * form, by the ranges and pairs of Unicode's simple case folding; everything else is copied
 * as it is (bytes that are not valid UTF-8 included). The result never grows past outlen.
 */
#include "server/auth.h"

#include <stdint.h>
#include <string.h>

static uint32_t fold_cp(uint32_t c)
{
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c < 0x80) return c;
    if ((c >= 0xC0 && c <= 0xDE && c != 0xD7)) return c + 32;
    if (c >= 0x100 && c <= 0x17F) {
        if (c == 0x130 || c == 0x131 || c == 0x138 || c == 0x149) return c;
        if (c == 0x178) return 0xFF;
        if (c == 0x17F) return 's';
        if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E)) return (c & 1) ? c + 1 : c;
        return (c & 1) ? c : c + 1;
    }
    if (c == 0x386) return 0x3AC;
    if (c >= 0x388 && c <= 0x38A) return c + 37;
    if (c == 0x38C) return 0x3CC;
    if (c == 0x38E || c == 0x38F) return c + 63;
    if (c >= 0x391 && c <= 0x3AB && c != 0x3A2) return c + 32;
    if (c >= 0x400 && c <= 0x40F) return c + 80;
    if (c >= 0x410 && c <= 0x42F) return c + 32;
    if (c >= 0x460 && c <= 0x481) return (c & 1) ? c : c + 1;
    if (c >= 0x48A && c <= 0x4BF) return (c & 1) ? c : c + 1;
    if (c >= 0x1E00 && c <= 0x1EFF && !(c >= 0x1E96 && c <= 0x1E9F)) return (c & 1) ? c : c + 1;
    return c;
}

/* Decodes one UTF-8 sequence at s (n bytes left); 0 if it is not valid. */
static size_t utf8_dec(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len = (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (!len || len > n) return 0;
    uint32_t c = s[0] & (0x7F >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return len;
}

static size_t utf8_enc(uint32_t c, unsigned char *o)
{
    if (c < 0x80) {
        o[0] = (unsigned char)c;
        return 1;
    }
    if (c < 0x800) {
        o[0] = (unsigned char)(0xC0 | (c >> 6));
        o[1] = (unsigned char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (c >> 12));
        o[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (c >> 18));
    o[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (c & 0x3F));
    return 4;
}

void oma_auth_fold_email(const char *in, char *out, size_t outlen)
{
    if (!outlen) return;
    size_t w = 0;
    const unsigned char *s = (const unsigned char *)(in ? in : "");
    size_t n = strlen((const char *)s), i = 0;
    while (i < n) {
        uint32_t cp;
        unsigned char enc[4];
        size_t k = utf8_dec(s + i, n - i, &cp), m;
        if (k == 0) {   /* not UTF-8: the byte as it is */
            enc[0] = s[i];
            k = m = 1;
        } else {
            m = utf8_enc(fold_cp(cp), enc);
        }
        if (w + m + 1 > outlen) break;
        memcpy(out + w, enc, m);
        w += m;
        i += k;
    }
    out[w] = '\0';
}

size_t oma_auth_utf8_chars(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p & 0xC0) != 0x80) n++;
    return n;
}
