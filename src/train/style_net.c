/* style_net.c — LoRA adapters on lora_pti's targets, kohya-named (style_net.h). */
#include "train/style_net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int push(oma_style_net *net, int *cap, const char *name, int text, oma_linear *l)
{
    if (net->n == *cap) {
        int nc = *cap ? *cap * 2 : 64;
        oma_style_adapter *na = realloc(net->a, (size_t)nc * sizeof *na);
        if (!na)
            return -1;
        net->a = na;
        *cap = nc;
    }
    oma_style_adapter *a = &net->a[net->n++];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    a->text = text;
    a->target = l;
    return 0;
}

static int push_transformer2d(oma_style_net *net, int *cap, const char *prefix,
                              oma_transformer2d *t)
{
    static const char *attn_names[] = {"attn1", "attn2"};
    for (int b = 0; b < t->n_blocks; b++) {
        oma_transformer *tb = &t->blocks[b];
        oma_attention *attn[2] = {&tb->attn1, &tb->attn2};
        for (int a = 0; a < 2; a++) {
            oma_linear *ls[4] = {&attn[a]->to_q, &attn[a]->to_k, &attn[a]->to_v, &attn[a]->to_out};
            static const char *ln[4] = {"to_q", "to_k", "to_v", "to_out_0"};
            for (int i = 0; i < 4; i++) {
                char name[OMA_STYLE_NAME_MAX];
                snprintf(name, sizeof name, "%s_transformer_blocks_%d_%s_%s", prefix, b,
                         attn_names[a], ln[i]);
                if (push(net, cap, name, 0, ls[i]) != 0)
                    return -1;
            }
        }
        char name[OMA_STYLE_NAME_MAX];
        snprintf(name, sizeof name, "%s_transformer_blocks_%d_ff_net_0_proj", prefix, b);
        if (push(net, cap, name, 0, &tb->ff.proj) != 0)
            return -1;
    }
    return 0;
}

int oma_style_net_plan(oma_style_net *net, oma_unet *u, oma_clip_text *text, char *err,
                       size_t errlen)
{
    memset(net, 0, sizeof *net);
    int cap = 0;
    char prefix[OMA_STYLE_NAME_MAX];
    for (int i = 0; i < u->cfg.n_blocks; i++)
        for (int j = 0; u->down[i].has_attn && j < u->down[i].n_res; j++) {
            snprintf(prefix, sizeof prefix, "lora_unet_down_blocks_%d_attentions_%d", i, j);
            if (push_transformer2d(net, &cap, prefix, &u->down[i].attn[j]) != 0)
                goto oom;
        }
    if (push_transformer2d(net, &cap, "lora_unet_mid_block_attentions_0", &u->mid_attn) != 0)
        goto oom;
    for (int i = 0; i < u->cfg.n_blocks; i++)
        for (int j = 0; u->up[i].has_attn && j < u->up[i].n_res; j++) {
            snprintf(prefix, sizeof prefix, "lora_unet_up_blocks_%d_attentions_%d", i, j);
            if (push_transformer2d(net, &cap, prefix, &u->up[i].attn[j]) != 0)
                goto oom;
        }
    net->n_unet = net->n;
    for (int i = 0; i < text->p.num_layers; i++) {
        oma_clip_layer *l = &text->layers[i];
        oma_linear *ls[4] = {&l->q, &l->k, &l->v, &l->out};
        static const char *ln[4] = {"q_proj", "k_proj", "v_proj", "out_proj"};
        for (int k = 0; k < 4; k++) {
            snprintf(prefix, sizeof prefix, "lora_te_text_model_encoder_layers_%d_self_attn_%s", i,
                     ln[k]);
            if (push(net, &cap, prefix, 1, ls[k]) != 0)
                goto oom;
        }
    }
    return 0;
oom:
    snprintf(err, errlen, "train: out of memory");
    oma_style_net_free(net);
    return -1;
}

int oma_style_net_alloc(oma_style_net *net, int rank, oma_randn_fn randn, void *rng, char *err,
                        size_t errlen)
{
    for (int i = 0; i < net->n; i++) {
        oma_style_adapter *a = &net->a[i];
        if (oma_lora_init(&a->lora, a->target->in, a->target->out, rank, 1.0f, randn, rng) != 0) {
            snprintf(err, errlen, "train: cannot make the LoRA adapter %s (rank %d)", a->name, rank);
            for (int j = 0; j < i; j++)
                oma_lora_free(&net->a[j].lora);
            return -1;
        }
    }
    return 0;
}

void oma_style_net_attach(oma_style_net *net)
{
    for (int i = 0; i < net->n; i++)
        net->a[i].target->lora = &net->a[i].lora;
    net->attached = 1;
}

void oma_style_net_detach(oma_style_net *net)
{
    for (int i = 0; i < net->n; i++)
        if (net->a[i].target)
            net->a[i].target->lora = NULL;
    net->attached = 0;
}

void oma_style_net_zero_grad(oma_style_net *net)
{
    for (int i = 0; i < net->n; i++)
        if (net->a[i].lora.rank > 0)
            oma_lora_zero_grad(&net->a[i].lora);
}

void oma_style_net_free(oma_style_net *net)
{
    if (net->attached)
        oma_style_net_detach(net);
    for (int i = 0; i < net->n; i++)
        if (net->a[i].lora.rank > 0)
            oma_lora_free(&net->a[i].lora);
    free(net->a);
    memset(net, 0, sizeof *net);
}

oma_style_adapter *oma_style_net_find(oma_style_net *net, const char *name)
{
    for (int i = 0; i < net->n; i++)
        if (strcmp(net->a[i].name, name) == 0)
            return &net->a[i];
    return NULL;
}
