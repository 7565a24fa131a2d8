/* sd_lora_lyco.c — LyCORIS LoHa and LoKr layers: check their tensors against the layer and
 * rebuild the full weight change at merge time.
 *
 * The idea (LyCORIS' own functional code, lycoris/functional/loha.py and lokr.py, as A1111 and
 * ComfyUI read the files):
 *   LoHa  dW = (w1_a @ w1_b) * (w2_a @ w2_b), Hadamard product; with hada_t1/t2 (Tucker, convs)
 *         each factor is t[i,j,kh,kw] contracted with w_a[i,out] and w_b[j,in].
 *         scale alpha / rank (rank = hada_w1_b's rows), 1 without alpha.
 *   LoKr  dW = kron(w1, w2), w1 = lokr_w1 or w1_a @ w1_b [a, c], w2 = lokr_w2 or w2_a @ w2_b [b, d(,k,k)]
 *         or Tucker (lokr_t2). out = a*b, in = c*d. scale alpha / rank (rank = the rows of lokr_w1_b,
 *         else of lokr_w2_b); 1 when both w1 and w2 are full matrices (LyCORIS sets alpha = rank
 *         then) or without alpha.
 * The change is built only when merged (one layer at a time), so a file never costs a second
 * copy of the model. Every shape is checked first: a mismatch, a missing half or a rank larger
 * than the layer is an error naming the key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/fail.h"
#include "models/sd/sd_lora_internal.h"
#include "tensor/backend.h"

static const char *const part_names[LY_N] = {
    "hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "hada_t1", "hada_t2",
    "lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b", "lokr_t2",
};

int lora_lyco_part(const char *suffix)
{
    for (int i = 0; i < LY_N; i++) {
        size_t n = strlen(part_names[i]);
        if (!strncmp(suffix, part_names[i], n) && (!suffix[n] || !strcmp(suffix + n, ".weight"))) return i;
    }
    return -1;
}

static void shape_str(const oma_tf_tensor *t, char *buf, size_t len)
{
    size_t o = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < t->ndim && o < len; i++) o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? "," : "", (long long)t->shape[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
}

typedef struct ctx {
    const char *path;
    const lora_target *lt;
    int64_t out, in, k, kk;
    char *err;
    size_t errlen;
} ctx;

static int bad(const ctx *c, const oma_tf_tensor *t, const char *why)
{
    char got[96], kern[48] = "";
    shape_str(t, got, sizeof got);
    if (c->lt->conv) snprintf(kern, sizeof kern, ", %lldx%lld", (long long)c->k, (long long)c->k);
    return oma_fail(c->err, c->errlen, "%s: tensor '%s': shape %s %s (%s: %s %lld->%lld%s)", c->path, t->name, got, why,
                    c->lt->name, c->lt->conv ? "conv" : "linear", (long long)c->in, (long long)c->out, kern);
}

/* A rank must be at least 1 and no larger than the layer's own. */
static int rank_ok(const ctx *c, int64_t r) { return r >= 1 && r <= (c->out > c->in * c->kk ? c->out : c->in * c->kk); }

/* [rows, cols] as a 2-D tensor or a 4-D [rows, cols, 1, 1]. */
static int is_mat(const oma_tf_tensor *t, int64_t rows, int64_t cols)
{
    if (t->ndim == 2) return t->shape[0] == rows && t->shape[1] == cols;
    return t->ndim == 4 && t->shape[0] == rows && t->shape[1] == cols && t->shape[2] == 1 && t->shape[3] == 1;
}

/* [rows, n*kk] as 2-D, or [rows, n, k, k]. */
static int is_wide(const ctx *c, const oma_tf_tensor *t, int64_t rows, int64_t n)
{
    if (t->ndim == 2) return t->shape[0] == rows && t->shape[1] == n * c->kk;
    return t->ndim == 4 && t->shape[0] == rows && t->shape[1] == n && t->shape[2] == c->k && t->shape[3] == c->k;
}

static int is_core(const ctx *c, const oma_tf_tensor *t, int64_t r)
{
    return t->ndim == 4 && t->shape[0] == r && t->shape[1] == r && t->shape[2] == c->k && t->shape[3] == c->k;
}

static int missing(const ctx *c, const oma_tf_tensor *have, const char *what)
{
    return oma_fail(c->err, c->errlen, "%s: tensor '%s': %s is missing", c->path, have->name, what);
}

static const oma_tf_tensor *any_part(const oma_tf_tensor *const *ly)
{
    for (int i = 0; i < LY_N; i++)
        if (ly[i]) return ly[i];
    return NULL;
}

static int check_loha(const ctx *c, const oma_tf_tensor *const *ly, lora_delta *d)
{
    for (int i = LY_HW1A; i <= LY_HW2B; i++)
        if (!ly[i]) return missing(c, any_part(ly), part_names[i]);
    if (!ly[LY_HT1] != !ly[LY_HT2]) return missing(c, ly[LY_HT1] ? ly[LY_HT1] : ly[LY_HT2], ly[LY_HT1] ? "hada_t2" : "hada_t1");
    int tucker = ly[LY_HT1] != NULL;
    if (tucker && !c->lt->conv) return oma_fail(c->err, c->errlen, "%s: tensor '%s': a Tucker core on a linear layer (%s)", c->path, ly[LY_HT1]->name, c->lt->name);
    for (int h = 0; h < 2; h++) {
        const oma_tf_tensor *a = ly[LY_HW1A + 2 * h], *b = ly[LY_HW1B + 2 * h], *t = ly[LY_HT1 + h];
        int64_t r = a->ndim >= 2 ? (tucker ? a->shape[0] : a->shape[1]) : 0;
        if (!rank_ok(c, r)) return bad(c, a, "has a rank of 0 or above the layer's");
        if (tucker) {
            if (!(a->ndim == 2 && a->shape[0] == r && a->shape[1] == c->out)) return bad(c, a, "does not fit");
            if (!(b->ndim == 2 && b->shape[0] == r && b->shape[1] == c->in)) return bad(c, b, "does not fit");
            if (!is_core(c, t, r)) return bad(c, t, "does not fit");
        } else {
            if (!is_mat(a, c->out, r)) return bad(c, a, "does not fit");
            if (!is_wide(c, b, r, c->in)) return bad(c, b, "does not fit");
        }
    }
    d->kind = LORA_LOHA;
    return 0;
}

static int check_lokr(const ctx *c, const oma_tf_tensor *const *ly, lora_delta *d)
{
    const oma_tf_tensor *w1 = ly[LY_KW1], *w1a = ly[LY_KW1A], *w1b = ly[LY_KW1B];
    const oma_tf_tensor *w2 = ly[LY_KW2], *w2a = ly[LY_KW2A], *w2b = ly[LY_KW2B], *t2 = ly[LY_KT2];
    const oma_tf_tensor *some = any_part(ly);
    if (w1 && (w1a || w1b)) return oma_fail(c->err, c->errlen, "%s: tensor '%s': both lokr_w1 and lokr_w1_a/_b", c->path, w1->name);
    if (w2 && (w2a || w2b || t2)) return oma_fail(c->err, c->errlen, "%s: tensor '%s': both lokr_w2 and lokr_w2_a/_b", c->path, w2->name);
    if (!w1 && !(w1a && w1b)) return missing(c, some, w1a ? "lokr_w1_b" : w1b ? "lokr_w1_a" : "lokr_w1");
    if (!w2 && !(w2a && w2b)) return missing(c, some, w2a ? "lokr_w2_b" : w2b ? "lokr_w2_a" : "lokr_w2");
    if (t2 && !c->lt->conv) return oma_fail(c->err, c->errlen, "%s: tensor '%s': a Tucker core on a linear layer (%s)", c->path, t2->name, c->lt->name);
    int64_t a, cc, b, dd;
    if (w1) {
        if (w1->ndim != 2 || w1->shape[0] < 1 || w1->shape[1] < 1) return bad(c, w1, "is not a matrix");
        a = w1->shape[0], cc = w1->shape[1];
    } else {
        if (w1a->ndim != 2 || w1b->ndim != 2 || w1a->shape[1] != w1b->shape[0]) return bad(c, w1b, "does not fit lokr_w1_a");
        if (!rank_ok(c, w1b->shape[0])) return bad(c, w1b, "has a rank of 0 or above the layer's");
        a = w1a->shape[0], cc = w1b->shape[1];
    }
    if (a < 1 || cc < 1 || c->out % a || c->in % cc) return bad(c, w1 ? w1 : w1a, "does not divide the weight");
    b = c->out / a, dd = c->in / cc;
    if (w2) {
        if (!is_wide(c, w2, b, dd)) return bad(c, w2, "does not fit: kron(w1, w2) must be the weight's shape");
    } else if (t2) {
        int64_t r = w2a->ndim == 2 ? w2a->shape[0] : 0;
        if (!rank_ok(c, r)) return bad(c, w2a, "has a rank of 0 or above the layer's");
        if (w2a->shape[1] != b) return bad(c, w2a, "does not fit: kron(w1, w2) must be the weight's shape");
        if (!(w2b->ndim == 2 && w2b->shape[0] == r && w2b->shape[1] == dd)) return bad(c, w2b, "does not fit");
        if (!is_core(c, t2, r)) return bad(c, t2, "does not fit");
    } else {
        int64_t r = w2a->ndim == 2 ? w2a->shape[1] : 0;
        if (!rank_ok(c, r)) return bad(c, w2a, "has a rank of 0 or above the layer's");
        if (w2a->shape[0] != b) return bad(c, w2a, "does not fit: kron(w1, w2) must be the weight's shape");
        if (!is_wide(c, w2b, r, dd)) return bad(c, w2b, "does not fit");
    }
    d->kind = LORA_LOKR;
    d->ka = a, d->kb = b, d->kc = cc, d->kd = dd;
    return 0;
}

int lora_lyco_check(const char *path, const lora_target *lt, const oma_tf_tensor *const *ly,
                    const oma_tf_tensor *alpha, lora_delta *d, char *err, size_t errlen)
{
    ctx c = {path, lt, lora_target_out(lt), lt->conv ? lt->conv->in : lora_target_in(lt), lt->conv ? lt->conv->k : 1, 1,
             err, errlen};
    c.kk = c.k * c.k;
    int loha = 0, lokr = 0;
    for (int i = 0; i < LY_N; i++) {
        if (!ly[i]) continue;
        if (i <= LY_HT2) loha = 1;
        else lokr = 1;
        if (ly[i]->ndim != 2 && ly[i]->ndim != 4) return bad(&c, ly[i], "is neither 2-D nor 4-D");
    }
    if (loha && lokr) return oma_fail(err, errlen, "%s: tensor '%s': LoHa and LoKr keys for one layer", path, any_part(ly)->name);
    memset(d->ly, 0, sizeof d->ly);
    if (loha ? check_loha(&c, ly, d) : check_lokr(&c, ly, d)) return -1;
    memcpy(d->ly, ly, sizeof d->ly);
    d->up = d->down = NULL;
    int64_t rank = 0;
    if (loha) rank = ly[LY_HW1B]->shape[0];
    else if (ly[LY_KW1B]) rank = ly[LY_KW1B]->shape[0];
    else if (ly[LY_KW2B]) rank = ly[LY_KW2B]->shape[0];
    d->scale = 1.0f;
    if (alpha) {
        if (alpha->numel != 1) return oma_fail(err, errlen, "%s: tensor '%s': alpha must be a scalar", path, alpha->name);
        if (rank > 0) d->scale = alpha->data[0] / (float)rank;
    }
    return 0;
}

/* m[rows, cols] = a[rows, r] @ b[r, cols] */
static void matmul(int64_t rows, int64_t cols, int64_t r, const float *a, const float *b, float *m)
{
    oma_backend_current()->gemm(0, 0, rows, cols, r, 1.0f, a, r, b, cols, 0.0f, m, cols);
}

/* Tucker rebuild: m[p, q, kk] = sum_i sum_j t[i, j, kk] wa[i, p] wb[j, q]. */
static int tucker(int64_t r, int64_t p, int64_t q, int64_t kk, const float *t, const float *wa, const float *wb, float *m)
{
    float *tmp = malloc((size_t)(r * q * kk) * sizeof *tmp);     /* tmp[i, q, kk] = sum_j t[i,j,kk] wb[j,q] */
    if (!tmp) return -1;
    for (int64_t i = 0; i < r; i++)
        for (int64_t y = 0; y < q; y++)
            for (int64_t s = 0; s < kk; s++) {
                float acc = 0;
                for (int64_t j = 0; j < r; j++) acc += t[(i * r + j) * kk + s] * wb[j * q + y];
                tmp[(i * q + y) * kk + s] = acc;
            }
    oma_backend_current()->gemm(1, 0, p, q * kk, r, 1.0f, wa, p, tmp, q * kk, 0.0f, m, q * kk);
    free(tmp);
    return 0;
}

int lora_lyco_delta(const lora_target *lt, const lora_delta *d, float *out)
{
    int64_t O = lora_target_out(lt), N = lora_target_in(lt), k = lt->conv ? lt->conv->k : 1, kk = k * k;
    int64_t I = N / kk;
    const oma_tf_tensor *const *ly = d->ly;
    if (d->kind == LORA_LOHA) {
        float *m2 = malloc((size_t)(O * N) * sizeof *m2);
        if (!m2) return -1;
        int rc = 0;
        if (ly[LY_HT1]) {
            int64_t r1 = ly[LY_HT1]->shape[0], r2 = ly[LY_HT2]->shape[0];
            rc = tucker(r1, O, I, kk, ly[LY_HT1]->data, ly[LY_HW1A]->data, ly[LY_HW1B]->data, out);
            if (!rc) rc = tucker(r2, O, I, kk, ly[LY_HT2]->data, ly[LY_HW2A]->data, ly[LY_HW2B]->data, m2);
        } else {
            matmul(O, N, ly[LY_HW1B]->shape[0], ly[LY_HW1A]->data, ly[LY_HW1B]->data, out);
            matmul(O, N, ly[LY_HW2B]->shape[0], ly[LY_HW2A]->data, ly[LY_HW2B]->data, m2);
        }
        for (int64_t i = 0; !rc && i < O * N; i++) out[i] *= m2[i];
        free(m2);
        return rc;
    }
    int64_t a = d->ka, b = d->kb, c = d->kc, dd = d->kd, w2n = dd * kk;
    float *w1 = malloc((size_t)(a * c) * sizeof *w1), *w2 = malloc((size_t)(b * w2n) * sizeof *w2);
    int rc = (!w1 || !w2) ? -1 : 0;
    if (!rc) {
        if (ly[LY_KW1]) memcpy(w1, ly[LY_KW1]->data, (size_t)(a * c) * sizeof *w1);
        else matmul(a, c, ly[LY_KW1B]->shape[0], ly[LY_KW1A]->data, ly[LY_KW1B]->data, w1);
        if (ly[LY_KW2]) memcpy(w2, ly[LY_KW2]->data, (size_t)(b * w2n) * sizeof *w2);
        else if (ly[LY_KT2]) rc = tucker(ly[LY_KT2]->shape[0], b, dd, kk, ly[LY_KT2]->data, ly[LY_KW2A]->data, ly[LY_KW2B]->data, w2);
        else matmul(b, w2n, ly[LY_KW2B]->shape[0], ly[LY_KW2A]->data, ly[LY_KW2B]->data, w2);
    }
    /* kron: W[i*b + p, (j*d + q)*kk + s] = w1[i, j] * w2[p, q*kk + s] */
    for (int64_t i = 0; !rc && i < a; i++)
        for (int64_t p = 0; p < b; p++) {
            float *row = out + (i * b + p) * N;
            for (int64_t j = 0; j < c; j++) {
                float v = w1[i * c + j];
                const float *src = w2 + p * w2n;
                float *dst = row + j * w2n;
                for (int64_t x = 0; x < w2n; x++) dst[x] = v * src[x];
            }
        }
    free(w1);
    free(w2);
    return rc;
}
