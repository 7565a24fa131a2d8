/* blocks_internal.h — the pieces of ResnetBlock2D's forward that its backward's recompute
 * (backward_blocks.c) runs too, so the two cannot drift (not for use outside nn). */
#ifndef OMA_NN_BLOCKS_INTERNAL_H
#define OMA_NN_BLOCKS_INTERNAL_H

#include "nn/blocks.h"

/* h [B, out, H, W] += time_emb_proj(silu temb)[b, c] over each (b, c) plane; nothing without a
 * time embedding (r->temb == 0). Temporaries in ar are released. 0, or -1. */
int oma_resnet_add_temb(const oma_resnet *r, const oma_tensor *temb, oma_arena *ar, oma_tensor *h);

/* The tail: y (caller-allocated [B, out, H, W]) = shortcut(x) + conv2(silu(norm2 h1)), the
 * shortcut the identity without its conv. Temporaries in ar are released. 0, or -1. */
int oma_resnet_tail(const oma_resnet *r, const oma_tensor *x, const oma_tensor *h1, oma_arena *ar,
                    oma_tensor *y);

#endif
