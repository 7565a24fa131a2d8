/* cpu_kept.c — weights the CPU backend keeps in a prepared form between calls.
 *
 * Some kernels want their weights in a form that is costly to make: oneDNN's Winograd
 * convolution runs ~3x faster than the direct one, but only on weights transformed into the
 * Winograd domain, and that transform takes longer than the convolution itself on a 32x32
 * latent. So the first call keeps the prepared weights here, keyed by the layer's weight stamp
 * (oma_tensor.stamp: it changes whenever the weights do, see tensor.h) and a key naming the
 * exact prepared form (layout and all: oneDNN's Winograd weight layout depends on the image
 * size), and later calls reuse them. The layer drops them (forget_weights) when it changes or
 * frees its weights.
 *
 * In bf16 mode the direct kernels' bf16 blocked weights are kept the same way (half the size of
 * the float weights; the reorder per call cost 0.48 s of a 3.8 s SD 1.5 UNet pass).
 * A process that frees the model after one use may hand a layer's float weights over
 * (oma_kept_offer, from oma_layers_hand_over): the bf16 blocked form, half their size, is then
 * written over them and kept there, at no new memory; from then on that layer's floats are gone
 * and every path that would read them refuses (-1) instead (oma_kept_taken). Measured (SD 1.5
 * shapes, 512x512, bf16, LCM 4 steps: 4 UNet passes with no memory to spare for keeping): UNet
 * 5.89 / 5.65 s against 6.27 / 6.19 s per call.
 * Kept weights cost memory on top of the model (Winograd F(4x4,3x3) weights are 4x the size of
 * the 3x3 ones), so the store has a byte budget: OMA_WEIGHT_CACHE_MB (default 1536, 0 turns
 * keeping off), and keeps no single form over OMA_KEPT_MAX_ONE (a Winograd convolution also
 * needs scratch as large as its transformed weights, so one huge layer costs twice its size;
 * measured on SD 1.5's UNet, leaving out its two layers over 128 MB saved 0.4 GB of peak memory
 * and no measurable time). Past that, callers prepare per call or use another kernel.
 * A fill happens under the store's lock, once per layer; lookups are a short list walk.
 *
 * Keeping pays over many uses; the first use costs the transform plus first-touching the new
 * memory, which on the development VM (slow page faults) is most of it: 2-3.5 s for SD 1.5's UNet
 * and 1.3 GB more peak memory. A process that draws once and ends (oma generate) turns new
 * keeping off with oma_cpu_keep_weights(0): layers then take the kernels that need no prepared
 * weights (oneDNN's direct ones; Winograd transformed per call on large images). Measured there
 * (512x512, 2 threads, LCM 4 steps): bf16 18.4 -> 14.4 s, fp32 17.8 -> 16.5 s; 20 steps with CFG
 * in bf16 the same time, peak memory 5.3 -> 4.0 GB.
 */
#include "tensor/cpu/cpu_internal.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/backend.h"
#include "tensor/tensor.h"

typedef struct kept {
    uint64_t stamp, form;
    size_t bytes;
    void *data;
    int borrowed;           /* data is the layer's own weight memory (handed over): not freed here */
    struct kept *next;
} kept;

/* Float weights a one-shot process has handed over (oma_kept_offer): their memory may hold a
 * prepared form instead; `taken` once it does (the float values are gone) */
typedef struct handed {
    uint64_t stamp;
    const void *data;
    size_t bytes;
    int taken;
    void *desc;             /* once taken: the form's description (the caller's, copied) */
    struct handed *next;
} handed;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static kept *head;
static size_t total;
static size_t budget = (size_t)-1;   /* read from the environment at first use */
static int keep_new = 1;             /* 0: one-shot process, nothing new is kept (see below) */
static handed *handed_head;
static size_t handed_total;          /* bytes of float weights now holding their prepared form */

#define OMA_KEPT_MAX_ONE ((size_t)128 << 20)

/* OMA_WEIGHT_CACHE_MB when it is set to a number (clamped to 1 TB): 1 with *mb, else 0 (unset,
 * empty or not a number: the default applies). Both its readers go through here. */
static int cache_mb_from_env(long long *mb)
{
    const char *e = getenv("OMA_WEIGHT_CACHE_MB");
    if (!e || !*e) return 0;
    char *end = NULL;
    long long v = strtoll(e, &end, 10);
    if (*end != '\0' || v < 0) return 0;
    *mb = v > ((long long)1 << 40) ? (long long)1 << 40 : v;
    return 1;
}

static size_t budget_bytes(void)
{
    if (budget == (size_t)-1) {
        long long mb = 1536;
        cache_mb_from_env(&mb);
        budget = (size_t)mb << 20;
    }
    return budget;
}

/* The entry for (stamp, form), or NULL; call with the lock held. */
static kept *lookup(uint64_t stamp, uint64_t form)
{
    for (kept *k = head; k; k = k->next)
        if (k->stamp == stamp && k->form == form) return k;
    return NULL;
}

void *oma_kept_acquire(uint64_t stamp, uint64_t form, size_t bytes, int *fresh)
{
    *fresh = 0;
    if (!stamp || !bytes) return NULL;
    pthread_mutex_lock(&mu);
    kept *k = lookup(stamp, form);
    if (k) {
        void *d = k->bytes == bytes ? k->data : NULL;
        pthread_mutex_unlock(&mu);
        return d;
    }
    if (keep_new && bytes <= OMA_KEPT_MAX_ONE && bytes <= budget_bytes() && total <= budget_bytes() - bytes && (k = calloc(1, sizeof *k)) &&
        (k->data = oma_aligned_alloc(bytes))) {
        k->stamp = stamp;
        k->form = form;
        k->bytes = bytes;
        k->next = head;
        head = k;
        total += bytes;
        *fresh = 1;
        return k->data;     /* still locked: the caller fills it, then oma_kept_filled */
    }
    free(k);
    pthread_mutex_unlock(&mu);
    return NULL;
}

void *oma_kept_find(uint64_t stamp, uint64_t form, size_t bytes)
{
    if (!stamp) return NULL;
    pthread_mutex_lock(&mu);
    kept *k = lookup(stamp, form);
    void *d = k && k->bytes == bytes ? k->data : NULL;
    pthread_mutex_unlock(&mu);
    return d;
}

/* ---- float weights handed over ---- */

static handed *handed_get(uint64_t stamp)
{
    for (handed *h = handed_head; h; h = h->next)
        if (h->stamp == stamp) return h;
    return NULL;
}

void oma_kept_offer(uint64_t stamp, const float *data, size_t bytes)
{
    if (!stamp || !data) return;
    pthread_mutex_lock(&mu);
    if (!handed_get(stamp)) {
        handed *h = calloc(1, sizeof *h);
        if (h) {    /* out of memory: nothing is handed over, which is always correct */
            h->stamp = stamp;
            h->data = data;
            h->bytes = bytes;
            h->next = handed_head;
            handed_head = h;
        }
    }
    pthread_mutex_unlock(&mu);
}

int oma_kept_may_take(uint64_t stamp, const void *data, size_t bytes)
{
    if (!stamp) return 0;
    pthread_mutex_lock(&mu);
    handed *h = handed_get(stamp);
    int ok = h && !h->taken && h->data == data && bytes <= h->bytes;
    pthread_mutex_unlock(&mu);
    return ok;
}

int oma_kept_take(uint64_t stamp, uint64_t form, void *data, size_t bytes, const void *src, const void *desc,
                  size_t desc_len)
{
    pthread_mutex_lock(&mu);
    handed *h = handed_get(stamp);
    kept *k = NULL;
    void *d = NULL;
    int ok = h && !h->taken && h->data == data && bytes <= h->bytes && (k = calloc(1, sizeof *k)) &&
             (d = malloc(desc_len ? desc_len : 1));
    if (ok) {
        /* written and filed under the lock: nobody sees the buffer half floats, half form */
        memcpy(data, src, bytes);
        memcpy(d, desc, desc_len);
        k->stamp = stamp;
        k->form = form;
        k->bytes = bytes;
        k->data = data;
        k->borrowed = 1;
        k->next = head;
        head = k;
        h->taken = 1;
        h->desc = d;
        handed_total += bytes;
    } else {
        free(k);
        free(d);
    }
    pthread_mutex_unlock(&mu);
    return ok ? 0 : -1;
}

const void *oma_kept_taken_form(uint64_t stamp, const void **data)
{
    pthread_mutex_lock(&mu);
    handed *h = stamp ? handed_get(stamp) : NULL;
    const void *d = h && h->taken ? h->desc : NULL;
    *data = d ? h->data : NULL;
    pthread_mutex_unlock(&mu);
    return d;
}

int oma_kept_taken(uint64_t stamp)
{
    if (!stamp) return 0;
    pthread_mutex_lock(&mu);
    handed *h = handed_get(stamp & OMA_STAMP_BASE);
    int t = h && h->taken;
    pthread_mutex_unlock(&mu);
    return t;
}

void oma_kept_filled(uint64_t stamp, uint64_t form, int ok)
{
    if (!ok) {
        for (kept **p = &head; *p; p = &(*p)->next)
            if ((*p)->stamp == stamp && (*p)->form == form) {
                kept *k = *p;
                *p = k->next;
                total -= k->bytes;
                oma_aligned_free(k->data);
                free(k);
                break;
            }
    }
    pthread_mutex_unlock(&mu);
}

void oma_kept_forget(uint64_t stamp)
{
    pthread_mutex_lock(&mu);
    for (kept **p = &head; *p;) {
        kept *k = *p;
        if ((k->stamp & OMA_STAMP_BASE) == (stamp & OMA_STAMP_BASE)) {   /* and derived ones */
            *p = k->next;
            if (!k->borrowed) {
                total -= k->bytes;
                oma_aligned_free(k->data);
            }
            free(k);
        } else {
            p = &k->next;
        }
    }
    for (handed **p = &handed_head; *p;) {
        handed *h = *p;
        if ((h->stamp & OMA_STAMP_BASE) == (stamp & OMA_STAMP_BASE)) {
            *p = h->next;
            free(h->desc);
            free(h);
        } else {
            p = &h->next;
        }
    }
    pthread_mutex_unlock(&mu);
}

int oma_cpu_keep_weights(int on)
{
    /* an explicit OMA_WEIGHT_CACHE_MB is the user's choice and outranks the caller's */
    long long mb;
    if (!on && cache_mb_from_env(&mb)) return -1;
    pthread_mutex_lock(&mu);
    keep_new = on != 0;
    pthread_mutex_unlock(&mu);
    return 0;
}

int oma_kept_keeping(void)
{
    pthread_mutex_lock(&mu);
    int on = keep_new && budget_bytes() > 0;
    pthread_mutex_unlock(&mu);
    return on;
}

size_t oma_cpu_handed_over_bytes(void)
{
    pthread_mutex_lock(&mu);
    size_t n = handed_total;
    pthread_mutex_unlock(&mu);
    return n;
}

size_t oma_cpu_kept_bytes(void)
{
    pthread_mutex_lock(&mu);
    size_t n = total;
    pthread_mutex_unlock(&mu);
    return n;
}
