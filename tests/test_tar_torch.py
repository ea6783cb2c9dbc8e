"""torch's legacy tar layout, pinned against torch.load itself.

Every archive below is built with tarfile and loaded by the real torch.load
with a pickle module whose unpickler records the globals it is asked for
and returns inert stubs, so nothing in the archives runs. The object pickle
names ("collections", "OrderedDict") or ("builtins", "print"): which one
torch asked for tells which member it executed.
"""

import io
import pickle
import tarfile
import types
import warnings

import pytest

import torch  # noqa: E402  (installed by scripts/install.sh)

G_BENIGN = ("collections", "OrderedDict")
G_OTHER = ("builtins", "print")

PICKLE_BENIGN = b"ccollections\nOrderedDict\n(tR."
PICKLE_OTHER = b"cbuiltins\nprint\n(tR."
# No storages, then an empty list of storage views; no tensors.
STORAGES = pickle.dumps(0, protocol=2) + pickle.dumps([], protocol=2)
TENSORS = pickle.dumps(0, protocol=2)


def _stub(*args, **kwargs):
    return {"stub": True}


def recording_module():
    seen = []

    class Unpickler(pickle.Unpickler):
        def find_class(self, module, name):
            seen.append((module, name))
            return _stub

    def load(f, **kwargs):
        return Unpickler(f, **kwargs).load()

    mod = types.ModuleType("recording_pickle")
    mod.Unpickler = Unpickler
    mod.load = load
    mod.__name__ = "recording_pickle"
    return mod, seen


def torch_load(path):
    mod, seen = recording_module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = torch.load(str(path), weights_only=False, pickle_module=mod)
    return result, seen


def member(name, data, pax=None):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    if pax:
        info.pax_headers = dict(pax)
    return info, data


def write_tar(path, members, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


def legacy(obj_members):
    return [member("storages", STORAGES), member("tensors", TENSORS)] + obj_members


def test_plain_legacy_tar(tmp_path):
    p = tmp_path / "m.tar"
    write_tar(p, legacy([member("pickle", PICKLE_BENIGN)]))
    result, seen = torch_load(p)
    assert result == {"stub": True}
    assert seen == [G_BENIGN]


def test_duplicate_pickle_member_last_wins(tmp_path):
    p = tmp_path / "m.tar"
    write_tar(p, legacy([member("pickle", PICKLE_BENIGN), member("pickle", PICKLE_OTHER)]))
    _, seen = torch_load(p)
    assert seen == [G_OTHER]
    with tarfile.open(p, "r:") as tar:
        names = tar.getnames()
        assert names.count("pickle") == 2
        assert tar.extractfile("pickle").read() == PICKLE_OTHER


def test_pax_path_overrides_header_name(tmp_path):
    p = tmp_path / "m.tar"
    members = legacy(
        [
            member("d" * 150, PICKLE_OTHER),  # long name: stored through a pax header
            member("decoy", PICKLE_BENIGN, pax={"path": "pickle"}),
        ]
    )
    raw = write_tar(p, members)
    assert b"decoy" in raw and b"path=pickle\n" in raw
    _, seen = torch_load(p)
    assert seen == [G_BENIGN]


def test_gnu_long_name_overrides_header_name(tmp_path):
    p = tmp_path / "m.tar"
    long_name = "p" * 120
    raw = bytearray(
        write_tar(p, legacy([member(long_name, PICKLE_BENIGN)]), fmt=tarfile.GNU_FORMAT)
    )
    # The long name block holds the name and a NUL (size 121); "pickle"
    # followed by NULs keeps the size and the checksum of the L header,
    # which covers only the header block, valid.
    at = raw.index(long_name.encode() + b"\0")
    raw[at : at + 121] = b"pickle".ljust(121, b"\0")
    p.write_bytes(bytes(raw))
    with tarfile.open(p, "r:") as tar:
        assert tar.getnames()[-1] == "pickle"
    _, seen = torch_load(p)
    assert seen == [G_BENIGN]


def test_zero_first_block_is_an_empty_archive(tmp_path):
    # tarfile takes one zero block as the end: the archive opens with no
    # members, so torch raises KeyError instead of falling back.
    p = tmp_path / "m.tar"
    p.write_bytes(b"\0" * 512 + pickle.dumps(0))
    with tarfile.open(p, "r:") as tar:
        assert tar.getmembers() == []
    with pytest.raises(KeyError):
        torch_load(p)


def test_bad_header_after_first_ends_listing(tmp_path):
    p = tmp_path / "m.tar"
    raw = bytearray(write_tar(p, legacy([member("pickle", PICKLE_OTHER)])))
    # Corrupt the checksum of the last ("pickle") header: the listing
    # silently stops before it, so torch finds no "pickle" member.
    with tarfile.open(p, "r:") as tar:
        off = tar.getmember("pickle").offset
    raw[off + 148 : off + 156] = b"0000000\0"
    p.write_bytes(bytes(raw))
    with tarfile.open(p, "r:") as tar:
        assert tar.getnames() == ["storages", "tensors"]
    with pytest.raises(KeyError):
        torch_load(p)
