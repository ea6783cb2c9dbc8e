"""safepickle.scan and the Report object.

The payload pickles here are hand-made byte strings naming os.system; they
are only ever scanned, never loaded.
"""

import io
import os
import pickle
import re
import subprocess
import sys
import threading
import time

import pytest

import safepickle
from safepickle import Report, ScanError, _native

EVIL = b"cos\nsystem\n(S'echo hi'\ntR."
BENIGN_OBJ = {"name": "model", "weights": [0.5, 1.25, -3.0], "shape": (3, 1),
              "tags": {"a", "b"}, "blob": b"\x00\x01", "ok": True, "none": None}

REPORT_KEYS = {"input_len", "format", "streams", "trailing_offset", "trailing_len",
               "limit_hit", "limit_detail", "features", "feature_version", "verdict",
               "records", "container_anomalies", "container_error",
               "score", "reasons", "scored_record", "decided_by", "drivers"}
STREAM_KEYS = {"start", "end", "end_kind", "error", "error_offset", "proto", "max_proto",
               "speculative", "speculative_offset", "globals", "calls", "anomalies",
               "nested", "result", "stats"}
GLOBAL_KEYS = {"module", "name", "raw_module", "raw_name", "offset", "opcode", "proto",
               "ext_code", "flags"}
CALL_KEYS = {"index", "kind", "opcode", "offset", "callee", "args", "kwargs",
             "speculative", "used", "args_unknown", "slotstate"}


def child_env():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))


def short_binbytes(data):
    assert len(data) < 256
    return b"C" + bytes([len(data)]) + data


def result_value(report, stream=0):
    return report.streams[stream]["result"]


# ---- verdicts ------------------------------------------------------------------


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_plain_data_is_benign(protocol):
    report = safepickle.scan(pickle.dumps(BENIGN_OBJ, protocol=protocol))
    assert report.verdict == "benign", report.reasons
    assert report.is_benign and not report.is_unsafe
    assert report.format == "raw-pickle"
    # What pickle itself writes for sets and, below protocol 3, for bytes.
    assert set(report.globals) <= {"builtins.set", "_codecs.encode"}
    assert len(report.streams) == 1


def test_os_system_reduce_is_unsafe():
    report = safepickle.scan(EVIL)
    assert report.verdict == "unsafe"
    assert report.is_unsafe and not report.is_benign
    assert report.globals == ["os.system"]
    assert report.reasons and all(isinstance(r, str) and r for r in report.reasons)
    assert any("os.system" in r for r in report.reasons), report.reasons

    (call,) = report.calls
    assert call["kind"] == "reduce"
    assert call["opcode"] == "REDUCE"
    assert call["callee"]["type"] == "global"
    assert (call["callee"]["module"], call["callee"]["name"]) == ("os", "system")
    assert call["args"]["type"] == "tuple"
    assert call["args"]["items"] == [{"type": "str", "len": 7, "value": "echo hi"}]
    assert call["used"] is True
    assert result_value(report) == {"type": "result", "call": 0}


def test_payload_after_a_benign_pickle_is_found():
    report = safepickle.scan(pickle.dumps([1, 2, 3]) + EVIL)
    assert report.verdict == "unsafe"
    assert len(report.streams) == 2
    assert "os.system" in report.globals


def test_globals_are_distinct_in_first_seen_order():
    data = b"cbuiltins\nlist\n)R." + EVIL + b"cbuiltins\nlist\n)R." + EVIL
    report = safepickle.scan(data)
    assert report.globals == ["builtins.list", "os.system"]
    assert len(report.calls) == 4


def test_nested_pickle_globals_are_included():
    # pickle.loads(<bytes of EVIL>): the inner pickle is scanned too.
    outer = b"\x80\x03cpickle\nloads\n" + short_binbytes(EVIL) + b"\x85R."
    report = safepickle.scan(outer)
    assert report.verdict == "unsafe"
    assert report.globals[0] == "pickle.loads"
    assert "os.system" in report.globals
    (nested,) = report.streams[0]["nested"]
    assert nested["reason"] == "loads_arg"
    assert set(nested["report"]) == {"streams", "trailing_offset", "trailing_len"}
    assert nested["report"]["streams"][0]["globals"][0]["name"] == "system"


def test_container_formats_fail_closed():
    report = safepickle.scan(b"PK\x03\x04" + b"\x00" * 60)
    assert report.format == "zip"
    assert report.verdict == "error"
    assert report.streams == []
    assert report.reasons == [
        "the loader refuses the file: torch's zip reader refuses the archive: "
        "failed finding central directory"]
    assert len(report.features) == len(report.feature_names)


def test_empty_input():
    report = safepickle.scan(b"")
    assert report.format == "empty"
    assert report.raw["input_len"] == 0
    assert report.verdict != "benign"


# ---- sources -------------------------------------------------------------------


def test_every_source_kind_gives_the_same_report(tmp_path):
    data = pickle.dumps(BENIGN_OBJ, protocol=2) + EVIL
    path = tmp_path / "mixed.pkl"
    path.write_bytes(data)

    reports = [
        safepickle.scan(str(path)),
        safepickle.scan(path),
        safepickle.scan(data),
        safepickle.scan(bytearray(data)),
        safepickle.scan(memoryview(data)),
        safepickle.scan(io.BytesIO(data)),
    ]
    with open(path, "rb") as fh:
        reports.append(safepickle.scan(fh))
    for report in reports[1:]:
        assert report.raw == reports[0].raw
        assert report.globals == reports[0].globals
    assert reports[0].path == str(path)
    assert reports[1].path == str(path)
    assert reports[2].path is None
    assert reports[-1].path == str(path)


def test_memoryview_slices_are_scanned_as_given():
    data = b"junk" + EVIL
    assert safepickle.scan(memoryview(data)[4:]).raw == safepickle.scan(EVIL).raw
    strided = memoryview(b"".join(bytes([b, 0]) for b in EVIL))[::2]
    assert safepickle.scan(strided).raw == safepickle.scan(EVIL).raw


def test_file_object_is_read_from_its_position_and_left_open(tmp_path):
    prefix = b"not a pickle at all"
    fh = io.BytesIO(prefix + EVIL)
    fh.seek(len(prefix))
    report = safepickle.scan(fh)
    assert not fh.closed
    assert fh.tell() == len(prefix) + len(EVIL)
    assert report.raw == safepickle.scan(EVIL).raw

    path = tmp_path / "f.bin"
    path.write_bytes(prefix + EVIL)
    with open(path, "rb") as real:
        real.seek(len(prefix))
        assert safepickle.scan(real).raw == safepickle.scan(EVIL).raw
        assert not real.closed


def test_text_mode_file_is_rejected(tmp_path):
    path = tmp_path / "t.pkl"
    path.write_bytes(pickle.dumps([1], protocol=0))
    with open(path, "r") as fh:
        with pytest.raises(TypeError, match="binary"):
            safepickle.scan(fh)
    with pytest.raises(TypeError, match="'rb'"):
        safepickle.scan(io.StringIO("(lp0\n."))


def test_missing_path_raises_scan_error_naming_it(tmp_path):
    missing = tmp_path / "no" / "such.pkl"
    with pytest.raises(ScanError) as info:
        safepickle.scan(missing)
    assert str(missing) in str(info.value)
    assert info.value.where == str(missing)
    assert "No such file" in info.value.reason
    assert isinstance(info.value, ValueError)


def test_directory_path_raises_scan_error(tmp_path):
    with pytest.raises(ScanError, match=re.escape(str(tmp_path))):
        safepickle.scan(tmp_path)


def test_failing_file_object_raises_scan_error():
    class Broken(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, b):
            raise OSError(5, "Input/output error")

    with pytest.raises(ScanError, match="Input/output error"):
        safepickle.scan(Broken())


def test_wrong_source_type():
    with pytest.raises(TypeError, match="path, a bytes-like object or a binary file"):
        safepickle.scan(42)
    with pytest.raises(TypeError):
        _native.scan("a str is not a buffer")


# ---- limits --------------------------------------------------------------------


def test_default_limits_round_trip():
    limits = _native.default_limits()
    assert set(limits) == {"max_ops", "max_stack", "max_marks", "max_memo", "max_string",
                           "max_alloc", "max_streams", "max_events", "max_nesting",
                           "max_depth"}
    assert all(isinstance(v, int) and v >= 0 for v in limits.values())
    data = pickle.dumps(list(range(50)))
    assert _native.scan(data, limits) == _native.scan(data)


def test_a_limit_that_is_hit_is_reported():
    data = pickle.dumps(list(range(1000)), protocol=0)
    report = safepickle.scan(data, limits={"max_ops": 10})
    assert report.limit_hit is True
    assert report.raw["limit_detail"]
    assert report.streams[0]["end_kind"] == "limit"
    assert report.verdict != "benign"
    assert safepickle.scan(data).limit_hit is False


def test_bad_limits_are_rejected():
    with pytest.raises(ValueError, match="unknown limit 'max_bogus'"):
        safepickle.scan(EVIL, limits={"max_bogus": 1})
    with pytest.raises(ValueError, match="max_stack"):
        safepickle.scan(EVIL, limits={"max_stack": 2**32})
    with pytest.raises(ValueError, match="max_ops"):
        safepickle.scan(EVIL, limits={"max_ops": -1})
    with pytest.raises(TypeError, match="int"):
        safepickle.scan(EVIL, limits={"max_ops": "10"})
    with pytest.raises(TypeError, match="int"):
        safepickle.scan(EVIL, limits={"max_ops": True})
    with pytest.raises(TypeError, match="dict"):
        safepickle.scan(EVIL, limits=[("max_ops", 1)])
    # A bad limit is the caller's mistake, not a scan failure.
    with pytest.raises(ValueError) as info:
        safepickle.scan(EVIL, limits={"nope": 1})
    assert not isinstance(info.value, ScanError)


# ---- report shape --------------------------------------------------------------


def check_value(v, depth=1):
    assert isinstance(v, dict)
    t = v["type"]
    if v.get("elided"):
        return
    assert depth <= 8
    if t in ("tuple", "list", "set", "frozenset", "dict"):
        assert isinstance(v["len"], int) and isinstance(v["truncated"], bool)
        for item in v["items"]:
            if t == "dict":
                assert len(item) == 2
                for x in item:
                    check_value(x, depth + 1)
            else:
                check_value(item, depth + 1)
    elif t == "str":
        assert isinstance(v["value"], str) and isinstance(v["len"], int)
    elif t in ("bytes", "bytearray"):
        assert isinstance(v["head"], bytes) and isinstance(v["len"], int)
    elif t == "global":
        assert set(v) == {"type", "index", "module", "name"}
    elif t == "result":
        assert set(v) == {"type", "call"}
    else:
        assert t in ("none", "bool", "int", "float", "buffer"), t


def check_streams(streams):
    for s in streams:
        assert set(s) == STREAM_KEYS
        assert s["end_kind"] in ("stop", "error", "truncated", "limit")
        for g in s["globals"]:
            assert set(g) == GLOBAL_KEYS
            assert isinstance(g["flags"], list)
        for c in s["calls"]:
            assert set(c) == CALL_KEYS
            check_value(c["callee"])
            check_value(c["args"])
        for a in s["anomalies"]:
            assert set(a) == {"code", "offset", "detail"}
            assert a["code"] in _native.anomaly_codes()
        for n in s["nested"]:
            check_streams(n["report"]["streams"])
        if s["result"] is not None:
            check_value(s["result"])
        assert isinstance(s["stats"]["opcode_counts"], dict)
        assert all(v > 0 for v in s["stats"]["opcode_counts"].values())


@pytest.mark.parametrize("data", [
    EVIL,
    pickle.dumps(BENIGN_OBJ, protocol=4),
    pickle.dumps(BENIGN_OBJ, protocol=0) + b"trailing junk",
    EVIL[:-3],
])
def test_report_matches_the_schema(data):
    report = safepickle.scan(data)
    raw = report.raw
    assert set(raw) == REPORT_KEYS
    assert raw["input_len"] == len(data)
    assert raw["verdict"] in ("benign", "unsafe", "error")
    assert raw["score"] is None or 0.0 <= raw["score"] <= 1.0
    assert raw["feature_version"] == _native.FEATURE_VERSION
    assert len(raw["features"]) == len(_native.feature_names())
    assert all(isinstance(f, float) for f in raw["features"])
    check_streams(raw["streams"])


def test_to_json_is_the_stable_record(tmp_path):
    path = tmp_path / "evil.pkl"
    path.write_bytes(EVIL)
    record = safepickle.scan(path).to_json()
    assert record == {
        "path": str(path),
        "format": "raw-pickle",
        "verdict": "unsafe",
        "score": record["score"],
        "reasons": record["reasons"],
        "globals": ["os.system"],
        "error": None,
    }
    assert record["score"] is None or isinstance(record["score"], float)
    assert record["reasons"]


def test_repr_is_short():
    text = repr(safepickle.scan(EVIL))
    assert text.startswith("<Report") and "unsafe" in text and len(text) < 200


# ---- values --------------------------------------------------------------------


@pytest.mark.parametrize("number", [2**100, -(2**100), 2**63, -(2**63) - 1, 255 << 2000])
@pytest.mark.parametrize("protocol", [0, 2])
def test_big_ints_are_exact(number, protocol):
    report = safepickle.scan(pickle.dumps(number, protocol=protocol))
    assert result_value(report) == {"type": "int", "value": number}


def test_int_line_beyond_int64():
    report = safepickle.scan(b"I123456789012345678901234567890\n.")
    assert result_value(report) == {"type": "int", "value": 123456789012345678901234567890}


def test_strings_are_capped_but_len_is_full():
    text = "é" * 5000
    value = result_value(safepickle.scan(pickle.dumps(text, protocol=4)))
    assert value == {"type": "str", "len": 5000, "value": "é" * 4096}


def test_lone_surrogates_survive():
    value = result_value(safepickle.scan(pickle.dumps("a\ud800b", protocol=4)))
    assert value == {"type": "str", "len": 3, "value": "a\ud800b"}


def test_bytes_keep_a_64_byte_head():
    blob = bytes(range(200))
    value = result_value(safepickle.scan(pickle.dumps(blob, protocol=4)))
    assert value == {"type": "bytes", "len": 200, "head": blob[:64]}


def test_containers_keep_64_items_and_the_full_len():
    value = result_value(safepickle.scan(pickle.dumps(list(range(100)), protocol=4)))
    assert value["type"] == "list" and value["len"] == 100 and value["truncated"] is True
    assert [v["value"] for v in value["items"]] == list(range(64))
    value = result_value(safepickle.scan(pickle.dumps({"k": 1.5}, protocol=4)))
    assert value == {"type": "dict", "len": 1, "truncated": False,
                     "items": [[{"type": "str", "len": 1, "value": "k"},
                                {"type": "float", "value": 1.5}]]}


def test_values_deeper_than_8_levels_are_elided():
    obj = 7
    for _ in range(12):
        obj = [obj]
    value = result_value(safepickle.scan(pickle.dumps(obj, protocol=4)))
    for _ in range(8):
        assert value["type"] == "list" and "elided" not in value
        (value,) = value["items"]
    assert value == {"type": "list", "elided": True}


def test_shared_containers_do_not_explode_the_report():
    # 64 references per level, 12 levels: 64**8 paths within the depth cap
    # from about 1.6 KB of pickle. Run in a child so that an exponential
    # walk fails the test instead of hanging the suite.
    obj = ["leaf"]
    for _ in range(12):
        obj = [obj] * 64
    data = pickle.dumps(obj, protocol=4)
    assert len(data) < 5000
    code = (
        "import sys, safepickle\n"
        "r = safepickle.scan(sys.stdin.buffer.read())\n"
        "v = r.streams[0]['result']\n"
        "print(r.verdict, v['len'], len(v['items']), v['items'][0] is v['items'][63])\n"
    )
    try:
        proc = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True,
                              timeout=20, env=child_env())
    except subprocess.TimeoutExpired:
        pytest.fail("scanning a 1.6 KB pickle of shared lists took more than 20 s")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [b"benign", b"64", b"64", b"True"]


# ---- native tables ---------------------------------------------------------------


def test_native_tables():
    names = _native.feature_names()
    descriptions = _native.feature_descriptions()
    assert len(names) == len(descriptions) > 0
    assert len(set(names)) == len(names)
    assert all(isinstance(d, str) and d for d in descriptions)
    assert isinstance(_native.FEATURE_VERSION, int)

    opcodes = _native.opcode_names()
    assert opcodes[0] == "INT" and opcodes[-1] == "BINPERSID" and len(opcodes) == 68
    assert "REDUCE" in opcodes and "STACK_GLOBAL" in opcodes

    codes = _native.anomaly_codes()
    assert codes["MEMO_MISSING"] == "memo read of an index never written"
    assert "TRAILING_DATA" in codes


def test_linked_library_versions():
    versions = _native.library_versions()
    assert set(versions) == {"xgboost", "libzip"}
    for version in versions.values():
        parts = version.split(".")
        assert len(parts) >= 2 and all(p.isdigit() for p in parts), version


def test_package_exports():
    assert safepickle.__version__ == "0.1.0"
    guard = {
        "GuardError",
        "UnsafePickleError",
        "UnscannableError",
        "patch",
        "unpatch",
        "guarded",
        "unguarded",
        "is_patched",
        "load",
        "loads",
        "Unpickler",
    }
    assert set(safepickle.__all__) == {"scan", "Report", "ScanError", "__version__"} | guard
    assert issubclass(ScanError, ValueError)
    assert issubclass(_native.ScanError, ValueError)
    assert Report is safepickle.report.Report


# ---- threads -------------------------------------------------------------------


def test_scan_releases_the_gil():
    # Grow the input (a list built by APPENDS batches: many opcodes, little
    # memory) until one scan takes a while, then check that another Python
    # thread ran during the middle of it: with the GIL held it would be
    # frozen for the whole call.
    batch = b"(" + b"K\x07" * 1000 + b"e"
    k = 100
    while True:
        data = b"\x80\x04]" + batch * k + b"."
        start = time.perf_counter()
        _native.scan(data)
        elapsed = time.perf_counter() - start
        if elapsed >= 0.3 or k >= 25_600:
            break
        k *= 4
    assert elapsed >= 0.1, "could not make a scan long enough to measure"

    stamps = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            stamps.append(time.perf_counter())
            time.sleep(0.001)

    thread = threading.Thread(target=ticker)
    thread.start()
    try:
        time.sleep(0.05)
        t0 = time.perf_counter()
        _native.scan(data)
        t1 = time.perf_counter()
    finally:
        stop.set()
        thread.join()
    margin = (t1 - t0) * 0.25
    inside = [t for t in stamps if t0 + margin < t < t1 - margin]
    assert len(inside) >= 5, (len(inside), t1 - t0)


def test_concurrent_scans_agree():
    datas = [pickle.dumps(list(range(i * 1000)), protocol=4) for i in range(1, 9)] + [EVIL]
    expected = [_native.scan(d) for d in datas]
    results = [None] * len(datas)

    def work(i):
        for _ in range(5):
            results[i] = _native.scan(datas[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(datas))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == expected
