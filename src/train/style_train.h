/* style_train.h — learn an artist's style from their images: the original service's recipe
 * (cloneofsimo's lora_pti, see ../shared/research/style-training.md) in C.
 *
 * Stage 1 learns two placeholder token embeddings <s1><s2> (textual inversion); stage 2 adds
 * rank-r LoRA adapters to the UNet's attention/GEGLU projections and the text encoder's
 * attention, and keeps tuning the embeddings. The result is one kohya-format LoRA file with the
 * embedding inside (NAME.safetensors) plus a separate embedding file (NAME.embedding.safetensors),
 * which A1111, ComfyUI, diffusers and `oma generate` load.
 *
 * Long work: progress goes to a callback (which may cancel), sample images every sample_every
 * steps, and a checkpoint every checkpoint_every steps to checkpoint_path (written whole to a
 * temporary name, then renamed); a run started with an existing checkpoint resumes from it
 * (same step, optimizer state, RNG, loss history).
 */
#ifndef OMA_TRAIN_STYLE_TRAIN_H
#define OMA_TRAIN_STYLE_TRAIN_H

#include <stddef.h>
#include <stdint.h>

typedef struct oma_style_train_opts {
    const char *model_path;         /* SD 1.x model: diffusers folder or single .safetensors */
    const char *config_path;        /* single file: its LDM .yaml (or a diffusers config folder);
                                       NULL = NAME.yaml beside the file when there is one */
    const char *name;               /* style name: NAME.safetensors in out_dir */
    const char *const *images;      /* image files (PNG/JPEG/WebP) */
    int n_images;
    const char *out_dir;
    int resolution;                 /* 512 */
    int steps_ti, steps_lora;       /* 500, 500 (micro-batches) */
    int rank;                       /* 16 */
    float lr_ti, lr_lora_unet, lr_lora_text;   /* 5e-4, 1e-4, 1e-5 (before x grad_accum) */
    int grad_accum;                 /* 4 */
    uint64_t seed;                  /* 42 */
    int checkpoint_every;           /* steps between checkpoints; 0 = none */
    const char *checkpoint_path;    /* resume from it when it exists; NULL = none */
    int sample_every;               /* steps between sample images; 0 = none */
} oma_style_train_opts;

/* The recipe's defaults (an artist never needs to change them). */
void oma_style_train_defaults(oma_style_train_opts *o);

typedef struct oma_style_train_progress {
    const char *stage;              /* "prepare", "ti", "lora", "save" */
    int step, steps;                /* within the stage */
    int total_step, total_steps;    /* over both stages */
    float loss;                     /* this step's loss (NaN before the first) */
    double eta_s;                   /* estimated seconds left, < 0 when unknown */
} oma_style_train_progress;

typedef struct oma_style_train_hooks {
    void *ctx;
    /* Returns non-zero to cancel (the run stops at the next step, after a checkpoint). */
    int (*progress)(void *ctx, const oma_style_train_progress *p);
    /* A sample image (RGB8, w x h) drawn with the style so far. */
    void (*sample)(void *ctx, const char *stage, int step, const uint8_t *rgb, int w, int h);
    /* A checkpoint was written to checkpoint_path (e.g. to copy it into storage). */
    void (*checkpoint)(void *ctx, const char *path, int total_step);
} oma_style_train_hooks;

/* 0 on success (outputs written), 1 when cancelled, -1 with err on failure. hooks may be NULL.
 * out_lora / out_embedding (may be NULL) receive the written paths. */
int oma_style_train(const oma_style_train_opts *o, const oma_style_train_hooks *hooks,
                    char *out_lora, size_t out_lora_len, char *out_embedding,
                    size_t out_embedding_len, char *err, size_t errlen);

#endif
