"""A compressed joblib file, decompressed once.

joblib.load decompresses the file and unpickles the stream it gets. Scanning
the compressed file would decompress it a second time (for a zlib forest
that is two thirds of the load). Instead the guard decompresses the snapshot
with joblib's own decompressor, exactly as joblib.load would, scans the
stream joblib's unpickler is about to read, and hands the unpickler that
stream: what is unpickled is what was scanned, and nothing is decompressed
twice. The scanner's caps on decompressed size hold here too: past them the
guard scans the compressed file instead, which stops at the same cap.
"""

from .snapshot import read_unsized

MAX_OUTPUT = 4 << 30
RATIO_FLOOR = 64 << 20
MAX_RATIO = 1000


def decompressed(reader, name):
    """A Snapshot of the stream joblib would unpickle from ``reader`` (a
    ScannedReader at the start of the file), or None when the file is not
    compressed, does not decompress, or its output passes the caps."""
    from joblib import numpy_pickle_utils as utils

    compressor = utils._detect_compressor(reader)
    reader.seek(0)
    if compressor not in utils._COMPRESSORS:
        return None
    stream = utils._buffered_read_file(utils._COMPRESSORS[compressor].decompressor_file(reader))
    compressed = max(1, reader.snapshot.size)

    def past_caps(size):
        return size > MAX_OUTPUT or (size > RATIO_FLOOR and size > MAX_RATIO * compressed)

    try:
        return read_unsized(
            stream.readinto, name, capacity=max(1 << 20, 4 * compressed), limit=past_caps
        )
    except Exception:
        # A stream joblib cannot decompress to its end: the scanner reads
        # the compressed file and reports the cut stream itself.
        return None
