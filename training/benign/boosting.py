"""Gradient boosting libraries through their scikit-learn wrappers:
xgboost, lightgbm, catboost (single-threaded so results do not depend on
the machine)."""

from .common import pickle_or_joblib
from .sklearn_models import _data
from .spec import BenignSample, sub_seed


def _build(group, task, trees, depth, seed):
    def make():
        X, y = _data(seed, 60 + 4 * trees, 4, task)
        s = seed % 10000
        if group == "xgboost":
            import xgboost
            cls = (xgboost.XGBClassifier if task == "classification"
                   else xgboost.XGBRegressor)
            model = cls(n_estimators=trees, max_depth=depth, n_jobs=1,
                        random_state=s, tree_method="hist")
        elif group == "lightgbm":
            import lightgbm
            cls = (lightgbm.LGBMClassifier if task == "classification"
                   else lightgbm.LGBMRegressor)
            model = cls(n_estimators=trees, max_depth=depth, num_leaves=4,
                        min_child_samples=3, n_jobs=1, random_state=s,
                        deterministic=True, verbose=-1)
        else:
            import catboost
            cls = (catboost.CatBoostClassifier if task == "classification"
                   else catboost.CatBoostRegressor)
            model = cls(iterations=trees, depth=depth, thread_count=1,
                        random_seed=s, verbose=0, allow_writing_files=False)
        model.fit(X, y)
        if group == "catboost":
            model = _without_clock(model, seed)
        return model
    return make


def _without_clock(model, seed):
    """CatBoost stores the training end time and a random model GUID in the
    model; a round trip through its JSON format with both fixed keeps the
    file reproducible (the trees are unchanged)."""
    import json
    import os
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.json")
        model.save_model(path, format="json")
        with open(path) as f:
            document = json.load(f)
        info = document["model_info"]
        info["train_finish_time"] = "2024-01-01T00:00:00Z"
        info["model_guid"] = "-".join(["%08x" % seed] * 4)
        with open(path, "w") as f:
            json.dump(document, f)
        fixed = type(model)()
        fixed.load_model(path, format="json")
    return fixed


def samples(rng, count, seed, group):
    out = []
    for i in range(count):
        task = ("classification", "regression")[i % 2]
        trees = rng.randint(2, 12)
        depth = rng.randint(2, 4)
        writer, protocol, compression = pickle_or_joblib(rng)
        out.append(BenignSample(
            "%04d_%s_%s" % (i, group, task), group,
            _build(group, task, trees, depth, sub_seed(seed, group, i)),
            writer, protocol, compression,
            description="%s sklearn-API %s, %d trees of depth %d"
                        % (group, task, trees, depth)))
    return out
