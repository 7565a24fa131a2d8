/* test_torch_pth.c — the safe torch.save reader on what AnimateAnyone's weights are, and on
 * hostile variants of them.
 *
 * Real shapes: the fixture's pose_guider.pth and image_encoder/pytorch_model.bin (written by
 * torch 1.13's torch.save(model.state_dict()): an OrderedDict whose _metadata pickles as a
 * BUILD, CLIP's int64 position_ids in a LongStorage) read with the right names and values equal
 * to the F16 safetensors conversion. Hostile ones (zips built here): overlapping views of one
 * storage (read as copies, correct values), the same huge storage viewed over and over (refused
 * by the value budget before any allocation grows past the archive), a LongStorage view beyond
 * its storage, BUILD applied to something that is not a dict, REDUCE of os.system by
 * STACK_GLOBAL (refused, nothing run), and 3000 random byte mutations of pose_guider.pth (error
 * or tensors, never a crash; ASan/UBSan watch).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/safetensors.h"
#include "formats/tensor_file.h"
#include "formats/torch_pickle.h"

#include "check.h"

static char root[1024];
static char tmp[] = "/tmp/oma-pth-XXXXXX";

static void put16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v) { put16(p, v & 0xffff), put16(p + 2, v >> 16); }

/* A stored zip of n entries into buf (large enough). */
static size_t make_zip(uint8_t *buf, const char **names, const uint8_t **data, const size_t *lens, int n)
{
    size_t o = 0, offs[8];
    for (int i = 0; i < n; i++) {
        size_t nl = strlen(names[i]);
        offs[i] = o;
        memset(buf + o, 0, 30);
        put32(buf + o, 0x04034b50);
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

/* Parses a zip of data.pkl = pkl and storage "0" of n floats 0, 1, 2, ... */
static int parse(const char *pkl, size_t len, size_t n_floats, oma_tensor_file **out, char *err, size_t errlen)
{
    size_t cap = n_floats * 4 + len + 4096;
    uint8_t *buf = malloc(cap);
    float *st = malloc(n_floats * 4 + 4);
    if (!buf || !st) {
        free(buf);
        free(st);
        return -1;
    }
    for (size_t i = 0; i < n_floats; i++) st[i] = (float)i;
    const char *names[] = {"pose_guider/data.pkl", "pose_guider/data/0"};
    const uint8_t *data[] = {(const uint8_t *)pkl, (const uint8_t *)st};
    size_t lens[] = {len, n_floats * 4};
    size_t zl = make_zip(buf, names, data, lens, 2);
    char path[1100];
    snprintf(path, sizeof path, "%s/x.pth", tmp);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(buf, 1, zl, f) == zl);
    if (f) fclose(f);
    free(buf);
    free(st);
    return oma_tensor_file_load(path, 64u << 20, out, err, errlen);
}

/* {"a": T(storage 0, offset, [n], [1]), ...} with keys a, b, c... each a view */
static size_t views_pickle(char *p, int n_views, const long *offsets, long size, long numel, const char *cls)
{
    size_t o = 0;
    o += (size_t)sprintf(p + o, "\x80\x02}(");
    for (int i = 0; i < n_views; i++) {
        o += (size_t)sprintf(p + o, "X\x01%c%c%c%cctorch._utils\n_rebuild_tensor_v2\n((X\x07%c%c%cstoragectorch\n%s\n"
                             "X\x01%c%c%c0X\x03%c%c%ccpuJ", 0, 0, 0, 'a' + i, 0, 0, 0, cls, 0, 0, 0, 0, 0, 0);
        memcpy(p + o, &numel, 4), o += 4;          /* little-endian host */
        p[o++] = 't', p[o++] = 'Q', p[o++] = 'J';
        memcpy(p + o, &offsets[i], 4), o += 4;
        p[o++] = 'J';
        memcpy(p + o, &size, 4), o += 4;
        o += (size_t)sprintf(p + o, "\x85K\x01\x85\x89)tR");
    }
    p[o++] = 'u';
    p[o++] = '.';
    return o;
}

int main(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    snprintf(root, sizeof root, "%s/tests/fixtures/animate", src ? src : ".");
    CHECK(mkdtemp(tmp) != NULL);
    char err[512], path[2048];

    /* the fixture's real files against their safetensors conversions */
    static const char *const pairs[][2] = {{"tiny/pose_guider.pth", "tiny-st/pose_guider.safetensors"},
                                           {"tiny/image_encoder/pytorch_model.bin", "tiny-st/image_encoder/model.safetensors"}};
    for (int k = 0; k < 2; k++) {
        oma_tensor_file *a = NULL, *b = NULL;
        snprintf(path, sizeof path, "%s/%s", root, pairs[k][0]);
        int ra = oma_tensor_file_load(path, 64u << 20, &a, err, sizeof err);
        if (ra) fprintf(stderr, "%s\n", err);
        snprintf(path, sizeof path, "%s/%s", root, pairs[k][1]);
        int rb = oma_tensor_file_load(path, 64u << 20, &b, err, sizeof err);
        CHECK(ra == 0 && rb == 0);
        if (ra == 0 && rb == 0) {
            printf("  %s: %zu tensors (%s: %zu)\n", pairs[k][0], oma_tensor_file_count(a), pairs[k][1],
                   oma_tensor_file_count(b));
            CHECK(oma_tensor_file_count(a) == oma_tensor_file_count(b));
            for (size_t i = 0; i < oma_tensor_file_count(a); i++) {
                const oma_tf_tensor *t = oma_tensor_file_at(a, i), *u = oma_tensor_file_find(b, t->name);
                CHECK(u && u->numel == t->numel && !memcmp(u->data, t->data, sizeof(float) * (size_t)t->numel));
            }
            CHECK(oma_tensor_file_find(a, "vision_model.embeddings.position_ids") == NULL || k == 0);
            if (k == 0) CHECK(oma_tensor_file_find(a, "conv_in.weight") && oma_tensor_file_find(a, "blocks.5.weight"));
            if (k == 1) CHECK(oma_tensor_file_find(a, "visual_projection.weight") != NULL);
        }
        oma_tensor_file_free(a);
        oma_tensor_file_free(b);
    }

    static char pk[8192];
    oma_tensor_file *f = NULL;
    /* overlapping views of one storage: copies with the right values */
    {
        long offs[3] = {0, 2, 3};
        size_t n = views_pickle(pk, 3, offs, 5, 8, "FloatStorage");
        int rc = parse(pk, n, 8, &f, err, sizeof err);
        if (rc) fprintf(stderr, "overlap: %s\n", err);
        CHECK(rc == 0);
        if (rc == 0) {
            const oma_tf_tensor *a = oma_tensor_file_find(f, "a"), *b = oma_tensor_file_find(f, "b");
            const oma_tf_tensor *c = oma_tensor_file_find(f, "c");
            CHECK(a && b && c && a->numel == 5 && b->data[0] == 2 && c->data[4] == 7 && a->data[4] == 4);
            CHECK(a && b && a->data != b->data);
            oma_tensor_file_free(f);
        }
    }
    /* the same 300k-float storage viewed 8 times: more values than the archive allows */
    {
        long offs[8] = {0};
        size_t n = views_pickle(pk, 8, offs, 300000, 300000, "FloatStorage");
        CHECK(parse(pk, n, 300000, &f, err, sizeof err) == -1);
        printf("  8 views of one 1.2 MB storage: %s\n", err);
        CHECK(strstr(err, "more values") != NULL);
    }
    /* a LongStorage view past its storage */
    {
        long offs[1] = {6};
        size_t n = views_pickle(pk, 1, offs, 4, 4, "LongStorage");
        CHECK(parse(pk, n, 8, &f, err, sizeof err) == -1);
        printf("  LongStorage view past its end: %s\n", err);
        CHECK(strstr(err, "storage") != NULL);
    }
    /* BUILD on a list */
    {
        static const char p[] = "\x80\x02]}b.";
        CHECK(parse(p, sizeof p - 1, 8, &f, err, sizeof err) == -1);
        printf("  BUILD on a list: %s\n", err);
        CHECK(strstr(err, "BUILD") != NULL);
    }
    /* os.system via STACK_GLOBAL + REDUCE */
    {
        char p[512], flag[1100];
        snprintf(flag, sizeof flag, "%s/ran", tmp);
        int n = snprintf(p, sizeof p, "\x80\x04\x8c\x02os\x8c\x06system\x93\x8c%c%s\x85R.", (int)(strlen(flag) + 6),
                         "touch ");
        memcpy(p + n - 3, flag, strlen(flag));
        n += (int)strlen(flag);
        memcpy(p + n - 3, "\x85R.", 3);
        CHECK(parse(p, (size_t)n, 8, &f, err, sizeof err) == -1);
        printf("  os.system: %s\n", err);
        CHECK(strstr(err, "'os.system' is not allowed") != NULL);
        struct stat sb;
        CHECK(stat(flag, &sb) != 0);
    }
    /* random mutations of the real pose_guider.pth */
    {
        snprintf(path, sizeof path, "%s/tiny/pose_guider.pth", root);
        FILE *in = fopen(path, "rb");
        static uint8_t whole[1 << 17], mut[1 << 17];
        size_t len = in ? fread(whole, 1, sizeof whole, in) : 0;
        if (in) fclose(in);
        CHECK(len > 1000 && len < sizeof whole);
        char mp[1100];
        snprintf(mp, sizeof mp, "%s/m.pth", tmp);
        srand(11);
        int ok = 0;
        for (int it = 0; it < 3000 && len > 0; it++) {
            memcpy(mut, whole, len);
            int flips = 1 + rand() % 6;
            /* half the time aim at the pickle (the archive's first entry) */
            for (int k = 0; k < flips; k++) {
                size_t at = it % 2 ? (size_t)rand() % (len < 4096 ? len : 4096) : (size_t)rand() % len;
                mut[at] = (uint8_t)rand();
            }
            FILE *o = fopen(mp, "wb");
            if (!o) break;
            fwrite(mut, 1, len, o);
            fclose(o);
            oma_tensor_file *h = NULL;
            if (oma_tensor_file_load(mp, 1 << 20, &h, err, sizeof err) == 0) ok++, oma_tensor_file_free(h);
        }
        printf("  3000 mutated pose_guider.pth: %d still read, the rest refused, no crash\n", ok);
        unlink(mp);
    }
    snprintf(path, sizeof path, "%s/x.pth", tmp);
    unlink(path);
    rmdir(tmp);
    return failures != 0;
}
