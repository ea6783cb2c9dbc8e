"""torch.load: zip and legacy files, paths and file objects, mmap=True."""

import mmap as _mmap
import os
import sys

from . import state
from .check import check_snapshot, scanned_file, scanned_path, sync_position
from .snapshot import Snapshot, sealed_copy
from .wrapping import bound_arguments, wraps_loader

MODULE = "torch"


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


def _load_mapped(original, f, call):
    """mmap=True needs a path torch maps itself. It gets one to a sealed
    memfd holding the bytes that were scanned: nothing can change them
    after the verdict, and the storages still map instead of copying."""
    name = os.fsdecode(f)
    fd = os.open(f, os.O_RDONLY | os.O_CLOEXEC)
    try:
        memfd, size = sealed_copy(fd, name)
    finally:
        os.close(fd)
    try:
        buffer = _mmap.mmap(memfd, size, prot=_mmap.PROT_READ) if size else b""
        snapshot = Snapshot(buffer, size, name)
        try:
            check_snapshot(snapshot)
        finally:
            snapshot.close()
        with state.inside_guarded_load():
            return call(f"/proc/self/fd/{memfd}")
    finally:
        os.close(memfd)


def make_load(original):
    @wraps_loader(original)
    def load(*args, **kwargs):
        bound = bound_arguments(original, args, kwargs)
        f = bound.arguments["f"]

        def call(source):
            bound.arguments["f"] = source
            return original(*bound.args, **bound.kwargs)

        if state.passes_through():
            return call(f)
        if _is_path(f):
            if os.fsdecode(f).endswith(".safetensors"):
                # torch hands these to safetensors, which holds no pickle.
                return call(f)
            if _mmap_wanted(bound.arguments.get("mmap")):
                return _load_mapped(original, f, call)
            reader, fd = scanned_path(f)
            os.close(fd)
            try:
                with state.inside_guarded_load():
                    return call(reader)
            finally:
                reader.close()
        reader, start = scanned_file(f)
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
    guarded = make_load(getattr(original, "__safepickle_original__", original))
    return [(torch, "load", guarded), (serialization, "load", guarded)]
