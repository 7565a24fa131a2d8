/* style_train_history.c — the style.train job's loss history (style_train_job.h): a list of
 * (total_step, loss) that a resumed run continues without duplicates. */
#include "pipelines/style/style_train_job.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t first_at_or_after(const oma_loss_history *h, int step)
{
    size_t n = h->n;
    while (n > 0 && h->step[n - 1] >= step) n--;
    return n;
}

int oma_loss_history_add(oma_loss_history *h, int step, float loss)
{
    h->n = first_at_or_after(h, step);
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 256;
        int *s = realloc(h->step, cap * sizeof *s);
        if (!s) return -1;
        h->step = s;
        float *l = realloc(h->loss, cap * sizeof *l);
        if (!l) return -1;
        h->loss = l;
        h->cap = cap;
    }
    h->step[h->n] = step;
    h->loss[h->n] = loss;
    h->n++;
    return 0;
}

void oma_loss_history_cut(oma_loss_history *h, int step)
{
    h->n = first_at_or_after(h, step + 1);
}

json_t *oma_loss_history_json(const oma_loss_history *h)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < h->n; i++) {
        json_t *loss = isfinite(h->loss[i]) ? json_real(h->loss[i]) : json_null();
        if (json_array_append_new(a, json_pack("[i,o]", h->step[i], loss)) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

int oma_loss_history_from_json(oma_loss_history *h, const json_t *j, char *err, size_t errlen)
{
    h->n = 0;
    if (!json_is_array(j) || json_array_size(j) > 4 * OMA_TRAIN_MAX_STAGE_STEPS) {
        snprintf(err, errlen, "the loss history is not a list of at most %d entries", 4 * OMA_TRAIN_MAX_STAGE_STEPS);
        return -1;
    }
    size_t i;
    const json_t *e;
    int last = -1;
    json_array_foreach(j, i, e) {
        const json_t *s = json_array_get(e, 0), *l = json_array_get(e, 1);
        if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_integer(s) || json_integer_value(s) <= last ||
            json_integer_value(s) > 1000000 || !(json_is_number(l) || json_is_null(l))) {
            snprintf(err, errlen, "loss history entry %zu is not [step, loss] with rising steps", i);
            h->n = 0;
            return -1;
        }
        last = (int)json_integer_value(s);
        if (oma_loss_history_add(h, last, json_is_null(l) ? NAN : (float)json_number_value(l)) != 0) {
            snprintf(err, errlen, "out of memory");
            h->n = 0;
            return -1;
        }
    }
    return 0;
}

void oma_loss_history_free(oma_loss_history *h)
{
    free(h->step);
    free(h->loss);
    memset(h, 0, sizeof *h);
}
