"""Train the bundled model: ``python3 -m training.train``.

    python3 -m training.generate --out build/corpus        # the generated corpus
    python3 -m training.train --generated build/corpus     # model -> safepickle/model/

Reads the generated corpus and the shared corpus (benign and rce classes),
scans every file with the engine, fits an XGBoost model through the
libxgboost the scanner links, picks the threshold from out-of-fold scores
(grouped by origin repository and by malicious family), and writes:

- ``safepickle/model/model.ubj``: the booster (XGBoost UBJSON);
- ``safepickle/model/model-meta.json``: feature layout, library version,
  digest, threshold, training counts and parameters;
- ``tests/data/model-recorded.json``: feature rows with the booster's own
  predictions at training time, which a test compares with the serving path.
"""

import argparse
import collections
import hashlib
import json
import os
import sys
import time

import numpy as np

from safepickle import _native
from safepickle.classifier import META_FILE, MODEL_FILE, feature_layout_digest

from . import dataset, fit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SHARED = os.path.join(os.path.dirname(ROOT), "shared", "corpus")
RECORDED_ROWS = 64


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python3 -m training.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--generated", action="append", default=[],
                   help="a generated corpus directory (repeatable)")
    p.add_argument("--shared", default=DEFAULT_SHARED, help="the shared corpus directory")
    p.add_argument("--no-shared", action="store_true", help="do not use the shared corpus")
    p.add_argument("--out", default=os.path.join(ROOT, "safepickle", "model"))
    p.add_argument("--recorded", default=os.path.join(ROOT, "tests", "data", "model-recorded.json"))
    return p.parse_args(argv)


def load_entries(args):
    entries = []
    if not args.no_shared:
        entries += dataset.read_shared(args.shared)
    for directory in args.generated:
        entries += dataset.read_generated(directory)
    if not entries:
        sys.exit("training: no corpus given")
    return entries


def summary(rows):
    counts = collections.Counter()
    for f in rows.files:
        counts[(f.source, "malicious" if f.label else "benign")] += 1
    families = sorted({f.family for f in rows.files if f.label == 1})
    return {
        "files": {f"{src}/{lab}": n for (src, lab), n in sorted(counts.items())},
        "rows": {"benign": int((rows.y == 0).sum()), "malicious": int((rows.y == 1).sum())},
        "malicious_families": len(families),
    }


def write_recorded(path, rows, preds):
    step = max(1, len(rows.y) // RECORDED_ROWS)
    picked = list(range(0, len(rows.y), step))[:RECORDED_ROWS]
    # keep both classes in the sample whatever the order of the rows
    for cls in (0.0, 1.0):
        if not any(rows.y[i] == cls for i in picked):
            hits = np.flatnonzero(rows.y == cls)
            if len(hits):
                picked.append(int(hits[0]))
    doc = {
        "feature_version": _native.FEATURE_VERSION,
        "rows": [[float(v) for v in rows.x[i]] for i in picked],
        "labels": [float(rows.y[i]) for i in picked],
        "predictions": [float(preds[i]) for i in picked],
    }
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as fh:
        json.dump(doc, fh)
        fh.write("\n")


def main(argv=None):
    args = parse_args(argv)
    started = time.time()
    entries = load_entries(args)
    print(f"[train] scanning {len(entries)} files", flush=True)
    rows = dataset.build_rows(entries)
    print(f"[train] {len(rows.y)} rows from {len(rows.files)} files "
          f"({int((rows.y == 1).sum())} malicious rows)", flush=True)

    print("[train] out-of-fold scores for the threshold", flush=True)
    threshold, oof = fit.held_out_threshold(rows)
    labels = np.array([f.label for f in rows.files])
    rule_benign = np.array([f.rule_verdict == "benign" for f in rows.files])
    held_out = {
        "benign_files_rules_pass": int(((labels == 0) & rule_benign).sum()),
        "benign_at_or_above_threshold": int(((labels == 0) & rule_benign & (oof >= threshold)).sum()),
        "malicious_files": int((labels == 1).sum()),
        "malicious_at_or_above_threshold": int(((labels == 1) & (oof >= threshold)).sum()),
    }
    print(f"[train] threshold {threshold:.3f}; held out: {held_out}", flush=True)

    print("[train] final model", flush=True)
    model, preds = fit.fit(rows)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, MODEL_FILE), "wb") as fh:
        fh.write(model)
    meta = {
        "feature_version": _native.FEATURE_VERSION,
        "feature_digest": feature_layout_digest(),
        "xgboost_version": _native.library_versions()["xgboost"],
        "model_sha256": hashlib.sha256(model).hexdigest(),
        "threshold": round(threshold, 6),
        "params": fit.PARAMS,
        "rounds": fit.ROUNDS,
        "benign_weight": fit.BENIGN_WEIGHT,
        "threshold_rule": {"benign_quantile": fit.BENIGN_QUANTILE,
                           "minimum": fit.MIN_THRESHOLD},
        "training": summary(rows),
        "held_out": held_out,
        "corpora": (["shared"] if not args.no_shared else [])
        + [os.path.basename(os.path.normpath(d)) for d in args.generated],
    }
    with open(os.path.join(args.out, META_FILE), "w") as fh:
        json.dump(meta, fh, indent=2, sort_keys=True)
        fh.write("\n")
    write_recorded(args.recorded, rows, preds)
    print(f"[train] wrote {args.out} ({len(model)} bytes) in {time.time() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
