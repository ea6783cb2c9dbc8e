"""pandas Series and DataFrames of many dtypes, written with to_pickle
(read back with pandas.read_pickle), with and without compression."""

from .spec import BenignSample, PANDAS_COMPRESSIONS, sub_seed

KINDS = ("numeric", "strings", "category", "datetime_tz", "timedelta",
         "period", "interval", "nullable", "multiindex", "mixed_object",
         "series_float", "series_category", "sparse", "bool")


def _frame(kind, n, seed):
    def make():
        import numpy as np
        import pandas as pd
        rng = np.random.default_rng(seed)
        if kind == "numeric":
            return pd.DataFrame(rng.normal(size=(n, 4)), columns=list("abcd"))
        if kind == "strings":
            return pd.DataFrame({"name": rng.choice(["ann", "bob", "eve"], n),
                                 "text": pd.array(rng.choice(["x", "yy", None], n),
                                                  dtype="string")})
        if kind == "category":
            return pd.DataFrame({"c": pd.Categorical(rng.choice(["lo", "mid", "hi"], n),
                                                     categories=["lo", "mid", "hi"],
                                                     ordered=True),
                                 "v": rng.integers(0, 100, n)})
        if kind == "datetime_tz":
            start = pd.Timestamp("2021-01-01", tz="Europe/Paris")
            return pd.DataFrame({"t": pd.date_range(start, periods=n, freq="h"),
                                 "y": rng.random(n)})
        if kind == "timedelta":
            return pd.Series(pd.to_timedelta(rng.integers(0, 10**6, n), unit="s"))
        if kind == "period":
            return pd.Series(pd.period_range("2020-01", periods=n, freq="M"))
        if kind == "interval":
            return pd.Series(pd.interval_range(0, n, periods=n))
        if kind == "nullable":
            return pd.DataFrame({"i": pd.array(rng.integers(0, 9, n), dtype="Int64"),
                                 "b": pd.array(rng.random(n) > 0.5, dtype="boolean"),
                                 "f": pd.array(rng.random(n), dtype="Float64")})
        if kind == "multiindex":
            index = pd.MultiIndex.from_product([["train", "val"], range(n)],
                                               names=["split", "step"])
            return pd.DataFrame({"loss": rng.random(2 * n)}, index=index)
        if kind == "mixed_object":
            return pd.Series([1, "a", 2.5, None, (1, 2), [3]] * (n // 6 + 1)).iloc[:n]
        if kind == "series_float":
            return pd.Series(rng.normal(size=n), name="score",
                             index=pd.RangeIndex(100, 100 + n))
        if kind == "series_category":
            return pd.Series(rng.choice(["cat", "dog"], n), dtype="category")
        if kind == "sparse":
            values = rng.normal(size=n) * (rng.random(n) < 0.2)
            return pd.Series(pd.arrays.SparseArray(values, fill_value=0.0))
        if kind == "bool":
            return pd.DataFrame(rng.random((n, 3)) > 0.5, columns=["p", "q", "r"])
        raise ValueError(kind)
    return make


def samples(rng, count, seed):
    order = list(KINDS)
    rng.shuffle(order)
    out = []
    for i in range(count):
        kind = order[i % len(order)]
        n = rng.randint(2, 40)
        compression = rng.choice(PANDAS_COMPRESSIONS)
        protocol = rng.choice((2, 3, 4, 5, 5))
        out.append(BenignSample(
            "%04d_%s" % (i, kind), "pandas", _frame(kind, n, sub_seed(seed, "pandas", i)),
            "pandas", protocol, compression,
            description="pandas %s with %d rows" % (kind, n)))
    return out
