/* adamw.h — the AdamW optimizer with torch.optim.AdamW's exact semantics (torch 1.13, the
 * single-tensor path), parameter groups with their own learning rate, and gradient clipping by
 * global norm (torch.nn.utils.clip_grad_norm_).
 *
 * Per update of a parameter p with gradient g (step t counted per parameter, from 1):
 *   p *= 1 - lr*wd;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g;
 *   p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)       (eps outside the sqrt)
 * The scalars are formed in double as Python does and rounded to float where torch passes them
 * to a float kernel. The optimizer does not own the parameters or gradients, only the moments.
 */
#ifndef OMA_TRAIN_ADAMW_H
#define OMA_TRAIN_ADAMW_H

#include <stdint.h>

#define OMA_ADAMW_MAX_GROUPS 8

typedef struct oma_adamw_group {
    double lr;              /* the current learning rate (base_lr x schedule factor) */
    double base_lr;
    double weight_decay;
} oma_adamw_group;

typedef struct oma_adamw_param {
    float *p;               /* the parameter (not owned) */
    float *g;               /* its gradient (not owned) */
    float *m, *v;           /* first and second moments (owned, zero at the start) */
    int64_t n;
    int group;
    int64_t step;           /* updates done on this parameter */
} oma_adamw_param;

typedef struct oma_adamw {
    double beta1, beta2, eps;
    int n_groups;
    oma_adamw_group groups[OMA_ADAMW_MAX_GROUPS];
    int n_params, cap;
    oma_adamw_param *params;
} oma_adamw;

/* torch's defaults are (0.9, 0.999, 1e-8). */
void oma_adamw_init(oma_adamw *o, double beta1, double beta2, double eps);
void oma_adamw_free(oma_adamw *o);
/* A new group; returns its index, -1 when there are too many. */
int oma_adamw_add_group(oma_adamw *o, double lr, double weight_decay);
/* Registers n floats at p with gradient g in a group; 0, or -1 (bad group/size, no memory). */
int oma_adamw_add_param(oma_adamw *o, int group, float *p, float *g, int64_t n);
/* Sets every group's lr to base_lr x factor (what torch's LambdaLR does). */
void oma_adamw_set_factor(oma_adamw *o, double factor);
/* One update of every registered parameter. */
void oma_adamw_step(oma_adamw *o);

/* clip_grad_norm_(params, max_norm): total = L2 norm over all n[i] floats of g[i];
 * every gradient is multiplied by min(1, max_norm / (total + 1e-6)). Returns total. */
double oma_clip_grad_norm(float *const *g, const int64_t *n, int count, double max_norm);
/* The same over every parameter registered with the optimizer. */
double oma_adamw_clip_grad_norm(oma_adamw *o, double max_norm);

#endif
