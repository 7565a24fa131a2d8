/* yaml.h — a small, bounded reader for the YAML subset that config files like Stable Diffusion's
 * LDM yamls (v1-inference.yaml, v2-inference-v.yaml) use.
 *
 * Understood: block mappings ("key: value", "key:" + an indented block), block lists ("- value",
 * also at the same indent as their key), scalars (plain, 'single' and "double" quoted), flow
 * lists of scalars on one line ("[1, 2, 4, 4]", "[]"), comments, one leading "---". Everything
 * else (anchors &, aliases *, tags !, block scalars | >, flow mappings {}, complex keys ?,
 * directives %, nested flow lists, mappings inside list items, tabs in indentation, duplicate
 * keys) is refused with an error naming the line. Limits: 1 MiB of text, 64 levels, 100000
 * nodes, 4096 bytes a line. Scalars stay text; the getters convert them on request.
 */
#ifndef OMA_FORMATS_YAML_H
#define OMA_FORMATS_YAML_H

#include <stddef.h>

#define OMA_YAML_MAX_BYTES (1u << 20)
#define OMA_YAML_MAX_DEPTH 64
#define OMA_YAML_MAX_NODES 100000
#define OMA_YAML_MAX_LINE 4096

typedef enum { OMA_YAML_NULL, OMA_YAML_SCALAR, OMA_YAML_MAP, OMA_YAML_LIST } oma_yaml_kind;

typedef struct oma_yaml_node {
    oma_yaml_kind kind;
    char *key;                      /* for an entry of a mapping, else NULL */
    char *text;                     /* for a scalar (unquoted, escapes resolved) */
    int quoted;                     /* the scalar was quoted (so "1" is a string, not a number) */
    int line;                       /* 1-based, for messages */
    struct oma_yaml_node *items;    /* map entries or list items */
    size_t n;
} oma_yaml_node;

/* Parses text[0..len) into *out (free with oma_yaml_free). 0, or -1 with err
 * ("line 12: anchors are not supported"). */
int oma_yaml_parse(const char *text, size_t len, oma_yaml_node **out, char *err, size_t errlen);
/* Reads a file (at most OMA_YAML_MAX_BYTES) and parses it; errors start with the path. */
int oma_yaml_load(const char *path, oma_yaml_node **out, char *err, size_t errlen);
void oma_yaml_free(oma_yaml_node *root);

/* The value of key in a mapping (NULL when absent or when m is not a mapping). */
const oma_yaml_node *oma_yaml_get(const oma_yaml_node *m, const char *key);
/* Follows a dotted path of keys ("model.params.unet_config"); NULL when any step is missing. */
const oma_yaml_node *oma_yaml_path(const oma_yaml_node *root, const char *dotted);

/* Conversions of a scalar: 0, or -1 when it is not one (or out of [lo, hi]). */
int oma_yaml_int(const oma_yaml_node *n, long long lo, long long hi, long long *out);
int oma_yaml_num(const oma_yaml_node *n, double lo, double hi, double *out);
int oma_yaml_bool(const oma_yaml_node *n, int *out);     /* true/false/yes/no/on/off, any case */
/* The text of a scalar, or NULL. */
const char *oma_yaml_str(const oma_yaml_node *n);

#endif
