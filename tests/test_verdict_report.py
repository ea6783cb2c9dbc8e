"""The compact report (scan(..., report="verdict")) decides as the full one.

The load guard acts on the compact report alone, so any difference in
verdict, score, reasons or globals would be a file judged differently by
the guard than by `safepickle scan`. Every corpus file is compared (read as
bytes by the scanner, never loaded), and so is every generated pickle and a
stream of random opcode sequences.
"""

import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from tests.budget import scaled

import safepickle
from safepickle import _native

from . import pickle_gen
from .conftest import corpus_root_or_fail, read_manifest

ROOT = corpus_root_or_fail()
ROWS = read_manifest(ROOT)
GENERATED = pickle_gen.generated()

COMPACT_KEYS = {
    "format",
    "verdict",
    "score",
    "decided_by",
    "reasons",
    "globals",
    "input_len",
    "limit_hit",
    "feature_version",
}


def _streams(raw):
    """Every stream of a full report: the primary's, other records', nested."""
    pending = list(raw.get("streams") or [])
    for record in raw.get("records") or []:
        if record.get("report"):
            pending.extend(record["report"]["streams"])
    out = []
    while pending:
        stream = pending.pop(0)
        out.append(stream)
        for nested in stream["nested"]:
            if nested.get("report"):
                pending.extend(nested["report"]["streams"])
    return out


def _without_values(stream):
    """A stream as a report without detail shows it: calls by what they
    call, no values, no result."""
    stream = dict(stream, result=None, nested=len(stream["nested"]))
    stream["calls"] = [(c["index"], c["kind"], c["offset"]) for c in stream["calls"]]
    return stream


def differences(data, **options):
    """What the compact report, and the full one without detail, say
    differently from the full one with detail. Only the last is read by the
    machine throughout: the other two leave stream results unread, so the
    plain-data walk (csrc/core/sp_plain.c) may read their streams of plain
    data, and must count all the machine counts there."""
    full = safepickle.scan(data, detail=True, **options)
    quick = safepickle.scan(data, detail=False, **options)
    compact = safepickle.scan(data, detail=False, report="verdict", **options)
    out = []
    assert set(compact.raw) == COMPACT_KEYS
    for field in ("format", "verdict", "score", "decided_by", "reasons", "globals", "limit_hit"):
        for name, other in (("compact", compact), ("quick", quick)):
            if getattr(full, field) != getattr(other, field):
                out.append((name, field, getattr(full, field), getattr(other, field)))
    for key in ("input_len", "feature_version"):
        if full.raw[key] != compact.raw[key]:
            out.append(("compact", key, full.raw[key], compact.raw[key]))
    if quick.raw["features"] != full.raw["features"]:
        out.append(("quick", "features", full.raw["features"], quick.raw["features"]))
    mine, theirs = _streams(full.raw), _streams(quick.raw)
    if len(mine) != len(theirs):
        out.append(("quick", "streams", len(mine), len(theirs)))
    for i, (a, b) in enumerate(zip(mine, theirs)):
        a, b = _without_values(a), _without_values(b)
        for key in a:
            if a[key] != b.get(key):
                out.append(("quick", "stream %d" % i, key, a[key], b.get(key)))
    return out


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row["path"].rsplit("/", 1)[-1])
def test_corpus_file_same_verdict(row):
    data = (ROOT / row["path"]).read_bytes()
    assert differences(data) == []


def test_generated_pickles_same_verdict():
    wrong = {}
    for name, data in GENERATED:
        found = differences(data)
        if found:
            wrong[name] = found
    assert wrong == {}
    assert len(GENERATED) > 100


def test_generated_pickles_same_verdict_rules_only_and_capped():
    # a cap hit part-way and the rules alone: limit_hit and an unscored
    # verdict have to come through too
    wrong = {}
    hit = 0
    for name, data in GENERATED:
        found = differences(data, model=False, limits={"max_ops": 6})
        if found:
            wrong[name] = found
        hit += _native.scan(data, detail=False, report="verdict", limits={"max_ops": 6})[
            "limit_hit"
        ]
    assert wrong == {}
    assert hit > 0


@settings(
    max_examples=scaled(200),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=pickle_gen.opcode_streams())
def test_random_opcode_streams_same_verdict(data):
    assert differences(data) == []


def test_nested_pickle_globals_are_listed_in_order():
    inner = b"cos\nsystem\n(S'id'\ntR."
    outer = b"\x80\x02cbuiltins\nlen\ncpickle\nloads\nC" + bytes([len(inner)]) + inner + b"\x85R."
    compact = safepickle.scan(outer, report="verdict")
    assert compact.globals == ["builtins.len", "pickle.loads", "os.system"]
    assert compact.verdict == "unsafe"
    assert compact.globals == safepickle.scan(outer).globals


def test_repeated_globals_listed_once():
    data = pickle.dumps([pickle_gen.Plain() for _ in range(50)] + [len, len], protocol=2)
    compact = safepickle.scan(data, report="verdict")
    assert len(compact.globals) == len(set(compact.globals))
    assert compact.globals == safepickle.scan(data).globals
    assert "builtins.len" in compact.globals


def test_compact_report_object_leaves_the_trace_out():
    data = b"cos\nsystem\n(S'id'\ntR."
    compact = safepickle.scan(data, report="verdict")
    full = safepickle.scan(data)
    assert compact.streams == [] and compact.calls == [] and compact.anomalies == []
    assert compact.features is None and compact.drivers == []
    assert full.calls and full.features is not None
    assert compact.to_json() == full.to_json()
    assert compact.is_unsafe


def test_unknown_report_mode_is_refused():
    with pytest.raises(ValueError, match="report must be"):
        safepickle.scan(b"N.", report="short")
    with pytest.raises(ValueError, match="report must be"):
        _native.scan(b"N.", report="short")


def test_record_features_need_the_full_report():
    with pytest.raises(ValueError, match="record_features"):
        _native.scan(b"N.", report="verdict", record_features=True)
