/* png_text.h — the text chunks of a PNG (tEXt, zTXt, iTXt), read without decoding pixels:
 * where A1111 and this project keep an image's generation "parameters". */
#ifndef OMA_FORMATS_PNG_TEXT_H
#define OMA_FORMATS_PNG_TEXT_H

#include <stddef.h>
#include <stdint.h>

#define OMA_PNG_TEXT_MAX (1u << 20)   /* one value, after inflating; more is an error */
#define OMA_PNG_TEXT_CHUNKS_MAX 256

/* Calls fn(key, value, arg) for each text chunk in file order, values as UTF-8 (tEXt and zTXt
 * are Latin-1 and are converted; iTXt is UTF-8 already). A non-zero return from fn stops the
 * walk with that value. Returns 0 at IEND, the callback's value, or -1 with err for data that
 * is not a PNG, a chunk over the data's end, a bad length, a value over OMA_PNG_TEXT_MAX or
 * more than OMA_PNG_TEXT_CHUNKS_MAX text chunks. */
int oma_png_text_each(const uint8_t *png, size_t len, int (*fn)(const char *key, const char *value, void *arg),
                      void *arg, char *err, size_t errlen);

#endif
