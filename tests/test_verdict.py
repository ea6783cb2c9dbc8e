"""The rule verdict (docs/verdict.md) on small hand-made pickles.

Payloads here name os.system and friends as bytes; they are only scanned,
never loaded.
"""

import collections
import pickle

import pytest

import safepickle
from safepickle import _native

from .lookups import NOT_PLAIN


def scan(data, **kwargs):
    return _native.scan(data, **kwargs)


def sbu(text):
    """SHORT_BINUNICODE of text."""
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def stack_global(module, name):
    """Protocol 4 pickle body that resolves module.name with STACK_GLOBAL."""
    return sbu(module) + sbu(name) + b"\x93"


OS_SYSTEM = b"cos\nsystem\n(S'echo hi'\ntR."


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_plain_data_is_benign(protocol):
    obj = {"a": 1.5, "b": [1, 2, 3], "c": ("x", b"y"), "d": {1, 2}, "e": None,
           "f": collections.OrderedDict(z=1)}
    rep = scan(pickle.dumps(obj, protocol=protocol))
    assert rep["verdict"] == "benign"
    assert rep["reasons"] == []
    assert rep["score"] is None


def test_os_system_is_unsafe_and_named():
    rep = scan(OS_SYSTEM)
    assert rep["verdict"] == "unsafe"
    assert any("os.system" in r and "process" in r for r in rep["reasons"])
    assert "offset" in rep["reasons"][0]


def test_report_object_carries_the_verdict():
    rep = safepickle.scan(OS_SYSTEM)
    assert rep.verdict == "unsafe" and rep.is_unsafe
    assert rep.decided_by == "rules"
    assert 0.0 <= rep.score <= 1.0
    assert safepickle.scan(OS_SYSTEM, model=False).score is None


def test_py2_names_are_judged():
    rep = scan(b"c__builtin__\neval\n(S'1+1'\ntR.")
    assert rep["verdict"] == "unsafe"
    assert any("builtins.eval" in r and "code_exec" in r for r in rep["reasons"])


def test_getattr_chain_to_system_is_unsafe():
    # getattr(collections.OrderedDict, "system")("id"): no dangerous global,
    # the string and the call on the result give it away.
    data = (b"cbuiltins\ngetattr\n(ccollections\nOrderedDict\nS'system'\ntR"
            b"(S'id'\ntR.")
    rep = scan(data)
    assert rep["verdict"] == "unsafe"
    joined = "\n".join(rep["reasons"])
    assert "builtins.getattr called with 'system'" in joined
    assert "result of builtins.getattr" in joined


def test_getattr_with_import_is_unsafe():
    data = (b"cbuiltins\ngetattr\n(cbuiltins\n__import__\n(S'os'\ntRS'system'\ntR"
            b"(S'id'\ntR.")
    rep = scan(data)
    assert rep["verdict"] == "unsafe"
    assert any("builtins.__import__" in r for r in rep["reasons"])


def test_plain_getattr_of_a_method_is_benign():
    data = b"cbuiltins\ngetattr\n(ccollections\nOrderedDict\nS'fromkeys'\ntR."
    assert scan(data)["verdict"] == "benign"


def test_truncated_benign_is_error():
    data = pickle.dumps({"a": [1.0, 2.0]}, protocol=2)[:-3]
    rep = scan(data)
    assert rep["verdict"] == "error"
    assert rep["reasons"] and rep["reasons"][0].startswith("malformed pickle")


def test_empty_input_is_error():
    rep = scan(b"")
    assert rep["verdict"] == "error"
    assert rep["reasons"] == ["no pickle found"]


def test_payload_after_stop_is_unsafe():
    rep = scan(pickle.dumps([1, 2]) + OS_SYSTEM)
    assert rep["verdict"] == "unsafe"


def test_broken_payload_is_unsafe_not_error():
    rep = scan(OS_SYSTEM[:-1])
    assert rep["verdict"] == "unsafe"


def test_dotted_name_crossing_modules():
    data = b"\x80\x04" + stack_global("pathlib", "os.system") + sbu("id") + b"\x85R."
    rep = scan(data)
    assert rep["verdict"] == "unsafe"
    joined = "\n".join(rep["reasons"])
    assert "pathlib.os.system" in joined and "process" in joined
    assert "crosses into module 'os'" in joined


def test_computed_global_is_unsafe():
    # STACK_GLOBAL on a module name that is itself a call result.
    data = (b"\x80\x04" + stack_global("builtins", "str") + sbu("os") + b"\x85R"
            + sbu("system") + b"\x93" + sbu("id") + b"\x85R.")
    rep = scan(data)
    assert rep["verdict"] == "unsafe"
    assert any("computed" in r for r in rep["reasons"])


def test_nested_pickle_reasons_are_prefixed():
    inner = b"cbuiltins\neval\n(S'1'\ntR."
    data = b"\x80\x04" + stack_global("pickle", "loads") + b"C" + bytes([len(inner)]) + inner + b"\x85R."
    rep = scan(data)
    assert rep["verdict"] == "unsafe"
    assert any(r.startswith("nested pickle at offset") and "builtins.eval" in r
               for r in rep["reasons"])


INNER_EVIL = b"cos\nsystem\n(S'echo hi'\ntR."
PICKLE_BYTES = b"\x80\x02" + INNER_EVIL  # starts the way pickle.dumps output starts


def looks_like_reports(rep):
    return any(r.startswith("nested pickle at offset") and "os.system" in r
               for r in rep["reasons"])


def test_bytes_that_parse_as_a_pickle_are_found_at_any_depth():
    # [[[b"\x80\x02..."]]] and {"k": ("x", [b"..."])}: the search finds them
    inner = b"C" + bytes([len(PICKLE_BYTES)]) + PICKLE_BYTES
    data = b"\x80\x04]]]" + inner + b"aaa."
    assert looks_like_reports(scan(data))
    data = b"\x80\x04}" + sbu("k") + sbu("x") + b"]" + inner + b"a\x86s."
    assert looks_like_reports(scan(data))


def test_a_list_filled_after_it_was_nested_is_still_searched():
    # outer = [inner]; then inner, fetched from the memo, gets the pickle
    # bytes: its holder was built before inner led anywhere.
    data = (b"\x80\x04]\x94]\x94a" + b"h\x01" + b"C" + bytes([len(PICKLE_BYTES)]) + PICKLE_BYTES
            + b"a0.")
    rep = scan(data)
    assert looks_like_reports(rep)
    # the same bytes one level deeper, filled late through a dict value
    data = (b"\x80\x04}\x94" + sbu("k") + b"]\x94]\x94a" + b"s" + b"h\x02" + b"C"
            + bytes([len(PICKLE_BYTES)]) + PICKLE_BYTES + b"a0.")
    assert looks_like_reports(scan(data))


def test_clean_nested_load_is_still_unsafe_and_says_why():
    inner = b"I12345\n."
    data = b"\x80\x04" + stack_global("_pickle", "loads") + b"C" + bytes([len(inner)]) + inner + b"\x85R."
    rep = scan(data)
    assert rep["verdict"] == "unsafe"
    assert "scanned and is clean" in rep["reasons"][0]


def test_dill_code_objects_are_a_policy_decision():
    data = b"\x80\x04" + stack_global("dill._dill", "_create_code") + b")R."
    rep = scan(data)
    assert rep["verdict"] == "unsafe"
    assert "allowed only by policy" in rep["reasons"][0]


def test_build_on_a_global_is_unsafe():
    data = (b"\x80\x04" + stack_global("torch", "_utils") + b"}" + sbu("_rebuild_tensor")
            + sbu("builtins") + b"sb.")
    rep = scan(data)
    assert rep["verdict"] == "unsafe"
    assert any("modifies the global torch._utils" in r for r in rep["reasons"])


def test_partial_of_data_constructor_is_benign():
    # pandas pickles its blocks as partial(new_block, ...)(values, ...).
    data = (b"\x80\x02cfunctools\npartial\ncpandas.core.internals.blocks\nnew_block\n\x85R"
            b"K\x01\x85R.")
    assert scan(data)["verdict"] == "benign"


def test_call_on_unknown_result_is_unsafe():
    data = b"\x80\x02cmylib\nfactory\n)RK\x01\x85R."
    rep = scan(data)
    assert rep["verdict"] == "unsafe"
    assert any("invokes the result of mylib.factory" in r for r in rep["reasons"])


def test_limit_hit_is_unsafe_scan_incomplete():
    rep = scan(pickle.dumps(list(range(200))), limits={"max_ops": 10})
    assert rep["verdict"] == "unsafe"
    assert rep["reasons"][0].startswith("scan incomplete:")


def test_reasons_are_capped_and_ordered():
    # Many distinct dangerous globals: at most 32 reasons, process first.
    body = b"".join(b"cmod%d\nloads\n0" % i for i in range(10))
    body += b"".join(b"cpickle\nload%d\n0" % i for i in range(40))
    data = b"(" + body + b"cos\nsystem\n0N."
    rep = scan(data)
    assert rep["verdict"] == "unsafe"
    assert len(rep["reasons"]) == 32
    assert rep["reasons"][0].startswith("os.system")


# ---- lookups that read like dotted globals ---------------------------------

def test_classmethod_pickled_through_getattr_is_benign():
    import datetime
    import zoneinfo

    value = datetime.datetime(2024, 3, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
    for proto in range(0, 6):
        data = pickle.dumps(value, protocol=proto)
        rep = scan(data)
        assert rep["verdict"] == "benign", (proto, rep["reasons"])


def test_methodcaller_with_an_ordinary_name_is_benign():
    import operator

    rep = scan(pickle.dumps([operator.methodcaller("lower"),
                             operator.methodcaller("split", ",")], protocol=2))
    assert rep["verdict"] == "benign", rep["reasons"]


@pytest.mark.parametrize("data", NOT_PLAIN)
def test_lookups_that_reach_for_code_stay_unsafe(data):
    rep = scan(data)
    assert rep["verdict"] == "unsafe", rep["reasons"]


def test_torch_legacy_module_persistent_id_counts_as_its_class():
    # persistent_load(("module", cls, file, source)) returns cls; NEWOBJ on it
    base = (b"\x80\x02(X\x06\x00\x00\x00module%s"
            b"X\x04\x00\x00\x00fileX\x06\x00\x00\x00sourcetQ)\x81}b.")
    safe = base % b"ctorch.nn.modules.linear\nLinear\n"
    assert scan(safe)["verdict"] == "benign", scan(safe)["reasons"]
    evil = base % b"cposix\nsystem\n"
    assert scan(evil)["verdict"] == "unsafe"
