/* fail.h — the one error-message helper the formats, models and pipelines share: functions
 * that take (char *err, size_t errlen) fill it with a printf-style line and return -1. */
#ifndef OMA_FORMATS_FAIL_H
#define OMA_FORMATS_FAIL_H

#include <stddef.h>

/* snprintf into err when err is not NULL and errlen > 0; returns -1 so callers can
 * `return oma_fail(err, errlen, "...", ...)`. */
int oma_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
