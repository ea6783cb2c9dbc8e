"""manifest.tsv: one row per file, tab-separated, with a header row."""

import csv

COLUMNS = ("path", "label", "family", "capability", "delivery", "container",
           "placement", "loader", "protocol", "payload", "description")


def write_manifest(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, COLUMNS, delimiter="\t", lineterminator="\n",
                                quoting=csv.QUOTE_MINIMAL)
        writer.writeheader()
        for row in rows:
            if any("\t" in str(v) or "\n" in str(v) for v in row.values()):
                raise ValueError("tab or newline in manifest row %r" % row["path"])
            writer.writerow(row)


def read_manifest(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))
