"""numpy.load(allow_pickle=True): .npy object arrays, .npz, raw pickles.

Without allow_pickle numpy never unpickles, and the call is left alone.
.npz members are unpickled lazily, after numpy.load has returned: the whole
archive is scanned up front, and the reader keeps all of it, since members
can be read in any order and more than once.
"""

import os

from . import state
from .check import check_snapshot, scanned_file, sync_position
from .reader import ScannedReader
from .snapshot import read_fd
from .wrapping import bound_arguments, original_of, wraps_loader

MODULE = "numpy"

_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


def _starts_with(reader, prefixes):
    head = reader.read(8)
    reader.seek(0)
    return head.startswith(prefixes)


def make_load(original):
    @wraps_loader(original)
    def load(*args, **kwargs):
        bound = bound_arguments(original, args, kwargs)
        file = bound.arguments["file"]

        def call(source):
            bound.arguments["file"] = source
            return original(*bound.args, **bound.kwargs)

        if state.passes_through() or not bound.arguments.get("allow_pickle"):
            return call(file)
        if hasattr(file, "read"):
            reader, start = scanned_file(file, release=False)
            npz = _starts_with(reader, _ZIP_MAGICS)
            if not npz:
                reader.release_as_read()
            try:
                with state.inside_guarded_load():
                    return call(reader)
            finally:
                if not npz:
                    sync_position(file, start, reader)
                    reader.close()
        name = os.fsdecode(file)
        fd = os.open(file, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if bound.arguments.get("mmap_mode") and os.pread(fd, len(_NPY_MAGIC), 0) == _NPY_MAGIC:
                # numpy maps .npy data by name and never unpickles a mapped
                # array (object dtypes cannot be mapped), whatever the file
                # holds by then: no snapshot needed, and the mapping is of
                # the descriptor opened here, never of a file renamed over.
                mapped = call(f"/proc/self/fd/{fd}")
                mapped.filename = os.path.abspath(name)
                return mapped
            reader = ScannedReader(read_fd(fd, name), release=False)
        finally:
            os.close(fd)
        npz = _starts_with(reader, _ZIP_MAGICS)
        try:
            check_snapshot(reader.snapshot)
            if not npz:
                reader.release_as_read()
            with state.inside_guarded_load():
                return call(reader)
        finally:
            if not npz:
                reader.close()

    return load


def patches(numpy):
    import numpy.lib.npyio as npyio

    original = numpy.load
    original = original_of(original)
    guarded = make_load(original)
    found = [(numpy, "load", guarded), (npyio, "load", guarded)]
    impl = getattr(numpy.lib, "_npyio_impl", None)
    if impl is not None and hasattr(impl, "load"):
        found.append((impl, "load", guarded))
    return found
