#!/usr/bin/env python3
"""Cost of a SafePickle scan next to pickletools.genops and unpickling.

Every input is timed four ways in this one process, on the same bytes:

  scan      safepickle._native.scan(data, detail=False): opcode machine,
            features, rule verdict and the full report (globals, calls,
            anomalies, stats, features, records; argument values left out)
  verdict   the verdict path the load guard takes:
            safepickle._native.scan(data, detail=False, report="verdict")
            with the bundled classifier, as safepickle.scan passes it: the
            same scan and the layered verdict (rules and model), returned as
            the compact report (verdict, score, reasons, globals)
  genops    a full walk of pickletools.genops(data), every op consumed
  unpickle  pickle.loads(data) for the synthetic pickles built here (only
            builtin and stdlib types); for corpus files, a pickle.Unpickler
            whose find_class hands back one inert stand-in class, so no
            module is imported and nothing the file names ever runs
  floor     corpus files only: memoryview(data), a call into C that takes
            the buffer and does nothing, the least any scan from Python costs
  model     once: one prediction of the bundled model, the call into
            XGBoost the verdict path makes for every file that reaches a
            callable (score_rows on two rows less on one): the least such a
            file's verdict costs

Inputs: every benign raw pickle of the evaluation corpus and a set of large
synthetic pickles generated in memory. Peak memory of scan and unpickle is
measured separately, from the kernel's RSS peak in fresh subprocesses, because
most of the scanner's memory is allocated in C where tracemalloc does not look.

    python3 benchmarks/bench_scan.py [--quick] [--out FILE] [--corpus DIR]

See benchmarks/README.md for how to read the output.
"""

import argparse
import collections
import csv
import datetime
import gc
import io
import json
import math
import os
import pickle
import pickletools
import random
import resource
import statistics
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

DEFAULT_OUT = os.path.join(HERE, "results", "scan.md")
DEFAULT_CORPUS = os.path.join(os.path.dirname(ROOT), "shared", "corpus")

GOAL_SCAN_OVER_UNPICKLE = 0.20
GOAL_GENOPS_OVER_SCAN = 20.0


# --------------------------------------------------------------------------
# Unpickling corpus files without importing or running anything



def guard_scan(data):
    """The full report without argument values (the column kept from
    before the verdict path, so results stay comparable across runs)."""
    from safepickle import _native

    return _native.scan(data, detail=False)


_BUNDLED = []


def verdict_scan(data):
    """The scan as the load guard runs it: the compact report, the bundled
    classifier at its own threshold (what safepickle.scan passes)."""
    from safepickle import _native

    if not _BUNDLED:
        from safepickle.classifier import bundled_model

        _BUNDLED.append(bundled_model())
    model = _BUNDLED[0]
    return _native.scan(data, None, False, classifier=model.classifier,
                        threshold=model.threshold, report="verdict")

def _ignore(*args, **kwargs):
    return None


class _InertMeta(type):
    # Calling the stand-in (REDUCE, INST, OBJ, a call on a call result)
    # yields the stand-in again: every object the file builds collapses into
    # one class, which is also a valid NEWOBJ target for files whose classes
    # come out of a call (dill's _create_type).
    def __call__(cls, *args, **kwargs):
        return cls

    # SETITEM(S) on something that is not a dict.
    def __setitem__(cls, key, value):
        pass


class _Inert(metaclass=_InertMeta):
    def __new__(cls, *args, **kwargs):
        return cls

    # Looked up on the class object itself, so they must not expect `self`.
    __setstate__ = staticmethod(_ignore)
    append = staticmethod(_ignore)
    extend = staticmethod(_ignore)
    add = staticmethod(_ignore)


class InertUnpickler(pickle.Unpickler):
    """The C unpickler with every global replaced by _Inert."""

    def find_class(self, module, name):
        return _Inert

    def persistent_load(self, pid):
        return _Inert


def inert_loads(data):
    # latin1 is what numpy and joblib pass for protocol 0-2 pickles written
    # by Python 2; the default (ASCII) fails on their binary str payloads.
    return InertUnpickler(io.BytesIO(data), encoding="latin1").load()


def bare_c_call(data):
    """The floor under any scan from Python: one call into C that takes the
    buffer of the same bytes and returns one new object, doing no work."""
    return memoryview(data)


def model_call(rows):
    """Predictions of the bundled model (loaded by verdict_scan), one
    XGBoost C API call per row as the verdict path makes them."""
    return _BUNDLED[0].classifier.score_rows(rows)


def model_floor_time(cfg):
    """One prediction in C alone: score_rows on two rows less score_rows on
    one (score_rows asks XGBoost once per row), so the Python call around
    it cancels out."""
    from safepickle import _native

    verdict_scan(b"N.")  # loads the bundled model, outside the clock
    width = 4 * len(_native.feature_names())
    one = memoryview(bytes(width)).cast("f")
    two = memoryview(bytes(2 * width)).cast("f")
    times = time_methods({"one": lambda _: model_call(one), "two": lambda _: model_call(two)},
                         b"", cfg)
    return max(times["two"] - times["one"], 0.0)


def genops_walk(data):
    # deque(maxlen=0) is the cheapest way to drain an iterator in CPython:
    # the baseline is genops itself, not a Python loop around it.
    collections.deque(pickletools.genops(data), maxlen=0)


def genops_count(data):
    """(ops walked, error or None); genops stops at the first STOP."""
    n = 0
    try:
        for _ in pickletools.genops(data):
            n += 1
    except Exception as exc:  # noqa: BLE001 - any failure is reported
        return n, "%s: %s" % (type(exc).__name__, exc)
    return n, None


def genops_walk_tolerant(data):
    try:
        genops_walk(data)
    except Exception:  # noqa: BLE001 - the partial walk is what is timed
        pass


# --------------------------------------------------------------------------
# Synthetic inputs


def _nested(depth, fan, counter):
    if depth == 0:
        i = next(counter)
        return [i, "v%d" % i, i * 0.5, None]
    if depth % 2 == 0:
        return [_nested(depth - 1, fan, counter) for _ in range(fan)]
    return {"k%d" % j: _nested(depth - 1, fan, counter) for j in range(fan)}


def synthetic_inputs(scale):
    """(name, description, bytes) of the generated pickles. `scale` shrinks
    element counts for --quick; the shapes stay the same."""
    rng = random.Random(20240601)
    n_dict = int(1_000_000 * scale)
    n_tuples = int(200_000 * scale)
    n_state = max(20, int(2000 * scale))
    n_text = int(200_000 * scale)
    fan = 6 if scale >= 1 else 4

    out = []

    obj = {"k%d" % i: rng.random() for i in range(n_dict)}
    for proto in (4, 5):
        out.append(("dict str->float p%d" % proto, "%s entries" % _count(n_dict),
                    pickle.dumps(obj, protocol=proto)))
    del obj

    obj = [(i, "s%d" % (i % 1000), i * 7) for i in range(n_tuples)]
    for proto in (2, 4):
        out.append(("list of tuples p%d" % proto, "%s tuples" % _count(n_tuples),
                    pickle.dumps(obj, protocol=proto)))
    del obj

    # Distinct objects per value: equal bytes objects that were the same
    # object would be written once and then fetched from the memo.
    obj = collections.OrderedDict(
        ("layer%d.%s" % (i // 2, "weight" if i % 2 == 0 else "bias"), rng.randbytes(50_000))
        for i in range(n_state))
    out.append(("state dict p4", "%s x 50 KB bytes" % _count(n_state),
                pickle.dumps(obj, protocol=4)))
    del obj

    kinds = (lambda i: i, lambda i: i * 0.25, lambda i: "s%d" % i)
    obj = [kinds[i % 3](i) for i in range(n_text)]
    out.append(("text list p0", "%s mixed items" % _count(n_text),
                pickle.dumps(obj, protocol=0)))
    del obj

    counter = iter(range(10**9))
    obj = _nested(6, fan, counter)
    out.append(("nested depth 6 p4", "fan-out %d, %s leaves" % (fan, _count(next(counter))),
                pickle.dumps(obj, protocol=4)))
    del obj
    return out


def _count(n):
    for div, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= div and n % (div // 10) == 0:
            return ("%g" % (n / div)) + suffix
    return str(n)


# --------------------------------------------------------------------------
# Corpus inputs


def corpus_inputs(root):
    """(name, bytes) of every benign raw pickle listed in MANIFEST.tsv."""
    manifest = os.path.join(root, "MANIFEST.tsv")
    with open(manifest, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    out = []
    for row in rows:
        # Malicious rows are real exploits: they are never read here at all.
        if row["label"] != "benign" or not row["format"].startswith("raw-pickle"):
            continue
        with open(os.path.join(root, row["path"]), "rb") as fh:
            out.append((row["path"].rsplit("/", 1)[-1], fh.read()))
    return out


# --------------------------------------------------------------------------
# Timing


class Timer:
    """Min-of-N timing of one callable, in batches long enough that
    perf_counter resolution and call overhead do not matter."""

    def __init__(self, fn, data, cfg):
        self.fn = fn
        self.data = data
        self.cfg = cfg
        self.loops = None
        self.samples = []
        self.spent = 0.0

    def _batch(self, loops):
        fn, data = self.fn, self.data
        keep = [None] * loops
        # Results stay referenced until the clock has stopped: freeing a
        # large unpickled object (or report) is not part of the cost.
        clock = self.cfg.clock
        t0 = clock()
        for i in range(loops):
            keep[i] = fn(data)
        t1 = clock()
        del keep
        return t1 - t0

    def needs_more(self):
        n = len(self.samples)
        if n < self.cfg.min_reps:
            # A method that takes seconds per run is measured fewer times
            # rather than letting one input eat the whole run time.
            return n == 0 or self.spent < self.cfg.slow_cap
        return n < self.cfg.max_reps and self.spent < self.cfg.budget

    def step(self):
        if self.loops is None:
            t = self._batch(1)
            self.spent += t
            if t >= self.cfg.batch:
                self.samples.append(t)
                self.loops = 1
                return
            self.loops = min(self.cfg.max_loops, max(1, math.ceil(self.cfg.batch / max(t, 1e-7))))
        t = self._batch(self.loops)
        self.spent += t
        self.samples.append(t / self.loops)

    @property
    def best(self):
        return min(self.samples)


def time_methods(methods, data, cfg):
    """{name: best seconds}. Methods are interleaved round by round so that
    a slow patch of the machine does not hit only one of them."""
    timers = {name: Timer(fn, data, cfg) for name, fn in methods.items()}
    gc.collect()
    # The unpickler's objects would trigger collections mid-load; timeit
    # disables the collector for the same reason.
    gc.disable()
    try:
        while True:
            pending = [t for t in timers.values() if t.needs_more()]
            if not pending:
                break
            for t in pending:
                t.step()
    finally:
        gc.enable()
    return {name: t.best for name, t in timers.items()}


CLOCKS = {
    "wall": time.perf_counter,
    # CPU time of this process: steadier than wall time when other work
    # competes for the cores, since every method runs on this one thread.
    "cpu": time.process_time,
}


class Config:
    def __init__(self, quick, clock="wall"):
        self.quick = quick
        self.clock_name = clock
        self.clock = CLOCKS[clock]
        self.scale = 0.1 if quick else 1.0
        # Large inputs: at least min_reps runs, more while under budget.
        self.min_reps = 2 if quick else 3
        self.max_reps = 7 if quick else 15
        self.budget = 0.3 if quick else 1.5
        self.batch = 0.002 if quick else 0.005
        self.max_loops = 10_000
        self.slow_cap = 2.0 if quick else 8.0
        # Corpus files are many and mostly tiny: a smaller budget each.
        self.corpus_min_reps = 1 if quick else 3
        self.corpus_max_reps = 3 if quick else 7
        self.corpus_budget = 0.02 if quick else 0.15

    def for_corpus(self):
        c = Config(self.quick, self.clock_name)
        c.min_reps, c.max_reps, c.budget = self.corpus_min_reps, self.corpus_max_reps, self.corpus_budget
        c.slow_cap = 0.5 if self.quick else 2.0
        return c


# --------------------------------------------------------------------------
# Peak memory (child side)



def mem_child(method, path):
    """Run one method once on one file and print its peak RSS increase (KiB).
    Everything the method needs is imported, and the input read, before the
    baseline is taken, so that the delta is the method's own peak."""
    if method == "scan":
        from safepickle import _native
        fn = guard_scan
    elif method == "unpickle":
        fn = pickle.loads
    else:
        raise SystemExit("unknown method %r" % method)
    with open(path, "rb") as fh:
        data = fh.read()
    gc.collect()
    # ru_maxrss is not usable as is: Linux carries the peak of the process
    # image that called exec over into the new one, so a child of a large
    # parent starts with the parent's peak. VmHWM belongs to this image only,
    # and resetting it drops any transient peak of reading the input.
    try:
        source = "VmHWM" if reset_peak() else "VmHWM (not reset)"
        before = status_kb("VmRSS") if source == "VmHWM" else status_kb("VmHWM")
        peak = lambda: status_kb("VmHWM")  # noqa: E731
    except (OSError, KeyError):
        source = "ru_maxrss"
        peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # noqa: E731
        before = peak()
    t0 = time.perf_counter()
    result = fn(data)
    t1 = time.perf_counter()
    after = peak()
    del result
    json.dump({"before_kb": before, "after_kb": after, "source": source,
               "seconds": t1 - t0}, sys.stdout)


def measure_memory(name, data, timeout):
    """{method: peak delta in bytes} from fresh interpreters."""
    fd, path = tempfile.mkstemp(prefix="sp-bench-", suffix=".pkl")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        out = {"source": "ru_maxrss"}
        for method in ("scan", "unpickle"):
            try:
                proc = subprocess.run(
                    [sys.executable, os.path.abspath(__file__), "--mem-child", method, path],
                    capture_output=True, text=True, timeout=timeout, cwd=ROOT)
            except subprocess.TimeoutExpired:
                out[method] = "timeout (> %d s)" % timeout
                continue
            if proc.returncode != 0:
                tail = (proc.stderr.strip().splitlines() or ["exit status %d" % proc.returncode])[-1]
                out[method] = "failed: %s" % tail
                continue
            rec = json.loads(proc.stdout)
            out[method] = (rec["after_kb"] - rec["before_kb"]) * 1024
            out["source"] = rec["source"]
        return out
    finally:
        os.unlink(path)


# --------------------------------------------------------------------------
# Formatting



def fmt_size(n):
    for unit, div in (("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= div:
            return "%.1f %s" % (n / div, unit)
    return "%d B" % n


def fmt_ratio(r, times=False):
    if r is None:
        return "n/a"
    # Three significant digits: ratios here run from 0.001 to over a thousand.
    text = "%.0f" % r if r >= 100 else "%.3g" % r
    return text + "x" if times else text


def geomean(values):
    values = [v for v in values if v is not None and v > 0]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))



def table(rows):
    head = ["input", "size", "scan", "verdict", "genops", "unpickle", "scan/unpickle",
            "verdict/unpickle", "genops/scan", "genops/verdict", "notes"]
    lines = ["| " + " | ".join(head) + " |",
             "| " + " | ".join(["---"] + ["---:"] * 9 + ["---"]) + " |"]
    for r in rows:
        lines.append("| " + " | ".join([
            r["name"], r["size"], fmt_time(r["scan"]), fmt_time(r["verdict"]),
            fmt_time(r["genops"]), fmt_time(r["unpickle"]), fmt_ratio(r["su"]),
            fmt_ratio(r["vu"]), fmt_ratio(r["gs"], times=True), fmt_ratio(r["gv"], times=True),
            r.get("notes", ""),
        ]) + " |")
    return lines



def _goal(title, table_vals, file_vals, passes, worst_of, times):
    """Summary lines of one goal: (value, name) pairs from the table rows
    and from the corpus files; worst_of picks the worst pair."""
    out = [title]
    if table_vals:
        g = geomean([v for v, _ in table_vals])
        worst = worst_of(table_vals)
        out.append("  geometric mean over %d inputs: %s  %s"
                   % (len(table_vals), fmt_ratio(g, times), verdict(passes(g))))
        out.append("  worst input: %s (%s)  %s"
                   % (fmt_ratio(worst[0], times), worst[1], verdict(passes(worst[0]))))
    if file_vals:
        vals = [v for v, _ in file_vals]
        worst = worst_of(file_vals)
        out.append("  corpus, per file (%d files): median %s, geometric mean %s, worst %s (%s)  %s" % (
            len(vals), fmt_ratio(statistics.median(vals), times), fmt_ratio(geomean(vals), times),
            fmt_ratio(worst[0], times), worst[1], verdict(passes(worst[0]))))
    return out


COLUMNS = (("scan", "su", "gs", "full report, `scan` column"),
           ("verdict", "vu", "gv", "verdict path, `verdict` column"))


def goal_lines(rows, corpus_files, model_floor=None):
    lim_su, lim_gs = GOAL_SCAN_OVER_UNPICKLE, GOAL_GENOPS_OVER_SCAN
    out = []
    for _, su, _, label in COLUMNS:
        out += _goal(
            "Goal 1 (%s) - scan costs under 20%% of unpickling the same bytes "
            "(scan/unpickle < %.2f):" % (label, lim_su),
            [(r[su], r["name"]) for r in rows if r[su] is not None],
            [(f[su], f["name"]) for f in corpus_files if f[su] is not None],
            lambda v: v < lim_su, max, False)
    for _, _, gs, label in COLUMNS:
        out += _goal(
            "Goal 2 (%s) - scan at least 20x less than pickletools.genops "
            "(genops/scan >= %.0f):" % (label, lim_gs),
            [(r[gs], r["name"]) for r in rows if r[gs] is not None],
            [(f[gs], f["name"]) for f in corpus_files if f[gs] is not None],
            lambda v: v >= lim_gs, min, True)
    out += floor_lines(corpus_files)
    out += model_floor_lines(corpus_files, model_floor)
    return out


def model_floor_lines(files, model_floor):
    """What no verdict of a file that reaches a callable can beat: one
    prediction of the bundled model, next to each goal's bound."""
    scored = [f for f in files if f.get("scored")]
    if model_floor is None or not scored:
        return []
    su = [model_floor / f["unpickle"] for f in scored if f.get("unpickle")]
    gs = [f["genops"] / model_floor for f in scored if not f.get("genops_error")]
    out = ["Model floor - one prediction of the bundled model (one row through the XGBoost C API, "
           "as the verdict path asks for each file that reaches a callable; score_rows on two rows "
           "less on one), %s; %d of %d files are scored:" % (
               fmt_time(model_floor), len(scored), len(files))]
    if su:
        out.append("  verdict goal 1 out of reach for %d of %d scored files (model/unpickle >= "
                   "%.2f)" % (sum(1 for v in su if v >= GOAL_SCAN_OVER_UNPICKLE), len(su),
                              GOAL_SCAN_OVER_UNPICKLE))
    if gs:
        out.append("  verdict goal 2 out of reach for %d of %d scored files (genops/model < %.0f)"
                   % (sum(1 for v in gs if v < GOAL_GENOPS_OVER_SCAN), len(gs),
                      GOAL_GENOPS_OVER_SCAN))
    return out


def fmt_ns(seconds):
    return "%.0f ns" % (seconds * 1e9)


def floor_lines(files):
    """What no scan called from Python can beat: a bare C call on the same
    bytes (bare_c_call), next to each goal's bound, file by file."""
    su = [(f["floor_su"], f["name"]) for f in files if f.get("floor_su") is not None]
    gs = [(f["floor_gs"], f["name"]) for f in files if f.get("floor_gs") is not None]
    if not su and not gs:
        return []
    floors = [f["floor"] for f in files if f.get("floor") is not None]
    out = ["Floor - a bare C call on the same bytes (`memoryview(data)`: takes the buffer, returns "
           "one object, does nothing), %s to %s per call:" % (
               fmt_ns(min(floors)), fmt_ns(max(floors)))]
    if su:
        out.append("  goal 1 out of reach for any scan on %d of %d files (floor/unpickle >= %.2f); "
                   "worst floor/unpickle %s (%s)" % (
                       sum(1 for v, _ in su if v >= GOAL_SCAN_OVER_UNPICKLE), len(su),
                       GOAL_SCAN_OVER_UNPICKLE, fmt_ratio(max(su)[0]), max(su)[1]))
    if gs:
        out.append("  goal 2 out of reach for any scan on %d of %d files (genops/floor < %.0f); "
                   "worst genops/floor %s (%s)" % (
                       sum(1 for v, _ in gs if v < GOAL_GENOPS_OVER_SCAN), len(gs),
                       GOAL_GENOPS_OVER_SCAN, fmt_ratio(min(gs)[0], times=True), min(gs)[1]))
    return out


# --------------------------------------------------------------------------
# Main


def split_variants():
    """The two changes the verdict path makes to the scan column, apart:
    the compact report (less) and the bundled classifier (more)."""
    from safepickle import _native

    verdict_scan(b"N.")  # loads the bundled model once
    model = _BUNDLED[0]
    with_model = {"classifier": model.classifier, "threshold": model.threshold}
    return {
        "full report, rules only (scan)": lambda d: _native.scan(d, None, False),
        "full report + classifier": lambda d: _native.scan(d, None, False, **with_model),
        "compact report, rules only": lambda d: _native.scan(d, None, False, report="verdict"),
        "compact report + classifier (verdict)": verdict_scan,
    }


def split_lines(files, cfg):
    """Where the verdict path's time goes, on the smallest and the largest
    corpus file."""
    if not files:
        return []
    picks = [min(files, key=lambda f: len(f[1])), max(files, key=lambda f: len(f[1]))]
    variants = split_variants()
    times = [time_methods(variants, data, cfg) for _, data in picks]
    lines = ["Verdict path, its two changes apart (corpus files, same clock):", "",
             "| call | " + " | ".join("%s (%s)" % (name, fmt_size(len(data)))
                                    for name, data in picks) + " |",
             "| --- | " + " | ".join(["---:"] * len(picks)) + " |"]
    for label in variants:
        lines.append("| %s | %s |" % (label, " | ".join(fmt_time(t[label]) for t in times)))
    return lines


def stream_notes(report):
    notes = []
    streams = report.get("streams", ())
    if len(streams) > 1:
        notes.append("%d pickles (genops/unpickle: first only)" % len(streams))
    if report.get("limit_hit"):
        notes.append("scan limit hit: %s" % report.get("limit_detail"))
    return notes


def run(args):
    from safepickle import _native

    cfg = Config(args.quick, args.clock)
    env = environment()
    started = time.perf_counter()
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731

    rows = []
    log("generating synthetic pickles%s ..." % (" (quick: 1/10 size)" if args.quick else ""))
    synth = synthetic_inputs(cfg.scale)
    for name, desc, data in synth:
        log("  %s: %s" % (name, fmt_size(len(data))))
        report = guard_scan(data)
        _, gerr = genops_count(data)
        verdict_scan(data)
        times = time_methods({"scan": guard_scan, "verdict": verdict_scan, "genops": genops_walk,
                              "unpickle": pickle.loads}, data, cfg)
        notes = [desc] + stream_notes(report)
        if gerr:
            notes.append("genops failed: %s" % gerr)
        rows.append({
            "name": name, "size": fmt_size(len(data)), "bytes": len(data),
            "scan": times["scan"], "verdict": times["verdict"], "genops": times["genops"],
            "unpickle": times["unpickle"],
            "su": ratio(times["scan"], times["unpickle"]),
            "vu": ratio(times["verdict"], times["unpickle"]),
            "gs": ratio(times["genops"], times["scan"]),
            "gv": ratio(times["genops"], times["verdict"]),
            "notes": "; ".join(notes),
        })

    corpus_files = []
    model_floor = None
    corpus_note = None
    if args.corpus and os.path.isfile(os.path.join(args.corpus, "MANIFEST.tsv")):
        files = corpus_inputs(args.corpus)
        log("corpus: %d benign raw pickles, %s" % (len(files), fmt_size(sum(len(d) for _, d in files))))
        ccfg = cfg.for_corpus()
        model_floor = model_floor_time(ccfg)
        for name, data in files:
            report = guard_scan(data)
            _, gerr = genops_count(data)
            try:
                inert_loads(data)
                uerr = None
            except Exception as exc:  # noqa: BLE001 - reported, file left out of the ratio
                uerr = "%s: %s" % (type(exc).__name__, exc)
            scored = verdict_scan(data)["score"] is not None
            methods = {"scan": guard_scan,
                       "verdict": verdict_scan,
                       "genops": genops_walk_tolerant if gerr else genops_walk,
                       "floor": bare_c_call}
            if uerr is None:
                methods["unpickle"] = inert_loads
            times = time_methods(methods, data, ccfg)
            floor_su = ratio(times["floor"], times.get("unpickle"))
            floor_gs = None if gerr else ratio(times["genops"], times["floor"])
            corpus_files.append({
                "name": name, "bytes": len(data), "size": fmt_size(len(data)),
                "scan": times["scan"], "verdict": times["verdict"], "genops": times["genops"],
                "unpickle": times.get("unpickle"),
                "su": ratio(times["scan"], times.get("unpickle")),
                "vu": ratio(times["verdict"], times.get("unpickle")),
                "gs": None if gerr else ratio(times["genops"], times["scan"]),
                "gv": None if gerr else ratio(times["genops"], times["verdict"]),
                "floor": times["floor"], "floor_su": floor_su, "floor_gs": floor_gs,
                "scored": scored,
                "genops_error": gerr, "unpickle_error": uerr,
                "n_streams": len(report.get("streams", ())),
                "notes": "; ".join(stream_notes(report)
                                   + ["floor %s (floor/unpickle %s, genops/floor %s)" % (
                                       fmt_ns(times["floor"]), fmt_ratio(floor_su),
                                       fmt_ratio(floor_gs, times=True))]
                                   + (["genops stops: %s" % gerr] if gerr else [])
                                   + (["unpickle failed: %s" % uerr] if uerr else [])),
            })
        rows.append(corpus_total_row(corpus_files))
        log("verdict path split ...")
        split = split_lines(files, ccfg)
    else:
        corpus_note = "corpus not found at %s: corpus rows skipped" % args.corpus
        log(corpus_note)
        split = []

    mem = []
    if not args.no_memory:
        largest = max(synth, key=lambda s: len(s[2]))
        most_ops = next(s for s in synth if s[0].startswith("dict"))
        for name, _, data in (largest, most_ops):
            log("peak memory: %s ..." % name)
            m = measure_memory(name, data, 120 if args.quick else 300)
            mem.append((name, len(data), m["scan"], m["unpickle"], m["source"]))

    elapsed = time.perf_counter() - started
    lines = render(args, env, rows, corpus_files, corpus_note, mem, elapsed, _native, split,
                   model_floor)
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.write("\n" + "\n".join(corpus_appendix(corpus_files)) + "\n")
        log("written to %s (with a per-file corpus appendix)" % args.out)
    return 0


def corpus_total_row(files):
    scan_all = sum(f["scan"] for f in files)
    with_u = [f for f in files if f["unpickle"] is not None]
    with_g = [f for f in files if not f["genops_error"]]
    multi = sum(1 for f in files if f["n_streams"] > 1)
    totals, medians = {}, {}
    for col, su, gs, _ in COLUMNS:
        totals[su] = ratio(sum(f[col] for f in with_u), sum(f["unpickle"] for f in with_u))
        totals[gs] = ratio(sum(f["genops"] for f in with_g), sum(f[col] for f in with_g))
        medians[su] = statistics.median([f[su] for f in with_u]) if with_u else None
        medians[gs] = statistics.median([f[gs] for f in with_g]) if with_g else None
    notes = ["total of %d files; per-file median: scan/unpickle %s, verdict/unpickle %s, "
             "genops/scan %s, genops/verdict %s"
             % (len(files), fmt_ratio(medians["su"]), fmt_ratio(medians["vu"]),
                fmt_ratio(medians["gs"], times=True), fmt_ratio(medians["gv"], times=True)),
             "unpickle with inert stand-in classes"]
    if len(with_u) < len(files):
        notes.append("%d files fail to unpickle, left out of scan/unpickle" % (len(files) - len(with_u)))
    if len(with_g) < len(files):
        notes.append("%d files where genops raises, left out of genops/scan" % (len(files) - len(with_g)))
    if multi:
        notes.append("%d files hold more than one pickle (genops/unpickle: first only)" % multi)
    return {
        "name": "corpus: benign raw pickles",
        "size": fmt_size(sum(f["bytes"] for f in files)), "bytes": sum(f["bytes"] for f in files),
        "scan": scan_all,
        "verdict": sum(f["verdict"] for f in files),
        "genops": sum(f["genops"] for f in files),
        "unpickle": sum(f["unpickle"] for f in with_u) if with_u else None,
        "su": totals["su"], "vu": totals["vu"], "gs": totals["gs"], "gv": totals["gv"],
        "su_median": medians["su"], "gs_median": medians["gs"],
        "vu_median": medians["vu"], "gv_median": medians["gv"],
        "notes": "; ".join(notes),
    }


def render(args, env, rows, corpus_files, corpus_note, mem, elapsed, native, split,
           model_floor=None):
    lines = ["# SafePickle scan cost", ""]
    lines.append("%s mode, %s. Environment: %s. Extension: %s." % (
        "Quick" if args.quick else "Full",
        datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        env, os.path.relpath(native.__file__, ROOT)))
    lines.append("")
    lines.append("Times (%s) are the minimum over repeated runs in one process, garbage collector off; "
                 % ("wall clock, time.perf_counter" if args.clock == "wall"
                    else "CPU time of the process, time.process_time") +
                 "scan is `safepickle._native.scan(data, detail=False)` with default limits and "
                 "no classifier (the full report); verdict is the load guard's path, "
                 "`safepickle._native.scan(data, detail=False, report=\"verdict\")` with the "
                 "bundled classifier at its threshold (the compact report); genops drains "
                 "`pickletools.genops`, unpickle is `pickle.loads` for the synthetic inputs and "
                 "an inert stand-in unpickler for corpus files.")
    lines.append("")
    lines += table(rows)
    lines.append("")
    if corpus_note:
        lines += [corpus_note, ""]
    lines += goal_lines(rows, corpus_files, model_floor)
    if split:
        lines += [""] + split
    if mem:
        lines += ["", "Peak memory: RSS peak above the baseline of a fresh process that already holds "
                  "the input (%s), one process per method and input:" % (
                      "ru_maxrss" if mem[0][4] == "ru_maxrss" else mem[0][4] + " of /proc/self/status"),
                  "",
                  "| input | size | scan peak | unpickle peak | unpickle/scan |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        for name, size, s, u, _ in mem:
            numbers = isinstance(s, int) and isinstance(u, int)
            r = ratio(u, s) if numbers else None
            lines.append("| %s | %s | %s | %s | %s |" % (
                name, fmt_size(size),
                fmt_size(max(s, 0)) if isinstance(s, int) else s,
                fmt_size(max(u, 0)) if isinstance(u, int) else u,
                "%.1fx" % r if r is not None else "n/a"))
    lines += ["", "Run time: %.0f s." % elapsed]
    return lines


def corpus_appendix(files):
    if not files:
        return []
    lines = ["## Corpus, per file", ""]
    lines += table(sorted(files, key=lambda f: -f["bytes"]))
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="synthetic inputs at 1/10 size and fewer repetitions (about 20 s)")
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help="markdown file for the results (default: %(default)s)")
    parser.add_argument("--corpus", default=DEFAULT_CORPUS,
                        help="evaluation corpus folder with MANIFEST.tsv (default: %(default)s)")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="wall: time.perf_counter (default); cpu: time.process_time, "
                             "for a machine busy with other work")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip the peak memory subprocesses")
    parser.add_argument("--mem-child", nargs=2, metavar=("METHOD", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.mem_child:
        mem_child(*args.mem_child)
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
