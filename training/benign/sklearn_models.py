"""scikit-learn: estimators, pipelines, ColumnTransformer and GridSearchCV
fitted on tiny generated data; saved with pickle or joblib."""

from .common import pickle_or_joblib
from .spec import BenignSample, sub_seed


def _data(seed, n, features, task):
    import numpy as np
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, features))
    if task == "classification":
        y = (X[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(int)
        if n > 30:
            y[: n // 3] += (X[: n // 3, 1] > 0)
    else:
        y = X @ rng.normal(size=features) + 0.1 * rng.normal(size=n)
    return X, y


def _frame(seed, n):
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "age": rng.integers(18, 90, n),
        "income": rng.normal(50000, 15000, n).round(2),
        "city": rng.choice(["paris", "lyon", "nice", "lille"], n),
        "plan": rng.choice(["free", "pro", "team"], n),
    }), (rng.random(n) > 0.5).astype(int)


def _estimator(name, seed, size):
    from sklearn import (cluster, decomposition, ensemble, linear_model,
                         naive_bayes, neighbors, neural_network,
                         preprocessing, svm, tree)
    s = seed % 1000
    table = {
        "LogisticRegression": lambda: linear_model.LogisticRegression(C=0.5 + size / 10),
        "LinearRegression": lambda: linear_model.LinearRegression(),
        "Ridge": lambda: linear_model.Ridge(alpha=size / 5),
        "Lasso": lambda: linear_model.Lasso(alpha=0.01 * size),
        "SGDClassifier": lambda: linear_model.SGDClassifier(random_state=s, max_iter=50, tol=None),
        "SVC": lambda: svm.SVC(C=1.0 + size / 4, probability=False),
        "SVR": lambda: svm.SVR(C=size / 3),
        "KNeighborsClassifier": lambda: neighbors.KNeighborsClassifier(n_neighbors=1 + size % 5),
        "DecisionTreeClassifier": lambda: tree.DecisionTreeClassifier(max_depth=2 + size % 4, random_state=s),
        "DecisionTreeRegressor": lambda: tree.DecisionTreeRegressor(max_depth=2 + size % 5, random_state=s),
        "RandomForestClassifier": lambda: ensemble.RandomForestClassifier(n_estimators=2 + size % 6, max_depth=4, random_state=s),
        "ExtraTreesRegressor": lambda: ensemble.ExtraTreesRegressor(n_estimators=2 + size % 5, max_depth=3, random_state=s),
        "GradientBoostingClassifier": lambda: ensemble.GradientBoostingClassifier(n_estimators=3 + size % 7, max_depth=2, random_state=s),
        "HistGradientBoostingRegressor": lambda: ensemble.HistGradientBoostingRegressor(max_iter=5 + size, random_state=s),
        "IsolationForest": lambda: ensemble.IsolationForest(n_estimators=3 + size % 5, random_state=s),
        "GaussianNB": lambda: naive_bayes.GaussianNB(),
        "KMeans": lambda: cluster.KMeans(n_clusters=2 + size % 3, n_init=1, random_state=s),
        "PCA": lambda: decomposition.PCA(n_components=2),
        "StandardScaler": lambda: preprocessing.StandardScaler(),
        "MinMaxScaler": lambda: preprocessing.MinMaxScaler(),
        "PolynomialFeatures": lambda: preprocessing.PolynomialFeatures(degree=2),
        "MLPClassifier": lambda: neural_network.MLPClassifier(hidden_layer_sizes=(4 + size,), max_iter=30, random_state=s),
    }
    return table[name]()


SUPERVISED_REGRESSORS = {"LinearRegression", "Ridge", "Lasso", "SVR",
                         "DecisionTreeRegressor", "ExtraTreesRegressor",
                         "HistGradientBoostingRegressor"}
ESTIMATORS = ("LogisticRegression", "LinearRegression", "Ridge", "Lasso",
              "SGDClassifier", "SVC", "SVR", "KNeighborsClassifier",
              "DecisionTreeClassifier", "DecisionTreeRegressor",
              "RandomForestClassifier", "ExtraTreesRegressor",
              "GradientBoostingClassifier", "HistGradientBoostingRegressor",
              "IsolationForest", "GaussianNB", "KMeans", "PCA",
              "StandardScaler", "MinMaxScaler", "PolynomialFeatures",
              "MLPClassifier")
COMPOSITES = ("Pipeline", "ColumnTransformer", "GridSearchCV",
              "TfidfPipeline", "OneHotEncoder", "LabelEncoder")


def _build(kind, size, seed):
    def make():
        import warnings
        warnings.filterwarnings("ignore")
        n, features = 30 + 5 * size, 3 + size % 4
        if kind in ESTIMATORS:
            task = ("regression" if kind in SUPERVISED_REGRESSORS
                    else "classification")
            X, y = _data(seed, n, features, task)
            return _estimator(kind, seed, size).fit(X, y)
        from sklearn import (compose, feature_extraction, linear_model,
                             model_selection, pipeline, preprocessing, tree)
        if kind == "Pipeline":
            X, y = _data(seed, n, features, "classification")
            return pipeline.make_pipeline(
                preprocessing.StandardScaler(),
                linear_model.LogisticRegression(C=1.0 / (1 + size))).fit(X, y)
        if kind == "ColumnTransformer":
            frame, y = _frame(seed, n)
            pre = compose.ColumnTransformer([
                ("num", preprocessing.StandardScaler(), ["age", "income"]),
                ("cat", preprocessing.OneHotEncoder(handle_unknown="ignore"),
                 ["city", "plan"])])
            return pipeline.Pipeline([
                ("pre", pre),
                ("clf", tree.DecisionTreeClassifier(max_depth=3,
                                                    random_state=seed % 1000))
            ]).fit(frame, y)
        if kind == "GridSearchCV":
            X, y = _data(seed, n, features, "classification")
            search = model_selection.GridSearchCV(
                linear_model.LogisticRegression(),
                {"C": [0.1, 1.0, 1.0 + size]}, cv=2)
            return search.fit(X, y)
        if kind == "TfidfPipeline":
            import random
            words = ["model", "weights", "train", "loss", "batch", "layer",
                     "token", "vector", "gradient", "epoch", "score"]
            r = random.Random(seed)
            docs = [" ".join(r.choice(words) for _ in range(6)) for _ in range(n)]
            labels = [r.randint(0, 1) for _ in docs]
            return pipeline.make_pipeline(
                feature_extraction.text.TfidfVectorizer(ngram_range=(1, 1 + size % 2)),
                linear_model.LogisticRegression()).fit(docs, labels)
        if kind == "OneHotEncoder":
            frame, _ = _frame(seed, n)
            return preprocessing.OneHotEncoder().fit(frame[["city", "plan"]])
        if kind == "LabelEncoder":
            frame, _ = _frame(seed, n)
            return preprocessing.LabelEncoder().fit(frame["city"])
        raise ValueError(kind)
    return make


def samples(rng, count, seed):
    kinds = ESTIMATORS + COMPOSITES
    order = list(kinds)
    rng.shuffle(order)
    out = []
    for i in range(count):
        kind = order[i % len(order)]
        size = rng.randint(0, 9)
        writer, protocol, compression = pickle_or_joblib(rng)
        out.append(BenignSample(
            "%04d_%s" % (i, kind.lower()), "sklearn",
            _build(kind, size, sub_seed(seed, "sklearn", i)),
            writer, protocol, compression,
            description="scikit-learn %s fitted on %d rows" % (kind, 30 + 5 * size)))
    return out
