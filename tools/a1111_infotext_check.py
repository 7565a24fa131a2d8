#!/usr/bin/python3
"""a1111_infotext_check.py — runs AUTOMATIC1111's own parse_generation_parameters on texts, to
check our two ports of it (src/server/api/sdapi_infotext.c, tests/api/lib/a1111_infotext.mjs).

Usage (Debian's python3; nothing of A1111 is committed, its file is read from where you put it):
    /usr/bin/python3 tools/a1111_infotext_check.py PATH/modules/infotext_utils.py \
        tests/fixtures/a1111/infotexts.json > /tmp/a1111_parsed.json
    node tools/a1111_infotext_compare.mjs /tmp/a1111_parsed.json

The file is not imported (it needs gradio and A1111's modules): its regexes, unquote,
restore_old_hires_fix_params and parse_generation_parameters are taken out with ast and run
with A1111's default options (infotext_styles "Ignore"... as our ports: styles not applied,
nothing skipped, old hires sizes off) and infotext_versions.backcompat as a no-op (our ports
leave the version back-compat out). Prints one JSON list: the parsed dict of each text.
"""
import ast
import json
import re
import sys
import types

WANT = {"re_param_code", "re_param", "re_imagesize", "unquote", "restore_old_hires_fix_params",
        "parse_generation_parameters"}


def load(path):
    tree = ast.parse(open(path, encoding="utf8").read(), path)
    keep = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in WANT:
            keep.append(node)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id in WANT for t in node.targets):
            keep.append(node)
    opts = types.SimpleNamespace(infotext_styles="Ignore", infotext_skip_pasting=[],
                                 use_old_hires_fix_width_height=False)
    env = {"re": re, "json": json, "shared": types.SimpleNamespace(opts=opts),
           "infotext_versions": types.SimpleNamespace(backcompat=lambda res: None),
           "processing": types.SimpleNamespace(),
           "print": lambda *a, **k: print(*a, file=sys.stderr, **k)}   # its "Error parsing" lines
    exec(compile(ast.Module(body=keep, type_ignores=[]), path, "exec"), env)
    missing = WANT - set(env)
    if missing:
        sys.exit(f"a1111_infotext_check: {path} lacks {sorted(missing)}")
    return env["parse_generation_parameters"]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    parse = load(sys.argv[1])
    texts = json.load(open(sys.argv[2], encoding="utf8"))
    json.dump([parse(t) for t in texts], sys.stdout, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
