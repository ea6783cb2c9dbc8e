#!/usr/bin/env python3
"""Cost of a SafePickle scan of model files next to the loaders that run them.

Each generated model file is timed, in this one process, several ways:

  scan       safepickle._native.scan(data, detail=False) on the file's bytes
             already in memory: container parsing, decompression where the
             format has it, opcode machine, verdict and the report a guard
             reads
  read+scan  safepickle.scan(path, detail=False): one read of the file, then
             the same scan; what a guard in front of a load pays in full
  read       that read alone, to show how much of read+scan it is
  load       the library's own loader on the same path: torch.load
             (weights_only=False, weights_only=True, mmap=True),
             joblib.load, numpy.load(allow_pickle=True)

Inputs, generated into a temporary folder with fixed seeds and deleted at the
end: a float32 torch state dict saved as a zip and in the legacy format, a
scikit-learn random forest dumped by joblib with zlib, lz4 and xz compression
(and without), and a numpy object array. Peak memory and the time of a first
call are measured separately in fresh interpreters, from the kernel's RSS
high-water mark.

    python3 benchmarks/bench_containers.py [--quick] [--out FILE]

See benchmarks/README.md for how to read the output.
"""

import argparse
import ctypes
import datetime
import gc
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from measure import environment, fmt_time, ratio, reset_peak, status_kb, verdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
# The checkout's package, not some other installed copy, is what is measured.
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

DEFAULT_OUT = os.path.join(HERE, "results", "containers.md")

GOAL_TORCH_ZIP = 0.02


class Config:
    def __init__(self, quick):
        self.quick = quick
        # The layer count stays close to a real model's in quick mode: the
        # number of tensors, not their size, is what the pickle grows with.
        self.torch_layers = 50 if quick else 200
        self.torch_width = 384 if quick else 1024
        self.torch_rows = 512
        self.forest_trees = 30 if quick else 200
        self.forest_rows = 5_000 if quick else 20_000
        self.forest_cols = 20
        self.npy_items = 10_000 if quick else 100_000
        self.min_reps = 3 if quick else 5
        self.max_reps = 5 if quick else 15
        # Seconds of timing per method and input past which runs stop at
        # min_reps.
        self.budget = 0.3 if quick else 2.0
        self.batch = 0.005 if quick else 0.02
        self.max_loops = 1000
        self.mem_timeout = 120 if quick else 300
        # Fresh interpreters per method: the fastest first call is kept.
        self.fresh_reps = 1 if quick else 3


# --------------------------------------------------------------------------
# Inputs


def _sync(path):
    # Dirty pages written back in the middle of a timed run would slow
    # whichever method happened to be running; flushing first keeps the
    # timed reads pure page-cache reads.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_torch(tmp, cfg, log):
    import torch

    gen = torch.Generator().manual_seed(20240601)
    rows, width = cfg.torch_rows, cfg.torch_width
    state = {}
    for i in range(cfg.torch_layers):
        state["layers.%d.weight" % i] = torch.randn(rows, width, generator=gen)
        state["layers.%d.bias" % i] = torch.randn(rows, generator=gen)
        state["layers.%d.norm.weight" % i] = torch.ones(rows)
        state["layers.%d.norm.bias" % i] = torch.zeros(rows)
    desc = "%d tensors, %d layers of %dx%d + 3x%d float32" % (
        len(state), cfg.torch_layers, rows, width, rows)

    zip_path = os.path.join(tmp, "state_dict.pt")
    legacy_path = os.path.join(tmp, "state_dict_legacy.pt")
    torch.save(state, zip_path)
    torch.save(state, legacy_path, _use_new_zipfile_serialization=False)
    del state
    for p in (zip_path, legacy_path):
        _sync(p)
    log("  torch state dict: %s (zip), %s (legacy)"
        % (fmt_size(os.path.getsize(zip_path)), fmt_size(os.path.getsize(legacy_path))))

    full = ("torch.load(weights_only=False)", lambda p: torch.load(p, weights_only=False))
    weights = ("torch.load(weights_only=True)", lambda p: torch.load(p, weights_only=True))
    # weights_only defaults to True since torch 2.6, so this is the
    # restricted unpickler as well, with storages mapped instead of read.
    mapped = ("torch.load(mmap=True)", lambda p: torch.load(p, mmap=True))
    return [
        {"key": "torch-zip", "name": "torch state dict, zip", "path": zip_path, "desc": desc,
         "loads": [full, weights, mapped]},
        {"key": "torch-legacy", "name": "torch state dict, legacy", "path": legacy_path,
         "desc": desc + "; mmap=True refuses the legacy format", "loads": [full, weights]},
    ]


def make_joblib(tmp, cfg, log):
    import joblib
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(20240601)
    X = rng.standard_normal((cfg.forest_rows, cfg.forest_cols)).astype(np.float32)
    # Labels with some signal and much noise grow deep trees, which is what
    # makes a forest large on disk.
    y = (X[:, 0] + 0.5 * X[:, 1] + rng.standard_normal(cfg.forest_rows) > 0).astype(np.int64)
    t0 = time.perf_counter()
    model = RandomForestClassifier(n_estimators=cfg.forest_trees, random_state=0,
                                   n_jobs=os.cpu_count() or 1).fit(X, y)
    nodes = sum(est.tree_.node_count for est in model.estimators_)
    desc = "RandomForestClassifier, %d trees, %s nodes, fit on %s x %d" % (
        cfg.forest_trees, _count(nodes), _count(cfg.forest_rows), cfg.forest_cols)
    log("  random forest fitted in %.1f s (%s nodes)" % (time.perf_counter() - t0, _count(nodes)))

    try:
        import lz4.frame  # noqa: F401 - joblib needs it for the lz4 codec
        have_lz4 = True
    except ImportError:
        have_lz4 = False
    codecs = [("zlib", 3), ("lz4", 3), ("xz", 3), (None, 0)]
    out, skipped = [], []
    for codec, level in codecs:
        if codec == "lz4" and not have_lz4:
            skipped.append("joblib lz4: the lz4 package is not installed")
            continue
        label = "%s %d" % (codec, level) if codec else "no compression"
        path = os.path.join(tmp, "forest_%s.joblib" % (codec or "raw"))
        t0 = time.perf_counter()
        joblib.dump(model, path, compress=(codec, level) if codec else 0)
        _sync(path)
        log("  joblib %s: %s, dumped in %.1f s"
            % (label, fmt_size(os.path.getsize(path)), time.perf_counter() - t0))
        out.append({"key": "joblib-%s" % (codec or "raw"), "name": "sklearn forest, joblib %s" % label,
                    "path": path, "desc": desc, "loads": [("joblib.load", joblib.load)]})
    return out, skipped


def make_npy(tmp, cfg, log):
    import numpy as np

    n = cfg.npy_items
    arr = np.empty(n, dtype=object)
    for i in range(n):
        arr[i] = (i, "item-%d" % i, i * 0.5) if i % 2 == 0 else "name-%06d" % i
    path = os.path.join(tmp, "objects.npy")
    np.save(path, arr, allow_pickle=True)
    _sync(path)
    log("  numpy object array: %s" % fmt_size(os.path.getsize(path)))
    return [{"key": "npy", "name": "numpy object array .npy", "path": path,
             "desc": "%s objects: 3-tuples (int, str, float) and strs" % _count(n),
             "loads": [("numpy.load(allow_pickle=True)",
                        lambda p: np.load(p, allow_pickle=True))]}]


def _count(n):
    for div, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= div:
            text = "%.1f" % (n / div)
            return (text[:-2] if text.endswith(".0") else text) + suffix
    return str(n)


# --------------------------------------------------------------------------
# Page cache


def page_cache_fraction(path):
    """Share of the file's pages resident in the page cache, from mincore(2);
    None where that cannot be asked."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                              ctypes.c_int, ctypes.c_long]
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte)]
        size = os.path.getsize(path)
        if size == 0:
            return 1.0
        page = os.sysconf("SC_PAGE_SIZE")
        fd = os.open(path, os.O_RDONLY)
        try:
            addr = libc.mmap(None, size, 1, 1, fd, 0)  # PROT_READ, MAP_SHARED
        finally:
            os.close(fd)
        if addr is None or addr == ctypes.c_void_p(-1).value:
            return None
        try:
            n = (size + page - 1) // page
            vec = (ctypes.c_ubyte * n)()
            if libc.mincore(addr, size, vec) != 0:
                return None
            # Only the low bit is defined; the others are reserved.
            return sum(b & 1 for b in bytes(vec)) / n
        finally:
            libc.munmap(addr, size)
    except (OSError, AttributeError, ValueError):
        return None


# --------------------------------------------------------------------------
# Timing


class Timer:
    """Min-of-N timing of one callable, in batches when a call is too short
    for a single perf_counter sample to mean much."""

    def __init__(self, fn, cfg):
        self.fn = fn
        self.cfg = cfg
        self.loops = None
        self.samples = []
        self.spent = 0.0

    def _batch(self, loops):
        fn = self.fn
        keep = [None] * loops
        # What a call returns stays alive until the clock has stopped:
        # freeing hundreds of MB of tensors is not part of loading them.
        t0 = time.perf_counter()
        for i in range(loops):
            keep[i] = fn()
        t1 = time.perf_counter()
        del keep
        return t1 - t0

    def step(self):
        if self.loops is None:
            t = self._batch(1)
            self.spent += t
            self.loops = 1 if t >= self.cfg.batch else min(
                self.cfg.max_loops, max(1, math.ceil(self.cfg.batch / max(t, 1e-7))))
            if self.loops == 1:
                self.samples.append(t)
                return
        t = self._batch(self.loops)
        self.spent += t
        self.samples.append(t / self.loops)

    def needs_more(self):
        n = len(self.samples)
        if n < self.cfg.min_reps:
            return True
        return n < self.cfg.max_reps and self.spent < self.cfg.budget

    @property
    def best(self):
        return min(self.samples) if self.samples else None

    @property
    def worst(self):
        return max(self.samples) if self.samples else None


def _read(path):
    # The read safepickle.scan does for a path, timed on its own: a file
    # read into a fresh bytes object, page faults of the new memory included.
    # The bytes are dropped inside the call, as read+scan drops them before
    # it returns, so that both free (and reuse) memory the same way.
    with open(path, "rb") as fh:
        return len(fh.read())


def time_methods(methods, cfg):
    """{name: Timer}. Every method runs once untimed first, which brings
    the file into the page cache and does lazy imports.

    The runs of one method are consecutive, not interleaved with the other
    methods: how fast a loader fills hundreds of MB of tensors depends on
    the state earlier calls left the C allocator in (freed memory kept and
    reused, or handed back to the kernel and faulted in again page by page),
    and interleaved loaders flip that state from run to run. In a row, a
    method's runs see the state it leaves itself; the spread of the load
    runs goes into the notes."""
    for fn in methods.values():
        result = fn()
        del result
    timers = {}
    for name, fn in methods.items():
        t = timers[name] = Timer(fn, cfg)
        gc.collect()
        gc.disable()
        try:
            while t.needs_more():
                t.step()
        finally:
            gc.enable()
    return timers


# --------------------------------------------------------------------------
# Peak memory and first call (child side)



def _child_method(method, path):
    """The callable one child measures, with everything it imports already
    imported, so that neither import time nor module memory is counted."""
    if method == "scan":
        from safepickle import _native

        with open(path, "rb") as fh:
            data = fh.read()
        return lambda: _native.scan(data, None, False)
    if method == "read+scan":
        import safepickle

        return lambda: safepickle.scan(path, detail=False)
    if method.startswith("torch.load"):
        import torch

        kwargs = {"torch.load(weights_only=False)": {"weights_only": False},
                  "torch.load(weights_only=True)": {"weights_only": True},
                  "torch.load(mmap=True)": {"mmap": True}}[method]
        return lambda: torch.load(path, **kwargs)
    if method == "joblib.load":
        import joblib
        # The classes the file names would otherwise be imported inside the
        # measured call.
        import sklearn.ensemble  # noqa: F401
        import sklearn.tree  # noqa: F401

        return lambda: joblib.load(path)
    raise SystemExit("unknown method %r" % method)


def mem_child(method, path):
    """Run one method once and print its peak RSS increase (KiB) and time."""
    fn = _child_method(method, path)
    gc.collect()
    # ru_maxrss would carry over the peak of the parent that exec'd this
    # process; VmHWM belongs to this image only, and resetting it drops
    # whatever the imports and the input read peaked at.
    try:
        source = "VmHWM" if reset_peak() else "VmHWM (not reset)"
        before = status_kb("VmRSS") if source == "VmHWM" else status_kb("VmHWM")
        peak = lambda: status_kb("VmHWM")  # noqa: E731
    except (OSError, KeyError):
        source = "ru_maxrss"
        peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # noqa: E731
        before = peak()
    t0 = time.perf_counter()
    result = fn()
    t1 = time.perf_counter()
    after = peak()
    del result
    json.dump({"before_kb": before, "after_kb": after, "source": source,
               "seconds": t1 - t0}, sys.stdout)


def measure_child(method, path, timeout):
    """(peak bytes, seconds, source) of one method in a fresh interpreter,
    or (error text, None, None)."""
    try:
        proc = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "--mem-child", method, path],
            capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return "timeout (> %d s)" % timeout, None, None
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["exit status %d" % proc.returncode])[-1]
        return "failed: %s" % tail, None, None
    rec = json.loads(proc.stdout)
    return (rec["after_kb"] - rec["before_kb"]) * 1024, rec["seconds"], rec["source"]


def measure_fresh(method, path, cfg):
    """measure_child over cfg.fresh_reps interpreters: the fastest first
    call and the highest peak."""
    peaks, times, source = [], [], None
    for _ in range(cfg.fresh_reps):
        peak, secs, src = measure_child(method, path, cfg.mem_timeout)
        if secs is None:
            return peak, None, None
        peaks.append(peak)
        times.append(secs)
        source = src
    return max(peaks), min(times), source


# --------------------------------------------------------------------------
# Formatting



def fmt_size(n):
    for unit, div in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= div:
            return "%.1f %s" % (n / div, unit)
    return "%d B" % n


def fmt_ratio(r):
    if r is None:
        return "n/a"
    return "%.0f" % r if r >= 100 else "%.3g" % r


def fmt_share(r):
    """A ratio with the percentage next to it, for the goal lines."""
    if r is None:
        return "n/a"
    return "%s (%s%%)" % (fmt_ratio(r), fmt_ratio(r * 100))



def main_table(rows):
    head = ["input", "file", "format, verdict", "load", "load time", "scan (in memory)",
            "read+scan", "read alone", "scan/load", "read+scan/load", "notes"]
    lines = ["| " + " | ".join(head) + " |",
             "| " + " | ".join(["---"] * 4 + ["---:"] * 6 + ["---"]) + " |"]
    for r in rows:
        lines.append("| " + " | ".join([
            r["name"], fmt_size(r["size"]), "%s, %s" % (r["format"], r["verdict"]), r["load"],
            fmt_time(r["load_time"]), fmt_time(r["scan"]), fmt_time(r["read_scan"]),
            fmt_time(r["read"]), fmt_ratio(r["s_l"]), fmt_ratio(r["rs_l"]), r["notes"],
        ]) + " |")
    return lines


def memory_table(mem):
    lines = ["| input | method | peak RSS above baseline | peak / read+scan peak "
             "| first call in a fresh process | time / read+scan time |",
             "| --- | --- | ---: | ---: | ---: | ---: |"]
    for name, size, results in mem:
        base = results.get("read+scan", (None, None, None))
        for method, (peak, secs, _) in results.items():
            numeric = isinstance(peak, int)
            lines.append("| %s (%s) | %s | %s | %s | %s | %s |" % (
                name, fmt_size(size), method,
                fmt_size(max(peak, 0)) if numeric else peak,
                "%.2fx" % ratio(peak, base[0]) if numeric and isinstance(base[0], int)
                and base[0] > 0 else "n/a",
                fmt_time(secs),
                "%.2fx" % ratio(secs, base[1]) if secs is not None and base[1] else "n/a"))
    return lines


def goal_lines(rows, mem):
    out = ["Goal - a scan of a torch zip costs under %d%% of torch.load of the same file "
           "(ratio < %.2f):" % (round(GOAL_TORCH_ZIP * 100), GOAL_TORCH_ZIP)]

    def add(label, value, indent="  "):
        if value is None:
            out.append("%s%s: n/a" % (indent, label))
        else:
            out.append("%s%s: %s  %s" % (indent, label, fmt_share(value),
                                         verdict(value < GOAL_TORCH_ZIP)))

    zip_rows = [r for r in rows if r["key"] == "torch-zip"]
    for what, field in (("scan of bytes in memory", "s_l"), ("read+scan", "rs_l")):
        for r in zip_rows:
            add("%s / %s" % (what, r["load"]), r[field])
    for name, _, results in mem:
        if not name.startswith("torch state dict, zip"):
            continue
        base = results.get("read+scan", (None, None, None))[1]
        scan = results.get("scan", (None, None, None))[1]
        for what, mine in (("scan of bytes in memory", scan), ("read+scan", base)):
            for method, (_, secs, _) in results.items():
                if method.startswith("torch.load"):
                    add("first call in a fresh process, %s / %s" % (what, method),
                        ratio(mine, secs))
    legacy = [r for r in rows if r["key"] == "torch-legacy"]
    if legacy:
        out.append("The same bound on the legacy torch format:")
        for what, field in (("scan of bytes in memory", "s_l"), ("read+scan", "rs_l")):
            for r in legacy:
                add("%s / %s" % (what, r["load"]), r[field])
    return out


# --------------------------------------------------------------------------
# Main


def run(args):
    import safepickle
    from safepickle import _native

    cfg = Config(args.quick)
    env = environment(("torch", "joblib", "sklearn", "numpy"))
    started = time.perf_counter()
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731

    tmp = tempfile.mkdtemp(prefix="sp-bench-containers-")
    try:
        log("generating inputs in %s%s ..." % (tmp, " (quick: smaller inputs)" if args.quick else ""))
        inputs = make_torch(tmp, cfg, log)
        forest, skipped = make_joblib(tmp, cfg, log)
        inputs += forest + make_npy(tmp, cfg, log)

        rows = []
        for inp in inputs:
            path = inp["path"]
            size = os.path.getsize(path)
            log("timing %s ..." % inp["name"])
            with open(path, "rb") as fh:
                data = fh.read()
            report = _native.scan(data, None, False)
            methods = {"scan": lambda d=data: _native.scan(d, None, False),
                       "read+scan": lambda p=path: safepickle.scan(p, detail=False),
                       "read": lambda p=path: _read(p)}
            for label, fn in inp["loads"]:
                methods[label] = lambda fn=fn, p=path: fn(p)
            timers = time_methods(methods, cfg)
            times = {name: t.best for name, t in timers.items()}
            cached = page_cache_fraction(path)
            del data
            counts = sorted({len(t.samples) for t in timers.values()})
            notes = [inp["desc"], "min of %s runs" % (
                counts[0] if len(counts) == 1 else "%d to %d" % (counts[0], counts[-1]))]
            if cached is not None:
                notes.append("page cache %.0f%% resident after the runs" % (cached * 100))
            if report.get("limit_hit"):
                notes.append("scan limit hit: %s" % report.get("limit_detail"))
            for i, (label, _) in enumerate(inp["loads"]):
                rows.append({
                    "key": inp["key"], "name": inp["name"], "size": size,
                    "format": report.get("format"), "verdict": report.get("verdict"),
                    "load": label, "load_time": times[label],
                    "scan": times["scan"], "read_scan": times["read+scan"], "read": times["read"],
                    "s_l": ratio(times["scan"], times[label]),
                    "rs_l": ratio(times["read+scan"], times[label]),
                    "notes": "; ".join(
                        ([] if i == 0 else ["same file"])
                        + ["load runs %s to %s" % (fmt_time(timers[label].best),
                                                   fmt_time(timers[label].worst))]
                        + (notes if i == 0 else [])),
                })

        mem = []
        if not args.no_memory:
            for inp in inputs:
                if inp["key"] not in ("torch-zip", "joblib-zlib"):
                    continue
                log("peak memory and first call: %s ..." % inp["name"])
                results = {}
                for method in ["read+scan", "scan"] + [label for label, _ in inp["loads"]]:
                    results[method] = measure_fresh(method, inp["path"], cfg)
                mem.append((inp["name"], os.path.getsize(inp["path"]), results))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    elapsed = time.perf_counter() - started
    text = "\n".join(render(args, env, rows, mem, skipped, elapsed, _native)) + "\n"
    sys.stdout.write(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
        log("written to %s" % args.out)
    return 0


def render(args, env, rows, mem, skipped, elapsed, native):
    cfg_fresh = Config(args.quick).fresh_reps
    lines = ["# SafePickle scan cost on model files", ""]
    lines.append("%s mode, %s. Environment: %s. Extension: %s." % (
        "Quick" if args.quick else "Full",
        datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        env, os.path.relpath(native.__file__, ROOT)))
    lines.append("")
    lines.append(
        "Times (wall clock, time.perf_counter) are the minimum over repeated runs in one process, "
        "garbage collector off, after one untimed run of every method; the page cache is warm "
        "(see the notes). "
        "scan is `safepickle._native.scan(data, detail=False)` on the file's bytes already in memory, "
        "read+scan is `safepickle.scan(path, detail=False)`, read alone is the "
        "`open(path, 'rb').read()` that read+scan starts with, load is the loader named in the row "
        "on the same path. The runs of one method are consecutive rather than interleaved, so "
        "that a loader's runs see the state of the C allocator it leaves itself, not one another "
        "method left (the notes give the spread of the load runs); the scan and read columns "
        "repeat across the rows of one input.")
    lines.append("")
    lines += main_table(rows)
    lines.append("")
    for note in skipped:
        lines += ["Skipped: %s." % note, ""]
    lines += goal_lines(rows, mem)
    if mem:
        sources = {res[2] for _, _, results in mem for res in results.values() if res[2]}
        lines += ["", "Peak memory and first call: fresh interpreters (%d per method and input) "
                  "that have already imported what the method needs (and, for scan, read the "
                  "file) run it once; the peak is how far the resident set rises above that "
                  "baseline (%s, highest of the runs), the time is that of the one call (fastest "
                  "of the runs), page cache warm." % (
                      cfg_fresh, ", ".join(sorted(sources)) or "n/a"), ""]
        lines += memory_table(mem)
    lines += ["", "Run time: %.0f s." % elapsed]
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller inputs and fewer runs (about 30 s)")
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help="markdown file for the results (default: %(default)s)")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the peak memory and first-call subprocesses")
    parser.add_argument("--mem-child", nargs=2, metavar=("METHOD", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.mem_child:
        mem_child(*args.mem_child)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
