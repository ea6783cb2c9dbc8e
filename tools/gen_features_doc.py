#!/usr/bin/env python3
"""Rewrite the feature table of docs/features.md from the built extension.

The names and descriptions live in csrc/core/sp_features.c; the extension
exposes them, so the table is generated from what the code really computes.
Run after building (python3 setup.py build_ext --inplace). With --check the
file is not written and the exit status says whether it is up to date.
"""
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from safepickle import _native  # noqa: E402

DOC = ROOT / "docs" / "features.md"
BEGIN = "<!-- BEGIN GENERATED TABLE (tools/gen_features_doc.py) -->"
END = "<!-- END GENERATED TABLE -->"


def table():
    names = _native.feature_names()
    descriptions = _native.feature_descriptions()
    rows = ["Layout version %d (`SP_FEATURE_VERSION`), %d features." % (
        _native.FEATURE_VERSION, len(names)), "",
        "| index | name | description |", "| ---: | --- | --- |"]
    for i, (name, desc) in enumerate(zip(names, descriptions)):
        rows.append("| %d | `%s` | %s |" % (i, name, desc.replace("|", "\\|")))
    return "\n".join(rows)


def render(text):
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        sys.exit("docs/features.md lacks the generated-table markers")
    head = text[: start + len(BEGIN)]
    return head + "\n\n" + table() + "\n\n" + text[end:]


def main():
    text = DOC.read_text()
    new = render(text)
    if "--check" in sys.argv[1:]:
        if new != text:
            print("docs/features.md is out of date: run tools/gen_features_doc.py")
            return 1
        return 0
    DOC.write_text(new)
    print("wrote %s (%d features)" % (DOC, len(_native.feature_names())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
