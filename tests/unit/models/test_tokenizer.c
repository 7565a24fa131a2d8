/* test_tokenizer.c — the C CLIP tokenizer against the reference: every prompt in
 * tests/fixtures/sd/ref/tokens.json (ids from OpenAI CLIP's tokenizer, emphasis spans from
 * A1111's parser) must give the same ids, spans and weights; broken tokenizer folders must give
 * an error, not a crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "models/sd/clip_tokenizer.h"

static char fixdir[1024];

static void fixture_path(char *out, size_t len, const char *rel) {
    snprintf(out, len, "%s/%s", fixdir, rel);
}

static oma_clip_tokenizer *load_tiny(void) {
    char dir[1200], err[256];
    fixture_path(dir, sizeof dir, "tiny-sd/tokenizer");
    oma_clip_tokenizer *tok = NULL;
    if (oma_clip_tokenizer_load(dir, &tok, err, sizeof err)) fail_msg("%s", err);
    return tok;
}

static json_t *load_tokens_json(void) {
    char p[1200];
    fixture_path(p, sizeof p, "ref/tokens.json");
    json_error_t je;
    json_t *j = json_load_file(p, 0, &je);
    if (!j) fail_msg("%s: %s", p, je.text);
    return j;
}

static void test_specials(void **s) {
    (void)s;
    oma_clip_tokenizer *tok = load_tiny();
    json_t *j = load_tokens_json();
    assert_int_equal(oma_clip_bos(tok), json_integer_value(json_object_get(j, "bos")));
    assert_int_equal(oma_clip_eos(tok), json_integer_value(json_object_get(j, "eos")));
    assert_int_equal(oma_clip_pad(tok), json_integer_value(json_object_get(j, "pad")));
    assert_int_equal(oma_clip_vocab_size(tok), json_integer_value(json_object_get(j, "vocab_size")));
    assert_int_equal(oma_clip_token_id(tok, "<|startoftext|>"), oma_clip_bos(tok));
    assert_int_equal(oma_clip_token_id(tok, "a</w>"), 320);
    assert_int_equal(oma_clip_token_id(tok, "no-such-token"), -1);
    json_decref(j);
    oma_clip_tokenizer_free(tok);
}

static void test_plain_prompts_match_reference(void **s) {
    (void)s;
    oma_clip_tokenizer *tok = load_tiny();
    json_t *j = load_tokens_json();
    json_t *plain = json_object_get(j, "plain");
    assert_true(json_array_size(plain) >= 8);
    size_t i;
    json_t *e;
    char err[256];
    json_array_foreach(plain, i, e) {
        const char *prompt = json_string_value(json_object_get(e, "prompt"));
        json_t *want_raw = json_object_get(e, "tokens");
        int *ids;
        size_t n;
        assert_int_equal(oma_clip_tokenize(tok, prompt, &ids, &n, err, sizeof err), 0);
        if (n != json_array_size(want_raw)) fail_msg("'%s': %zu tokens, reference %zu", prompt, n,
                                                     json_array_size(want_raw));
        for (size_t k = 0; k < n; k++)
            if (ids[k] != json_integer_value(json_array_get(want_raw, k)))
                fail_msg("'%s': token %zu is %d, reference %lld", prompt, k, ids[k],
                         (long long)json_integer_value(json_array_get(want_raw, k)));
        free(ids);
        oma_clip_tokens t;
        assert_int_equal(oma_clip_encode(tok, prompt, &t, err, sizeof err), 0);
        json_t *want = json_object_get(e, "ids");
        assert_int_equal(json_array_size(want), OMA_CLIP_CONTEXT);
        for (size_t k = 0; k < OMA_CLIP_CONTEXT; k++)
            assert_int_equal(t.ids[k], json_integer_value(json_array_get(want, k)));
        assert_int_equal(t.length, json_integer_value(json_object_get(e, "length")));
        assert_int_equal(t.truncated, json_array_size(want_raw) > 75);
        for (size_t k = 0; k < OMA_CLIP_CONTEXT; k++) assert_true(t.weights[k] == 1.0f);
    }
    json_decref(j);
    oma_clip_tokenizer_free(tok);
}

static void test_weighted_prompts_match_reference(void **s) {
    (void)s;
    oma_clip_tokenizer *tok = load_tiny();
    json_t *j = load_tokens_json();
    json_t *wp = json_object_get(j, "weighted");
    assert_true(json_array_size(wp) >= 6);
    size_t i;
    json_t *e;
    char err[256];
    json_array_foreach(wp, i, e) {
        const char *prompt = json_string_value(json_object_get(e, "prompt"));
        oma_prompt_span *sp;
        size_t ns;
        assert_int_equal(oma_prompt_parse_emphasis(prompt, &sp, &ns, err, sizeof err), 0);
        json_t *want = json_object_get(e, "spans");
        if (ns != json_array_size(want)) fail_msg("'%s': %zu spans, reference %zu", prompt, ns,
                                                  json_array_size(want));
        for (size_t k = 0; k < ns; k++) {
            json_t *ws = json_array_get(want, k);
            assert_string_equal(sp[k].text, json_string_value(json_array_get(ws, 0)));
            double rw = json_number_value(json_array_get(ws, 1));
            if (fabs(sp[k].weight - rw) > 1e-6 * fabs(rw) + 1e-7)
                fail_msg("'%s' span %zu: weight %.9g, reference %.9g", prompt, k, sp[k].weight, rw);
        }
        oma_prompt_spans_free(sp, ns);
        oma_clip_tokens t;
        assert_int_equal(oma_clip_encode_weighted(tok, prompt, &t, err, sizeof err), 0);
        json_t *ids = json_object_get(e, "ids"), *wts = json_object_get(e, "weights");
        for (size_t k = 0; k < OMA_CLIP_CONTEXT; k++) {
            if (t.ids[k] != json_integer_value(json_array_get(ids, k)))
                fail_msg("'%s': id %zu is %d, reference %lld", prompt, k, t.ids[k],
                         (long long)json_integer_value(json_array_get(ids, k)));
            double rw = json_number_value(json_array_get(wts, k));
            if (fabs(t.weights[k] - rw) > 1e-6 * fabs(rw) + 1e-7)
                fail_msg("'%s': weight %zu is %.9g, reference %.9g", prompt, k, t.weights[k], rw);
        }
        assert_int_equal(t.length, json_integer_value(json_object_get(e, "length")));
    }
    json_decref(j);
    oma_clip_tokenizer_free(tok);
}

static void test_emphasis_edges(void **s) {
    (void)s;
    oma_prompt_span *sp;
    size_t n;
    char err[256];
    assert_int_equal(oma_prompt_parse_emphasis("", &sp, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(sp[0].text, "");
    assert_true(sp[0].weight == 1.0f);
    oma_prompt_spans_free(sp, n);
    /* stray closers are text; a weight with nothing open is text; lone backslash is dropped */
    assert_int_equal(oma_prompt_parse_emphasis("a) b] :2) c\\d", &sp, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(sp[0].text, "a) b] :2) cd");
    oma_prompt_spans_free(sp, n);
    /* malformed number: text, bracket stays open (x1.1 at the end) */
    assert_int_equal(oma_prompt_parse_emphasis("(x:1.2.3)", &sp, &n, err, sizeof err), 0);
    assert_int_equal(n, 1);
    assert_string_equal(sp[0].text, "x:1.2.3)");
    assert_true(fabsf(sp[0].weight - 1.1f) < 1e-6f);
    oma_prompt_spans_free(sp, n);
    /* deep nesting: no stack to overflow; the last ')' has nothing open and is text */
    char deep[4001];
    memset(deep, '(', 2000);
    memset(deep + 2000, ')', 2000);
    deep[4000] = 0;
    deep[1999] = 'x';
    assert_int_equal(oma_prompt_parse_emphasis(deep, &sp, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(sp[0].text, "x");
    assert_true(sp[0].weight > 1e30f);  /* 1.1^1999, as A1111 computes it */
    assert_string_equal(sp[1].text, ")");
    oma_prompt_spans_free(sp, n);
}

static void test_odd_text_never_crashes(void **s) {
    (void)s;
    oma_clip_tokenizer *tok = load_tiny();
    char err[256];
    const char *odd[] = {"\xff\xfe abc", "\xe2\x82", "a\xc0\x80z", "\xf4\x90\x80\x80", "   \t\n  ",
                         "\xc4\xb0stanbul", "<|endoftext|><|endoftext|>", "'''''",
                         "\xed\xa0\x80 surrogate"};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        oma_clip_tokens t;
        assert_int_equal(oma_clip_encode(tok, odd[i], &t, err, sizeof err), 0);
        assert_true(t.length >= 2 && t.length <= OMA_CLIP_CONTEXT);
        assert_int_equal(t.ids[0], oma_clip_bos(tok));
        assert_int_equal(t.ids[t.length - 1], oma_clip_eos(tok));
        assert_int_equal(oma_clip_encode_weighted(tok, odd[i], &t, err, sizeof err), 0);
    }
    oma_clip_tokens t;
    assert_int_equal(oma_clip_encode(tok, "   \t\n  ", &t, err, sizeof err), 0);
    assert_int_equal(t.length, 2);
    /* a huge prompt is refused, not tokenized for minutes */
    size_t big = 200000;
    char *p = malloc(big + 1);
    assert_non_null(p);
    memset(p, 'a', big);
    p[big] = 0;
    assert_int_equal(oma_clip_encode(tok, p, &t, err, sizeof err), -1);
    assert_non_null(strstr(err, "longer"));
    free(p);
    oma_clip_tokenizer_free(tok);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_broken_folders(void **s) {
    (void)s;
    char dir[] = "/tmp/oma_tok_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char v[256], m[256], err[256];
    snprintf(v, sizeof v, "%s/vocab.json", dir);
    snprintf(m, sizeof m, "%s/merges.txt", dir);
    oma_clip_tokenizer *tok;
    assert_int_equal(oma_clip_tokenizer_load(dir, &tok, err, sizeof err), -1); /* nothing there */
    assert_null(tok);
    write_file(v, "[1,2,3]");
    write_file(m, "#version: 0.2\na b\n");
    assert_int_equal(oma_clip_tokenizer_load(dir, &tok, err, sizeof err), -1);
    assert_non_null(strstr(err, "vocab.json"));
    write_file(v, "{\"a\": \"x\"}");
    assert_int_equal(oma_clip_tokenizer_load(dir, &tok, err, sizeof err), -1);
    assert_non_null(strstr(err, "'a'"));
    write_file(v, "{\"a\": 0, \"<|startoftext|>\": 1, \"<|endoftext|>\": 2}");
    assert_int_equal(oma_clip_tokenizer_load(dir, &tok, err, sizeof err), -1);
    assert_non_null(strstr(err, "byte"));  /* not a byte-level vocab */
    write_file(v, "{\"a\": 0}");
    assert_int_equal(oma_clip_tokenizer_load(dir, &tok, err, sizeof err), -1);
    write_file(m, "#version: 0.2\nabc\n");
    assert_int_equal(oma_clip_tokenizer_load(dir, &tok, err, sizeof err), -1);
    assert_non_null(strstr(err, "merges.txt:2"));
    write_file(v, "{\"a\": 0, \"b\": \"oops\"");
    assert_int_equal(oma_clip_tokenizer_load(dir, &tok, err, sizeof err), -1);
    /* a pad token the vocab lacks */
    char src[1200];
    fixture_path(src, sizeof src, "tiny-sd/tokenizer/vocab.json");
    char mm[1200];
    fixture_path(mm, sizeof mm, "tiny-sd/tokenizer/merges.txt");
    assert_int_equal(oma_clip_tokenizer_load_files(src, mm, "<pad>", &tok, err, sizeof err), -1);
    assert_non_null(strstr(err, "<pad>"));
    assert_int_equal(oma_clip_tokenizer_load_files(src, mm, "!", &tok, err, sizeof err), 0);
    assert_int_equal(oma_clip_pad(tok), 0);  /* SD 2.x style pad "!" */
    oma_clip_tokenizer_free(tok);
    remove(v);
    remove(m);
    rmdir(dir);
}

/* With OMA_CLIP_CHECK_DIR (made by tools/make_sd_fixtures.py --real-vocab-check; the real CLIP
 * vocab cannot be committed): every prompt's ids must equal OpenAI CLIP's. Skipped without it. */
static void test_real_vocab_when_available(void **s) {
    (void)s;
    const char *dir = getenv("OMA_CLIP_CHECK_DIR");
    if (!dir || !*dir) {
        skip();
        return;
    }
    oma_clip_tokenizer *tok;
    char err[256], p[1200];
    if (oma_clip_tokenizer_load(dir, &tok, err, sizeof err)) fail_msg("%s", err);
    assert_int_equal(oma_clip_bos(tok), 49406);
    assert_int_equal(oma_clip_eos(tok), 49407);
    assert_int_equal(oma_clip_vocab_size(tok), 49408);
    snprintf(p, sizeof p, "%s/check.json", dir);
    json_t *j = json_load_file(p, 0, NULL);
    assert_non_null(j);
    size_t i, bad = 0;
    json_t *e;
    json_array_foreach(j, i, e) {
        int *ids;
        size_t n;
        const char *prompt = json_string_value(json_object_get(e, "prompt"));
        json_t *want = json_object_get(e, "tokens");
        assert_int_equal(oma_clip_tokenize(tok, prompt, &ids, &n, err, sizeof err), 0);
        int ok = n == json_array_size(want);
        for (size_t k = 0; ok && k < n; k++) ok = ids[k] == json_integer_value(json_array_get(want, k));
        if (!ok && bad++ < 5) print_error("mismatch: '%s'\n", prompt);
        free(ids);
    }
    assert_true(json_array_size(j) > 1000);
    assert_int_equal(bad, 0);
    json_decref(j);
    oma_clip_tokenizer_free(tok);
}

int main(void) {
    const char *src = getenv("OMA_SOURCE_DIR");
    snprintf(fixdir, sizeof fixdir, "%s/tests/fixtures/sd", src ? src : "..");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_specials),
        cmocka_unit_test(test_plain_prompts_match_reference),
        cmocka_unit_test(test_weighted_prompts_match_reference),
        cmocka_unit_test(test_emphasis_edges),
        cmocka_unit_test(test_odd_text_never_crashes),
        cmocka_unit_test(test_broken_folders),
        cmocka_unit_test(test_real_vocab_when_available),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
