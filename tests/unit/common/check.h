/* check.h — the plain-C tests' check: CHECK(cond) prints the file, line and condition of a
 * failed check and counts it in `failures`; main returns non-zero when it is not 0. Included
 * once per test program (it defines the counter). */
#ifndef OMA_TESTS_CHECK_H
#define OMA_TESTS_CHECK_H

#include <stdio.h>

static int failures;
#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
            failures++;                                                            \
        }                                                                          \
    } while (0)

#endif
