/* style_net.h — the trainable part of a style: LoRA adapters on the UNet's and the text
 * encoder's projections, and the embedding rows of the placeholder tokens <s1><s2>.
 *
 * Targets are lora_pti's: every transformer block's attn1/attn2 to_q, to_k, to_v, to_out.0 and
 * ff.net.0.proj in the UNet, and every CLIP layer's q/k/v/out_proj. Each adapter is named as
 * kohya names it (lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q,
 * lora_te_text_model_encoder_layers_0_self_attn_q_proj), the name it is saved under. Attaching
 * sets oma_linear.lora on the model's layers; detaching clears them, leaving the model exactly
 * as loaded.
 */
#ifndef OMA_TRAIN_STYLE_NET_H
#define OMA_TRAIN_STYLE_NET_H

#include <stddef.h>

#include "models/sd/clip_text.h"
#include "models/sd/unet.h"
#include "nn/lora.h"

#define OMA_STYLE_NAME_MAX 112
#define OMA_STYLE_TOKENS 2

typedef struct oma_style_adapter {
    char name[OMA_STYLE_NAME_MAX];  /* kohya name, without ".lora_down.weight" */
    int text;                       /* 1: text encoder, 0: UNet */
    oma_linear *target;
    oma_lora lora;
} oma_style_adapter;

typedef struct oma_style_net {
    int n, n_unet;                  /* adapters; the UNet's come first */
    oma_style_adapter *a;
    int attached;
} oma_style_net;

/* The adapters' names and targets, no memory for weights yet (rank 0): enough to count them. */
int oma_style_net_plan(oma_style_net *net, oma_unet *u, oma_clip_text *text, char *err,
                       size_t errlen);
/* Allocates every adapter (down ~ N(0, 1/rank^2) from randn in plan order, up 0). */
int oma_style_net_alloc(oma_style_net *net, int rank, oma_randn_fn randn, void *rng, char *err,
                        size_t errlen);
void oma_style_net_attach(oma_style_net *net);
void oma_style_net_detach(oma_style_net *net);
void oma_style_net_zero_grad(oma_style_net *net);
void oma_style_net_free(oma_style_net *net);
/* By name; NULL when absent. */
oma_style_adapter *oma_style_net_find(oma_style_net *net, const char *name);

#endif
