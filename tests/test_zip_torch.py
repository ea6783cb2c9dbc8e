"""The zip reader against torch.load itself.

Every hand-made archive below is also loaded by the real torch.load, with a
pickle module whose unpickler records the globals it is asked for and
returns inert stubs, so nothing in the archives runs. The pickles inside
name ("collections", "OrderedDict") or ("builtins", "print"): which one
torch asked for tells which record it executed. Each test pins what torch
does and checks that the reader picks the same bytes and reports the
anomaly.
"""

import io
import pickle
import struct
import types
import warnings
import zipfile

import pytest

import torch  # noqa: E402  (installed by scripts/install.sh)

from safepickle import _native  # noqa: E402

from . import zipcraft as zc  # noqa: E402
from .zipcraft import BENIGN, OTHER, TORCH_FLAGS, Archive, Entry  # noqa: E402

G_BENIGN = ("collections", "OrderedDict")
G_OTHER = ("builtins", "print")
G_MARK = ("builtins", "len")
MARK = zc.global_pickle(*G_MARK)


def recording_module():
    seen = []

    class Stub:
        def __init__(self, *args, **kwargs):
            pass

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            seen.append((module, name))
            return Stub

    def load(f, **kwargs):
        return Unpickler(f, **kwargs).load()

    module = types.ModuleType("recording_pickle")
    module.Unpickler = Unpickler
    module.load = load
    return module, seen


def torch_load(tmp_path, data):
    """(globals torch's unpickler asked for, exception or None)."""
    path = tmp_path / "model.pt"
    path.write_bytes(data)
    module, seen = recording_module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.load(str(path), weights_only=False, pickle_module=module)
        except Exception as exc:  # torch raises many kinds for bad archives
            return seen, exc
    return seen, None


def globals_of(pkl):
    found = []
    for g in (G_BENIGN, G_OTHER, G_MARK):
        if ("c%s\n%s\n" % g).encode() in pkl:
            found.append(g)
    return found


def records(pkl=BENIGN, prefix=b"archive"):
    return zc.torch_records(prefix, pkl)


def build(entries, **kw):
    return Archive(entries, **kw).build()


# ---- real torch.save files -------------------------------------------------


def _state_dict():
    return {"weight": torch.arange(12, dtype=torch.float32).reshape(3, 4), "bias": torch.ones(3)}


def _module():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))


def _optimizer_state():
    model = _module()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.ones(2, 4)).sum().backward()
    opt.step()
    return {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}


@pytest.mark.parametrize(
    "make", [_state_dict, _module, _optimizer_state], ids=["state_dict", "module", "optimizer"]
)
def test_real_torch_save(tmp_path, make):
    path = tmp_path / "checkpoint.pth"
    torch.save(make(), str(path), _use_new_zipfile_serialization=True)
    data = path.read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        expected = zf.read("checkpoint/data.pkl")
        names = zf.namelist()

    info = _native.zip_entries(data)
    assert info["ok"] and info["torch_zip"] and info["zip64"]
    assert info["prefix"] == b"checkpoint"
    assert info["anomalies"] == []
    assert info["torch_refusal"] is None
    assert info["torch_pickle"] == expected
    assert _native.zip_record(data, "data.pkl") == expected
    assert [e["name"].decode() for e in info["entries"]] == names
    # Tensor records are read as stored bytes at the offset torch reports.
    for e in info["entries"]:
        key = e["name"].decode().split("/", 1)[1]
        if key.startswith("data/"):
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                assert _native.zip_record(data, key) == zf.read(e["name"].decode())
            assert e["data_offset"] % 64 == 0  # torch aligns tensor data


def test_real_torch_save_loads_the_same_pickle(tmp_path):
    path = tmp_path / "sd.pt"
    torch.save({"a": torch.zeros(2)}, str(path))
    info = _native.zip_entries(path.read_bytes())
    seen, exc = torch_load(tmp_path, path.read_bytes())
    # torch rebuilds the tensor after the recording unpickler hands it
    # stubs, so the load itself may fail; the globals it asked for are
    # those of the pickle the reader found.
    assert seen and all(("c%s\n%s\n" % g).encode() in info["torch_pickle"] for g in seen)


# ---- hand-made variants -------------------------------------------------------


def check(tmp_path, data, runs, anomalies=(), absent=()):
    """runs: the global torch's unpickler asks for first, or None when
    torch raises before running any pickle from the archive."""
    seen, exc = torch_load(tmp_path, data)
    info = _native.zip_entries(data)
    if runs is None:
        assert seen == [], seen
        assert exc is not None
        assert info["torch_pickle"] is None
        assert info["torch_refusal"]
    else:
        assert seen[:1] == [runs], (seen, exc)
        assert info["torch_pickle"] is not None, info["torch_refusal"]
        assert globals_of(info["torch_pickle"]) == [runs]
    for name in anomalies:
        assert name in info["anomalies"], info["anomalies"]
    for name in absent:
        assert name not in info["anomalies"], info["anomalies"]
    return info, seen, exc


def test_plain_archive_is_clean(tmp_path):
    info, _, exc = check(tmp_path, zc.torch_archive().build(), G_BENIGN)
    assert exc is None
    assert info["anomalies"] == []
    info, _, _ = check(tmp_path, build(records()), G_BENIGN)
    assert info["anomalies"] == [] and not info["zip64"]


@pytest.mark.parametrize("position", [0, 1, 6])
def test_duplicate_data_pkl(tmp_path, position):
    # The lookup is a binary search over a heap-sorted directory: which
    # copy wins depends on where the copies sit, not on first or last.
    recs = records(BENIGN)
    recs.insert(position, Entry(b"archive/data.pkl", OTHER, flags=TORCH_FLAGS))
    data = build(recs)
    seen, _ = torch_load(tmp_path, data)
    ran = seen[0]
    info, _, _ = check(tmp_path, data, ran, anomalies=["ZIP_DUPLICATE_NAME"])
    ours = OTHER if ran == G_OTHER else BENIGN
    assert info["torch_pickle"] == ours
    assert _native.zip_record(data, "data.pkl") == ours


def test_duplicate_pins(tmp_path):
    # Pinned from torch 2.13: with the second copy right after the first
    # the second one runs; with the second copy last, the first one.
    recs = records(BENIGN)
    recs.insert(1, Entry(b"archive/data.pkl", OTHER, flags=TORCH_FLAGS))
    check(tmp_path, build(recs), G_OTHER, anomalies=["ZIP_DUPLICATE_NAME"])
    recs = records(BENIGN)
    recs.append(Entry(b"archive/data.pkl", OTHER, flags=TORCH_FLAGS))
    check(tmp_path, build(recs), G_BENIGN, anomalies=["ZIP_DUPLICATE_NAME"])


def test_many_duplicates_follow_the_sort(tmp_path):
    # Five copies among the other records: only the reader's emulation of
    # the sort can say which one torch runs.
    recs = records(zc.global_pickle("builtins", "len"))
    for i, name in enumerate([b"data.pkl", b"DATA.pkl", b"data.PKL", b"Data.Pkl"]):
        pkl = OTHER if i == 2 else BENIGN
        recs.insert(2 * i + 1, Entry(b"archive/" + name, pkl, flags=TORCH_FLAGS))
    data = build(recs)
    seen, _ = torch_load(tmp_path, data)
    info = _native.zip_entries(data)
    assert globals_of(info["torch_pickle"]) == seen[:1]
    assert "ZIP_CASE_COLLISION" in info["anomalies"]


def test_case_collision(tmp_path):
    recs = records(BENIGN)
    recs.append(Entry(b"archive/DATA.PKL", OTHER, flags=TORCH_FLAGS))
    check(tmp_path, build(recs), G_BENIGN, anomalies=["ZIP_CASE_COLLISION"])
    recs = records(BENIGN)
    recs.insert(0, Entry(b"archive/DATA.PKL", OTHER, flags=TORCH_FLAGS))
    data = build(recs)
    seen, _ = torch_load(tmp_path, data)
    check(tmp_path, data, seen[0], anomalies=["ZIP_CASE_COLLISION"])


def test_name_found_without_regard_to_case(tmp_path):
    # No "data.pkl" at all: torch still finds and runs "DATA.PKL".
    recs = records(BENIGN)
    recs[0] = Entry(b"archive/DATA.PKL", OTHER, flags=TORCH_FLAGS)
    info, _, _ = check(tmp_path, build(recs), G_OTHER)
    assert info["torch_pickle"] == OTHER


def test_zeroed_crcs(tmp_path):
    recs = records(OTHER)
    for e in recs:
        e.crc = 0
    info, _, exc = check(tmp_path, build(recs), G_OTHER, anomalies=["ZIP_CRC_MISMATCH"])
    assert exc is None


def test_second_archive_appended_with_absolute_offsets(tmp_path):
    first = zc.torch_archive(pkl=BENIGN).build()
    second = zc.torch_archive(pkl=OTHER).build(base=len(first))
    check(
        tmp_path,
        first + second,
        G_OTHER,
        anomalies=["ZIP_MULTIPLE_EOCD", "ZIP_DATA_BEFORE"],
    )


def test_second_archive_appended_as_is(tmp_path):
    # Its offsets count from its own start; torch's reader takes them as
    # absolute and refuses. Python's zipfile would read the second archive.
    first = zc.torch_archive(pkl=BENIGN).build()
    data = first + zc.torch_archive(pkl=OTHER).build()
    info, _, _ = check(tmp_path, data, None, anomalies=["ZIP_MULTIPLE_EOCD"])
    assert not info["ok"]
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.read("archive/data.pkl") == OTHER


@pytest.mark.parametrize("adjusted", [True, False])
def test_pickle_before_the_archive(tmp_path, adjusted):
    # Without "PK\3\4" at offset 0 torch takes the legacy path, which
    # unpickles from offset 0: the prepended pickle runs, not data.pkl.
    archive = zc.torch_archive(pkl=BENIGN).build(base=len(OTHER) if adjusted else 0)
    data = OTHER + archive
    seen, exc = torch_load(tmp_path, data)
    assert seen[:1] == [G_OTHER]
    assert "magic number" in str(exc)
    info = _native.zip_entries(data)
    assert not info["torch_zip"]
    assert "ZIP_DATA_BEFORE" in info["anomalies"]
    assert info["torch_pickle"] is None
    assert "legacy" in info["torch_refusal"]
    assert _native.zip_record(data, "data.pkl") is None


def test_unreferenced_local_header_first(tmp_path):
    # The file starts with a local header the directory never names.
    junk = Archive([Entry(b"archive/data.pkl", OTHER, flags=TORCH_FLAGS)]).parts().locals
    data = junk + zc.torch_archive(pkl=BENIGN).build(base=len(junk))
    check(tmp_path, data, G_BENIGN, anomalies=["ZIP_DATA_BEFORE"])


@pytest.mark.parametrize(
    "bit,runs,anomalies",
    [
        (0x0001, None, ["ZIP_ENCRYPTED", "ZIP_FLAG_BITS"]),
        (0x0002, G_OTHER, ["ZIP_FLAG_BITS"]),
        (0x0004, G_OTHER, ["ZIP_FLAG_BITS"]),
        (0x0020, None, ["ZIP_FLAG_BITS"]),
        (0x0040, None, ["ZIP_ENCRYPTED", "ZIP_FLAG_BITS"]),
        (0x2000, None, ["ZIP_ENCRYPTED", "ZIP_FLAG_BITS"]),
        (0x4000, G_OTHER, ["ZIP_FLAG_BITS"]),
    ],
)
def test_flag_bits_on_data_pkl(tmp_path, bit, runs, anomalies):
    recs = records(OTHER)
    recs[0].flags |= bit
    recs[0].local_flags = recs[0].flags
    check(tmp_path, build(recs), runs, anomalies=anomalies)


def test_encrypted_record_read_before_the_pickle(tmp_path):
    # torch reads byteorder before data.pkl: an encrypted byteorder stops
    # it before the pickle, however plain data.pkl is.
    recs = records(OTHER)
    recs[3].flags |= 0x0001
    check(tmp_path, build(recs), None, anomalies=["ZIP_ENCRYPTED"])


def test_encrypted_record_torch_never_reads(tmp_path):
    recs = records(OTHER)
    recs.append(Entry(b"archive/data/0", b"\0" * 8, flags=TORCH_FLAGS | 0x0001))
    check(tmp_path, build(recs), G_OTHER, anomalies=["ZIP_ENCRYPTED"])


@pytest.mark.parametrize("local_name", [b"archive/evil.pkl", b"x", b"archive/data.pkl/longer"])
def test_local_central_name_mismatch(tmp_path, local_name):
    # The central name is looked up; the local header only says how many
    # bytes to skip before the data.
    recs = records(OTHER)
    recs[0].local_name = local_name
    data = build(recs)
    info, _, _ = check(tmp_path, data, G_OTHER, anomalies=["ZIP_NAME_MISMATCH"])
    assert info["torch_pickle"] == OTHER
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(io.BytesIO(data)).read("archive/data.pkl")


def _two_directories():
    recs = records(BENIGN)
    hidden = Entry(b"archive/data.pkl", OTHER, flags=TORCH_FLAGS)
    everything = recs + [hidden]
    first = Archive(everything, central_order=list(range(len(recs))))
    second = Archive(everything, central_order=[len(recs)] + list(range(1, len(recs))))
    return len(recs), first.parts(), second.parts()


def test_two_end_records(tmp_path):
    count, p1, p2 = _two_directories()
    cd2 = len(p1.locals) + len(p1.central) + len(p1.end)
    eocd2 = zc.EOCD_SIG + struct.pack("<4H2LH", 0, 0, count, count, len(p2.central), cd2, 0)
    data = p1.locals + p1.central + p1.end + p2.central + eocd2
    info, _, _ = check(tmp_path, data, G_OTHER, anomalies=["ZIP_MULTIPLE_EOCD"])
    assert info["eocd_count"] == 2
    assert info["eocd_offset"] == len(data) - 22


def test_end_record_hidden_in_a_comment(tmp_path):
    # The first end record's comment holds a second directory and end
    # record; the reader takes the last signature, inside the comment.
    count, p1, p2 = _two_directories()
    cd2 = len(p1.locals) + len(p1.central) + 22
    eocd2 = zc.EOCD_SIG + struct.pack("<4H2LH", 0, 0, count, count, len(p2.central), cd2, 0)
    comment = p2.central + eocd2
    eocd1 = zc.EOCD_SIG + struct.pack(
        "<4H2LH", 0, 0, count, count, len(p1.central), len(p1.locals), len(comment)
    )
    data = p1.locals + p1.central + eocd1 + comment
    check(tmp_path, data, G_OTHER, anomalies=["ZIP_MULTIPLE_EOCD"])


def test_data_after_the_archive(tmp_path):
    archive = zc.torch_archive(pkl=OTHER).build()
    check(tmp_path, archive + MARK, G_OTHER, anomalies=["ZIP_DATA_AFTER"])
    # The end record search gives up about 64 KiB from the end.
    check(tmp_path, archive + b"\0" * 65000, G_OTHER, anomalies=["ZIP_DATA_AFTER"])
    info, _, _ = check(tmp_path, archive + b"\0" * 70000, None)
    assert not info["ok"]


def test_truncated_signature_at_the_end_is_skipped(tmp_path):
    archive = zc.torch_archive(pkl=OTHER).build()
    check(tmp_path, archive + zc.EOCD_SIG + b"\0" * 5, G_OTHER, anomalies=["ZIP_DATA_AFTER"])


def test_deflated_records(tmp_path):
    recs = records(OTHER)
    recs[0].method = 8
    info, _, exc = check(tmp_path, build(recs), G_OTHER, anomalies=["ZIP_COMPRESSED_RECORD"])
    assert exc is None and info["torch_pickle"] == OTHER

    recs = records(OTHER)
    recs[0].method = 8
    recs[0].payload = zc.raw_deflate(OTHER) + b"trailing"
    check(tmp_path, build(recs), G_OTHER, anomalies=["DECOMPRESS_TRAILING"])


def test_deflated_record_longer_than_announced(tmp_path):
    # torch inflates into a buffer of the announced size and runs it,
    # cut short, without noticing.
    recs = records(OTHER)
    recs[0].method = 8
    recs[0].uncomp_size = len(OTHER) - 1
    info, _, exc = check(tmp_path, build(recs), G_OTHER, anomalies=["DECOMPRESS_ERROR"])
    assert isinstance(exc, EOFError)
    assert info["torch_pickle"] == OTHER[:-1]


def test_deflated_record_shorter_than_announced(tmp_path):
    recs = records(OTHER)
    recs[0].method = 8
    recs[0].uncomp_size = len(OTHER) + 1
    check(tmp_path, build(recs), None, anomalies=["DECOMPRESS_ERROR"])


def test_unsupported_method(tmp_path):
    recs = records(OTHER)
    recs[0].method = 12
    check(tmp_path, build(recs), None, anomalies=["ZIP_COMPRESSED_RECORD", "ZIP_BAD_ENTRY"])


def test_prefix_mismatch(tmp_path):
    for name in (b"other/x", b"ARCHIVE/x"):
        recs = records(OTHER)
        recs.append(Entry(name, b"", flags=TORCH_FLAGS))
        check(tmp_path, build(recs), None, anomalies=["ZIP_PREFIX_MISMATCH"])


def test_first_entry_outside_a_directory(tmp_path):
    recs = records(OTHER)
    recs.insert(0, Entry(b"noslash", b"", flags=TORCH_FLAGS))
    info, _, _ = check(tmp_path, build(recs), None)
    assert info["prefix"] is None


def test_empty_prefix(tmp_path):
    info, _, _ = check(tmp_path, build(records(OTHER, prefix=b"")), G_OTHER)
    assert info["prefix"] == b""


def test_zip64_entries(tmp_path):
    recs = records(OTHER)
    for e in recs:
        e.zip64 = True
    info, _, _ = check(tmp_path, build(recs, zip64_end=True), G_OTHER)
    assert info["zip64"]
    assert info["entries"][0]["uncomp_size"] == len(OTHER)


@pytest.mark.parametrize(
    "version,accepted",
    [
        (b"3\n", True),
        (b" 3", True),
        (b"+3", True),
        (b"3abc", True),
        (b"10", True),
        (b"-1", False),
        (b"0", False),
        (b"11", False),
        (b"abc", False),
        (b"99999999999999999999999", False),
    ],
)
def test_version_record(tmp_path, version, accepted):
    recs = records(OTHER)
    recs[4].data = version
    check(tmp_path, build(recs), G_OTHER if accepted else None)


def test_data_version_is_read_first(tmp_path):
    recs = records(OTHER)
    recs[4].data = b"not a number"
    recs.insert(1, Entry(b"archive/.data/version", b"3\n", flags=TORCH_FLAGS))
    check(tmp_path, build(recs), G_OTHER)
    recs = records(OTHER)
    del recs[4]
    check(tmp_path, build(recs), None)


@pytest.mark.parametrize(
    "index,value,accepted",
    [
        (3, b"middle", False),
        (3, b"big", True),
        (2, b"x", False),
        (2, b" 6_4 ", True),
        (1, b"x", True),
    ],
)
def test_records_checked_before_the_pickle(tmp_path, index, value, accepted):
    recs = records(OTHER)
    recs[index].data = value
    check(tmp_path, build(recs), G_OTHER if accepted else None)


@pytest.mark.parametrize("dos_time,runs", [(0, None), (1, G_OTHER)])
def test_stored_sizes_differ(tmp_path, dos_time, runs):
    # The reader's size check reads method and time as one 32-bit field.
    recs = records(OTHER)
    recs[0].payload = OTHER + b"EXTRA"
    recs[0].dos_time = dos_time
    info, _, _ = check(tmp_path, build(recs), runs)
    if runs is not None:
        assert info["torch_pickle"] == OTHER


def test_torchscript_dispatch(tmp_path):
    recs = records(OTHER)
    recs.append(Entry(b"archive/constants.pkl", BENIGN, flags=TORCH_FLAGS))
    info, _, _ = check(tmp_path, build(recs), None)
    assert info["torchscript"]


def test_directory_attribute_on_data_pkl():
    # torch hands its unpickler a buffer the zip reader never wrote: what
    # runs is whatever that memory holds, so the reader reports no pickle.
    recs = records(OTHER)
    recs[0].external_attr = 0x10
    info = _native.zip_entries(build(recs))
    assert info["torch_pickle"] is None
    assert "never writes" in info["torch_refusal"]
    assert "ZIP_BAD_ENTRY" in info["anomalies"]


def test_overlapping_entries(tmp_path):
    # Two central entries pointing at one local header.
    recs = records(OTHER)
    data = build(recs)
    info = _native.zip_entries(data)
    first = info["entries"][0]
    extra = Entry(b"archive/alias", OTHER, flags=TORCH_FLAGS)
    arch = Archive(recs + [extra], central_order=list(range(len(recs))) + [len(recs)])
    p = arch.parts()
    # Point the alias at data.pkl's local header by patching its offset.
    central = bytearray(p.central)
    alias_at = central.rfind(zc.CENTRAL_SIG)
    struct.pack_into("<L", central, alias_at + 42, first["local_offset"])
    data = p.locals + bytes(central) + p.end
    check(tmp_path, data, G_OTHER, anomalies=["ZIP_OVERLAP"])


# ---- robustness -----------------------------------------------------------------


def test_truncations_and_garbage_never_crash():
    data = zc.torch_archive(pkl=OTHER).build()
    for cut in range(0, len(data), 7):
        _native.zip_entries(data[:cut])
        _native.zip_entries(data[cut:])
    for pos in range(0, len(data)):
        mutated = bytearray(data)
        mutated[pos] ^= 0xFF
        _native.zip_entries(bytes(mutated))
    assert _native.zip_entries(b"")["ok"] is False
    assert _native.zip_record(b"PK\x03\x04", "data.pkl") is None


def test_entry_count_beyond_the_file_is_refused():
    data = bytearray(build(records(OTHER)))
    eocd = data.rfind(zc.EOCD_SIG)
    struct.pack_into("<HH", data, eocd + 8, 0xFFFF, 0xFFFF)
    info = _native.zip_entries(bytes(data))
    assert not info["ok"] and info["entries"] == []


def test_top_level_data_pkl_is_refused(tmp_path):
    # What Python's zipfile writes when asked for a "torch" zip: no
    # directory. torch.load raises before unpickling anything.
    data = build([Entry(b"data.pkl", OTHER), Entry(b"version", b"3\n")])
    info, _, exc = check(tmp_path, data, None)
    assert "not in a subdirectory" in str(exc)
    assert info["prefix"] is None and info["ok"]


# ---- the corpus, read as bytes only ------------------------------------------


def test_corpus_torch_zips(corpus_root, manifest):
    rows = [r for r in manifest if r["format"] == "torch-zip"]
    assert rows
    for row in rows:
        data = (corpus_root / row["path"]).read_bytes()
        info = _native.zip_entries(data)
        assert info["ok"] and info["torch_zip"], row["path"]
        if info["prefix"] is None:
            assert "not in a subdirectory" in info["torch_refusal"]
            continue
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            expected = zf.read(info["prefix"].decode() + "/data.pkl")
        assert info["torch_pickle"] == expected, row["path"]
        if row["label"] == "benign":
            assert info["anomalies"] == [], (row["path"], info["anomalies"])
