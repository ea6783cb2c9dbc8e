"""torch.load: zip and legacy files, paths and file objects, mmap=True."""

import mmap as _mmap
import os
import sys

from ..errors import GuardError
from . import state
from .check import check_snapshot, scanned_file, sync_position
from .reader import ScannedReader
from .snapshot import Snapshot, read_fd, sealed_copy
from .wrapping import bound_arguments, original_of, wraps_loader
from .zip_payloads import read_zip, with_holes

MODULE = "torch"

_ZIP_MAGIC = b"PK\x03\x04"


def _is_path(f):
    return isinstance(f, (str, os.PathLike))


def _mmap_wanted(mmap):
    if mmap is not None:
        return bool(mmap)
    config = sys.modules.get("torch.utils.serialization")
    try:
        return bool(config.config.load.mmap)
    except AttributeError:
        return False


def _load_mapped(fd, name, call):
    """torch maps a zip's storages itself, by path. It gets the path of a
    sealed memfd holding the bytes that were scanned: nothing can change
    them after the verdict, and the storages map those pages instead of
    being copied a second time."""
    memfd, size = sealed_copy(fd, name)
    try:
        buffer = _mmap.mmap(memfd, size, prot=_mmap.PROT_READ) if size else b""
        snapshot = Snapshot(buffer, size, name)
        try:
            check_snapshot(snapshot)
        finally:
            snapshot.close()
        with state.inside_guarded_load():
            return call(f"/proc/self/fd/{memfd}", mmap=True)
    finally:
        os.close(memfd)


def _shared_mappings():
    serialization = sys.modules.get("torch.serialization")
    get = getattr(serialization, "get_default_mmap_options", None)
    return get is not None and get() == _mmap.MAP_SHARED


def _refuse_shared_mapping(name):
    if _shared_mappings():
        raise GuardError(
            f"{name}: torch's mmap options are MAP_SHARED, which writes tensors back to the "
            "file; the guard maps a sealed snapshot of what it scanned, which cannot be "
            "written. Load with MAP_PRIVATE (the default) or inside safepickle.unguarded().",
            where=name,
        )


def _is_zip(fd):
    return os.pread(fd, 4, os.lseek(fd, 0, os.SEEK_CUR)) == _ZIP_MAGIC


def _zip_holes(fd, name):
    """A zip's snapshot with holes (zip_payloads.py), or None."""
    return with_holes(fd, name) if _is_zip(fd) else None


def make_load(original):
    @wraps_loader(original)
    def load(*args, **kwargs):
        bound = bound_arguments(original, args, kwargs)
        f = bound.arguments["f"]

        def call(source, **overrides):
            bound.arguments["f"] = source
            bound.arguments.update(overrides)
            return original(*bound.args, **bound.kwargs)

        if state.passes_through():
            return call(f)
        if _is_path(f):
            if os.fsdecode(f).endswith(".safetensors"):
                # torch hands these to safetensors, which holds no pickle.
                return call(f)
            mmap = bound.arguments.get("mmap")
            fd = os.open(f, os.O_RDONLY | os.O_CLOEXEC)
            try:
                # mmap=True maps the storages by path: a sealed copy's.
                if _mmap_wanted(mmap):
                    _refuse_shared_mapping(os.fsdecode(f))
                    return _load_mapped(fd, os.fsdecode(f), call)
                if _is_zip(fd):
                    # The storages' insides are read from fd at load time.
                    snapshot = read_zip(fd, os.fsdecode(f))
                else:
                    snapshot = read_fd(fd, os.fsdecode(f))
                reader = ScannedReader(snapshot)
                try:
                    check_snapshot(reader.snapshot)
                    with state.inside_guarded_load():
                        return call(reader)
                finally:
                    reader.close()
            finally:
                os.close(fd)
        reader, start = scanned_file(f, plan_holes=_zip_holes)
        try:
            with state.inside_guarded_load():
                return call(reader)
        finally:
            sync_position(f, start, reader)
            reader.close()

    return load


def patches(torch):
    import torch.serialization as serialization

    original = serialization.load
    guarded = make_load(original_of(original))
    return [(torch, "load", guarded), (serialization, "load", guarded)]
