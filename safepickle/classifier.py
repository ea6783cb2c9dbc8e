"""The bundled model: loaded once, on first use, and shared by every thread.

The model file is XGBoost's UBJSON written by ``safepickle._native.train`` (see
``training/train.py``); ``model-meta.json`` beside it says which feature
layout it reads, which libxgboost trained it and the threshold chosen for
it. A model that does not match the engine is refused with a clear error
rather than scoring vectors it was not trained on.

The bundled model is checked when first asked for, but XGBoost parses it
only when a scan first needs a score: plain data, rule verdicts and files
without a pickle never pay for it.
"""

import hashlib
import json
import os
import threading

from . import _native

MODEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model")
MODEL_FILE = "model.ubj"
META_FILE = "model-meta.json"


class ModelError(RuntimeError):
    """The bundled model is missing, damaged or built for another engine."""


class BundledModel:
    """A loaded classifier with the facts it was trained under."""

    def __init__(self, classifier, meta):
        self.classifier = classifier
        self.meta = meta
        self.threshold = float(meta["threshold"])

    def __repr__(self):
        return (
            f"<BundledModel features=v{self.meta['feature_version']} "
            f"threshold={self.threshold:.3f} xgboost={self.meta['xgboost_version']}>"
        )


def feature_layout_digest():
    """sha256 of the feature names in order: a changed layout changes it."""
    return hashlib.sha256("\n".join(_native.feature_names()).encode()).hexdigest()


def _major_minor(version):
    return tuple(version.split(".")[:2])


def load_model(directory=MODEL_DIR, deferred=False):
    """Read and check a model directory; raises ModelError. With
    ``deferred``, XGBoost reads the model at its first prediction, and a
    model it cannot read fails that scan (and every later one) instead."""
    meta_path = os.path.join(directory, META_FILE)
    model_path = os.path.join(directory, MODEL_FILE)
    try:
        with open(meta_path, "rb") as fh:
            meta = json.load(fh)
        with open(model_path, "rb") as fh:
            model = fh.read()
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read the model in {directory}: {exc}") from exc

    if meta.get("feature_version") != _native.FEATURE_VERSION:
        raise ModelError(
            f"{model_path} reads feature layout v{meta.get('feature_version')}, "
            f"the engine computes v{_native.FEATURE_VERSION}: retrain it (README, Retraining)"
        )
    if meta.get("feature_digest") != feature_layout_digest():
        raise ModelError(f"{model_path} was trained on other feature names: retrain it")
    serving = _native.library_versions()["xgboost"]
    trained = str(meta.get("xgboost_version", "?"))
    # Models move between patch releases of one series; across series a
    # model may be read differently without any error from the library.
    if _major_minor(serving) != _major_minor(trained):
        raise ModelError(
            f"{model_path} was trained with libxgboost {trained}, the scanner links {serving}"
        )
    if hashlib.sha256(model).hexdigest() != meta.get("model_sha256"):
        raise ModelError(f"{model_path} does not match the digest in {META_FILE}")
    try:
        classifier = _native.Classifier(model, deferred=deferred)
    except _native.ScanError as exc:
        raise ModelError(f"cannot load {model_path}: {exc}") from exc
    return BundledModel(classifier, meta)


_lock = threading.Lock()
_bundled = None


def bundled_model():
    """The package's model, loaded on the first call (thread-safe)."""
    global _bundled
    model = _bundled
    if model is None:
        with _lock:
            if _bundled is None:
                _bundled = load_model(deferred=True)
            model = _bundled
    return model
