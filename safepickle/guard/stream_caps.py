"""How far the guard decompresses a file itself (joblib and pandas files,
decompressed once so that the loader reads the stream that was scanned).
Past these caps it leaves the stream alone: the scanner then reads the
compressed file and stops at its own caps on decompressed size."""

MAX_OUTPUT = 4 << 30
RATIO_FLOOR = 64 << 20
MAX_RATIO = 1000


def limit_for(compressed_size):
    """A limit(size) for snapshot.read_unsized: true past the caps for a
    stream that came out of ``compressed_size`` bytes."""
    compressed = max(1, compressed_size)

    def past_caps(size):
        return size > MAX_OUTPUT or (size > RATIO_FLOOR and size > MAX_RATIO * compressed)

    return past_caps
