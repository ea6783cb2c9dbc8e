"""joblib.load (every compression, mmap_mode) and joblib's NumpyUnpickler.

NumpyUnpickler subclasses pickle._Unpickler at import time and reads array
bytes from its own file_handle, so it is guarded in place, input and
file_handle together, whichever of joblib and the guard came first.
"""

import functools
import os
import threading
import warnings

from ..errors import UnscannableError
from . import state
from .check import check_snapshot, scanned_file, scanned_path, sync_position
from .joblib_arrays import read_joblib_path
from .joblib_stream import decompressed
from .reader import SCANNED_READERS, ScannedReader, buffered
from .wrapping import bound_arguments, original_of, wraps_loader

MODULE = "joblib"

# fd path -> the name the user gave, for the memmaps of the load in progress
# on this thread: their .filename (which joblib's parallel workers reopen)
# must be the file's name, not a descriptor that is closed after the load.
_mapped_names = threading.local()


def _load_mapped(original, numpy_pickle, reader, fd, name, mmap_mode, native):
    """mmap_mode maps array data by file name: the name given is that of
    the descriptor the scanned bytes came from, so a file renamed over the
    path is never mapped; the pickle itself is read from the snapshot."""
    compressor = _compressor(reader, name)
    with state.inside_guarded_load():
        if compressor != "not-compressed":
            warnings.warn(
                f'mmap_mode "{mmap_mode}" is not compatible with compressed file {name}. '
                f'"{mmap_mode}" flag will be ignored.',
                stacklevel=3,
            )
            return original(reader, ensure_native_byte_order=native)
        fd_path = f"/proc/self/fd/{fd}"
        _mapped_names.names = {fd_path: os.path.abspath(name)}
        try:
            return numpy_pickle._unpickle(
                reader, ensure_native_byte_order=native, filename=fd_path, mmap_mode=mmap_mode
            )
        finally:
            _mapped_names.names = {}


def _compressor(reader, name):
    """joblib's name for the file's compression; refuses the joblib < 0.10
    format, which joblib reads from companion files by name."""
    from joblib import numpy_pickle_utils

    compressor = numpy_pickle_utils._detect_compressor(reader)
    reader.seek(0)
    if compressor == "compat":
        raise UnscannableError(
            f"{name}: a joblib < 0.10 file reads companion files by name, "
            "which the guard cannot tie to what it scanned",
            where=name,
        )
    return compressor


def make_load(original, numpy_pickle):
    @wraps_loader(original)
    def load(*args, **kwargs):
        bound = bound_arguments(original, args, kwargs)
        filename = bound.arguments["filename"]

        def call(source):
            bound.arguments["filename"] = source
            return original(*bound.args, **bound.kwargs)

        if state.passes_through():
            return call(filename)
        if isinstance(filename, os.PathLike):
            filename = os.fspath(filename)
        if hasattr(filename, "read"):
            reader, start = scanned_file(filename, release=False, check=False)
            try:
                return _load_checked(original, numpy_pickle, reader, bound, call)
            finally:
                sync_position(filename, start, reader)
                reader.close()
        reader, fd = scanned_path(filename, release=False, check=False, read=read_joblib_path)
        try:
            mmap_mode = bound.arguments.get("mmap_mode")
            if mmap_mode is None:
                return _load_checked(original, numpy_pickle, reader, bound, call)
            check_snapshot(reader.snapshot)
            reader.release_as_read()
            native = bound.arguments.get("ensure_native_byte_order", "auto")
            if native == "auto":
                native = False
            name = os.fsdecode(filename)
            return _load_mapped(original, numpy_pickle, reader, fd, name, mmap_mode, native)
        finally:
            reader.close()
            os.close(fd)

    return load


def _load_checked(original, numpy_pickle, reader, bound, call):
    """Check and load a snapshot without mmap_mode; a compressed one is
    decompressed once, scanned and unpickled as that stream."""
    _compressor(reader, reader.snapshot.name)
    stream = decompressed(reader, reader.snapshot.name)
    if stream is None:
        reader.seek(0)
        reader.release_as_read()
        check_snapshot(reader.snapshot)
        with state.inside_guarded_load(), buffered(reader) as source:
            return call(source)
    with ScannedReader(stream) as inner:
        check_snapshot(stream)
        native = bound.arguments.get("ensure_native_byte_order", "auto")
        if native == "auto":
            native = True
        with state.inside_guarded_load(), buffered(inner) as source:
            return numpy_pickle._unpickle(source, ensure_native_byte_order=native)


def guarded_numpy_unpickler_init(original_init):
    @functools.wraps(original_init)
    def __init__(self, filename, file_handle, *args, **kwargs):
        if not state.passes_through() and not isinstance(file_handle, SCANNED_READERS):
            file_handle, _ = scanned_file(file_handle)
        original_init(self, filename, file_handle, *args, **kwargs)

    __init__.__safepickle_original__ = original_init
    return __init__


def guarded_make_memmap(original):
    @functools.wraps(original)
    def make_memmap(filename, *args, **kwargs):
        marray = original(filename, *args, **kwargs)
        real = getattr(_mapped_names, "names", {}).get(filename)
        if real is not None:
            marray.filename = real
        return marray

    make_memmap.__safepickle_original__ = original
    return make_memmap


def patches(joblib):
    import joblib.numpy_pickle as numpy_pickle

    original = numpy_pickle.load
    original = original_of(original)
    guarded = make_load(original, numpy_pickle)
    unpickler = numpy_pickle.NumpyUnpickler
    init = unpickler.__dict__["__init__"]
    init = original_of(init)
    make_memmap = numpy_pickle.make_memmap
    make_memmap = original_of(make_memmap)
    return [
        (joblib, "load", guarded),
        (numpy_pickle, "load", guarded),
        (unpickler, "__init__", guarded_numpy_unpickler_init(init)),
        (numpy_pickle, "make_memmap", guarded_make_memmap(make_memmap)),
    ]
