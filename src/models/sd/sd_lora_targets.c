/* sd_lora_targets.c — the table of every linear and convolution of the UNet and the text encoder
 * a LoRA may change, under diffusers' and kohya's names, plus lora_pti's positional orders.
 *
 * The idea: walk the loaded model the way unet.c / clip_text.c built it, naming each layer as
 * diffusers does; kohya's name is the same path with '.' -> '_' and a lora_unet_/lora_te_ prefix.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/fail.h"
#include "models/sd/sd_lora_internal.h"

static int add(lora_targets *tt, oma_linear *lin, oma_conv2d *conv, int text, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int add(lora_targets *tt, oma_linear *lin, oma_conv2d *conv, int text, const char *fmt, ...)
{
    if (tt->n == tt->cap) {
        size_t nc = tt->cap ? tt->cap * 2 : 256;
        lora_target *nt = realloc(tt->t, nc * sizeof *nt);
        if (!nt) return -1;
        tt->t = nt;
        tt->cap = nc;
    }
    lora_target *t = &tt->t[tt->n];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    if (len < 0 || len >= (int)sizeof t->name) return -1;
    const char *rest = strchr(t->name, '.') + 1;
    snprintf(t->kohya, sizeof t->kohya, "%s%s", text ? "lora_te_" : "lora_unet_", rest);
    for (char *c = t->kohya; *c; c++)
        if (*c == '.') *c = '_';
    t->lin = lin;
    t->conv = conv;
    t->text = text;
    tt->n++;
    return 0;
}

static int add_resnet(lora_targets *tt, oma_resnet *r, const char *p)
{
    if (add(tt, NULL, &r->conv1, 0, "%s.conv1", p) || add(tt, NULL, &r->conv2, 0, "%s.conv2", p)) return -1;
    if (r->temb > 0 && add(tt, &r->time_emb_proj, NULL, 0, "%s.time_emb_proj", p)) return -1;
    if (r->has_shortcut && add(tt, NULL, &r->shortcut, 0, "%s.conv_shortcut", p)) return -1;
    return 0;
}

static int add_attn(lora_targets *tt, oma_attention *a, const char *p)
{
    return add(tt, &a->to_q, NULL, 0, "%s.to_q", p) || add(tt, &a->to_k, NULL, 0, "%s.to_k", p) ||
           add(tt, &a->to_v, NULL, 0, "%s.to_v", p) || add(tt, &a->to_out, NULL, 0, "%s.to_out.0", p);
}

static int add_t2d(lora_targets *tt, oma_transformer2d *t, const char *p)
{
    if (t->linear_proj ? add(tt, &t->proj_in_lin, NULL, 0, "%s.proj_in", p)
                       : add(tt, NULL, &t->proj_in_conv, 0, "%s.proj_in", p))
        return -1;
    for (int b = 0; b < t->n_blocks; b++) {
        char q[160];
        snprintf(q, sizeof q, "%s.transformer_blocks.%d", p, b);
        char a1[176], a2[176];
        snprintf(a1, sizeof a1, "%s.attn1", q);
        snprintf(a2, sizeof a2, "%s.attn2", q);
        if (add_attn(tt, &t->blocks[b].attn1, a1) || add_attn(tt, &t->blocks[b].attn2, a2) ||
            add(tt, &t->blocks[b].ff.proj, NULL, 0, "%s.ff.net.0.proj", q) ||
            add(tt, &t->blocks[b].ff.out, NULL, 0, "%s.ff.net.2", q))
            return -1;
    }
    return t->linear_proj ? add(tt, &t->proj_out_lin, NULL, 0, "%s.proj_out", p)
                          : add(tt, NULL, &t->proj_out_conv, 0, "%s.proj_out", p);
}

/* Indices of one transformer block's attention/GEGLU linears in lora_pti order. */
static int pti_block(lora_targets *tt, const char *q, int old)
{
    static const char *const attn[] = {"to_q", "to_k", "to_v", "to_out.0"};
    const char *order_new[] = {"attn1", "attn2", "ff"}, *order_old[] = {"attn1", "ff", "attn2"};
    const char *const *order = old ? order_old : order_new;
    int *dst = old ? tt->pti_old : tt->pti_new;
    size_t n = tt->n_pti_unet;
    for (int s = 0; s < 3; s++) {
        char name[200];
        int cnt = strcmp(order[s], "ff") ? 4 : 1;
        for (int k = 0; k < cnt; k++) {
            if (cnt == 4) snprintf(name, sizeof name, "%s.%s.%s", q, order[s], attn[k]);
            else snprintf(name, sizeof name, "%s.ff.net.0.proj", q);
            int i = lora_targets_find(tt, name);
            if (i < 0) return -1;
            dst[n++] = i;
        }
    }
    return 0;
}

static int pti_t2d(lora_targets *tt, const char *p, const oma_transformer2d *t)
{
    for (int b = 0; b < t->n_blocks; b++) {
        char q[160];
        snprintf(q, sizeof q, "%s.transformer_blocks.%d", p, b);
        if (pti_block(tt, q, 0) || pti_block(tt, q, 1)) return -1;
        tt->n_pti_unet += 9;
    }
    return 0;
}

int lora_targets_build(oma_sd_model *m, lora_targets *tt, char *err, size_t errlen)
{
    memset(tt, 0, sizeof *tt);
    oma_unet *u = &m->unet;
    int nb = u->cfg.n_blocks, rc = 0;
    tt->unet_layers = m->cfg.unet.layers_per_block;
    char p[128];
    rc |= add(tt, &u->time_emb.linear_1, NULL, 0, "unet.time_embedding.linear_1");
    rc |= add(tt, &u->time_emb.linear_2, NULL, 0, "unet.time_embedding.linear_2");
    rc |= add(tt, NULL, &u->conv_in, 0, "unet.conv_in");
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < nb && !rc; i++) {
            oma_unet_block *b = pass ? &u->up[i] : &u->down[i];
            const char *kind = pass ? "up_blocks" : "down_blocks";
            for (int j = 0; j < b->n_res && !rc; j++) {
                snprintf(p, sizeof p, "unet.%s.%d.resnets.%d", kind, i, j);
                rc |= add_resnet(tt, &b->res[j], p);
                if (b->has_attn) {
                    snprintf(p, sizeof p, "unet.%s.%d.attentions.%d", kind, i, j);
                    rc |= add_t2d(tt, &b->attn[j], p);
                }
            }
            if (b->has_sampler && !rc) {
                if (pass) rc |= add(tt, NULL, &b->up.conv, 0, "unet.up_blocks.%d.upsamplers.0.conv", i);
                else rc |= add(tt, NULL, &b->down.conv, 0, "unet.down_blocks.%d.downsamplers.0.conv", i);
            }
        }
    if (!rc) rc |= add_resnet(tt, &u->mid_res0, "unet.mid_block.resnets.0");
    if (!rc) rc |= add_t2d(tt, &u->mid_attn, "unet.mid_block.attentions.0");
    if (!rc) rc |= add_resnet(tt, &u->mid_res1, "unet.mid_block.resnets.1");
    if (!rc) rc |= add(tt, NULL, &u->conv_out, 0, "unet.conv_out");
    const char *tp = "text_encoder.text_model.encoder.layers";
    for (int l = 0; l < m->text.n_loaded && !rc; l++) {
        oma_clip_layer *c = &m->text.layers[l];
        rc |= add(tt, &c->k, NULL, 1, "%s.%d.self_attn.k_proj", tp, l);
        rc |= add(tt, &c->v, NULL, 1, "%s.%d.self_attn.v_proj", tp, l);
        rc |= add(tt, &c->q, NULL, 1, "%s.%d.self_attn.q_proj", tp, l);
        rc |= add(tt, &c->out, NULL, 1, "%s.%d.self_attn.out_proj", tp, l);
        rc |= add(tt, &c->fc1, NULL, 1, "%s.%d.mlp.fc1", tp, l);
        rc |= add(tt, &c->fc2, NULL, 1, "%s.%d.mlp.fc2", tp, l);
    }
    if (rc) {
        lora_targets_free(tt);
        return oma_fail(err, errlen, "out of memory");
    }
    /* lora_pti order: down blocks, up blocks, then the mid block (modules() registration order) */
    tt->pti_new = malloc(tt->n * sizeof(int));
    tt->pti_old = malloc(tt->n * sizeof(int));
    tt->pti_text = malloc(tt->n * sizeof(int));
    if (!tt->pti_new || !tt->pti_old || !tt->pti_text) rc = -1;
    for (int pass = 0; pass < 2 && !rc; pass++)
        for (int i = 0; i < nb && !rc; i++) {
            oma_unet_block *b = pass ? &u->up[i] : &u->down[i];
            for (int j = 0; b->has_attn && j < b->n_res && !rc; j++) {
                snprintf(p, sizeof p, "unet.%s.%d.attentions.%d", pass ? "up_blocks" : "down_blocks", i, j);
                rc = pti_t2d(tt, p, &b->attn[j]);
            }
        }
    if (!rc) rc = pti_t2d(tt, "unet.mid_block.attentions.0", &u->mid_attn);
    for (size_t i = 0; i < tt->n && !rc; i++) {
        const char *n = tt->t[i].name;
        if (tt->t[i].text && strstr(n, ".self_attn.")) tt->pti_text[tt->n_pti_text++] = (int)i;
    }
    if (rc) {
        lora_targets_free(tt);
        return oma_fail(err, errlen, "out of memory");
    }
    return 0;
}

void lora_targets_free(lora_targets *tt)
{
    free(tt->t);
    free(tt->pti_new);
    free(tt->pti_old);
    free(tt->pti_text);
    memset(tt, 0, sizeof *tt);
}

int lora_targets_find(const lora_targets *tt, const char *name)
{
    for (size_t i = 0; i < tt->n; i++)
        if (!strcmp(tt->t[i].name, name)) return (int)i;
    return -1;
}

int lora_targets_find_kohya(const lora_targets *tt, const char *name)
{
    for (size_t i = 0; i < tt->n; i++)
        if (!strcmp(tt->t[i].kohya, name)) return (int)i;
    return -1;
}

int64_t lora_target_in(const lora_target *t)
{
    return t->lin ? t->lin->in : t->conv->in * t->conv->k * t->conv->k;
}

int64_t lora_target_out(const lora_target *t)
{
    return t->lin ? t->lin->out : t->conv->out;
}
