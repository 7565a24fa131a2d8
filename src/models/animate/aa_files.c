/* aa_files.c — AnimateAnyone's weight folder: finding the files, reading tensors by name (see
 * aa_files.h). */
#include "models/animate/aa_files.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/fail.h"

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The first of names (NULL-terminated) present under dir/sub into out. */
static int pick(const char *dir, const char *sub, const char *const *names, char *out, size_t len)
{
    out[0] = 0;
    for (int i = 0; names[i]; i++) {
        char p[1024];
        if (snprintf(p, sizeof p, "%s/%s%s%s", dir, sub, *sub ? "/" : "", names[i]) >= (int)sizeof p) continue;
        if (is_file(p)) {
            snprintf(out, len, "%s", p);
            return 1;
        }
    }
    return 0;
}

int oma_aa_files_find(const char *dir, oma_aa_files *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s", dir);
    static const char *const den[] = {"denoising_unet.safetensors", "denoising_unet.pth", NULL};
    static const char *const ref[] = {"reference_unet.safetensors", "reference_unet.pth", NULL};
    static const char *const pose[] = {"pose_guider.safetensors", "pose_guider.pth", NULL};
    static const char *const clip[] = {"model.safetensors", "pytorch_model.bin", NULL};
    static const char *const vae[] = {"diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin", NULL};
    static const char *const cfg[] = {"config.json", NULL};
    static const struct {
        const char *what, *expect, *sub;
        const char *const *names;
        int cfg;
    } t[AA_N_PARTS] = {
        {"denoising UNet", "denoising_unet.pth or .safetensors", "", den, 0},
        {"ReferenceNet", "reference_unet.pth or .safetensors", "", ref, 0},
        {"PoseGuider", "pose_guider.pth or .safetensors", "", pose, 0},
        {"CLIP image encoder", "image_encoder/pytorch_model.bin or model.safetensors, with config.json",
         "image_encoder", clip, 1},
        {"VAE", "sd-vae-ft-mse/diffusion_pytorch_model.bin or .safetensors, with config.json", "sd-vae-ft-mse",
         vae, 1},
    };
    int missing = 0;
    for (int i = 0; i < AA_N_PARTS; i++) {
        oma_aa_part_info *p = &f->part[i];
        p->what = t[i].what;
        p->expect = t[i].expect;
        p->needs_config = t[i].cfg;
        pick(dir, t[i].sub, t[i].names, p->path, sizeof p->path);
        if (t[i].cfg) pick(dir, t[i].sub, cfg, p->config, sizeof p->config);
        if (!p->path[0] || (t[i].cfg && !p->config[0])) missing++;
    }
    pick(dir, "stable-diffusion-v1-5/unet", cfg, f->unet_config, sizeof f->unet_config);
    return missing;
}

void oma_aa_files_report(const oma_aa_files *f, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < AA_N_PARTS && n < len; i++) {
        const oma_aa_part_info *p = &f->part[i];
        int ok = p->path[0] && (!p->needs_config || p->config[0]);
        int w = ok ? snprintf(buf + n, len - n, "  present  %-20s %s\n", p->what, p->path)
                   : snprintf(buf + n, len - n, "  missing  %-20s %s/%s\n", p->what, f->dir, p->expect);
        if (w < 0) return;
        n += (size_t)w;
    }
    if (n < len)
        snprintf(buf + n, len - n, "  %-8s %-20s %s\n", f->unet_config[0] ? "present" : "optional",
                 "base UNet config", f->unet_config[0] ? f->unet_config : "stable-diffusion-v1-5/unet/config.json (SD 1.5's when absent)");
}

const char *oma_aa_default_dir(const char *models_dir, char *buf, size_t len)
{
    if (!models_dir || !*models_dir) return NULL;
    if (snprintf(buf, len, "%s/animate-anyone", models_dir) >= (int)len) return NULL;
    return buf;
}

int oma_aa_load_part(const oma_aa_files *f, int part, oma_tensor_file **out, char *err, size_t errlen)
{
    *out = NULL;
    if (part < 0 || part >= AA_N_PARTS || !f->part[part].path[0])
        return oma_fail(err, errlen, "animate: %s missing (expected %s/%s)", part >= 0 && part < AA_N_PARTS ?
                        f->part[part].what : "part", f->dir, part >= 0 && part < AA_N_PARTS ? f->part[part].expect : "");
    return oma_tensor_file_load(f->part[part].path, (size_t)16 << 30, out, err, errlen);
}

/* ---- oma_weights over a tensor file ---- */

static const oma_tf_tensor *lookup(oma_aa_source *s, const char *name)
{
    size_t pl = strlen(s->prefix);
    if (strncmp(name, s->prefix, pl) != 0 || name[pl] != '.') return NULL;
    const char *key = name + pl + 1;
    const oma_tf_tensor *t = oma_tensor_file_find(s->file, key);
    if (t) return t;
    /* old diffusers VAE attention names */
    static const char *const alias[][2] = {{".to_q.", ".query."}, {".to_k.", ".key."}, {".to_v.", ".value."},
                                           {".to_out.0.", ".proj_attn."}};
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++) {
        const char *at = strstr(key, alias[i][0]);
        if (!at) continue;
        char alt[1024];
        if (snprintf(alt, sizeof alt, "%.*s%s%s", (int)(at - key), key, alias[i][1], at + strlen(alias[i][0])) >=
            (int)sizeof alt)
            return NULL;
        return oma_tensor_file_find(s->file, alt);
    }
    return NULL;
}

static int w_has(void *ctx, const char *name) { return lookup(ctx, name) != NULL; }

static int w_read(void *ctx, const char *name, int ndim, const int64_t *shape, float *dst, char *err, size_t errlen)
{
    oma_aa_source *s = ctx;
    const oma_tf_tensor *t = lookup(s, name);
    if (!t) return oma_fail(err, errlen, "%s: tensor '%s' missing", oma_tensor_file_path(s->file), name);
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++) ok = t->shape[i] == shape[i];
    /* the old VAE attention stored 1x1 convs [C, C, 1, 1] where a linear [C, C] is asked for */
    if (!ok && ndim == 2 && t->ndim == 4 && t->shape[0] == shape[0] && t->shape[1] == shape[1] && t->shape[2] == 1 &&
        t->shape[3] == 1)
        ok = 1;
    if (!ok) {
        char got[128] = "", want[128] = "";
        for (int i = 0; i < t->ndim; i++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "", (long long)t->shape[i]);
        for (int i = 0; i < ndim; i++)
            snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", i ? ", " : "", (long long)shape[i]);
        return oma_fail(err, errlen, "%s: tensor '%s' has shape [%s], expected [%s]", oma_tensor_file_path(s->file),
                        name, got, want);
    }
    memcpy(dst, t->data, sizeof(float) * (size_t)t->numel);
    return 0;
}

void oma_aa_weights(oma_aa_source *src, oma_weights *w)
{
    memset(w, 0, sizeof *w);
    w->ctx = src;
    w->read = w_read;
    w->has = w_has;
}
