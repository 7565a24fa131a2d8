/* throttle.c — per-key failure back-off in a fixed table (see throttle.h).
 *
 * The idea: slots are found by a keyed 64-bit hash (SipHash-like via libsodium's shorthash,
 * with a random key per table, so a client cannot aim collisions); PROBE slots are looked at
 * from the hash's home slot, and a key not present takes the emptiest or stalest of them.
 */
#include "server/http/throttle.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS 4096   /* power of two */
#define PROBE 8

typedef struct slot {
    uint64_t h;          /* 0 = empty */
    int failures;
    int64_t last_ms;     /* the last failure */
    int64_t until_ms;    /* blocked until */
} slot;

struct oma_throttle {
    pthread_mutex_t mu;
    oma_throttle_policy p;
    unsigned char key[crypto_shorthash_KEYBYTES];
    slot s[SLOTS];
};

int64_t oma_throttle_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

oma_throttle *oma_throttle_new(oma_throttle_policy policy)
{
    if (sodium_init() < 0) return NULL;
    oma_throttle *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    if (pthread_mutex_init(&t->mu, NULL) != 0) {
        free(t);
        return NULL;
    }
    if (policy.free_failures < 0) policy.free_failures = 0;
    if (policy.max_block_s < 1) policy.max_block_s = 1;
    if (policy.reset_s < 1) policy.reset_s = 1;
    t->p = policy;
    crypto_shorthash_keygen(t->key);
    return t;
}

void oma_throttle_free(oma_throttle *t)
{
    if (!t) return;
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static uint64_t hash_key(const oma_throttle *t, const char *key)
{
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, (const unsigned char *)key, strlen(key), t->key);
    uint64_t h;
    memcpy(&h, out, sizeof h);
    return h ? h : 1;
}

/* 0 free, 1 in use and not blocked, 2 blocked. */
static int rank(const slot *s, int64_t now_ms)
{
    if (!s->h) return 0;
    return now_ms < s->until_ms ? 2 : 1;
}

/* The key's slot (or NULL) when create is 0; a slot made for it when create is 1. Locked. */
static slot *find(oma_throttle *t, uint64_t h, int64_t now_ms, int create)
{
    size_t home = (size_t)(h & (SLOTS - 1));
    slot *victim = NULL;
    for (size_t i = 0; i < PROBE; i++) {
        slot *s = &t->s[(home + i) & (SLOTS - 1)];
        int stale = s->h && now_ms - s->last_ms > (int64_t)t->p.reset_s * 1000 && now_ms >= s->until_ms;
        if (stale && s->h != h && create) memset(s, 0, sizeof *s);   /* free for reuse */
        if (s->h == h) {
            if (stale) memset(s, 0, sizeof *s);
            else return s;
            if (!create) return NULL;
            s->h = h;
            return s;
        }
        if (!create) continue;
        /* reuse, in order: an empty or stale slot; the least recently failed slot that is not
         * blocked; the blocked slot whose block ends first (so a flood of new keys cannot
         * easily push out a key that is being held back) */
        if (!victim || rank(s, now_ms) < rank(victim, now_ms) ||
            (rank(s, now_ms) == rank(victim, now_ms) &&
             (rank(s, now_ms) == 1 ? s->last_ms < victim->last_ms : s->until_ms < victim->until_ms)))
            victim = s;
    }
    if (!create || !victim) return NULL;
    memset(victim, 0, sizeof *victim);
    victim->h = h;
    return victim;
}

int oma_throttle_wait_s(oma_throttle *t, const char *key, int64_t now_ms)
{
    if (!t || !key) return 0;
    uint64_t h = hash_key(t, key);
    pthread_mutex_lock(&t->mu);
    slot *s = find(t, h, now_ms, 0);
    int64_t left = s ? s->until_ms - now_ms : 0;
    pthread_mutex_unlock(&t->mu);
    return left > 0 ? (int)((left + 999) / 1000) : 0;
}

void oma_throttle_fail(oma_throttle *t, const char *key, int64_t now_ms)
{
    if (!t || !key) return;
    uint64_t h = hash_key(t, key);
    pthread_mutex_lock(&t->mu);
    slot *s = find(t, h, now_ms, 1);
    if (s) {
        if (s->failures < 1000) s->failures++;
        s->last_ms = now_ms;
        int extra = s->failures - t->p.free_failures;
        if (extra >= 0) {
            int64_t wait = extra >= 20 ? t->p.max_block_s : ((int64_t)1 << extra);
            if (wait > t->p.max_block_s) wait = t->p.max_block_s;
            s->until_ms = now_ms + wait * 1000;
        }
    }
    pthread_mutex_unlock(&t->mu);
}

void oma_throttle_clear(oma_throttle *t, const char *key)
{
    if (!t || !key) return;
    uint64_t h = hash_key(t, key);
    pthread_mutex_lock(&t->mu);
    slot *s = find(t, h, 0, 0);
    if (s) memset(s, 0, sizeof *s);
    pthread_mutex_unlock(&t->mu);
}
