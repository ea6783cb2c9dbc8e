"""The guard and the processes of one program: multiprocessing pools,
concurrent.futures, joblib's loky workers and torch's DataLoader work under
it, because the few functions through which they unpickle their own
messages are trusted (Policy.trusted_callers), while everything else,
including what a worker loads, is still scanned."""

import importlib
import importlib.util
import inspect
import json
import multiprocessing
import multiprocessing.pool
import os
import pickle
import re
import subprocess
import sys

import pytest

import safepickle
from safepickle.errors import UnsafePickleError
from safepickle.guard import DEFAULT_TRUSTED_CALLERS
from safepickle.guard.install import PTH_LINE

from .guard_files import REPO_ROOT, MkdirPayload, child_env

VICTIM = os.path.join(os.path.dirname(__file__), "ipc_victim.py")
WORKLOADS = [
    "pool-fork",
    "pool-spawn",
    "pool-forkserver",
    "executor-fork",
    "executor-spawn",
    "loky",
    "dataloader-fork",
    "dataloader-spawn",
]


def _run(tmp_path, mode, extra_env=None, workloads=WORKLOADS):
    canary = tmp_path / "canary"
    canary.mkdir()
    env = child_env()
    env["CANARY_DIR"] = str(canary)
    env.update(extra_env or {})
    proc = subprocess.run(
        [sys.executable, VICTIM, mode, *workloads],
        cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.splitlines()[-1]), canary


@pytest.mark.parametrize("mode", ["patch", "import-first"])
def test_pools_and_data_loaders_work_after_patch(tmp_path, mode):
    out, _ = _run(tmp_path, mode)
    assert out["main_guarded"]
    for name in WORKLOADS:
        assert out[name].get("ok"), (name, out[name])
        if name == "loky":
            # loky's workers start fresh interpreters that do not import the
            # main module, so patch() there guards the parent only; the
            # environment switch below guards them too
            continue
        assert out[name]["workers_guarded"], (name, out[name])
        assert out[name]["payload_refused"], (name, out[name])


def test_pools_and_data_loaders_work_in_a_guarded_environment(tmp_path):
    """SAFEPICKLE_GUARD=1 with the line install-guard writes (here run by a
    sitecustomize module): every interpreter of the program is guarded from
    its start, loky's included, and each refuses the payload its task loads."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(PTH_LINE)
    out, canary = _run(
        tmp_path, "env",
        {"SAFEPICKLE_GUARD": "1", "PYTHONPATH": f"{site}{os.pathsep}{REPO_ROOT}"},
    )
    assert out["main_guarded"]
    for name in WORKLOADS:
        assert out[name] == {"ok": True, "workers_guarded": True, "payload_refused": True}, name
    assert list(canary.iterdir()) == []


@pytest.mark.parametrize("mode", ["patch", "import-first"])
def test_without_the_trust_a_process_pool_breaks(tmp_path, mode):
    """What patch() did to every pool before the trust: the worker's guard
    refuses its own task (it names concurrent.futures' worker machinery)
    and the pool breaks (with spawned workers it hangs instead). With
    multiprocessing imported before patch(), its ForkingPickler.loads is a
    copy of the real pickle.loads: the guard must reach it all the same, or
    these messages would go unscanned whatever trusted_callers says."""
    out, _ = _run(tmp_path, mode, {"SAFEPICKLE_TRUSTED_CALLERS": "none"},
                  workloads=["executor-fork"])
    assert out["executor-fork"]["error"].startswith("BrokenProcessPool"), out


class _ConnectionBase:
    """Named like the trusted multiprocessing class, in another module."""

    def __init__(self, blob):
        self.blob = blob

    def recv(self):
        return pickle.loads(self.blob)


def test_trust_is_by_function_not_by_module_or_name(tmp_path):
    canary = tmp_path / "canary"
    blob = pickle.dumps(MkdirPayload(canary))
    with safepickle.guarded():
        # pool.map(pickle.loads, blobs): the loads is called by mapstar, a
        # multiprocessing function that is not a trusted one
        with pytest.raises(UnsafePickleError):
            multiprocessing.pool.mapstar((pickle.loads, [blob]))
        with pytest.raises(UnsafePickleError):
            _ConnectionBase(blob).recv()
        # an Unpickler made by a namesake of a trusted function
        get = _function_of(
            "ipc.elsewhere",
            "class SimpleQueue:\n    def get(self, data):\n"
            "        return pickle.Unpickler(io.BytesIO(data)).load()\n",
            "SimpleQueue",
        )
        with pytest.raises(UnsafePickleError):
            get().get(blob)
    assert not canary.exists()


def _function_of(module, source, name):
    """A function whose code runs as module ``module``'s (a stand-in for
    a library's loading function)."""
    namespace = {"__name__": module, "pickle": pickle, "io": __import__("io")}
    exec(source, namespace)
    return namespace[name]


def test_a_trusted_caller_lets_the_loads_nested_in_its_message_through(tmp_path):
    """Trusting a message trusts what unpickling it unpickles (the
    cloudpickle wrappers of loky tasks); an untrusted caller gets both scans."""
    outer = pickle.dumps(_Nested(pickle.dumps(multiprocessing.pool.mapstar)))
    recv = _function_of("ipc.site", "def recv(data):\n    return pickle.loads(data)\n", "recv")
    unpickle = _function_of(
        "ipc.site",
        "def unpickle(data):\n    return pickle.Unpickler(io.BytesIO(data)).load()\n",
        "unpickle",
    )
    with safepickle.guarded(trusted_callers=["ipc.site:recv", "ipc.site:unpickle"]):
        assert recv(outer) is multiprocessing.pool.mapstar
        assert unpickle(outer) is multiprocessing.pool.mapstar
        with pytest.raises(UnsafePickleError):
            pickle.loads(outer)
    with safepickle.guarded():
        with pytest.raises(UnsafePickleError):
            recv(outer)
        with pytest.raises(UnsafePickleError):
            unpickle(outer)


class _Nested:
    def __init__(self, blob):
        self.blob = blob

    def __reduce__(self):
        return (pickle.loads, (self.blob,))


@pytest.mark.parametrize("caller", sorted(DEFAULT_TRUSTED_CALLERS))
def test_each_default_trusted_caller_is_a_loading_function_of_this_python(caller):
    """An entry that no longer names the function that unpickles (a renamed
    method in a new Python or joblib) would silently stop trusting it and
    break pools again."""
    module_name, qualname = caller.split(":")
    if qualname == "<module>":
        spec = importlib.util.find_spec(module_name)
        assert spec is not None and spec.origin, module_name
        with open(spec.origin, encoding="utf-8") as fh:
            source = fh.read()
    else:
        obj = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        assert obj.__code__.co_qualname == qualname
        source = inspect.getsource(obj)
    assert re.search(r"\b(pickle\.load|loads)\(", source), caller
