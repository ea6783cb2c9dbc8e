"""torch zips are snapshotted without the insides of their large tensor
records (safepickle/guard/zip_payloads.py), which torch then reads from the
file. No verdict may depend on those bytes: scanning the snapshot, holes
and all, must give the report a scan of the whole file gives, on real
checkpoints and on archives built to hide something in a tensor."""

import hashlib
import os
import pickle
import struct

import pytest
import torch

import safepickle
from safepickle import _native
from safepickle.errors import GuardError
from safepickle.guard import check, torch_hook, zip_payloads
from safepickle.guard.reader import ScannedReader
from safepickle.guard.snapshot import PAGE

from . import zipcraft as zc
from .guard_files import MkdirPayload, benign_object, describe_benign, run_victim

MB = 1 << 20
HOSTILE_PICKLE = b"\x80\x02cposix\nsystem\nX\x04\x00\x00\x00echo\x85R."


def _big_state(seed=0, layers=4):
    g = torch.Generator().manual_seed(seed)
    state = {f"w{i}": torch.randn(1024, 768, generator=g) for i in range(layers)}
    state["bias"] = torch.zeros(16)
    return state


def _save(path, obj):
    torch.save(obj, str(path))
    return path


def _read_zip(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        return zip_payloads.read_zip(fd, str(path)), fd
    except BaseException:
        os.close(fd)
        raise


def _scans(path):
    """(holes, report of the snapshot, report of the whole file)."""
    snapshot, fd = _read_zip(path)
    try:
        view = snapshot.view()
        try:
            got = safepickle.scan(view)
        finally:
            view.release()
        return snapshot.holes, got, safepickle.scan(path.read_bytes())
    finally:
        snapshot.close()
        os.close(fd)


def _hole_bytes(holes):
    return sum(end - start for start, end in holes)


# ---- what is left out ---------------------------------------------------------


def test_large_storages_become_holes_and_the_rest_is_the_file(tmp_path):
    path = _save(tmp_path / "big.pt", _big_state())
    data = path.read_bytes()
    snapshot, fd = _read_zip(path)
    try:
        holes = snapshot.holes
        assert len(holes) == 4  # the four 3 MB weights; the bias is too small
        assert _hole_bytes(holes) > 0.95 * len(data)
        entries = _native.zip_entries(data)["entries"]
        for start, end in holes:
            assert start % PAGE == 0 and end % PAGE == 0
            owner = [
                e
                for e in entries
                if e["data_offset"] is not None
                and e["data_offset"] <= start
                and end <= e["data_offset"] + e["comp_size"]
            ]
            assert len(owner) == 1 and owner[0]["name"].split(b"/")[1] == b"data"
            # the record's first bytes (its magic, for the scanner) are kept
            assert start - owner[0]["data_offset"] >= zip_payloads.HEAD
        view = snapshot.view()
        try:
            at = 0
            for start, end in list(holes) + [(len(data), len(data))]:
                assert view[at:start] == data[at:start]
                at = end
            assert not any(view[holes[0][0] : holes[0][1]])  # never read
        finally:
            view.release()
    finally:
        snapshot.close()
        os.close(fd)


def test_small_files_are_read_whole(tmp_path):
    path = _save(tmp_path / "small.pt", _big_state(layers=1))
    snapshot, fd = _read_zip(path)
    try:
        assert snapshot.holes == () and snapshot.size == path.stat().st_size
    finally:
        snapshot.close()
        os.close(fd)


# ---- no verdict depends on them ---------------------------------------------------


def _hostile_in_holes(tmp_path):
    """A real checkpoint whose tensor bytes, inside the holes, hold a pickle,
    end records, directory and local header signatures."""
    (tmp_path / "baited").mkdir()
    path = _save(tmp_path / "baited" / "model.pt", _big_state())
    holes, _got, _want = _scans(path)
    bait = HOSTILE_PICKLE + zc.EOCD_SIG + b"\0" * 18 + zc.CENTRAL_SIG + zc.LOCAL_SIG
    with open(path, "r+b") as fh:
        for start, end in holes:
            for at in (start, (start + end) // 2, end - len(bait)):
                fh.seek(at)
                fh.write(bait)
    return path, "kept"


def _tensor_that_is_a_pickle(tmp_path):
    state = _big_state()
    payload = bytearray(os.urandom(2 * MB))
    payload[: len(HOSTILE_PICKLE)] = HOSTILE_PICKLE
    state["blob"] = torch.frombuffer(payload, dtype=torch.uint8).clone()
    # the weights' records stay holes, the blob's does not
    return _save(tmp_path / "blob.pt", state), "weights"


def _stored(name, data):
    return zc.Entry(name, data, flags=zc.TORCH_FLAGS)


def _with_extra_central(archive, name, local_offset, size, crc):
    """``archive`` with one more directory entry, pointing at an offset
    inside another record's data."""
    parts = archive.parts()
    central = parts.central + zc.CENTRAL_SIG
    central += struct.pack(
        "<6H3L5H2L", 20, 20, 0, 0, 0, 0, crc, size, size, len(name), 0, 0, 0, 0, 0, local_offset
    )
    central += name
    cd_offset = len(parts.locals)
    count = len(archive.entries) + 1
    end = zc.EOCD_SIG + struct.pack("<4H2LH", 0, 0, count, count, len(central), cd_offset, 0)
    return parts.locals + central + end


def _entry_hidden_in_a_tensor(tmp_path):
    """A directory entry whose local header and pickle sit inside the data of
    a large tensor record: leaving that record out would hide the pickle."""
    inner_name = b"archive/data/hidden.pkl"
    inner = (
        zc.LOCAL_SIG
        + struct.pack(
            "<5H3L2H", 20, 0, 0, 0, 0, zc.zlib.crc32(HOSTILE_PICKLE), len(HOSTILE_PICKLE),
            len(HOSTILE_PICKLE), len(inner_name), 0,
        )
        + inner_name
        + HOSTILE_PICKLE
    )
    tensor = os.urandom(MB) + inner + os.urandom(9 * MB)
    archive = zc.Archive(zc.torch_records() + [_stored(b"archive/data/0", tensor)])
    locals_ = archive.parts().locals
    at = locals_.index(inner)
    data = _with_extra_central(
        archive, inner_name, at, len(HOSTILE_PICKLE), zc.zlib.crc32(HOSTILE_PICKLE)
    )
    path = tmp_path / "hidden.pt"
    path.write_bytes(data)
    return path, "none"


def _shared_local_header(tmp_path):
    """Two directory entries for one large record."""
    entries = zc.torch_records() + [_stored(b"archive/data/0", os.urandom(10 * MB))]
    n = len(entries)
    archive = zc.Archive(entries, central_order=list(range(n)) + [n - 1])
    path = tmp_path / "shared.pt"
    path.write_bytes(archive.build())
    return path, "none"


def _zip64(tmp_path):
    entries = zc.torch_records() + [_stored(b"archive/data/0", os.urandom(10 * MB))]
    for e in entries:
        e.zip64 = True
    path = tmp_path / "zip64.pt"
    path.write_bytes(zc.Archive(entries, zip64_end=True).build())
    return path, "kept"


def _directory_cut_short(tmp_path):
    entries = zc.torch_records() + [_stored(b"archive/data/0", os.urandom(10 * MB))]
    path = tmp_path / "short.pt"
    path.write_bytes(zc.Archive(entries, count=len(entries) - 1).build())
    return path, "none"


def _not_torch_gzip_record(tmp_path):
    """No data.pkl: not torch's archive, so the scanner opens a record that
    starts like a gzip file as one, and reads all of it."""
    import gzip

    member = gzip.compress(HOSTILE_PICKLE + os.urandom(2 * MB), compresslevel=1)
    member += os.urandom(8 * MB)
    entries = [_stored(b"archive/data/0", member), _stored(b"archive/notes", b"3\n")]
    path = tmp_path / "plain-zip.pt"
    path.write_bytes(zc.Archive(entries).build())
    return path, "none"


def _compressed_tensor(tmp_path):
    entries = zc.torch_records() + [
        zc.Entry(b"archive/data/0", os.urandom(10 * MB), method=8, flags=zc.TORCH_FLAGS)
    ]
    path = tmp_path / "deflated.pt"
    path.write_bytes(zc.Archive(entries).build())
    return path, "none"


@pytest.mark.parametrize(
    "make",
    [
        lambda tmp: (_save(tmp / "plain.pt", _big_state()), "kept"),
        _hostile_in_holes,
        _tensor_that_is_a_pickle,
        _entry_hidden_in_a_tensor,
        _shared_local_header,
        _zip64,
        _directory_cut_short,
        _not_torch_gzip_record,
        _compressed_tensor,
    ],
    ids=[
        "torch.save",
        "hostile-bytes-in-holes",
        "tensor-that-is-a-pickle",
        "entry-hidden-in-a-tensor",
        "shared-local-header",
        "zip64",
        "directory-cut-short",
        "not-torch-gzip-record",
        "compressed-tensor",
    ],
)
def test_no_verdict_depends_on_the_holes(tmp_path, make):
    path, expect = make(tmp_path)
    holes, got, want = _scans(path)
    assert got.raw == want.raw
    if expect == "kept":
        assert _hole_bytes(holes) > 0.9 * path.stat().st_size
    elif expect == "weights":
        assert len(holes) == 4 and _hole_bytes(holes) > 0.8 * path.stat().st_size
    else:
        assert holes == ()


def test_what_hides_in_a_tensor_is_still_found(tmp_path):
    for make in (_entry_hidden_in_a_tensor, _tensor_that_is_a_pickle):
        path, _expect = make(tmp_path)
        _holes, got, _want = _scans(path)
        assert "posix.system" in got.globals and got.verdict == "unsafe"


def test_bytes_in_the_holes_change_no_scan(tmp_path):
    clean = _save(tmp_path / "model.pt", _big_state())
    baited, _expect = _hostile_in_holes(tmp_path)
    clean_data = clean.read_bytes()
    # same checkpoint, different bytes in the holes only
    assert baited.read_bytes() != clean_data
    assert safepickle.scan(baited.read_bytes()).raw == safepickle.scan(clean_data).raw


# ---- the reader and the load ------------------------------------------------------


def test_reader_serves_the_holes_from_the_file(tmp_path):
    path = _save(tmp_path / "big.pt", _big_state())
    data = path.read_bytes()
    snapshot, fd = _read_zip(path)
    reader = ScannedReader(snapshot, release=False)
    try:
        start, end = snapshot.holes[1]
        reader.seek(start - 10)
        assert reader.read(20) == data[start - 10 : start + 10]
        assert reader.peek(30)[:30] == data[start + 10 : start + 40]
        buf = bytearray(end - start + 20)
        reader.seek(start - 10)
        assert reader.readinto(buf) == len(buf)
        assert buf == data[start - 10 : end + 10]
        reader.seek(0)
        assert reader.read() == data
    finally:
        reader.close()
        os.close(fd)


@pytest.mark.parametrize(
    "kwargs", [{}, {"weights_only": False}, {"map_location": "cpu"}, {"mmap": False}], ids=str
)
def test_guarded_load_equals_a_plain_one(tmp_path, kwargs):
    path = _save(tmp_path / "big.pt", _big_state())
    with safepickle.unguarded():
        expected = torch.load(path, **kwargs)
    with safepickle.guarded(mode="block"):
        loaded = torch.load(path, **kwargs)
    assert loaded.keys() == expected.keys()
    for key in expected:
        assert torch.equal(loaded[key], expected[key])


def test_open_files_get_holes_too(tmp_path, monkeypatch):
    path = _save(tmp_path / "big.pt", _big_state())
    taken = []

    def spy(fd, name):
        snapshot = real(fd, name)
        taken.append(snapshot.holes if snapshot is not None else None)
        return snapshot

    real = torch_hook.with_holes
    monkeypatch.setattr(torch_hook, "with_holes", spy)
    with safepickle.unguarded():
        with open(path, "rb") as fh:
            expected = torch.load(fh)
            plain_position = fh.tell()
    with safepickle.guarded(mode="block"):
        with open(path, "rb") as fh:
            loaded = torch.load(fh)
            assert fh.tell() == plain_position
        # a file already read from is read whole, through the file object
        with open(path, "rb") as fh:
            fh.read(10)
            fh.seek(0)
            torch.load(fh)
    assert len(taken) == 1 and len(taken[0]) == 4
    for key in expected:
        assert torch.equal(loaded[key], expected[key])


def test_a_hostile_checkpoint_in_an_open_file_is_refused(tmp_path):
    canary = tmp_path / "canary"
    path = _save(tmp_path / "hostile.pt", dict(_big_state(), model=MkdirPayload(canary)))
    with safepickle.guarded(mode="block"):
        with open(path, "rb") as fh:
            with pytest.raises(safepickle.UnsafePickleError):
                torch.load(fh, weights_only=False)
    assert not canary.exists()


@pytest.mark.parametrize("weights_only", [False, True])
def test_file_cut_after_the_verdict_fails_closed(tmp_path, monkeypatch, weights_only):
    path = _save(tmp_path / "big.pt", _big_state())
    monkeypatch.setattr(check, "_after_verdict", lambda snapshot: os.truncate(path, MB))
    # torch's weights-only unpickler re-raises what it meets as its own error
    expected = pickle.UnpicklingError if weights_only else GuardError
    with safepickle.guarded(mode="block"):
        with pytest.raises(expected, match="changed while being loaded"):
            torch.load(path, weights_only=weights_only)


def _digest(t):
    return hashlib.sha256(t.contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()


@pytest.mark.parametrize("how", ["rename", "in-place"])
def test_file_swapped_after_the_verdict_runs_nothing(tmp_path, how):
    """The hostile file's pickle is never what runs: the pickle, directory
    and headers come from the snapshot. Rewritten in place, the tensors'
    insides are the new file's bytes (nothing in them runs); renamed over,
    the load reads the file that was scanned."""
    target = tmp_path / "model.pt"
    hostile = tmp_path / "hostile.pt"
    canary = tmp_path / "canary"
    benign = dict(_big_state(seed=1), model=benign_object())
    _save(target, benign)
    _save(hostile, dict(_big_state(seed=2), model=MkdirPayload(canary)))
    hostile_bytes = hostile.read_bytes()
    spec = {
        "order": "import-first",
        "imports": ["torch"],
        "race": {"target": str(target), "hostile_copy": str(hostile), "how": how},
        "cases": [
            {
                "id": "race",
                "loader": "torch.load",
                "path": str(target),
                "kwargs": {"weights_only": False},
                "hostile": "loads",
            }
        ],
    }
    results, fired = run_victim(tmp_path, spec)
    assert fired == "" and not canary.exists()
    result = results["race"]
    assert result["outcome"] == "loaded", result
    assert result["value"]["model"] == describe_benign()
    if how == "rename":
        assert result["value"]["w0"] == ["tensor-digest", [1024, 768], _digest(benign["w0"])]
    assert target.read_bytes() == hostile_bytes
