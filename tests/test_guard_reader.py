"""The reader over a scanned snapshot: file semantics, pages given back as
they are consumed, and refusal to serve a page it gave back."""

import io
import os
import pickle

import pytest

import safepickle
from safepickle.errors import GuardError
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
