"""sp_decompress against Python's decompressors and joblib's own readers.

The output must be exactly the byte stream the loader's unpickler reads;
caps must stop bombs early with bounded memory; broken streams must come
back as an error together with the prefix that decoded before the fault."""

import bz2
import gzip
import io
import lzma
import os
import pickle
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import joblib
import lz4.frame
import pytest
from joblib import numpy_pickle_compat
from joblib.compressor import _COMPRESSORS
from joblib.numpy_pickle_utils import _validate_fileobject_and_memmap

import safepickle._native as native

from .conftest import corpus_root_or_fail, read_manifest

PAYLOAD = pickle.dumps({"weights": list(range(5000)), "name": "model" * 100}, protocol=4)
PICKLE_FIRST_BYTES = set(b"\x80(}]).KJMNFIGSVXTUBCcdegijlopqrsatu\x8c\x95\x88\x89\x8a\x8b")


def decompress(codec, data, **caps):
    return native._decompress(codec, data, **caps)


def joblib_stream(path):
    """What joblib's unpickler reads from a file, through joblib itself."""
    with open(path, "rb") as f:
        with _validate_fileobject_and_memmap(f, str(path)) as (fobj, _):
            if isinstance(fobj, str):
                with open(fobj, "rb") as raw:
                    return numpy_pickle_compat.read_zfile(raw)
            return fobj.read()


# ---- round trips against the standard library ------------------------------

STDLIB = [
    ("zlib", lambda d: zlib.compress(d, 6)),
    ("gzip", lambda d: gzip.compress(d, 6)),
    ("gzip-stdlib", lambda d: gzip.compress(d, 6)),
    ("bz2", lambda d: bz2.compress(d, 9)),
    ("xz", lambda d: lzma.compress(d)),
    ("xz", lambda d: lzma.compress(d, check=lzma.CHECK_NONE)),
    ("lzma", lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE)),
    ("lz4", lambda d: lz4.frame.compress(d)),
    ("lz4", lambda d: lz4.frame.compress(d, content_checksum=True, block_checksum=True)),
]


@pytest.mark.parametrize("codec,compress", STDLIB)
@pytest.mark.parametrize("size", [0, 1, 1000, 300_000])
def test_round_trip(codec, compress, size):
    data = (PAYLOAD * (size // len(PAYLOAD) + 1))[:size]
    out, anomalies, error = decompress(codec, compress(data))
    assert out == data
    assert anomalies == [] and error is None


def test_detect_codec_follows_joblib_order():
    assert native._detect_codec(zlib.compress(b"x")) == "zlib"
    assert native._detect_codec(gzip.compress(b"x")) == "gzip"
    assert native._detect_codec(bz2.compress(b"x")) == "bz2"
    assert native._detect_codec(lzma.compress(b"x")) == "xz"
    assert native._detect_codec(lzma.compress(b"x", format=lzma.FORMAT_ALONE)) == "lzma"
    assert native._detect_codec(lz4.frame.compress(b"x")) == "lz4"
    assert native._detect_codec(b"\x28\xb5\x2f\xfd\x00") == "zstd"
    assert native._detect_codec(b"ZF0x10") == "zf"
    # joblib looks at one byte for zlib and at "BZ" only for bz2.
    assert native._detect_codec(b"x") == "zlib"
    assert native._detect_codec(b"BZ") == "bz2"
    assert native._detect_codec(pickle.dumps(1)) is None
    assert native._detect_codec(b"") is None
    assert native._detect_codec(b"\xfd7zX") is None  # shorter than the xz magic


# ---- joblib.dump with every compressor it has --------------------------------

@pytest.mark.parametrize("method", sorted(_COMPRESSORS))
@pytest.mark.parametrize("level", [1, 3, 9])
def test_joblib_dump_matches_joblib_reader(tmp_path, method, level):
    obj = {"a": list(range(20000)), "b": "text" * 1000, "c": [1.5] * 300}
    path = tmp_path / ("model.pkl." + method)
    joblib.dump(obj, path, compress=(method, level))
    raw = path.read_bytes()
    expected = joblib_stream(path)
    codec = native._detect_codec(raw)
    assert codec == {"zlib": "zlib", "gzip": "gzip", "bz2": "bz2", "lzma": "lzma",
                     "xz": "xz", "lz4": "lz4"}[method]
    out, anomalies, error = decompress(codec, raw)
    assert out == expected
    assert anomalies == [] and error is None
    assert pickle.loads(out) == obj


def test_joblib_numpy_arrays_interleaved(tmp_path):
    np = pytest.importorskip("numpy")
    obj = {"x": np.arange(100000, dtype=np.float64), "o": np.array([1, "a"], dtype=object)}
    for method in ("zlib", "gzip", "bz2", "xz", "lzma", "lz4"):
        path = tmp_path / ("arr." + method)
        joblib.dump(obj, path, compress=(method, 3))
        raw = path.read_bytes()
        out, anomalies, error = decompress(native._detect_codec(raw), raw)
        assert out == joblib_stream(path), method
        assert error is None


# ---- caps ---------------------------------------------------------------------

def _bomb(codec):
    chunk = bytes(1 << 20)
    if codec == "zlib":
        c = zlib.compressobj(9)
        return b"".join([c.compress(chunk) for _ in range(1024)] + [c.flush()])
    # Ten streams of 100 MiB back to back are read as one file of 1000 MiB
    # by BZ2File and LZMAFile, and build ten times faster.
    if codec == "bz2":
        c = bz2.BZ2Compressor(9)
    else:
        c = lzma.LZMACompressor(preset=0)
    one = b"".join([c.compress(chunk) for _ in range(100)] + [c.flush()])
    return one * 10


BOMB_SCRIPT = textwrap.dedent("""
    import resource, sys
    import safepickle._native as native
    codec, path, max_out = sys.argv[1], sys.argv[2], int(sys.argv[3])
    data = open(path, "rb").read()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out, anomalies, error = native._decompress(codec, data, max_out=max_out or None)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(len(out), ",".join(anomalies), (after - before) * 1024, out.count(0) == len(out))
""")


@pytest.mark.parametrize("codec,max_out,cap,anomaly", [
    ("zlib", 64 << 20, 64 << 20, "DECOMPRESS_SIZE"),
    ("bz2", 0, 64 << 20, "DECOMPRESS_RATIO"),  # the ratio floor
    ("xz", 0, 64 << 20, "DECOMPRESS_RATIO"),
])
def test_bomb_stops_at_cap_with_bounded_memory(tmp_path, codec, max_out, cap, anomaly):
    bomb = tmp_path / ("bomb." + codec)
    bomb.write_bytes(_bomb(codec))
    if anomaly == "DECOMPRESS_RATIO":
        cap = max(cap, 1000 * bomb.stat().st_size)
    assert cap < 1000 << 20
    proc = subprocess.run([sys.executable, "-c", BOMB_SCRIPT, codec, str(bomb), str(max_out)],
                          capture_output=True, text=True, timeout=300,
                          cwd=str(Path(__file__).resolve().parent.parent))
    assert proc.returncode == 0, proc.stderr
    n, anomalies, grown, zeros = proc.stdout.split()
    assert int(n) == cap
    assert anomalies.split(",") == [anomaly]
    assert zeros == "True"
    # The output buffer, its bytes copy and decoder state; never the 1 GB.
    assert int(grown) < 3 * cap + (64 << 20)


def test_ratio_cap_and_size_cap_arguments():
    data = bytes(10 << 20)
    comp = bz2.compress(data)
    out, anomalies, error = decompress("bz2", comp, max_ratio=1000, ratio_floor=1 << 20)
    assert len(out) == max(1 << 20, 1000 * len(comp))
    assert anomalies == ["DECOMPRESS_RATIO"] and "cap" in error
    out, anomalies, error = decompress("bz2", comp, max_out=12345)
    assert len(out) == 12345 and anomalies == ["DECOMPRESS_SIZE"]
    # Exactly at the cap is not over it.
    out, anomalies, error = decompress("bz2", comp, max_out=len(data))
    assert out == data and anomalies == [] and error is None


# ---- broken streams ------------------------------------------------------------

def python_read(codec, data):
    """The reader the loader uses: (bytes, raised)."""
    from joblib.compressor import BinaryGzipFile, BinaryZlibFile
    opener = {
        "zlib": lambda f: BinaryZlibFile(f, "rb"),
        "gzip": lambda f: BinaryGzipFile(f, "rb"),
        "gzip-stdlib": lambda f: gzip.GzipFile(fileobj=f),
        "bz2": lambda f: bz2.BZ2File(f),
        "xz": lambda f: lzma.LZMAFile(f),
        "lzma": lambda f: lzma.LZMAFile(f),
        "lz4": lambda f: lz4.frame.LZ4FrameFile(f),
    }[codec]
    reader = opener(io.BytesIO(data))
    got = []
    try:
        while True:
            chunk = reader.read(4096)
            if not chunk:
                return b"".join(got), False
            got.append(chunk)
    except Exception:
        return b"".join(got), True


@pytest.mark.parametrize("codec,compress", STDLIB)
def test_truncated_stream_gives_prefix_and_error(codec, compress):
    data = PAYLOAD * 20
    comp = compress(data)
    for cut in (len(comp) // 2, len(comp) - 1):
        out, anomalies, error = decompress(codec, comp[:cut])
        assert "DECOMPRESS_ERROR" in anomalies
        assert error
        # The prefix holds everything a streaming reader handed over
        # before it failed (joblib's zlib reader does not even fail).
        expected, _ = python_read(codec, comp[:cut])
        assert out.startswith(expected) and data.startswith(out)


def test_truncated_prefix_matches_python_reader():
    data = os.urandom(200_000)
    comp = zlib.compress(data)
    d = zlib.decompressobj()
    expected = d.decompress(comp[:50_000])
    out, anomalies, error = decompress("zlib", comp[:50_000])
    assert out == expected and len(out) > 0 and anomalies == ["DECOMPRESS_ERROR"]
    assert "end-of-stream" in error


@pytest.mark.parametrize("codec,compress", STDLIB)
@pytest.mark.parametrize("where", [0.3, 0.5, 0.9])
def test_corrupt_stream_as_the_reader_sees_it(codec, compress, where):
    data = os.urandom(50_000) + PAYLOAD
    comp = bytearray(compress(data))
    mid = int(len(comp) * where)
    for i in range(mid, mid + 16):
        comp[i] ^= 0x55
    comp = bytes(comp)
    out, anomalies, error = decompress(codec, comp)
    expected, raised = python_read(codec, comp)
    if raised:
        assert "DECOMPRESS_ERROR" in anomalies and error
        assert out.startswith(expected)
    else:
        # Nothing in the stream lets the reader notice (lz4 without a
        # checksum): the same bytes, decoded the same way.
        assert out == expected and error is None


def test_gzip_crc_mismatch_is_an_error():
    comp = bytearray(gzip.compress(PAYLOAD))
    comp[-8] ^= 1
    for codec in ("gzip", "gzip-stdlib"):
        out, anomalies, error = decompress(codec, bytes(comp))
        assert anomalies == ["DECOMPRESS_ERROR"], codec
        with pytest.raises(Exception):
            gzip.decompress(bytes(comp))


def test_multi_member_gzip():
    one, two = gzip.compress(b"first "), gzip.compress(b"second")
    multi = one + two + b"\0" * 7
    # Python's gzip module reads every member and skips NUL padding.
    out, anomalies, error = decompress("gzip-stdlib", multi)
    assert out == gzip.GzipFile(fileobj=io.BytesIO(multi)).read() == b"first second"
    assert anomalies == [] and error is None
    # joblib's reader stops after one member and cannot get past the rest.
    out, anomalies, error = decompress("gzip", multi)
    assert out == b"first " and anomalies == ["DECOMPRESS_TRAILING"] and error is None
    # Garbage after members: gzip raises only when it gets there.
    out, anomalies, error = decompress("gzip-stdlib", one + b"junk")
    assert out == b"first " and anomalies == ["DECOMPRESS_TRAILING"]
    # A second member cut short is an error, with both prefixes kept.
    out, anomalies, error = decompress("gzip-stdlib", one + two[:15])
    assert out.startswith(b"first ") and anomalies == ["DECOMPRESS_ERROR"]
    with pytest.raises(EOFError):
        gzip.GzipFile(fileobj=io.BytesIO(one + two[:15])).read()


def test_gzip_header_fields_and_flags():
    body = zlib.compressobj(6, zlib.DEFLATED, -15)
    deflated = body.compress(PAYLOAD) + body.flush()
    trailer = zlib.crc32(PAYLOAD).to_bytes(4, "little") + len(PAYLOAD).to_bytes(4, "little")
    header = (b"\x1f\x8b\x08" + bytes([4 | 8 | 16 | 2]) + bytes(6)
              + (3).to_bytes(2, "little") + b"xyz" + b"name\0" + b"comment\0")
    hcrc = (zlib.crc32(header) & 0xFFFF).to_bytes(2, "little")
    member = header + hcrc + deflated + trailer
    assert gzip.decompress(member) == PAYLOAD
    for codec in ("gzip", "gzip-stdlib"):
        out, anomalies, error = decompress(codec, member)
        assert out == PAYLOAD and anomalies == [], codec
    # A reserved flag bit: zlib (joblib) rejects it, the gzip module does not.
    odd = bytearray(member)
    odd[3] |= 0x20
    assert gzip.decompress(bytes(odd)) == PAYLOAD
    out, anomalies, _ = decompress("gzip-stdlib", bytes(odd))
    assert out == PAYLOAD and anomalies == []
    out, anomalies, _ = decompress("gzip", bytes(odd))
    assert anomalies == ["DECOMPRESS_ERROR"]
    with pytest.raises(zlib.error):
        zlib.decompress(bytes(odd), 31)


def test_multi_stream_rules_of_decompress_reader():
    b = bz2.compress(b"hi")
    # Another stream is read; garbage that fails at once is ignored;
    # a stream cut short raises.
    assert decompress("bz2", b + b)[0:2] == (b"hihi", [])
    assert decompress("bz2", b + b"junk")[0:2] == (b"hi", ["DECOMPRESS_TRAILING"])
    assert decompress("bz2", b + b"\0")[0:2] == (b"hi", ["DECOMPRESS_TRAILING"])
    assert bz2.BZ2File(io.BytesIO(b + b"junk")).read() == b"hi"
    out, anomalies, _ = decompress("bz2", b + b"BZh9")
    assert out == b"hi" and anomalies == ["DECOMPRESS_ERROR"]
    with pytest.raises(EOFError):
        bz2.BZ2File(io.BytesIO(b + b"BZh9")).read()
    # LZMAFile (FORMAT_AUTO) reads .xz and .lzma streams in any mix, and
    # fails on xz stream padding (it looks like an lzma-alone header).
    x = lzma.compress(b"x")
    a = lzma.compress(b"a", format=lzma.FORMAT_ALONE)
    assert decompress("lzma", a + x)[0:2] == (b"ax", [])
    assert decompress("xz", x + b"junk")[0:2] == (b"x", ["DECOMPRESS_TRAILING"])
    assert decompress("xz", x + b"\0" * 4)[1] == ["DECOMPRESS_ERROR"]
    with pytest.raises(EOFError):
        lzma.LZMAFile(io.BytesIO(x + b"\0" * 4)).read()
    f = lz4.frame.compress(b"y")
    assert decompress("lz4", f + f)[0:2] == (b"yy", [])


def test_zlib_trailing_bytes():
    comp = zlib.compress(PAYLOAD)
    out, anomalies, error = decompress("zlib", comp + b"tail")
    assert out == PAYLOAD and anomalies == ["DECOMPRESS_TRAILING"] and error is None


def test_empty_and_garbage_input():
    for codec in ("zlib", "gzip", "bz2", "xz", "lzma", "lz4", "zf"):
        out, anomalies, error = decompress(codec, b"")
        assert out == b"" and anomalies == ["DECOMPRESS_ERROR"], codec
        out, anomalies, error = decompress(codec, b"not compressed at all" * 10)
        assert anomalies == ["DECOMPRESS_ERROR"] and error, codec
    # gzip.decompress(b"") is b"": an empty member list.
    assert decompress("gzip-stdlib", b"")[0:2] == (b"", [])
    with pytest.raises(ValueError):
        decompress("rar", b"x")


# ---- joblib's legacy ZF files ---------------------------------------------------

def _zfile(data, space=False, length=None):
    buf = io.BytesIO()
    numpy_pickle_compat.write_zfile(buf, data)
    raw = buf.getvalue()
    if length is not None:
        raw = b"ZF" + length.ljust(19) + raw[21:]
    if space:
        raw = raw[:21] + b" " + raw[21:]
    return raw


def test_zf_written_by_joblib():
    raw = _zfile(PAYLOAD)
    assert raw[:4] == b"ZF0x" and len(raw) > 21
    assert native._detect_codec(raw) == "zf"
    expected = numpy_pickle_compat.read_zfile(io.BytesIO(raw))
    out, anomalies, error = decompress("zf", raw)
    assert out == expected == PAYLOAD and anomalies == [] and error is None
    # joblib <= 0.8.4 on Python 2 wrote one more space before the data.
    spaced = _zfile(PAYLOAD, space=True)
    assert numpy_pickle_compat.read_zfile(io.BytesIO(spaced)) == PAYLOAD
    assert decompress("zf", spaced)[0:2] == (PAYLOAD, [])


@pytest.mark.parametrize("field,accepted", [
    (b"0x%x" % len(PAYLOAD), True),
    (b"%x" % len(PAYLOAD), True),
    (b"  0X%X " % len(PAYLOAD), True),
    (b"+0x_%x" % len(PAYLOAD), True),
    (b"0x%x" % (len(PAYLOAD) + 1), False),  # joblib asserts the length
    (b"-0x5", False),
    (b"zz", False),
    (b"0x1__0", False),
])
def test_zf_length_field_as_python_int(field, accepted):
    raw = _zfile(PAYLOAD, length=field)
    try:
        numpy_pickle_compat.read_zfile(io.BytesIO(raw))
        joblib_ok = True
    except (ValueError, AssertionError, OverflowError, zlib.error):
        joblib_ok = False
    assert joblib_ok == accepted
    out, anomalies, error = decompress("zf", raw)
    assert (anomalies == []) == accepted
    if not accepted:
        assert anomalies == ["DECOMPRESS_ERROR"] and error


def test_zf_truncated():
    raw = _zfile(PAYLOAD * 10)
    out, anomalies, error = decompress("zf", raw[:-40])
    assert anomalies == ["DECOMPRESS_ERROR"]
    assert (PAYLOAD * 10).startswith(out) and len(out) > 0


# ---- corpus -------------------------------------------------------------------------

def _corpus_rows():
    root = corpus_root_or_fail()
    rows = [r for r in read_manifest(root)
            if r["format"].startswith("joblib-") or r["format"] == "gzip-compressed pickle"]
    return root, rows


def test_corpus_compressed_files_decompress(record_property):
    root, rows = _corpus_rows()
    assert len(rows) > 100
    counts = {}
    compressed = 0
    for row in rows:
        data = (root / row["path"]).read_bytes()  # bytes only: never loaded
        fmt = row["format"]
        codec = native._detect_codec(data)
        if fmt.startswith("joblib-raw"):
            assert codec is None, row["path"]
            continue
        compressed += 1
        # ZF companions of joblib < 0.10 hold raw array bytes, not a pickle.
        companion = row["path"].endswith(".npy.z")
        if fmt == "gzip-compressed pickle":
            assert codec == "gzip"
            codec = "gzip-stdlib"
        expected_codec = {"joblib-zlib-legacyZF": "zf"}.get(fmt, fmt[len("joblib-"):])
        if fmt != "gzip-compressed pickle":
            assert codec == expected_codec, row["path"]
        out, anomalies, error = decompress(codec, data)
        assert error is None and anomalies == [], (row["path"], anomalies, error)
        assert out, row["path"]
        if companion:
            fmt += " (array companion)"
        else:
            assert out[0] in PICKLE_FIRST_BYTES, row["path"]
        counts[fmt] = counts.get(fmt, 0) + 1
    record_property("corpus_decompressed", counts)
    print("corpus files decompressed:", compressed, counts)
    assert compressed == sum(counts.values()) >= 70
