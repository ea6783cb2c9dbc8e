#!/usr/bin/env python3
"""What the load guard costs: a load after safepickle.patch() next to the same
plain load, in time and in peak memory, each one in a fresh interpreter.

Inputs, generated into a temporary folder with fixed seeds and deleted at the
end:

  torch     a float32 state dict of about 400 MB, torch.save (zip);
            torch.load(path) with its defaults
  joblib    a scikit-learn random forest, joblib.dump(compress=3) (zlib);
            joblib.load(path)
  jarrays   a dict of float32 arrays of about 400 MB, joblib.dump with no
            compression (joblib's default); joblib.load(path)
  jmmap     the same file; joblib.load(path, mmap_mode="r"), whose arrays
            map the file
  pandas    a DataFrame of about 500 MB (float64, int64 and a category
            column), DataFrame.to_pickle; pandas.read_pickle(path)
  numpy     an object array of 1M small tuples and strs, numpy.save;
            numpy.load(path, allow_pickle=True)
  pickle    plain data (builtin values only: 1M small tuples, strs and a
            dict), pickle.dump protocol 5; pickle.load on the open file
  pickle2   the same data at protocol 2, which has no frames: the unpickler
            reads its file in small pieces (what the guard's reader must
            buffer); pickle.load on the open file

Each interpreter imports everything first (the library, safepickle, and for
the guarded run patch()), then resets the kernel's peak-RSS record, loads the
file once, and reads one byte of every page of what it loaded (memory that
is mapped, not read, counts once touched: touching it in both runs measures
the memory the model really holds).
Interpreters alternate plain and guarded; each ratio is guarded/plain over
the runs of this one invocation: the fastest wall time and the least CPU time
(user + system: the machine may be shared) of each, the median peak.

    python3 benchmarks/bench_guard.py [--quick] [--runs N] [--out FILE]

See benchmarks/README.md for how to read the output.
"""

import argparse
import datetime
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from measure import environment, fmt_time, reset_peak, status_kb, verdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

DEFAULT_OUT = os.path.join(HERE, "results", "guard.md")
GOAL_TIME = 1.05
GOAL_MEMORY = 1.2


def _sync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _size(n):
    for unit, div in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= div:
            return "%.1f %s" % (n / div, unit)
    return "%d B" % n


# --------------------------------------------------------------------------
# Inputs


def make_torch(tmp, quick):
    import torch

    gen = torch.Generator().manual_seed(20240601)
    layers = 50 if quick else 200
    state = {}
    for i in range(layers):
        state["layers.%d.weight" % i] = torch.randn(512, 1024, generator=gen)
        state["layers.%d.bias" % i] = torch.randn(512, generator=gen)
    path = os.path.join(tmp, "state_dict.pt")
    torch.save(state, path)
    return path, "%d tensors, %d layers of 512x1024 + 512 float32" % (len(state), layers)


def make_joblib(tmp, quick):
    import joblib
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    rows, trees = (5_000, 30) if quick else (20_000, 200)
    rng = np.random.default_rng(20240601)
    x = rng.standard_normal((rows, 20)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.standard_normal(rows) > 0).astype(np.int64)
    model = RandomForestClassifier(n_estimators=trees, random_state=0, n_jobs=1).fit(x, y)
    nodes = sum(est.tree_.node_count for est in model.estimators_)
    path = os.path.join(tmp, "forest.joblib")
    joblib.dump(model, path, compress=3)
    return path, "RandomForestClassifier, %d trees, %d nodes, zlib 3" % (trees, nodes)


def make_joblib_arrays(tmp, quick):
    import joblib
    import numpy as np

    rng = np.random.default_rng(20240601)
    layers = 50 if quick else 200
    arrays = {"layer%d" % i: rng.standard_normal((512, 1024), dtype=np.float32)
              for i in range(layers)}
    arrays["config"] = {"layers": layers, "name": "bench"}
    path = os.path.join(tmp, "arrays.joblib")
    joblib.dump(arrays, path)
    return path, "%d float32 arrays of 512x1024 and a dict, no compression" % layers


def make_pandas(tmp, quick):
    import numpy as np
    import pandas as pd

    rows = 650_000 if quick else 6_500_000
    rng = np.random.default_rng(20240601)
    frame = pd.DataFrame({f"f{i}": rng.standard_normal(rows) for i in range(9)})
    frame["n"] = np.arange(rows, dtype=np.int64)
    frame["c"] = pd.Categorical(rng.choice(["red", "green", "blue"], rows))
    path = os.path.join(tmp, "frame.pkl")
    frame.to_pickle(path)
    return path, "%d rows: 9 float64, 1 int64, 1 category column" % rows


def make_numpy(tmp, quick):
    import numpy as np

    n = 100_000 if quick else 1_000_000
    arr = np.empty(n, dtype=object)
    for i in range(n):
        arr[i] = (i, "item-%d" % i, i * 0.5) if i % 2 == 0 else "name-%07d" % i
    path = os.path.join(tmp, "objects.npy")
    np.save(path, arr, allow_pickle=True)
    return path, "%d objects: 3-tuples (int, str, float) and strs" % n


def _make_plain_data(tmp, quick, protocol, name):
    import pickle

    n = 100_000 if quick else 1_000_000
    rows = [(i, "item-%d" % i, i * 0.5) for i in range(n)]
    data = {"rows": rows, "index": {"key-%d" % i: i for i in range(0, n, 10)}}
    path = os.path.join(tmp, name)
    with open(path, "wb") as fh:
        pickle.dump(data, fh, protocol=protocol)
    return path, "%d rows (int, str, float) and a dict of %d keys, no class, protocol %d" % (
        n, n // 10, protocol)


def make_pickle(tmp, quick):
    return _make_plain_data(tmp, quick, 5, "data.pkl")


def make_pickle2(tmp, quick):
    return _make_plain_data(tmp, quick, 2, "data2.pkl")


INPUTS = [
    ("torch", "torch state dict, zip", make_torch, "torch.load(path)"),
    ("joblib", "sklearn forest, joblib zlib 3", make_joblib, "joblib.load(path)"),
    ("jarrays", "joblib arrays, uncompressed", make_joblib_arrays, "joblib.load(path)"),
    ("jmmap", "joblib arrays, mmap_mode", make_joblib_arrays, "joblib.load(path, mmap_mode='r')"),
    ("pandas", "pandas DataFrame pickle", make_pandas, "pandas.read_pickle(path)"),
    ("numpy", "numpy object array .npy", make_numpy, "numpy.load(path, allow_pickle=True)"),
    ("pickle", "plain data pickle", make_pickle, "pickle.load(open(path, 'rb'))"),
    ("pickle2", "plain data pickle, protocol 2", make_pickle2, "pickle.load(open(path, 'rb'))"),
]


# --------------------------------------------------------------------------
# One measurement, in a fresh interpreter


def _loader(kind):
    if kind == "torch":
        import torch

        def touch(sd):
            for t in sd.values():
                t.reshape(-1).view(torch.uint8)[::4096].sum()

        return lambda p: torch.load(p), touch
    if kind == "joblib":
        import joblib
        import sklearn.ensemble  # noqa: F401 - imported before the clock starts
        import sklearn.tree  # noqa: F401

        return joblib.load, lambda obj: None
    if kind in ("jarrays", "jmmap"):
        import joblib
        import numpy as np

        def touch_arrays(obj):
            for v in obj.values():
                if isinstance(v, np.ndarray):
                    v.reshape(-1).view(np.uint8)[::4096].sum()

        mmap_mode = "r" if kind == "jmmap" else None
        return lambda p: joblib.load(p, mmap_mode=mmap_mode), touch_arrays
    if kind == "pandas":
        import pandas as pd

        return pd.read_pickle, lambda obj: None
    if kind == "numpy":
        import numpy as np

        return lambda p: np.load(p, allow_pickle=True), lambda obj: None
    if kind in ("pickle", "pickle2"):
        import pickle

        def load(p):
            with open(p, "rb") as fh:
                return pickle.load(fh)

        return load, lambda obj: None
    raise SystemExit("unknown input %r" % kind)


def child(kind, path, guarded):
    import safepickle

    if guarded:
        # Before the loader is looked up: `load = joblib.load` taken before
        # patch() would keep the real function (docs/guard.md).
        safepickle.patch()
    load, touch = _loader(kind)
    # One untimed read brings the file into the page cache for both runs.
    with open(path, "rb") as fh:
        while fh.read(1 << 24):
            pass
    gc.collect()
    gc.disable()
    if not reset_peak():
        raise SystemExit("cannot reset the peak RSS (/proc/self/clear_refs)")
    before = status_kb("VmRSS")
    c0, t0 = time.process_time(), time.perf_counter()
    obj = load(path)
    t1 = time.perf_counter()
    touch(obj)
    c2, t2 = time.process_time(), time.perf_counter()
    peak = status_kb("VmHWM")
    json.dump({"load": t1 - t0, "load_touch": t2 - t0, "cpu": c2 - c0, "peak_kb": peak - before},
              sys.stdout)


def floor_child(kind, path):
    """The guard's own two steps on this input, without the load: taking
    the snapshot it hands the loader (for torch, all but the insides of the
    tensor records; for pandas and plain pickles, all but the insides of
    their large bytes payloads, and for uncompressed joblib files all but
    their large arrays' data, once the scan vouches for them; the loader
    reads or maps those from the file; otherwise the whole file) and scanning it
    with the bundled model."""
    from safepickle.guard.check import check_snapshot
    from safepickle.guard.joblib_arrays import read_joblib_path
    from safepickle.guard.snapshot import Snapshot, read_path
    from safepickle.guard.stream_payloads import read_pickle_fd
    from safepickle.guard.zip_payloads import read_zip

    with open(path, "rb") as fh:
        while fh.read(1 << 24):
            pass
    # A pickle that names a global, so that XGBoost reads the model now and
    # not inside the timed scan (plain data alone would leave it unread).
    warm = b"ccollections\nOrderedDict\n)R."
    check_snapshot(Snapshot(warm, len(warm), "warm-up"))
    gc.collect()
    gc.disable()
    t0 = time.perf_counter()
    fd = None
    if kind == "torch":
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        snapshot = read_zip(fd, path)
    elif kind in ("pandas", "pickle", "pickle2"):
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        snapshot = read_pickle_fd(fd, path)
    elif kind in ("jarrays", "jmmap"):
        snapshot, fd = read_joblib_path(path)
    else:
        snapshot, fd = read_path(path)
        os.close(fd)
        fd = None
    t1 = time.perf_counter()
    # with payload holes, the scan may read them in (part of this step)
    check_snapshot(snapshot)
    t2 = time.perf_counter()
    if fd is not None:
        os.close(fd)
    json.dump({"snapshot": t1 - t0, "scan": t2 - t1}, sys.stdout)


def run_floor(kind, path):
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--floor", kind, path],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )
    if proc.returncode != 0:
        raise SystemExit("floor %s failed:\n%s" % (kind, proc.stderr[-3000:]))
    return json.loads(proc.stdout)


def run_child(kind, path, guarded):
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", kind, path]
        + (["--guarded"] if guarded else []),
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )
    if proc.returncode != 0:
        raise SystemExit("child %s %s failed:\n%s" % (kind, guarded, proc.stderr[-3000:]))
    return json.loads(proc.stdout)


# --------------------------------------------------------------------------
# Report


def run(args):
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    env = environment(("torch", "joblib", "sklearn", "numpy", "pandas"))
    started = time.time()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-guard-") as tmp:
        for kind, name, make, call in INPUTS:
            if args.only and kind not in args.only:
                continue
            t0 = time.perf_counter()
            path, desc = make(tmp, args.quick)
            _sync(path)
            log("%s: %s, made in %.1f s" % (name, _size(os.path.getsize(path)), time.perf_counter() - t0))
            runs = {False: [], True: []}
            floors = []
            for i in range(args.runs):
                for guarded in (False, True) if i % 2 == 0 else (True, False):
                    runs[guarded].append(run_child(kind, path, guarded))
                floors.append(run_floor(kind, path))
            runs["floor"] = floors
            rows.append((name, call, os.path.getsize(path), desc, runs))
            os.remove(path)
    return env, rows, time.time() - started


def render(args, env, rows, elapsed):
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = ["# Cost of the load guard", ""]
    out.append("%s mode, %s. Environment: %s." % ("Quick" if args.quick else "Full", when, env))
    out.append("")
    out.append(
        "Each figure comes from fresh interpreters (%d plain and %d guarded, alternating) that "
        "imported everything first and had the file in the page cache; a run loads the file "
        "once and then reads one byte of every page it got. wall: the fastest load + touch "
        "(time.perf_counter); CPU: the least process CPU time, user + system, of load + touch "
        "(time.process_time, which other work on the machine stretches far less, and which "
        "counts every thread: a guarded load that runs beside its scan, see below, adds the "
        "scan thread's work to it, not to the wall time); peak: the median rise of VmHWM above "
        "the RSS before the load. Ratios are guarded/plain."
        % (args.runs, args.runs)
    )
    out.append("")
    out.append("| input | file | call | plain wall | guarded wall | wall ratio | plain CPU | "
               "guarded CPU | CPU ratio | plain peak | guarded peak | peak ratio | notes |")
    out.append("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
               "| --- |")
    goals = []
    for name, call, size, desc, runs in rows:
        def best(g, key):
            return min(r[key] for r in runs[g])

        def peak(g):
            return statistics.median(r["peak_kb"] for r in runs[g]) * 1024

        wall = best(True, "load_touch") / best(False, "load_touch")
        cpu = best(True, "cpu") / best(False, "cpu")
        mem = peak(True) / peak(False) if peak(False) > 0 else float("nan")
        spread = "wall times: plain %s to %s, guarded %s to %s" % (
            fmt_time(best(False, "load_touch")), fmt_time(max(r["load_touch"] for r in runs[False])),
            fmt_time(best(True, "load_touch")), fmt_time(max(r["load_touch"] for r in runs[True])))
        out.append("| %s | %s | `%s` | %s | %s | %.3f | %s | %s | %.3f | %s | %s | %.3f | %s; %s |"
                   % (name, _size(size), call,
                      fmt_time(best(False, "load_touch")), fmt_time(best(True, "load_touch")), wall,
                      fmt_time(best(False, "cpu")), fmt_time(best(True, "cpu")), cpu,
                      _size(peak(False)), _size(peak(True)), mem, desc, spread))
        goals.append((name, wall, cpu, mem))
    out.append("")
    out.append("Goals: guarded/plain time at most %.2f, peak memory at most %.1f:"
               % (GOAL_TIME, GOAL_MEMORY))
    out.append("")
    out.append("```")
    for name, wall, cpu, mem in goals:
        out.append("  %-30s wall %.3f %s   CPU %.3f %s   memory %.3f %s" % (
            name, wall, verdict(wall <= GOAL_TIME), cpu, verdict(cpu <= GOAL_TIME),
            mem, verdict(mem <= GOAL_MEMORY)))
    out.append("```")
    out.append("")
    out.append("Where the guard's time goes: its two steps timed alone in fresh interpreters "
               "(fastest of %d), without the load. snapshot: the copy the loader is handed (for "
               "torch, everything but the insides of the tensor records; for pandas and plain "
               "pickles, everything but the insides of their large bytes payloads, found by a "
               "walk over the opcodes; for uncompressed joblib files, everything but their large "
               "arrays' data, found by a walk that sizes each array; the loader then reads or "
               "maps those from the file as a plain load "
               "does; a private anonymous copy of the whole file otherwise); scan: the scan with "
               "the bundled model and the policy (which vouches for the payload holes). "
               "The numpy object array and the plain pickles (pickle.load and numpy.load of a "
               "pickle of 1 MiB or more, without payload holes) load while they are scanned, "
               "behind a gate that serves only what the scan has cleared (docs/guard.md): for "
               "them the scan runs beside the load and the sum below does not bound the wall "
               "time. For the other inputs but the zlib forest the loader reads the snapshot "
               "as it would have read "
               "the file after the scan, so a guarded load costs the plain load plus both steps: where "
               "(snapshot + scan)/plain is above %.2f, the time goal is out of reach of a guard "
               "that must copy and scan before it loads, on this machine. For "
               "joblib the scan inflates the stream that the unpickler then reads in place of "
               "joblib's own decompression: there the steps replace work of the plain load, "
               "and the figures say where the time goes rather than bound it." % (
                   args.runs, GOAL_TIME - 1))
    out.append("")
    out.append("| input | plain wall | snapshot | scan | snapshot/plain | scan/plain | "
               "(snapshot + scan)/plain |")
    out.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, call, size, desc, runs in rows:
        plain = min(r["load_touch"] for r in runs[False])
        snap = min(r["snapshot"] for r in runs["floor"])
        scan = min(r["scan"] for r in runs["floor"])
        out.append("| %s | %s | %s | %s | %.3f | %.3f | %.3f |" % (
            name, fmt_time(plain), fmt_time(snap), fmt_time(scan), snap / plain, scan / plain,
            (snap + scan) / plain))
    out.append("")
    out.append("Run time: %.0f s." % elapsed)
    return "\n".join(out) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs")
    parser.add_argument("--runs", type=int, default=5, help="interpreters per method and input")
    parser.add_argument("--only", action="append", choices=[k for k, *_ in INPUTS],
                        help="measure only this input (repeatable)")
    parser.add_argument("--out", default=DEFAULT_OUT, help="results file (default %(default)s)")
    parser.add_argument("--child", nargs=2, metavar=("INPUT", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--guarded", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--floor", nargs=2, metavar=("INPUT", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.floor:
        floor_child(args.floor[0], args.floor[1])
        return 0
    if args.child:
        child(args.child[0], args.child[1], args.guarded)
        return 0
    env, rows, elapsed = run(args)
    text = render(args, env, rows, elapsed)
    sys.stdout.write(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as fh:
            fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
