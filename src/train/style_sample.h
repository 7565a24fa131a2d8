/* style_sample.h — a preview image of a style while it trains: the caption
 * "a painting in the style of <s1><s2>" drawn with the rows and adapters as they are, by a short
 * DDIM run (eta 0, classifier-free guidance 7.5, "leading" timesteps with offset 1 as SD 1.x
 * ships them) from a fixed seed, so successive previews differ only by what was learned.
 *
 * It lives in train/ on models/ alone (the txt2img pipeline is a floor above): a few dozen
 * lines of DDIM rather than a callback from the pipelines, so the training engine stays usable
 * on its own (CLI, job, tests) and a preview needs nothing from the caller.
 */
#ifndef OMA_TRAIN_STYLE_SAMPLE_H
#define OMA_TRAIN_STYLE_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "train/style_trainer.h"

/* rgb: size*size*3 bytes. size a multiple of 64. 0, or -1 with err. */
int oma_style_sample_image(oma_style_trainer *tr, int size, int steps, uint64_t seed,
                           uint8_t *rgb, char *err, size_t errlen);

#endif
