"""Whole files: the engine against torch.load, joblib.load and numpy.load.

test_differential.py checks the pickle machine on bare pickles. Here the
real loaders run, on files the real libraries wrote and on the benign
container files of the corpus, with only the name resolution of their
unpickler replaced by the recorder of tests/recording.py (see
tests/loader_recording.py). The loader's own code decides which bytes are
a pickle, how many pickles it reads and where they start; the engine must
report the same pickles with the same events:

  * torch: every pickle torch.load runs (the zip's data.pkl once; the five
    pickles of the legacy format, at their file offsets), with the same
    globals, calls, order, end and STOP result as in test_differential;
    a file torch refuses before running a pickle is a container error.
  * joblib: the globals joblib's unpickler resolves, in order, in the main
    stream and in every object array's nested pickle, each nested pickle
    placed after the same main-stream globals and at the same offset of
    the decompressed stream. Only globals are compared: joblib's reader
    needs a few real data classes to walk the file (listed in
    loader_recording._real_joblib_classes), and calls into real objects
    are not recorded.
  * numpy: the pickle of every object array (.npy, and each .npz member),
    with the engine's offsets counted from the first pickle byte.

Normalisations, on top of those of test_differential.py:
  * events the engine flags speculative are left out, and a stream
    matches also when, counting them, the engine reports exactly the
    loader's events (the summary lists those streams). The engine flags
    them where it cannot know what the loader's code returns: torch's
    legacy persistent_load hands back the class named in a ("module",
    cls, ...) id, and NEWOBJ then instantiates it; the recorder does the
    same with a stub class (loader_recording.torch_pickle_module). For
    joblib, whose unpickler is the pure-Python one, the engine marks as
    speculative what only pickle.py runs.
  * torch's legacy loader then fails to find the storages its
    persistent_load would have made (the recorder's makes none): that
    error comes after the last pickle and is expected; a loader error
    raised inside a pickle is compared with the engine's end of stream.
  * generated torch files are given to torch.load as in-memory files,
    corpus files by path (torch then first tries the legacy file as a tar
    archive, which fails before any pickle is read).
  * a joblib file in a codec this joblib cannot decompress is listed, not
    compared: joblib would unpickle the compressed bytes.
  * numpy 2 calls the `pickle` module of numpy.lib._format_impl (what
    numpy.lib.format re-exports are its functions), so that is the one
    replaced.
"""

import collections
import datetime
import decimal
import fractions
import io

import joblib
import numpy as np
import pytest
import torch

import safepickle

from . import loader_recording as L
from . import recording as R
from . import test_differential as D
from .conftest import corpus_root_or_fail, read_manifest

MAX_LISTED = 20


class Checkpointed:
    """A class of this module that the files name, so find_class is asked
    for something that is neither a library class nor a builtin."""

    def __init__(self, size):
        self.size = size
        self.weights = np.linspace(0.0, 1.0, size)
        self.tags = {"kind": "custom", "ids": (1, 2, 3)}


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 2, 3)
        self.norm = torch.nn.BatchNorm2d(2)
        self.head = torch.nn.Linear(8, 3)
        self.register_buffer("scale", torch.tensor([0.5, 2.0]))

    def forward(self, x):
        return self.head(self.norm(self.conv(x)).flatten(1))


def engine(data_or_path):
    return safepickle.scan(data_or_path).raw


def _describe_streams(streams):
    return D.describe_engine({"streams": streams, "format": "",
                              "trailing_offset": None,
                              "trailing_len": None}).split("\n", 1)[-1]


def compare_stream(where, rs, es, base=0, notes=None):
    """How the engine's stream `es` departs from the recorded load `rs`;
    `base` is the file offset the engine counts from. Where the engine
    flags as speculative events the loader makes (it cannot know what a
    persistent_load returns), they count when nothing else differs, and
    `notes` says so."""
    diffs = []
    if rs.start - base != es["start"]:
        diffs.append("%s: starts at %d, engine says %d"
                     % (where, rs.start - base, es["start"]))
    if rs.ok and rs.end - base != es["end"]:
        diffs.append("%s: ends at %d, engine says %d"
                     % (where, rs.end - base, es["end"]))
    want = R.stream_summary(rs)
    got = D.engine_summary(es)
    order = D.engine_order(es)
    if (got != want and es.get("speculative")
            and D.engine_summary(es, speculative=True) == want):
        got = want
        order = D.engine_order(es, speculative=True)
        if notes is not None:
            notes.append(where)
    if got["globals"] != want["globals"]:
        diffs.append("%s: globals: loader %r, engine %r"
                     % (where, want["globals"], got["globals"]))
    if got["calls"] != want["calls"]:
        diffs.append(D._first_call_difference(where, want["calls"],
                                              got["calls"]))
    elif got["globals"] == want["globals"] and order != rs.order:
        diffs.append("%s: order of events: loader %r, engine %r"
                     % (where, rs.order, order))
    if got["end"] != want["end"]:
        diffs.append("%s: end: loader %s%s, engine %s (%s)" % (
            where, want["end"], "" if rs.ok else " (" + rs.error_text() + ")",
            es["end_kind"], es.get("error")))
    elif rs.ok:
        result = D.value_shape(es.get("result"))
        if result != rs.result:
            diffs.append("%s: STOP returns %r, engine %r"
                         % (where, rs.result, result))
    return diffs


def compare_streams(where, recorded, streams, base=0, notes=None):
    diffs = []
    if len(streams) != len(recorded):
        diffs.append("%s: the loader ran %d pickles, engine reports %d"
                     % (where, len(recorded), len(streams)))
    for i, (rs, es) in enumerate(zip(recorded, streams)):
        diffs += compare_stream("%s stream %d" % (where, i), rs, es, base,
                                notes)
    return diffs


def failure_text(name, diffs, session, report_text):
    return ("%s\n  differences:\n    %s\n  loader:\n    %s\n"
            "  engine:\n    %s") % (
        name, "\n    ".join(diffs),
        session.describe().replace("\n", "\n    "),
        report_text.replace("\n", "\n    "))


def finish(summary, what, compared, failures, extra=()):
    summary.append("%s: %d inputs compared, %d differences"
                   % (what, compared, len(failures)))
    summary.extend("  " + line for line in extra)
    assert compared > 0
    assert not failures, ("%d of %d inputs differ:\n\n" % (
        len(failures), compared)) + "\n\n".join(failures[:MAX_LISTED])


def benign_rows(formats):
    root = corpus_root_or_fail()
    rows = [row for row in read_manifest(root)
            if row["label"] == "benign"
            and row["format"].split(" ")[0] in formats]
    assert rows, "no benign %s files in the corpus" % (formats,)
    return root, rows


# ---- torch -----------------------------------------------------------------


def _model_and_optimizer():
    torch.manual_seed(0)
    model = TinyNet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(2, 1, 4, 4)).sum().backward()
    opt.step()
    return model, opt


def torch_objects():
    model, opt = _model_and_optimizer()
    base = torch.arange(12.0).reshape(3, 4)
    sgd = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1,
                          momentum=0.9)
    return [
        ("state_dict", model.state_dict()),
        ("module", model),
        ("sequential", torch.nn.Sequential(torch.nn.Linear(4, 2),
                                           torch.nn.ReLU(),
                                           torch.nn.Dropout(0.1))),
        ("adam_state", opt.state_dict()),
        ("sgd_state", sgd.state_dict()),
        ("checkpoint", {
            "epoch": 7, "step": 1234,
            "model": model.state_dict(), "optimizer": opt.state_dict(),
            "config": {"lr": 1e-3, "betas": (0.9, 0.999), "name": "tiny",
                       "layers": [1, 2, 3], "flags": {"amp": False}},
            "rng": torch.get_rng_state(),
            "numpy": np.arange(5, dtype=np.int16),
            "custom": Checkpointed(3),
        }),
        ("tensors", {
            "views": [base, base[1], base.t(), base[:, 1:3]],
            "dtypes": [torch.zeros(2, dtype=t) for t in (
                torch.int8, torch.uint8, torch.int64, torch.bool,
                torch.float16, torch.bfloat16, torch.complex64)],
            "param": torch.nn.Parameter(torch.ones(2)),
            "grad": torch.ones(3, requires_grad=True),
            "sparse": torch.eye(3).to_sparse(),
            "empty": torch.empty(0),
            "scalar": torch.tensor(3.5),
            "meta": (torch.Size([2, 3]), torch.float32, torch.device("cpu")),
        }),
        ("plain", {"a": 1, "b": [None, True, 2.5, "x" * 300, b"\x00" * 70],
                   "c": collections.OrderedDict(k=1)}),
    ]


def torch_inputs():
    out = []
    for name, obj in torch_objects():
        for fmt, kwargs in (
                ("zip", {}), ("zip-proto4", {"pickle_protocol": 4}),
                ("legacy", {"_use_new_zipfile_serialization": False})):
            buf = io.BytesIO()
            torch.save(obj, buf, **kwargs)
            out.append(("%s/%s" % (name, fmt), buf.getvalue()))
    return out


def torch_record(source):
    """Run torch.load over the recorder; the session and the module."""
    session = L.Session("c")
    module = L.torch_pickle_module(session)
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    with L.extension_registry_restored():
        try:
            torch.load(source, weights_only=False, pickle_module=module,
                       map_location="cpu")
        except Exception as exc:  # the loader's own, or a pickle's
            session.loader_error = exc
    return session, module


def compare_torch(name, source, report, notes):
    """(differences, session); streams matched only counting events the
    engine flags speculative are added to `notes`."""
    session, module = torch_record(source)
    diffs = []
    fmt = report["format"]
    ran = session.streams
    if not ran:
        # torch refused the file before unpickling anything
        if report.get("container_error") is None:
            diffs.append("torch.load ran no pickle (%r); engine: format %s, "
                         "no container error"
                         % (session.loader_error, fmt))
        if report["streams"]:
            diffs.append("torch.load ran no pickle; engine reports %d "
                         "primary streams" % len(report["streams"]))
        return diffs, session
    if report.get("container_error") is not None:
        diffs.append("engine: container error %r, but torch.load ran %d "
                     "pickles" % (report["container_error"], len(ran)))
    pickle_failed = any(not s.ok for s in ran)
    if fmt == "torch-zip":
        if len(ran) != 1:
            diffs.append("torch.load ran %d pickles from a zip" % len(ran))
        if not module.Unpickler.overridden:
            diffs.append("torch defined no find_class of its own: the "
                         "harness no longer matches torch.load")
        if session.loader_error is not None and not pickle_failed:
            diffs.append("torch.load failed after data.pkl: %r"
                         % session.loader_error)
        diffs += compare_streams("data.pkl", ran, report["streams"],
                                 notes=notes)
    elif fmt == "torch-legacy":
        diffs += compare_streams("legacy", ran, report["streams"],
                                 notes=notes)
        last = ran[-1]
        if not pickle_failed and len(ran) == 5:
            if report["trailing_offset"] != last.end:
                diffs.append("the storage bytes start at %d, engine: "
                             "trailing data at %s" % (
                                 last.end, report["trailing_offset"]))
            err = session.loader_error
            if err is not None and "not found in deserialized_objects" \
                    not in str(err):
                diffs.append("torch.load failed after the five pickles: "
                             "%r" % err)
    else:
        diffs.append("engine reads the file as %s, torch.load ran %d "
                     "pickles" % (fmt, len(ran)))
    return diffs, session


def _torch_failure(name, diffs, session, report):
    return failure_text(name, diffs, session, D.describe_engine(report))


def _speculative_note(notes):
    if not notes:
        return []
    return ["streams that match only counting events the engine flags "
            "speculative (%d): %s" % (len(notes), ", ".join(notes))]


def _run_torch(cases, summary, what):
    compared, failures, refused, notes = 0, [], [], []
    kinds = collections.Counter()
    for name, source in cases:
        report = engine(source)
        kinds[report["format"]] += 1
        mine = []
        diffs, session = compare_torch(name, source, report, mine)
        notes += ["%s: %s" % (name, where) for where in mine]
        compared += 1
        if not session.streams:
            refused.append("%s: %s" % (name, session.loader_error))
        if diffs:
            failures.append(_torch_failure(name, diffs, session, report))
    extra = ["formats: " + ", ".join("%s x%d" % kv
                                     for kv in sorted(kinds.items()))]
    extra += _speculative_note(notes)
    if refused:
        extra.append("refused by torch before any pickle, as the engine "
                     "says (%d): %s" % (len(refused), "; ".join(refused)))
    finish(summary, what, compared, failures, extra)
    return kinds, refused


def test_torch_generated(summary):
    cases = [(name, data) for name, data in torch_inputs()]
    kinds, refused = _run_torch(cases, summary,
                                "torch.load, files written by torch.save")
    assert set(kinds) == {"torch-zip", "torch-legacy"}
    assert not refused


def test_torch_corpus(summary):
    root, rows = benign_rows(("torch-zip", "torch-legacy"))
    cases = [(row["path"].rsplit("/", 1)[-1], str(root / row["path"]))
             for row in rows]
    _run_torch(cases, summary, "torch.load, benign corpus files")


# ---- joblib ----------------------------------------------------------------


JOBLIB_COMPRESSIONS = (None, "zlib", "gzip", "bz2", "xz", "lzma", "lz4")


def joblib_objects():
    checkpointed = Checkpointed(4)
    return [
        ("arrays", {
            "f8": np.arange(10.0), "i4": np.arange(12, dtype=np.int32)
            .reshape(3, 4, order="F"), "b": np.array([True, False]),
            "c16": np.array([1 + 2j]), "big": np.zeros(5000),
            "be": np.arange(3, dtype=">i8"), "scalar": np.array(2.5),
            "rec": np.zeros(2, dtype=[("x", "<f4"), ("y", "S3")]),
        }),
        ("strings", {"u": np.array(["x", "yy", "zzz"]),
                     "s": np.array([b"a", b"bc"]),
                     "words": np.array([["ab", "c"], ["d", "ef"]])}),
        ("objects", {
            "mixed": np.array([1, "a", None, 2.5], dtype=object),
            "nested": np.array([{"k": [1, 2]}, (3, 4), {5}], dtype=object),
            "custom": np.array([checkpointed, decimal.Decimal("1.5")],
                               dtype=object),
            "arrays": np.array([np.arange(3), np.array(["q"])] + [None],
                               dtype=object),
        }),
        ("nested", {"level1": {"level2": {"level3": [np.ones(3), {
            "when": datetime.date(2024, 1, 2),
            "ratio": fractions.Fraction(1, 3),
            "od": collections.OrderedDict(a=np.arange(2))}]}},
            "tuple": (np.zeros(2), "x", b"y")}),
        ("custom", checkpointed),
        ("list", [np.arange(4), checkpointed, np.array([None], dtype=object),
                  "tail"]),
    ]


def _joblib_reads():
    from joblib.compressor import _COMPRESSORS
    return set(_COMPRESSORS) | {"raw", "zlib-legacyZF"}


JOBLIB_READS = _joblib_reads()


def joblib_inputs(tmp_path):
    out = []
    for name, obj in joblib_objects():
        for compress in JOBLIB_COMPRESSIONS:
            path = tmp_path / ("%s-%s.joblib" % (name, compress or "raw"))
            joblib.dump(obj, path, compress=(compress, 3) if compress else 0)
            out.append(("%s/%s" % (name, compress or "raw"), path))
    for protocol in (2, 3, 5):
        path = tmp_path / ("objects-p%d.joblib" % protocol)
        joblib.dump(dict(joblib_objects())["objects"], path,
                    protocol=protocol)
        out.append(("objects/raw-protocol%d" % protocol, path))
    return out


def joblib_record(path, monkeypatch):
    session = L.Session("py")
    with monkeypatch.context() as patch:
        with L.joblib_recording(session, patch):
            try:
                joblib.load(path)
            except Exception as exc:
                session.loader_error = exc
    return session


def _joblib_nested(es):
    return sorted((n for n in es.get("nested", ())
                   if n["reason"] == "joblib_objects"),
                  key=lambda n: n["offset"])


def _globals_of(es, speculative):
    return [(g["raw_module"], g["raw_name"], g["offset"])
            for g in es["globals"]
            if speculative or not D._speculative_global(g)]


def _joblib_engine_view(es, speculative):
    """The engine's globals as the loader resolves them: the main stream's,
    and for each object array the globals of its pickle, with how many
    main-stream globals come before it and where it starts."""
    outer = _globals_of(es, speculative)
    nested = []
    for n in _joblib_nested(es):
        streams = n["report"]["streams"]
        names = [g[:2] for s in streams[:1] for g in _globals_of(s,
                                                                speculative)]
        before = sum(1 for g in outer if g[2] < n["offset"])
        end = streams[0]["end_kind"] if streams else "none"
        nested.append((before, n["offset"], names,
                       "stop" if end == "stop" else "error", len(streams)))
    return [g[:2] for g in outer], nested


def _joblib_loader_view(session):
    (outer,) = session.streams
    nested = [(n.outer_globals, n.stream.start,
               session.global_names(n.stream),
               "stop" if n.stream.ok else "error", 1)
              for n in session.nested]
    return session.global_names(outer), nested


def compare_joblib(name, path, report, monkeypatch):
    """(differences, session, speculative_needed)."""
    session = joblib_record(path, monkeypatch)
    diffs = []
    if len(session.streams) != 1:
        diffs.append("joblib.load ran %d main pickles (%r)"
                     % (len(session.streams), session.loader_error))
        return diffs, session, False
    if len(report["streams"]) != 1:
        diffs.append("joblib.load reads one pickle, engine reports %d "
                     "streams" % len(report["streams"]))
        if not report["streams"]:
            return diffs, session, False
    (rs,) = session.streams
    es = report["streams"][0]
    want = _joblib_loader_view(session)
    speculative = False
    got = _joblib_engine_view(es, False)
    if got != want and _joblib_engine_view(es, True) == want:
        got, speculative = want, True
    if got[0] != want[0]:
        diffs.append("main stream globals: loader %r, engine %r"
                     % (want[0], got[0]))
    if len(got[1]) != len(want[1]):
        diffs.append("object-array pickles: loader ran %d, engine reports "
                     "%d" % (len(want[1]), len(got[1])))
    for i, (w, g) in enumerate(zip(want[1], got[1])):
        for label, a, b in zip(("after main-stream globals", "offset",
                                "globals", "end", "streams"), w, g):
            if a != b:
                diffs.append("object-array pickle %d: %s: loader %r, "
                             "engine %r" % (i, label, a, b))
    if rs.start != es["start"]:
        diffs.append("main stream starts at %d, engine %d"
                     % (rs.start, es["start"]))
    want_end = "stop" if rs.ok else "error"
    got_end = "stop" if es["end_kind"] == "stop" else "error"
    if want_end != got_end:
        diffs.append("main stream end: loader %s (%s), engine %s (%s)" % (
            want_end, rs.error_text(), es["end_kind"], es.get("error")))
    elif rs.ok and rs.end != es["end"]:
        diffs.append("main stream ends at %d, engine %d" % (rs.end,
                                                             es["end"]))
    return diffs, session, speculative


def _joblib_engine_text(report):
    text = D.describe_engine(report)
    for es in report["streams"]:
        for n in _joblib_nested(es):
            text += "\nnested joblib_objects @%d:\n  " % n["offset"]
            text += _describe_streams(n["report"]["streams"]).replace(
                "\n", "\n  ")
    return text


def _run_joblib(cases, summary, what, monkeypatch):
    compared, failures, unreadable, cautious = 0, [], [], []
    kinds = collections.Counter()
    nested = 0
    for name, path in cases:
        report = engine(path)
        kinds[report["format"]] += 1
        codec = report["format"].split("-", 1)[-1]
        if codec not in JOBLIB_READS:
            # this joblib takes such a file for an uncompressed one and
            # unpickles the compressed bytes: no loader here to compare with
            unreadable.append((name, report["format"],
                               "no %s decompressor in joblib %s" % (
                                   codec, joblib.__version__)))
            continue
        diffs, session, speculative = compare_joblib(name, path, report,
                                                     monkeypatch)
        compared += 1
        nested += len(session.nested)
        if speculative:
            cautious.append(name)
        if diffs:
            failures.append(failure_text(name, diffs, session,
                                         _joblib_engine_text(report)))
    extra = ["formats: " + ", ".join("%s x%d" % kv
                                     for kv in sorted(kinds.items())),
             "object-array pickles compared: %d" % nested]
    if cautious:
        extra.append("matched only counting globals the engine flags "
                     "speculative (%d): %s" % (len(cautious),
                                               ", ".join(cautious)))
    if unreadable:
        extra.append("joblib.load cannot read (%d): %s" % (
            len(unreadable), "; ".join("%s (%s): %s" % u
                                       for u in unreadable)))
    finish(summary, what, compared, failures, extra)
    return unreadable


def test_joblib_generated(tmp_path, summary, monkeypatch):
    cases = joblib_inputs(tmp_path)
    unreadable = _run_joblib(cases, summary,
                             "joblib.load, files written by joblib.dump",
                             monkeypatch)
    assert not unreadable


# files of joblib < 0.10 load with a DeprecationWarning
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_joblib_corpus(summary, monkeypatch):
    root, rows = benign_rows(("joblib-raw", "joblib-zlib", "joblib-gzip",
                              "joblib-bz2", "joblib-xz", "joblib-lzma",
                              "joblib-lz4", "joblib-zstd",
                              "joblib-zlib-legacyZF"))
    cases = [(row["path"].rsplit("/", 1)[-1], str(root / row["path"]))
             for row in rows]
    unreadable = _run_joblib(cases, summary, "joblib.load, benign corpus "
                             "files", monkeypatch)
    # a codec missing here may hide only the one file the corpus has in it
    assert len(unreadable) <= 1, unreadable


# ---- numpy -----------------------------------------------------------------


def numpy_object_arrays():
    checkpointed = Checkpointed(2)
    grid = np.empty((2, 2), dtype=object)
    grid[:] = [[1, "a"], [None, (2,)]]
    return [
        ("mixed", np.array([1, "a", None, 2.5, b"b"], dtype=object)),
        ("containers", np.array([{"k": [1, 2]}, (3, 4), {5}, frozenset({6})],
                                dtype=object)),
        ("custom", np.array([checkpointed, decimal.Decimal("2")],
                            dtype=object)),
        ("arrays", np.array([np.arange(3), np.array(["q"]), None],
                            dtype=object)),
        ("fortran", np.asfortranarray(grid)),
        ("datetime", np.array([datetime.datetime(2024, 5, 6, 7, 8),
                               fractions.Fraction(2, 7),
                               collections.OrderedDict(z=1)], dtype=object)),
        ("structured", np.array([(1, "x")], dtype=[("n", "<i4"),
                                                   ("o", "O")])),
        ("long-string", np.array(["s" * 5000, "t"], dtype=object)),
        ("empty", np.array([], dtype=object)),
    ]


def npy_bytes(array, version=None):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, array, version=version, allow_pickle=True)
    return buf.getvalue()


def numpy_inputs():
    out = []
    arrays = numpy_object_arrays()
    for name, array in arrays:
        out.append(("npy/%s" % name, npy_bytes(array)))
    out.append(("npy/v2", npy_bytes(arrays[0][1], version=(2, 0))))
    out.append(("npy/v3", npy_bytes(arrays[0][1], version=(3, 0))))
    out.append(("npy/numeric", npy_bytes(np.arange(6.0))))
    members = dict(arrays)
    members["numeric"] = np.arange(4)
    members["strings"] = np.array(["x", "y"])
    for saver in (np.savez, np.savez_compressed):
        buf = io.BytesIO()
        saver(buf, **members)
        out.append(("npz/%s" % saver.__name__, buf.getvalue()))
    buf = io.BytesIO()
    np.savez(buf, np.arange(3), np.zeros(2))
    out.append(("npz/numeric", buf.getvalue()))
    return out


def numpy_record(source, monkeypatch):
    """numpy.load(allow_pickle=True) with pickle.load on the recorder; every
    .npz member is read, in the archive's order."""
    from numpy.lib import _format_impl, _npyio_impl

    session = L.Session("c")
    module = L.numpy_pickle_module(session)
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    with monkeypatch.context() as patch, L.extension_registry_restored():
        # numpy 2 keeps the .npy reader in _format_impl (numpy.lib.format
        # re-exports its functions, not its `pickle`); np.load's fallback
        # for other files unpickles through _npyio_impl's, replaced too so
        # that nothing is unpickled for real
        patch.setattr(_format_impl, "pickle", module)
        patch.setattr(_npyio_impl, "pickle", module)
        try:
            loaded = np.load(source, allow_pickle=True)
            if isinstance(loaded, np.lib.npyio.NpzFile):
                with loaded:
                    for key in loaded.files:
                        member = key + ".npy"
                        session.label = (member if member in loaded._files
                                         else key)
                        try:
                            loaded[key]
                        finally:
                            session.label = None
        except Exception as exc:
            session.loader_error = exc
    return session


def _member_streams(session):
    members = collections.OrderedDict()
    for label, stream in zip(session.labels, session.streams):
        members.setdefault(label, []).append(stream)
    return members


def compare_numpy(name, source, report, monkeypatch, notes):
    session = numpy_record(source, monkeypatch)
    diffs = []
    fmt = report["format"]
    members = _member_streams(session)
    if fmt == "npz":
        records = {r["name"]: r for r in report["records"]}
        if set(records) != set(members):
            diffs.append("members whose pickle numpy runs: %r; engine "
                         "records: %r" % (sorted(members), sorted(records)))
        for label, streams in members.items():
            record = records.get(label)
            if record is None:
                continue
            if record["primary"] or record["report"] is None:
                diffs.append("%s: record is primary or has no report"
                             % label)
                continue
            diffs += compare_streams(label, streams,
                                     record["report"]["streams"],
                                     base=streams[0].start, notes=notes)
        if report["streams"]:
            diffs.append("npz: engine reports %d primary streams"
                         % len(report["streams"]))
    elif fmt in ("npy", "npy(object)"):
        if set(members) - {None}:
            diffs.append("archive members read from a .npy: %r"
                         % list(members))
        ran = members.get(None, [])
        if (fmt == "npy(object)") != bool(ran):
            diffs.append("numpy ran %d pickles; engine format %s"
                         % (len(ran), fmt))
        if ran:
            diffs += compare_streams("npy", ran, report["streams"],
                                     base=ran[0].start, notes=notes)
        elif report["streams"]:
            diffs.append("numpy ran no pickle; engine reports %d streams"
                         % len(report["streams"]))
    else:
        diffs.append("engine reads the file as %s" % fmt)
    if session.loader_error is not None and not any(
            not s.ok for s in session.streams):
        diffs.append("numpy.load failed outside the pickle: %r"
                     % session.loader_error)
    return diffs, session


def _numpy_engine_text(report):
    text = D.describe_engine(report)
    for r in report.get("records") or ():
        if r["report"] is not None:
            text += "\nrecord %s:\n  " % r["name"]
            text += _describe_streams(r["report"]["streams"]).replace(
                "\n", "\n  ")
    return text


def _run_numpy(cases, summary, what, monkeypatch):
    compared, failures, pickles, notes = 0, [], 0, []
    kinds = collections.Counter()
    for name, source in cases:
        report = engine(source)
        kinds[report["format"]] += 1
        mine = []
        diffs, session = compare_numpy(name, source, report, monkeypatch,
                                       mine)
        notes += ["%s: %s" % (name, where) for where in mine]
        compared += 1
        pickles += len(session.streams)
        if diffs:
            failures.append(failure_text(name, diffs, session,
                                         _numpy_engine_text(report)))
    finish(summary, what, compared, failures, [
        "formats: " + ", ".join("%s x%d" % kv
                                for kv in sorted(kinds.items())),
        "pickles compared: %d" % pickles] + _speculative_note(notes))
    return kinds


def test_numpy_generated(summary, monkeypatch):
    kinds = _run_numpy(numpy_inputs(), summary,
                       "numpy.load, files written by numpy", monkeypatch)
    assert kinds["npy(object)"] and kinds["npz"]


# .npy files written by Python 2 load with a warning about their header
@pytest.mark.filterwarnings("ignore:Reading `.npy`:UserWarning")
def test_numpy_corpus(summary, monkeypatch):
    root, rows = benign_rows(("npy", "npy(object)", "npz"))
    cases = [(row["path"].rsplit("/", 1)[-1], str(root / row["path"]))
             for row in rows]
    _run_numpy(cases, summary, "numpy.load, benign corpus files",
               monkeypatch)


# ---- the harness itself ---------------------------------------------------


def test_torch_harness_records_without_loading(tmp_path):
    """torch.load over the recorder reads the pickle and nothing else: no
    storage is materialised, no class is imported, and the persistent ids
    and torch's StorageType names reach the recorder."""
    data = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, data)
    session, module = torch_record(data.getvalue())
    (stream,) = session.streams
    assert session.loader_error is None
    assert module.Unpickler.overridden == ["_load.<locals>.UnpicklerWrapper"]
    assert ("torch", "FloatStorage") in session.global_names(stream)
    assert [c.kind for c in stream.calls][:1] == ["persid"]
    assert stream.result[0] in ("result", "dict")


def test_joblib_harness_keeps_only_data_classes_real(tmp_path, monkeypatch):
    path = tmp_path / "x.joblib"
    joblib.dump({"a": np.arange(3.0), "o": np.array([Checkpointed(1)],
                                                     dtype=object)}, path)
    session = joblib_record(path, monkeypatch)
    assert session.loader_error is None
    (stream,) = session.streams
    (nested,) = session.nested
    assert (__name__, "Checkpointed") in session.global_names(nested.stream)
    # the stubs were taken out again
    from joblib import numpy_pickle
    assert "find_class" not in numpy_pickle.NumpyUnpickler.__dict__
    assert numpy_pickle.Unpickler is __import__("pickle")._Unpickler
    loaded = joblib.load(path)
    assert isinstance(loaded["o"][0], Checkpointed)


def test_comparison_notices_a_changed_report(tmp_path, monkeypatch):
    """The comparisons fail when the engine's report loses or changes an
    event: each loader's check is run on a report with one thing altered."""
    import copy

    data = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, data)
    data = data.getvalue()
    report = engine(data)
    assert compare_torch("state", data, report, [])[0] == []
    for alter in (lambda es: es["globals"].pop(),
                  lambda es: es["calls"][-1].update(kind="build"),
                  lambda es: es.update(end_kind="error"),
                  lambda es: es.update(start=1)):
        changed = copy.deepcopy(report)
        alter(changed["streams"][0])
        assert compare_torch("state", data, changed, [])[0]

    path = tmp_path / "o.joblib"
    joblib.dump({"o": np.array([Checkpointed(1)], dtype=object),
                 "a": np.arange(3)}, path, compress=("gzip", 3))
    report = engine(path)
    assert compare_joblib("o", path, report, monkeypatch)[0] == []
    for alter in (lambda es: es["nested"].clear(),
                  lambda es: es["globals"].pop(),
                  lambda es: es["nested"][0].update(offset=1),
                  lambda es: es["nested"][0]["report"]["streams"][0][
                      "globals"].pop(0)):
        changed = copy.deepcopy(report)
        alter(changed["streams"][0])
        assert compare_joblib("o", path, changed, monkeypatch)[0]

    data = npy_bytes(np.array([Checkpointed(1), "x"], dtype=object))
    report = engine(data)
    assert compare_numpy("o", data, report, monkeypatch, [])[0] == []
    changed = copy.deepcopy(report)
    changed["streams"][0]["calls"].pop()
    assert compare_numpy("o", data, changed, monkeypatch, [])[0]
