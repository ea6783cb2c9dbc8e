"""Subprocess side of a peer run: ``python -m benchmarks.peers.worker MODULE``
reads a JSON list of file paths on stdin, runs ``MODULE.scan_file`` on each
and writes one JSON line per file on stdout as soon as it is done, so that
when the process dies the files already finished are not lost.

Tools print and log freely, so the real stdout is kept for the results
and everything else written to stdout goes to stderr.
"""

import importlib
import json
import os
import sys
import time

from .verdicts import ALL, ERROR

FINDING_CHARS = 300


def _short(text):
    text = " ".join(str(text).split())
    if len(text) > FINDING_CHARS:
        return text[:FINDING_CHARS - 3] + "..."
    return text


def _scan(runner, path):
    start = time.perf_counter()
    try:
        verdict, finding, variants = runner.scan_file(path)
    except Exception as exc:
        verdict, finding, variants = ERROR, "%s: %s" % (type(exc).__name__, exc), {}
    seconds = time.perf_counter() - start
    for name in [verdict, *variants.values()]:
        if name not in ALL:
            raise ValueError("runner gave unknown verdict %r" % (name,))
    return {"path": path, "verdict": verdict, "finding": _short(finding),
            "seconds": seconds, "variants": variants}


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: python -m benchmarks.peers.worker MODULE\n")
        return 2
    results = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    runner = importlib.import_module(argv[1])
    paths = json.load(sys.stdin)
    for path in paths:
        results.write(json.dumps(_scan(runner, path)) + "\n")
        results.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
