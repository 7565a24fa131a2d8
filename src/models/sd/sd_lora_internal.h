/* sd_lora_internal.h — what sd_lora_targets.c, sd_lora_keys.c, sd_embedding.c and sd_lora.c
 * share: the table of layers a LoRA may change, and the parsed content of one file. */
#ifndef OMA_MODELS_SD_LORA_INTERNAL_H
#define OMA_MODELS_SD_LORA_INTERNAL_H

#include "formats/tensor_file.h"
#include "models/sd/sd_lora.h"

/* One layer a LoRA can adapt, under its diffusers name ("unet.down_blocks.0.attentions.0.
 * transformer_blocks.0.attn1.to_q", "text_encoder.text_model.encoder.layers.0.self_attn.q_proj")
 * and kohya's ("lora_unet_down_blocks_0_..._attn1_to_q", "lora_te_text_model_..._q_proj"). */
typedef struct lora_target {
    char name[160];
    char kohya[160];
    oma_linear *lin;        /* exactly one of lin / conv */
    oma_conv2d *conv;
    int text;
} lora_target;

typedef struct lora_targets {
    lora_target *t;
    size_t n, cap;
    /* lora_pti's positional order: UNet attention/GEGLU linears as diffusers >= 0.15 registers
     * them (attn1, attn2, ff), as <= 0.14 did (attn1, ff, attn2), and the CLIP k, v, q, out. */
    int *pti_new, *pti_old, *pti_text;
    size_t n_pti_unet, n_pti_text;
    int unet_layers;        /* layers_per_block: the LDM block numbering depends on it */
} lora_targets;

int lora_targets_build(oma_sd_model *m, lora_targets *out, char *err, size_t errlen);
void lora_targets_free(lora_targets *tt);
int lora_targets_find(const lora_targets *tt, const char *name);        /* by diffusers name */
int lora_targets_find_kohya(const lora_targets *tt, const char *name);
/* A kohya key base in CompVis/LDM names (sd_lora_ldm.c) -> our kohya name; -1 if it is not one. */
int lora_ldm_kohya_name(int layers_per_block, const char *base, char *out, size_t outlen);
int64_t lora_target_in(const lora_target *t);   /* in * k * k for a convolution */
int64_t lora_target_out(const lora_target *t);

/* LyCORIS parts of one layer (sd_lora_lyco.c): LoHa hada_*, LoKr lokr_*. */
enum {
    LY_HW1A, LY_HW1B, LY_HW2A, LY_HW2B, LY_HT1, LY_HT2,
    LY_KW1, LY_KW1A, LY_KW1B, LY_KW2, LY_KW2A, LY_KW2B, LY_KT2, LY_N
};
enum { LORA_LOW_RANK, LORA_LOHA, LORA_LOKR };

/* One layer's change from one file: W += weight * scale * up @ down (low rank), or
 * W += weight * scale * the LoHa / LoKr product of ly[] (kind). */
typedef struct lora_delta {
    int target;
    const oma_tf_tensor *up, *down;
    float scale;            /* alpha / rank, or 1 */
    int kind;
    const oma_tf_tensor *ly[LY_N];
    int64_t ka, kb, kc, kd; /* LoKr: w1 [a, c], w2 [b, d(*k*k)] */
} lora_delta;

/* LyCORIS key suffix ("hada_w1_a", "lokr_w2_b.weight", ...) -> LY_* part, or -1. */
int lora_lyco_part(const char *suffix);
/* Checks a layer's LoHa or LoKr tensors against it and fills d (kind, parts, scale). 0, or -1
 * with err "PATH: tensor 'KEY': why". */
int lora_lyco_check(const char *path, const lora_target *lt, const oma_tf_tensor *const *ly,
                    const oma_tf_tensor *alpha, lora_delta *d, char *err, size_t errlen);
/* The full change (without scale) of a checked LoHa / LoKr delta into out[out * in * k * k].
 * 0, or -1 when out of memory. */
int lora_lyco_delta(const lora_target *lt, const lora_delta *d, float *out);

/* An embedding: name (prompt word or "<s1>") and n vectors of the text width. */
typedef struct lora_embedding {
    char name[128];
    int n;
    const float *data;      /* n * hidden, owned by the file */
} lora_embedding;

/* A parsed LoRA or embedding file (all shapes checked against the model). */
typedef struct lora_parsed {
    oma_tensor_file *file;
    lora_delta *d;
    size_t n_d;
    lora_embedding *e;
    size_t n_e;
} lora_parsed;

/* Reads a LoRA file (any of the formats in sd_lora.h); embeddings inside it are collected
 * too. hidden = the text encoder's width. 0, or -1 with err "PATH: ...". */
int lora_parse_file(const char *path, const lora_targets *tt, int hidden, lora_parsed *out, char *err,
                    size_t errlen);
/* Reads a textual-inversion file (A1111 .pt / .safetensors, diffusers learned_embeds). */
int lora_parse_embedding(const char *path, int hidden, lora_parsed *out, char *err, size_t errlen);
/* From a LoRA file's tensors: is key an embedding entry? Adds it to out (0), 1 when not one, -1 with err. */
int lora_take_embedding(const oma_tensor_file *f, const oma_tf_tensor *t, int hidden, lora_parsed *out,
                        char *err, size_t errlen);
void lora_parsed_free(lora_parsed *p);

#endif
