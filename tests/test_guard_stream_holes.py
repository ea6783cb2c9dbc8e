"""Large pickles are snapshotted without the insides of their large bytes
payloads (safepickle/guard/stream_payloads.py) when the scan of the
snapshot vouches that it relied on none of those bytes (sp_holes.h).

The central property: whenever a scan with holes says it did not touch
them, the verdict is the verdict of the whole file, whatever the holes
hold. Each crafted pickle below is scanned with its holes filled in
several hostile ways; and the cases that must read a hole (a payload that
is itself a pickle, bytes handed to pickle.loads, bytes compared or turned
into a number, holes outside a payload, streams that stop early, other
formats) must say so."""

import os
import pickle
import random
import struct
import zlib

import numpy as np
import pandas as pd
import pytest

import safepickle
from safepickle import _native
from safepickle.classifier import bundled_model
from safepickle.errors import GuardError
from safepickle.guard import check, stream_payloads
from safepickle.guard.snapshot import PAGE, page_down, page_up

MB = 1 << 20
HEAD = _native.HOLE_HEAD
HOSTILE_PICKLE = b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00echo\x85R."


def _bytes8(payload):
    return b"\x8e" + struct.pack("<Q", len(payload)) + payload


def _global(module, name):
    return b"c" + module + b"\n" + name + b"\n"


def _pad():
    """Opcodes that push the payloads past the head of the file the
    format checks read."""
    return b"(" + _bytes8(b"p" * (_native.HOLE_FILE_HEAD + 100)) + b"0"


def _payload(n=2 * MB, seed=0):
    return random.Random(seed).randbytes(n)


def _plan(data):
    spans = stream_payloads.payload_spans(lambda n, off: data[off : off + n], len(data))
    return stream_payloads.holes_of(spans, len(data))


def _verdict(data, holes=None):
    model = bundled_model()
    return _native.scan(
        data,
        None,
        False,
        classifier=model.classifier,
        threshold=model.threshold,
        report="verdict",
        holes=holes,
    )


FILLINGS = {
    "zeros": lambda n: bytes(n),
    "pickles": lambda n: (HOSTILE_PICKLE * (n // len(HOSTILE_PICKLE) + 1))[:n],
    "newlines and stops": lambda n: (b"\n." * n)[:n],
    "random": lambda n: random.Random(n).randbytes(n),
}


def _filled(data, holes, fill):
    out = bytearray(data)
    for start, end in holes:
        out[start:end] = fill(end - start)
    return bytes(out)


def _touched(data, holes):
    """Whether the scan with ``holes`` relied on them; when it says no, its
    verdict is checked against the whole file's under every filling."""
    whole = _verdict(data)
    touched = None
    for fill in FILLINGS.values():
        got = _verdict(_filled(data, holes, fill), holes)
        now = got.pop("holes_touched")
        assert touched is None or now == touched  # the answer needs no hole byte
        touched = now
        if not touched:
            assert got == whole
    return touched


# ---- the plan -------------------------------------------------------------------


def test_the_walk_finds_the_payloads_of_a_dataframe():
    df = pd.DataFrame({"a": np.arange(1_000_000, dtype=np.float64), "b": np.arange(1_000_000)})
    data = pickle.dumps(df, protocol=5)
    spans = stream_payloads.payload_spans(lambda n, off: data[off : off + n], len(data))
    assert [end - start for start, end in spans] == [8_000_000, 8_000_000]
    for start, end in spans:
        assert data[start:end] in (df["a"].to_numpy().tobytes(), df["b"].to_numpy().tobytes())


def test_the_walk_stops_within_its_budget_on_small_values():
    data = pickle.dumps(list(range(2_000_000)), protocol=4)
    windows = []

    def pread(n, off):
        windows.append(off)
        return data[off : off + n]

    assert stream_payloads.payload_spans(pread, len(data)) == []
    # the budget of opcodes, not the file, bounds what is read
    assert len(windows) * stream_payloads.WINDOW < 2 * stream_payloads.MAX_OPS * 5


def test_holes_start_past_the_heads_and_cover_whole_pages():
    data = pickle.dumps({"x": _payload(4 * MB)}, protocol=4)
    (start, end), = _plan(data)
    payload_at = data.index(_payload(64))
    assert start >= payload_at + HEAD and start % PAGE == 0 and end % PAGE == 0
    assert start >= _native.HOLE_FILE_HEAD and end <= payload_at + 4 * MB


# ---- what the scan vouches for --------------------------------------------------


def test_dataframe_holes_stay_out():
    df = pd.DataFrame({"a": np.arange(1_000_000, dtype=np.float64), "c": ["x", "y"] * 500_000})
    df["c"] = df["c"].astype("category")
    data = pickle.dumps(df, protocol=5)
    assert _touched(data, _plan(data)) is False


def test_plain_data_holes_stay_out():
    # no global: the quick walk of plain data reads it
    data = pickle.dumps({"a": _payload(seed=1), "b": [1, 2.5, "x"], "c": _payload(seed=2)}, 4)
    holes = _plan(data)
    assert len(holes) == 2
    assert _touched(data, holes) is False


def test_holes_in_a_hostile_file_do_not_hide_its_calls():
    data = (
        b"\x80\x04"
        + _pad()
        + _bytes8(_payload())
        + b"0"
        + _global(b"os", b"system")
        + b"X\x04\x00\x00\x00echo\x85R."
    )
    holes = _plan(data)
    assert holes
    assert _touched(data, holes) is False
    assert _verdict(data, holes)["verdict"] == "unsafe"


# Each reads a payload past its head: the scan must say it touched the hole.
MUST_READ = {
    # bytes that start like a pickle are scanned as one
    "a payload that is a pickle": _bytes8(HOSTILE_PICKLE + _payload()) + b".",
    "bytes handed to pickle.loads": (
        _global(b"pickle", b"loads") + _bytes8(b"\x00" + _payload()) + b"\x85R."
    ),
    # a frozenset drops equal items: the machine compares them
    "bytes compared in a frozenset": (
        b"(" + _bytes8(_payload(seed=3)) + _bytes8(_payload(seed=4)) + b"\x91."
    ),
    # copyreg.add_extension takes int() of its code
    "bytes turned into an extension code": (
        _global(b"copyreg", b"add_extension")
        + b"X\x02\x00\x00\x00osX\x06\x00\x00\x00system"
        + _bytes8(b"1" * (3 * MB))
        + b"\x87R0\x82\x01."
    ),
}


@pytest.mark.parametrize("case", sorted(MUST_READ))
def test_payloads_read_past_their_head_touch_their_holes(case):
    data = b"\x80\x04" + _pad() + MUST_READ[case]
    assert _plan(data)
    assert _touched(data, _plan(data)) is True


def test_a_hole_over_opcodes_is_read():
    values = b"".join(b"K\x01" for _ in range(600_000))
    data = b"\x80\x04" + _pad() + b"(" + values + b"l."
    hole = (page_up(_native.HOLE_FILE_HEAD + 200_000), page_up(_native.HOLE_FILE_HEAD + 600_000))
    assert _touched(data, [hole]) is True


def test_a_hole_over_a_payload_head_is_read():
    data = b"\x80\x04" + _pad() + _bytes8(_payload()) + b"."
    (start, end), = _plan(data)
    assert _touched(data, [(start - 2 * PAGE, end)]) is True


def _hole_in(data, payload):
    at = data.index(payload)
    return (page_up(at + HEAD), page_down(at + len(payload)))


def test_a_stream_that_stops_early_reads_the_holes_past_its_cursor():
    first, second = _payload(seed=5), _payload(seed=6)
    data = b"\x80\x04" + _pad() + _bytes8(first) + b"\xff" + _bytes8(second) + b"."
    # the payload taken before the error stays out; what lies after it, the
    # scan may have looked at (a line searched for to the end of the input)
    assert _touched(data, [_hole_in(data, first)]) is False
    assert _touched(data, [_hole_in(data, first), _hole_in(data, second)]) is True


def test_a_payload_cut_short_is_read():
    payload = _payload(4 * MB, seed=7)
    data = b"\x80\x04" + _pad() + b"\x8e" + struct.pack("<Q", 8 * MB) + payload
    assert _touched(data, [_hole_in(data, payload)]) is True


def test_a_frame_misread_by_other_loaders_still_vouches_only_when_all_do():
    # a FRAME that ends inside the payload's length field: each loader
    # reads the payload from elsewhere; whatever the scan answers, the
    # differential check in _touched holds
    body = _bytes8(_payload())
    data = b"\x80\x04" + _pad() + b"\x95" + struct.pack("<Q", 4) + body + b"."
    holes = _plan(data)
    if holes:
        _touched(data, holes)


def test_other_formats_read_their_holes():
    inner = b"\x80\x04" + _pad() + _bytes8(_payload()) + b"."
    data = zlib.compress(inner, 0)
    hole = (page_up(_native.HOLE_FILE_HEAD + 300_000), page_up(_native.HOLE_FILE_HEAD + MB))
    assert _touched(data, [hole]) is True


def test_bad_holes_are_refused():
    data = b"\x80\x04" + _pad() + _bytes8(_payload()) + b"."
    for holes in ([(0, 4 * PAGE)], [(3 * MB, 2 * MB)], [(2 * MB, len(data) + 1)],
                  [(MB, 2 * MB), (MB + PAGE, 3 * MB)]):
        with pytest.raises(ValueError, match="hole"):
            _verdict(data, holes)
    with pytest.raises(ValueError, match="report='verdict'"):
        _native.scan(data, holes=[(MB, 2 * MB)])


# ---- the guard ------------------------------------------------------------------


def _frame(rows=2_000_000):
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "x": rng.random(rows),
            "y": np.arange(rows),
            "k": pd.Categorical(rng.choice(["a", "b", "c"], rows)),
        }
    )


@pytest.fixture
def verdicts(monkeypatch):
    """The holes each guarded load kept past its verdict."""
    seen = []
    monkeypatch.setattr(check, "_after_verdict", lambda snapshot: seen.append(snapshot.holes))
    return seen


def test_read_pickle_keeps_the_payloads_in_the_file(tmp_path, verdicts):
    df = _frame()
    path = tmp_path / "frame.pkl"
    df.to_pickle(path)
    with safepickle.guarded(mode="block"):
        loaded = pd.read_pickle(path)
    pd.testing.assert_frame_equal(loaded, df)
    (holes,) = verdicts
    assert sum(end - start for start, end in holes) > 0.9 * os.path.getsize(path)


def test_pickle_load_of_an_open_file_keeps_them_too(tmp_path, verdicts):
    arrays = {"a": np.arange(3_000_000, dtype=np.float32), "b": np.ones((1000, 1000))}
    path = tmp_path / "arrays.pkl"
    with open(path, "wb") as fh:
        pickle.dump(arrays, fh, protocol=5)
        pickle.dump("second", fh, protocol=5)
    with safepickle.guarded(mode="block"):
        with open(path, "rb") as fh:
            loaded = pickle.load(fh)
            assert pickle.load(fh) == "second"
    assert all(np.array_equal(loaded[k], arrays[k]) for k in arrays)
    assert len(verdicts[0]) == 2 and verdicts[1] == ()


def test_an_unpickler_reads_its_holes_from_a_descriptor_of_its_own(tmp_path, verdicts):
    arrays = {"a": np.arange(3_000_000, dtype=np.float64)}
    path = tmp_path / "arrays.pkl"
    path.write_bytes(pickle.dumps(arrays, protocol=5))
    with safepickle.guarded(mode="block"):
        with open(path, "rb") as fh:
            unpickler = pickle.Unpickler(fh)
        # the caller's file is closed and its number free for the next open
        with open(os.devnull, "rb"):
            loaded = unpickler.load()
    assert len(verdicts[0]) == 1
    assert np.array_equal(loaded["a"], arrays["a"])


def test_a_file_already_read_from_is_read_whole(tmp_path, verdicts):
    path = tmp_path / "arrays.pkl"
    path.write_bytes(pickle.dumps({"a": np.arange(3_000_000)}, protocol=5))
    with safepickle.guarded(mode="block"):
        with open(path, "rb") as fh:
            fh.read(1)
            fh.seek(0)
            pickle.load(fh)
    path.write_bytes(b"head" + path.read_bytes())
    with safepickle.guarded(mode="block"):
        with open(path, "rb") as fh:
            fh.seek(4)
            pickle.load(fh)
    assert verdicts == [(), ()]


def test_holes_the_scan_needs_are_read_in(tmp_path, verdicts):
    # bytes that start like a pickle are searched as one
    data = b"\x80\x04" + _pad() + _bytes8(HOSTILE_PICKLE + _payload(10 * MB)) + b"."
    path = tmp_path / "nested.pkl"
    path.write_bytes(data)
    with safepickle.guarded(mode="warn"):
        with pytest.warns(UserWarning, match="unsafe"):
            with open(path, "rb") as fh:
                assert pickle.load(fh) == HOSTILE_PICKLE + _payload(10 * MB)
    assert verdicts == [()]


def test_a_hostile_dataframe_file_is_refused(tmp_path):
    canary = tmp_path / "canary"
    data = pickle.dumps(
        {"frame": _frame(500_000), "run": _MkdirOnLoad(str(canary))}, protocol=5
    )
    path = tmp_path / "hostile.pkl"
    path.write_bytes(data)
    with safepickle.guarded(mode="block"):
        with pytest.raises(safepickle.UnsafePickleError):
            pd.read_pickle(path)
    assert not canary.exists()


class _MkdirOnLoad:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def overwriter(path, canary):
    """A hook for check._after_verdict that writes over the whole file,
    holes included, pickles that would create ``canary``."""
    hostile = pickle.dumps(_MkdirOnLoad(str(canary)), protocol=2)

    def rewrite(snapshot):
        assert snapshot.holes
        size = os.path.getsize(path)
        with open(path, "r+b") as fh:
            fh.write((hostile * (size // len(hostile) + 1))[:size])

    return rewrite


def test_file_cut_after_the_verdict_fails_closed(tmp_path, monkeypatch):
    path = tmp_path / "frame.pkl"
    _frame().to_pickle(path)
    monkeypatch.setattr(check, "_after_verdict", lambda snapshot: os.truncate(path, MB))
    with safepickle.guarded(mode="block"):
        with pytest.raises(GuardError, match="changed while being loaded"):
            pd.read_pickle(path)


def test_file_rewritten_after_the_verdict_runs_nothing(tmp_path, monkeypatch):
    """Rewritten in place, the payloads' insides are the new bytes: array
    data, which nothing interprets. The pickle that runs is the scanned
    one."""
    canary = tmp_path / "canary"
    df = _frame()
    path = tmp_path / "frame.pkl"
    df.to_pickle(path)
    monkeypatch.setattr(check, "_after_verdict", overwriter(path, canary))
    with safepickle.guarded(mode="block"):
        loaded = pd.read_pickle(path)
    assert not canary.exists()
    assert list(loaded.columns) == list(df.columns) and len(loaded) == len(df)
