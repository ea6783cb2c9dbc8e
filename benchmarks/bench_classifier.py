"""What a prediction costs: ``python3 benchmarks/bench_classifier.py``.

Measures, with the bundled model and real feature rows (those recorded at
training time, ``tests/data/model-recorded.json``):

- one prediction in C: ``Classifier.score_rows`` over many rows at once,
  divided by the row count (each row is still one
  ``XGBoosterPredictFromDense`` call through the thread's proxy);
- one prediction from Python: ``score_rows`` called with a single row;
- the same from two threads at once (the GIL is released around the C loop);
- what the model adds to a scan: ``_native.scan`` with and without the
  classifier on the shared corpus's benign raw pickles, per file.

Goal: under 20 µs per prediction. Results go to stdout and
``benchmarks/results/classifier-speed.md``.
"""

import argparse
import csv
import gc
import json
import os
import platform
import statistics
import sys
import threading
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from safepickle import _native  # noqa: E402
from safepickle.classifier import bundled_model  # noqa: E402

GOAL_US = 20.0


def best_of(fn, repeat=7):
    times = []
    for _ in range(repeat):
        gc.disable()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        gc.enable()
    return min(times)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results",
                                                 "classifier-speed.md"))
    p.add_argument("--corpus", default=os.path.join(os.path.dirname(ROOT), "shared", "corpus"))
    args = p.parse_args(argv)

    model = bundled_model()
    clf = model.classifier
    with open(os.path.join(ROOT, "tests", "data", "model-recorded.json")) as fh:
        rows = np.asarray(json.load(fh)["rows"], dtype=np.float32)
    reps = 200
    matrix = np.ascontiguousarray(np.tile(rows, (reps, 1)))
    n = len(matrix)
    clf.score_rows(matrix[:10])  # the thread's proxy is made on first use

    c_total = best_of(lambda: clf.score_rows(matrix))
    c_us = c_total / n * 1e6

    singles = [np.ascontiguousarray(r) for r in rows]

    def one_by_one():
        for _ in range(50):
            for r in singles:
                clf.score_rows(r)

    py_us = best_of(one_by_one) / (50 * len(singles)) * 1e6

    def two_threads():
        ts = [threading.Thread(target=clf.score_rows, args=(matrix,)) for _ in range(2)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    thr_us = best_of(two_threads, repeat=5) / (2 * n) * 1e6

    # what the model adds to a scan, per file
    added = []
    with open(os.path.join(args.corpus, "MANIFEST.tsv"), newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            if row["label"] != "benign" or not row["format"].startswith("raw-pickle"):
                continue
            with open(os.path.join(args.corpus, row["path"]), "rb") as f:
                data = f.read()
            plain = best_of(lambda: _native.scan(data, detail=False), repeat=5)
            with_model = best_of(lambda: _native.scan(data, detail=False, classifier=clf,
                                                      threshold=model.threshold), repeat=5)
            added.append((with_model - plain) * 1e6)

    lines = [
        "# Classifier: cost of a prediction",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs, libxgboost "
        f"{_native.library_versions()['xgboost']}; model: "
        f"{bundled_model().meta['rounds']} trees, "
        f"{clf.n_features} features. Minimum over repeated runs in one process.",
        "",
        "| measure | per prediction |",
        "| --- | ---: |",
        f"| in C (`score_rows` on {n} rows / {n}) | {c_us:.2f} µs |",
        f"| from Python, one row per call | {py_us:.2f} µs |",
        f"| two threads at once, each on {n} rows (wall / {2 * n}) | {thr_us:.2f} µs |",
        f"| added to `_native.scan` per file (median over {len(added)} corpus pickles, "
        f"one prediction per record) | {statistics.median(added):.2f} µs |",
        "",
        f"Goal: under {GOAL_US:.0f} µs per prediction: "
        f"{'PASS' if max(c_us, py_us) < GOAL_US else 'FAIL'} "
        f"(worst of the first two rows: {max(c_us, py_us):.2f} µs).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
