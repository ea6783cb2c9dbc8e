"""A compressed joblib file, decompressed once.

joblib.load decompresses the file and unpickles the stream it gets. Scanning
the compressed file would decompress it a second time (for a zlib forest
that is two thirds of the load). Instead the guard decompresses the snapshot
once, scans that stream, and hands joblib's unpickler the same stream: what
is unpickled is what was scanned, and nothing is decompressed twice. Past
the caps of stream_caps.py the guard scans the compressed file instead, and
the scanner's own caps on decompressed size decide.

zlib and gzip files (joblib's BinaryZlibFile family, which feeds the file
to one zlib decompressor) are inflated straight from the snapshot into the
stream's mapping with the wbits joblib uses. joblib's own file object would
reach the same bytes through an 8 KB read, a join and a copy per block, which
costs a fifth of the decompression. A stream that does not end cleanly
(cut, trailing bytes) goes the general way, through joblib's decompressor,
so the stream is never one joblib would not have read.
"""

import zlib

from . import stream_caps
from .snapshot import Snapshot, anonymous, grow, read_unsized

# Compressed input per decompress() call, and the most output one call may
# produce: a bomb never grows the stream further than a cap allows.
_IN_CHUNK = 1 << 20
_OUT_CHUNK = 16 << 20


def decompressed(reader, name):
    """A Snapshot of the stream joblib would unpickle from ``reader`` (a
    ScannedReader at the start of the file), or None when the file is not
    compressed, does not decompress, or its output passes the caps."""
    from joblib import compressor as joblib_compressor
    from joblib import numpy_pickle_utils as utils

    kind = utils._detect_compressor(reader)
    reader.seek(0)
    if kind not in utils._COMPRESSORS:
        return None
    wrapper = utils._COMPRESSORS[kind]
    compressed = max(1, reader.snapshot.size)
    past_caps = stream_caps.limit_for(compressed)

    factory = getattr(wrapper, "fileobj_factory", None)
    if isinstance(factory, type) and issubclass(factory, joblib_compressor.BinaryZlibFile):
        stream = _inflate(reader.snapshot, factory.wbits, name, past_caps)
        if stream is not None:
            return stream
    stream = utils._buffered_read_file(wrapper.decompressor_file(reader))
    try:
        return read_unsized(
            stream.readinto, name, capacity=max(1 << 20, 4 * compressed), limit=past_caps
        )
    except Exception:
        # A stream joblib cannot decompress to its end: the scanner reads
        # the compressed file and reports the cut stream itself.
        return None


def _inflate(source, wbits, name, past_caps):
    """The one zlib stream that fills ``source``, or None when it is not
    exactly that (cut, corrupt, followed by more bytes) or passes the caps."""
    if not source.size:
        return None
    capacity = max(1 << 20, 4 * source.size)
    mm = anonymous(capacity)
    size = 0
    end = 0
    inflater = zlib.decompressobj(wbits)
    try:
        with source.view() as data:
            for start in range(0, source.size, _IN_CHUNK):
                pending = data[start : start + _IN_CHUNK]
                end = start + len(pending)
                while pending:
                    out = inflater.decompress(pending, _OUT_CHUNK)
                    pending = inflater.unconsumed_tail
                    if size + len(out) > capacity:
                        capacity = max(2 * capacity, size + len(out))
                        mm = grow(mm, capacity)
                    mm[size : size + len(out)] = out
                    size += len(out)
                    if past_caps(size):
                        mm.close()
                        return None
                    if inflater.eof:
                        break
                if inflater.eof:
                    break
        if not inflater.eof or inflater.unused_data or end < source.size:
            mm.close()
            return None
        return Snapshot(mm, size, name)
    except zlib.error:
        mm.close()
        return None
    except BaseException:
        mm.close()
        raise
