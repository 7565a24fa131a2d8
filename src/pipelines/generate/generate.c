/* generate.c — the txt2img / img2img loop (see generate.h). */
#include "pipelines/generate/generate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tensor/backend.h"
#include "tensor/device_backend.h"
#include "tensor/ops.h"

static double wall(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

void oma_generate_defaults(oma_generate_params *p)
{
    memset(p, 0, sizeof *p);
    p->prompt = "";
    p->negative = "";
    p->steps = 20;
    p->cfg = 7.5f;
    p->sampler = OMA_SAMPLER_EULER_A;
    p->width = p->height = 0;       /* the model's own size (oma_generate_resolve_size) */
    p->batch = 1;
    p->strength = 0.55f;
}

const char *oma_generate_precision_default(void)
{
    const char *e = getenv("OMA_PRECISION");
    if (e && *e) return oma_precision_name();
    return !oma_devbackend_active() && oma_precision_bf16_native() ? "bf16" : "fp32";
}

void oma_generate_candidate_strengths(double out[OMA_GEN_CANDIDATES])
{
    for (int i = 0; i < 3; i++) out[2 * i] = out[2 * i + 1] = 0.45 + 0.10 * i;
}

int oma_generate_check(const oma_generate_params *p, char *err, size_t errlen)
{
    if (!p->prompt) {
        snprintf(err, errlen, "generate: prompt is required");
        return -1;
    }
    if (p->steps < 1 || p->steps > 150) {
        snprintf(err, errlen, "generate: steps must be 1..150");
        return -1;
    }
    if (p->draft != 0 && (p->draft < 2 || p->draft > OMA_GEN_MAX_DRAFT || p->draft_branch < 0)) {
        snprintf(err, errlen, "generate: draft interval must be 2..%d (0 = off)", OMA_GEN_MAX_DRAFT);
        return -1;
    }
    if (!(p->cfg >= 0.0f && p->cfg <= 30.0f)) {
        snprintf(err, errlen, "generate: cfg must be 0..30");
        return -1;
    }
    for (int k = 0; k < 2; k++) {
        int v = k ? p->height : p->width;
        if (v != 0 && (v < OMA_GEN_MIN_SIDE || v > OMA_GEN_MAX_SIDE || v % OMA_GEN_SIDE_STEP)) {
            snprintf(err, errlen, "generate: %s %d: must be a multiple of %d from %d to %d", k ? "height" : "width",
                     v, OMA_GEN_SIDE_STEP, OMA_GEN_MIN_SIDE, OMA_GEN_MAX_SIDE);
            return -1;
        }
    }
    if (p->batch < 1 || p->batch > OMA_GEN_MAX_BATCH) {
        snprintf(err, errlen, "generate: batch must be 1..%d", OMA_GEN_MAX_BATCH);
        return -1;
    }
    if (p->clip_skip < 0 || p->clip_skip > 4) {
        snprintf(err, errlen, "generate: clip skip must be 0..4");
        return -1;
    }
    if (p->init && !(p->strength > 0.0f && p->strength <= 1.0f)) {
        snprintf(err, errlen, "generate: strength must be in (0, 1]");
        return -1;
    }
    return 0;
}

int oma_generate_latent_factor(const oma_sd_model *m)
{
    int nb = m->cfg.vae.n_blocks;
    return nb >= 1 && nb <= OMA_SD_MAX_BLOCKS ? 1 << (nb - 1) : 8;
}

/* v clamped to lo..hi and rounded down to a multiple of OMA_GEN_SIDE_STEP */
static int side(double v)
{
    if (v > OMA_GEN_MAX_SIDE) v = OMA_GEN_MAX_SIDE;
    if (v < OMA_GEN_MIN_SIDE) v = OMA_GEN_MIN_SIDE;
    return (int)v / OMA_GEN_SIDE_STEP * OMA_GEN_SIDE_STEP;
}

void oma_generate_resolve_size(const oma_sd_model *m, oma_generate_params *p)
{
    if (p->width > 0 && p->height > 0) return;
    int w, h;
    if (p->init && p->init->w > 0 && p->init->h > 0) {
        /* img2img: the picture's own size (diffusers' image processor), kept in range */
        double iw = p->init->w, ih = p->init->h, big = iw > ih ? iw : ih, small = iw < ih ? iw : ih;
        double f = big > OMA_GEN_MAX_SIDE ? OMA_GEN_MAX_SIDE / big : 1.0;
        if (small * f < OMA_GEN_MIN_SIDE) f = OMA_GEN_MIN_SIDE / small;
        w = side(iw * f);
        h = side(ih * f);
    } else {
        /* txt2img: unet sample_size x the VAE factor, as StableDiffusionPipeline's default */
        int s = m->cfg.unet.sample_size > 0 ? m->cfg.unet.sample_size : 64;
        w = h = side((double)s * oma_generate_latent_factor(m));
    }
    if (p->width <= 0) p->width = w;
    if (p->height <= 0) p->height = h;
}

int oma_generate_embed(const oma_sd_model *m, const char *prompt, int clip_skip, oma_arena *ar,
                       oma_tensor *out, char *err, size_t errlen)
{
    oma_clip_tokens tk;
    if (oma_clip_encode_weighted(m->tok, prompt ? prompt : "", &tk, err, errlen) != 0) return -1;
    int32_t ids[OMA_CLIP_CONTEXT];
    for (int i = 0; i < OMA_CLIP_CONTEXT; i++) ids[i] = tk.ids[i];
    if (oma_clip_text_forward(&m->text, ids, 1, OMA_CLIP_CONTEXT, clip_skip, ar, out, err, errlen) != 0)
        return -1;
    int weighted = 0;
    for (int i = 0; i < OMA_CLIP_CONTEXT; i++) weighted |= tk.weights[i] != 1.0f;
    if (weighted) {
        /* A1111: scale each token's embedding by its weight, then restore the original mean */
        int64_t H = out->shape[2];
        double before = 0, after = 0;
        for (int64_t i = 0; i < oma_tensor_numel(out); i++) before += out->data[i];
        for (int t = 0; t < OMA_CLIP_CONTEXT; t++)
            for (int64_t j = 0; j < H; j++) out->data[t * H + j] *= tk.weights[t];
        for (int64_t i = 0; i < oma_tensor_numel(out); i++) after += out->data[i];
        if (after != 0.0) {
            float f = (float)(before / after);
            for (int64_t i = 0; i < oma_tensor_numel(out); i++) out->data[i] *= f;
        }
    }
    return 0;
}

static uint8_t to_u8(float v)
{
    float x = (v / 2.0f + 0.5f);
    x = x < 0 ? 0 : (x > 1 ? 1 : x);
    return (uint8_t)nearbyintf(x * 255.0f);
}

int oma_generate_decode(const oma_sd_model *m, const oma_tensor *latents, oma_arena *ar,
                        oma_image *out, char *err, size_t errlen)
{
    oma_arena_mark mk = oma_arena_get_mark(ar);
    oma_tensor img;
    if (oma_vae_decode(&m->vae, latents, ar, &img, err, errlen) != 0) return -1;
    int64_t B = img.shape[0], H = img.shape[2], W = img.shape[3];
    for (int64_t b = 0; b < B; b++) {
        if (oma_image_alloc(&out[b], (int)W, (int)H, 3) != 0) {
            for (int64_t k = 0; k < b; k++) oma_image_free(&out[k]);
            oma_arena_release(ar, mk);
            snprintf(err, errlen, "generate: out of memory");
            return -1;
        }
        const float *src = img.data + b * 3 * H * W;
        for (int64_t y = 0; y < H; y++)
            for (int64_t x = 0; x < W; x++)
                for (int c = 0; c < 3; c++)
                    out[b].px[(y * W + x) * 3 + c] = to_u8(src[(c * H + y) * W + x]);
    }
    oma_arena_release(ar, mk);
    return 0;
}

/* Cheap preview: SD 1.x latents -> RGB by a fixed linear map (A1111's "approx cheap"). */
static int preview_image(const float *lat, int64_t h, int64_t w, oma_image *img)
{
    static const float F[4][3] = {{0.298f, 0.207f, 0.208f},
                                  {0.187f, 0.286f, 0.173f},
                                  {-0.158f, 0.189f, 0.264f},
                                  {-0.184f, -0.271f, -0.473f}};
    if (oma_image_alloc(img, (int)w, (int)h, 3) != 0) return -1;
    for (int64_t i = 0; i < h * w; i++)
        for (int c = 0; c < 3; c++) {
            float v = 0;
            for (int k = 0; k < 4; k++) v += lat[k * h * w + i] * F[k][c];
            img->px[i * 3 + c] = to_u8(v);
        }
    return 0;
}

/* init image -> [1, 3, H, W] in [-1, 1] */
static int image_tensor(const oma_image *src, int W, int H, oma_arena *ar, oma_tensor *t, char *err,
                        size_t errlen)
{
    oma_image rgb = {0}, sized = {0};
    if (oma_image_convert(src, 3, &rgb) != 0) {
        snprintf(err, errlen, "generate: cannot convert the init image");
        return -1;
    }
    int rc = -1;
    const oma_image *use = &rgb;
    if (rgb.w != W || rgb.h != H) {
        if (oma_image_resize(&rgb, W, H, &sized) != 0) {
            snprintf(err, errlen, "generate: cannot resize the init image");
            goto done;
        }
        use = &sized;
    }
    int64_t s[4] = {1, 3, H, W};
    if (oma_arena_tensor(ar, t, 4, s) != 0) {
        snprintf(err, errlen, "generate: out of memory");
        goto done;
    }
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++)
            for (int c = 0; c < 3; c++)
                t->data[(c * H + y) * W + x] = (float)use->px[(y * W + x) * 3 + c] / 127.5f - 1.0f;
    rc = 0;
done:
    oma_image_free(&rgb);
    oma_image_free(&sized);
    return rc;
}

int oma_generate_prompts(const oma_sd_model *m, const oma_generate_params *p, oma_clip_text *text_done,
                         oma_image *out, char *err, size_t errlen)
{
    oma_arena ar;
    oma_arena_init(&ar, 1 << 20);
    oma_tensor neg, pos;
    int rc = -1;
    double t0 = wall();
    /* without guidance (cfg <= 1) the negative prompt is not used: not encoded either */
    if (oma_generate_embed(m, p->prompt, p->clip_skip, &ar, &pos, err, errlen) == 0 &&
        (p->cfg <= 1.0f ? (neg = pos, 0)
                        : oma_generate_embed(m, p->negative ? p->negative : "", p->clip_skip, &ar, &neg, err,
                                             errlen)) == 0) {
        if (text_done) oma_clip_text_free(text_done);
        if (p->times) memset(p->times, 0, sizeof *p->times);
        double text_s = wall() - t0;
        rc = oma_generate_embeds(m, p, &neg, &pos, out, NULL, err, errlen);
        if (p->times) p->times->text_s = text_s;
    }
    oma_arena_destroy(&ar);
    return rc;
}

int oma_generate(const oma_sd_model *m, const oma_generate_params *p, oma_image *out, char *err,
                 size_t errlen)
{
    if (oma_generate_check(p, err, errlen) != 0) return -1;
    int rc = oma_generate_prompts(m, p, NULL, out, err, errlen);
    if (rc < 0) (void)oma_devbackend_check(err, errlen);   /* a device failure says so itself */
    return rc;
}

int oma_generate_embeds(const oma_sd_model *m, const oma_generate_params *p, const oma_tensor *neg,
                        const oma_tensor *pos, oma_image *out, float *final_latents, char *err,
                        size_t errlen)
{
    oma_generate_params q = *p;
    oma_generate_resolve_size(m, &q);
    if (m->cfg.unet.in_channels != 4) q.preview_every = 0;   /* the cheap preview's matrix is for 4 channels */
    p = &q;
    if (oma_generate_check(p, err, errlen) != 0) return -1;
    const int F = oma_generate_latent_factor(m);
    if (p->width % F || p->height % F) {
        snprintf(err, errlen, "generate: %dx%d: this model's VAE needs multiples of %d", p->width, p->height, F);
        return -1;
    }
    if (m->cfg.unet.in_channels != m->cfg.vae.latent_channels || m->cfg.unet.out_channels != m->cfg.vae.latent_channels) {
        snprintf(err, errlen, "generate: the UNet takes %d channels, the VAE has %d latent channels",
                 m->cfg.unet.in_channels, m->cfg.vae.latent_channels);
        return -1;
    }
    if (neg->ndim != 3 || !oma_tensor_same_shape(neg, pos) || neg->shape[0] != 1 ||
        neg->shape[2] != m->cfg.unet.cross_attention_dim) {
        snprintf(err, errlen, "generate: text embeddings must be [1, n, %d]", m->cfg.unet.cross_attention_dim);
        return -1;
    }
    if (p->draft && oma_unet_draft_check(&m->unet.cfg, p->draft_branch, err, errlen) != 0) return -1;
    if (p->init && !m->has_encoder) {
        snprintf(err, errlen, "generate: img2img needs the VAE encoder loaded");
        return -1;
    }
    oma_generate_times tm = {0}, *times = p->times ? p->times : &tm;
    double t0 = wall();
    times->encode_s = times->unet_s = times->decode_s = 0, times->unet_passes = times->unet_items = 0;
    times->draft_passes = 0;
    const int B = p->batch;
    const int64_t lc = m->cfg.unet.in_channels, h = p->height / F, w = p->width / F;
    const size_t per = (size_t)(lc * h * w);
    const float SF = m->cfg.vae.scaling_factor > 0 ? m->cfg.vae.scaling_factor : 0.18215f;
    int rc = -1, ng = 0;
    /* Candidates are kept in the order of their first step (img2img: per-candidate strengths
     * start at different steps; txt2img: all at 0), so the ones running at step i are a prefix
     * [0, na) and one UNet pass serves them all. Position j holds candidate order[j]; candidates
     * with the same first step share a scheduler (gs[g], positions gfirst[g]..gfirst[g+1]-1). */
    oma_scheduler *gs = calloc((size_t)B, sizeof *gs);
    oma_rng *rngs = calloc((size_t)B, sizeof *rngs);
    int order[OMA_GEN_MAX_BATCH] = {0}, first[OMA_GEN_MAX_BATCH] = {0}, gfirst[OMA_GEN_MAX_BATCH + 1] = {0},
        gstart[OMA_GEN_MAX_BATCH] = {0};
    /* draft mode: one feature cache per UNet pass of a step (chunk k), kept for cn candidates */
    oma_unet_draft drafts[OMA_GEN_MAX_BATCH];
    int dcn[OMA_GEN_MAX_BATCH] = {0};
    memset(drafts, 0, sizeof drafts);
    for (int k = 0; k < OMA_GEN_MAX_BATCH; k++) drafts[k].branch = p->draft_branch;
    oma_arena ar;
    oma_arena_init(&ar, 0);
    if (!rngs || !gs) {
        snprintf(err, errlen, "generate: out of memory");
        goto done;
    }
    if (oma_scheduler_init(&gs[0], p->sampler, &m->cfg.scheduler, p->steps, err, errlen) != 0) goto done;
    ng = 1;
    const int n = gs[0].n;
    for (int b = 0; b < B; b++) {
        double st = p->strengths ? p->strengths[b] : (double)p->strength;
        if (p->init && !(st > 0.0 && st <= 1.0)) {
            snprintf(err, errlen, "generate: strength must be in (0, 1]");
            goto done;
        }
        first[b] = p->init ? oma_scheduler_img2img_start(&gs[0], st) : 0;
        if (first[b] >= n) {
            snprintf(err, errlen, "generate: strength %.2f with %d steps leaves no step to run", st, p->steps);
            goto done;
        }
        int j = b;      /* stable insertion by first step */
        while (j > 0 && first[order[j - 1]] > first[b]) order[j] = order[j - 1], j--;
        order[j] = b;
    }
    gfirst[0] = 0, gstart[0] = first[order[0]];
    for (int j = 1; j < B; j++)
        if (first[order[j]] != gstart[ng - 1]) {
            if (oma_scheduler_init(&gs[ng], p->sampler, &m->cfg.scheduler, p->steps, err, errlen) != 0) goto done;
            gfirst[ng] = j, gstart[ng] = first[order[j]], ng++;
        }
    gfirst[ng] = B;

    /* text: context [2B, 77, H] = B x negative, then B x positive (rows B-na .. B+na-1 serve the
     * first na candidates); without guidance (cfg <= 1, diffusers' do_classifier_free_guidance
     * = guidance_scale > 1) only the B positives: the prediction is the conditional one and the
     * unconditional pass is never run */
    const int R = p->cfg > 1.0f ? 2 : 1;
    oma_tensor ctx, lat;
    int64_t cs[3] = {R * B, neg->shape[1], neg->shape[2]};
    int64_t ls[4] = {B, lc, h, w};
    if (oma_arena_tensor(&ar, &ctx, 3, cs) != 0 || oma_arena_tensor(&ar, &lat, 4, ls) != 0) goto oom;
    size_t esz = (size_t)(neg->shape[1] * neg->shape[2]);
    for (int b = 0; b < B; b++) {
        if (R == 2) memcpy(ctx.data + (size_t)b * esz, neg->data, esz * sizeof(float));
        memcpy(ctx.data + (size_t)((R - 1) * B + b) * esz, pos->data, esz * sizeof(float));
    }
    for (int j = 0; j < B; j++) oma_rng_seed(&rngs[j], p->seed + (uint64_t)order[j]);

    if (!p->init) {
        float sigma0 = (float)oma_scheduler_init_sigma(&gs[0]);
        for (int b = 0; b < B; b++) {
            float *lb = lat.data + (size_t)b * per;
            oma_rng_randn(&rngs[b], lb, per);
            for (size_t k = 0; k < per; k++) lb[k] *= sigma0;
        }
    } else {
        t0 = wall();
        oma_arena_mark mk = oma_arena_get_mark(&ar);
        oma_tensor img, mom;
        if (image_tensor(p->init, p->width, p->height, &ar, &img, err, errlen) != 0) goto done;
        if (oma_vae_encode(&m->vae, &img, &ar, &mom, err, errlen) != 0) goto done;
        float *noise = malloc(per * sizeof(float)), *clean = malloc(per * sizeof(float));
        if (!noise || !clean) {
            free(noise);
            free(clean);
            goto oom;
        }
        for (int g = 0; g < ng; g++)
            for (int b = gfirst[g]; b < gfirst[g + 1]; b++) {
                /* posterior sample (first draw), scaled; then the noise (second draw) */
                oma_rng_randn(&rngs[b], noise, per);
                for (size_t k = 0; k < per; k++) {
                    float mean = mom.data[k], lv = mom.data[per + k];
                    lv = lv < -30.0f ? -30.0f : (lv > 20.0f ? 20.0f : lv);
                    clean[k] = (mean + expf(0.5f * lv) * noise[k]) * SF;
                }
                oma_rng_randn(&rngs[b], noise, per);
                oma_scheduler_add_noise(&gs[g], gstart[g], clean, noise, lat.data + (size_t)b * per, per);
            }
        free(noise);
        free(clean);
        oma_arena_release(&ar, mk);
        times->encode_s = wall() - t0;
    }

    /* Candidates per UNet pass: all of them, as long as a pass holds at most the latent pixels
     * of 4 images of 512x512 (OMA_GEN_PASS_PIXELS; SD 1.5: 2 candidates with CFG, 4 without),
     * so that the activations, not the weights, never dominate memory; params.max_pass_images
     * (tests) overrides it. */
    int chunk = B;
    {
        int64_t budget = p->max_pass_images > 0 ? (int64_t)p->max_pass_images * h * w : OMA_GEN_PASS_PIXELS;
        int64_t fit = budget / (R * h * w);
        if (fit < chunk) chunk = fit < 1 ? 1 : (int)fit;
    }
    const int start = gstart[0];
    oma_arena_mark loop = oma_arena_get_mark(&ar);
    float *ts = malloc(sizeof(float) * (size_t)(R * B));
    if (!ts) goto oom;
    for (int i = start; i < n; i++) {
        t0 = wall();
        int na = 0, gn = 0;         /* candidates and groups running at step i */
        while (gn < ng && gstart[gn] <= i) gn++;
        na = gfirst[gn];
        /* the running candidates in chunks of at most `chunk` per UNet pass (memory) */
        float *guided = oma_arena_alloc(&ar, sizeof(float) * (size_t)na * per);
        if (!guided) {
            free(ts);
            goto oom;
        }
        oma_arena_mark pass = oma_arena_get_mark(&ar);
        float sc = (float)oma_scheduler_input_scale(&gs[0], i);
        for (int c0 = 0; c0 < na; c0 += chunk) {
            int cn = na - c0 < chunk ? na - c0 : chunk;
            oma_tensor inp, eps, cv;
            int64_t is[4] = {R * cn, lc, h, w};
            if (oma_arena_tensor(&ar, &inp, 4, is) != 0) {
                free(ts);
                goto oom;
            }
            const float *src = lat.data + (size_t)c0 * per;
            for (int half = 0; half < R; half++)
                for (size_t k = 0; k < (size_t)cn * per; k++) inp.data[(size_t)half * cn * per + k] = src[k] * sc;
            for (int b = 0; b < R * cn; b++) ts[b] = oma_scheduler_timestep_f(&gs[0], i);
            oma_tensor_view(&cv, ctx.data + (size_t)(R == 2 ? B - cn : 0) * esz, 3,
                            (int64_t[]){R * cn, ctx.shape[1], ctx.shape[2]});
            /* draft: the whole UNet every p->draft steps from the first (or when this pass's
             * candidates changed), the shallow path with the kept features in between */
            int dk = c0 / chunk, reuse = p->draft && (i - start) % p->draft != 0 && drafts[dk].valid &&
                                         dcn[dk] == cn;
            int urc = p->draft ? oma_unet_forward_draft(&m->unet, &inp, ts, &cv, &drafts[dk], reuse, &ar, &eps,
                                                        err, errlen)
                               : oma_unet_forward(&m->unet, &inp, ts, &cv, &ar, &eps, err, errlen);
            if (urc != 0) {
                free(ts);
                goto done;
            }
            dcn[dk] = cn;
            times->draft_passes += reuse;
            float *gd = guided + (size_t)c0 * per;
            for (size_t k = 0; k < (size_t)cn * per; k++) {
                float un = eps.data[k], te = R == 2 ? eps.data[(size_t)cn * per + k] : un;
                gd[k] = R == 2 ? un + p->cfg * (te - un) : un;
            }
            oma_arena_release(&ar, pass);
            times->unet_passes++, times->unet_items += R * cn;
        }
        for (int g = 0; g < gn; g++) {
            size_t off = (size_t)gfirst[g] * per;
            if (oma_scheduler_step(&gs[g], i, guided + off, lat.data + off, gfirst[g + 1] - gfirst[g], per,
                                   rngs + gfirst[g]) != 0) {
                free(ts);
                goto oom;
            }
        }
        oma_arena_release(&ar, loop);
        times->unet_s += wall() - t0;
        if (p->progress) {
            oma_image pv = {0};
            int want = p->preview_every > 0 && ((i - start + 1) % p->preview_every == 0) && i + 1 < n;
            if (want && preview_image(lat.data, h, w, &pv) != 0) want = 0;
            int cancel = p->progress(p->progress_ctx, i - start + 1, n - start, want ? &pv : NULL);
            oma_image_free(&pv);
            if (cancel) {
                free(ts);
                rc = 1;
                snprintf(err, errlen, "generate: cancelled");
                goto done;
            }
        }
    }
    free(ts);
    float *fl = final_latents ? final_latents : p->latents_out;
    if (fl)
        for (int j = 0; j < B; j++)
            memcpy(fl + (size_t)order[j] * per, lat.data + (size_t)j * per, sizeof(float) * per);
    if (p->latents_out && !final_latents) {     /* the caller decodes (oma_generate_one_shot) */
        rc = 0;
        goto done;
    }
    if (p->one_shot) oma_unet_forget_prepared(&m->unet);
    /* decode one candidate at a time (the VAE's activations at full size are the peak) */
    t0 = wall();
    for (int j = 0; j < B; j++) {
        oma_tensor one;
        int64_t os[4] = {1, lc, h, w};
        if (oma_arena_tensor(&ar, &one, 4, os) != 0) goto oom;
        for (size_t k = 0; k < per; k++) one.data[k] = lat.data[(size_t)j * per + k] / SF;
        if (oma_generate_decode(m, &one, &ar, &out[order[j]], err, errlen) != 0) {
            for (int k = 0; k < j; k++) oma_image_free(&out[order[k]]);
            goto done;
        }
        oma_arena_release(&ar, loop);
    }
    times->decode_s = wall() - t0;
    rc = 0;
    goto done;
oom:
    snprintf(err, errlen, "generate: out of memory");
done:
    /* a device op failed (tensor/device_backend.h): its one line, and no pictures */
    if (rc != 1 && oma_devbackend_check(err, errlen) != 0) {
        if (rc == 0)
            for (int j = 0; j < B; j++) oma_image_free(&out[j]);
        rc = -1;
    }
    for (int k = 0; k < OMA_GEN_MAX_BATCH; k++) oma_unet_draft_free(&drafts[k]);
    for (int g = 0; g < ng; g++) oma_scheduler_free(&gs[g]);
    free(gs);
    free(rngs);
    oma_arena_destroy(&ar);
    return rc;
}

int oma_generate_parameters_text(const oma_generate_params *p, uint64_t seed, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s\nNegative prompt: %s\nSteps: %d, Sampler: %s, CFG scale: %g, Seed: %llu, "
                               "Size: %dx%d",
                     p->prompt ? p->prompt : "", p->negative ? p->negative : "", p->steps,
                     oma_sampler_name(p->sampler), (double)p->cfg, (unsigned long long)seed, p->width,
                     p->height);
    if (n < 0 || (size_t)n >= len) return -1;
    if (p->init) {
        int k = snprintf(buf + n, len - (size_t)n, ", Denoising strength: %g", (double)p->strength);
        if (k < 0 || (size_t)(n + k) >= len) return -1;
        n += k;
    }
    if (p->clip_skip > 0) {
        int k = snprintf(buf + n, len - (size_t)n, ", Clip skip: %d", p->clip_skip + 1);
        if (k < 0 || (size_t)(n + k) >= len) return -1;
        n += k;
    }
    if (p->draft) {     /* an approximate image: say so wherever its parameters go */
        int k = snprintf(buf + n, len - (size_t)n, ", Draft: DeepCache N=%d branch %d", p->draft,
                         p->draft_branch);
        if (k < 0 || (size_t)(n + k) >= len) return -1;
    }
    return 0;
}
