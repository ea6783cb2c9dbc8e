"""pandas.read_pickle: paths (compression inferred from the name as pandas
does), file objects and URLs, with any compression pandas reads. A
compressed file is decompressed once (pandas_stream.py)."""

import os

from . import state
from .check import check_snapshot, scanned_file, sync_position
from .pandas_stream import decompressed
from .reader import ScannedReader
from .snapshot import read_fd
from .stream_payloads import read_pickle_fd
from .wrapping import bound_arguments, original_of, wraps_loader

MODULE = "pandas"


def _is_local_path(source):
    if isinstance(source, os.PathLike):
        return True
    return isinstance(source, str) and "://" not in source


def make_load(original):
    @wraps_loader(original)
    def read_pickle(*args, **kwargs):
        from pandas.io import common

        bound = bound_arguments(original, args, kwargs)
        source = bound.arguments["filepath_or_buffer"]

        def call(reader, compression):
            bound.arguments["filepath_or_buffer"] = reader
            bound.arguments["compression"] = compression
            bound.arguments["storage_options"] = None
            with state.inside_guarded_load():
                return original(*bound.args, **bound.kwargs)

        if state.passes_through():
            return original(*bound.args, **bound.kwargs)
        source = common.stringify_path(source)
        compression = bound.arguments.get("compression")
        if compression is None or isinstance(compression, str):
            # pandas infers it from the name, which the reader does not have
            compression = common.infer_compression(source, compression)
        fd = None
        if _is_local_path(source):
            fd = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
            try:
                # uncompressed, the payloads may stay in the file: it is
                # open until the load is over
                name = os.fsdecode(source)
                snapshot = read_pickle_fd(fd, name) if compression is None else read_fd(fd, name)
            except BaseException:
                os.close(fd)
                raise
            reader = ScannedReader(snapshot)
            start = None
        elif hasattr(source, "read"):
            reader, start = scanned_file(source, check=False)
        else:
            with common.get_handle(
                source,
                "rb",
                compression=None,
                is_text=False,
                storage_options=bound.arguments.get("storage_options"),
            ) as handles:
                reader, start = scanned_file(handles.handle, check=False)
            start = None
        try:
            stream = decompressed(reader, compression, reader.snapshot.name)
            if stream is None:
                check_snapshot(reader.snapshot)
                return call(reader, compression)
            with ScannedReader(stream) as inner:
                check_snapshot(stream)
                return call(inner, None)
        finally:
            if start is not None:
                sync_position(source, start, reader)
            reader.close()
            if fd is not None:
                os.close(fd)

    return read_pickle


def patches(pandas):
    import pandas.io.pickle as pickle_io

    original = pickle_io.read_pickle
    original = original_of(original)
    guarded = make_load(original)
    return [(pandas, "read_pickle", guarded), (pickle_io, "read_pickle", guarded)]
