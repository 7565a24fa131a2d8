/* fuzz_yaml.c — libFuzzer target: the YAML-subset reader (an LDM config beside a checkpoint is
 * downloaded with it, so untrusted): parse, walk every node through the getters, free. */
#include <stddef.h>
#include <stdint.h>

#include "formats/yaml.h"

static void walk(const oma_yaml_node *n, int depth)
{
    long long i;
    double d;
    int b;
    (void)oma_yaml_int(n, -1000, 1000, &i);
    (void)oma_yaml_num(n, -1e9, 1e9, &d);
    (void)oma_yaml_bool(n, &b);
    if (n->kind == OMA_YAML_MAP && n->n) (void)oma_yaml_get(n, n->items[n->n - 1].key);
    for (size_t k = 0; k < n->n && depth < 100; k++) walk(&n->items[k], depth + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    char err[256];
    oma_yaml_node *root = NULL;
    if (oma_yaml_parse((const char *)data, len, &root, err, sizeof err) == 0) {
        walk(root, 0);
        (void)oma_yaml_path(root, "model.params.unet_config.params");
        oma_yaml_free(root);
    }
    return 0;
}
