/* bench_animate.c — one AnimateAnyone denoising step at SD 1.5 shapes, random weights.
 *
 * `bench_animate [W H]` (default 512 768): the ReferenceNet pass once (t = 0, batch 1, what
 * the whole run shares), then two guided denoiser calls (batch 2 = uncond + cond; the cond row
 * attends to its own tokens plus the reference bank, the uncond row to its own) with
 * PoseGuider-sized features added after conv_in. The first call also prepares kept weights;
 * the second is what every later step costs. Prints the times, peak RSS and the projected
 * 20-step time (reference pass + 20 steady steps). tools/bench_torch_animate.py runs Moore's
 * own code on the same shapes; bench/run.sh prints the ratio.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "models/animate/aa_model.h"
#include "tensor/cpu/blas.h"

int main(int argc, char **argv)
{
    oma_blas_fix_coretype();
    oma_blas_init();
    int W = argc > 2 ? atoi(argv[1]) : 512, H = argc > 2 ? atoi(argv[2]) : 768;
    if (W < 64 || H < 64 || W % 64 || H % 64) {
        fprintf(stderr, "usage: bench_animate [W H] (multiples of 64)\n");
        return 2;
    }
    oma_weights w = {.ctx = NULL, .read = random_weight_read, .has = random_weight_has};
    oma_aa_model m;
    memset(&m, 0, sizeof m);
    sd15_unet(&m.unet_cfg);
    char err[512];
    double t0 = now();
    if (oma_unet_load(&m.den, &w, "den", &m.unet_cfg, err, sizeof err) != 0 ||
        oma_unet_load_body(&m.ref, &w, "ref", &m.unet_cfg, err, sizeof err) != 0) {
        fprintf(stderr, "bench_animate: %s\n", err);
        return 1;
    }
    m.loaded = 1;
    double tl = now() - t0;
    oma_arena ar;
    oma_arena_init(&ar, 0);
    int64_t h = H / 8, wd = W / 8;
    oma_tensor lat, ref, emb, pf, v;
    oma_arena_tensor(&ar, &lat, 4, (int64_t[]){1, 4, h, wd});
    oma_arena_tensor(&ar, &ref, 4, (int64_t[]){1, 4, h, wd});
    oma_arena_tensor(&ar, &emb, 2, (int64_t[]){1, 768});
    oma_arena_tensor(&ar, &pf, 4, (int64_t[]){1, 320, h, wd});
    fill(&lat, 1), fill(&ref, 2), fill(&emb, 3), fill(&pf, 4);
    oma_ref_bank bank = {0};
    t0 = now();
    if (oma_aa_reference(&m, &ref, &emb, &bank, &ar, err, sizeof err) != 0) {
        fprintf(stderr, "bench_animate: %s\n", err);
        return 1;
    }
    double tr = now() - t0, ts[2] = {0, 0};
    for (int pass = 0; pass < 2; pass++) {
        oma_arena_mark mk = oma_arena_get_mark(&ar);
        t0 = now();
        if (oma_aa_denoise(&m, &lat, 500.0f, &emb, &pf, &bank, 3.5f, &ar, &v, err, sizeof err) != 0) {
            fprintf(stderr, "bench_animate: %s\n", err);
            return 1;
        }
        ts[pass] = now() - t0;
        oma_arena_release(&ar, mk);
    }
    printf("aa_step_sd15 %dx%d load %.2f reference %.2f step_first %.2f step %.2f RSS %.2f GB projected_20 %.0f s\n",
           W, H, tl, tr, ts[0], ts[1], peak_rss_gb(), tr + 20 * ts[1]);
    oma_ref_bank_free(&bank);
    oma_arena_destroy(&ar);
    oma_aa_model_free(&m);
    return 0;
}
