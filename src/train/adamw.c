/* adamw.c — AdamW and global-norm gradient clipping, torch's semantics (see adamw.h). */
#include "train/adamw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void oma_adamw_init(oma_adamw *o, double beta1, double beta2, double eps)
{
    memset(o, 0, sizeof *o);
    o->beta1 = beta1;
    o->beta2 = beta2;
    o->eps = eps;
}

void oma_adamw_free(oma_adamw *o)
{
    for (int i = 0; i < o->n_params; i++) {
        free(o->params[i].m);
        free(o->params[i].v);
    }
    free(o->params);
    memset(o, 0, sizeof *o);
}

int oma_adamw_add_group(oma_adamw *o, double lr, double weight_decay)
{
    if (o->n_groups >= OMA_ADAMW_MAX_GROUPS)
        return -1;
    oma_adamw_group *g = &o->groups[o->n_groups];
    g->lr = g->base_lr = lr;
    g->weight_decay = weight_decay;
    return o->n_groups++;
}

int oma_adamw_add_param(oma_adamw *o, int group, float *p, float *g, int64_t n)
{
    if (group < 0 || group >= o->n_groups || !p || !g || n <= 0 || (uint64_t)n > SIZE_MAX / 4)
        return -1;
    if (o->n_params == o->cap) {
        int cap = o->cap ? o->cap * 2 : 16;
        oma_adamw_param *np = realloc(o->params, (size_t)cap * sizeof *np);
        if (!np)
            return -1;
        o->params = np;
        o->cap = cap;
    }
    oma_adamw_param *q = &o->params[o->n_params];
    memset(q, 0, sizeof *q);
    q->m = calloc((size_t)n, sizeof(float));
    q->v = calloc((size_t)n, sizeof(float));
    if (!q->m || !q->v) {
        free(q->m);
        free(q->v);
        return -1;
    }
    q->p = p;
    q->g = g;
    q->n = n;
    q->group = group;
    o->n_params++;
    return 0;
}

void oma_adamw_set_factor(oma_adamw *o, double factor)
{
    for (int i = 0; i < o->n_groups; i++)
        o->groups[i].lr = o->groups[i].base_lr * factor;
}

static void step_one(const oma_adamw *o, oma_adamw_param *q)
{
    const oma_adamw_group *gr = &o->groups[q->group];
    q->step++;
    double lr = gr->lr;
    /* the Python-side scalars, in double, then handed to float kernels */
    float decay = (float)(1.0 - lr * gr->weight_decay);
    float b1 = (float)o->beta1, one_b1 = (float)(1.0 - o->beta1);
    float b2 = (float)o->beta2, one_b2 = (float)(1.0 - o->beta2);
    double bc1 = 1.0 - pow(o->beta1, (double)q->step);
    double bc2 = 1.0 - pow(o->beta2, (double)q->step);
    float neg_step = (float)(-(lr / bc1));
    float bc2_sqrt = (float)sqrt(bc2);
    float eps = (float)o->eps;
    float *p = q->p, *m = q->m, *v = q->v;
    const float *g = q->g;
    for (int64_t i = 0; i < q->n; i++) {
        float gi = g[i];
        p[i] *= decay;
        m[i] = m[i] * b1 + one_b1 * gi;
        v[i] = v[i] * b2 + one_b2 * gi * gi;
        float denom = sqrtf(v[i]) / bc2_sqrt + eps;
        p[i] = p[i] + neg_step * (m[i] / denom);
    }
}

void oma_adamw_step(oma_adamw *o)
{
    for (int i = 0; i < o->n_params; i++)
        step_one(o, &o->params[i]);
}

static double scale_coef(double total, double max_norm)
{
    /* torch keeps these in float tensors */
    float coef = (float)max_norm / ((float)total + 1e-6f);
    return coef > 1.0f ? 1.0f : coef;
}

double oma_clip_grad_norm(float *const *g, const int64_t *n, int count, double max_norm)
{
    double sq = 0;
    for (int i = 0; i < count; i++)
        for (int64_t j = 0; j < n[i]; j++)
            sq += (double)g[i][j] * g[i][j];
    double total = sqrt(sq);
    float coef = (float)scale_coef(total, max_norm);
    for (int i = 0; i < count; i++)
        for (int64_t j = 0; j < n[i]; j++)
            g[i][j] *= coef;
    return total;
}

double oma_adamw_clip_grad_norm(oma_adamw *o, double max_norm)
{
    double sq = 0;
    for (int i = 0; i < o->n_params; i++)
        for (int64_t j = 0; j < o->params[i].n; j++)
            sq += (double)o->params[i].g[j] * o->params[i].g[j];
    double total = sqrt(sq);
    float coef = (float)scale_coef(total, max_norm);
    for (int i = 0; i < o->n_params; i++)
        for (int64_t j = 0; j < o->params[i].n; j++)
            o->params[i].g[j] *= coef;
    return total;
}
