"""Which benign files can be loaded at all: the false-positive denominator.

A guard that blocks a file its loader would refuse anyway costs the user
nothing, so the evaluation also counts false positives among the benign files
that load. A benign file is *unloadable* when every loader a user might hand
it to raises on the file itself: ``pickle.load``, ``joblib.load``,
``torch.load(weights_only=False)`` and ``pandas.read_pickle`` for pickles,
``numpy.load(allow_pickle=True)`` (every member) for ``.npy``/``.npz``.
A failure to find a class (ImportError, AttributeError: the model's own
code is not installed here) does not make a file unloadable: with its code
present it would load.

Only files labelled benign are ever loaded, each in a child process with a
timeout, in an empty working directory. Results are cached by sha256.
"""

import json
import os
import subprocess
import sys
import tempfile

from .peers.collect import file_sha256

_CHILD = r"""
import io, json, pickle, sys, warnings
warnings.filterwarnings("ignore")
path, kind = sys.argv[1], sys.argv[2]

def attempts():
    if kind == "numpy":
        def np_load():
            import numpy as np
            x = np.load(path, allow_pickle=True)
            if hasattr(x, "files"):
                for k in x.files:
                    x[k]
        yield "numpy.load", np_load
        return
    yield "pickle.load", lambda: pickle.load(open(path, "rb"))
    def jl():
        import joblib
        joblib.load(path)
    yield "joblib.load", jl
    def tl():
        import torch
        torch.load(path, weights_only=False)
    yield "torch.load", tl
    def pd():
        import pandas
        pandas.read_pickle(path)
    yield "pandas.read_pickle", pd

failures = []
for name, fn in attempts():
    try:
        fn()
        result = {"loadable": True, "by": name}
    except (ImportError, AttributeError) as exc:
        result = {"loadable": True, "by": name,
                  "note": "needs code not installed: %s" % str(exc)[:120]}
    except Exception as exc:
        failures.append("%s: %s: %s" % (name, type(exc).__name__, str(exc)[:120]))
        continue
    print(json.dumps(result))
    sys.exit(0)
print(json.dumps({"loadable": False, "why": failures}))
"""


def _kind(fmt):
    return "numpy" if fmt.startswith(("npy", "npz")) else "pickle"


def check(path, fmt, timeout=120):
    with tempfile.TemporaryDirectory() as cwd:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": cwd, "TMPDIR": cwd}
        try:
            proc = subprocess.run([sys.executable, "-c", _CHILD, path, _kind(fmt)], cwd=cwd,
                                  env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"loadable": True, "note": "timed out: counted as loadable"}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        return {"loadable": True, "note": "child died (%d): counted as loadable" % proc.returncode}
    return json.loads(lines[-1])


def loadable_map(entries, cache_file):
    """{path: result dict} for the benign entries; cached by sha256."""
    cache = {}
    if os.path.exists(cache_file):
        with open(cache_file) as fh:
            cache = json.load(fh)
    out = {}
    for e in entries:
        key = file_sha256(e.path) + ":" + _kind(e.fmt)
        if key not in cache:
            cache[key] = check(e.path, e.fmt)
        out[e.path] = cache[key]
    os.makedirs(os.path.dirname(cache_file), exist_ok=True)
    with open(cache_file, "w") as fh:
        json.dump(cache, fh)
    return out
