"""A benign sample: how to build the object and how a user would save it."""

import hashlib
import io
import pickle
from dataclasses import dataclass
from typing import Callable, Optional

from ..containers import renumber_legacy_storages, zero_gzip_mtime

# writer -> loader a user calls to read the file back
LOADERS = {
    "pickle": "pickle", "dill": "pickle", "cloudpickle": "pickle",
    "pandas": "pandas", "torch_zip": "torch", "torch_legacy": "torch",
    "joblib": "joblib", "numpy": "numpy",
}


@dataclass
class BenignSample:
    name: str            # file stem, unique within the group
    group: str           # producing library group (manifest `family`)
    make: Callable       # () -> object, deterministic
    writer: str          # key of LOADERS
    protocol: Optional[int] = None
    compression: Optional[str] = None
    description: str = ""
    # The file names classes of the generation-time user project
    # (project.py): only a process that defines them can load it.
    needs_project: bool = False

    @property
    def loader(self):
        return LOADERS[self.writer]

    @property
    def container(self):
        if self.writer in ("pickle", "dill", "cloudpickle"):
            return "pickle"
        if self.writer == "pandas":
            return "pickle_" + self.compression if self.compression else "pickle"
        if self.writer == "joblib":
            return "joblib_" + self.compression if self.compression else "joblib"
        if self.writer == "numpy":
            return "npy"
        return self.writer

    @property
    def suffix(self):
        return {
            "pickle": ".pkl", "pickle_gzip": ".pkl.gz", "pickle_bz2": ".pkl.bz2",
            "pickle_xz": ".pkl.xz", "torch_zip": ".pt", "torch_legacy": ".pth",
            "npy": ".npy", "joblib": ".joblib", "joblib_zlib": ".joblib.z",
            "joblib_gzip": ".joblib.gz", "joblib_bz2": ".joblib.bz2",
            "joblib_xz": ".joblib.xz", "joblib_lzma": ".joblib.lzma",
            "joblib_lz4": ".joblib.lz4",
        }[self.container]


def sub_seed(*parts):
    """A 32-bit seed from strings: stable across processes (no hash())."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def save(sample, obj):
    """The bytes of `obj` saved the way `sample` says."""
    w = sample.writer
    if w == "pickle":
        return pickle.dumps(obj, protocol=sample.protocol)
    if w == "dill":
        import dill
        return dill.dumps(obj, protocol=sample.protocol)
    if w == "cloudpickle":
        import cloudpickle
        return cloudpickle.dumps(obj, protocol=sample.protocol)
    if w == "pandas":
        out = io.BytesIO()
        compression = sample.compression
        if compression == "gzip":
            compression = {"method": "gzip", "mtime": 0}
        obj.to_pickle(out, compression=compression, protocol=sample.protocol)
        return out.getvalue()
    if w == "torch_zip":
        import torch
        out = io.BytesIO()
        torch.save(obj, out, pickle_protocol=sample.protocol)
        return out.getvalue()
    if w == "torch_legacy":
        return torch_legacy_save(obj, sample.protocol)
    if w == "joblib":
        import joblib
        out = io.BytesIO()
        compress = (sample.compression, 3) if sample.compression else 0
        joblib.dump(obj, out, compress=compress, protocol=sample.protocol)
        data = out.getvalue()
        return zero_gzip_mtime(data) if sample.compression == "gzip" else data
    if w == "numpy":
        import numpy
        out = io.BytesIO()
        numpy.save(out, obj, allow_pickle=True)
        return out.getvalue()
    raise ValueError("unknown writer %r" % w)


def torch_legacy_save(obj, protocol):
    """torch.save in the legacy format, reproducibly. That writer names
    storages by memory address and stores them sorted by name; for the
    duration of the call its module-level `sorted` keeps first-use order
    instead, and the names are then renumbered in that order."""
    import torch
    import torch.serialization as serialization
    out = io.BytesIO()
    serialization.sorted = list
    try:
        torch.save(obj, out, pickle_protocol=protocol,
                   _use_new_zipfile_serialization=False)
    finally:
        del serialization.sorted
    return renumber_legacy_storages(out.getvalue())


def load(path, loader):
    """Read a file back with the loader named in the manifest. Only for
    benign files: this runs whatever the file names."""
    if loader == "pickle":
        with open(path, "rb") as f:
            return pickle.load(f)
    if loader == "pandas":
        import pandas
        return pandas.read_pickle(path)
    if loader == "torch":
        import torch
        return torch.load(path, weights_only=False)
    if loader == "joblib":
        import joblib
        return joblib.load(path)
    if loader == "numpy":
        import numpy
        return numpy.load(path, allow_pickle=True)
    raise ValueError("unknown loader %r" % loader)


def pick_writer(rng, choices):
    """One (writer, protocol, compression) among weighted choices."""
    total = sum(weight for weight, _ in choices)
    x = rng.random() * total
    for weight, option in choices:
        x -= weight
        if x < 0:
            return option
    return choices[-1][1]


JOBLIB_COMPRESSIONS = (None, "zlib", "gzip", "bz2", "xz", "lzma", "lz4")
PANDAS_COMPRESSIONS = (None, "gzip", "bz2", "xz")
