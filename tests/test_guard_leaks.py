"""The places where load guards leak: a file swapped between the scan and
the load, threads, and patching that must be idempotent and reversible."""

import pickle
import threading

import pytest

import safepickle
from safepickle.guard import patching

from .guard_files import SUFFIX, MkdirPayload, benign_object, describe_benign, run_victim, write

RACE_KINDS = [
    ("raw", "pickle.load", {}),
    ("torch-zip", "torch.load", {"weights_only": False}),
    ("torch-zip", "torch.load", {"weights_only": False, "mmap": False}),
    ("torch-legacy", "torch.load", {"weights_only": False}),
    ("joblib-zlib", "joblib.load", {}),
    ("joblib", "joblib.load", {"mmap_mode": "r"}),
    ("npy", "numpy.load", {"allow_pickle": True}),
    ("npz", "numpy.load", {"allow_pickle": True}),
    ("pandas", "pandas.read_pickle", {}),
]


_MODULE = {"torch": "torch", "joblib": "joblib", "npy": "numpy", "npz": "numpy", "pandas": "pandas"}


def _expected(kind):
    # What the victim reports for the benign file of each container.
    if kind in ("npy",):
        return ["array", [describe_benign(), 1]]
    if kind == "npz":
        return {"a": ["array", [describe_benign(), 1]], "b": ["array", [0, 1, 2]]}
    return describe_benign()


@pytest.mark.parametrize("how", ["rename", "in-place"])
@pytest.mark.parametrize("kind,loader,kwargs", RACE_KINDS, ids=lambda v: str(v))
def test_file_swapped_after_the_verdict_changes_nothing(tmp_path, kind, loader, kwargs, how):
    """Between the verdict and the load (the guard's own hook point), the
    benign file is replaced by a hostile one, by rename or rewritten in
    place. The load must return the benign object and the payload never run."""
    target = tmp_path / f"model{SUFFIX[kind]}"
    hostile = tmp_path / f"hostile{SUFFIX[kind]}"
    canary = tmp_path / "canary"
    write(kind, target, benign_object())
    write(kind, hostile, {"model": MkdirPayload(canary), "pad": "x" * 64})
    hostile_bytes = hostile.read_bytes()
    spec = {
        "order": "import-first",
        "imports": [_MODULE[kind.split("-")[0]]] if kind != "raw" else [],
        "race": {"target": str(target), "hostile_copy": str(hostile), "how": how},
        "cases": [
            {"id": "race", "loader": loader, "path": str(target), "kwargs": kwargs, "hostile": "loads"}
        ],
    }
    results, fired = run_victim(tmp_path, spec)
    assert fired == ""
    assert not canary.exists()
    result = results["race"]
    assert result["outcome"] == "loaded", result
    assert result["value"] == _expected(kind)
    # The swap did happen: the path now holds the hostile bytes.
    assert target.read_bytes() == hostile_bytes


def test_threads_load_and_block_concurrently(tmp_path):
    """Eight threads share one patched process: benign loads succeed, hostile
    ones are refused, whatever runs beside them."""
    benign = tmp_path / "benign.joblib"
    write("joblib-zlib", benign, benign_object())
    cases, canaries = [], []
    for n in range(24):
        if n % 2:
            canary = tmp_path / f"canary{n}"
            canaries.append(canary)
            path = tmp_path / f"hostile{n}.pkl"
            write("raw", path, {"m": MkdirPayload(canary)})
            loader = ["pickle.load", "pickle._Unpickler", "pickle.loads"][n % 3]
            cases.append({"id": str(n), "loader": loader, "path": str(path), "hostile": True})
        else:
            cases.append({"id": str(n), "loader": "joblib.load", "path": str(benign)})
    results, fired = run_victim(
        tmp_path, {"order": "patch-first", "imports": ["joblib"], "threads": 8, "cases": cases}
    )
    assert fired == ""
    for n in range(24):
        result = results[str(n)]
        if n % 2:
            assert result["type"] == "UnsafePickleError", result
        else:
            assert result["outcome"] == "loaded" and result["value"] == describe_benign()
    assert not any(c.exists() for c in canaries)


@pytest.fixture
def unpatched():
    safepickle.unpatch()
    yield
    safepickle.unpatch()


def test_patch_is_idempotent_and_unpatch_restores(unpatched):
    import sys

    real = (pickle.load, pickle.loads, pickle.Unpickler, pickle._load, pickle._loads)
    real_init = pickle._Unpickler.__dict__["__init__"]
    safepickle.patch()
    first = (pickle.load, pickle.Unpickler, pickle._Unpickler.__init__)
    safepickle.patch(mode="warn")
    assert (pickle.load, pickle.Unpickler, pickle._Unpickler.__init__) == first
    assert sum(isinstance(f, type(patching._finder)) for f in sys.meta_path) == 1
    assert patching.state.current_policy().mode == "warn"
    safepickle.unpatch()
    safepickle.unpatch()
    assert (pickle.load, pickle.loads, pickle.Unpickler, pickle._load, pickle._loads) == real
    assert pickle._Unpickler.__dict__["__init__"] is real_init
    assert not safepickle.is_patched()


def _module_with_copies(name, source):
    import sys
    import types

    module = types.ModuleType(name)
    exec(source, module.__dict__)
    sys.modules[name] = module
    return module


def test_unpatch_puts_back_the_copies_patch_rebound(unpatched):
    import sys

    real = (pickle.load, pickle.loads, pickle.Unpickler)
    early = _module_with_copies("leaks_early_copies",
                                "from pickle import load, loads, Unpickler")
    try:
        safepickle.patch()
        assert (early.load, early.loads) == (safepickle.load, safepickle.loads)
        assert early.Unpickler is pickle.Unpickler is not real[2]
        safepickle.unpatch()
        assert (early.load, early.loads, early.Unpickler) == real
    finally:
        del sys.modules["leaks_early_copies"]


def test_odd_entries_of_sys_modules_do_not_stop_patch(unpatched):
    """sys.modules may hold objects that only pass for modules, and modules
    that refuse attribute changes: patch() skips them and still rebinds the
    other copies."""
    import sys
    import types

    class Frozen(types.ModuleType):
        def __setattr__(self, name, value):
            raise AttributeError("read-only module")

    class Impostor:
        __class__ = types.ModuleType
        __slots__ = ()

    frozen = Frozen("leaks_frozen")
    frozen.__dict__["loads"] = pickle.loads
    sys.modules["leaks_frozen"] = frozen
    sys.modules["leaks_impostor"] = Impostor()
    early = _module_with_copies("leaks_plain_copies", "from pickle import loads")
    try:
        safepickle.patch()
        assert early.loads is safepickle.loads
        assert frozen.loads is not safepickle.loads
        safepickle.unpatch()
        assert early.loads is pickle.loads
    finally:
        for name in ("leaks_frozen", "leaks_impostor", "leaks_plain_copies"):
            del sys.modules[name]


def test_a_module_that_subclassed_the_unpickler_keeps_its_base(unpatched):
    """dill's pattern: "from pickle import Unpickler as StockUnpickler",
    a subclass, and StockUnpickler.__init__(self) in it. The subclass is
    guarded in place; the name must stay the class it derives from."""
    import sys

    real = pickle.Unpickler
    early = _module_with_copies("leaks_stock_unpickler", """
from pickle import Unpickler as StockUnpickler

class Sub(StockUnpickler):
    def __init__(self, *args, **kwargs):
        StockUnpickler.__init__(self, *args, **kwargs)

    def find_class(self, module, name):
        return StockUnpickler.find_class(self, module, name)
""")
    try:
        with safepickle.guarded():
            assert early.StockUnpickler is real
            import io

            data = pickle.dumps(benign_object())
            assert early.Sub(io.BytesIO(data)).load() == benign_object()
    finally:
        del sys.modules["leaks_stock_unpickler"]


def test_patch_from_many_threads_installs_once(unpatched):
    import sys

    barrier = threading.Barrier(8)

    def go():
        barrier.wait()
        safepickle.patch()

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(type(f).__name__ == "PatchOnImport" for f in sys.meta_path) == 1
    assert pickle.load is safepickle.load
    safepickle.unpatch()
    assert pickle.load is not safepickle.load


def test_guarded_block_restores_the_previous_state(unpatched):
    with safepickle.guarded(mode="warn") as policy:
        assert policy.mode == "warn" and pickle.loads is safepickle.loads
        with safepickle.guarded(mode="block"):
            assert patching.state.current_policy().mode == "block"
        assert patching.state.current_policy().mode == "warn"
    assert not safepickle.is_patched() and pickle.loads is not safepickle.loads


def test_unguarded_skips_the_scan_on_this_thread_only(unpatched, monkeypatch):
    from safepickle.guard import check

    scanned = []
    real = check.check_snapshot
    monkeypatch.setattr(check, "check_snapshot", lambda s, p=None: scanned.append(1) or real(s, p))
    data = pickle.dumps(benign_object())
    with safepickle.guarded():
        assert pickle.loads(data) == benign_object()
        assert len(scanned) == 1
        with safepickle.unguarded():
            assert pickle.loads(data) == benign_object()
            other = threading.Thread(target=lambda: pickle.loads(data))
            other.start()
            other.join()
        assert len(scanned) == 2  # the other thread's load was scanned


def test_zip_that_runs_as_a_pickle_is_refused_to_an_unpickler_with_persistent_load(tmp_path):
    # torch and zipfile see an archive; an Unpickler that defines
    # persistent_load reads the same bytes as a pickle and runs the name of
    # the first member. The guard must judge that reading too.
    import subprocess
    import sys

    from .test_containers import zip_that_runs_as_a_pickle

    canary = tmp_path / "ran"
    payload = ("cos\nmkdir\n(S'%s'\ntR." % canary).encode()
    path = tmp_path / "model.zip"
    path.write_bytes(zip_that_runs_as_a_pickle(payload))
    code = (
        "import pickle, sys\n"
        "import safepickle\n"
        "if sys.argv[2] == 'guard':\n"
        "    safepickle.patch()\n"
        "class U(pickle.Unpickler):\n"
        "    def persistent_load(self, pid):\n"
        "        return pid\n"
        "try:\n"
        "    with open(sys.argv[1], 'rb') as f:\n"
        "        U(f).load()\n"
        "    print('loaded')\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__)\n"
    )
    guarded = subprocess.run([sys.executable, "-c", code, str(path), "guard"],
                             capture_output=True, text=True, check=True)
    assert guarded.stdout.strip() == "UnsafePickleError"
    assert not canary.exists()
    # the file is a working payload: unguarded, the same load runs it
    plain = subprocess.run([sys.executable, "-c", code, str(path), "plain"],
                           capture_output=True, text=True, check=True)
    assert plain.stdout.strip() == "loaded"
    assert canary.exists()
