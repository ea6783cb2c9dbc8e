"""Files and a subprocess runner for the guard tests.

Hostile files carry a canary payload: os.mkdir of a directory under the
test's tmp folder. Creating them only pickles; they are loaded only in
tests/guard_victim.py, in a subprocess with an audit-hook tripwire.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
VICTIM = Path(__file__).resolve().parent / "guard_victim.py"

# What a subprocess keeps of the environment: enough to find Python, the
# checkout and, under the sanitizer run, the ASan runtime.
_KEPT_ENV = ("PATH", "HOME", "LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "PYTHONMALLOC")


class MkdirPayload:
    """Unpickling this creates ``target``: harmless, and easy to detect."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return (os.mkdir, (self.target,))


def benign_object():
    return {"weights": [1.5, 2.5], "name": "benign", "layers": (3, 4)}


def write_pickle(path, obj, protocol=4):
    import pickle

    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=protocol)
    return str(path)


def write(kind, path, obj):
    """Save ``obj`` in the container ``kind`` at ``path``; returns
    (path, loader, kwargs) for the victim."""
    path = str(path)
    if kind == "raw":
        return write_pickle(path, obj), "pickle.load", {}
    if kind == "torch-zip":
        import torch

        torch.save(obj, path)
        return path, "torch.load", {"weights_only": False}
    if kind == "torch-legacy":
        import torch

        torch.save(obj, path, _use_new_zipfile_serialization=False)
        return path, "torch.load", {"weights_only": False}
    if kind.startswith("joblib"):
        import joblib

        compress = {"joblib": 0, "joblib-zlib": 3, "joblib-lz4": ("lz4", 3), "joblib-xz": ("xz", 3)}
        joblib.dump(obj, path, compress=compress[kind])
        return path, "joblib.load", {}
    if kind == "npy":
        import numpy

        numpy.save(path, numpy.array([obj, 1], dtype=object), allow_pickle=True)
        return path, "numpy.load", {"allow_pickle": True}
    if kind == "npz":
        import numpy

        numpy.savez(path, a=numpy.array([obj, 1], dtype=object), b=numpy.arange(3))
        return path, "numpy.load", {"allow_pickle": True}
    if kind in ("pandas", "pandas-gz"):
        import pandas

        pandas.to_pickle(obj, path)
        return path, "pandas.read_pickle", {}
    raise ValueError(kind)


SUFFIX = {
    "raw": ".pkl",
    "torch-zip": ".pt",
    "torch-legacy": ".pt",
    "joblib": ".joblib",
    "joblib-zlib": ".joblib",
    "joblib-lz4": ".joblib",
    "joblib-xz": ".joblib",
    "npy": ".npy",
    "npz": ".npz",
    "pandas": ".pkl",
    "pandas-gz": ".pkl.gz",
}


def child_env():
    """The environment of a test's child interpreter: this checkout on its
    path, and the sanitizer settings of the run (the ASan run preloads its
    runtime)."""
    env = {k: os.environ[k] for k in _KEPT_ENV if k in os.environ}
    env["PYTHONPATH"] = str(REPO_ROOT)
    return env


def run_victim(tmp_path, spec, timeout=120):
    """Run the victim on ``spec``; returns ({id: result}, tripwire text)."""
    spec_path = tmp_path / f"spec-{os.getpid()}-{id(spec)}.json"
    tripwire = tmp_path / "tripwire.log"
    spec_path.write_text(json.dumps(spec))
    env = child_env()
    env["GUARD_TRIPWIRE"] = str(tripwire)
    for key, value in spec.get("env", {}).items():
        env[key] = value
    proc = subprocess.run(
        [sys.executable, str(VICTIM), str(spec_path)],
        cwd=str(tmp_path),
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    fired = tripwire.read_text() if tripwire.exists() else ""
    if proc.returncode != 0:
        raise AssertionError(
            f"victim exited with {proc.returncode}; tripwire: {fired!r}\n"
            f"stderr:\n{proc.stderr[-4000:]}"
        )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("[")]
    results = {r["id"]: r for r in json.loads(lines[-1])}
    return results, fired


def describe_benign():
    """What the victim reports for benign_object() after a plain load."""
    return {"weights": [1.5, 2.5], "name": "benign", "layers": [3, 4]}
