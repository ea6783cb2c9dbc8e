"""Whole files as their loaders see them: torch zips, joblib files, .npy and .npz.

The benign files are written here by the real libraries; the malicious ones
put a payload where the loader will run it. Nothing is ever loaded: the
payload pickles only name os.system, they are never unpickled.
"""
import io
import pickle
import zipfile

import joblib
import numpy as np
import pytest
import torch

import safepickle

PAYLOAD = b"\x80\x02cposix\nsystem\nq\x00X\x06\x00\x00\x00echo xq\x01\x85q\x02Rq\x03."


def scan(data):
    return safepickle.scan(data)


def torch_bytes(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def replace_record(zip_bytes, suffix, new_data):
    """The archive with one record's data replaced, written by zipfile."""
    src = zipfile.ZipFile(io.BytesIO(zip_bytes))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = new_data if info.filename.endswith(suffix) else src.read(info)
            dst.writestr(info.filename, data)
    return out.getvalue()


def test_torch_state_dict_is_benign_and_scans_data_pkl():
    data = torch_bytes({"w": torch.zeros(3, 4), "b": torch.ones(2)})
    report = scan(data)
    assert report.format == "torch-zip"
    assert report.verdict == "benign", report.reasons
    primary = [r for r in report.raw["records"] if r["primary"]]
    assert len(primary) == 1 and primary[0]["name"].endswith("/data.pkl")
    assert "torch._utils._rebuild_tensor_v2" in report.globals


def test_torch_module_and_optimizer_are_benign():
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for obj in (model.state_dict(), {"model": model.state_dict(), "opt": opt.state_dict(), "epoch": 3}):
        report = scan(torch_bytes(obj))
        assert report.verdict == "benign", report.reasons


def test_payload_in_torch_data_pkl_is_unsafe():
    data = replace_record(torch_bytes({"w": torch.zeros(2)}), "data.pkl", PAYLOAD)
    report = scan(data)
    assert report.format == "torch-zip"
    assert report.verdict == "unsafe"
    assert any("posix.system" in r for r in report.reasons)


def test_payload_in_another_record_is_unsafe():
    data = replace_record(torch_bytes({"w": torch.zeros(2)}), "byteorder", b"little")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
        dst.writestr(src.infolist()[0].filename.split("/")[0] + "/extra.pkl", PAYLOAD)
    report = scan(out.getvalue())
    assert report.verdict == "unsafe"
    assert any(r.startswith(report.raw["records"][-1]["name"]) for r in report.reasons)


@pytest.mark.parametrize("compress", [0, "zlib", "gzip", "bz2", "xz", "lzma", "lz4"])
def test_joblib_every_compression(compress, tmp_path):
    obj = {"a": np.arange(100.0), "s": np.array(["x", "yy"]), "o": np.array([1, "a"], dtype=object)}
    path = tmp_path / "m.joblib"
    joblib.dump(obj, path, compress=(compress, 3) if compress else 0)
    report = safepickle.scan(path)
    codec = {0: "raw", "lzma": "lzma"}.get(compress, compress)
    assert report.format == f"joblib-{codec}"
    assert report.verdict == "benign", report.reasons
    stream = report.streams[0]
    assert stream["end_kind"] == "stop"
    assert stream["stats"]["joblib_arrays"] == 3


def test_joblib_is_told_by_what_the_pickle_resolves_not_by_what_it_mentions():
    # a plain pickle whose text names joblib's module is not a joblib file
    mention = pickle.dumps({"doc": "see joblib.numpy_pickle.NumpyArrayWrapper"}, protocol=4)
    assert scan(mention).format == "raw-pickle"
    # one that resolves a joblib.numpy_pickle global is, whole or cut short
    names = (b"\x80\x02cjoblib.numpy_pickle\nNDArrayWrapper\nq\x00)\x81q\x01}q\x02b.")
    assert scan(names).format == "joblib-raw"
    # stopped by an error before any global: the mark in its bytes decides
    cut = b"\x80\x02U\x04abcdq\x00" + b"\xff" + b"joblib.numpy_pickle"
    assert scan(cut).format == "joblib-raw"


@pytest.mark.parametrize("compress", ["zlib", "gzip", "bz2", "xz"])
def test_compressed_payload_is_unsafe(compress, tmp_path):
    import bz2
    import gzip
    import lzma
    import zlib

    pack = {"zlib": zlib.compress, "gzip": gzip.compress, "bz2": bz2.compress,
            "xz": lzma.compress}[compress]
    report = scan(pack(PAYLOAD))
    assert report.verdict == "unsafe"
    assert "posix.system" in report.globals


def test_numeric_npy_has_no_pickle():
    buf = io.BytesIO()
    np.save(buf, np.arange(10))
    report = scan(buf.getvalue())
    assert report.format == "npy"
    assert report.verdict == "benign"
    assert report.streams == []


def test_object_npy_runs_its_pickle():
    buf = io.BytesIO()
    np.save(buf, np.array([1, "a", None], dtype=object), allow_pickle=True)
    report = scan(buf.getvalue())
    assert report.format == "npy(object)"
    assert report.verdict == "benign", report.reasons
    assert report.streams and report.streams[0]["end_kind"] == "stop"


def test_npz_member_with_payload_is_unsafe():
    header = io.BytesIO()
    np.save(header, np.array([None], dtype=object), allow_pickle=True)
    raw = header.getvalue()
    npy = raw[: raw.index(b"\n") + 1] + PAYLOAD
    numeric = io.BytesIO()
    np.save(numeric, np.zeros(3))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("ok.npy", numeric.getvalue())
        z.writestr("objects.npy", raw)
        z.writestr("bad.npy", npy)
    report = scan(out.getvalue())
    assert report.format == "npz"
    assert report.verdict == "unsafe"
    assert any(r.startswith("bad.npy") for r in report.reasons)


def test_every_rce_file_of_the_corpus_is_unsafe(manifest, corpus_root):
    missed = []
    for row in manifest:
        if row["label"] != "malicious" or row["class"] != "rce":
            continue
        report = safepickle.scan(corpus_root / row["path"], detail=False)
        if report.verdict != "unsafe":
            missed.append((row["path"], row["format"], report.verdict, report.reasons[:2]))
    assert not missed


def test_torch_legacy_reads_five_pickles_then_storage_bytes():
    model = torch.nn.Linear(3, 2)
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf, _use_new_zipfile_serialization=False)
    report = scan(buf.getvalue())
    assert report.format == "torch-legacy"
    assert report.verdict == "benign", report.reasons
    assert [s["end_kind"] for s in report.streams] == ["stop"] * 5
    assert report.raw["trailing_len"] > 0  # the storage bytes


def test_torch_legacy_payload_in_the_object_pickle_is_unsafe():
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buf, _use_new_zipfile_serialization=False)
    data = buf.getvalue()
    # the third pickle (system info) ends where the object pickle starts
    first = safepickle.scan(data).streams
    start = first[3]["start"]
    data = data[:start] + PAYLOAD + data[first[3]["end"]:]
    report = scan(data)
    assert report.verdict == "unsafe"
    assert "posix.system" in report.globals


def _manifest_format(name):
    """The manifest's spelling of a format, in the report's vocabulary: the
    manifest adds the protocol to raw pickles, and names files that are not
    pickles "other" (the report says "unknown", or "raw-pickle" when the
    first byte is an opcode: a loader reads such a file as a pickle)."""
    import re

    name = re.sub(r"^raw-pickle protocol .*", "raw-pickle", name)
    name = re.sub(r"^joblib-raw \(pickle protocol \d\)", "joblib-raw", name)
    return {"empty-file": {"empty"}, "zip-other": {"zip"}, "other": {"unknown", "raw-pickle"}}.get(
        name, {name})


def test_every_corpus_file_gets_its_manifest_format(manifest, corpus_root):
    wrong = []
    for row in manifest:
        report = safepickle.scan(corpus_root / row["path"], detail=False)
        if report.format not in _manifest_format(row["format"]):
            wrong.append((row["path"], row["format"], report.format))
    assert not wrong


def test_torchscript_archive_lists_its_code_and_never_passes():
    module = torch.jit.script(torch.nn.Linear(3, 2))
    buf = io.BytesIO()
    torch.jit.save(module, buf)
    report = scan(buf.getvalue())
    assert report.format == "torch-zip(torchscript)"
    assert report.verdict == "error"
    assert any("TorchScript" in r for r in report.reasons)
    code = [r["name"] for r in report.raw["records"] if r["code"]]
    assert code and all("/code/" in name and not name.endswith(".pkl") for name in code)
    # its pickles (constants, debug info) are scanned as records
    assert any(r["name"].endswith("constants.pkl") and not r["code"] for r in report.raw["records"])


# ---- torch's legacy tar layout ---------------------------------------------------


def _tar(members):
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _storages(views=b"", elements=3):
    """A count, one FloatStorage (args pickle, int64 count, the floats), the views."""
    args = pickle.dumps(("0", "cpu", torch.FloatStorage), protocol=2)
    raw = elements.to_bytes(8, "little") + b"\x00" * (4 * elements)
    return pickle.dumps(1, protocol=2) + args + raw + (views or pickle.dumps([], protocol=2))


TENSORS = pickle.dumps(0, protocol=2)
OBJECT = pickle.dumps({"w": 1.0}, protocol=2)


def test_legacy_tar_is_read_as_torch_reads_it():
    report = scan(_tar([("storages", _storages()), ("tensors", TENSORS), ("pickle", OBJECT)]))
    assert report.format == "torch-legacy-tar"
    assert report.verdict == "benign", report.reasons
    names = [r["name"] for r in report.raw["records"]]
    # count, the storage's args, the views; the tensor count; the object
    assert names == ["storages[0]", "storages[1]", "storages[2]", "tensors[0]", "pickle"]


def test_legacy_tar_payload_after_storage_bytes_is_found():
    # the views pickle comes after the raw floats: only skipping them as
    # torch does reaches it
    report = scan(_tar([("storages", _storages(views=PAYLOAD)), ("tensors", TENSORS),
                        ("pickle", OBJECT)]))
    assert report.verdict == "unsafe"
    assert any(r.startswith("storages[2]") and "posix.system" in r for r in report.reasons)


def test_legacy_tar_payload_in_the_object_is_unsafe():
    report = scan(_tar([("storages", _storages()), ("tensors", TENSORS), ("pickle", PAYLOAD)]))
    assert report.verdict == "unsafe"
    assert "posix.system" in report.globals


def test_legacy_tar_duplicate_member_is_never_benign():
    # tarfile (and torch) run the last "pickle"; another reader the first
    report = scan(_tar([("storages", _storages()), ("tensors", TENSORS), ("pickle", PAYLOAD),
                        ("pickle", OBJECT)]))
    assert report.verdict == "unsafe"
    assert any("same name" in r for r in report.reasons)


def test_gzipped_tar_is_opened():
    import gzip

    report = scan(gzip.compress(_tar([("model/weights.pkl", PAYLOAD)])))
    assert report.format == "tar.gzip"
    assert report.verdict == "unsafe"
    assert [r["name"] for r in report.raw["records"]] == ["model/weights.pkl"]


def test_legacy_tar_payload_after_tensor_data_is_found():
    import struct

    def tensor(args):
        # args pickle, ndim (int32) and 4 spare bytes, sizes, strides, offset
        return args + struct.pack("<ii", 1, 0) + struct.pack("<q", 3) + struct.pack("<q", 1) + struct.pack("<q", 0)

    benign_args = pickle.dumps(("1", "0", torch.FloatTensor), protocol=2)
    tensors = pickle.dumps(2, protocol=2) + tensor(benign_args) + tensor(PAYLOAD)
    report = scan(_tar([("storages", _storages()), ("tensors", tensors), ("pickle", OBJECT)]))
    assert report.verdict == "unsafe"
    assert any(r.startswith("tensors[2]") and "posix.system" in r for r in report.reasons)


def test_torch_zip_inside_a_tar_is_read():
    evil = replace_record(torch_bytes({"w": torch.zeros(2)}), "data.pkl", PAYLOAD)
    report = scan(_tar([("models/model.pt", evil), ("README", b"hello")]))
    assert report.verdict == "unsafe"
    assert any(r.startswith("models/model.pt/") and "posix.system" in r for r in report.reasons)


def test_gzip_inside_a_zip_is_read():
    import gzip

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("bundle/weights.pkl.gz", gzip.compress(PAYLOAD))
    report = scan(out.getvalue())
    assert report.verdict == "unsafe"
    assert [r["name"] for r in report.raw["records"]] == ["bundle/weights.pkl.gz/<decompressed>"]


def test_nesting_is_capped():
    data = PAYLOAD
    for level in range(6):
        data = _tar([(f"level{level}.tar" if level else "payload.pkl", data)])
    report = scan(data)
    assert any(a["code"] == "NESTING" for a in report.raw["container_anomalies"])
    assert report.verdict != "benign"


def test_tar_whose_first_name_is_a_pickle_is_unsafe():
    # tarfile (and torch) see an archive; pickle.load on the same file runs
    # the first member's name field, which the writer chose
    import tarfile

    name = b"cos\nsystem\n(S'id'\ntR."
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(name.decode("latin-1"))
        info.size = len(OBJECT)
        tar.addfile(info, io.BytesIO(OBJECT))
    data = buf.getvalue()
    assert data.startswith(name)
    report = scan(data)
    assert report.format == "tar"
    assert report.verdict == "unsafe"
    assert any(r.startswith("<file read as a pickle>") and "os.system" in r for r in report.reasons)


def zip_that_runs_as_a_pickle(payload, content_tag=b"weights"):
    """A zip whose first member's name carries a pickle after a newline.
    pickle.load reads the file as PERSID ("PK\\x03\\x04...") up to that
    newline, then runs the name; zipfile and torch read an archive. The
    member's data is chosen so that the header before the name is ASCII,
    as the PERSID line must be."""
    import itertools
    import zlib

    name = "a\n" + payload.decode("ascii")  # zipfile writes other names as UTF-8
    for i in itertools.count():
        content = content_tag + b" %d" % i
        crc = zlib.crc32(content).to_bytes(4, "little")
        if all(b < 0x80 and b != 0x0A for b in crc):
            break
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(zipfile.ZipInfo(name), content)
    data = out.getvalue()
    assert all(b < 0x80 for b in data[1 : data.index(b"\n")])
    return data


def test_zip_whose_first_name_is_a_pickle_is_unsafe():
    data = zip_that_runs_as_a_pickle(b"cos\nsystem\n(S'echo x'\ntR.")
    report = scan(data)
    assert report.format == "zip"
    assert report.verdict == "unsafe"
    assert any(r.startswith("<file read as a pickle>") and "os.system" in r for r in report.reasons)


def test_globals_of_every_record_are_listed():
    # the reading as a pickle is not the primary record: its globals are
    # listed all the same, in both report modes and by the CLI's schema
    data = zip_that_runs_as_a_pickle(b"cos\nsystem\n(S'echo x'\ntR.")
    assert scan(data).globals == ["os.system"]
    assert safepickle.scan(data, report="verdict").globals == ["os.system"]
    # every member of an .npz, the primary (first) one's names first
    import collections

    out = io.BytesIO()
    second = np.empty(1, dtype=object)
    second[0] = collections.OrderedDict(k=1)
    np.savez(out, a=np.array([1, "x"], dtype=object), b=second)
    report = scan(out.getvalue())
    assert [r["name"] for r in report.raw["records"]] == ["a.npy", "b.npy"]
    assert report.globals == safepickle.scan(out.getvalue(), report="verdict").globals
    assert report.globals[0].endswith("multiarray._reconstruct")
    assert report.globals[-1] == "collections.OrderedDict"  # b.npy's own


def test_empty_zip_whose_comment_is_a_pickle_is_unsafe():
    # an empty zip is its end record alone ("PK\x05\x06", PERSID again),
    # and its comment, which the writer chooses, follows the first newline
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.comment = b"x\n" + b"cos\nsystem\n(S'echo x'\ntR."
    report = scan(out.getvalue())
    assert report.verdict == "unsafe"
    assert any("os.system" in r for r in report.reasons)


def test_plain_zips_do_not_read_as_pickles():
    # a header that reads as PERSID and nothing else: the archive alone
    data = zip_that_runs_as_a_pickle(b"just a name")
    report = scan(data)
    assert all(r["name"] != "<file read as a pickle>" for r in report.raw["records"])
    out = io.BytesIO()
    torch.save({"w": torch.zeros(3)}, out)
    report = scan(out.getvalue())
    assert report.verdict == "benign"
    assert all(r["name"] != "<file read as a pickle>" for r in report.raw["records"])


def test_plain_tars_do_not_read_as_pickles():
    report = scan(_tar([("storages", _storages()), ("tensors", TENSORS), ("pickle", OBJECT)]))
    assert all(r["name"] != "<file read as a pickle>" for r in report.raw["records"])
