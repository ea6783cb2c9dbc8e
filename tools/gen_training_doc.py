#!/usr/bin/env python3
"""Rewrite the family and delivery tables of docs/training-corpus.md from
the catalogue (training/catalogue.py) and training/deliveries.py.

With --check the file is not written and the exit status says whether it is
up to date. Nothing in the catalogue is imported or called: the tables are
built from its data.
"""
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from training import catalogue, deliveries  # noqa: E402

DOC = ROOT / "docs" / "training-corpus.md"
MARKS = {
    "families": ("<!-- BEGIN GENERATED FAMILIES (tools/gen_training_doc.py) -->",
                 "<!-- END GENERATED FAMILIES -->"),
    "deliveries": ("<!-- BEGIN GENERATED DELIVERIES (tools/gen_training_doc.py) -->",
                   "<!-- END GENERATED DELIVERIES -->"),
}


def cell(text):
    return text.replace("|", "\\|")


def families_table():
    rows = ["%d families." % len(catalogue.FAMILIES), "",
            "| family | capability | payload callable | how it runs code | injectable |",
            "| --- | --- | --- | --- | --- |"]
    for f in catalogue.FAMILIES:
        rows.append("| `%s` | %s | `%s` | %s | %s |" % (
            f.name, f.capability, f.payload, cell(f.how),
            "yes" if f.returns else "no"))
    return "\n".join(rows)


def deliveries_table():
    rows = ["| delivery | protocols | how the payload call is spelled |",
            "| --- | --- | --- |"]
    for name, (protocols, _, text) in deliveries.DELIVERIES.items():
        rows.append("| `%s` | %s | %s |" % (
            name, ", ".join(map(str, protocols)), cell(text)))
    return "\n".join(rows)


def render(text):
    for key, body in (("families", families_table()),
                      ("deliveries", deliveries_table())):
        begin, end = MARKS[key]
        head, _, rest = text.partition(begin)
        _, _, tail = rest.partition(end)
        if not rest:
            raise SystemExit("markers for %s missing in %s" % (key, DOC))
        text = head + begin + "\n" + body + "\n" + end + tail
    return text


def main():
    old = DOC.read_text()
    new = render(old)
    if "--check" in sys.argv[1:]:
        sys.exit(0 if new == old else 1)
    DOC.write_text(new)


if __name__ == "__main__":
    main()
