"""sp_npy against numpy.lib.format on the same bytes.

Whatever numpy accepts must parse to the same shape, fortran_order and
object-ness; whatever it rejects must be flagged NPY_BAD_HEADER."""

import io
import struct

import numpy as np
import pytest
from numpy.lib import format as npformat

import safepickle._native as native

from .conftest import corpus_root_or_fail, read_manifest


def numpy_header(data):
    """(shape, fortran_order, dtype) as numpy reads them, or None."""
    f = io.BytesIO(data)
    try:
        version = npformat.read_magic(f)
        if version == (1, 0):
            return npformat.read_array_header_1_0(f, max_header_size=1 << 30)
        if version == (2, 0):
            return npformat.read_array_header_2_0(f, max_header_size=1 << 30)
        if version == (3, 0):
            # numpy has no public reader for 3.0; its private one is the
            # code np.load runs.
            from numpy.lib import _format_impl
            return _format_impl._read_array_header(f, version, max_header_size=1 << 30)
        return None
    except Exception:
        return None


def check_same_as_numpy(data):
    ours = native._npy_header(data)
    theirs = numpy_header(data)
    if theirs is None:
        assert not ours["ok"], ours
        assert ours["anomalies"] == ["NPY_BAD_HEADER"]
        assert not ours["has_object"]
        return ours
    shape, fortran, dtype = theirs
    assert ours["ok"], ours["error"]
    assert ours["shape"] == tuple(int(x) for x in shape)
    assert ours["fortran_order"] == fortran
    assert ours["has_object"] == dtype.hasobject, (ours, dtype)
    if not dtype.hasobject:
        assert ours["object_certain"]
        if ours["itemsize"] is not None:
            assert ours["itemsize"] == dtype.itemsize
        assert ours["anomalies"] == []
    else:
        assert ours["anomalies"] == ["NPY_OBJECT"]
    return ours


def saved(array, version=None):
    f = io.BytesIO()
    npformat.write_array(f, array, version=version, allow_pickle=True)
    return f.getvalue()


DTYPES = [
    np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64,
    np.float16, np.float32, np.float64, np.longdouble, np.complex64, np.complex128,
    np.clongdouble, "S7", "U5", "V3", "M8[ns]", "m8[s]", ">i4", ">f8", "<U1",
    [("a", "<i4"), ("b", ">f8", (2, 3))],
    [("a", "u1"), ("pad", "V3"), ("s", "S4")],
    [("x", [("y", "<f4"), ("z", "i2", 4)])],
    object,
    [("a", "<i4"), ("o", "O")],
    [("nested", [("inner", "O", (2,))])],
    np.dtype({"names": ["a", "b"], "formats": ["<i4", "<f8"], "offsets": [0, 8],
              "itemsize": 24}),
    np.dtype({"names": ["a"], "formats": ["O"], "titles": ["title"]}),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("version", [None, (1, 0), (2, 0), (3, 0)])
@pytest.mark.parametrize("shape,order", [((3,), "C"), ((2, 3), "F"), ((), "C"), ((0, 5), "C")])
def test_numpy_save_parses_like_numpy(dtype, version, shape, order):
    arr = np.zeros(shape, dtype=dtype, order=order)
    data = saved(arr, version)
    ours = check_same_as_numpy(data)
    assert ours["data_offset"] == len(data) - (0 if arr.dtype.hasobject else arr.nbytes) or (
        arr.dtype.hasobject)
    assert ours["pickle_runs"] == arr.dtype.hasobject
    if arr.dtype.hasobject:
        # What follows the header is the pickle np.load runs.
        assert data[ours["data_offset"]] == 0x80


def test_large_shapes_and_versions():
    # A header too large for version 1.0 makes numpy pick 2.0 by itself.
    names = [("f%d" % i, "<i4") for i in range(8000)]
    data = saved(np.zeros(2, dtype=names))
    assert data[6:8] == b"\x02\x00"
    ours = check_same_as_numpy(data)
    assert ours["header_chars_over_default"]
    # Unicode field names need 3.0.
    data = saved(np.zeros(1, dtype=[("名前", "<f8"), ("o", "O")]))
    assert data[6:8] == b"\x03\x00"
    check_same_as_numpy(data)
    # Large shapes are only numbers in the header.
    header = {"descr": "<f8", "fortran_order": False, "shape": (2**40, 3, 0)}
    f = io.BytesIO()
    npformat.write_array_header_1_0(f, header)
    ours = check_same_as_numpy(f.getvalue())
    assert ours["count"] == 0


def raw_npy(text, version=(1, 0), encoding="latin1"):
    body = text.encode(encoding) if isinstance(text, str) else text
    if version == (1, 0):
        head = struct.pack("<H", len(body))
    else:
        head = struct.pack("<I", len(body))
    return b"\x93NUMPY" + bytes(version) + head + body


ODD_HEADERS = [
    # spelling of the object dtype
    "{'descr': 'O', 'fortran_order': False, 'shape': (1,)}",
    "{'descr': '<O', 'fortran_order': False, 'shape': (1,)}",
    "{'descr': '>O8', 'fortran_order': False, 'shape': (1,)}",
    "{'descr': 'object', 'fortran_order': False, 'shape': (1,)}",
    "{'descr': 'i4,O', 'fortran_order': False, 'shape': (1,)}",
    "{'descr': 'i4, (2,)O', 'fortran_order': False, 'shape': (1,)}",
    "{'descr': 'T', 'fortran_order': False, 'shape': (1,)}",
    "{'descr': ('O', (2,)), 'fortran_order': False, 'shape': (1,)}",
    "{'descr': [['a', '|O']], 'fortran_order': False, 'shape': (1,)}",
    "{'descr': [(('t', 'a'), 'O')], 'fortran_order': False, 'shape': (1,)}",
    "{'descr': [('a', [('b', [('c', 'O')])])], 'fortran_order': False, 'shape': (1,)}",
    "{'descr': '\\x4f', 'fortran_order': False, 'shape': (1,)}",
    "{'descr': '\\u004f', 'fortran_order': False, 'shape': (1,)}",
    "{'descr': 'O' '', 'fortran_order': False, 'shape': (1,)}",
    "{'descr': r'O', 'fortran_order': False, 'shape': (1,)}",
    "{'descr': '''O''', 'fortran_order': False, 'shape': (1,)}",
    "{'descr': '<f8', 'descr': '|O', 'fortran_order': False, 'shape': (1,)}",
    "{'descr': '|O', 'descr': '<f8', 'fortran_order': False, 'shape': (1,)}",
    # layout
    "{'shape': (1,), 'fortran_order': True, 'descr': '<i2'}",
    "{ 'descr' : '<i2' ,\n 'fortran_order' : False , 'shape' : ( 3 , ) , }" + " " * 20 + "\n",
    "  {'descr': '<i2', 'fortran_order': False, 'shape': (3,)}  # comment\n",
    "{'descr': '<i2', # why\n 'fortran_order': False, 'shape': (3,),}\n",
    "{\"descr\": \"<i2\", \"fortran_order\": False, \"shape\": (3, 4,)}",
    "{'descr': '<i2', 'fortran_order': False, 'shape': (True, 0x2, 0o3, 0b1, 1_0)}",
    "{'descr': '<i2', 'fortran_order': False, 'shape': (-1, +2)}",
    "{'descr': '<i2', 'fortran_order': False, 'shape': ((3),)}",
    "{'descr': '<i2', 'fortran_order': False, 'shape': ()}",
    "{'descr': [], 'fortran_order': False, 'shape': (2,)}",
    "{'descr': '<i2', 'fortran_order': False, 'shape': (3L, 4L)}",
    # rejected by numpy
    "{'descr': '<i2', 'fortran_order': False, 'shape': [3]}",
    "{'descr': '<i2', 'fortran_order': 0, 'shape': (3,)}",
    "{'descr': '<i2', 'fortran_order': False}",
    "{'descr': '<i2', 'fortran_order': False, 'shape': (3,), 'extra': 1}",
    "{'descr': '<i2', 'fortran_order': False, 'shape': (3.0,)}",
    "{'descr': '<i2', 'fortran_order': False, 'shape': (03,)}",
    "{'descr': '<i2', 'fortran_order': False, 'shape': (--3,)}",
    "{'descr': '<i2', 'fortran_order': False, 'shape': (3,)",
    "{'descr': '<i2', 'fortran_order': False, 'shape': (3,)} x",
    "{'descr': '<i2', 'fortran_order': false, 'shape': (3,)}",
    "{'descr': b'<i2', 'fortran_order': False, 'shape': (3,)}",
    "{'descr': 3, 'fortran_order': False, 'shape': (3,)}",
    "{'descr': '<i2', 'fortran_order': False, 'shape': (3,), [1]: 2}",
    "[('descr', '<i2')]",
    "{'descr': 'O' b'', 'fortran_order': False, 'shape': (1,)}",
    "{'descr': f'O', 'fortran_order': False, 'shape': (1,)}",
    "{'descr': '\\x4', 'fortran_order': False, 'shape': (1,)}",
    "{'descr': 'O', 'fortran_order': False, 'shape': (1,)}\0",
    "{'descr': 'O', 'fortran_order': False, 'shape': (1L,)}",
]


@pytest.mark.parametrize("text", ODD_HEADERS)
@pytest.mark.parametrize("version", [(1, 0), (2, 0), (3, 0)])
def test_odd_headers_as_numpy_reads_them(text, version):
    encoding = "utf8" if version == (3, 0) else "latin1"
    check_same_as_numpy(raw_npy(text, version, encoding))


def test_py2_long_suffix_only_before_3_0():
    text = "{'descr': '<i2', 'fortran_order': False, 'shape': (3L, 4L)}"
    ours = check_same_as_numpy(raw_npy(text, (1, 0)))
    assert ours["py2_long_suffix"] and ours["shape"] == (3, 4)
    assert not native._npy_header(raw_npy(text, (3, 0)))["ok"]


def test_bad_magic_version_and_truncation():
    good = saved(np.arange(3))
    for data in (b"", b"\x93NUMP", b"\x93NUMPZ\x01\x00" + good[8:], b"\x93NUMPY\x04\x00" + good[8:],
                 b"\x93NUMPY\x01\x01" + good[8:], good[:9], good[:20]):
        ours = check_same_as_numpy(data)
        assert not ours["ok"]
    # Invalid UTF-8 in a 3.0 header; the same bytes are fine as latin1.
    text = "{'descr': '<i2', 'fortran_order': False, 'shape': (3,)} #\xff\n"
    assert not native._npy_header(raw_npy(text.encode("latin1"), (3, 0)))["ok"]
    check_same_as_numpy(raw_npy(text.encode("latin1"), (1, 0)))


def test_nesting_is_capped_without_crashing():
    deep = "{'descr': " + "[" * 100000 + "]" * 100000 + ", 'fortran_order': False, 'shape': ()}"
    ours = native._npy_header(raw_npy(deep, (2, 0)))
    assert ours["status"] != "ok"
    assert numpy_header(raw_npy(deep, (2, 0))) is None


def test_corpus_npy_files(corpus_root):
    rows = [r for r in read_manifest(corpus_root_or_fail()) if r["format"] in ("npy", "npy(object)")]
    assert len(rows) >= 70
    objects = 0
    for row in rows:
        data = (corpus_root / row["path"]).read_bytes()  # bytes only: never loaded
        ours = native._npy_header(data)
        assert ours["ok"], (row["path"], ours["error"])
        assert ours["has_object"] == (row["format"] == "npy(object)"), row["path"]
        theirs = numpy_header(data)
        assert theirs is not None and theirs[2].hasobject == ours["has_object"]
        assert ours["shape"] == tuple(theirs[0])
        objects += ours["has_object"]
    print("corpus npy files:", len(rows), "object arrays:", objects)
