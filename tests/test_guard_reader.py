"""The reader over a scanned snapshot: file semantics, pages given back as
they are consumed, and refusal to serve a page it gave back."""

import io
import os
import pickle

import pytest

import safepickle
from safepickle.errors import GuardError
from safepickle.guard.gated import GatedReader
from safepickle.guard.reader import RELEASE_CHUNK, ScannedReader
from safepickle.guard.snapshot import from_bytes, read_file_object, read_path


def _resident_pages(mm):
    # mincore() is not exposed; /proc/self/smaps is: the Rss of the
    # anonymous mapping that holds the snapshot.
    import ctypes

    address = ctypes.addressof(ctypes.c_char.from_buffer(mm))
    with open("/proc/self/smaps") as fh:
        lines = fh.read().splitlines()
    for i, line in enumerate(lines):
        start = int(line.split("-")[0], 16) if "-" in line.split()[0] else None
        if start == address:
            for entry in lines[i + 1 : i + 20]:
                if entry.startswith("Rss:"):
                    return int(entry.split()[1]) * 1024
    raise AssertionError("mapping not found")


def _reader(data):
    return ScannedReader(from_bytes(bytearray(data)))


def test_file_semantics():
    data = b"line one\nline two\n" + bytes(range(256)) * 10000
    r = _reader(data)
    assert r.readline() == b"line one\n"
    assert r.read(4) == b"line"
    assert r.tell() == 13
    r.seek(-2, os.SEEK_END)
    assert r.read() == data[-2:]
    assert r.read(10) == b""
    r.seek(5)
    buf = bytearray(100)
    assert r.readinto(buf) == 100 and bytes(buf) == data[5:105]
    assert r.seekable() and r.readable()
    with pytest.raises(io.UnsupportedOperation):
        r.fileno()
    r.close()
    with pytest.raises(ValueError):
        r.read(1)


def test_consumed_pages_are_given_back_and_never_served_again():
    size = 16 * RELEASE_CHUNK
    data = os.urandom(1024) * (size // 1024)
    r = _reader(data)
    mm = r.snapshot.buffer
    assert r.snapshot.mapped
    before = _resident_pages(mm)
    pieces = []
    while True:
        piece = r.read(64 * 1024 + 3)
        if not piece:
            break
        pieces.append(piece)
        buf = bytearray(RELEASE_CHUNK + 5)
        n = r.readinto(buf)
        pieces.append(bytes(buf[:n]))
        pieces.append(r.readline())
    assert b"".join(pieces) == data
    after = _resident_pages(mm)
    assert before >= size and after < RELEASE_CHUNK
    r.seek(0)
    with pytest.raises(GuardError, match="second time"):
        r.read(10)


def test_a_zip_like_access_pattern_frees_each_record():
    size = 8 * RELEASE_CHUNK
    r = _reader(b"\x01" * size)
    for start in range(size - 2 * RELEASE_CHUNK, -1, -2 * RELEASE_CHUNK):
        r.seek(start + 30)
        assert r.read(2 * RELEASE_CHUNK - 60) == b"\x01" * (2 * RELEASE_CHUNK - 60)
    # bytes never read (the record headers) are still there
    r.seek(0)
    assert r.read(30) == b"\x01" * 30
    r.seek(RELEASE_CHUNK)
    with pytest.raises(GuardError):
        r.read(1)


def test_records_read_in_order_are_given_back_whole():
    # records a huge page and a half long, at offsets that are not aligned:
    # what is left of one once the whole huge pages went is given back when
    # the loader moves on to the next
    chunk = RELEASE_CHUNK
    record = chunk + chunk // 2
    size = 8 * chunk
    r = _reader(b"\x02" * size)
    mm = r.snapshot.buffer
    starts = list(range(100, size - record, record + 100))
    for start in starts:
        r.seek(start)
        assert r.read(record) == b"\x02" * record
    assert _resident_pages(mm) < 3 * chunk
    first = starts[0]
    for at in (first + 4096, first + record - 8192):
        r.seek(at)
        with pytest.raises(GuardError):
            r.read(1)


def test_stepping_back_into_a_stretch_still_reads_it():
    # A buffered reader that read ahead is put back where its caller
    # stopped: those bytes were copied out once but never consumed.
    chunk = RELEASE_CHUNK
    data = os.urandom(4 * chunk)
    r = _reader(data)
    r.seek(0)
    assert r.read(chunk + 100_000) == data[: chunk + 100_000]
    r.seek(chunk + 50_000)
    assert r.read(100) == data[chunk + 50_000 : chunk + 50_100]
    # ahead of the stretch, everything reads
    r.seek(3 * chunk)
    assert r.read() == data[3 * chunk :]


def test_position_of_a_file_object_is_where_a_plain_load_leaves_it(tmp_path):
    path = tmp_path / "two.pkl"
    with open(path, "wb") as fh:
        pickle.dump([1], fh)
        pickle.dump({"b": 2}, fh)
        fh.write(b"tail")
    with open(path, "rb") as fh:
        assert safepickle.load(fh) == [1]
        assert safepickle.load(fh) == {"b": 2}
        assert fh.read() == b"tail"
    with open(path, "rb") as fh:
        u = safepickle.Unpickler(fh)
        assert u.load() == [1] and u.load() == {"b": 2}
        assert fh.read() == b"tail"


def test_snapshots_are_private_copies(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"a" * (3 << 20))
    snap, fd = read_path(path)
    os.close(fd)
    with open(path, "r+b") as fh:
        fh.write(b"b" * 10)
    assert snap.view()[:10].tobytes() == b"a" * 10
    assert snap.mapped and snap.size == 3 << 20
    data = bytearray(b"x" * 100)
    s = from_bytes(data)
    data[0:1] = b"y"
    assert s.view()[0:1].tobytes() == b"x"
    with pytest.raises(TypeError, match="text mode"):
        read_file_object(io.StringIO("x"))


# ---- how loaders read it ----------------------------------------------------
#
# A pickle without frames (protocols 0 to 3) is read an opcode at a time
# unless the file buffers. The guard must not turn a load into one Python
# call per opcode: that made a protocol 2 pickle.load 40 times slower than a
# plain one, and joblib's pure-Python unpickler 6 times slower.


class _Counting:
    """Counts the calls a loader makes of a reader's read methods."""

    calls = 0

    def read(self, size=-1):
        _Counting.calls += 1
        return super().read(size)

    def readinto(self, buffer):
        _Counting.calls += 1
        return super().readinto(buffer)

    def readline(self, size=-1):
        _Counting.calls += 1
        return super().readline(size)

    def peek(self, size=0):
        _Counting.calls += 1
        return super().peek(size)


class _CountingReader(_Counting, ScannedReader):
    pass


class _CountingGatedReader(_Counting, GatedReader):
    pass


@pytest.fixture
def counting(monkeypatch):
    from safepickle.guard import check, gated, pickle_hooks

    _Counting.calls = 0
    monkeypatch.setattr(check, "ScannedReader", _CountingReader)
    monkeypatch.setattr(pickle_hooks, "ScannedReader", _CountingReader)
    # large files load while they are scanned, through the gate's reader
    monkeypatch.setattr(gated, "GatedReader", _CountingGatedReader)
    return _Counting


def _rows(n=50000):
    return [(i, "s%d" % i, i * 0.5, [None, True]) for i in range(n)]


def _bounded(calls, size):
    # a few calls per buffer of 128 KB (or per 64 KB step of the scan a
    # gated load reads behind), a handful for the ends: far from one per
    # opcode
    return calls <= size // (32 * 1024) + 20


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
@pytest.mark.parametrize(
    "load",
    [
        pytest.param(lambda fh: safepickle.load(fh), id="load"),
        pytest.param(lambda fh: safepickle.Unpickler(fh).load(), id="Unpickler"),
        pytest.param(lambda fh: pickle._load(fh), id="python-load"),
    ],
)
def test_a_guarded_load_reads_in_large_pieces(tmp_path, counting, protocol, load):
    rows = _rows()
    path = tmp_path / "rows.pkl"
    path.write_bytes(pickle.dumps(rows, protocol=protocol) + b"tail")
    with safepickle.guarded():
        with open(path, "rb") as fh:
            assert load(fh) == rows
            assert fh.read() == b"tail"
    size = path.stat().st_size
    assert counting.calls > 0
    assert _bounded(counting.calls, size), (counting.calls, size)


def test_pure_python_loads_reads_in_large_pieces(counting):
    rows = _rows()
    data = pickle.dumps(rows, protocol=2)
    with safepickle.guarded():
        assert pickle._loads(data) == rows
    assert 0 < counting.calls and _bounded(counting.calls, len(data))


@pytest.mark.parametrize("compress", [0, 3])
def test_joblib_reads_a_protocol_2_file_in_large_pieces(tmp_path, monkeypatch, compress):
    joblib = pytest.importorskip("joblib")
    import numpy as np

    from safepickle.guard import check, joblib_hook

    _Counting.calls = 0
    monkeypatch.setattr(check, "ScannedReader", _CountingReader)
    monkeypatch.setattr(joblib_hook, "ScannedReader", _CountingReader)
    value = {"rows": _rows(), "array": np.arange(1000.0)}
    path = tmp_path / "rows.joblib"
    joblib.dump(value, path, protocol=2, compress=compress)
    with safepickle.guarded():
        loaded = joblib.load(path)
    assert loaded["rows"] == value["rows"]
    assert (loaded["array"] == value["array"]).all()
    stream = len(pickle.dumps(value["rows"], protocol=2)) + 8000
    assert 0 < _Counting.calls and _bounded(_Counting.calls, stream)


def test_buffering_leaves_the_reader_where_the_loader_stopped():
    from safepickle.guard.reader import buffered

    data = pickle.dumps([1, 2], protocol=2) + pickle.dumps("x" * 500000, protocol=2) + b"end"
    r = _reader(data)
    with buffered(r) as source:
        assert pickle.load(source) == [1, 2]
    assert r.tell() == len(pickle.dumps([1, 2], protocol=2))
    with buffered(r) as source:
        assert pickle.load(source) == "x" * 500000
    assert r.read() == b"end"
    r.close()


def test_peek_serves_the_snapshot_without_moving():
    data = bytes(range(256)) * 8
    r = _reader(data)
    r.seek(10)
    assert r.peek(5) == data[10:15]
    assert r.peek(0) == data[10:11]
    assert r.tell() == 10
    r.seek(len(data))
    assert r.peek(10) == b""
    r.close()
