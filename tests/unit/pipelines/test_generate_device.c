/* test_generate_device.c — a whole generation (tiny SD fixture model loaded from its diffusers
 * folder: CLIP text encoder, UNet, VAE; txt2img DDIM and img2img Euler a, CFG, batch 2) through
 * the device backend with the fake device of fake_device.h, against the same run on the CPU
 * backend. The fake's kernels ARE the CPU's, so the pictures must be equal byte for byte; what
 * this checks is the wiring a GPU run relies on: the model's weights and every activation were
 * made by the device allocator (no op saw host memory: host_unreachable 0), every forward op
 * of the three models went to a device kernel (host_ops 0), and a device failure mid-run comes
 * back from oma_generate as its one line. Real CUDA kernels are NOT exercised here (no GPU):
 * bench/cuda/run_on_device.sh runs the same comparison with `oma generate --device cuda`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fake_device.h"
#include "formats/image.h"
#include "models/sd/sd_model.h"
#include "pipelines/generate/generate.h"

static char root[1024];

static int run(oma_sd_model *m, const oma_image *init, oma_image out[2], char *err, size_t len)
{
    oma_generate_params p;
    oma_generate_defaults(&p);
    p.prompt = "a lighthouse on a cliff, ink";
    p.negative = "blurry";
    p.steps = 3;
    p.cfg = 7.5f;
    p.seed = 77;
    p.width = p.height = 64;
    p.batch = 2;
    p.sampler = init ? OMA_SAMPLER_EULER_A : OMA_SAMPLER_DDIM;
    p.init = init;
    memset(out, 0, 2 * sizeof *out);
    return oma_generate(m, &p, out, err, len);
}

static int same_images(const oma_image *a, const oma_image *b)
{
    return a->w == b->w && a->h == b->h && a->c == b->c &&
           memcmp(a->px, b->px, (size_t)a->w * a->h * a->c) == 0;
}

int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    snprintf(root, sizeof root, "%s/tests/fixtures/sd/tiny-sd", src ? src : ".");
    char err[512];
    oma_image init = {0};
    CHECK(oma_image_alloc(&init, 64, 64, 3) == 0);
    for (int i = 0; i < 64 * 64 * 3; i++) init.px[i] = (uint8_t)(i * 7 % 251);

    /* the CPU backend */
    oma_sd_model m;
    if (oma_sd_model_load(root, NULL, OMA_SD_LOAD_ENCODER, &m, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    oma_image cpu_t2i[2], cpu_i2i[2];
    CHECK(run(&m, NULL, cpu_t2i, err, sizeof err) == 0);
    CHECK(run(&m, &init, cpu_i2i, err, sizeof err) == 0);
    oma_sd_model_free(&m);

    /* the device backend: the model loaded after install, so its weights are device memory */
    CHECK(oma_devbackend_install(&fake_devops) == 0);
    long a0 = fake.allocs;
    if (oma_sd_model_load(root, NULL, OMA_SD_LOAD_ENCODER, &m, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    printf("  model load: %ld device allocations\n", fake.allocs - a0);
    CHECK(fake.allocs - a0 > 100);
    oma_devbackend_stats_reset();
    oma_image dev_t2i[2], dev_i2i[2];
    CHECK(run(&m, NULL, dev_t2i, err, sizeof err) == 0);
    CHECK(run(&m, &init, dev_i2i, err, sizeof err) == 0);
    oma_devbackend_stats st;
    oma_devbackend_stats_get(&st);
    printf("  txt2img + img2img: %llu ops on the device, %llu on the host (%llu with host memory, "
           "last at op %llu: %s), device memory peak %.1f MB\n",
           (unsigned long long)st.device_ops, (unsigned long long)st.host_ops,
           (unsigned long long)st.host_unreachable, (unsigned long long)st.last_host_op,
           st.last_host_why, st.peak_bytes / 1e6);
    CHECK(st.device_ops > 1000);
    CHECK(st.host_unreachable == 0);
    CHECK(st.host_ops == 0);
    for (int i = 0; i < 2; i++) {
        CHECK(same_images(&dev_t2i[i], &cpu_t2i[i]));
        CHECK(same_images(&dev_i2i[i], &cpu_i2i[i]));
    }

    /* a kernel failing mid-run: oma_generate fails with the device's line, no images */
    fake.fail_next = 1;
    oma_image bad[2];
    err[0] = 0;
    CHECK(run(&m, NULL, bad, err, sizeof err) == -1);
    printf("  injected failure: \"%s\"\n", err);
    CHECK(strstr(err, "fake: ") == err && strstr(err, "injected failure") != NULL);
    CHECK(bad[0].px == NULL && bad[1].px == NULL);

    oma_sd_model_free(&m);
    oma_devbackend_uninstall();
    CHECK(oma_devbackend_check(err, sizeof err) == 0);   /* on the CPU again: moot */
    for (int i = 0; i < 2; i++) {
        oma_image_free(&cpu_t2i[i]), oma_image_free(&cpu_i2i[i]);
        oma_image_free(&dev_t2i[i]), oma_image_free(&dev_i2i[i]);
    }
    oma_image_free(&init);
    oma_devbackend_stats_get(&st);
    CHECK(st.live_bytes == 0);     /* every device buffer was given back */
    return failures ? 1 : 0;
}
