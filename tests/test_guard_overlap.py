"""A large pickle's scan overlapped with its load (overlap.py, pending.py,
speculation.py): the value is the real load's, nothing the input names runs
before the verdict, and every refusal, error and fallback is what a guard
without the overlap gives."""

import copyreg
import io
import os
import pickle
import sys

import pytest

import safepickle
from safepickle.errors import UnscannableError
from safepickle.guard import overlap, pending, speculation
from safepickle.guard.snapshot import from_bytes

from .guard_files import MkdirPayload, run_victim


def _rows(n=120_000):
    return {"rows": [(i, "item-%d" % i, i * 0.5, [None, True]) for i in range(n)],
            "index": {"k%d" % i: i for i in range(0, n, 7)}}


@pytest.fixture
def kept(monkeypatch):
    """Records what each overlapped check returned."""
    seen = []
    real = overlap.check

    def spy(*args, **kwargs):
        result = real(*args, **kwargs)
        seen.append(result)
        return result

    monkeypatch.setattr(overlap, "check", spy)
    return seen


@pytest.mark.parametrize("protocol", [2, 5])
def test_a_large_data_pickle_is_loaded_by_the_speculation(tmp_path, kept, protocol):
    value = _rows()
    data = pickle.dumps(value, protocol=protocol)
    assert len(data) >= pending.MIN_SIZE
    path = tmp_path / "rows.pkl"
    path.write_bytes(data + b"tail")
    with safepickle.guarded():
        with open(path, "rb") as fh:
            assert pickle.load(fh) == value
            # where a plain load leaves the file: just past the pickle
            assert fh.read() == b"tail"
        assert pickle.loads(data) == value
        assert pickle.loads(bytearray(data), encoding="latin1") == value
    assert len(kept) == 3 and all(k is not None for k in kept)


def test_a_small_pickle_is_checked_before_it_is_loaded(kept):
    with safepickle.guarded():
        assert pickle.loads(pickle.dumps([1, 2, 3])) == [1, 2, 3]
    assert kept == []


def test_a_pickle_that_names_a_global_is_loaded_for_real_after_the_verdict(kept):
    import collections

    value = _rows()
    value["tail"] = collections.OrderedDict(a=1)  # the only name, at the end
    data = pickle.dumps(value, protocol=4)
    with safepickle.guarded():
        got = pickle.loads(data)
    assert got == value and type(got["tail"]) is collections.OrderedDict
    assert kept == [None]


def test_arguments_the_speculation_cannot_honour_turn_it_off(kept):
    value = _rows()
    data = pickle.dumps(value, protocol=5)
    with safepickle.guarded():
        assert pickle.loads(data, buffers=iter(())) == value
    assert kept == []
    copyreg.add_extension("collections", "OrderedDict", 0x7FFF01)
    try:
        copyreg._extension_cache[0x7FFF01] = dict
        with safepickle.guarded():
            assert pickle.loads(data) == value
        assert kept == []
    finally:
        copyreg.remove_extension("collections", "OrderedDict", 0x7FFF01)


def test_the_speculative_unpickler_refuses_every_name_before_importing_it():
    data = b"\x80\x02c" + b"spx_never_imported\nthing\n)R."
    with pytest.raises(speculation.Abandon):
        speculation.Speculative(io.BytesIO(data)).load()
    assert "spx_never_imported" not in sys.modules
    # an extension code registered but never loaded goes through find_class
    copyreg.add_extension("os", "system", 0x7FFF02)
    try:
        with pytest.raises(speculation.Abandon):
            speculation.Speculative(io.BytesIO(b"\x80\x02\x84\x02\xff\x7f\x00.")).load()
    finally:
        copyreg.remove_extension("os", "system", 0x7FFF02)
    with pytest.raises(pickle.UnpicklingError):
        speculation.Speculative(io.BytesIO(b"\x80\x02U\x01xQ.")).load()  # BINPERSID


def test_stop_ends_the_speculation_at_the_next_read():
    snapshot = from_bytes(bytearray(pickle.dumps(_rows(), protocol=4)))
    spec = speculation.run(snapshot, 0, {}, stop=lambda: True, may_free=lambda: False)
    assert isinstance(spec.error, speculation.Abandon) and spec.value is None


def test_what_the_speculation_read_is_given_back_only_when_allowed():
    value = _rows()
    data = pickle.dumps(value, protocol=4)
    for allowed in (False, True):
        snapshot = from_bytes(bytearray(data))
        assert snapshot.mapped
        spec = speculation.run(snapshot, 0, {}, stop=lambda: False, may_free=lambda: allowed)
        assert spec.error is None and spec.value == value and spec.end == len(data)
        assert spec.freed is allowed
        # given back, a page reads as zeros
        assert (snapshot.buffer[:4096] == bytes(4096)) is allowed


def test_a_speculation_that_fails_after_giving_bytes_back_raises_its_error(monkeypatch):
    """The real loader would read zeros where the bytes were: it never runs."""
    real_run = speculation.run
    runs = []

    def run(snapshot, start, kwargs, stop, may_free):
        spec = real_run(snapshot, start, kwargs, stop, lambda: True)
        assert spec.freed and spec.error is None
        spec.error = MemoryError("out of memory while unpickling")
        runs.append(spec)
        return spec

    monkeypatch.setattr(speculation, "run", run)
    data = bytearray(pickle.dumps(_rows(), protocol=4))
    assert len(data) > 2 * (2 << 20)
    with safepickle.guarded():
        with pytest.raises(MemoryError, match="while unpickling"):
            pickle.loads(data)
    assert len(runs) == 1


def test_a_load_error_is_the_guards_verdict_first():
    # int() refuses a decimal text this long (sys.get_int_max_str_digits):
    # the scan sees what the unpickler would fail on
    body = pickle.dumps(_rows(), protocol=2)
    data = body[:-1] + b"I" + b"7" * 6000 + b"\n\x86."
    with pytest.raises(ValueError):
        pickle.loads(data)
    with safepickle.guarded():
        with pytest.raises(UnscannableError, match="could not convert string to int"):
            pickle.loads(data)


def test_a_scan_that_fails_is_refused_on_every_call(monkeypatch):
    from safepickle.errors import ScanError

    def failing(snapshot):
        raise ScanError("scan broke", reason="scan broke")

    monkeypatch.setattr(pending, "verdict", failing)
    policy = safepickle.guard.policy.make_policy(mode="block")
    waiting = pending.PendingCheck(from_bytes(b"\x80\x04N."), policy)
    for _ in range(2):
        with pytest.raises(UnscannableError, match="scan broke"):
            waiting.finish()


def test_a_failure_inside_the_scan_thread_reaches_the_caller(monkeypatch):
    def broken(snapshot):
        raise RuntimeError("boom")

    monkeypatch.setattr(pending, "verdict", broken)
    policy = safepickle.guard.policy.make_policy()
    with pytest.raises(RuntimeError, match="boom"):
        pending.PendingCheck(from_bytes(b"\x80\x04N."), policy).finish()


def test_large_hostile_pickles_are_refused_and_nothing_runs(tmp_path):
    cases, canaries = [], {}
    for where in ("first", "last"):
        canary = tmp_path / f"canary-{where}"
        items = _rows()["rows"]
        value = [MkdirPayload(canary)] + items if where == "first" else items + [MkdirPayload(canary)]
        for loader in ("pickle.load", "pickle.loads"):
            path = tmp_path / f"big-{where}-{loader}.pkl"
            path.write_bytes(pickle.dumps(value, protocol=4))
            assert path.stat().st_size >= pending.MIN_SIZE
            case_id = f"{where}-{loader}"
            canaries[case_id] = canary
            cases.append({"id": case_id, "loader": loader, "path": str(path), "hostile": True})
    results, fired = run_victim(tmp_path, {"order": "patch-first", "imports": [], "cases": cases})
    assert fired == ""
    for case_id, canary in canaries.items():
        result = results[case_id]
        assert result["outcome"] == "raised" and result["type"] == "UnsafePickleError", result
        assert any("mkdir" in r for r in result["reasons"]), result
        assert not canary.exists()


def test_worth_it_needs_a_second_core_and_no_holes(monkeypatch):
    big = from_bytes(bytearray(pending.MIN_SIZE))
    assert pending.worth_it(big) is (len(os.sched_getaffinity(0)) > 1)
    monkeypatch.setattr(pending, "_cores", lambda: 1)
    assert not pending.worth_it(big)
    monkeypatch.setattr(pending, "_cores", lambda: 2)
    assert pending.worth_it(big)
    big.holes = ((4096, 8192),)
    assert not pending.worth_it(big)
    assert not pending.worth_it(from_bytes(bytes(pending.MIN_SIZE - 1)))
