/* test_lora_bad.c — broken and hostile LoRA / embedding files: a clear error naming the file and
 * the key, nothing executed, the model untouched (all or nothing), no crash.
 *
 * Files are written here (safetensors through the writer, torch zips by hand): a wrong shape, an
 * SDXL LoRA (lora_te1_ keys; a 2048-wide cross-attention), NaN and Inf values, an unknown key, a
 * missing half, an embedding of the wrong width, a pickle naming os.system / builtins.eval /
 * torch.nn.Parameter, a truncated zip, a compressed entry, a tensor view beyond its storage;
 * then a good LoRA together with a bad file must leave every weight, the embedding table and the
 * tokenizer as they were. The safe pickle reader is also checked on the fixtures' A1111 .pt and
 * diffusers .bin, and fed 2000 random mutations of the .pt (ASan watches).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/safetensors.h"
#include "formats/tensor_file.h"
#include "formats/torch_pickle.h"
#include "models/sd/sd_lora_internal.h"

#include "check.h"

static char tmp[] = "/tmp/oma-lora-bad-XXXXXX", lroot[1024];

/* FNV-1a over every LoRA-reachable weight, the token table and the tokenizer's added count. */
static uint64_t model_hash(oma_sd_model *m)
{
    lora_targets tt;
    char err[256];
    uint64_t h = 1469598103934665603ull;
    if (lora_targets_build(m, &tt, err, sizeof err) != 0) return 0;
    for (size_t i = 0; i < tt.n; i++) {
        const oma_tensor *w = tt.t[i].lin ? &tt.t[i].lin->w : &tt.t[i].conv->w;
        const uint8_t *p = (const uint8_t *)w->data;
        for (size_t j = 0; j < (size_t)oma_tensor_numel(w) * 4; j++) h = (h ^ p[j]) * 1099511628211ull;
    }
    const uint8_t *p = (const uint8_t *)m->text.tok_emb.data;
    for (size_t j = 0; j < (size_t)oma_tensor_numel(&m->text.tok_emb) * 4; j++) h = (h ^ p[j]) * 1099511628211ull;
    h ^= oma_clip_added_count(m->tok) * 31 + (uint64_t)m->text.p.vocab_size;
    lora_targets_free(&tt);
    return h;
}

static const char *T(const char *name)
{
    static char buf[4][2048];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
    return buf[k];
}

/* A safetensors file with one LoRA pair (down/up) under key, plus extra tensors. */
static void write_st(const char *file, const char *const *names, const int *ndims, const int64_t (*shapes)[4], int n,
                     float fill_bad)
{
    oma_st_writer *w = oma_st_writer_new();
    char err[256];
    for (int i = 0; i < n; i++) {
        int64_t numel = 1;
        for (int d = 0; d < ndims[i]; d++) numel *= shapes[i][d];
        float *v = calloc((size_t)numel, sizeof *v);
        for (int64_t j = 0; j < numel; j++) v[j] = 0.01f * (float)((j % 7) - 3);
        if (i == 0 && fill_bad != 0) v[numel / 2] = fill_bad;
        CHECK(oma_st_writer_add_f32(w, names[i], OMA_ST_F32, ndims[i], shapes[i], v, err, sizeof err) == 0);
        free(v);
    }
    CHECK(oma_st_writer_save(w, T(file), err, sizeof err) == 0);
    oma_st_writer_free(w);
}

/* Applying must fail with an error naming the file and want_in_err; the model unchanged. */
static void expect_fail(oma_sd_model *m, const char *what, const oma_sd_lora *loras, size_t nl, const char *const *embs,
                        size_t ne, const char *file, const char *want_in_err)
{
    uint64_t before = model_hash(m);
    oma_sd_patch *p = NULL;
    char err[1024] = "";
    int rc = oma_sd_patch_apply(m, loras, nl, embs, ne, &p, err, sizeof err);
    printf("  %-26s -> %s\n", what, err);
    CHECK(rc == -1);
    CHECK(p == NULL);
    CHECK(strstr(err, file) != NULL);
    CHECK(strstr(err, want_in_err) != NULL);
    CHECK(model_hash(m) == before);
    if (rc == 0) oma_sd_patch_restore(m, p);
}

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v & 0xffff), put16(p + 2, v >> 16); }

/* A stored zip with the given entries (what torch.save writes, without CRCs: they are not read). */
static size_t make_zip(uint8_t *buf, const char *const *names, const uint8_t *const *data, const size_t *lens, int n,
                       int method)
{
    size_t o = 0, offs[8];
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(names[i]);
        offs[i] = o;
        memset(buf + o, 0, 30);
        put32(buf + o, 0x04034b50);
        put16(buf + o + 8, (uint32_t)method);
        put32(buf + o + 18, (uint32_t)lens[i]);
        put32(buf + o + 22, (uint32_t)lens[i]);
        put16(buf + o + 26, (uint32_t)nl);
        memcpy(buf + o + 30, names[i], nl);
        memcpy(buf + o + 30 + nl, data[i], lens[i]);
        o += 30 + nl + lens[i];
    }
    size_t cd = o;
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(names[i]);
        memset(buf + o, 0, 46);
        put32(buf + o, 0x02014b50);
        put16(buf + o + 10, (uint32_t)method);
        put32(buf + o + 20, (uint32_t)lens[i]);
        put32(buf + o + 24, (uint32_t)lens[i]);
        put16(buf + o + 28, (uint32_t)nl);
        put32(buf + o + 42, (uint32_t)offs[i]);
        memcpy(buf + o + 46, names[i], nl);
        o += 46 + nl;
    }
    memset(buf + o, 0, 22);
    put32(buf + o, 0x06054b50);
    put16(buf + o + 8, (uint32_t)n);
    put16(buf + o + 10, (uint32_t)n);
    put32(buf + o + 12, (uint32_t)(o - cd));
    put32(buf + o + 16, (uint32_t)cd);
    return o + 22;
}

static void write_file(const char *path, const uint8_t *d, size_t n)
{
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(d, 1, n, f) == n);
    if (f) fclose(f);
}

/* A torch zip whose data.pkl is pkl (and one 8-float storage "0"). */
static void write_pickle_zip(const char *file, const uint8_t *pkl, size_t len, int method)
{
    static uint8_t buf[1 << 16];
    float st[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const char *names[] = {"archive/data.pkl", "archive/data/0"};
    const uint8_t *data[] = {pkl, (const uint8_t *)st};
    size_t lens[] = {len, sizeof st};
    write_file(T(file), buf, make_zip(buf, names, data, lens, 2, method));
}

static void pickle_cases(oma_sd_model *m)
{
    /* os.system("touch ...") through GLOBAL + REDUCE (protocol 2) */
    char cmd[256];
    snprintf(cmd, sizeof cmd, "touch %s/pwned", tmp);
    uint8_t p1[512];
    size_t n = 0;
    memcpy(p1 + n, "\x80\x02" "cos\nsystem\n", 13), n += 13;
    p1[n++] = 'X';
    put32(p1 + n, (uint32_t)strlen(cmd)), n += 4;
    memcpy(p1 + n, cmd, strlen(cmd)), n += strlen(cmd);
    memcpy(p1 + n, "\x85R.", 3), n += 3;
    write_pickle_zip("os_system.pt", p1, n, 0);
    const char *e1[] = {T("os_system.pt")};
    expect_fail(m, "pickle os.system", NULL, 0, e1, 1, "os_system.pt", "'os.system' is not allowed");
    struct stat sb;
    CHECK(stat(T("pwned"), &sb) != 0);     /* nothing ran */
    /* builtins.eval through STACK_GLOBAL (protocol 4) */
    static const uint8_t p2[] = "\x80\x04\x8c\x08" "builtins" "\x8c\x04" "eval" "\x93\x8c\x01" "1" "\x85R.";
    write_pickle_zip("eval.pt", p2, sizeof p2 - 1, 0);
    const char *e2[] = {T("eval.pt")};
    expect_fail(m, "pickle builtins.eval", NULL, 0, e2, 1, "eval.pt", "'builtins.eval' is not allowed");
    /* torch.nn.Parameter is not a tensor-rebuilding global we accept */
    static const uint8_t p3[] = "\x80\x02" "ctorch._utils\n_rebuild_parameter\n)R.";
    write_pickle_zip("param.pt", p3, sizeof p3 - 1, 0);
    const char *e3[] = {T("param.pt")};
    expect_fail(m, "pickle _rebuild_parameter", NULL, 0, e3, 1, "param.pt", "_rebuild_parameter' is not allowed");
    /* a tensor view reaching past its 8-element storage: {"emb": T[2,48]} */
    static const uint8_t p4[] = "\x80\x02}X\x03\x00\x00\x00" "embctorch._utils\n_rebuild_tensor_v2\n"
                                "((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00" "0"
                                "X\x03\x00\x00\x00" "cpuK\x08tQK\x00K\x02K0\x86K0K\x01\x86\x89)tRs.";
    write_pickle_zip("view.pt", p4, sizeof p4 - 1, 0);
    const char *e4[] = {T("view.pt")};
    expect_fail(m, "tensor beyond its storage", NULL, 0, e4, 1, "view.pt", "storage");
    /* a dict that holds itself twice (exponential to walk) and a stride-0 view of 2^40 values */
    static const uint8_t p6[] = "\x80\x02}q\x00X\x01\x00\x00\x00" "ah\x00sX\x01\x00\x00\x00" "bh\x00s.";
    write_pickle_zip("selfref.pt", p6, sizeof p6 - 1, 0);
    const char *e7[] = {T("selfref.pt")};
    expect_fail(m, "dict holding itself", NULL, 0, e7, 1, "selfref.pt", "pickle");
    static const uint8_t p7[] = "\x80\x02}X\x03\x00\x00\x00" "embctorch._utils\n_rebuild_tensor_v2\n"
                                "((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00" "0"
                                "X\x03\x00\x00\x00" "cpuK\x08tQK\x00J\x00\x00\x10\x00J\x00\x00\x10\x00\x86K\x00K\x00\x86\x89)tRs.";
    write_pickle_zip("broadcast.pt", p7, sizeof p7 - 1, 0);
    const char *e8[] = {T("broadcast.pt")};
    expect_fail(m, "stride-0 view of 2^40", NULL, 0, e8, 1, "broadcast.pt", "larger than its storage");
    /* a storage claiming 2^62 elements (x4 bytes wraps around 2^64) and a view 2^32 elements in */
    static const uint8_t p8[] = "\x80\x02}X\x03\x00\x00\x00" "embctorch._utils\n_rebuild_tensor_v2\n"
                                "((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x00" "0"
                                "X\x03\x00\x00\x00" "cpu\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40tQ"
                                "\x8a\x05\x00\x00\x00\x00\x01K\x02\x85K\x01\x85\x89)tRs.";
    write_pickle_zip("huge_storage.pt", p8, sizeof p8 - 1, 0);
    const char *e9[] = {T("huge_storage.pt")};
    expect_fail(m, "storage of 2^62 elements", NULL, 0, e9, 1, "huge_storage.pt", "storage '0' holds");
    /* compressed entries (torch never writes them) */
    write_pickle_zip("deflate.pt", p4, sizeof p4 - 1, 8);
    const char *e5[] = {T("deflate.pt")};
    expect_fail(m, "compressed zip entry", NULL, 0, e5, 1, "deflate.pt", "compressed");
    /* a truncated archive: the fixture's A1111 .pt cut in half */
    char src[2048];
    snprintf(src, sizeof src, "%s/myemb.pt", lroot);
    FILE *f = fopen(src, "rb");
    static uint8_t whole[1 << 16];
    size_t len = f ? fread(whole, 1, sizeof whole, f) : 0;
    if (f) fclose(f);
    CHECK(len > 500);
    write_file(T("cut.pt"), whole, len / 2);
    const char *e6[] = {T("cut.pt")};
    expect_fail(m, "truncated zip", NULL, 0, e6, 1, "cut.pt", "zip");
    /* the safe reader on the real files */
    oma_tensor_file *tf = NULL;
    char err[512];
    CHECK(oma_tensor_file_load(src, 1 << 20, &tf, err, sizeof err) == 0);
    if (tf) {
        const oma_tf_tensor *t = oma_tensor_file_find(tf, "string_to_param.*");
        CHECK(t && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 48);
        CHECK(oma_tensor_file_count(tf) == 1);  /* string_to_token, name, step...: not tensors */
        oma_tensor_file_free(tf);
    }
    snprintf(src, sizeof src, "%s/learned_embeds_dog.bin", lroot);
    CHECK(oma_tensor_file_load(src, 1 << 20, &tf, err, sizeof err) == 0);
    if (tf) {
        const oma_tf_tensor *t = oma_tensor_file_find(tf, "<dog>");
        CHECK(t && t->ndim == 1 && t->shape[0] == 48);
        oma_tensor_file_free(tf);
    }
    /* several tokens in one torch.save dict (DreamStyler's way): each key its own token, the
     * vectors those of myemb.pt (the generator saved the same ones) */
    {
        lora_parsed a, b;
        char pa[2048], pb[2048];
        snprintf(pa, sizeof pa, "%s/myemb.pt", lroot);
        snprintf(pb, sizeof pb, "%s/multi_token.bin", lroot);
        CHECK(lora_parse_embedding(pa, 48, &a, err, sizeof err) == 0);
        CHECK(lora_parse_embedding(pb, 48, &b, err, sizeof err) == 0);
        CHECK(a.n_e == 1 && a.e[0].n == 2 && !strcmp(a.e[0].name, "myemb"));
        CHECK(b.n_e == 2 && !strcmp(b.e[0].name, "<sty>-T0") && !strcmp(b.e[1].name, "<sty>-T1"));
        if (a.n_e == 1 && b.n_e == 2) {
            CHECK(memcmp(a.e[0].data, b.e[0].data, 48 * sizeof(float)) == 0);
            CHECK(memcmp(a.e[0].data + 48, b.e[1].data, 48 * sizeof(float)) == 0);
        }
        lora_parsed_free(&a);
        lora_parsed_free(&b);
    }
    /* 2000 random mutations of the .pt: errors or tensors, never a crash */
    srand(7);
    int ok = 0;
    for (int it = 0; it < 2000; it++) {
        static uint8_t mut[1 << 16];
        memcpy(mut, whole, len);
        int flips = 1 + rand() % 4;
        for (int k = 0; k < flips; k++) mut[(size_t)rand() % len] = (uint8_t)rand();
        write_file(T("mut.pt"), mut, len);
        oma_tensor_file *h = NULL;
        if (oma_tensor_file_load(T("mut.pt"), 1 << 20, &h, err, sizeof err) == 0) ok++, oma_tensor_file_free(h);
    }
    printf("  2000 mutated .pt files: %d still read, the rest refused, no crash\n", ok);
}

/* Applies one file that must work; restores; the model as before. n_layers: layers it must change. */
static void expect_ok(oma_sd_model *m, const char *what, const char *file, size_t n_layers)
{
    char err[1024] = "";
    oma_sd_lora l = {T(file), 0.7f, 0.5f};
    oma_sd_patch *p = NULL;
    uint64_t h0 = model_hash(m);
    int rc = oma_sd_patch_apply(m, &l, 1, NULL, 0, &p, err, sizeof err);
    printf("  %-26s -> %s\n", what, rc ? err : "applied");
    CHECK(rc == 0);
    if (rc) return;
    CHECK(oma_sd_patch_layers(p) == n_layers);
    CHECK(model_hash(m) != h0);
    oma_sd_patch_restore(m, p);
    CHECK(model_hash(m) == h0);
}

#define NAMES(...) ((const char *const[]){__VA_ARGS__})
#define DIMS(...) ((const int[]){__VA_ARGS__})
#define SHAPES(...) ((const int64_t[][4]){__VA_ARGS__})

/* CompVis/LDM-named kohya keys, and LyCORIS LoHa / LoKr: good ones apply, broken ones are refused. */
static void ldm_lyco_cases(oma_sd_model *m)
{
    char k[16][256];
    const char *q = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";
    const char *cv = "lora_unet_down_blocks_0_resnets_0_conv1";
    /* CompVis names: mid attention, a downsampler (op), an upsampler, the text encoder */
    write_st("ldm.safetensors",
             NAMES("lora_unet_middle_block_1_transformer_blocks_0_attn1_to_q.lora_down.weight",
                   "lora_unet_middle_block_1_transformer_blocks_0_attn1_to_q.lora_up.weight",
                   "lora_unet_input_blocks_3_0_op.lora_down.weight", "lora_unet_input_blocks_3_0_op.lora_up.weight",
                   "lora_unet_output_blocks_2_1_conv.lora_down.weight", "lora_unet_output_blocks_2_1_conv.lora_up.weight",
                   "lora_te_transformer_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight",
                   "lora_te_transformer_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight"),
             DIMS(2, 2, 4, 4, 4, 4, 2, 2),
             SHAPES({4, 32}, {32, 4}, {4, 32, 3, 3}, {32, 4, 1, 1}, {4, 32, 3, 3}, {32, 4, 1, 1}, {4, 48}, {48, 4}), 8, 0);
    expect_ok(m, "CompVis-named kohya", "ldm.safetensors", 4);
    write_st("ldm_bad.safetensors", NAMES("lora_unet_input_blocks_99_1_proj_in.lora_down.weight"), DIMS(2),
             SHAPES({4, 32}), 1, 0);
    oma_sd_lora l = {T("ldm_bad.safetensors"), 1, 1};
    expect_fail(m, "CompVis block 99", &l, 1, NULL, 0, "ldm_bad.safetensors", "input_blocks_99_1_proj_in");

    /* good LoHa (linear, conv plain, conv Tucker) and LoKr (factored, full + Tucker) */
    for (int i = 0; i < 16; i++) k[i][0] = 0;
    static const char *const hp[] = {"hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "hada_t1", "hada_t2", "alpha"};
    for (int i = 0; i < 7; i++) snprintf(k[i], sizeof k[i], "%s.%s", q, hp[i]);
    for (int i = 0; i < 7; i++) snprintf(k[7 + i], sizeof k[7 + i], "%s.%s", cv, hp[i]);
    write_st("loha.safetensors", NAMES(k[0], k[1], k[2], k[3], k[7], k[8], k[9], k[10], k[11], k[12]),
             DIMS(2, 2, 2, 2, 2, 2, 2, 2, 4, 4),
             SHAPES({32, 4}, {4, 32}, {32, 4}, {4, 32}, {4, 32}, {4, 32}, {4, 32}, {4, 32}, {4, 4, 3, 3}, {4, 4, 3, 3}), 10, 0);
    expect_ok(m, "LoHa linear + Tucker conv", "loha.safetensors", 2);
    oma_sd_lora lh = {T("loha.safetensors"), 1, 1};
    write_st("loha_shape.safetensors", NAMES(k[0], k[1], k[2], k[3]), DIMS(2, 2, 2, 2),
             SHAPES({32, 4}, {4, 31}, {32, 4}, {4, 32}), 4, 0);
    lh.path = T("loha_shape.safetensors");
    expect_fail(m, "LoHa wrong shape", &lh, 1, NULL, 0, "loha_shape.safetensors", k[1]);
    write_st("loha_half.safetensors", NAMES(k[0], k[1]), DIMS(2, 2), SHAPES({32, 4}, {4, 32}), 2, 0);
    lh.path = T("loha_half.safetensors");
    expect_fail(m, "LoHa missing w2", &lh, 1, NULL, 0, "loha_half.safetensors", "hada_w2_a is missing");
    write_st("loha_t1.safetensors", NAMES(k[7], k[8], k[9], k[10], k[11]), DIMS(2, 2, 2, 2, 4),
             SHAPES({4, 32}, {4, 32}, {4, 32}, {4, 32}, {4, 4, 3, 3}), 5, 0);
    lh.path = T("loha_t1.safetensors");
    expect_fail(m, "LoHa t1 without t2", &lh, 1, NULL, 0, "loha_t1.safetensors", "hada_t2 is missing");
    write_st("loha_tlin.safetensors", NAMES(k[0], k[1], k[2], k[3], k[4], k[5]), DIMS(2, 2, 2, 2, 4, 4),
             SHAPES({4, 32}, {4, 32}, {4, 32}, {4, 32}, {4, 4, 1, 1}, {4, 4, 1, 1}), 6, 0);
    lh.path = T("loha_tlin.safetensors");
    expect_fail(m, "LoHa Tucker on a linear", &lh, 1, NULL, 0, "loha_tlin.safetensors", "Tucker core on a linear");
    write_st("loha_rank.safetensors", NAMES(k[0], k[1], k[2], k[3]), DIMS(2, 2, 2, 2),
             SHAPES({32, 1000}, {1000, 32}, {32, 1000}, {1000, 32}), 4, 0);
    lh.path = T("loha_rank.safetensors");
    expect_fail(m, "LoHa rank 1000 (huge)", &lh, 1, NULL, 0, "loha_rank.safetensors", "rank of 0 or above");
    char kd[256];
    snprintf(kd, sizeof kd, "%s.lora_down.weight", q);
    write_st("loha_mixed.safetensors", NAMES(k[0], k[1], k[2], k[3], kd), DIMS(2, 2, 2, 2, 2),
             SHAPES({32, 4}, {4, 32}, {32, 4}, {4, 32}, {4, 32}), 5, 0);
    lh.path = T("loha_mixed.safetensors");
    expect_fail(m, "LoHa + LoRA on one layer", &lh, 1, NULL, 0, "loha_mixed.safetensors", "LoRA and LyCORIS keys");

    static const char *const kp[] = {"lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b", "lokr_t2", "alpha"};
    for (int i = 0; i < 8; i++) snprintf(k[i], sizeof k[i], "%s.%s", q, kp[i]);
    for (int i = 0; i < 8; i++) snprintf(k[8 + i], sizeof k[8 + i], "%s.%s", cv, kp[i]);
    write_st("lokr.safetensors", NAMES(k[1], k[2], k[4], k[5], k[7], k[8], k[12], k[13], k[14]),
             DIMS(2, 2, 2, 2, 0, 2, 2, 2, 4),
             SHAPES({4, 2}, {2, 4}, {8, 2}, {2, 8}, {0}, {4, 4}, {2, 8}, {2, 8}, {2, 2, 3, 3}), 9, 0);
    expect_ok(m, "LoKr factored + Tucker", "lokr.safetensors", 2);
    oma_sd_lora lk = {T("lokr_kron.safetensors"), 1, 1};
    write_st("lokr_kron.safetensors", NAMES(k[0], k[3]), DIMS(2, 2), SHAPES({4, 4}, {8, 7}), 2, 0);
    expect_fail(m, "LoKr kron shape", &lk, 1, NULL, 0, "lokr_kron.safetensors", "kron(w1, w2) must be the weight's shape");
    write_st("lokr_div.safetensors", NAMES(k[0], k[3]), DIMS(2, 2), SHAPES({5, 4}, {8, 8}), 2, 0);
    lk.path = T("lokr_div.safetensors");
    expect_fail(m, "LoKr w1 not dividing", &lk, 1, NULL, 0, "lokr_div.safetensors", "does not divide");
    write_st("lokr_now2.safetensors", NAMES(k[0]), DIMS(2), SHAPES({4, 4}), 1, 0);
    lk.path = T("lokr_now2.safetensors");
    expect_fail(m, "LoKr without w2", &lk, 1, NULL, 0, "lokr_now2.safetensors", "lokr_w2 is missing");
    write_st("lokr_w1a.safetensors", NAMES(k[1], k[3]), DIMS(2, 2), SHAPES({4, 2}, {8, 8}), 2, 0);
    lk.path = T("lokr_w1a.safetensors");
    expect_fail(m, "LoKr w1_a without w1_b", &lk, 1, NULL, 0, "lokr_w1a.safetensors", "lokr_w1_b is missing");
    write_st("lokr_huge.safetensors", NAMES(k[0], k[4], k[5]), DIMS(2, 2, 2), SHAPES({4, 4}, {8, 5000}, {5000, 8}), 3, 0);
    lk.path = T("lokr_huge.safetensors");
    expect_fail(m, "LoKr rank 5000 (huge)", &lk, 1, NULL, 0, "lokr_huge.safetensors", "rank of 0 or above");
    write_st("lokr_loha.safetensors", NAMES(k[0], k[3], "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.hada_w1_a"),
             DIMS(2, 2, 2), SHAPES({4, 4}, {8, 8}, {32, 4}), 3, 0);
    lk.path = T("lokr_loha.safetensors");
    expect_fail(m, "LoKr + LoHa on one layer", &lk, 1, NULL, 0, "lokr_loha.safetensors", "LoHa and LoKr keys");
    char kdora[256];
    snprintf(kdora, sizeof kdora, "%s.dora_scale", q);
    write_st("lokr_dora.safetensors", NAMES(k[0], k[3], kdora), DIMS(2, 2, 2), SHAPES({4, 4}, {8, 8}, {32, 1}), 3, 0);
    lk.path = T("lokr_dora.safetensors");
    expect_fail(m, "LoKr with DoRA", &lk, 1, NULL, 0, "lokr_dora.safetensors", "DoRA");
    write_st("lokr_nan.safetensors", NAMES(k[0], k[3]), DIMS(2, 2), SHAPES({4, 4}, {8, 8}), 2, NAN);
    lk.path = T("lokr_nan.safetensors");
    expect_fail(m, "LoKr NaN", &lk, 1, NULL, 0, "lokr_nan.safetensors", k[0]);
}

int main(void)
{
    const char *srcdir = getenv("OMA_SOURCE_DIR");
    char root[1024], err[512];
    snprintf(root, sizeof root, "%s/tests/fixtures/sd/tiny-sd", srcdir ? srcdir : ".");
    snprintf(lroot, sizeof lroot, "%s/tests/fixtures/lora", srcdir ? srcdir : ".");
    CHECK(mkdtemp(tmp) != NULL);
    oma_sd_model m;
    if (oma_sd_model_load(root, NULL, 0, &m, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const char *q = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";
    char kd[256], ku[256], kk[256];
    snprintf(kd, sizeof kd, "%s.lora_down.weight", q);
    snprintf(ku, sizeof ku, "%s.lora_up.weight", q);
    {   /* wrong shape: down [4, 31] for a 32-wide layer */
        const char *nm[] = {kd, ku};
        int nd[] = {2, 2};
        const int64_t sh[][4] = {{4, 31}, {32, 4}};
        write_st("shape.safetensors", nm, nd, sh, 2, 0);
        oma_sd_lora l = {T("shape.safetensors"), 1, 1};
        expect_fail(&m, "wrong shape", &l, 1, NULL, 0, "shape.safetensors", kd);
    }
    {   /* NaN and Inf */
        const char *nm[] = {kd, ku};
        int nd[] = {2, 2};
        const int64_t sh[][4] = {{4, 32}, {32, 4}};
        write_st("nan.safetensors", nm, nd, sh, 2, NAN);
        write_st("inf.safetensors", nm, nd, sh, 2, INFINITY);
        oma_sd_lora l = {T("nan.safetensors"), 1, 1}, l2 = {T("inf.safetensors"), 1, 1};
        expect_fail(&m, "NaN value", &l, 1, NULL, 0, "nan.safetensors", kd);
        expect_fail(&m, "Inf value", &l2, 1, NULL, 0, "inf.safetensors", kd);
    }
    {   /* SDXL: two text encoders; and an SDXL UNet's 2048-wide cross-attention */
        const char *nm[] = {"lora_te2_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight"};
        int nd[] = {2};
        const int64_t sh[][4] = {{4, 1280}};
        write_st("sdxl.safetensors", nm, nd, sh, 1, 0);
        oma_sd_lora l = {T("sdxl.safetensors"), 1, 1};
        expect_fail(&m, "SDXL LoRA (lora_te2_)", &l, 1, NULL, 0, "sdxl.safetensors", "SDXL");
        /* SDXL's first encoder is 768 wide: it does not fit this (48-wide) one either, by shape */
        const char *nm1[] = {"lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight",
                             "lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight"};
        int nd1[] = {2, 2};
        const int64_t sh1[][4] = {{4, 768}, {768, 4}};
        write_st("te1.safetensors", nm1, nd1, sh1, 2, 0);
        oma_sd_lora l1 = {T("te1.safetensors"), 1, 1};
        expect_fail(&m, "SDXL te1 (768 wide)", &l1, 1, NULL, 0, "te1.safetensors", nm1[0]);
        /* while lora_te1_ keys that fit (diffusers' kohya export of an SD 1.x LoRA) apply */
        const int64_t sh48[][4] = {{4, 48}, {48, 4}};
        write_st("te1_ok.safetensors", nm1, nd1, sh48, 2, 0);
        oma_sd_lora l3 = {T("te1_ok.safetensors"), 1, 1};
        oma_sd_patch *pt = NULL;
        uint64_t h0 = model_hash(&m);
        CHECK(oma_sd_patch_apply(&m, &l3, 1, NULL, 0, &pt, err, sizeof err) == 0 && oma_sd_patch_layers(pt) == 1);
        CHECK(model_hash(&m) != h0);
        oma_sd_patch_restore(&m, pt);
        CHECK(model_hash(&m) == h0);
        snprintf(kk, sizeof kk, "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight");
        char ku2[256];
        snprintf(ku2, sizeof ku2, "lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight");
        const char *nm2[] = {kk, ku2};
        int nd2[] = {2, 2};
        const int64_t sh2[][4] = {{4, 2048}, {32, 4}};
        write_st("ctx2048.safetensors", nm2, nd2, sh2, 2, 0);
        oma_sd_lora l2 = {T("ctx2048.safetensors"), 1, 1};
        expect_fail(&m, "2048-wide context", &l2, 1, NULL, 0, "ctx2048.safetensors", kk);
    }
    {   /* unknown key; a missing half; an alpha alone */
        const char *nm[] = {"lora_unet_not_a_layer.lora_down.weight"};
        int nd[] = {2};
        const int64_t sh[][4] = {{4, 32}};
        write_st("unknown.safetensors", nm, nd, sh, 1, 0);
        oma_sd_lora l = {T("unknown.safetensors"), 1, 1};
        expect_fail(&m, "unknown key", &l, 1, NULL, 0, "unknown.safetensors", "lora_unet_not_a_layer.lora_down.weight");
        const char *nm2[] = {kd};
        write_st("half.safetensors", nm2, nd, sh, 1, 0);
        oma_sd_lora l2 = {T("half.safetensors"), 1, 1};
        expect_fail(&m, "missing up half", &l2, 1, NULL, 0, "half.safetensors", kd);
    }
    {   /* an embedding 768 wide for a 48-wide text encoder */
        const char *nm[] = {"emb_params"};
        int nd[] = {2};
        const int64_t sh[][4] = {{2, 768}};
        write_st("wide.safetensors", nm, nd, sh, 1, 0);
        const char *e[] = {T("wide.safetensors")};
        expect_fail(&m, "embedding width", NULL, 0, e, 1, "wide.safetensors", "emb_params");
        const char *nm2[] = {"clip_l", "clip_g"};
        int nd2[] = {2, 2};
        const int64_t sh2[][4] = {{2, 768}, {2, 1280}};
        write_st("sdxl_emb.safetensors", nm2, nd2, sh2, 2, 0);
        const char *e2[] = {T("sdxl_emb.safetensors")};
        expect_fail(&m, "SDXL embedding", NULL, 0, e2, 1, "sdxl_emb.safetensors", "SDXL");
    }
    {   /* all or nothing: a good LoRA and a good embedding, then a bad file */
        char good[2048], goode[2048];
        snprintf(good, sizeof good, "%s/kohya_locon.safetensors", lroot);
        snprintf(goode, sizeof goode, "%s/myemb.pt", lroot);
        oma_sd_lora l[2] = {{good, 1, 1}, {T("nan.safetensors"), 1, 1}};
        const char *e[] = {goode};
        expect_fail(&m, "good + bad LoRA", l, 2, e, 1, "nan.safetensors", kd);
        const char *e2[] = {goode, T("wide.safetensors")};
        expect_fail(&m, "good LoRA + bad embedding", l, 1, e2, 2, "wide.safetensors", "emb_params");
        /* and the good ones alone do apply, and restore to the same hash */
        uint64_t h0 = model_hash(&m);
        oma_sd_patch *p = NULL;
        CHECK(oma_sd_patch_apply(&m, l, 1, e, 1, &p, err, sizeof err) == 0);
        CHECK(oma_sd_patch_layers(p) > 100 && oma_sd_patch_tokens(p) == 1);
        CHECK(model_hash(&m) != h0);
        oma_sd_patch_restore(&m, p);
        CHECK(model_hash(&m) == h0);
        /* the same file twice stacks (two merges, one saved copy), still restores exactly */
        oma_sd_lora twice[2] = {{good, 0.5f, 0.5f}, {good, 0.5f, 0.5f}};
        CHECK(oma_sd_patch_apply(&m, twice, 2, NULL, 0, &p, err, sizeof err) == 0);
        oma_sd_patch_restore(&m, p);
        CHECK(model_hash(&m) == h0);
        /* restore is exact whatever the values: one layer made not 16-bit representable (a plain
         * float copy is kept), one made bf16-only (packed bf16), the rest fp16 values (packed fp16) */
        lora_targets tt;
        CHECK(lora_targets_build(&m, &tt, err, sizeof err) == 0);
        int iq = lora_targets_find(&tt, "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q");
        int it = lora_targets_find(&tt, "text_encoder.text_model.encoder.layers.0.self_attn.q_proj");
        CHECK(iq >= 0 && it >= 0);
        if (iq >= 0 && it >= 0) {
            oma_tensor *wq = &tt.t[iq].lin->w, *wt = &tt.t[it].lin->w;
            wq->data[3] = nextafterf(wq->data[3], 1.0f);
            for (int64_t i = 0; i < oma_tensor_numel(wt); i++) {
                uint32_t b;
                memcpy(&b, &wt->data[i], 4);
                b &= 0xFFFF0000u;
                memcpy(&wt->data[i], &b, 4);
            }
            uint64_t h1 = model_hash(&m);
            CHECK(oma_sd_patch_apply(&m, l, 1, NULL, 0, &p, err, sizeof err) == 0);
            CHECK(model_hash(&m) != h1);
            oma_sd_patch_restore(&m, p);
            CHECK(model_hash(&m) == h1);
        }
        lora_targets_free(&tt);
        /* the same embedding twice (flag and folder, a style file and its separate embedding):
         * loaded once; the same token with other vectors: refused */
        const char *dup[] = {goode, goode};
        uint64_t h2 = model_hash(&m);
        CHECK(oma_sd_patch_apply(&m, NULL, 0, dup, 2, &p, err, sizeof err) == 0 && oma_sd_patch_tokens(p) == 1);
        oma_sd_patch_restore(&m, p);
        CHECK(model_hash(&m) == h2);
        char style[2048];
        snprintf(style, sizeof style, "%s/style_bundle.safetensors", lroot);
        const char *nm[] = {"emb_params"};
        int nd[] = {2};
        const int64_t sh[][4] = {{2, 48}};
        write_st("s1s2.safetensors", nm, nd, sh, 1, 0);
        oma_sd_lora ls = {style, 0.8f, 0.9f};
        const char *es[] = {T("s1s2.safetensors")};
        expect_fail(&m, "token twice, other vectors", &ls, 1, es, 1, "s1s2.safetensors", "with other vectors");
    }
    ldm_lyco_cases(&m);
    pickle_cases(&m);
    oma_sd_model_free(&m);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    CHECK(system(cmd) == 0);
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
