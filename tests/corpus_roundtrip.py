"""Read benign training-corpus files back and compare them with the objects
they were saved from, rebuilt from the same specs.

    python3 -m tests.corpus_roundtrip ROOT SEED PER_GROUP

Run as a child of the test (tests/test_training_corpus.py) with a plain
environment: it imports every library the corpus saves with, none of which
has anything to do with the sanitized extension the suite may be testing.
Also loads every benign file a malicious sample was injected into and
reports its type, which the injected sample must still load as.
Prints one JSON object: {"checked": [paths], "failures": [messages],
"host_types": {path: "module.qualname"}}.
"""

import json
import sys
import warnings
from collections import defaultdict
from pathlib import Path

from tests.structural import same
from training.benign.groups import benign_samples
from training.benign.spec import load
from training.manifest import read_manifest


def main():
    root, seed, per_group = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    warnings.filterwarnings("ignore")
    specs = {"benign/%s/%s%s" % (s.group, s.name, s.suffix): s
             for s in benign_samples(seed, quick=True)}
    rows = read_manifest(root / "manifest.tsv")
    chosen = defaultdict(list)
    for row in rows:
        if row["label"] == "benign" and len(chosen[row["family"]]) < per_group:
            chosen[row["family"]].append(row)
    checked, failures = [], []
    for group_rows in chosen.values():
        for row in group_rows:
            spec = specs.get(row["path"])
            if spec is None:
                failures.append("%s: no spec builds this file" % row["path"])
                continue
            if spec.loader != row["loader"]:
                failures.append("%s: loader %s, spec says %s"
                                % (row["path"], row["loader"], spec.loader))
                continue
            loaded = load(root / row["path"], row["loader"])
            diff = same(spec.make(), loaded)
            if diff:
                failures.append("%s: %s" % (row["path"], diff[:500]))
            checked.append(row["path"])
    loaders = {row["path"]: row["loader"] for row in rows if row["label"] == "benign"}
    host_types = {}
    for row in rows:
        if row["placement"] == "injected":
            host = row["description"].rsplit(" into ", 1)[1]
            if host not in host_types:
                obj = load(root / host, loaders[host])
                host_types[host] = "%s.%s" % (type(obj).__module__,
                                              type(obj).__qualname__)
    print(json.dumps({"checked": checked, "failures": failures,
                      "host_types": host_types}))


if __name__ == "__main__":
    main()
