"""Caps and hostile input: every byte string gets a report, never a crash or a silent pass."""
import pickle
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.budget import scaled

import safepickle
from safepickle import _native

PAYLOAD = b"cos\nsystem\n(S'echo x'\ntR."


def scan(data, **limits):
    return _native.scan(data, limits or None)


def test_default_limits_are_documented():
    doc = open(__file__.replace("tests/test_limits.py", "docs/limits.md")).read()
    for key in _native.default_limits():
        assert f"`{key}`" in doc, key


def test_unknown_limit_key_is_rejected():
    with pytest.raises((TypeError, ValueError)):
        scan(b"N.", max_bananas=1)


@pytest.mark.parametrize(
    "limits, data, detail",
    [
        ({"max_ops": 50}, pickle.dumps(list(range(100)), protocol=0), "opcodes"),
        ({"max_stack": 10}, b"(" + b"N" * 20 + b"t.", "stack"),
        ({"max_marks": 5}, b"(" * 10 + b"N.", "MARK"),
        ({"max_memo": 3}, pickle.dumps([[i] for i in range(10)], protocol=2), "memo"),
        ({"max_string": 8}, pickle.dumps(b"x" * 100, protocol=3), "string"),
        ({"max_events": 4}, b"cos\nsystem\n" * 10 + b".", "events"),
        ({"max_depth": 5}, b"]" * 10 + b"a" * 9 + b".", "nested deeper"),
        ({"max_streams": 2}, b"N." * 5, "pickles"),
    ],
)
def test_each_cap_is_enforced_and_reported(limits, data, detail):
    report = scan(data, **limits)
    assert report["limit_hit"] is True
    assert detail in report["limit_detail"]
    assert report["verdict"] == "unsafe"
    assert any("limit" in reason.lower() or "incomplete" in reason.lower() for reason in report["reasons"])


def test_limit_anomaly_is_in_the_stream():
    report = scan(b"(" * 10 + b"N.", max_marks=5)
    codes = [a["code"] for s in report["streams"] for a in s["anomalies"]]
    assert "LIMIT" in codes
    assert report["streams"][0]["end_kind"] == "limit"


def test_memory_cap_stops_the_scan():
    # many distinct containers kept alive by the memo
    data = pickle.dumps([[i] for i in range(20000)], protocol=2)
    report = scan(data, max_alloc=64 * 1024)
    assert report["limit_hit"] is True
    assert report["verdict"] == "unsafe"


def test_memory_cap_counts_the_memo():
    # scalars only: no container is allocated, the memo alone grows
    data = pickle.dumps(["s%d" % i for i in range(100000)], protocol=4)
    report = scan(data, max_alloc=256 * 1024)
    assert report["limit_hit"] is True
    assert report["verdict"] == "unsafe"
    assert "memory cap" in " ".join(report["reasons"])
    assert scan(data)["limit_hit"] is False


def test_memory_cap_counts_the_calls():
    # 100k BINPERSID calls on an int, each result popped: nothing but the
    # stream's call records grows (8.8 MB of them)
    data = b"\x80\x02" + b"K\x00Q0" * 100000 + b"N."
    report = scan(data, max_alloc=4 * 1024 * 1024)
    assert report["limit_hit"] is True
    assert report["verdict"] == "unsafe"
    assert "memory cap" in " ".join(report["reasons"])
    assert scan(data, max_alloc=64 * 1024 * 1024)["limit_hit"] is False


def test_empty_tuples_are_one_object():
    # 100k OrderedDict() calls, each on its own EMPTY_TUPLE: as in CPython,
    # where the empty tuple is a singleton, they share one argument tuple,
    # and the scan needs only the call records (8.8 MB of them)
    data = (b"\x80\x02ccollections\nOrderedDict\nq\x00" + b"h\x00)\x810" * 100000 + b"N.")
    report = scan(data, max_alloc=14 * 1024 * 1024)
    assert report["limit_hit"] is False
    assert report["verdict"] == "benign"


def test_nesting_cap():
    inner = PAYLOAD
    for _ in range(6):
        inner = b"\x80\x04cpickle\nloads\nB" + struct.pack("<I", len(inner)) + inner + b"\x85R."
    report = scan(inner, max_nesting=2)
    assert report["limit_hit"] is True
    assert report["verdict"] == "unsafe"
    # within the cap, the innermost payload is reached and named
    report = scan(inner)
    names = []

    def walk(rep):
        for stream in rep["streams"]:
            names.extend(f"{g['module']}.{g['name']}" for g in stream["globals"])
            for n in stream["nested"]:
                walk(n["report"])

    walk(report)
    assert "os.system" not in names  # six levels exceed the default cap of 4
    assert report["limit_hit"] is True
    shallow = PAYLOAD
    for _ in range(3):
        shallow = b"\x80\x04cpickle\nloads\nB" + struct.pack("<I", len(shallow)) + shallow + b"\x85R."
    names.clear()
    walk(scan(shallow))
    assert "os.system" in names


def test_huge_memo_index_costs_one_entry():
    data = b"N" + b"r\xff\xff\xff\xff" + b"j\xff\xff\xff\xff" + b"."
    report = scan(data)
    stream = report["streams"][0]
    assert stream["stats"]["memo_entries"] == 1
    assert stream["end_kind"] == "stop"


def test_huge_declared_lengths_are_truncation_not_allocation():
    for op in (b"B", b"X", b"T"):
        report = scan(op + struct.pack("<I", 0xFFFFFFF0) + b"abc")
        assert report["streams"][0]["end_kind"] == "truncated"
    for op in (b"\x8e", b"\x8d", b"\x96"):
        report = scan(op + struct.pack("<Q", 1 << 62) + b"abc")
        assert report["streams"][0]["end_kind"] in ("truncated", "error")


def test_deeply_nested_containers_do_not_recurse():
    data = b"]" * 9000 + b"a" * 8999 + b"."
    report = scan(data)
    assert report["streams"][0]["end_kind"] == "stop"
    assert report["streams"][0]["stats"]["max_container_depth"] == 9000


def test_payload_hidden_after_limit_is_not_benign():
    # a cap hit before the payload must never read as a pass
    data = b"(" * 100 + PAYLOAD
    report = scan(data, max_marks=50)
    assert report["verdict"] != "benign"


def test_empty_input_is_an_error_verdict():
    report = scan(b"")
    assert report["streams"] == []
    assert report["verdict"] == "error"


@settings(max_examples=scaled(600), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_any_bytes_give_a_report(data):
    report = scan(data, max_ops=100_000)
    assert report["verdict"] in ("benign", "unsafe", "error")
    for stream in report["streams"]:
        assert stream["end_kind"] in ("stop", "error", "truncated", "limit")


OPCODE_BYTES = sorted({ord(c) for c in "(.0125FIJKLMNPQRSTUVXabcdeghijlopqrstu}])"} | set(range(0x80, 0x99)))


@settings(max_examples=scaled(600), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.sampled_from(OPCODE_BYTES), st.integers(0, 255)), max_size=300))
def test_opcode_soup_gives_a_report(ops):
    data = bytes(ops)
    report = scan(data, max_ops=100_000)
    assert report["verdict"] in ("benign", "unsafe", "error")


def test_scan_of_path_names_the_file_on_error(tmp_path):
    missing = tmp_path / "nope.pkl"
    with pytest.raises(safepickle.ScanError) as info:
        safepickle.scan(missing)
    assert "nope.pkl" in str(info.value)
