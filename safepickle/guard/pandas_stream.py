"""A compressed pandas pickle, decompressed once.

pandas.read_pickle decompresses the file as it unpickles it. Scanning the
compressed file would decompress it a second time: for gzip, bz2 and xz that
roughly doubled the guarded load. Instead the guard decompresses the snapshot
once, through pandas' own get_handle with the compression pandas would use
(so the stream is the one pandas would read, member choice of zip and tar
files included), scans that stream and hands it to pandas with no
compression: what is unpickled is what was scanned. A file that does not
decompress to its end, or whose stream passes the caps of stream_caps.py,
is left compressed: the scanner reads it as it is and pandas raises or loads
as it would have.
"""

from . import stream_caps
from .snapshot import read_unsized


def decompressed(reader, compression, name):
    """A Snapshot of the stream pandas would unpickle from ``reader`` (a
    ScannedReader at the start of the snapshot) with ``compression`` (as
    pandas infers or is given it), or None when there is no compression or
    the stream cannot be taken whole (``reader`` is then back at its
    start; otherwise where the decompressor stopped reading)."""
    if compression is None:
        return None
    from pandas.io import common

    compressed = reader.snapshot.size
    try:
        with common.get_handle(reader, "rb", compression=compression, is_text=False) as handles:
            stream = read_unsized(
                handles.handle.readinto,
                name,
                capacity=max(1 << 20, 4 * compressed),
                limit=stream_caps.limit_for(compressed),
            )
    except Exception:
        # pandas would fail on this file too; the scanner reports it as the
        # compressed file it is
        stream = None
    if stream is None:
        reader.seek(0)
    return stream
