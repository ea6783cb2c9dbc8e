"""joblib files are snapshotted without the data of their large arrays
(safepickle/guard/joblib_arrays.py) when the scan of the snapshot, which
follows the file as joblib's unpickler does, vouches that it relied on none
of those bytes (sp_holes.h, sp_joblib.c).

As for pickle payloads (test_guard_stream_holes.py): whenever a scan with
holes says it did not touch them, its verdict is that of the whole file
whatever the holes hold, and the layouts where a hole is not array data
must say they touched it."""

import os
import pickle
import random
import struct

import joblib
import numpy as np
import pytest

import safepickle
from safepickle import _native
from safepickle.errors import GuardError
from safepickle.guard import check, joblib_arrays
from safepickle.guard.snapshot import PAGE, page_down, page_up

from .test_guard_stream_holes import (
    FILLINGS,
    HOSTILE_PICKLE,
    _filled,
    _MkdirOnLoad,
    _verdict,
    overwriter,
)

MB = 1 << 20


def _arrays():
    rng = np.random.default_rng(5)
    return {
        "f32": rng.standard_normal((512, 1024)).astype(np.float32),
        "i64": np.arange(400_000, dtype=np.int64),
        # the same dtype again: a memo reference in the pickle
        "i64b": np.arange(300_000, dtype=np.int64) * 3,
        "fortran": np.asfortranarray(rng.standard_normal((600, 700))),
        "big_endian": np.arange(200_000, dtype=">f8"),
        "text": np.array(["word%d" % i for i in range(40_000)]),
        "record": np.zeros(100_000, dtype=[("x", "<f4"), ("y", "<i8"), ("z", "S3")]),
        "complex": np.ones(100_000, dtype=np.complex128),
        "small": np.arange(10),
        "meta": {"name": "model", "layers": [1, 2, 3]},
    }


def _dump(tmp_path, obj, name="arrays.joblib", **kwargs):
    path = tmp_path / name
    joblib.dump(obj, path, **kwargs)
    return path


def _spans(path, ops=1 << 16, min_len=0):
    fd = os.open(path, os.O_RDONLY)
    try:
        return _native.joblib_arrays(fd, os.fstat(fd).st_size, min_len, ops)
    finally:
        os.close(fd)


def _data_of(array):
    return array.tobytes(order="F" if array.flags.f_contiguous and array.ndim > 1 else "C")


def _holes(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        return joblib_arrays.array_holes(fd, os.fstat(fd).st_size)
    finally:
        os.close(fd)


def _touched(data, holes):
    """Whether the scan with ``holes`` relied on them; when it says no, its
    verdict must be the whole file's under every filling."""
    whole = _verdict(data)
    touched = None
    for fill in FILLINGS.values():
        got = _verdict(_filled(data, holes, fill), holes)
        now = got.pop("holes_touched")
        assert touched is None or now == touched
        touched = now
        if not touched:
            assert got == whole
    return touched


# ---- the plan -------------------------------------------------------------------


def test_the_walk_finds_the_data_of_every_array(tmp_path):
    arrays = _arrays()
    path = _dump(tmp_path, arrays)
    data = path.read_bytes()
    spans = _spans(path)
    wanted = [a for a in arrays.values() if isinstance(a, np.ndarray)]
    assert len(spans) == len(wanted)
    assert spans == sorted(spans)
    for (start, end), array in zip(spans, wanted):
        assert data[start:end] == _data_of(array)


def test_the_walk_never_reads_the_data(tmp_path):
    path = _dump(tmp_path, {"a%d" % i: np.full(300_000, i, dtype=np.float64) for i in range(4)})
    spans = _spans(path)
    with open(path, "r+b") as fh:
        # what the walk would misread, were it to read the data
        for start, end in spans:
            fh.seek(start)
            fh.write(b"." * (end - start))
    assert _spans(path) == spans and len(spans) == 4


def test_the_walk_stops_at_an_object_array_and_on_its_budget(tmp_path):
    path = _dump(tmp_path, [np.arange(100_000), np.array([1, "a"], dtype=object), np.arange(5)])
    assert len(_spans(path)) == 1
    path = _dump(tmp_path, [np.arange(100_000 + i) for i in range(20)], "many.joblib")
    assert len(_spans(path)) == 20
    assert 0 < len(_spans(path, ops=200)) < 20


def test_the_walk_gives_up_on_bytes_that_are_no_joblib_file(tmp_path):
    for data in (b"", b"\x80", b"\x80\x04\x95", b"garbage" * 1000, pickle.dumps(list(range(9)))):
        path = tmp_path / "x.bin"
        path.write_bytes(data)
        assert _spans(path) == []


# ---- the scan vouches, or reads the holes ------------------------------------------


def test_joblib_holes_stay_out(tmp_path):
    path = _dump(tmp_path, _arrays())
    holes = _holes(path)
    assert len(holes) >= 5
    assert _touched(path.read_bytes(), holes) is False


def test_holes_do_not_hide_a_call_after_the_arrays(tmp_path):
    canary = tmp_path / "canary"
    path = _dump(tmp_path, {"a": np.arange(1_000_000), "run": _MkdirOnLoad(str(canary))})
    holes = _holes(path)
    assert holes
    data = path.read_bytes()
    assert _touched(data, holes) is False
    assert _verdict(data, holes)["verdict"] == "unsafe"


def test_a_hole_over_the_wrapper_or_past_the_data_is_read(tmp_path):
    arrays = {"a": np.arange(1_000_000), "b": np.arange(1_000_000), "after": "x" * 20_000}
    path = _dump(tmp_path, arrays)
    data = path.read_bytes()
    (a0, a1), (b0, b1) = _holes(path)
    assert _touched(data, [(a0, a1), (b0, b1)]) is False
    # the second array's wrapper lies between the two holes
    assert _touched(data, [(a0, b0)]) is True
    # a hole reaching past the data into the opcodes after it
    assert _touched(data, [(a0, a1), (b0, b1 + 2 * PAGE)]) is True


def test_an_object_array_vouches_for_what_its_inline_pickle_takes(tmp_path):
    blob = random.Random(3).randbytes(2 * MB)
    objects = np.array([blob, 1], dtype=object)
    path = _dump(tmp_path, {"a": np.arange(100_000), "objects": objects})
    data = path.read_bytes()
    start = data.find(blob)
    hole = (page_up(start + _native.HOLE_HEAD), page_down(start + len(blob)))
    # a bytes payload of the inline pickle, past its head: taken
    assert _touched(data, [hole]) is False
    # the opcodes of the inline pickle are read
    assert _touched(data, [(page_down(start - 2 * PAGE), hole[1])]) is True


def test_the_choice_of_reading_is_trusted_only_before_the_first_hole(tmp_path):
    # the first reading, which picks joblib's, takes the payload, then reads
    # the array data as opcodes: its choice came after a hole, so what it
    # ran into stands
    body = _dump(tmp_path, {"a": np.arange(1_000_000)}).read_bytes()
    payload = b"p" * (2 * MB)
    data = b"\x80\x04\x8e" + struct.pack("<Q", len(payload)) + payload + b"0" + body[2:]
    start = data.find(payload)
    payload_hole = (page_up(start + _native.HOLE_HEAD), page_down(start + len(payload)))
    array = np.arange(1_000_000).tobytes()
    at = data.find(array)
    array_hole = (page_up(at), page_down(at + len(array)))
    assert _verdict(data)["format"] == "joblib-raw"
    assert _touched(data, [payload_hole]) is False
    assert _touched(data, [array_hole]) is False
    assert _touched(data, [payload_hole, array_hole]) is True


def test_a_joblib_file_cut_short_reads_its_holes(tmp_path):
    path = _dump(tmp_path, {"a": np.arange(1_000_000), "b": np.arange(1_000_000)})
    (a0, a1), (b0, _b1) = _holes(path)
    cut = path.read_bytes()[: b0 + MB]
    assert _touched(cut, [(a0, a1), (b0, b0 + MB - PAGE)]) is True


def test_hostile_fillings_of_a_hole_are_not_read_as_opcodes(tmp_path):
    path = _dump(tmp_path, {"a": np.arange(1_000_000)})
    holes = _holes(path)
    data = path.read_bytes()
    filled = _filled(data, holes, lambda n: (HOSTILE_PICKLE * (n // len(HOSTILE_PICKLE) + 1))[:n])
    assert _verdict(filled, holes)["verdict"] == "benign"


# ---- the guard ---------------------------------------------------------------------


@pytest.fixture
def verdicts(monkeypatch):
    """The holes each guarded load kept past its verdict."""
    seen = []
    monkeypatch.setattr(check, "_after_verdict", lambda snapshot: seen.append(snapshot.holes))
    return seen


def _big():
    rng = np.random.default_rng(1)
    return {"w%d" % i: rng.standard_normal((256, 1024)).astype(np.float32) for i in range(12)}


def _equal(loaded, arrays):
    return loaded.keys() == arrays.keys() and all(
        np.array_equal(loaded[k], arrays[k]) for k in arrays
    )


def test_joblib_load_keeps_the_arrays_in_the_file(tmp_path, verdicts):
    arrays = _big()
    path = _dump(tmp_path, arrays)
    with safepickle.guarded(mode="block"):
        loaded = joblib.load(path)
    assert _equal(loaded, arrays)
    (holes,) = verdicts
    assert sum(end - start for start, end in holes) > 0.9 * os.path.getsize(path)


def test_a_mapped_load_maps_the_arrays_and_copies_none(tmp_path, verdicts):
    arrays = _big()
    path = _dump(tmp_path, arrays)
    with safepickle.guarded(mode="block"):
        loaded = joblib.load(path, mmap_mode="r")
    assert _equal(loaded, arrays)
    assert all(isinstance(v, np.memmap) for v in loaded.values())
    assert {os.path.abspath(v.filename) for v in loaded.values()} == {os.path.abspath(path)}
    (holes,) = verdicts
    assert len(holes) == len(arrays)


def test_compressed_and_small_files_are_read_whole(tmp_path, verdicts):
    arrays = _big()
    path = _dump(tmp_path, arrays, "z.joblib", compress=1)
    small = _dump(tmp_path, {"a": np.arange(1000)}, "small.joblib")
    with safepickle.guarded(mode="block"):
        assert _equal(joblib.load(path), arrays)
        joblib.load(small)
    assert verdicts == [(), ()]


def test_a_hostile_joblib_file_is_refused_with_its_holes(tmp_path, verdicts):
    canary = tmp_path / "canary"
    path = _dump(tmp_path, {**_big(), "run": _MkdirOnLoad(str(canary))})
    for mmap_mode in (None, "r"):
        with safepickle.guarded(mode="block"):
            with pytest.raises(safepickle.UnsafePickleError):
                joblib.load(path, mmap_mode=mmap_mode)
    assert not canary.exists()
    assert verdicts == []


def test_file_cut_after_the_verdict_fails_closed(tmp_path, monkeypatch):
    path = _dump(tmp_path, _big())
    monkeypatch.setattr(check, "_after_verdict", lambda snapshot: os.truncate(path, MB))
    with safepickle.guarded(mode="block"):
        with pytest.raises(GuardError, match="changed while being loaded"):
            joblib.load(path)


def test_file_rewritten_after_the_verdict_runs_nothing(tmp_path, monkeypatch):
    """Rewritten in place, the arrays hold the new bytes: data, which
    nothing interprets. The pickle that runs is the scanned one."""
    canary = tmp_path / "canary"
    arrays = _big()
    path = _dump(tmp_path, arrays)
    monkeypatch.setattr(check, "_after_verdict", overwriter(path, canary))
    for mmap_mode in (None, "r"):
        with safepickle.guarded(mode="block"):
            loaded = joblib.load(path, mmap_mode=mmap_mode)
        assert loaded.keys() == arrays.keys()
        assert all(loaded[k].shape == arrays[k].shape for k in arrays)
        path.write_bytes(b"")
        joblib.dump(arrays, path)
    assert not canary.exists()
