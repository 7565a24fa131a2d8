/* clip_tokenizer_unicode.h — the few Unicode facts CLIP's tokenizer needs: is a code point a
 * letter (\p{L}), a number (\p{N}) or white space (\s), its simple lowercase, and what ftfy's
 * character-level repairs (curly quotes, ligatures, full width, control characters) make of it. The tables
 * (clip_tokenizer_unicode.c) are generated from Python's `regex` module and str.lower() by
 * tools/make_sd_fixtures.py --unicode-tables, so C splits text exactly as the reference does.
 */
#ifndef OMA_MODELS_CLIP_TOKENIZER_UNICODE_H
#define OMA_MODELS_CLIP_TOKENIZER_UNICODE_H

#include <stddef.h>
#include <stdint.h>

int oma_uni_is_letter(uint32_t cp);
int oma_uni_is_number(uint32_t cp);
int oma_uni_is_space(uint32_t cp);
/* ftfy's per-character repair of cp as UTF-8 ("" = drop it), or NULL when it stays. */
const char *oma_uni_ftfy(uint32_t cp);
/* One-to-one lowercase (U+0130, whose lowercase is two code points, is handled by the caller). */
uint32_t oma_uni_lower(uint32_t cp);

#endif
