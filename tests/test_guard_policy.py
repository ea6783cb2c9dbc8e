"""The guard's policy: block or warn, error verdicts, the allow list (and
attempts to abuse it), the score threshold, and the environment."""

import pickle
from types import SimpleNamespace

import pytest

import safepickle
from safepickle.errors import UnscannableError, UnsafePickleError
from safepickle.guard.policy import (
    DEFAULT_TRUSTED_CALLERS,
    Policy,
    SafePickleWarning,
    judge,
    make_policy,
)

from .guard_files import MkdirPayload, run_victim, write


def _report(verdict="unsafe", reasons=(), globals_=(), score=None):
    return SimpleNamespace(verdict=verdict, reasons=list(reasons), globals=list(globals_), score=score)


MKDIR = "posix.mkdir: filesystem (global at offset 2, called at offset 30)"
SYSTEM = "posix.system: process (global at offset 40, called at offset 60)"


def test_block_raises_with_the_full_report():
    report = _report(reasons=[MKDIR], globals_=["posix.mkdir"])
    with pytest.raises(UnsafePickleError) as info:
        judge(report, "model.pkl", Policy())
    assert info.value.report is report and info.value.where == "model.pkl"
    assert str(info.value) == f"model.pkl: refused to load: verdict unsafe, score none, reasons: {MKDIR}"
    assert isinstance(info.value, pickle.UnpicklingError)


def test_allow_accepts_only_reasons_of_allowed_globals():
    policy = Policy(allow=["posix.mkdir"])
    judge(_report(reasons=[MKDIR], globals_=["posix.mkdir"]), "m", policy)
    nested = "nested pickle at offset 12: " + MKDIR
    judge(_report(reasons=[nested], globals_=["posix.mkdir"]), "m", policy)
    # Anything else in the file still blocks it.
    with pytest.raises(UnsafePickleError):
        judge(_report(reasons=[MKDIR, SYSTEM], globals_=["posix.mkdir", "posix.system"]), "m", policy)


@pytest.mark.parametrize(
    "reason,globals_",
    [
        # a reason that is not one global's own finding
        ("a call result called at offset 40: calls what a call returned", ["posix.mkdir"]),
        ("computed global at offset 10 (STACK_GLOBAL on names built at run time)", ["posix.mkdir"]),
        ("scan incomplete: max_ops", []),
        # the allowed name as a prefix of another global
        ("posix.mkdirs: filesystem (global at offset 2)", ["posix.mkdirs"]),
        # a name made to start like an allowed one
        ("posix.mkdir: x: process (global at offset 2)", ["posix.mkdir: x"]),
        # the name in the reason but not among the globals the file resolves
        (MKDIR, ["posix.system"]),
        ("BUILD at offset 72 modifies the global posix.mkdir (sets 'x')", ["posix.mkdir"]),
    ],
)
def test_allow_cannot_be_stretched(reason, globals_):
    with pytest.raises(UnsafePickleError):
        judge(_report(reasons=[reason], globals_=globals_), "m", Policy(allow=["posix.mkdir"]))


def test_threshold_only_adds_refusals():
    policy = Policy(threshold=0.5)
    judge(_report(verdict="benign", score=0.2), "m", policy)
    judge(_report(verdict="benign", score=None), "m", policy)
    with pytest.raises(UnsafePickleError, match="score 0.700"):
        judge(_report(verdict="benign", score=0.7), "m", policy)
    with pytest.raises(UnsafePickleError):
        judge(_report(reasons=[SYSTEM], globals_=["posix.system"], score=0.1), "m", policy)


def test_error_verdict_fails_closed_unless_policy_says_warn():
    report = _report(verdict="error", reasons=["no pickle found"])
    with pytest.raises(UnscannableError, match="m: cannot be scanned safely: verdict error"):
        judge(report, "m", Policy())
    with pytest.warns(SafePickleWarning, match="no pickle found"):
        judge(report, "m", Policy(on_error="warn"))


def test_garbage_is_refused_by_the_guard_not_the_loader():
    with pytest.raises(UnscannableError) as info:
        safepickle.loads(b"\x00\x01 this is not a pickle")
    assert isinstance(info.value, pickle.UnpicklingError)
    assert info.value.report.verdict == "error"


def test_policy_from_the_environment():
    env = {
        "SAFEPICKLE_MODE": "warn",
        "SAFEPICKLE_THRESHOLD": "0.25",
        "SAFEPICKLE_ALLOW": "mymodule.MyClass, other.Thing",
        "SAFEPICKLE_ON_ERROR": "warn",
    }
    policy = make_policy(environ=env)
    assert policy == Policy(mode="warn", threshold=0.25, on_error="warn",
                            allow=["mymodule.MyClass", "other.Thing"])
    # explicit arguments win over the environment
    assert make_policy(mode="block", environ=env).mode == "block"
    with pytest.raises(ValueError, match="environment"):
        make_policy(environ={"SAFEPICKLE_MODE": "loud"})
    with pytest.raises(ValueError, match="SAFEPICKLE_THRESHOLD"):
        make_policy(environ={"SAFEPICKLE_THRESHOLD": "high"})
    with pytest.raises(ValueError, match="fully qualified"):
        Policy(allow=["mkdir"])
    with pytest.raises(TypeError):
        Policy(allow="posix.mkdir")


def test_trusted_callers_from_arguments_and_the_environment():
    assert make_policy(environ={}).trusted_callers == DEFAULT_TRUSTED_CALLERS
    # a list replaces the default; "none" trusts no function at all
    env = {"SAFEPICKLE_TRUSTED_CALLERS": "mylib.ipc:Channel.recv, other:<module>"}
    assert make_policy(environ=env).trusted_callers == {"mylib.ipc:Channel.recv", "other:<module>"}
    assert make_policy(environ={"SAFEPICKLE_TRUSTED_CALLERS": "none"}).trusted_callers == set()
    assert make_policy(trusted_callers=(), environ=env).trusted_callers == set()
    extended = DEFAULT_TRUSTED_CALLERS | {"torch.distributed.distributed_c10d:_tensor_to_object"}
    assert Policy(trusted_callers=extended).trusted_callers == extended
    with pytest.raises(ValueError, match="environment"):
        make_policy(environ={"SAFEPICKLE_TRUSTED_CALLERS": "multiprocessing.queues"})
    for bad in ("Queue.get", "multiprocessing.queues:", ":get", "a b:c", "m:f()"):
        with pytest.raises(ValueError, match="module:qualified.name"):
            Policy(trusted_callers=[bad])
    with pytest.raises(TypeError):
        Policy(trusted_callers="multiprocessing.queues:Queue.get")


def test_warn_mode_loads_anyway_and_says_so(tmp_path):
    """The payload (a harmless mkdir) runs in a subprocess: warn means load."""
    canary = tmp_path / "canary"
    path = write("raw", tmp_path / "h.pkl", {"m": MkdirPayload(canary)})[0]
    spec = {
        "order": "patch-first",
        "imports": [],
        "policy": {"mode": "warn"},
        "cases": [{"id": "warn", "loader": "pickle.load", "path": path}],
    }
    results, _ = run_victim(tmp_path, spec)
    assert results["warn"]["outcome"] == "loaded"
    assert canary.is_dir()
    assert any("SafePickleWarning" in w and "posix.mkdir" in w for w in results["warn"]["warnings"])


def test_allow_from_the_environment_lets_the_named_global_through(tmp_path):
    canary = tmp_path / "canary"
    path = write("raw", tmp_path / "h.pkl", {"m": MkdirPayload(canary)})[0]
    spec = {
        "order": "patch-first",
        "imports": [],
        "env": {"SAFEPICKLE_ALLOW": "posix.mkdir"},
        "cases": [{"id": "allowed", "loader": "pickle.load", "path": path}],
    }
    results, _ = run_victim(tmp_path, spec)
    assert results["allowed"]["outcome"] == "loaded" and canary.is_dir()


@pytest.mark.parametrize("direct", [True, False], ids=["environ-dict", "environ-get"])
def test_policy_without_patch_follows_the_environment(monkeypatch, direct):
    # the drop-ins read the policy on every call: a change of the
    # environment is seen at the next call, an unchanged one is not parsed
    # again, and a bad value is refused every time, never remembered
    from safepickle.guard import state

    monkeypatch.setattr(state, "_policy", None)
    monkeypatch.setattr(state, "_env_values", state._env_reader(direct))
    monkeypatch.delenv("SAFEPICKLE_THRESHOLD", raising=False)
    monkeypatch.setenv("SAFEPICKLE_THRESHOLD", "0.3")
    first = state.current_policy()
    assert first.threshold == 0.3
    assert state.current_policy() is first
    monkeypatch.setenv("SAFEPICKLE_THRESHOLD", "0.4")
    assert state.current_policy().threshold == 0.4
    monkeypatch.setenv("SAFEPICKLE_THRESHOLD", "high")
    for _ in range(2):
        with pytest.raises(ValueError, match="SAFEPICKLE_THRESHOLD"):
            state.current_policy()
    monkeypatch.delenv("SAFEPICKLE_THRESHOLD")
    assert state.current_policy().threshold is None
    monkeypatch.setenv("SAFEPICKLE_MODE", "warn")
    assert state.current_policy().mode == "warn"
