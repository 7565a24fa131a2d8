/* style_files.h — what a style training run writes: its checkpoint (to resume exactly) and
 * its results (the LoRA file with the embedding inside, and the embedding on its own).
 *
 * Checkpoint (safetensors, "oma-style-checkpoint/1"): the embedding rows, the adapters (stage
 * 2), AdamW's moments and step counts, the run's step and stage, the training RNG, the epoch
 * order and the loss history, plus a fingerprint of the cached latents and the settings so that
 * a checkpoint is never resumed into another run. Written whole to a temporary name and renamed,
 * so a failed write (a full disk) leaves the last good checkpoint in place. Everything read back
 * is checked (names, shapes, counts, finite values).
 *
 * Results: NAME.safetensors in kohya's format (<adapter>.lora_down.weight [r, in],
 * .lora_up.weight [out, r], .alpha = r, F16) plus the embedding as A1111 bundles it
 * (bundle_emb.NAME.string_to_param.* [2, hidden]: the prompt word NAME) and as lora_pti does
 * ("<s1>", "<s2>" [hidden], metadata "<embed>": the words <s1><s2>); NAME.embedding.safetensors
 * holds emb_params [2, hidden] (A1111/ComfyUI embeddings folder). Metadata: base model hash,
 * steps, rank, tokens, resolution.
 */
#ifndef OMA_TRAIN_STYLE_FILES_H
#define OMA_TRAIN_STYLE_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "train/style_trainer.h"
#include "train/train_rng.h"

typedef struct oma_style_run {
    int stage;                      /* 1 TI, 2 LoRA, 3 done */
    int64_t step;                   /* micro-steps done over both stages */
    oma_train_rng rng;
    int *perm;                      /* epoch order of the samples [n_samples] */
    float *loss;                    /* per micro-step [step] (capacity loss_cap) */
    int64_t loss_cap;
    uint64_t fingerprint;           /* latents + settings */
} oma_style_run;

typedef struct oma_style_meta {
    const char *name;
    const char *base_model;         /* path */
    uint64_t base_hash;
    int steps_ti, steps_lora, rank, resolution, n_images;
    uint64_t seed;
} oma_style_meta;

int oma_style_checkpoint_save(const char *path, const oma_style_trainer *tr,
                              const oma_style_run *run, char *err, size_t errlen);
/* Loads into a trainer prepared like the saved one (same samples and settings: the
 * fingerprint must match; for stage 2 the adapters are allocated by this call). */
int oma_style_checkpoint_load(const char *path, oma_style_trainer *tr, oma_style_run *run,
                              int rank, double lr_unet, double lr_text, double lr_emb,
                              double lr_ti, char *err, size_t errlen);

/* Writes dir/NAME.safetensors and dir/NAME.embedding.safetensors. */
int oma_style_export(const char *lora_path, const char *emb_path, const oma_style_trainer *tr,
                     const oma_style_meta *meta, char *err, size_t errlen);

/* FNV-1a 64 over a file's bytes (the base model's fingerprint); 0 when it cannot be read. */
uint64_t oma_file_fnv1a64(const char *path);
/* FNV-1a 64 continued over n bytes. */
uint64_t oma_fnv1a64(uint64_t h, const void *p, size_t n);

#endif
