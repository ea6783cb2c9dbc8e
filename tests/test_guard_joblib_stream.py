"""The guard's own inflation of zlib and gzip joblib files: the stream it
scans and hands the unpickler is the one joblib's decompressor produces, and
anything that is not exactly one clean stream is left to joblib's
decompressor (and so to the scanner), never inflated differently."""

import io
import zlib

import joblib
import numpy as np
import pytest
from joblib import compressor

from safepickle.guard import joblib_stream
from safepickle.guard.reader import ScannedReader
from safepickle.guard.snapshot import from_bytes


def _dumped(compress, value=None):
    buffer = io.BytesIO()
    value = {"w": np.arange(300_000, dtype=np.int64), "name": "model"} if value is None else value
    joblib.dump(value, buffer, compress=compress)
    return buffer.getvalue()


def _joblib_stream(data, factory):
    return factory(io.BytesIO(data), "rb").read()


def _no_caps(size):
    return False


@pytest.mark.parametrize(
    "compress, factory",
    [(3, compressor.BinaryZlibFile), (("gzip", 3), compressor.BinaryGzipFile)],
    ids=["zlib", "gzip"],
)
def test_inflated_stream_is_joblibs_stream(compress, factory):
    data = _dumped(compress)
    expected = _joblib_stream(data, factory)
    inflated = joblib_stream._inflate(from_bytes(data), factory.wbits, "f", _no_caps)
    assert inflated is not None and inflated.size == len(expected) > len(data)
    assert bytes(inflated.view()) == expected
    stream = joblib_stream.decompressed(ScannedReader(from_bytes(data)), "f")
    assert bytes(stream.view()) == expected


def test_inflation_grows_past_its_first_guess():
    # compresses far better than 4:1, the mapping's first size
    data = _dumped(3, {"zeros": np.zeros(2_000_000)})
    inflated = joblib_stream._inflate(from_bytes(data), 15, "f", _no_caps)
    assert inflated.size > 4 * len(data)
    assert bytes(inflated.view()) == _joblib_stream(data, compressor.BinaryZlibFile)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d[:-7],  # cut before the end of the stream
        lambda d: d + b"trailing bytes",  # more after the end of the stream
        lambda d: d + zlib.compress(b"a second stream"),
        lambda d: d[:40] + bytes(b ^ 0x5A for b in d[40:80]) + d[80:],  # corrupt
    ],
    ids=["cut", "trailing", "second-stream", "corrupt"],
)
def test_anything_but_one_clean_stream_is_not_inflated(damage):
    data = damage(_dumped(3))
    assert joblib_stream._inflate(from_bytes(data), 15, "f", _no_caps) is None


def test_inflation_stops_at_the_caps():
    data = _dumped(3, {"zeros": np.zeros(1 << 23)})  # 64 MiB inflated
    seen = []

    def past_caps(size):
        seen.append(size)
        return size > (1 << 20)

    assert joblib_stream._inflate(from_bytes(data), 15, "f", past_caps) is None
    # stops within one bounded step of the cap, not at the end of the stream
    assert max(seen) <= (1 << 20) + joblib_stream._OUT_CHUNK
    assert max(seen) < 8 * (1 << 23)
