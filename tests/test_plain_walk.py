"""The plain-data walk (csrc/core/sp_plain.c) decides as the machine does.

A pickle that names no callable can only build builtin values. When the
caller reads only the verdict (the load guard), such a stream is walked
without building values; the walk gives up, and the machine runs, at the
first thing it is not sure the machine would let pass silently. These tests
check the two halves of that promise on the same bytes: the walk is taken
for ordinary data (or it would save nothing), and wherever it is taken or
not, the compact report says what the full report, always read by the
machine, says. test_verdict_report.py compares the two reports on the
corpus and on random opcode streams as well.
"""

import collections
import pickle
import random
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.budget import scaled

import safepickle
from safepickle import _native

from .test_verdict_report import differences


def walked(data):
    return _native._plain_streams(data)


def plain_objects():
    rng = random.Random(7)
    shared = ["shared"]
    nested = {"k%d" % i: [i, "v%d" % i, i * 0.5, None, (i, -i)] for i in range(50)}
    return {
        "dict of floats": {"k%d" % i: rng.random() for i in range(500)},
        "list of tuples": [(i, "s%d" % (i % 7), i * 7) for i in range(2000)],
        "mixed scalars": [None, True, False, 0, -1, 255, 65535, 2**31, -2**31, 2**64, -2**70,
                          1.5, -0.0, float("inf"), "", "ascii"],
        "text beyond ASCII": ["é ü", "\ud800", "日本"],
        "bytes": [b"", b"\x00\xff", b"abc"],
        "nested": nested,
        "shared values": [shared, shared, (shared,), {"a": shared}],
        "text": ["line %d\twith tab" % i for i in range(300)],
        "deep list": [[[[[[1]]]]]],
        "tuple keys": {(1, "a"): 1, (2, (3, "b")): 2, (): 3},
        "big bytes": [bytes(200_000), b"x" * 70_000],
    }


def protocols_for(name):
    if name in ("big bytes", "bytes"):
        return range(3, 6)  # below 3, bytes are a REDUCE on _codecs.encode
    if name == "text beyond ASCII":
        return range(1, 6)  # protocol 0 escapes it: the machine decodes it
    return range(0, 6)


@pytest.mark.parametrize("name", sorted(plain_objects()))
def test_plain_data_is_walked_and_judged_alike(name):
    obj = plain_objects()[name]
    for proto in protocols_for(name):
        data = pickle.dumps(obj, protocol=proto)
        assert walked(data) == [True], (name, proto)
        assert differences(data) == [], (name, proto)
        report = safepickle.scan(data, report="verdict")
        assert report.verdict == "benign" and report.globals == [] and report.score is None


def test_sets_and_bytearrays_walked_from_the_protocols_that_write_them_as_opcodes():
    obj = [{1, 2, "a"}, frozenset({(1, 2)}), bytearray(b"ab")]
    assert walked(pickle.dumps(obj, protocol=5)) == [True]
    # below protocol 4 a set is builtins.set called on a list: the machine
    assert walked(pickle.dumps(obj[:2], protocol=3)) == [False]


def test_anything_that_names_a_callable_goes_to_the_machine():
    for obj in (collections.OrderedDict(a=1), [1, 2, len], {"a": complex(1, 2)}):
        for proto in range(0, 6):
            data = pickle.dumps(obj, protocol=proto)
            assert walked(data) == [False]
            assert differences(data) == []


def test_each_pickle_of_a_file_is_walked_on_its_own():
    data = pickle.dumps([1, 2], protocol=4) + pickle.dumps("tail", protocol=2)
    assert walked(data) == [True, True]
    assert differences(data) == []


def test_plain_pickles_beside_a_scored_one_count_for_its_features():
    # The model scores the whole file from features that count stack
    # depths, memo use and string sizes in every one of its pickles: the
    # walk counts them as the machine does, so the plain pickles beside one
    # that names a callable stay walked and the score does not move.
    evil = b"cos\nsystem\n(S'id'\ntR."
    data = pickle.dumps([1, 2], protocol=4) + evil + pickle.dumps("tail", protocol=2)
    assert walked(data) == [True, False, True]
    report = safepickle.scan(data, report="verdict")
    assert report.verdict == "unsafe" and report.globals == ["os.system"]
    assert differences(data) == []
    benign = pickle.dumps([1, [2, [3]], "x" * 300], protocol=2) + pickle.dumps(
        collections.OrderedDict(a=1))
    assert walked(benign) == [True, False]
    assert differences(benign) == []
    assert safepickle.scan(benign, report="verdict").score is not None


def test_the_walk_counts_what_the_machine_counts():
    # A stream with every statistic away from zero: the full report without
    # detail (walked) and with it (the machine) show the same figures.
    shared = ["m"]
    obj = [{"k%d" % i: (i, "v" * i, [shared]) for i in range(40)}, shared, b"xy" * 50,
           frozenset({(1, (2, (3,)))}), (), [[[[]]]]]
    for proto in range(0, 6):
        # below protocol 4 bytes and frozensets are calls: the machine's
        data = pickle.dumps(obj if proto >= 4 else obj[:2], protocol=proto)
        assert walked(data) == [True], proto
        stats = safepickle.scan(data, detail=False).raw["streams"][0]["stats"]
        assert stats == safepickle.scan(data, detail=True).raw["streams"][0]["stats"], proto
        assert stats["memo_gets"] > 0 and stats["max_container_depth"] >= 4, proto
        assert stats["string_bytes"] > 0 and stats["max_mark_depth"] >= 1, proto


def test_a_pickle_hidden_in_a_constant_is_not_walked_past():
    # plain data whose bytes constant is a pickle: the machine scans it as
    # a nested pickle, and its os.system makes the file unsafe
    inner = b"\x80\x02cos\nsystem\n(S'id'\ntR."
    for const in (inner, bytearray(inner)):
        data = pickle.dumps([1, const], protocol=5)
        assert walked(data) == [False]
        assert safepickle.scan(data, report="verdict").verdict == "unsafe"
        assert differences(data) == []
    as_text = pickle.dumps(["x", inner.decode("latin-1")], protocol=4)
    assert walked(as_text) == [False]
    assert differences(as_text) == []


F = b"\x95"  # FRAME


def frame(body):
    return F + struct.pack("<Q", len(body)) + body


# What the machine reports (or where the loader stops) for data alone: the
# walk must give up on each, and the two reports must still agree.
EDGES = {
    "truncated": b"\x80\x04]\x94(K\x01K\x02",
    "no STOP": b"K\x01",
    "empty": b"",
    "stack leftover": b"K\x01K\x02.",
    "open mark at STOP": b"(K\x01.",
    "underflow": b"\x85.",
    "APPEND under a mark": b"](K\x01a.",
    "odd SETITEMS": b"}(K\x01u.",
    "unhashable key": b"}(]K\x01u.",
    "unhashable in DICT": b"(]K\x01d.",
    "unhashable tuple key": b"}(](\x85K\x01u.",
    "unhashable in frozenset": b"\x80\x04(]\x91.",
    "APPENDS to a tuple": b")(K\x01e.",
    "SETITEM on a list": b"]K\x00K\x01s.",
    "ADDITEMS to a list": b"\x80\x04](K\x01\x90.",
    "APPENDS to a bytearray": b"\x80\x05\x96\x01\x00\x00\x00\x00\x00\x00\x00a(K\x01e.",
    "memo overwrite": b"K\x01q\x00K\x02q\x00\x86.",
    "memo sparse": b"K\x01r\x00\x00\x10\x00.",
    "memo missing": b"h\x05.",
    "GET negative": b"g-1\n.",
    "PUT negative": b"K\x01p-1\n.",
    "PUT noncanonical": b"K\x01p01\n.",
    "PUT empty stack": b"q\x00N.",
    "INT base prefix": b"I0x10\n.",
    "INT plus sign": b"I+5\n.",
    "INT NUL": b"I5\x00\n.",
    "LONG junk": b"L5x\n.",
    "FLOAT noncanonical": b"F1.50\n.",
    "FLOAT junk": b"Fabc\n.",
    "UNICODE escape": b"V\\u0041\n.",
    "UNICODE latin-1": b"V\xe9\n.",
    "UNICODE NUL": b"Va\x00b\n.",
    "STRING": b"S'a'\n.",
    "BINSTRING": b"U\x01a.",
    "BINUNICODE bad utf-8": b"X\x02\x00\x00\x00\xff\xfe.",
    "LONG4 negative": b"\x8b\xff\xff\xff\xff.",
    "PROTO repeated": b"\x80\x02\x80\x02N.",
    "PROTO 6": b"\x80\x06N.",
    "opcode newer than PROTO": b"\x80\x02C\x01a.",
    "opcode newer than no PROTO": b"\x88.",
    "frame straddled": b"\x80\x04" + F + struct.pack("<Q", 3) + b"X\x02\x00\x00\x00ab.",
    "line across frame end": b"\x80\x04" + F + struct.pack("<Q", 3) + b"I12\n.",
    "frame inside frame": b"\x80\x04" + F + struct.pack("<Q", 12) + frame(b"N") + b"..",
    "empty frame": b"\x80\x04" + frame(b"") + b"N.",
    "frame longer than data": b"\x80\x04" + F + struct.pack("<Q", 99) + b"N.",
    "STOP inside frame": b"\x80\x04" + frame(b"N.N") + b"",
    "opcode byte ends the frame": b"\x80\x04" + frame(b"K") + b"\x01.",
    "next buffer": b"\x80\x05\x97.",
    "readonly buffer": b"\x80\x05C\x01a\x98.",
    "unknown opcode": b"\xff.",
    "POP_MARK without mark": b"N1.",
    "DUP empty": b"2N.",
}


@pytest.mark.parametrize("name", sorted(EDGES))
def test_the_walk_gives_up_where_the_machine_reports(name):
    data = EDGES[name]
    assert not any(walked(data)), name
    assert differences(data) == []


def test_edge_cases_still_walked_when_harmless():
    # what the loader accepts silently, the walk accepts too
    for data in (
        b"(0N.",  # POP takes a MARK off
        b"N(N1.",  # POP_MARK
        b"\x80\x02N2\x86.",  # DUP
        b"\x80\x04" + frame(b"N") + b".",  # STOP outside the frame
        b"\x80\x04" + frame(b"]") + b"K\x01a.",  # ops after the frame
        b"\x80\x04" + frame(b"\x8c\x00") + b".",  # empty argument at frame end
        b"(t.",  # TUPLE on an empty mark
        b"}(u.",  # SETITEMS with nothing
        b"I01\n.",  # bool lines
        b"L123L\n.",
        b"F-2.5\n.",
    ):
        assert walked(data) == [True], data
        assert differences(data) == []


@pytest.mark.parametrize("cap, value, data", [
    ("max_depth", 3, pickle.dumps([[[[1]]]], protocol=4)),
    ("max_depth", 0, b")."),
    # the machine checks the stack cap when its stack grows, past 64
    ("max_stack", 100, pickle.dumps(tuple(range(300)), protocol=4)),
    ("max_marks", 1, b"((tt."),
    ("max_memo", 1, pickle.dumps(["a", "b"], protocol=4)),
    ("max_string", 3, pickle.dumps("abcd", protocol=4)),
    ("max_ops", 3, pickle.dumps([1, 2, 3], protocol=2)),
])
def test_caps_bind_the_walk_as_they_bind_the_machine(cap, value, data):
    limits = {cap: value}
    full = safepickle.scan(data, limits=limits)
    compact = safepickle.scan(data, limits=limits, report="verdict")
    assert full.limit_hit and compact.limit_hit
    assert (compact.verdict, compact.reasons) == (full.verdict, full.reasons)
    assert compact.verdict == "unsafe"
    # and with room to spare both read the data as benign
    assert safepickle.scan(data, report="verdict").verdict == "benign"


def test_depth_shared_through_the_memo_counts():
    # A list memoized while empty, grown 4 levels deeper, then fetched back
    # from the memo into the outer list: the outer list is 6 deep only if
    # the memo's copy shares the growth, as the loader's (and the
    # machine's) does.
    data = b"\x80\x02](]q\x00]]]]aaaah\x00e."
    assert walked(data) == [True]
    loaded = pickle.loads(data)
    assert loaded[0] is loaded[1] and loaded[0] == [[[[[]]]]]
    for cap in (4, 5, 6, 7):
        assert differences(data, limits={"max_depth": cap}) == []
    assert safepickle.scan(data, limits={"max_depth": 5}, report="verdict").limit_hit
    assert not safepickle.scan(data, limits={"max_depth": 6}, report="verdict").limit_hit


plain_ops = st.one_of(
    st.sampled_from([b"N", b"\x88", b"\x89", b")", b"]", b"}", b"\x8f", b"(", b"(", b"t", b"l",
                     b"d", b"\x85", b"\x86", b"\x87", b"a", b"e", b"s", b"u", b"\x90", b"\x91",
                     b"0", b"1", b"2", b"\x94", b"."]),
    st.integers(0, 255).map(lambda n: b"K" + bytes([n])),
    st.integers(0, 8).map(lambda n: b"q" + bytes([n])),
    st.integers(0, 8).map(lambda n: b"h" + bytes([n])),
    st.integers(0, 8).map(lambda n: b"p%d\n" % n),
    st.integers(0, 8).map(lambda n: b"g%d\n" % n),
    st.sampled_from([b"I5\n", b"I01\n", b"I0x5\n", b"L9L\n", b"F0.5\n", b"F.5\n", b"Vab\n",
                     b"V\\u00e9\n", b"\x8c\x02ab", b"\x8c\x02\xc3\xa9", b"C\x01\x80",
                     b"C\x04\x80\x02N.", b"X\x01\x00\x00\x00\xff", b"\x8a\x01\x05",
                     b"\x96\x00\x00\x00\x00\x00\x00\x00\x00", b"\x80\x04", b"\x80\x02"]),
    st.binary(min_size=1, max_size=2),
)


@st.composite
def plain_streams(draw):
    proto = draw(st.sampled_from([b"", b"\x80\x02", b"\x80\x04", b"\x80\x05"]))
    ops = draw(st.lists(plain_ops, max_size=30))
    body = b"".join(ops)
    framed = draw(st.integers(0, 3))
    if framed == 1 and proto in (b"\x80\x04", b"\x80\x05"):
        cut = draw(st.integers(0, len(body)))
        body = frame(body[:cut]) + body[cut:]
    return proto + body + draw(st.sampled_from([b".", b"", b"N."]))


@settings(max_examples=scaled(400), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=plain_streams())
def test_random_plain_streams_judged_alike(data):
    assert differences(data) == []


def test_random_plain_streams_often_walked():
    # the property above is only worth something if the walk is taken
    rng = random.Random(3)
    taken = 0
    total = 300
    for _ in range(total):
        obj = [rng.choice([None, 1, "a", 2.5, (1,), [], {}]) for _ in range(rng.randint(0, 9))]
        data = pickle.dumps(obj, protocol=rng.randint(0, 5))
        cut = bytearray(data)
        if rng.random() < 0.5 and len(cut) > 3:
            cut[rng.randrange(2, len(cut) - 1)] = rng.randrange(256)
        taken += walked(bytes(cut))[:1] == [True]
        assert differences(bytes(cut)) == []
    assert taken > total // 3


number_lines = st.one_of(
    st.text(alphabet="0123456789-+._ xeE\x00", max_size=8),
    st.sampled_from(["0", "-0", "00", "01", "007", "-5", "123456789012345678",
                     "1234567890123456789", "0.10", "1e5", "100.0", "0.0001", "0.00001",
                     "1234567890123456.0", "12345678901234567.0", "-0.0", "inf", "nan"]),
).map(lambda s: s.encode())


@settings(max_examples=scaled(400), deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(line=number_lines)
def test_number_and_memo_lines_judged_alike(line):
    # the walk accepts the lines a pickler writes by their shape alone and
    # sends every other line to the parsers the machine uses
    for data in (b"I" + line + b"\n.", b"F" + line + b"\n.", b"L" + line + b"L\n.",
                 b"N" + b"p" + line + b"\n0g" + line + b"\n."):
        assert differences(data) == [], data


def test_lines_a_pickler_writes_are_walked():
    for data in (b"I-5\n.", b"I0\n.", b"F0.0001\n.", b"F-1234.5\n.", b"Np12\n0g12\n."):
        assert walked(data) == [True], data


def test_stack_cap_agrees_around_every_growth_of_the_stack():
    # the machine looks at max_stack only when its stack grows; the walk
    # gives up wherever that could be, so the two never disagree
    for depth in (50, 63, 64, 65, 100, 127, 128, 129, 200):
        data = b"(" + b"N" * depth + b"t."
        for cap in (10, 64, 65, 100, 128, 129, 150):
            assert differences(data, limits={"max_stack": cap}) == [], (depth, cap)
    assert walked(b"(" + b"N" * 200 + b"t.") == [True]


def test_a_plain_pickle_over_the_machines_memory_cap_gets_the_guards_verdict_without_detail():
    # 100k memoized strs: 24-byte memo slots on the machine, 4-byte words on
    # the walk. With a 1 MiB cap only the machine runs out, so the report
    # that shows results (detail) ends at the cap, and the two that do not
    # (the CLI's and the guard's) judge the data itself, alike.
    data = pickle.dumps(["s%d" % i for i in range(100_000)], protocol=4)
    limits = {"max_alloc": 1 << 20}
    shown = _native.scan(data, limits, detail=True)
    assert shown["limit_hit"] is True and "memory cap" in shown["limit_detail"]
    quick = _native.scan(data, limits, detail=False)
    compact = _native.scan(data, limits, detail=False, report="verdict")
    assert walked(data) == [True]
    for report in (quick, compact):
        assert report["limit_hit"] is False and report["verdict"] == "benign", report["reasons"]
    assert quick["streams"][0]["stats"]["memo_entries"] == 100_001
