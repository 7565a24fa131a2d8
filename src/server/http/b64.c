/* b64.c — base64 both ways (see b64.h). The decoder is strict about its alphabet so that a
 * garbled image is a clear 4xx rather than a confusing decode error further on. */
#include "server/http/b64.h"

#include <stdlib.h>

static const char ALPHA[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *oma_b64_encode(const uint8_t *d, size_t n, size_t *out_len)
{
    if (n > (SIZE_MAX - 1) / 4 * 3 - 3) return NULL;
    size_t len = (n + 2) / 3 * 4;
    char *o = malloc(len + 1);
    if (!o) return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16;
        if (i + 1 < n) v |= (uint32_t)d[i + 1] << 8;
        if (i + 2 < n) v |= d[i + 2];
        o[j++] = ALPHA[(v >> 18) & 63];
        o[j++] = ALPHA[(v >> 12) & 63];
        o[j++] = i + 1 < n ? ALPHA[(v >> 6) & 63] : '=';
        o[j++] = i + 2 < n ? ALPHA[v & 63] : '=';
    }
    o[j] = '\0';
    if (out_len) *out_len = j;
    return o;
}

static int value_of(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int oma_b64_decode(const char *t, size_t n, size_t max, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    size_t cap = n / 4 * 3 + 3;
    if (cap > max + 3) cap = max + 3;
    uint8_t *o = malloc(cap ? cap : 1);
    if (!o) return -3;
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = value_of(c);
        if (v < 0 || pad) {   /* a stranger, or data after the padding */
            free(o);
            return -1;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (len >= max) {
                free(o);
                return -2;
            }
            o[len++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (pad > 2 || bits >= 6) {   /* a lone sextet cannot end a quantum */
        free(o);
        return -1;
    }
    *out = o;
    *out_len = len;
    return 0;
}
