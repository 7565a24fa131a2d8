/* test_yaml.c — the YAML-subset reader: SD's own v1-inference.yaml shapes (nested mappings,
 * a list at its key's indent, flow lists, comments, quotes, null), the getters' conversions,
 * and every unsupported or malformed construct refused with a line number, plus the limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/yaml.h"

#include "check.h"

static const char *V1 =
    "model:\n"
    "  base_learning_rate: 1.0e-04\n"
    "  target: ldm.models.diffusion.ddpm.LatentDiffusion\n"
    "  params:\n"
    "    linear_start: 0.00085\n"
    "    timesteps: 1000\n"
    "    monitor: val/loss_simple_ema   # a comment\n"
    "    use_ema: False\n"
    "    scheduler_config: # 10000 warmup steps\n"
    "      params:\n"
    "        f_start: [ 1.e-6 ]\n"
    "        cycle_lengths: [ 10000000000000 ] # big\n"
    "    unet_config:\n"
    "      params:\n"
    "        attention_resolutions: [ 4, 2, 1 ]\n"
    "        channel_mult: [ 1, 2, 4, 4 ]\n"
    "        context_dim: 768\n"
    "    first_stage_config:\n"
    "      params:\n"
    "        ddconfig:\n"
    "          ch_mult:\n"
    "          - 1\n"
    "          - 2\n"
    "          -   4\n"
    "          - 4\n"
    "          attn_resolutions: []\n"
    "          dropout: 0.0\n"
    "    cond_stage_config:\n"
    "      target: \"ldm.modules.encoders.modules.FrozenCLIPEmbedder\"\n"
    "      note: 'it''s # not a comment'\n"
    "      empty:\n"
    "      tilde: ~\n"
    "\n"
    "# trailing comment\n";

static void test_v1(void)
{
    char err[256] = "";
    oma_yaml_node *r = NULL;
    int rc = oma_yaml_parse(V1, strlen(V1), &r, err, sizeof err);
    CHECK(rc == 0);
    if (rc) {
        fprintf(stderr, "parse: %s\n", err);
        return;
    }
    const oma_yaml_node *p = oma_yaml_path(r, "model.params");
    CHECK(p && p->kind == OMA_YAML_MAP);
    double d = 0;
    long long i = 0;
    int b = -1;
    CHECK(oma_yaml_num(oma_yaml_get(p, "linear_start"), 0, 1, &d) == 0 && d == 0.00085);
    CHECK(oma_yaml_int(oma_yaml_get(p, "timesteps"), 1, 100000, &i) == 0 && i == 1000);
    CHECK(oma_yaml_int(oma_yaml_get(p, "timesteps"), 1, 999, &i) == -1);     /* out of range */
    CHECK(oma_yaml_bool(oma_yaml_get(p, "use_ema"), &b) == 0 && b == 0);
    CHECK(!strcmp(oma_yaml_str(oma_yaml_get(p, "monitor")), "val/loss_simple_ema"));
    const oma_yaml_node *fs = oma_yaml_path(p, "scheduler_config.params.f_start");
    CHECK(fs && fs->kind == OMA_YAML_LIST && fs->n == 1 && oma_yaml_num(&fs->items[0], 0, 1, &d) == 0 && d == 1e-6);
    const oma_yaml_node *ar = oma_yaml_path(p, "unet_config.params.attention_resolutions");
    CHECK(ar && ar->n == 3 && oma_yaml_int(&ar->items[2], 0, 9, &i) == 0 && i == 1);
    const oma_yaml_node *cm = oma_yaml_path(p, "first_stage_config.params.ddconfig.ch_mult");
    CHECK(cm && cm->kind == OMA_YAML_LIST && cm->n == 4);
    if (cm && cm->n == 4) CHECK(oma_yaml_int(&cm->items[2], 0, 9, &i) == 0 && i == 4);
    const oma_yaml_node *at = oma_yaml_path(p, "first_stage_config.params.ddconfig.attn_resolutions");
    CHECK(at && at->kind == OMA_YAML_LIST && at->n == 0);
    CHECK(oma_yaml_path(p, "first_stage_config.params.ddconfig.dropout") != NULL);
    const char *t = oma_yaml_str(oma_yaml_path(p, "cond_stage_config.target"));
    CHECK(t && !strcmp(t, "ldm.modules.encoders.modules.FrozenCLIPEmbedder"));
    const oma_yaml_node *q = oma_yaml_path(p, "cond_stage_config.note");
    CHECK(q && q->quoted && !strcmp(q->text, "it's # not a comment"));
    CHECK(oma_yaml_path(p, "cond_stage_config.empty")->kind == OMA_YAML_NULL);
    CHECK(oma_yaml_path(p, "cond_stage_config.tilde")->kind == OMA_YAML_NULL);
    CHECK(oma_yaml_path(p, "cond_stage_config.missing") == NULL);
    CHECK(oma_yaml_path(r, "model.target.x") == NULL);
    oma_yaml_free(r);

    /* quoted numbers are strings; hex, inf and nan are not numbers */
    const char *s = "a: \"3\"\nb: 0x10\nc: inf\nd: nan\ne: -2.5\nf: yes\n";
    CHECK(oma_yaml_parse(s, strlen(s), &r, err, sizeof err) == 0);
    CHECK(oma_yaml_int(oma_yaml_get(r, "a"), 0, 9, &i) == -1);
    CHECK(oma_yaml_num(oma_yaml_get(r, "b"), -1e9, 1e9, &d) == -1);
    CHECK(oma_yaml_num(oma_yaml_get(r, "c"), -1e300, 1e300, &d) == -1);
    CHECK(oma_yaml_num(oma_yaml_get(r, "d"), -1e300, 1e300, &d) == -1);
    CHECK(oma_yaml_num(oma_yaml_get(r, "e"), -3, 0, &d) == 0 && d == -2.5);
    CHECK(oma_yaml_bool(oma_yaml_get(r, "f"), &b) == 0 && b == 1);
    oma_yaml_free(r);
}

static void refused(const char *text, const char *want)
{
    char err[256] = "";
    oma_yaml_node *r = NULL;
    int rc = oma_yaml_parse(text, strlen(text), &r, err, sizeof err);
    CHECK(rc == -1 && r == NULL && strstr(err, want) != NULL);
    if (rc != -1 || !strstr(err, want)) fprintf(stderr, "  %-40.40s -> rc %d, '%s' (wanted '%s')\n", text, rc, err, want);
    else printf("  refused: %s\n", err);
    oma_yaml_free(r);
}

static void test_refused(void)
{
    refused("a: &x 1\nb: *x\n", "line 1: anchors are not supported");
    refused("a: 1\nb: *x\n", "line 2: aliases are not supported");
    refused("a: !!str 1\n", "tags are not supported");
    refused("a: |\n  text\n", "block scalars are not supported");
    refused("a: >\n  text\n", "block scalars are not supported");
    refused("a: {b: 1}\n", "flow mappings are not supported");
    refused("? a\n: 1\n", "complex keys");
    refused("%YAML 1.1\n---\na: 1\n", "directives are not supported");
    refused("a: [1, [2]]\n", "nested flow collections");
    refused("a: [1, 2\n", "unterminated flow list");
    refused("a: [1, , 2]\n", "empty item");
    refused("a:\n- b: 1\n", "mappings inside list items");
    refused("a:\n- - 1\n", "nested '- -'");
    refused("a: 1\na: 2\n", "line 2: duplicate key");
    refused("a:\n\tb: 1\n", "tabs in indentation");
    refused("a: 1\n  b: 2\n", "line 2: unexpected indentation");
    refused("a: \"open\n", "unterminated quoted string");
    refused("a: \"\\q\"\n", "unsupported escape");
    refused("a: b: c\n", "a mapping is not allowed here");
    refused("a: 1\n---\nb: 2\n", "more than one document");
    refused("- 1\nb: 2\n", "line 2: expected a list item");
    refused("a:\n  - 1\n  b: 2\n", "unexpected indentation");
    refused("a: \"x\" y\n", "text after a quoted string");
    /* limits: depth, line length, size */
    size_t n = 0, cap = 200 * 70;
    char *deep = malloc(cap);
    CHECK(deep != NULL);
    if (!deep) return;
    for (int d = 0; d < 70; d++) n += (size_t)snprintf(deep + n, cap - n, "%*sk:\n", d, "");
    refused(deep, "nested too deeply");
    free(deep);
    char *longl = malloc(OMA_YAML_MAX_LINE + 16);
    CHECK(longl != NULL);
    if (!longl) return;
    memset(longl, 'x', OMA_YAML_MAX_LINE + 8);
    memcpy(longl, "a: ", 3);
    longl[OMA_YAML_MAX_LINE + 8] = 0;
    refused(longl, "line too long");
    free(longl);
    char err[128];
    oma_yaml_node *r;
    CHECK(oma_yaml_parse("a: 1", OMA_YAML_MAX_BYTES + 1, &r, err, sizeof err) == -1 && strstr(err, "bytes"));
    /* empty document and a lone scalar are fine */
    CHECK(oma_yaml_parse("# nothing\n", 10, &r, err, sizeof err) == 0 && r->kind == OMA_YAML_NULL);
    oma_yaml_free(r);
    CHECK(oma_yaml_parse("[1, 2]", 6, &r, err, sizeof err) == 0 && r->kind == OMA_YAML_LIST && r->n == 2);
    oma_yaml_free(r);
}

static void test_fixture(void)
{
    const char *src = getenv("OMA_SOURCE_DIR");
    char path[2048], err[512];
    snprintf(path, sizeof path, "%s/tests/fixtures/sd_cfg/ldm-v/tiny-ldm-v.yaml", src ? src : ".");
    oma_yaml_node *r = NULL;
    CHECK(oma_yaml_load(path, &r, err, sizeof err) == 0);
    const oma_yaml_node *cm = oma_yaml_path(r, "model.params.first_stage_config.params.ddconfig.ch_mult");
    CHECK(cm && cm->n == 3);
    CHECK(!strcmp(oma_yaml_str(oma_yaml_path(r, "model.params.parameterization")), "v"));
    oma_yaml_free(r);
    CHECK(oma_yaml_load("/nonexistent/x.yaml", &r, err, sizeof err) == -1 && strstr(err, "/nonexistent/x.yaml"));
}

int main(void)
{
    test_v1();
    test_refused();
    test_fixture();
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures != 0;
}
