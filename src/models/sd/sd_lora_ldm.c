/* sd_lora_ldm.c — kohya LoRA keys written against the original CompVis/LDM layout
 * ("lora_unet_input_blocks_1_1_proj_in", "lora_unet_middle_block_1_transformer_blocks_0_attn1_to_q",
 * "lora_te_transformer_text_model_encoder_layers_0_self_attn_q_proj") -> our kohya names.
 *
 * The idea: kohya names are module paths with '.' -> '_', so the block numbers and the few
 * dotted parts of the LDM path (in_layers.2, out_layers.3, ...) are put back, the result goes
 * through the same LDM -> diffusers mapping the single-file checkpoint reader uses
 * (sd_map_original), and the diffusers name is turned into a kohya name again. Parts that stay
 * the same in both layouts (inside a transformer block) pass through with their underscores.
 */
#include <stdio.h>
#include <string.h>

#include "models/sd/sd_checkpoint_internal.h"
#include "models/sd/sd_lora_internal.h"

static int starts(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* "12_" at s -> 12 and the rest; NULL if not. */
static const char *num_us(const char *s, int *v)
{
    if (*s < '0' || *s > '9') return NULL;
    long x = 0;
    while (*s >= '0' && *s <= '9') {
        x = x * 10 + (*s - '0');
        if (x > 10000) return NULL;
        s++;
    }
    if (*s != '_') return NULL;
    *v = (int)x;
    return s + 1;
}

/* The tail of an LDM UNet block in dotted form (resnet parts), else as it is. */
static const char *tail_dotted(const char *t, char *buf, size_t n)
{
    static const char *const parts[] = {"in_layers_0", "in_layers_2", "emb_layers_1", "out_layers_0", "out_layers_3"};
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        if (!strcmp(t, parts[i])) {
            snprintf(buf, n, "%.*s.%s", (int)strlen(t) - 2, t, t + strlen(t) - 1);
            return buf;
        }
    return t;
}

int lora_ldm_kohya_name(int layers_per_block, const char *base, char *out, size_t outlen)
{
    char orig[320], tb[64], mapped[320];
    const char *r, *t;
    int x, y, n;
    if (starts(base, "lora_unet_")) {
        r = base + 10;
        if (starts(r, "input_blocks_") && (t = num_us(r + 13, &x)) && (t = num_us(t, &y)))
            n = snprintf(orig, sizeof orig, "model.diffusion_model.input_blocks.%d.%d.%s.weight", x, y,
                         tail_dotted(t, tb, sizeof tb));
        else if (starts(r, "output_blocks_") && (t = num_us(r + 14, &x)) && (t = num_us(t, &y)))
            n = snprintf(orig, sizeof orig, "model.diffusion_model.output_blocks.%d.%d.%s.weight", x, y,
                         tail_dotted(t, tb, sizeof tb));
        else if (starts(r, "middle_block_") && (t = num_us(r + 13, &y)))
            n = snprintf(orig, sizeof orig, "model.diffusion_model.middle_block.%d.%s.weight", y,
                         tail_dotted(t, tb, sizeof tb));
        else if (!strcmp(r, "time_embed_0") || !strcmp(r, "time_embed_2") || !strcmp(r, "out_2"))
            n = snprintf(orig, sizeof orig, "model.diffusion_model.%.*s.%s.weight", (int)strlen(r) - 2, r,
                         r + strlen(r) - 1);
        else return -1;
    } else if (starts(base, "lora_te_transformer_") || starts(base, "lora_te1_transformer_")) {
        r = base + (base[7] == '1' ? 21 : 20);
        if (starts(r, "text_model_")) n = snprintf(orig, sizeof orig, "cond_stage_model.transformer.text_model.%s.weight", r + 11);
        else if (starts(r, "encoder_")) n = snprintf(orig, sizeof orig, "cond_stage_model.transformer.encoder.%s.weight", r + 8);
        else return -1;
    } else {
        return -1;
    }
    if (n < 0 || (size_t)n >= sizeof orig) return -1;
    sd_orig_layout lay = {layers_per_block, 1};
    int reshape;
    if (sd_map_original(&lay, orig, mapped, sizeof mapped, &reshape, NULL, 0) != 0) return -1;
    size_t ml = strlen(mapped);
    if (ml < 7 || strcmp(mapped + ml - 7, ".weight")) return -1;
    mapped[ml - 7] = 0;
    const char *area = starts(mapped, "unet.") ? "lora_unet_" : starts(mapped, "text_encoder.") ? "lora_te_" : NULL;
    if (!area) return -1;
    n = snprintf(out, outlen, "%s%s", area, strchr(mapped, '.') + 1);
    if (n < 0 || (size_t)n >= outlen) return -1;
    for (char *c = out; *c; c++)
        if (*c == '.') *c = '_';
    return 0;
}
