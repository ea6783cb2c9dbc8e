"""The engine against CPython's own unpickler.

For every input the recording unpickler (tests/recording.py) runs CPython's
loader in a world of stubs and records each find_class and each call into an
object the file chose; `safepickle._native.scan` reports the same things
without running anything. They must agree:

  * the same streams, starting at the same offsets;
  * per stream the same globals (raw names; the mapped names must be the
    protocol < 3 rename of the raw ones exactly when the protocol in force
    is below 3), the same calls (kind, callee, argument shapes), in the same
    order, and the same end (STOP or an exception);
  * what STOP returns has the same shape.

Events the engine flags speculative are left out: they come after a point
where the stubbed world raises but reality might not (REDUCE arguments that
are a call result, a name computed by a call), and the recorder cannot
follow there. After such a point (and only there: see CERTAIN_ERRORS) the
engine's stream may end differently and further streams may follow, as
long as they hold no event that is not flagged speculative. The engine may
also flag as speculative events the loader does make, where their outcome
depends on state outside the file (the process's extension registry): that
is accepted when, counting them, it reports exactly the loader's events,
and the summary lists those inputs. Documented normalisations (see
recording.shape):
  * mutable containers (list, dict, set, bytearray) are compared by type
    only, because the engine reports them as they are at the end of the
    stream and the recorder sees them at call time; the list an APPENDS on
    a non-list hands to `extend` is the loader's own and keeps its items;
  * the engine's call kinds reduce/inst/obj become "call", except INST/OBJ
    with no arguments on a global, which CPython runs as cls.__new__(cls):
    "new"; newobj and newobj_ex become "new";
  * a last load that raises before doing anything may be reported either as
    trailing data or as a stream that ends in an error with no events.

The C unpickler is the reference. The pure-Python one differs in a few
corners (APPEND calls `append`, APPENDS calls `extend` even with no items,
NEWOBJ skips the type checks, INT accepts fewer spellings); its class
compares wherever the two implementations agree and lists where they don't.
"""

import collections
import math
import os

import pytest
from hypothesis import HealthCheck, assume, given, settings
from tests.budget import scaled

from . import pickle_gen
from . import recording as R
from .conftest import corpus_root_or_fail, read_manifest

MAX_LISTED = 40  # differences spelled out in one failure message


def native():
    from safepickle import _native
    return _native


# ---- the engine's report in the recorder's vocabulary -----------------------


def _bytes_head(value):
    head = value.get("head")
    if isinstance(head, (bytes, bytearray)):
        return bytes(head)
    if isinstance(head, str):
        try:
            return bytes.fromhex(head)
        except ValueError:
            return head.encode("latin-1", "replace")
    if isinstance(head, list):
        return bytes(head)
    return head


def value_shape(v, depth=0):
    """A report Value as recording.shape would have shaped the real one."""
    if v is None:
        return None
    t = v.get("type")
    if t == "global":
        return ("global", v["index"])
    if t == "result":
        return ("result", v["call"])
    if t == "none":
        return ("none",)
    if t == "bool":
        return ("bool", bool(v["value"]))
    if t == "int":
        return ("int", v["value"])
    if t == "float":
        return R.float_shape(float(v["value"]))
    if t == "str":
        return ("str", v["len"], v["value"][:R.KEEP_CHARS])
    if t == "bytes":
        return ("bytes", v["len"], _bytes_head(v)[:R.KEEP_HEAD])
    if t in ("bytearray", "list", "dict", "set", "buffer"):
        return (t,)
    if t == "frozenset":
        return ("frozenset", v["len"])
    if t == "tuple":
        if depth >= R.SHAPE_DEPTH:
            return ("tuple", "elided")
        return ("tuple", v["len"],
                tuple(value_shape(x, depth + 1)
                      for x in v["items"][:R.KEEP_ITEMS]))
    return ("unknown", t)


def _is_empty_tuple(v):
    return v is not None and v.get("type") == "tuple" and v.get("len") == 0


def call_kind(c):
    kind = c["kind"]
    if kind == "reduce":
        return "call"
    if kind in ("newobj", "newobj_ex"):
        return "new"
    if kind in ("inst", "obj"):
        callee = c.get("callee") or {}
        if callee.get("type") == "global" and _is_empty_tuple(c["args"]):
            return "new"
        return "call"
    return kind


def call_shape(c):
    kind = call_kind(c)
    callee = None if kind == "persid" else value_shape(c["callee"])
    args = c["args"]
    if kind == "extend" and args is not None and args.get("type") == "list":
        args_shape = ("list-items", args["len"],
                      tuple(value_shape(x, 1)
                            for x in args["items"][:R.KEEP_ITEMS]))
    else:
        args_shape = value_shape(args)
    kwargs = c.get("kwargs")
    kwargs_shape = None
    if kwargs is not None and kwargs.get("type") == "dict" and kwargs["len"]:
        kwargs_shape = ("dict",)
    return (kind, callee, args_shape, kwargs_shape)


def _speculative_global(g):
    return "speculative" in g.get("flags", ())


def engine_summary(es, speculative=False):
    globals_ = [g for g in es["globals"]
                if speculative or not _speculative_global(g)]
    calls = [c for c in es["calls"] if speculative or not c.get("speculative")]
    return {
        "globals": [(g["raw_module"], g["raw_name"]) for g in globals_],
        "calls": [call_shape(c) for c in calls],
        "end": {"stop": "stop", "error": "error",
                "truncated": "error"}.get(es["end_kind"], es["end_kind"]),
    }


def engine_order(es, speculative=False):
    """("global", i) / ("call", j) by offset, as the recorder orders them."""
    events = [(g["offset"], 0, ("global", i))
              for i, g in enumerate(es["globals"])
              if speculative or not _speculative_global(g)]
    events += [(c["offset"], 1, ("call", c["index"]))
               for c in es["calls"] if speculative or not c.get("speculative")]
    return [e[2] for e in sorted(events)]


def describe_engine(report):
    lines = ["format=%s trailing=%s+%s" % (
        report.get("format"), report.get("trailing_offset"),
        report.get("trailing_len"))]
    for i, es in enumerate(report["streams"]):
        lines.append("stream %d @%d..%d: %s %s speculative=%s@%s" % (
            i, es["start"], es["end"], es["end_kind"], es.get("error"),
            es.get("speculative"), es.get("speculative_offset")))
        for j, g in enumerate(es["globals"]):
            lines.append("  global %d %r %r -> %r %r proto=%s %s @%d %s" % (
                j, g["raw_module"], g["raw_name"], g["module"], g["name"],
                g["proto"], g["opcode"], g["offset"],
                ",".join(g.get("flags", ()))))
        for c in es["calls"]:
            lines.append("  call %d %s(%s) callee=%r args=%r kwargs=%r @%d%s"
                         % (c["index"], c["kind"], call_kind(c),
                            value_shape(c["callee"]), call_shape(c)[2],
                            call_shape(c)[3], c["offset"],
                            " speculative" if c.get("speculative") else ""))
    return "\n".join(lines)


# ---- the comparison --------------------------------------------------------


def _no_events(es):
    s = engine_summary(es)
    return not s["globals"] and not s["calls"]


def compare(data, rec, report, impl, notes=None):
    """Every way the engine's report departs from the recording; `notes`
    collects the inputs accepted through _speculative_but_real."""
    diffs = []
    streams = report["streams"]
    ran = list(rec.streams)
    t = rec.trailing
    if (t is not None and len(streams) > len(ran)
            and streams[len(ran)]["start"] == t.start):
        # the engine reads the failing last load as a stream: compare it
        # as one (it must show no event the loader did not make)
        ran.append(t)
        t = None
    n = len(ran)
    if len(streams) < n:
        diffs.append("engine reports %d streams, loader ran %d"
                     % (len(streams), n))
    extra = streams[n:]
    if t is not None:
        if (report["trailing_offset"] != t.start
                or report["trailing_len"] != len(data) - t.start):
            diffs.append("loader: trailing data at %d+%d (%s); engine: "
                         "trailing %s+%s" % (
                             t.start, len(data) - t.start, t.error_text(),
                             report["trailing_offset"],
                             report["trailing_len"]))
        if extra:
            diffs.append("loader: trailing data at %d; engine: %d more "
                         "streams, first @%d" % (t.start, len(extra),
                                                 extra[0]["start"]))
    elif extra and _speculated_past_failure(ran, streams):
        # the last load raises where reality might not and the engine went
        # on: what it reads after that is all beyond the failure point
        for j, e in enumerate(extra, n):
            if not _no_events(e):
                diffs.append("stream %d after the loader's failure: events "
                             "not flagged speculative" % j)
    elif extra:
        diffs.append("engine reports %d more streams (first @%d %s)" % (
            len(extra), extra[0]["start"], extra[0]["end_kind"]))
    if (rec.trailing is None and all(s.ok for s in rec.streams)
            and report["trailing_len"] and len(rec.streams) < 1000):
        diffs.append("loader read to the end; engine: trailing %s+%s" % (
            report["trailing_offset"], report["trailing_len"]))

    for i, (rs, es) in enumerate(zip(ran, streams)):
        where = "stream %d" % i
        if es["start"] != rs.start:
            diffs.append("%s: starts at %d, engine says %d"
                         % (where, rs.start, es["start"]))
        want = R.stream_summary(rs)
        got = engine_summary(es)
        if (got["globals"], got["calls"]) == (want["globals"],
                                              want["calls"]):
            order = engine_order(es)
        elif _speculative_but_real(rs, es, want, got):
            order = engine_order(es, speculative=True)[:len(rs.order)]
            if notes is not None:
                notes.append("%s: events flagged speculative that the "
                             "loader makes" % where)
        else:
            order = rs.order
            if got["globals"] != want["globals"]:
                diffs.append("%s: globals: loader %r, engine %r"
                             % (where, want["globals"], got["globals"]))
            if got["calls"] != want["calls"]:
                diffs.append(_first_call_difference(where, want["calls"],
                                                    got["calls"]))
        if order != rs.order:
            diffs.append("%s: order of events: loader %r, engine %r"
                         % (where, rs.order, order))
        if (got["end"] != want["end"]
                and not (es.get("speculative") and not rs.ok
                         and not loader_error_is_certain(rs.error))):
            diffs.append("%s: end: loader %s%s, engine %s (%s)" % (
                where, want["end"],
                "" if rs.ok else " (" + rs.error_text() + ")",
                es["end_kind"], es.get("error")))
        if rs.ok and es["end_kind"] == "stop":
            result = value_shape(es.get("result"))
            if result != rs.result:
                diffs.append("%s: STOP returns %r, engine %r"
                             % (where, rs.result, result))
        diffs += _check_names(where, rs, es, impl)
    return diffs


# Loader errors that do not depend on what the globals turn out to be:
# framing, stack and memo structure, malformed arguments. Where the
# recorder hits one of these, reality fails there too, so the engine must
# end the stream in an error even if it was speculating. The other errors
# (TypeError and AttributeError on stubs, STACK_GLOBAL on a call result,
# NEWOBJ on a non-type, unregistered EXT codes, out-of-band buffers, memory)
# depend on the objects a real find_class would return or on the caller:
# after one of them an engine that says it is speculating may go on.
CERTAIN_ERRORS = (
    "pickle data was truncated", "unpickling stack underflow",
    "could not find MARK", "unexpected MARK found", "invalid load key",
    "Memo value not found", "odd number of items", "EXT specifies code <= 0",
    "persistent IDs in protocol 0 must be ASCII",
    "the STRING opcode argument must be quoted", "negative byte count",
    "unsupported pickle protocol", "negative PUT argument",
    "could not convert string to", "invalid literal for int()",
    "invalid \\x escape", "Python int too large",
    "beginning of a new frame before end of current frame",
)


def loader_error_is_certain(exc):
    if isinstance(exc, (EOFError, UnicodeDecodeError)):
        return True
    text = str(exc)
    return any(marker in text for marker in CERTAIN_ERRORS)


def _speculative_but_real(rs, es, want, got):
    """The engine flagged as speculative (may not happen) events the loader
    does make. Accepted when nothing is lost: its sure events are a prefix
    of the loader's, and counting the speculative ones it reports exactly
    the loader's events (or, where the loader fails at a point reality
    might pass, the loader's events and then more)."""
    if not es.get("speculative"):
        return False
    every = engine_summary(es, speculative=True)
    for key in ("globals", "calls"):
        if got[key] != want[key][:len(got[key])]:
            return False
        if rs.ok or loader_error_is_certain(rs.error):
            if every[key] != want[key]:
                return False
        elif every[key][:len(want[key])] != want[key]:
            return False
    return True


def _speculated_past_failure(ran, streams):
    if not ran or ran[-1].ok:
        return False
    last = ran[-1]
    es = streams[len(ran) - 1]
    return bool(es.get("speculative")) and not loader_error_is_certain(
        last.error)


def _first_call_difference(where, want, got):
    for j, (a, b) in enumerate(zip(want, got)):
        if a != b:
            return "%s: call %d: loader %r, engine %r (%d vs %d calls)" % (
                where, j, a, b, len(want), len(got))
    longer, name = (want, "loader") if len(want) > len(got) else (got,
                                                                  "engine")
    j = min(len(want), len(got))
    return "%s: %s has %d more calls, first %r" % (
        where, name, len(longer) - j, longer[j])


def _check_names(where, rs, es, impl):
    diffs = []
    # the rename is a function of the raw names and the protocol, so it is
    # checked on every global, speculative ones included
    for i, g in enumerate(es["globals"]):
        if "computed" in g.get("flags", ()):
            continue
        raw = (g["raw_module"], g["raw_name"])
        proto = g["proto"]
        want = R.compat_map(*raw) if proto < 3 else raw
        got = (g["module"], g["name"])
        if got != want:
            diffs.append("%s: global %d %r at protocol %d maps to %r, "
                         "engine %r" % (where, i, raw, proto, want, got))
        if ("compat" in g.get("flags", ())) != (got != raw):
            diffs.append("%s: global %d %r -> %r: compat flag %s"
                         % (where, i, raw, got, g.get("flags")))
        if (impl == "py" and i < len(rs.globals)
                and (rs.globals[i].module, rs.globals[i].name) == raw):
            real = rs.globals[i].proto
            if real != proto:
                diffs.append("%s: global %d %r: protocol in force %d, "
                             "engine says %d" % (where, i, raw, real, proto))
    return diffs


def _recordings_agree(a, b):
    def key(rec):
        return ([(s.start, R.stream_summary(s), s.order, s.result)
                 for s in rec.streams],
                None if rec.trailing is None else rec.trailing.start)
    return key(a) == key(b)


# ---- inputs ----------------------------------------------------------------


GENERATED = pickle_gen.generated()

# formats for which the engine runs the pickle machine over the bytes as
# they are, as pickle.load would
RAW_FORMATS = ("raw-pickle", "unknown", "empty")

_OPCODE_BYTES = {op.code.encode("latin-1")
                 for op in __import__("pickletools").opcodes}


def corpus_inputs():
    """(path, data, why) for the raw pickles of the corpus and every other
    corpus file whose first byte is a pickle opcode."""
    root = corpus_root_or_fail()
    out = []
    for row in read_manifest(root):
        path = root / row["path"]
        with open(path, "rb") as f:
            data = f.read()
        if row["format"].startswith("raw-pickle"):
            out.append((row["path"], data, row["format"]))
        elif data[:1] in _OPCODE_BYTES:
            out.append((row["path"], data, "first byte %r (%s)"
                        % (data[:1], row["format"])))
    return out


def _literal(data, limit=400):
    text = repr(data)
    if len(text) > limit:
        return text[:limit] + "... (%d bytes)" % len(data)
    return text


# ---- the test classes ------------------------------------------------------


class _Differential:
    """Cases run against one unpickler implementation (set `impl`)."""

    impl = None

    def _run(self, name, data, label=None, notes=None):
        """(differences, recording) for one input; None when the two
        implementations disagree and this one is not the reference."""
        rec = R.record(data, self.impl)
        if self.impl != "c":
            if not _recordings_agree(rec, R.record(data, "c")):
                return None, rec
        report = native().scan(data)
        diffs = compare(data, rec, report, self.impl, notes)
        if diffs:
            text = ("%s\n  input: %s\n  differences:\n    %s\n"
                    "  loader (%s):\n    %s\n  engine:\n    %s" % (
                        name, label or _literal(data),
                        "\n    ".join(diffs), self.impl,
                        R.describe(rec).replace("\n", "\n    "),
                        describe_engine(report).replace("\n", "\n    ")))
            return text, rec
        return "", rec

    def _run_all(self, cases, summary, what):
        failures, divergent, compared, cautious = [], [], 0, []
        for name, data, label in cases:
            notes = []
            text, rec = self._run(name, data, label, notes)
            if notes:
                cautious.append(name)
            if text is None:
                divergent.append(name)
                continue
            compared += 1
            if text:
                failures.append(text)
        summary.append("%s [%s]: %d inputs compared, %d differences%s" % (
            what, self.impl, compared, len(failures),
            "" if not divergent else
            "; %d left out where pure-Python and C loaders disagree"
            % len(divergent)))
        if cautious:
            summary.append("  %d accepted with events flagged speculative "
                           "that the loader makes: %s" % (
                               len(cautious), ", ".join(cautious[:30])
                               + (" ..." if len(cautious) > 30 else "")))
        if divergent:
            summary.append("  implementations disagree on: "
                           + ", ".join(divergent[:60])
                           + (" ..." if len(divergent) > 60 else ""))
        assert not failures, ("%d of %d inputs differ:\n\n" % (
            len(failures), compared)) + "\n\n".join(failures[:MAX_LISTED])
        return compared

    def test_generated(self, summary):
        cases = [(name, data, None) for name, data in GENERATED]
        self._run_all(cases, summary, "generated pickles")

    def test_corpus(self, summary):
        inputs = corpus_inputs()
        compared, other_format, unrunnable = [], [], []
        for path, data, why in inputs:
            report = native().scan(data)
            if report.get("format") not in RAW_FORMATS:
                # the engine took it for a container: its report is about
                # what is inside, not what pickle.load on the bytes reads
                other_format.append(report.get("format"))
                continue
            compared.append((path, data, "%s (%s)" % (path, why)))
        if self.impl == "c":
            for path, data, _label in compared:
                rec = R.record(data, "c")
                for s in rec.streams:
                    if not s.ok:
                        unrunnable.append("%s: stream @%d: %s" % (
                            path, s.start, s.error_text()))
                if rec.trailing is not None:
                    unrunnable.append("%s: trailing data @%d: %s" % (
                        path, rec.trailing.start, rec.trailing.error_text()))
            kept = {path for path, _d, _l in compared}
            extra = collections.Counter(
                why.split(" (", 1)[1][:-1] for path, _d, why in inputs
                if path in kept and not why.startswith("raw-pickle"))
            summary.append(
                "corpus: %d raw-pickle files by the manifest; %d other files "
                "start with an opcode, of which %d are compared (%s) and %d "
                "not, because the engine unpacks them as a container (%s)" % (
                    sum(1 for _p, _d, w in inputs
                        if w.startswith("raw-pickle")),
                    sum(1 for _p, _d, w in inputs
                        if not w.startswith("raw-pickle")),
                    sum(extra.values()),
                    ", ".join("%s x%d" % kv for kv in sorted(extra.items())),
                    len(other_format),
                    ", ".join("%s x%d" % kv for kv in sorted(
                        collections.Counter(other_format).items()))))
            summary.append("corpus inputs the stubbed unpickler cannot run "
                           "to the end (%d):" % len(unrunnable))
            summary.extend("  " + line for line in unrunnable)
        n = self._run_all(compared, summary, "corpus files")
        assert n > 0

    def check_random(self, data):
        # As for corpus files: bytes the engine takes for a container
        # (a random stream may start "PK\x03\x04") are reported by what
        # is inside; test_containers.py checks their reading as a pickle.
        assume(native().scan(data, None, False, report="verdict")["format"] in RAW_FORMATS)
        text, _rec = self._run("random", data)
        assert not text, text


# Each implementation gets its own hypothesis test function: one function
# shared through the base class would be run by two executors.
fuzz = settings(max_examples=scaled(250), deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])


class TestDifferentialC(_Differential):
    """The reference: _pickle.Unpickler."""

    impl = "c"

    @fuzz
    @given(data=pickle_gen.opcode_streams())
    def test_random_opcode_streams(self, data):
        self.check_random(data)


class TestDifferentialPython(_Differential):
    """pickle._Unpickler, wherever it behaves as the C loader does; it also
    exposes the protocol in force, checked against the engine's."""

    impl = "py"

    @fuzz
    @given(data=pickle_gen.opcode_streams())
    def test_random_opcode_streams(self, data):
        self.check_random(data)


# ---- the recorder and the generator on their own ---------------------------


class TestRecorder:
    def test_ordereddict(self):
        import collections
        import pickle
        data = pickle.dumps(collections.OrderedDict(a=1), protocol=2)
        for impl in ("c", "py"):
            rec = R.record(data, impl)
            assert [R.stream_summary(s) for s in rec.streams] == [{
                "globals": [("collections", "OrderedDict")],
                "calls": [
                    ("call", ("global", 0), ("tuple", 0, ()), None),
                    ("setitem", ("result", 0),
                     ("tuple", 2, (("str", 1, "a"), ("int", 1))), None)],
                "end": "stop"}]
            assert rec.trailing is None

    def test_payload_is_recorded_not_run(self, tmp_path):
        canary = tmp_path / "canary"
        command = "touch " + str(canary)
        payloads = [
            b"cos\nsystem\n(S'%s'\ntR." % command.encode(),
            pickle_gen.p(4) + pickle_gen.sg("os", "system")
            + pickle_gen.u(command) + b"\x85R.",
            pickle_gen.p(2) + pickle_gen.gl("builtins", "exec")
            + pickle_gen.u("open(%r, 'w')" % str(canary)) + b"\x85R.",
            b"(S'%s'\nios\nsystem\n." % command.encode(),
        ]
        for data in payloads:
            for impl in ("c", "py"):
                rec = R.record(data, impl)
                (stream,) = rec.streams
                assert stream.ok
                assert len(stream.globals) == 1
                assert stream.calls[0].callee == ("global", 0)
        assert not canary.exists()

    def test_extension_registry_is_restored(self):
        import copyreg
        before = (dict(copyreg._extension_registry),
                  dict(copyreg._inverted_registry),
                  dict(copyreg._extension_cache))
        data = dict(GENERATED)["EXT1"]
        rec = R.record(data)
        (stream,) = rec.streams
        assert stream.ok
        assert [(g.module, g.name) for g in stream.globals] == [
            ("copyreg", "add_extension"), ("os", "system")]
        assert stream.calls[1].callee == ("global", 1)
        after = (dict(copyreg._extension_registry),
                 dict(copyreg._inverted_registry),
                 dict(copyreg._extension_cache))
        assert before == after
        # the code is unknown again to the next input
        rec = R.record(b"\x80\x02\x82\x05.")
        assert "unregistered extension code 5" in rec.streams[0].error_text()

    def test_extension_registered_in_one_stream_serves_the_next(self):
        rec = R.record(dict(GENERATED)["ext-across-streams"])
        assert [s.ok for s in rec.streams] == [True, True]
        assert [(g.module, g.name) for g in rec.streams[1].globals] == [
            ("os", "system")]

    def test_call_kinds(self):
        g = dict(GENERATED)
        kinds = {}
        for name in ("INST-noargs", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX",
                     "BUILD", "appends-result", "setitem-global",
                     "additems-result", "BINPERSID", "reduce-callee-result"):
            rec = R.record(g[name])
            kinds[name] = [c.kind for c in rec.streams[0].calls]
        assert kinds == {
            "INST-noargs": ["new"], "INST": ["call"], "OBJ": ["call"],
            "NEWOBJ": ["new"], "NEWOBJ_EX": ["new"],
            "BUILD": ["call", "build"], "appends-result": ["call", "extend"],
            "setitem-global": ["setitem"], "additems-result": ["call", "add",
                                                               "add"],
            "BINPERSID": ["persid"],
            "reduce-callee-result": ["call", "call"],
        }
        newobj_ex = R.record(g["NEWOBJ_EX"]).streams[0].calls[0]
        assert newobj_ex.kwargs == ("dict",)

    def test_streams_and_trailing_data(self):
        rec = R.record(b"N.K\x01.garbage")
        assert [(s.start, s.end, s.result) for s in rec.streams] == [
            (0, 2, ("none",)), (2, 5, ("int", 1))]
        assert rec.trailing.start == 5
        rec = R.record(dict(GENERATED)["reduce-then-garbage"])
        (stream,) = rec.streams
        assert not stream.ok and len(stream.calls) == 1

    def test_nan_shapes_compare_equal(self):
        assert R.shape(float("nan")) == R.shape(-float("nan"))
        assert R.shape(0.0) != R.shape(-0.0)
        assert value_shape({"type": "float", "value": math.nan}) == \
            R.shape(float("nan"))

    def test_generated_set_covers_every_opcode(self):
        import pickletools
        used = set()
        for _name, data in GENERATED:
            used |= pickle_gen.opcodes_used(data)
        missing = {op.name for op in pickletools.opcodes} - used
        assert not missing

    def test_generated_names_unique(self):
        names = [n for n, _d in GENERATED]
        assert len(names) == len(set(names))
        assert len(GENERATED) > 1000


def test_corpus_is_there():
    root = corpus_root_or_fail()
    assert os.path.isdir(root / "files")
