"""Fitting the classifier: row weights, the booster, the threshold.

Training goes through ``safepickle._native.train``, i.e. the same libxgboost
C API that serves the model, never through another XGBoost build.
"""

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from safepickle import _native

PARAMS = {
    "objective": "binary:logistic",
    "eval_metric": "logloss",
    "tree_method": "hist",
    "max_depth": "5",
    "eta": "0.1",
    "subsample": "0.8",
    "colsample_bytree": "0.8",
    "min_child_weight": "1",
    "lambda": "1",
    "seed": "7",
    "nthread": "2",
}
ROUNDS = 200
# Benign rows weigh twice the malicious ones in total: a false alarm on a
# real model costs a user more than a miss the rules would mostly catch.
BENIGN_WEIGHT = 2.0
# The threshold never drops below this, whatever the held-out scores say.
MIN_THRESHOLD = 0.5
# Share of held-out benign files (that the rules pass) allowed at or above
# the threshold when it is chosen.
BENIGN_QUANTILE = 0.999


def row_weights(rows):
    """Each file weighs the same whatever its record count; each malicious
    family weighs the same whatever its size; benign rows weigh
    BENIGN_WEIGHT times the malicious ones in total."""
    counts = np.bincount(rows.file_index, minlength=len(rows.files)).astype(np.float64)
    w = 1.0 / counts[rows.file_index]
    families = np.array([rows.files[i].family for i in rows.file_index])
    mal = rows.y == 1
    n_mal_files = sum(1 for f in rows.files if f.label == 1) or 1
    n_families = len(set(families[mal])) or 1
    for fam in set(families[mal]):
        sel = mal & (families == fam)
        w[sel] *= (n_mal_files / n_families) / w[sel].sum()
    ben = rows.y == 0
    if ben.any() and mal.any():
        w[ben] *= BENIGN_WEIGHT * w[mal].sum() / w[ben].sum()
    return w.astype(np.float32)


def fit(rows, params=None, rounds=ROUNDS):
    """Train on rows; returns (model JSON bytes, training predictions)."""
    model, preds = _native.train(
        np.ascontiguousarray(rows.x, dtype=np.float32),
        np.ascontiguousarray(rows.y, dtype=np.float32),
        weights=row_weights(rows),
        params=dict(params or PARAMS),
        rounds=rounds,
    )
    return model, np.asarray(preds, dtype=np.float64)


def subset(rows, file_mask):
    """The rows of the files selected by a boolean mask over rows.files."""
    keep = file_mask[rows.file_index]
    old_to_new = np.cumsum(file_mask) - 1
    files = [f for f, k in zip(rows.files, file_mask) if k]
    return type(rows)(
        x=np.ascontiguousarray(rows.x[keep]),
        y=rows.y[keep],
        file_index=old_to_new[rows.file_index[keep]],
        files=files,
    )


def file_scores(classifier, rows):
    """Highest record score per file, as the verdict takes it."""
    scores = np.asarray(classifier.score_rows(rows.x), dtype=np.float64)
    out = np.full(len(rows.files), -1.0)
    np.maximum.at(out, rows.file_index, scores)
    return out


def out_of_fold_scores(rows, n_splits=5, seed=7):
    """Per-file scores from models that did not see the file's group."""
    labels = np.array([f.label for f in rows.files])
    groups = np.array([f.group for f in rows.files])
    scores = np.full(len(rows.files), -1.0)
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for train_idx, test_idx in splitter.split(np.zeros(len(labels)), labels, groups):
        train_mask = np.zeros(len(labels), bool)
        train_mask[train_idx] = True
        model, _ = fit(subset(rows, train_mask))
        clf = _native.Classifier(model)
        test_mask = ~train_mask
        test_rows = subset(rows, test_mask)
        # subset keeps file order and split indices come sorted
        scores[np.sort(test_idx)] = file_scores(clf, test_rows)
    return scores


def held_out_threshold(rows, n_splits=5, seed=7):
    """(threshold, per-file out-of-fold scores): the threshold rule applied
    to the held-out scores of the benign files the rules pass."""
    oof = out_of_fold_scores(rows, n_splits=n_splits, seed=seed)
    passed = np.array([f.label == 0 and f.rule_verdict == "benign" for f in rows.files])
    return choose_threshold(oof[passed]), oof


def choose_threshold(benign_scores):
    """The lowest threshold that keeps all but BENIGN_QUANTILE of the
    held-out benign files below it, never under MIN_THRESHOLD."""
    if len(benign_scores) == 0:
        return MIN_THRESHOLD
    q = float(np.quantile(benign_scores, BENIGN_QUANTILE, method="higher"))
    return float(min(0.99, max(MIN_THRESHOLD, q + 0.01)))
