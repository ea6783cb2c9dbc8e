"""Benign models saved by torch, joblib (scikit-learn), numpy and pandas load
under the guard and equal a plain load of the same file."""

import io
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.ensemble import RandomForestClassifier

import safepickle


@pytest.fixture
def guard():
    safepickle.unpatch()
    safepickle.patch(mode="block")
    yield
    safepickle.unpatch()


def plain(fn, *args, **kwargs):
    with safepickle.unguarded():
        return fn(*args, **kwargs)


def _state_dict():
    g = torch.Generator().manual_seed(0)
    return {
        "layer.weight": torch.randn(64, 32, generator=g),
        "layer.bias": torch.zeros(64),
        "steps": torch.tensor(7),
        "meta": {"epochs": 3, "names": ["a", "b"]},
    }


def _assert_same_state(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]) and a[key].dtype == b[key].dtype
        else:
            assert a[key] == b[key]


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"weights_only": False}, {"mmap": True}, {"mmap": False}, {"map_location": "cpu"}],
    ids=str,
)
def test_torch(tmp_path, guard, zip_format, kwargs):
    path = tmp_path / "model.pt"
    torch.save(_state_dict(), path, _use_new_zipfile_serialization=zip_format)
    if kwargs.get("mmap") and not zip_format:
        # torch refuses mmap=True for the legacy format; so does the guard
        with pytest.raises(RuntimeError, match="mmap can only be used"):
            plain(torch.load, path, **kwargs)
        with pytest.raises(RuntimeError, match="mmap can only be used"):
            torch.load(path, **kwargs)
        return
    expected = plain(torch.load, path, **kwargs)
    _assert_same_state(torch.load(path, **kwargs), expected)
    _assert_same_state(torch.load(str(path), **kwargs), expected)
    if not kwargs.get("mmap"):
        with open(path, "rb") as fh:
            _assert_same_state(torch.load(fh, **kwargs), expected)
        _assert_same_state(torch.load(io.BytesIO(path.read_bytes()), **kwargs), expected)


def test_torch_loaded_tensors_are_ordinary(tmp_path, guard):
    path = tmp_path / "model.pt"
    torch.save(_state_dict(), path)
    loaded = torch.load(path)
    loaded["layer.bias"].add_(1)  # writable, and private to this process
    assert torch.equal(torch.load(path)["layer.bias"], torch.zeros(64))


@pytest.fixture(scope="module")
def forest():
    rng = np.random.default_rng(0)
    x = rng.random((300, 6))
    y = (x[:, 0] + rng.random(300) * 0.3 > 0.6).astype(int)
    return RandomForestClassifier(n_estimators=8, random_state=0).fit(x, y), x


@pytest.mark.parametrize(
    "compress", [0, 3, ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3), ("lz4", 3)], ids=str
)
def test_joblib_forest(tmp_path, guard, forest, compress):
    model, x = forest
    path = tmp_path / "forest.joblib"
    joblib.dump(model, path, compress=compress)
    expected = plain(joblib.load, path)
    for loaded in (joblib.load(path), joblib.load(str(path)), joblib.load(open(path, "rb"))):
        assert type(loaded) is type(expected)
        assert np.array_equal(loaded.predict_proba(x), expected.predict_proba(x))
        for a, b in zip(loaded.estimators_, expected.estimators_):
            assert np.array_equal(a.tree_.value, b.tree_.value)


def test_joblib_mmap_mode(tmp_path, guard):
    arrays = {"big": np.arange(100000, dtype=np.float64), "objects": np.array([{"a": 1}], dtype=object)}
    path = tmp_path / "arrays.joblib"
    joblib.dump(arrays, path)
    loaded = joblib.load(path, mmap_mode="r")
    assert isinstance(loaded["big"], np.memmap) and loaded["big"].filename == str(path)
    assert np.array_equal(loaded["big"], arrays["big"])
    assert loaded["objects"][0] == {"a": 1}


def test_numpy(tmp_path, guard):
    objects = np.array([{"k": [1, 2]}, (3, "x"), None, 4.5], dtype=object)
    numbers = np.arange(12.0).reshape(3, 4)
    np.save(tmp_path / "o.npy", objects, allow_pickle=True)
    np.save(tmp_path / "n.npy", numbers)
    np.savez(tmp_path / "z.npz", objects=objects, numbers=numbers)
    loaded = np.load(tmp_path / "o.npy", allow_pickle=True)
    assert loaded.dtype == object and list(loaded) == list(objects)
    with open(tmp_path / "o.npy", "rb") as fh:
        assert list(np.load(fh, allow_pickle=True)) == list(objects)
    assert np.array_equal(np.load(tmp_path / "n.npy", allow_pickle=True), numbers)
    mapped = np.load(tmp_path / "n.npy", mmap_mode="r", allow_pickle=True)
    assert isinstance(mapped, np.memmap) and np.array_equal(mapped, numbers)
    assert mapped.filename == str(tmp_path / "n.npy")
    with np.load(tmp_path / "z.npz", allow_pickle=True) as archive:
        # members are read lazily, in any order, more than once
        assert np.array_equal(archive["numbers"], numbers)
        assert list(archive["objects"]) == list(objects)
        assert list(archive["objects"]) == list(objects)


@pytest.mark.parametrize("suffix", [".pkl", ".pkl.gz", ".pkl.bz2", ".pkl.xz", ".pkl.zip", ".pkl.tar"])
def test_pandas(tmp_path, guard, suffix):
    frame = pd.DataFrame(
        {"a": np.arange(50), "b": [f"s{i}" for i in range(50)], "c": pd.Categorical(["x", "y"] * 25)}
    )
    path = tmp_path / f"frame{suffix}"
    frame.to_pickle(path)
    expected = plain(pd.read_pickle, path)
    pd.testing.assert_frame_equal(pd.read_pickle(path), expected)
    pd.testing.assert_frame_equal(pd.read_pickle(str(path)), expected)
    with open(path, "rb") as fh:
        compression = {".pkl": None, ".pkl.gz": "gzip", ".pkl.bz2": "bz2", ".pkl.xz": "xz",
                       ".pkl.zip": "zip", ".pkl.tar": "tar"}[suffix]
        pd.testing.assert_frame_equal(pd.read_pickle(fh, compression=compression), expected)


def _record_scans(monkeypatch, hook_module):
    from safepickle.guard import check

    scanned = []
    real = check.check_snapshot

    def recording(snapshot, policy=None):
        scanned.append(snapshot.size)
        return real(snapshot, policy)

    monkeypatch.setattr(hook_module, "check_snapshot", recording)
    return scanned


def _frame():
    return pd.DataFrame({"a": np.arange(2000), "b": [f"s{i}" for i in range(2000)]})


@pytest.mark.parametrize("suffix", [".pkl.gz", ".pkl.bz2", ".pkl.xz", ".pkl.zip", ".pkl.tar"])
def test_pandas_scans_the_stream_it_loads(tmp_path, guard, monkeypatch, suffix):
    """A compressed pickle is decompressed once, by pandas' own reader, and
    that stream is what is scanned and unpickled: not the compressed file,
    which the scanner would decompress a second time."""
    import safepickle.guard.pandas_hook as hook

    scanned = _record_scans(monkeypatch, hook)
    frame = _frame()
    path = tmp_path / f"frame{suffix}"
    frame.to_pickle(path)
    pd.testing.assert_frame_equal(pd.read_pickle(path), frame)
    assert scanned == [len(pickle.dumps(frame, protocol=pickle.HIGHEST_PROTOCOL))]


def test_pandas_output_past_the_caps_is_scanned_compressed(tmp_path, guard, monkeypatch):
    from safepickle.guard import stream_caps
    import safepickle.guard.pandas_hook as hook

    monkeypatch.setattr(stream_caps, "RATIO_FLOOR", 1 << 20)
    monkeypatch.setattr(stream_caps, "MAX_RATIO", 10)
    scanned = _record_scans(monkeypatch, hook)
    frame = pd.DataFrame({"z": np.zeros(1 << 19)})
    path = tmp_path / "zeros.pkl.gz"
    frame.to_pickle(path)
    pd.testing.assert_frame_equal(pd.read_pickle(path), frame)
    assert scanned == [path.stat().st_size]


def test_pandas_file_that_does_not_decompress_fails_as_it_would(tmp_path, guard, monkeypatch):
    import gzip

    import safepickle.guard.pandas_hook as hook

    scanned = _record_scans(monkeypatch, hook)
    path = tmp_path / "cut.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(_frame()))[:-40])
    with pytest.raises(EOFError):
        plain(pd.read_pickle, path)
    # the scanner reads the compressed file and refuses the cut stream
    with pytest.raises(safepickle.UnsafePickleError, match="cut.pkl.gz"):
        pd.read_pickle(path)
    assert scanned == [path.stat().st_size]


def test_pickle_protocols_and_buffers(guard):
    value = {"t": (1, 2.5, "s", b"b"), "nested": [[1], {2: 3}], "big": b"x" * (3 << 20)}
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        data = pickle.dumps(value, protocol=protocol)
        assert pickle.loads(data) == value
        assert pickle._loads(data) == value
        assert pickle.load(io.BytesIO(data)) == value
        assert pickle.loads(bytearray(data)) == value
        assert pickle.loads(memoryview(data)) == value
    buffers = []
    data = pickle.dumps(pickle.PickleBuffer(b"out of band"), protocol=5, buffer_callback=buffers.append)
    assert bytes(pickle.loads(data, buffers=buffers)) == b"out of band"


def test_joblib_output_past_the_caps_is_scanned_compressed(tmp_path, guard, monkeypatch):
    """A stream that decompresses past the caps is not decompressed by the
    guard: the scanner reads the compressed file and applies its own caps."""
    from safepickle.guard import check, stream_caps

    monkeypatch.setattr(stream_caps, "RATIO_FLOOR", 1 << 20)
    monkeypatch.setattr(stream_caps, "MAX_RATIO", 10)
    scanned = []
    real = check.check_snapshot
    monkeypatch.setattr(check, "check_snapshot", lambda s, p=None: scanned.append(s.size) or real(s, p))
    import safepickle.guard.joblib_hook as hook

    monkeypatch.setattr(hook, "check_snapshot", check.check_snapshot)
    path = tmp_path / "zeros.joblib"
    joblib.dump({"z": np.zeros(1 << 19)}, path, compress=3)
    assert np.array_equal(joblib.load(path)["z"], np.zeros(1 << 19))
    assert scanned == [path.stat().st_size]


def test_torch_shared_mappings_are_refused_not_mapped_unsealed(tmp_path, guard):
    import mmap

    path = tmp_path / "model.pt"
    torch.save(_state_dict(), path)
    torch.serialization.set_default_mmap_options(mmap.MAP_SHARED)
    try:
        # without mmap=True the load reads the snapshot and works
        _assert_same_state(torch.load(path), plain(torch.load, path))
        with pytest.raises(safepickle.GuardError, match="MAP_SHARED"):
            torch.load(path, mmap=True)
    finally:
        torch.serialization.set_default_mmap_options(mmap.MAP_PRIVATE)
