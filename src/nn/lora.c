/* lora.c — trainable LoRA adapters (see lora.h): create, zero the gradients, free, and the
 * forward's low-rank addition, two GEMMs through the backend (x down^T, then (.) up^T added
 * into y with beta 1). */
#include "nn/lora.h"

#include <string.h>

#include "tensor/backend.h"

int oma_lora_init(oma_lora *l, int64_t in, int64_t out, int64_t rank, float scale,
                  oma_randn_fn randn, void *rng_ctx)
{
    memset(l, 0, sizeof *l);
    if (in < 1 || out < 1 || rank < 1 || rank > in || rank > out) return -1;
    l->rank = rank;
    l->in = in;
    l->out = out;
    l->scale = scale;
    if (oma_tensor_alloc4(&l->down, 2, rank, in, 0, 0) != 0 ||
        oma_tensor_alloc4(&l->up, 2, out, rank, 0, 0) != 0 ||
        oma_tensor_alloc4(&l->g_down, 2, rank, in, 0, 0) != 0 ||
        oma_tensor_alloc4(&l->g_up, 2, out, rank, 0, 0) != 0) {
        oma_lora_free(l);
        return -1;
    }
    if (randn) {
        float std = 1.0f / (float)rank;
        for (int64_t i = 0; i < rank * in; i++) l->down.data[i] = std * randn(rng_ctx);
    }
    return 0;
}

void oma_lora_zero_grad(oma_lora *l)
{
    if (l->g_down.data) memset(l->g_down.data, 0, sizeof(float) * (size_t)(l->rank * l->in));
    if (l->g_up.data) memset(l->g_up.data, 0, sizeof(float) * (size_t)(l->out * l->rank));
}

void oma_lora_free(oma_lora *l)
{
    oma_tensor_free(&l->down);
    oma_tensor_free(&l->up);
    oma_tensor_free(&l->g_down);
    oma_tensor_free(&l->g_up);
    memset(l, 0, sizeof *l);
}

int oma_lora_forward_add(const oma_lora *l, const oma_tensor *x, oma_tensor *y)
{
    if (x->ndim < 1 || y->ndim < 1 || x->shape[x->ndim - 1] != l->in ||
        y->shape[y->ndim - 1] != l->out || !l->down.data || !l->up.data)
        return -1;
    int64_t rows = oma_tensor_numel(x) / l->in;
    if (rows < 0 || oma_tensor_numel(y) != rows * l->out) return -1;
    if (rows == 0) return 0;
    float *h = oma_aligned_alloc(sizeof(float) * (size_t)(rows * l->rank));
    if (!h) return -1;
    const oma_backend *be = oma_backend_current();
    be->gemm(0, 1, rows, l->rank, l->in, 1.0f, x->data, l->in, l->down.data, l->in, 0.0f, h,
             l->rank);
    be->gemm(0, 1, rows, l->out, l->rank, l->scale, h, l->rank, l->up.data, l->rank, 1.0f,
             y->data, l->out);
    oma_aligned_free(h);
    return 0;
}
