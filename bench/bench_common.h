/* bench_common.h — what the SD-sized benchmarks share: wall and CPU clocks, peak RSS, the
 * name hash their made-up weights are seeded from, and SD 1.5's UNet config. Header-only
 * (static inline), since each bench_*.c is its own program. */
#ifndef OMA_BENCH_COMMON_H
#define OMA_BENCH_COMMON_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "models/sd/unet.h"
#include "tensor/tensor.h"

static inline double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec * 1e-6;
}

static inline double peak_rss_gb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / (1024.0 * 1024.0);
}

static inline uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static inline void sd15_unet(oma_unet_config *c)
{
    memset(c, 0, sizeof *c);
    c->in_channels = c->out_channels = 4;
    c->sample_size = 64;
    c->n_blocks = 4;
    int ch[4] = {320, 640, 1280, 1280};
    for (int i = 0; i < 4; i++) {
        c->block_out_channels[i] = ch[i];
        c->attention_head_dim[i] = 8;
        strcpy(c->down_block_types[i], i < 3 ? "CrossAttnDownBlock2D" : "DownBlock2D");
        strcpy(c->up_block_types[i], i == 0 ? "UpBlock2D" : "CrossAttnUpBlock2D");
    }
    c->layers_per_block = 2;
    c->cross_attention_dim = 768;
    c->norm_num_groups = 32;
    c->norm_eps = 1e-5f;
    c->transformer_layers_per_block = 1;
    c->flip_sin_to_cos = 1;
    c->downsample_padding = 1;
    strcpy(c->act_fn, "silu");
}

/* Made-up weights read by name (uniform, scaled by 1/sqrt(fan-in); norm scales near 1),
 * seeded from the name so every run draws the same model. */
static inline int random_weight_read(void *ctx, const char *name, int ndim, const int64_t *shape, float *dst, char *err,
                    size_t errlen)
{
    (void)ctx, (void)err, (void)errlen;
    uint64_t s = hash(name) | 1;
    int64_t n = oma_shape_numel(ndim, shape);
    int norm_w = strstr(name, "norm") && strstr(name, ".weight");
    float amp = ndim >= 2 ? sqrtf(3.0f / (float)(n / shape[0])) : 0.05f;
    for (int64_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        float u = (float)((s >> 40) * (1.0 / 8388608.0)) - 1.0f;
        dst[i] = norm_w ? 1.0f + 0.05f * u : amp * u;
    }
    return 0;
}

static inline int random_weight_has(void *ctx, const char *name)
{
    (void)ctx, (void)name;
    return 1;
}

static inline void fill(oma_tensor *t, uint64_t seed)
{
    for (int64_t i = 0; i < oma_tensor_numel(t); i++) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        t->data[i] = (float)((seed >> 40) * (1.0 / 8388608.0)) - 1.0f;
    }
}

#endif
