/* throttle.h — back-off for repeated failures (log-in attempts), per key, in fixed memory.
 *
 * A key (an account's lowercased email, a client address) may fail `free_failures` - 1 times
 * freely; the free_failures-th failure blocks it for 1 s, and each further one doubles the
 * block (2, 4, 8... s, up to max_block_s).
 * A key that has not failed for reset_s seconds starts over, and a success clears it. The
 * table is a fixed number of slots holding keyed hashes of the keys (a collision at worst
 * throttles two keys together), so a flood of new keys cannot grow memory: the slot least
 * recently touched in a small probe window is reused. Thread-safe.
 */
#ifndef OMA_SERVER_THROTTLE_H
#define OMA_SERVER_THROTTLE_H

#include <stdint.h>

typedef struct oma_throttle oma_throttle;

typedef struct oma_throttle_policy {
    int free_failures;   /* failures allowed before any wait */
    int max_block_s;     /* the longest single wait */
    int reset_s;         /* quiet time after which the key starts over */
} oma_throttle_policy;

/* NULL when out of memory. */
oma_throttle *oma_throttle_new(oma_throttle_policy policy);
void oma_throttle_free(oma_throttle *t);

/* 0 if key may try now, else the seconds to wait (>= 1). now_ms: a monotonic clock. */
int oma_throttle_wait_s(oma_throttle *t, const char *key, int64_t now_ms);
/* Counts one failure of key at now_ms. */
void oma_throttle_fail(oma_throttle *t, const char *key, int64_t now_ms);
/* Forgets key (after a success). */
void oma_throttle_clear(oma_throttle *t, const char *key);

/* Milliseconds on the monotonic clock. */
int64_t oma_throttle_now_ms(void);

#endif
