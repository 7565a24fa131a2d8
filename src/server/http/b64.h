/* b64.h — standard base64 (RFC 4648, with padding) for the A1111-compatible API's images and
 * HTTP Basic credentials. */
#ifndef OMA_SERVER_HTTP_B64_H
#define OMA_SERVER_HTTP_B64_H

#include <stddef.h>
#include <stdint.h>

/* The encoding of data[0..n) as a NUL-terminated malloc'ed string (*out_len without the NUL),
 * or NULL when out of memory. */
char *oma_b64_encode(const uint8_t *data, size_t n, size_t *out_len);
/* Decodes text[0..n): whitespace is skipped, padding is optional at the very end, anything
 * else outside the alphabet is an error. At most max bytes come out. 0 with *out malloc'ed,
 * -1 bad text, -2 over max, -3 out of memory. */
int oma_b64_decode(const char *text, size_t n, size_t max, uint8_t **out, size_t *out_len);

#endif
