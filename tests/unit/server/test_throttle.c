/* test_throttle.c — the log-in back-off table: free failures, then 1, 2, 4... s up to the
 * cap; a success clears the key; a quiet key starts over; a flood of other keys does not push
 * out a key that is held back, and memory stays fixed. Time is passed in, so nothing sleeps. */
#include <stdio.h>
#include <string.h>

#include "server/http/throttle.h"

#include "check.h"

int main(void)
{
    oma_throttle *t = oma_throttle_new((oma_throttle_policy){3, 8, 60});
    CHECK(t != NULL);
    if (!t) return 1;
    int64_t now = 1000000;
    CHECK(oma_throttle_wait_s(t, "kim@example.com", now) == 0);
    oma_throttle_fail(t, "kim@example.com", now);
    oma_throttle_fail(t, "kim@example.com", now);
    CHECK(oma_throttle_wait_s(t, "kim@example.com", now) == 0);
    oma_throttle_fail(t, "kim@example.com", now);   /* the 3rd: 1 s */
    CHECK(oma_throttle_wait_s(t, "kim@example.com", now) == 1);
    CHECK(oma_throttle_wait_s(t, "lee@example.com", now) == 0);
    now += 1000;
    CHECK(oma_throttle_wait_s(t, "kim@example.com", now) == 0);
    oma_throttle_fail(t, "kim@example.com", now);   /* 2 s */
    CHECK(oma_throttle_wait_s(t, "kim@example.com", now) == 2);
    CHECK(oma_throttle_wait_s(t, "kim@example.com", now + 1500) == 1);
    for (int i = 0; i < 10; i++) oma_throttle_fail(t, "kim@example.com", now);
    CHECK(oma_throttle_wait_s(t, "kim@example.com", now) == 8);   /* the cap */
    /* other keys flood the table: the held-back key stays held back */
    char key[64];
    for (int i = 0; i < 200000; i++) {
        snprintf(key, sizeof key, "flood-%d", i);
        oma_throttle_fail(t, key, now);
    }
    CHECK(oma_throttle_wait_s(t, "kim@example.com", now) == 8);
    oma_throttle_clear(t, "kim@example.com");
    CHECK(oma_throttle_wait_s(t, "kim@example.com", now) == 0);
    /* quiet for longer than reset_s: starts over */
    for (int i = 0; i < 3; i++) oma_throttle_fail(t, "ann@example.com", now);
    CHECK(oma_throttle_wait_s(t, "ann@example.com", now) == 1);
    now += 61000;
    CHECK(oma_throttle_wait_s(t, "ann@example.com", now) == 0);
    oma_throttle_fail(t, "ann@example.com", now);
    CHECK(oma_throttle_wait_s(t, "ann@example.com", now) == 0);
    oma_throttle_free(t);
    if (failures) {
        fprintf(stderr, "test_throttle: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_throttle: ok\n");
    return 0;
}
