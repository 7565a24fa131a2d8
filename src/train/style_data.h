/* style_data.h — the style recipe's data: lora_pti's 19 "style" caption templates with the
 * placeholder tokens, and an artist's image made into a training sample.
 *
 * An image becomes a sample the way lora_pti's dataset makes one (dataset.py): resized so that
 * its shorter side is the resolution (aspect kept), color jitter (brightness and contrast,
 * each a factor in [0.9, 1.1], in random order, as torchvision's ColorJitter(0.1, 0.1)),
 * center crop to resolution², a horizontal flip with probability 1/2, then [-1, 1] (Normalize
 * 0.5/0.5), CHW floats. Captions are tokenized around the placeholders: "<s1><s2>" become the
 * ids vocab_size and vocab_size + 1 (added tokens are split off before BPE, as transformers
 * does).
 */
#ifndef OMA_TRAIN_STYLE_DATA_H
#define OMA_TRAIN_STYLE_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "formats/image.h"
#include "models/sd/clip_tokenizer.h"
#include "train/train_rng.h"

#define OMA_STYLE_N_TEMPLATES 19
extern const char *const oma_style_templates[OMA_STYLE_N_TEMPLATES];   /* "... of {}" */

/* ids[77]: BOS, template words, <s1>, <s2>, EOS, padding. 0, or -1 with err. */
int oma_style_caption_ids(const oma_clip_tokenizer *tok, int template_index, int vocab_size,
                          int32_t *ids, char *err, size_t errlen);

/* out: 3 * res * res floats. jitter/flip 0 turn those off (the reference comparison). */
int oma_style_prepare_image(const oma_image *src, int res, int jitter, int flip,
                            oma_train_rng *rng, float *out, char *err, size_t errlen);

#endif
