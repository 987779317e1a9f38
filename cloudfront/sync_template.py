#!/usr/bin/env python3
"""Keeps the CloudFront Function code inlined in template.yaml identical to cloudfront/normalize-accept.js.

CloudFormation takes a CloudFront Function's code only inline (FunctionCode), while the tests need it as a
file; this script is the one link between the two. `--check` (the default, run by scripts/check-deploy and
scripts/deploy) parses the template as YAML and compares the FunctionCode string with the file byte for
byte; `--write` rewrites the block scalar under `FunctionCode: |` from the file, then checks again.
Needs PyYAML (installed with cfn-lint in .venv by scripts/check-deploy).
"""

import argparse
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"
SOURCE = ROOT / "cloudfront" / "normalize-accept.js"
RESOURCE = "NormalizeAcceptFunction"


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short-form tags (!Ref, !Sub, …) as plain {tag: value} maps."""


def _construct_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}


CfnLoader.add_multi_constructor("!", _construct_tag)


def inline_code(template_text):
    """Returns the FunctionCode string of the CloudFront Function resource, as CloudFormation will read it."""
    template = yaml.load(template_text, Loader=CfnLoader)
    return template["Resources"][RESOURCE]["Properties"]["FunctionCode"]


def rewrite(template_text, code):
    """Replaces the literal block under `FunctionCode: |` with `code`, indented two spaces deeper."""
    lines = template_text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        match = re.match(r"^(\s*)FunctionCode: \|\s*$", line)
        if not match:
            continue
        indent = match.group(1) + "  "
        end = index + 1
        while end < len(lines) and (not lines[end].strip() or lines[end].startswith(indent)):
            end += 1
        # Blank lines that end the block belong to what follows it.
        while end > index + 1 and not lines[end - 1].strip():
            end -= 1
        body = [indent + text if text.strip() else "\n" for text in code.splitlines(keepends=True)]
        return "".join(lines[: index + 1] + body + lines[end:])
    raise SystemExit(f"{TEMPLATE.name}: no 'FunctionCode: |' block found")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update template.yaml from the .js file")
    args = parser.parse_args()
    code = SOURCE.read_text(encoding="utf-8")
    if args.write:
        TEMPLATE.write_text(rewrite(TEMPLATE.read_text(encoding="utf-8"), code), encoding="utf-8")
    if inline_code(TEMPLATE.read_text(encoding="utf-8")) != code:
        print(
            f"{TEMPLATE.name}: {RESOURCE}.FunctionCode differs from {SOURCE.relative_to(ROOT)}; "
            "run: python3 cloudfront/sync_template.py --write",
            file=sys.stderr,
        )
        return 1
    print(f"{TEMPLATE.name}: {RESOURCE}.FunctionCode is identical to {SOURCE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
