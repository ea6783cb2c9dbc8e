"""The gate of a load that runs while its input is scanned
(csrc/core/sp_progress.h, safepickle/guard/gated.py).

What the gate clears, the real unpickler may run before the verdict: it
must never let it resolve or call anything but numpy's array rebuilds, on
any input. The first tests run _pickle's own Unpickler over exactly the
cleared bytes, with a find_class that refuses everything else; the last
ones load large hostile files behind the guard in a child interpreter with
an audit-hook tripwire.
"""

import collections
import io
import pickle
import pickletools
import warnings

import pytest

import safepickle
from safepickle import _native
from safepickle.errors import UnsafePickleError
from safepickle.guard import gated
from safepickle.guard.snapshot import from_bytes

from . import pickle_gen
from .guard_files import MkdirPayload, run_victim
from .test_differential import corpus_inputs

np = pytest.importorskip("numpy")

REBUILDS = {
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _Escaped(Exception):
    """The loader reached something the gate must hold back."""


class _PrefixUnpickler(pickle.Unpickler):
    """_pickle's Unpickler over a file, the reading the gate serves, with
    everything but the rebuilds refused."""

    def find_class(self, module, name):
        if (module, name) in REBUILDS:
            return super().find_class(module, name)
        raise _Escaped(f"find_class({module!r}, {name!r})")

    def persistent_load(self, pid):
        raise _Escaped("persistent_load")


def _cleared(data, numpy=True):
    scan = _native.GatedScan(data, None, numpy=numpy)
    try:
        report = scan.result()
        return scan.cleared, report
    finally:
        scan.close()


def _run_prefix(prefix):
    """What _pickle does with the cleared bytes alone: it must stop for
    want of input (or on an error of its own), never escape or return."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _PrefixUnpickler(io.BytesIO(prefix), buffers=()).load()
    except _Escaped as exc:
        return f"escaped: {exc}"
    except Exception:
        return None
    return "returned: the gate cleared a STOP"


def _raw_inputs():
    out = [(name, data) for name, data in pickle_gen.generated()]
    out += [(path, data) for path, data, _why in corpus_inputs()]
    return out


def test_the_cleared_bytes_never_reach_a_callable():
    """Over every generated pickle and every raw pickle of the corpus,
    malicious ones included: the real unpickler over the cleared bytes
    resolves nothing but the rebuilds and never returns."""
    failures = []
    checked = 0
    for name, data in _raw_inputs():
        cleared, _report = _cleared(data)
        assert 0 <= cleared <= len(data), name
        why = _run_prefix(data[:cleared])
        checked += 1
        if why is not None:
            failures.append(f"{name}: cleared {cleared} of {len(data)}: {why}")
    assert checked > 1000
    assert not failures, "\n".join(failures[:20])


def _first(data, names):
    for op, _arg, pos in pickletools.genops(data):
        if op.name in names:
            return pos
    raise AssertionError(f"no {names} in the pickle")


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_plain_data_is_cleared_up_to_stop(protocol):
    data = pickle.dumps({"rows": [(i, str(i), i / 2) for i in range(2000)]}, protocol=protocol)
    cleared, report = _cleared(data)
    assert report["verdict"] == "benign"
    assert cleared == _first(data, {"STOP"})


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_arrays_pass_only_when_numpy_is_imported(protocol):
    arr = np.array([1, "x", (1, "a", 2.0)], dtype=object)
    data = pickle.dumps(arr, protocol=protocol)
    cleared, _ = _cleared(data, numpy=True)
    assert cleared == _first(data, {"STOP"})
    # without numpy imported, the loader would import it on the file's say
    cleared, _ = _cleared(data, numpy=False)
    assert cleared <= _first(data, {"GLOBAL", "STACK_GLOBAL"})


def _array_then(payload, protocol=3):
    """A numpy object array's pickle whose stream goes on, before its STOP,
    with ``payload`` (opcodes leaving the stack as they found it)."""
    arr = np.array([(i, "s%d" % i) for i in range(50)] + ["x"], dtype=object)
    data = pickle.dumps(arr, protocol=protocol)
    assert data.endswith(b".")
    return data[:-1] + payload + b".", len(data) - 1


_RECONSTRUCT = b"cnumpy.core.multiarray\n_reconstruct\n(cnumpy\nndarray\n(K\x00tC\x01btR"

# payload, and the opcode of it that must not be cleared
HELD_BACK = {
    "os.system": (b"cposix\nsystem\n(Vecho\ntR0", "GLOBAL"),
    "reconstruct with a shape": (
        b"cnumpy.core.multiarray\n_reconstruct\n(cnumpy\nndarray\n(J\x00\x00\x00\x10tC\x01btR0",
        "REDUCE",
    ),
    "ndarray called": (b"cnumpy\nndarray\n(K\x01tR0", "REDUCE"),
    "dtype of a list": (b"cnumpy\ndtype\n(]K\x01\x89tR0", "REDUCE"),
    "codecs other than latin1": (b"c_codecs\nencode\n(Vabc\nVrot13\ntR0", "REDUCE"),
    "dotted name": (b"\x8c\x05numpy\x8c\x0bndarray.mro\x93)R0", "STACK_GLOBAL"),
    "builtin renamed": (b"c__builtin__\nlist\n)R0", "GLOBAL"),
    "build on a global": (b"cnumpy\ndtype\n}b0", "BUILD"),
    "extension code": (b"\x82\x01", "EXT1"),
    "persistent id": (b"Px\n0", "PERSID"),
    "append on an array": (_RECONSTRUCT + b"K\x01a0", "APPEND"),
    "build of an array's list": (_RECONSTRUCT + b"0]K\x01}b0", "BUILD"),
}


@pytest.mark.parametrize("what", sorted(HELD_BACK))
def test_the_gate_closes_before_anything_else(what):
    payload, held = HELD_BACK[what]
    data, start = _array_then(payload, protocol=4 if what == "dotted name" else 3)
    at = min(pos for op, _arg, pos in pickletools.genops(data) if pos >= start and op.name == held)
    cleared, _ = _cleared(data)
    assert cleared <= at, (cleared, at)
    assert _run_prefix(data[:cleared]) is None


def test_the_gate_closes_where_a_global_follows_plain_data():
    rows = [(i, "row %d" % i) for i in range(20000)]
    body = pickle.dumps(rows, protocol=2)
    data = body[:-1] + b"cposix\nsystem\n(Vecho\ntR0."
    cleared, report = _cleared(data)
    assert report["verdict"] == "unsafe"
    assert cleared == len(body) - 1


def test_a_scan_can_be_dropped_while_it_runs():
    data = pickle.dumps(list(range(300000)), protocol=2)
    for _ in range(5):
        _native.GatedScan(data)  # joined when it goes
    scan = _native.GatedScan(data)
    scan.close()
    with pytest.raises(ValueError):
        scan.result()


# ---- behind the guard -------------------------------------------------------


def _big_rows(n=60000):
    return [(i, "item-%d" % i, i * 0.5) for i in range(n)]


def test_a_refusal_replaces_the_loaders_own_error():
    """A loader that fails on its own while the scan runs still gets the
    guard's refusal when the verdict is unsafe."""
    rows = pickle.dumps(_big_rows(), protocol=2)
    data = rows[:-1] + b"cposix\nsystem\n(Vecho\ntR0."
    snapshot = from_bytes(data, "hostile.pkl")
    assert gated.fits(snapshot)

    def loader(reader):
        reader.read(100)
        raise ValueError("the loader's own")

    with safepickle.guarded():
        with pytest.raises(UnsafePickleError) as caught:
            gated.load(snapshot, loader)
    assert isinstance(caught.value.__context__, ValueError)


@pytest.mark.parametrize("protocol", [0, 2, 3, 4, 5])
def test_large_files_load_behind_the_gate_as_plain_loads_do(tmp_path, protocol):
    rows = _big_rows()
    path = tmp_path / "rows.pkl"
    path.write_bytes(pickle.dumps(rows, protocol=protocol) + b"tail")
    assert path.stat().st_size >= gated.GATE_MIN
    # a global after a long stretch of data: the gate closes there and
    # the rest is served once the verdict is benign
    ordered = [rows, collections.OrderedDict(a=1), rows[:10]]
    with_global = tmp_path / "with-global.pkl"
    with_global.write_bytes(pickle.dumps(ordered, protocol=protocol))
    with safepickle.guarded():
        with open(path, "rb") as fh:
            assert pickle.load(fh) == rows
            assert fh.read() == b"tail"
        with open(with_global, "rb") as fh:
            assert pickle.load(fh) == ordered


def _hostile_files(tmp_path):
    """Large files that only turn hostile after a long stretch the gate
    clears."""
    files = {}
    for protocol in (0, 2, 4):
        canary = tmp_path / f"canary-rows-{protocol}"
        data = pickle.dumps([_big_rows(), MkdirPayload(canary)], protocol=protocol)
        path = tmp_path / f"rows-{protocol}.pkl"
        path.write_bytes(data)
        files[f"rows-{protocol}"] = (path, canary, "pickle.load", {})
    return files


def test_large_hostile_files_are_refused_behind_the_gate(tmp_path):
    files = _hostile_files(tmp_path)
    cases = []
    for case_id, (path, _canary, loader, kwargs) in files.items():
        assert path.stat().st_size >= gated.GATE_MIN
        cases.append(
            {"id": case_id, "loader": loader, "path": str(path), "kwargs": kwargs,
             "hostile": "gated" if gated.GATE_NUMPY else True}
        )
    results, fired = run_victim(
        tmp_path, {"order": "patch-first", "imports": ["numpy"], "cases": cases}
    )
    assert fired == ""
    for case_id, (path, canary, _loader, _kwargs) in files.items():
        result = results[case_id]
        assert result["outcome"] == "raised" and result["type"] == "UnsafePickleError", result
        assert result["message"].startswith(str(path) + ": refused to load"), result
        assert any("mkdir" in r for r in result["reasons"]), result
        assert not canary.exists()
