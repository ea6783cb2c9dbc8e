"""numpy arrays of many dtypes (pickled, np.save'd, joblib-dumped; object
arrays included) and scipy sparse matrices and arrays."""

from .spec import BenignSample, JOBLIB_COMPRESSIONS, sub_seed

DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64",
          "uint8", "uint16", "uint32", "uint64", "bool", "complex64",
          "complex128", "datetime64[s]", "timedelta64[ms]", "U8", "S6",
          "structured", "object", "masked")


def _array(dtype, shape, seed):
    def make():
        import numpy as np
        rng = np.random.default_rng(seed)
        size = int(np.prod(shape))
        if dtype == "object":
            items = [1, "two", 3.5, None, (4, 5), {"k": [6]}, b"bytes", 7 + 8j]
            flat = np.empty(size, dtype=object)
            for i in range(size):
                flat[i] = items[int(rng.integers(len(items)))]
            return flat.reshape(shape)
        if dtype == "structured":
            arr = np.zeros(size, dtype=[("id", "i4"), ("score", "f8"), ("tag", "U4")])
            arr["id"] = np.arange(size)
            arr["score"] = rng.normal(size=size)
            arr["tag"] = rng.choice(["a", "bb", "ccc"], size)
            return arr.reshape(shape)
        if dtype == "masked":
            data = rng.normal(size=shape)
            return np.ma.masked_array(data, mask=rng.random(shape) < 0.3)
        if dtype.startswith("U") or dtype.startswith("S"):
            words = np.array(["alpha", "beta", "gamma", "delta", "eps"])
            return rng.choice(words, size).astype(dtype).reshape(shape)
        if dtype.startswith("datetime64") or dtype.startswith("timedelta64"):
            return rng.integers(0, 2**31, size).astype(dtype).reshape(shape)
        if dtype == "bool":
            return (rng.random(size) > 0.5).reshape(shape)
        if dtype.startswith("complex"):
            return (rng.normal(size=size) + 1j * rng.normal(size=size)).astype(dtype).reshape(shape)
        if dtype.startswith("float"):
            return rng.normal(size=size).astype(dtype).reshape(shape)
        info = np.iinfo(dtype)
        return rng.integers(max(info.min, -10**6), min(info.max, 10**6), size,
                            dtype=dtype).reshape(shape)
    return make


def numpy_samples(rng, count, seed):
    order = list(DTYPES)
    rng.shuffle(order)
    out = []
    for i in range(count):
        dtype = order[i % len(order)]
        shape = tuple(rng.randint(1, 9) for _ in range(rng.randint(1, 3)))
        r = rng.random()
        compression = None
        if dtype != "masked" and r < 0.3:
            writer, protocol = "numpy", None
            if dtype == "object":
                protocol = 4
        elif r < 0.55:
            writer, protocol = "joblib", rng.choice((None, 2, 3, 4, 5))
            compression = rng.choice(JOBLIB_COMPRESSIONS)
        else:
            writer, protocol = "pickle", rng.randint(0, 5)
        out.append(BenignSample(
            "%04d_%s" % (i, dtype.replace("[", "_").replace("]", "")), "numpy",
            _array(dtype, shape, sub_seed(seed, "numpy", i)), writer, protocol,
            compression, description="numpy %s array of shape %s" % (dtype, shape)))
    return out


SPARSE = ("csr_matrix", "csc_matrix", "coo_matrix", "lil_matrix", "dok_matrix",
          "bsr_matrix", "dia_matrix", "csr_array", "coo_array")


def _sparse(kind, n, density, seed):
    def make():
        import numpy as np
        import scipy.sparse as sp
        rng = np.random.default_rng(seed)
        dense = rng.normal(size=(n, n + 2)) * (rng.random((n, n + 2)) < density)
        return getattr(sp, kind)(dense)
    return make


def scipy_samples(rng, count, seed):
    order = list(SPARSE)
    rng.shuffle(order)
    out = []
    for i in range(count):
        kind = order[i % len(order)]
        n = rng.randint(3, 30)
        density = rng.choice((0.05, 0.1, 0.3))
        if rng.random() < 0.4:
            writer, protocol = "joblib", rng.choice((None, 3, 4, 5))
            compression = rng.choice(JOBLIB_COMPRESSIONS)
        else:
            writer, protocol, compression = "pickle", rng.randint(0, 5), None
        out.append(BenignSample(
            "%04d_%s" % (i, kind), "scipy", _sparse(kind, n, density,
                                                  sub_seed(seed, "scipy", i)),
            writer, protocol, compression,
            description="scipy.sparse %s %dx%d density %.2f" % (kind, n, n + 2, density)))
    return out
