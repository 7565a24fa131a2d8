/* test_sdapi_infotext.c — the C port of A1111's parse_generation_parameters (sdapi_infotext.c)
 * against what A1111's own Python function answered for the same texts (run with
 * tools/a1111_infotext_check.py on stable-diffusion-webui's modules/infotext_utils.py):
 * multi-line prompts, a negative prompt over two lines, quoted values holding commas and colons,
 * an empty value (skipped), escaped quotes, a prompt line with a colon and no settings line, a
 * settings-only text, stray commas and a key with '/' and '-', and A1111's defaults. */
#include <stdio.h>
#include <string.h>

#include "server/api/sdapi.h"

#include "check.h"

/* 1 when o's key holds the string want. */
static int is(json_t *o, const char *key, const char *want)
{
    const char *v = json_string_value(json_object_get(o, key));
    if (v && strcmp(v, want) == 0) return 1;
    fprintf(stderr, "  %s = %s, wanted %s\n", key, v ? v : "(absent)", want);
    return 0;
}

int main(void)
{
    json_t *o = sdapi_parse_infotext("line one\nline two\nNegative prompt: bad, worse\nmore bad\nSteps: 20, Sampler: "
                                     "DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 1, Size: 512x768, Model: "
                                     "\"a, b\", Lora hashes: \"x: 1, y: 2\", Clip skip: 2");
    CHECK(o);
    CHECK(is(o, "Prompt", "line one\nline two"));
    CHECK(is(o, "Negative prompt", "bad, worse\nmore bad"));
    CHECK(is(o, "Steps", "20") && is(o, "Sampler", "DPM++ 2M") && is(o, "Schedule type", "Karras"));
    CHECK(is(o, "CFG scale", "6.5") && is(o, "Seed", "1") && is(o, "Size-1", "512") && is(o, "Size-2", "768"));
    CHECK(is(o, "Model", "a, b") && is(o, "Lora hashes", "x: 1, y: 2") && is(o, "Clip skip", "2"));
    CHECK(!json_object_get(o, "Size"));
    json_decref(o);

    o = sdapi_parse_infotext("just a prompt, with: a colon");
    CHECK(o && is(o, "Prompt", "just a prompt, with: a colon") && is(o, "Negative prompt", ""));
    CHECK(o && is(o, "Clip skip", "1") && json_object_size(o) == 21);   /* Prompt, Negative prompt and 19 defaults */
    json_decref(o);

    o = sdapi_parse_infotext("prompt\nSteps: 5, Sampler: DDIM, Empty: , Quoted: \"say \\\"hi\\\"\", Size: 8x8, Version: v1.10.1");
    CHECK(o && is(o, "Prompt", "prompt") && is(o, "Quoted", "say \"hi\"") && is(o, "Version", "v1.10.1"));
    CHECK(o && !json_object_get(o, "Empty"));
    json_decref(o);

    o = sdapi_parse_infotext("x\nSteps: 1, Sampler: A, Seed: 2, Bad\": \"open, Tail: 1x");
    CHECK(o && is(o, "Prompt", "x") && is(o, "Seed", "2") && is(o, "Tail", "1x"));
    CHECK(o && !json_object_get(o, "Bad") && !json_object_get(o, "Bad\""));
    json_decref(o);

    o = sdapi_parse_infotext("Steps: 20, Sampler: Euler, CFG scale: 7");
    CHECK(o && is(o, "Prompt", "") && is(o, "Steps", "20") && is(o, "CFG scale", "7"));
    json_decref(o);

    o = sdapi_parse_infotext("p\nSteps: 2,,, Sampler: DDIM,  CFG scale:7, Seed:3, Size: 0x0, Odd key/with-dash: v");
    CHECK(o && is(o, "Steps", "2") && is(o, "Sampler", "DDIM") && is(o, "CFG scale", "7") && is(o, "Seed", "3"));
    CHECK(o && is(o, "Size-1", "0") && is(o, "Odd key/with-dash", "v"));
    CHECK(o && json_integer_value(json_object_get(o, "Masked area padding")) == 32);
    CHECK(o && json_is_integer(json_object_get(o, "Hires resize-1")));
    json_decref(o);

    o = sdapi_parse_infotext("");
    CHECK(o && is(o, "Prompt", "") && is(o, "Negative prompt", ""));
    json_decref(o);
    o = sdapi_parse_infotext(NULL);
    CHECK(o != NULL);
    json_decref(o);

    if (failures) {
        fprintf(stderr, "test_sdapi_infotext: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_sdapi_infotext: ok\n");
    return 0;
}
