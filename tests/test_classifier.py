"""The classifier: the bundled model, its serving path, training through the
same library, and the layered verdict."""

import hashlib
import json
import math
import os
import collections
import pickle
import shutil
import subprocess
import sys
import threading
from array import array

import numpy as np
import pytest

import safepickle
from safepickle import _native
from safepickle.classifier import (
    META_FILE,
    MODEL_DIR,
    MODEL_FILE,
    ModelError,
    bundled_model,
    feature_layout_digest,
    load_model,
)

from .guard_files import child_env

HERE = os.path.dirname(os.path.abspath(__file__))
N_FEATURES = len(_native.feature_names())
PARAMS = {"objective": "binary:logistic", "max_depth": "3", "eta": "0.3", "seed": "1",
          "nthread": "1"}


def synthetic(n=400, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, N_FEATURES), dtype=np.float32)
    y = (x[:, 3] + x[:, 40] > 1.0).astype(np.float32)
    return x, y


def constant_model(label):
    """A model that gives every vector the same verdict."""
    x, _ = synthetic(64)
    y = np.full(len(x), float(label), dtype=np.float32)
    model, _ = _native.train(x, y, params=PARAMS, rounds=20)
    return _native.Classifier(model)


# ---- the bundled model ----------------------------------------------------

def test_serving_path_reproduces_the_predictions_recorded_at_training():
    with open(os.path.join(HERE, "data", "model-recorded.json")) as fh:
        recorded = json.load(fh)
    assert recorded["feature_version"] == _native.FEATURE_VERSION
    rows = np.asarray(recorded["rows"], dtype=np.float32)
    assert rows.shape == (len(recorded["predictions"]), N_FEATURES)
    assert set(recorded["labels"]) == {0.0, 1.0}
    served = bundled_model().classifier.score_rows(rows)
    for got, want in zip(served, recorded["predictions"]):
        assert got == pytest.approx(want, abs=1e-6)


def test_bundled_model_matches_the_engine_and_library():
    model = bundled_model()
    meta = model.meta
    assert meta["feature_version"] == _native.FEATURE_VERSION
    assert meta["feature_digest"] == feature_layout_digest()
    serving = _native.library_versions()["xgboost"]
    assert meta["xgboost_version"].split(".")[:2] == serving.split(".")[:2]
    with open(os.path.join(MODEL_DIR, MODEL_FILE), "rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == meta["model_sha256"]
    assert 0.5 <= model.threshold < 1.0
    assert model.classifier.n_features == N_FEATURES
    assert bundled_model() is model  # loaded once


@pytest.mark.parametrize("change, message", [
    (lambda meta: meta.update(feature_version=meta["feature_version"] + 1), "feature layout"),
    (lambda meta: meta.update(feature_digest="0" * 64), "other feature names"),
    (lambda meta: meta.update(xgboost_version="2.1.0"), "trained with libxgboost"),
    (lambda meta: meta.update(model_sha256="0" * 64), "digest"),
])
def test_a_model_that_does_not_match_is_refused(tmp_path, change, message):
    shutil.copy(os.path.join(MODEL_DIR, MODEL_FILE), tmp_path / MODEL_FILE)
    with open(os.path.join(MODEL_DIR, META_FILE)) as fh:
        meta = json.load(fh)
    change(meta)
    (tmp_path / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match=message):
        load_model(str(tmp_path))


def test_a_damaged_model_file_is_refused(tmp_path):
    model = b'{"learner": nonsense'
    with open(os.path.join(MODEL_DIR, META_FILE)) as fh:
        meta = json.load(fh)
    meta["model_sha256"] = hashlib.sha256(model).hexdigest()
    (tmp_path / MODEL_FILE).write_bytes(model)
    (tmp_path / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="cannot load"):
        load_model(str(tmp_path))
    with pytest.raises(ModelError, match="cannot read"):
        load_model(str(tmp_path / "missing"))


# ---- the serving path ------------------------------------------------------

def test_classifier_refuses_bad_models_and_vectors():
    with pytest.raises(_native.ScanError):
        _native.Classifier(b"")
    with pytest.raises(_native.ScanError):
        _native.Classifier(b"not a model at all")
    # a model trained on vectors of another length
    rng = np.random.default_rng(1)
    x = rng.random((50, 7), dtype=np.float32)
    y = (x[:, 0] > 0.5).astype(np.float32)
    clf = bundled_model().classifier
    with pytest.raises(ValueError, match="multiple"):
        clf.score_rows(x)
    with pytest.raises(TypeError, match="float32"):
        clf.score_rows(x.astype(np.float64))
    with pytest.raises(TypeError, match="float32"):
        clf.score_rows(b"\0" * 4 * N_FEATURES)
    bad = np.zeros(N_FEATURES, dtype=np.float32)
    bad[5] = np.nan
    with pytest.raises(_native.ScanError, match="not finite"):
        clf.score_rows(bad)
    bad[5] = np.inf
    with pytest.raises(_native.ScanError, match="not finite"):
        clf.contributions(bad)
    with pytest.raises(ValueError):
        clf.contributions(np.zeros(N_FEATURES - 1, dtype=np.float32))
    with pytest.raises(ValueError, match="rows"):
        _native.train(np.zeros((3, N_FEATURES), np.float32), np.zeros(2, np.float32))
    del y


def test_a_model_for_another_feature_count_is_refused():
    x, y = synthetic(100)
    wide = np.ascontiguousarray(np.hstack([x, x[:, :1]]))
    # train() always reads rows of the engine's width; build a wider model
    # by hand through the same entry point with a reshaped matrix
    half = wide.reshape(-1)[: (wide.size // N_FEATURES) * N_FEATURES]
    model, _ = _native.train(
        half.reshape(-1, N_FEATURES)[:100], y, params=PARAMS, rounds=2, model_format="json"
    )
    text = json.loads(model)
    text["learner"]["learner_model_param"]["num_feature"] = str(N_FEATURES + 1)
    with pytest.raises(_native.ScanError, match="features"):
        _native.Classifier(json.dumps(text).encode())


def test_training_is_deterministic_and_served_predictions_equal_the_trainers():
    x, y = synthetic()
    model_a, preds_a = _native.train(x, y, params=PARAMS, rounds=30)
    model_b, preds_b = _native.train(x, y, params=PARAMS, rounds=30)
    assert model_a == model_b and preds_a == preds_b
    served = _native.Classifier(model_a).score_rows(x)
    assert np.allclose(served, preds_a, atol=1e-6)
    # it learned something: the synthetic rule is recovered
    assert np.mean((np.asarray(served) >= 0.5) == (y == 1)) > 0.9


def test_the_model_is_saved_as_ubjson_and_as_json_alike():
    x, y = synthetic(200, seed=3)
    ubj, preds = _native.train(x, y, params=PARAMS, rounds=10)
    text, _ = _native.train(x, y, params=PARAMS, rounds=10, model_format="json")
    assert ubj[:2] == b"{L" and text[:2] == b'{"'
    assert _native.Classifier(ubj).score_rows(x) == _native.Classifier(text).score_rows(x)
    assert np.allclose(_native.Classifier(ubj).score_rows(x), preds, atol=1e-6)
    with pytest.raises(ValueError, match="model_format"):
        _native.train(x, y, params=PARAMS, rounds=1, model_format="deprecated")


_THREADS_PROBE = """
import ctypes, os, sys
from safepickle import _native

from safepickle.classifier import MODEL_DIR, MODEL_FILE

omp = ctypes.CDLL("libgomp.so.1")
omp.omp_set_num_threads(3)
before = (len(os.listdir("/proc/self/task")), omp.omp_get_max_threads())
with open(os.path.join(MODEL_DIR, MODEL_FILE), "rb") as fh:
    _native.Classifier(fh.read())
after = (len(os.listdir("/proc/self/task")), omp.omp_get_max_threads())
print(before, after)
sys.exit(0 if before == after else 1)
"""


def test_reading_the_model_starts_no_threads_and_leaves_openmp_as_it_was():
    # XGBoost reads trees with OpenMP's default thread count; a pool started
    # there would spin in every guarded process after its first scan.
    proc = subprocess.run(
        [sys.executable, "-c", _THREADS_PROBE], capture_output=True, text=True, timeout=120,
        env=child_env(),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_contributions_add_up_to_the_score():
    clf = bundled_model().classifier
    with open(os.path.join(HERE, "data", "model-recorded.json")) as fh:
        rows = np.asarray(json.load(fh)["rows"], dtype=np.float32)
    for row in rows[:8]:
        score = clf.score_rows(row)[0]
        contrib = clf.contributions(row)
        assert len(contrib) == N_FEATURES + 1
        margin = sum(contrib)
        assert 1.0 / (1.0 + math.exp(-margin)) == pytest.approx(score, abs=1e-4)


def test_predictions_from_many_threads_equal_sequential_ones():
    clf = bundled_model().classifier
    x, _ = synthetic(300, seed=3)
    want = clf.score_rows(x)
    results, errors = {}, []

    def work(k):
        try:
            for _ in range(5):
                got = [clf.score_rows(x[i])[0] for i in range(len(x))]
                if got != want:
                    errors.append(k)
            results[k] = True
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 4


# ---- reading the model when a score is first needed -----------------------

def _bundled_bytes():
    with open(os.path.join(MODEL_DIR, MODEL_FILE), "rb") as fh:
        return fh.read()


def test_a_deferred_model_is_read_at_its_first_prediction_and_scores_alike():
    x, _ = synthetic(50, seed=5)
    eager = _native.Classifier(_bundled_bytes())
    deferred = _native.Classifier(_bundled_bytes(), deferred=True)
    assert eager.loaded and not deferred.loaded
    assert deferred.n_features == N_FEATURES
    assert deferred.score_rows(x) == eager.score_rows(x)
    assert deferred.loaded
    lazy = _native.Classifier(_bundled_bytes(), deferred=True)
    assert lazy.contributions(x[0]) == eager.contributions(x[0])


def test_a_deferred_model_is_not_read_for_what_needs_no_score():
    deferred = _native.Classifier(_bundled_bytes(), deferred=True)
    for data in (PURE_DATA, PURE_DATA * 3, BROKEN, b"", b"not a pickle at all"):
        for report in ("full", "verdict"):
            raw = _native.scan(data, classifier=deferred, report=report)
            assert raw["score"] is None
    assert not deferred.loaded
    raw = _native.scan(BENIGN, classifier=deferred)
    assert raw["score"] is not None and deferred.loaded


@pytest.mark.parametrize("model", [b"not a model at all", b'{"learner": nonsense'])
def test_a_deferred_model_that_cannot_be_read_fails_every_scan_that_needs_it(model):
    broken = _native.Classifier(model, deferred=True)
    # what needs no score is still judged
    assert _native.scan(PURE_DATA, classifier=broken)["verdict"] == "benign"
    for _ in range(2):  # never retried, never a pass
        for report in ("full", "verdict"):
            raw = _native.scan(BENIGN, classifier=broken, report=report)
            assert raw["verdict"] == "error" and raw["score"] is None
            assert any("cannot read the model" in r for r in raw["reasons"])
            raw = _native.scan(UNSAFE, classifier=broken, report=report)
            assert raw["verdict"] == "unsafe"  # the rules still say why
            assert any("cannot read the model" in r for r in raw["reasons"])
        with pytest.raises(_native.ScanError, match="cannot read the model"):
            broken.score_rows(np.zeros(N_FEATURES, dtype=np.float32))
    assert not broken.loaded


def test_the_guard_refuses_what_needs_a_model_it_cannot_read(monkeypatch):
    from safepickle import classifier

    meta = bundled_model().meta
    broken = classifier.BundledModel(_native.Classifier(b"junk", deferred=True), meta)
    monkeypatch.setattr(classifier, "_bundled", broken)
    assert safepickle.loads(pickle.dumps({"a": [1, 2]})) == {"a": [1, 2]}
    with pytest.raises(safepickle.UnscannableError, match="cannot read the model"):
        safepickle.loads(BENIGN)
    with pytest.raises(safepickle.UnsafePickleError):
        safepickle.loads(UNSAFE)


def test_a_deferred_model_for_another_feature_count_fails_at_first_use():
    x, y = synthetic(100)
    model, _ = _native.train(x, y, params=PARAMS, rounds=2, model_format="json")
    text = json.loads(model)
    text["learner"]["learner_model_param"]["num_feature"] = str(N_FEATURES + 1)
    wrong = _native.Classifier(json.dumps(text).encode(), deferred=True)
    raw = _native.scan(BENIGN, classifier=wrong)
    assert raw["verdict"] == "error"
    assert any("the model reads %d features" % (N_FEATURES + 1) in r for r in raw["reasons"])


def test_threads_that_first_use_a_deferred_model_together_all_get_its_scores():
    x, _ = synthetic(40, seed=9)
    want = _native.Classifier(_bundled_bytes()).score_rows(x)
    for _ in range(5):
        shared = _native.Classifier(_bundled_bytes(), deferred=True)
        barrier = threading.Barrier(4)
        got, errors = [], []

        def work():
            try:
                barrier.wait()
                got.append(shared.score_rows(x))
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(repr(exc))

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and got == [want] * 4


def test_a_process_that_scans_only_plain_data_never_reads_the_model():
    code = (
        "import pickle, safepickle\n"
        "from safepickle.classifier import bundled_model\n"
        "assert safepickle.scan(pickle.dumps({'a': [1.5, 'x']})).verdict == 'benign'\n"
        "assert safepickle.loads(pickle.dumps([1, 2, 3])) == [1, 2, 3]\n"
        "print(bundled_model().classifier.loaded)\n"
        "assert safepickle.scan(pickle.dumps(__import__('collections').OrderedDict(a=1))).score is not None\n"
        "print(bundled_model().classifier.loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=os.path.dirname(HERE), timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]


# ---- the layered verdict ---------------------------------------------------

# A benign pickle that names a global, so the model has something to judge.
BENIGN = pickle.dumps(collections.OrderedDict(weights=[1.0, 2.0], name="model"), protocol=4)
PURE_DATA = pickle.dumps({"weights": [1.0, 2.0], "name": "os.system('echo hi')"}, protocol=4)
UNSAFE = b"cos\nsystem\n(S'echo hi'\ntR."
BROKEN = b"\x80\x04K\x01"  # no STOP


def model_flagging(data):
    """A model that learned to flag the vector of data and nothing else."""
    target = np.asarray(_native.scan(data)["features"], dtype=np.float32)
    x, _ = synthetic(64)
    x = np.vstack([np.tile(target, (64, 1)), x]).astype(np.float32)
    y = np.r_[np.ones(64), np.zeros(64)].astype(np.float32)
    model, _ = _native.train(np.ascontiguousarray(x), y, params=PARAMS, rounds=20)
    return _native.Classifier(model)


def test_the_model_decides_what_the_rules_leave_benign():
    always = model_flagging(BENIGN)
    raw = _native.scan(BENIGN, classifier=always, threshold=0.5)
    assert raw["verdict"] == "unsafe" and raw["decided_by"] == "model"
    assert raw["score"] > 0.5
    assert raw["reasons"] and raw["reasons"][0].startswith("classifier score")
    assert raw["drivers"], "a model verdict names the features behind it"
    assert raw["records"][0]["score"] == raw["score"]
    # the threshold is the user's to move
    raw = _native.scan(BENIGN, classifier=always, threshold=1.0)
    assert raw["verdict"] == "benign" and raw["decided_by"] is None


def test_a_pickle_that_reaches_no_callable_is_not_scored():
    # Even a model trained to flag exactly this vector is not asked: the
    # loader can only build builtin values from it.
    always = model_flagging(PURE_DATA)
    raw = _native.scan(PURE_DATA, classifier=always, threshold=0.5)
    assert raw["verdict"] == "benign" and raw["decided_by"] is None
    assert raw["score"] is None and raw["records"][0]["score"] is None
    compact = _native.scan(PURE_DATA, classifier=always, threshold=0.5, report="verdict")
    assert compact["verdict"] == "benign" and compact["score"] is None


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"ccollections\nOrderedDict\n)R.", id="GLOBAL"),
        pytest.param(b"\x80\x04\x8c\x0bcollections\x8c\x0bOrderedDict\x93)R.", id="STACK_GLOBAL"),
        pytest.param(b"Pstorage0\n.", id="PERSID"),
        pytest.param(b"\x80\x02X\x01\x00\x00\x000Q.", id="BINPERSID"),
        pytest.param(b"(ccollections\nOrderedDict\no.", id="OBJ"),
        pytest.param(b"(icollections\nOrderedDict\n.", id="INST"),
        pytest.param(
            pickle.dumps([pickle.dumps(collections.OrderedDict(a=1), protocol=2)], protocol=4),
            id="nested-pickle",
        ),
    ],
)
def test_a_pickle_that_can_reach_a_callable_is_scored(data):
    raw = _native.scan(data, classifier=constant_model(1), threshold=0.5)
    assert raw["score"] is not None and raw["score"] > 0.5
    assert raw["verdict"] in ("unsafe", "error")


def test_certain_rules_decide_alone_whatever_the_score():
    never = constant_model(0)
    raw = _native.scan(UNSAFE, classifier=never, threshold=0.5)
    assert raw["verdict"] == "unsafe" and raw["decided_by"] == "rules"
    assert raw["score"] < 0.5
    assert any("posix.system" in r or "os.system" in r for r in raw["reasons"])


def test_an_error_stays_an_error_and_no_model_means_no_score():
    raw = _native.scan(BROKEN, classifier=constant_model(0))
    assert raw["verdict"] == "error"
    raw = _native.scan(BENIGN)
    assert raw["score"] is None and raw["decided_by"] is None and raw["drivers"] == []
    assert raw["records"][0]["score"] is None


def test_explain_names_the_drivers_with_their_values():
    clf = bundled_model().classifier
    raw = _native.scan(BENIGN, classifier=clf, explain=True)
    names = set(_native.feature_names())
    assert 1 <= len(raw["drivers"]) <= 5
    features = dict(zip(_native.feature_names(), raw["features"]))
    mags = [abs(d["contribution"]) for d in raw["drivers"]]
    assert mags == sorted(mags, reverse=True)
    for d in raw["drivers"]:
        assert d["feature"] in names
        assert d["value"] == pytest.approx(features[d["feature"]], rel=1e-6)


def test_scan_arguments_are_checked():
    with pytest.raises(TypeError, match="Classifier"):
        _native.scan(BENIGN, classifier=object())
    with pytest.raises(ValueError, match="threshold"):
        _native.scan(BENIGN, classifier=bundled_model().classifier, threshold=1.5)


def test_api_uses_the_bundled_model_unless_told_not_to():
    report = safepickle.scan(BENIGN)
    assert report.score is not None and 0.0 <= report.score <= 1.0
    assert report.verdict == "benign"
    assert safepickle.scan(BENIGN, model=False).score is None
    assert safepickle.scan(BENIGN, threshold=0.0).verdict == "unsafe"
    report = safepickle.scan(UNSAFE)
    assert report.verdict == "unsafe" and report.decided_by == "rules"


def test_record_features_carry_each_records_vector_and_rule_verdict():
    raw = _native.scan(UNSAFE, record_features=True)
    (rec,) = raw["records"]
    assert rec["rule_verdict"] == "unsafe"
    assert rec["features"] == raw["features"]
    assert "features" not in _native.scan(UNSAFE)["records"][0]


def _everyday_values():
    import datetime
    import decimal
    import uuid
    import zoneinfo

    zone = zoneinfo.ZoneInfo("America/New_York")
    return {
        "zoned datetime": datetime.datetime(2024, 11, 3, 1, 30, tzinfo=zone),
        "zone": zone,
        "zoned records": [{"id": i, "at": datetime.datetime(2024, 1, 1, i, tzinfo=zone)}
                          for i in range(5)],
        "utc datetime": datetime.datetime(2024, 1, 1, tzinfo=datetime.timezone.utc),
        "decimal": decimal.Decimal("1.25"),
        "uuid": uuid.UUID(int=7),
    }


@pytest.mark.parametrize("protocol", range(6))
@pytest.mark.parametrize("name", sorted(_everyday_values()))
def test_the_bundled_model_passes_everyday_standard_library_values(name, protocol):
    # a timestamp with a zoneinfo zone pickles through getattr(ZoneInfo,
    # "_unpickle"); pickled alone it was refused by the model of layout v1
    value = _everyday_values()[name]
    data = pickle.dumps(value, protocol=protocol)
    report = safepickle.scan(data)
    assert report.verdict == "benign", (report.score, report.reasons)
    assert safepickle.loads(data) == value
