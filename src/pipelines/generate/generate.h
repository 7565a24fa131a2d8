/* generate.h — txt2img and img2img with a loaded SD 1.x model, as diffusers runs them.
 *
 * The loop is StableDiffusionPipeline's / StableDiffusionImg2ImgPipeline's: the prompt and the
 * negative prompt become CLIP embeddings (A1111 emphasis weights applied with the mean kept),
 * the UNet runs on [negative, positive] as one batch (classifier-free guidance
 * eps = eps_neg + cfg * (eps_pos - eps_neg)), the sampler steps, the VAE decodes latents / 0.18215.
 * At cfg <= 1 there is no guidance (diffusers' do_classifier_free_guidance = guidance_scale > 1):
 * the UNet runs on the positives only and eps is the conditional prediction (LCM's setting; half
 * the UNet work; the negative prompt is then ignored, as in diffusers).
 * Noise: batch item b uses torch.Generator().manual_seed(seed + b), so each candidate is the
 * image diffusers would make with that seed. txt2img draws the latent noise; img2img draws
 * the VAE posterior sample first and then the noise, and starts at step
 * steps - int(steps * strength). Progress is reported after each step with an optional cheap
 * preview (latents mapped to RGB by a fixed 4x3 matrix, no VAE) every preview_every steps.
 */
#ifndef OMA_PIPELINES_GENERATE_H
#define OMA_PIPELINES_GENERATE_H

#include <stdint.h>

#include "formats/image.h"
#include "models/sd/sd_lora.h"
#include "models/sd/sd_model.h"
#include "pipelines/generate/scheduler.h"

#define OMA_GEN_MAX_BATCH 16
#define OMA_GEN_MAX_SIDE 2048
/* Sizes: any multiple of 8 per side; latents are [B, latent channels, H/f, W/f] with f the VAE's
 * factor 2^(blocks-1), and the scaling factor (0.18215 above) comes from the VAE config (SD 1.x:
 * 4 channels, f 8, 0.18215). */
#define OMA_GEN_MIN_SIDE 64
#define OMA_GEN_MAX_DRAFT 20        /* longest draft interval */
#define OMA_GEN_SIDE_STEP 8         /* any multiple of 8 on each side, as diffusers and A1111 */

/* Latent pixels one UNet pass takes at most (4 images of 512x512): candidates beyond it run in
 * further passes of the same step. */
#define OMA_GEN_PASS_PIXELS (4 * 64 * 64)

/* Where a run's time went (wall seconds), filled when params.times is set: the next lever. */
typedef struct oma_generate_times {
    double text_s;                  /* CLIP: prompt (and negative, with guidance) */
    double encode_s;                /* img2img: the VAE encoder */
    double unet_s;                  /* every UNet pass with its sampler steps */
    int unet_passes, unet_items;    /* passes, and images through the UNet (CFG counts 2) */
    int draft_passes;               /* of those, draft passes on the shallow path only */
    double decode_s;                /* the VAE decoder, all candidates */
} oma_generate_times;

typedef struct oma_generate_params {
    const char *prompt;
    const char *negative;           /* may be NULL = "" */
    int steps;                      /* 1..150 */
    float cfg;                      /* guidance scale, 0..30 */
    oma_sampler_kind sampler;
    uint64_t seed;
    int width, height;              /* multiples of 8 in 64..2048 (and of the VAE factor when it is
                                       above 8); 0 = the model's size: unet sample_size x VAE factor
                                       for txt2img, the init picture's for img2img */
    int batch;                      /* 1..OMA_GEN_MAX_BATCH candidates, seeds seed, seed+1, ... */
    int clip_skip;                  /* 0 = none, 1 = A1111 "clip skip 2" */
    const oma_image *init;          /* img2img when non-NULL (resized to width x height) */
    float strength;                 /* img2img: 0..1 */
    /* img2img, optional: candidate b's own strength (batch values in (0, 1]), else `strength`
     * for all. Candidates run as one batched UNet pass per step (those whose first step has
     * come), each with the images it would get alone: the original service's six candidates
     * are strengths 0.45, 0.45, 0.55, 0.55, 0.65, 0.65 (oma_generate_candidate_strengths). */
    const double *strengths;
    oma_generate_times *times;      /* optional: receives the time per phase */
    int max_pass_images;            /* 0: default (OMA_GEN_PASS_PIXELS); else images per UNet pass */
    int preview_every;              /* 0 = no previews */
    /* DRAFT MODE (opt-in, approximate; off = 0): DeepCache-style reuse of the deep UNet features
     * (oma_unet_forward_draft): the whole UNet runs every `draft` steps (2..OMA_GEN_MAX_DRAFT,
     * counted from the first step, as DeepCache's uniform interval), the steps between run only
     * the shallow path of skip branch draft_branch (DeepCache's cache_branch_id; 0: its SD 1.5
     * example). Images differ from the full run (README "Draft mode" gives the error); the
     * parameters text says "Draft: DeepCache N=..". */
    int draft, draft_branch;
    /* One-shot runs (the CLI): the model will not generate again, so what a run no longer needs
     * goes as soon as it is done with (peak memory; a server keeps everything for its next job):
     * the backend's prepared UNet weights after the last step, and with oma_generate_styled and
     * no style applied, the text encoder once the prompts are encoded (m can then only be freed
     * or decode). */
    int one_shot;
    /* When set: the batch's final latents (batch x latent channels x h/f x w/f floats, candidate
     * order, before the 1/scaling factor) go here and nothing is decoded (out is untouched). */
    float *latents_out;
    /* Styles (oma_generate_styled only; oma_generate ignores them). loras[i].path is a file, or
     * a NAME looked up as models_dir/Lora/NAME.{safetensors,pt,bin}; weights apply to the UNet
     * and the text encoder separately (a trained style: 0.8 / 0.9 txt2img, 0.3 / 0.3 img2img).
     * embeddings[i] is a file or a NAME in models_dir/embeddings. The prompt may also say
     * <lora:NAME:W> or <lora:NAME:TEXT_W:UNET_W> (A1111; taken out of the text) and use any
     * embedding of models_dir/embeddings by its file name.
     * A trained style (kohya NAME.safetensors with its embedding inside):
     *   oma_sd_lora style = {"/data/styles/NAME.safetensors", 0.8f, 0.9f};   (img2img: 0.3, 0.3)
     *   p.loras = &style; p.n_loras = 1; p.prompt = "{prompt}, style of <s1><s2>";
     *   oma_generate_styled(&model, &p, images, err, sizeof err);
     * The model is changed only during that call (serialise calls on a shared model). */
    const oma_sd_lora *loras;
    int n_loras;
    const char *const *embeddings;
    int n_embeddings;
    const char *models_dir;         /* OMA_MODELS, or NULL */
    /* Called after each step; preview may be NULL. Return non-zero to cancel. */
    int (*progress)(void *ctx, int step, int total, const oma_image *preview);
    void *progress_ctx;
} oma_generate_params;

/* Defaults: steps 20, cfg 7.5, Euler a, seed 0, size 0x0 (the model's), batch 1, strength 0.55. */
void oma_generate_defaults(oma_generate_params *p);

/* The precision a generation runs at unless asked otherwise: OMA_PRECISION's when it is set,
 * else bf16 where the CPU backend runs it natively (oma_precision_bf16_native; the quality bar
 * and the numbers: README "Speed on the CPU"), else fp32 (exact parity with diffusers). Read it
 * on a thread with no precision of its own (oma_precision_set_thread). */
const char *oma_generate_precision_default(void);

/* The original service's img2img candidates (its model/background/lora/app/model.py: for i in
 * 0..2, two pipeline calls at strength 0.45 + 0.10 * i, computed in double as Python does):
 * writes OMA_GEN_CANDIDATES strengths. */
#define OMA_GEN_CANDIDATES 6
void oma_generate_candidate_strengths(double out[OMA_GEN_CANDIDATES]);

/* Checks ranges; 0 or -1 with err. */
int oma_generate_check(const oma_generate_params *p, char *err, size_t errlen);

/* Runs; out[0..batch-1] receive RGB images (caller frees with oma_image_free).
 * Returns 0, -1 on failure (err), or 1 when cancelled by the progress callback. */
int oma_generate(const oma_sd_model *m, const oma_generate_params *p, oma_image *out,
                 char *err, size_t errlen);

/* oma_generate with the styles of p applied first (all or nothing: a bad file fails with the
 * model untouched) and taken off after, restoring the exact base weights. Same returns. */
int oma_generate_styled(oma_sd_model *m, const oma_generate_params *p, oma_image *out, char *err,
                        size_t errlen);

/* The prompt without its <lora:...> tags (malloc'ed) and those tags as LoRAs (names in
 * names[i], malloc'ed, weights in loras[i]); at most max. 0, or -1 with err on a bad tag. */
int oma_generate_lora_tags(const char *prompt, char **clean, char **names, oma_sd_lora *loras, int max,
                           int *n, char *err, size_t errlen);

/* The same run from text embeddings already computed: neg and pos [1, 77, hidden] (what
 * oma_generate_embed gives). final_latents, when non-NULL, receives the batch's last latents
 * (batch * latent channels * h/f * w/f floats, f the latent factor, before the 1/scaling factor)
 * for the conformance tests. */
int oma_generate_embeds(const oma_sd_model *m, const oma_generate_params *p, const oma_tensor *neg,
                        const oma_tensor *pos, oma_image *out, float *final_latents, char *err,
                        size_t errlen);

/* oma generate's run, for a process that ends after it: oma_generate_styled, then the UNet is
 * freed (m can no longer generate, only be freed) before the VAE decodes the images, so the
 * decoder's full-size activations never sit on top of the UNet's weights (peak memory). Same
 * images as oma_generate_styled; same returns. */
int oma_generate_one_shot(oma_sd_model *m, const oma_generate_params *p, oma_image *out, char *err,
                          size_t errlen);

/* oma_generate, freeing m's text encoder once the prompts are encoded (oma_generate_styled's
 * one-shot path when no style is applied). Same images and returns as oma_generate. */
int oma_generate_text_once(oma_sd_model *m, const oma_generate_params *p, oma_image *out, char *err,
                           size_t errlen);

/* The A1111-style "parameters" text for a result (prompt, Negative prompt:, Steps:, ...). */
int oma_generate_parameters_text(const oma_generate_params *p, uint64_t seed, char *buf, size_t len);

/* Lower-level pieces, exposed for the conformance tests. */
/* Embeds one prompt (weighted syntax) into [1, 77, hidden] in the arena. */
int oma_generate_embed(const oma_sd_model *m, const char *prompt, int clip_skip, oma_arena *ar,
                       oma_tensor *out, char *err, size_t errlen);
/* The run of oma_generate and oma_generate_text_once, p already checked (oma_generate_check):
 * p's prompt and, with guidance (cfg > 1), its negative prompt (NULL: "") encoded (without
 * guidance the negative is not encoded: the prompt serves as both), text_done freed when not
 * NULL (m's own text encoder, for oma_generate_text_once), then oma_generate_embeds, with the
 * encoding's time in p->times->text_s. */
int oma_generate_prompts(const oma_sd_model *m, const oma_generate_params *p, oma_clip_text *text_done,
                         oma_image *out, char *err, size_t errlen);
/* Latents [B, 4, h, w] (already divided by the scaling factor by the caller) -> RGB images. */
int oma_generate_decode(const oma_sd_model *m, const oma_tensor *latents, oma_arena *ar,
                        oma_image *out, char *err, size_t errlen);

/* The latent factor of m: 2^(len(vae block_out_channels) - 1) (8 for SD 1.x). */
int oma_generate_latent_factor(const oma_sd_model *m);
/* Fills a width / height of 0: txt2img the model's default (unet sample_size x latent factor, as
 * StableDiffusionPipeline), img2img the init picture's size (rounded down to a multiple of 8,
 * kept within 64..2048). Sizes already set are kept. */
void oma_generate_resolve_size(const oma_sd_model *m, oma_generate_params *p);

#endif
