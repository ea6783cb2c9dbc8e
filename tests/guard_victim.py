"""A throw-away interpreter for the guard tests: attempts loads of files that
may be malicious, behind the guard, and prints one JSON result per case.

    python guard_victim.py SPEC.json

SPEC: {"order": "patch-first" | "import-first" | "no-patch", "imports": [...],
"policy": {...}, "race": {...} or null, "cases": [{"id", "loader", "path",
"kwargs", "hostile"}]}.

While a hostile case runs, an audit hook stops the process (exit status 87,
after writing the event to $GUARD_TRIPWIRE) at the first sign that anything
from the file is being resolved or run: pickle.find_class, process, socket,
file-system events (not code loading: loaders import modules lazily). A guard failure therefore cannot go
further than the harmless canary the generated payloads carry.
"""

import importlib
import json
import os
import sys
import threading
import types
import warnings

_DANGEROUS_PREFIXES = (
    "pickle.find_class",
    "os.system",
    "os.exec",
    "os.posix_spawn",
    "os.spawn",
    "os.fork",
    "os.kill",
    "os.mkdir",
    "os.remove",
    "os.rename",
    "os.rmdir",
    "os.symlink",
    "os.chmod",
    "subprocess.Popen",
    "socket.",
    "shutil.",
    "ctypes.",
    "webbrowser.open",
    "urllib.Request",
    "builtins.input",
)

_armed = threading.local()


# Modules whose globals no benign test file names: with find_class allowed
# (a case expected to load), resolving one of these still trips the wire.
_DANGEROUS_MODULES = ("posix", "os", "nt", "subprocess", "builtins", "socket", "shutil", "sys")


# What a load behind the guard's gate may resolve before the verdict
# (csrc/core/sp_progress.c): numpy's array rebuilds, nothing else.
_GATE_REBUILDS = {
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


def _tripwire(event, args):
    mode = getattr(_armed, "on", False)
    if not mode:
        return
    if mode == "gated" and event == "pickle.find_class" and tuple(args[:2]) in _GATE_REBUILDS:
        return
    if mode == "loads" and event == "pickle.find_class" and args[0] not in _DANGEROUS_MODULES:
        return
    if event.startswith(_DANGEROUS_PREFIXES):
        _armed.on = False
        with open(os.environ["GUARD_TRIPWIRE"], "a") as fh:
            fh.write(f"{event} {args!r:.200}\n")
        os._exit(87)


def _describe(obj):
    """A JSON view of a loaded object, to compare with what was saved."""
    name = type(obj).__module__ + "." + type(obj).__qualname__
    if isinstance(obj, dict):
        return {str(k): _describe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_describe(v) for v in obj]
    if isinstance(obj, (int, float, str, bool)) or obj is None:
        return obj
    if name.startswith("torch.") and hasattr(obj, "tolist"):
        if obj.numel() > 1000:
            import hashlib

            import torch

            raw = obj.contiguous().view(torch.uint8).numpy().tobytes()
            return ["tensor-digest", list(obj.shape), hashlib.sha256(raw).hexdigest()]
        return ["tensor", obj.tolist()]
    if name.startswith("numpy.") and hasattr(obj, "tolist"):
        return ["array", _describe(obj.tolist())]
    if name.startswith("pandas.") and hasattr(obj, "to_dict"):
        return ["frame", _describe(obj.to_dict())]
    return ["object", name]


def _open(path):
    return open(path, "rb")


def _resolve(dotted):
    parts = dotted.split(".")
    for n in range(len(parts), 0, -1):
        module = sys.modules.get(".".join(parts[:n]))
        if module is not None:
            for attribute in parts[n:]:
                module = getattr(module, attribute)
            return module
    raise ValueError(f"nothing imported holds {dotted}")


def _load(loader, path, kwargs, modules):
    pickle = modules.get("pickle")
    if loader in ("pickle.load", "pickle._load", "_pickle.load", "safepickle.load"):
        owner, name = loader.rsplit(".", 1)
        with _open(path) as fh:
            return getattr(importlib.import_module(owner), name)(fh, **kwargs)
    if loader in ("pickle.loads", "pickle._loads", "_pickle.loads", "safepickle.loads"):
        owner, name = loader.rsplit(".", 1)
        with _open(path) as fh:
            data = fh.read()
        return getattr(importlib.import_module(owner), name)(data, **kwargs)
    if loader in (
        "pickle.Unpickler",
        "pickle._Unpickler",
        "_pickle.Unpickler",
        "safepickle.Unpickler",
    ):
        owner, name = loader.rsplit(".", 1)
        with _open(path) as fh:
            return getattr(importlib.import_module(owner), name)(fh, **kwargs).load()
    if loader.startswith("copy:"):
        # "copy:OWNER:NAME": a copy of a loader bound in module OWNER (or on
        # a class of it, OWNER ending in the class name)
        _, owner, name = loader.split(":")
        holder = _resolve(owner)
        copy = getattr(holder, name)
        with _open(path) as fh:
            if name.endswith("loads"):
                return copy(fh.read(), **kwargs)
            if name.lower().endswith("unpickler"):
                return copy(fh, **kwargs).load()
            return copy(fh, **kwargs)
    if loader == "early-subclass":
        with _open(path) as fh:
            return modules["early_subclass"](fh).load()
    if loader == "torch.load":
        return modules["torch"].load(path, **kwargs)
    if loader == "torch.load(file)":
        with _open(path) as fh:
            return modules["torch"].load(fh, **kwargs)
    if loader == "joblib.load":
        return modules["joblib"].load(path, **kwargs)
    if loader == "joblib.NumpyUnpickler":
        from joblib.numpy_pickle import NumpyUnpickler

        with _open(path) as fh:
            return NumpyUnpickler(path, fh, True).load()
    if loader == "numpy.load":
        loaded = modules["numpy"].load(path, **kwargs)
        if hasattr(loaded, "files"):
            return {key: loaded[key] for key in loaded.files}
        return loaded
    if loader == "pandas.read_pickle":
        return modules["pandas"].read_pickle(path, **kwargs)
    raise ValueError(f"unknown loader {loader}")


def _run_case(case, modules):
    # hostile: True, nothing from the file may be resolved; "gated": only
    # numpy's rebuilds (a gated load runs them before the verdict);
    # "loads": the case must load (a race whose benign side wins), only
    # benign globals.
    _armed.on = case.get("hostile") or False
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            obj = _load(case["loader"], case["path"], case.get("kwargs", {}), modules)
        _armed.on = False
        return {
            "id": case["id"],
            "outcome": "loaded",
            "value": _describe(obj),
            "warnings": [f"{w.category.__name__}: {w.message}" for w in caught],
        }
    except Exception as exc:  # every failure is reported to the test
        _armed.on = False
        import pickle

        report = getattr(exc, "report", None)
        return {
            "id": case["id"],
            "outcome": "raised",
            "type": type(exc).__name__,
            "unpickling_error": isinstance(exc, pickle.UnpicklingError),
            "message": str(exc),
            "verdict": getattr(report, "verdict", None),
            "reasons": list(getattr(report, "reasons", []) or []),
        }


def _install_race(race):
    """Act between the verdict and the load, as an attacker racing the
    guard would: replace the file by rename, or rewrite it in place."""
    from safepickle.guard import check

    def act(snapshot):
        target, hostile = race["target"], race["hostile_copy"]
        armed, _armed.on = getattr(_armed, "on", False), False
        if race["how"] == "rename":
            os.replace(hostile, target)
        else:
            with open(hostile, "rb") as src:
                data = src.read()
            with open(target, "r+b") as dst:
                dst.write(data)
                dst.truncate()
        check._after_verdict = None
        _armed.on = armed

    check._after_verdict = act


def main():
    with open(sys.argv[1]) as fh:
        spec = json.load(fh)
    modules = {}
    import pickle

    modules["pickle"] = pickle

    class EarlySubclass(pickle.Unpickler):
        """Made from the real C Unpickler before the guard existed."""

    modules["early_subclass"] = EarlySubclass

    # A module of the program that copied the loaders before the guard
    # existed, as "from pickle import loads" at its top does.
    early = types.ModuleType("early_copies")
    exec("from pickle import load, loads, Unpickler\nfrom pickle import loads as other_loads",
         early.__dict__)
    sys.modules["early_copies"] = early

    def import_libraries():
        for name in spec.get("imports", []):
            modules[name] = importlib.import_module(name)

    import safepickle

    if spec["order"] == "import-first":
        import_libraries()
        safepickle.patch(**spec.get("policy", {}))
    elif spec["order"] == "patch-first":
        safepickle.patch(**spec.get("policy", {}))
        import_libraries()
    else:
        import_libraries()
    if spec.get("race"):
        _install_race(spec["race"])
    sys.addaudithook(_tripwire)
    results = []
    threads = spec.get("threads", 0)
    if threads:
        out = [None] * len(spec["cases"])

        def worker(k):
            for i in range(k, len(spec["cases"]), threads):
                out[i] = _run_case(spec["cases"][i], modules)

        pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        results = out
    else:
        results = [_run_case(case, modules) for case in spec["cases"]]
    sys.stdout.write(json.dumps(results) + "\n")


if __name__ == "__main__":
    main()
