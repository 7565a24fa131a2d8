/* fail.c — oma_fail, the shared "fill err and return -1" helper (see fail.h). */
#include "formats/fail.h"

#include <stdarg.h>
#include <stdio.h>

int oma_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}
