/* weights.c — helpers over the oma_weights interface (see weights.h). */
#include "nn/weights.h"

#include <stdio.h>
#include <string.h>

int oma_weights_join(char *buf, size_t len, const char *prefix, const char *part)
{
    int n = (prefix && *prefix) ? snprintf(buf, len, "%s.%s", prefix, part)
                                : snprintf(buf, len, "%s", part);
    return (n < 0 || (size_t)n >= len) ? -1 : 0;
}

int oma_weights_load(const oma_weights *w, const char *prefix, const char *suffix, int ndim,
                     const int64_t *shape, oma_tensor *t, char *err, size_t errlen)
{
    char name[512];
    if (oma_weights_join(name, sizeof name, prefix, suffix) != 0) {
        snprintf(err, errlen, "weights: name too long: %s.%s", prefix, suffix);
        return -1;
    }
    if (oma_tensor_alloc(t, ndim, shape) != 0) {
        snprintf(err, errlen, "weights: tensor '%s': cannot allocate", name);
        return -1;
    }
    if (w->read(w->ctx, name, ndim, shape, t->data, err, errlen) != 0) {
        oma_tensor_free(t);
        return -1;
    }
    return 0;
}

int oma_weights_has(const oma_weights *w, const char *prefix, const char *suffix)
{
    char name[512];
    if (oma_weights_join(name, sizeof name, prefix, suffix) != 0) return 0;
    return w->has(w->ctx, name);
}
