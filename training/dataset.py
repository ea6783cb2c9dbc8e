"""Feature rows for training and evaluation, read from corpus manifests.

A corpus is a directory with a tab-separated manifest. Two kinds are read:

- the shared evaluation corpus (``MANIFEST.tsv``: ``path``, ``label``,
  ``class``, ``format``, ``origin`` ...), of which only the classes that
  have a clear answer are used for training: ``benign`` (0) and ``rce``
  (1). ``codeobj``, ``context``, ``inert`` and ``torchscript`` are policy
  or out-of-reach classes, kept for evaluation only;
- a generated corpus (``manifest.tsv`` of ``python3 -m training.generate``:
  ``path``, ``label``, ``family``, ``container``, ``loader`` ...).

Every file is scanned by the engine itself (rules only, nothing loaded) and
turned into one row per pickle record. A benign file gives every record as
benign. A malicious file gives the records its rules flag as malicious and
drops its other records, which may be perfectly ordinary (the benign half of
an injected model); when no rule fires, its records with a pickle are all
taken as malicious.
"""

import csv
import os
import zlib
from dataclasses import dataclass, field

import numpy as np

from safepickle import _native

TRAIN_CLASSES = {"benign": 0, "rce": 1}


@dataclass
class FileEntry:
    path: str  # absolute
    label: int  # 0 benign, 1 malicious, -1 evaluation only
    group: str  # what a grouped split keeps together
    family: str  # malicious family, or the benign producer
    fmt: str  # container / format
    klass: str  # corpus class ("benign", "rce", "codeobj" ...)
    source: str  # "shared" or "generated"
    rule_verdict: str = ""  # the rules' verdict on the file, once scanned


@dataclass
class Rows:
    x: np.ndarray  # float32, rows x features
    y: np.ndarray  # float32 labels
    file_index: np.ndarray  # row -> index into files
    files: list = field(default_factory=list)


def _origin_repo(origin):
    # "owner/repo:path@commit" -> "owner/repo"
    return origin.split(":", 1)[0] if origin else "?"


def read_shared(root):
    """Entries of the shared corpus (benign, nonpickle, rce, and the
    evaluation-only classes with label -1)."""
    entries = []
    with open(os.path.join(root, "MANIFEST.tsv"), newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            klass = row["class"]
            if row["label"] == "benign":
                label = 0 if klass in ("benign", "nonpickle") else -1
            else:
                label = 1 if klass == "rce" else -1
            entries.append(
                FileEntry(
                    path=os.path.join(root, row["path"]),
                    label=label,
                    group="shared:" + _origin_repo(row["origin"]),
                    family=klass,
                    fmt=row["format"],
                    klass=klass,
                    source="shared",
                )
            )
    return entries


def _generated_group(label, family, path):
    """Malicious files are grouped by family: a held-out family is an
    attack the model never saw. Benign files are samples of what libraries
    write, not families to generalise to: each library's files are spread
    over five buckets, so every fold still holds out unseen files of every
    library (the shared corpus, grouped by repository, measures unseen
    projects)."""
    if label != 0:
        return "gen-family:" + family
    return "gen-benign:%s:%d" % (family, zlib.crc32(path.encode()) % 5)


def read_generated(root):
    """Entries of a generated corpus."""
    entries = []
    with open(os.path.join(root, "manifest.tsv"), newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            label = {"benign": 0, "malicious": 1}.get(row["label"], -1)
            family = row["family"]
            entries.append(
                FileEntry(
                    path=os.path.join(root, row["path"]),
                    label=label,
                    group=_generated_group(label, family, row["path"]),
                    family=family,
                    fmt=row.get("container") or row.get("format") or "?",
                    klass=row["label"] if label >= 0 else row["label"],
                    source="generated",
                )
            )
    return entries


def scan_records(path):
    """(features, rule_verdict) per record holding a pickle; the file's
    verdict on the rules alone and its format."""
    with open(path, "rb") as fh:
        data = fh.read()
    raw = _native.scan(data, detail=False, record_features=True)
    records = [
        (np.asarray(r["features"], dtype=np.float32), r["rule_verdict"])
        for r in raw["records"]
        if r["features"] is not None
    ]
    return records, raw["verdict"], raw["format"]


def build_rows(entries):
    """Rows for the entries with a training label (0 or 1)."""
    xs, ys, index = [], [], []
    kept = []
    for entry in entries:
        if entry.label not in (0, 1):
            continue
        records, entry.rule_verdict, _fmt = scan_records(entry.path)
        if not records:
            continue
        if entry.label == 1:
            flagged = [f for f, v in records if v == "unsafe"]
            chosen = flagged or [f for f, _v in records]
        else:
            chosen = [f for f, _v in records]
        for f in chosen:
            xs.append(f)
            ys.append(float(entry.label))
            index.append(len(kept))
        kept.append(entry)
    n = len(_native.feature_names())
    x = np.vstack(xs).astype(np.float32) if xs else np.zeros((0, n), np.float32)
    return Rows(
        x=np.ascontiguousarray(x),
        y=np.asarray(ys, dtype=np.float32),
        file_index=np.asarray(index, dtype=np.int64),
        files=kept,
    )
