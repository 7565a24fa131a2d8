/* fuzz_sdapi_text.c — libFuzzer target: what the AUTOMATIC1111-compatible API reads from a
 * stranger besides JSON: a PNG's text chunks (tEXt, zTXt, iTXt; png-info and the results'
 * infotexts), the "parameters" text itself (the C port of A1111's parse_generation_parameters)
 * and base64 (images, HTTP Basic). The first byte picks the reader; the rest is its input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/png_text.h"
#include "server/api/sdapi.h"
#include "server/http/b64.h"

static int on_text(const char *key, const char *value, void *arg)
{
    size_t *n = arg;
    *n += strlen(key) + strlen(value);
    json_t *p = sdapi_parse_infotext(value);   /* what png-info does with "parameters" */
    json_decref(p);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t mode = data[0] % 3;
    data++;
    size--;
    if (mode == 0) {
        size_t n = 0;
        char err[256];
        (void)oma_png_text_each(data, size, on_text, &n, err, sizeof err);
    } else if (mode == 1) {
        char *s = malloc(size + 1);
        if (!s) return 0;
        memcpy(s, data, size);
        s[size] = '\0';
        json_t *p = sdapi_parse_infotext(s);
        json_decref(p);
        free(s);
    } else {
        uint8_t *out = NULL;
        size_t len = 0;
        if (oma_b64_decode((const char *)data, size, 4096, &out, &len) == 0) {
            char *again = oma_b64_encode(out, len, NULL);
            free(again);
        }
        free(out);
    }
    return 0;
}
