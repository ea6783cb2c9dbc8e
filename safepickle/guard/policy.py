"""What the guard does with a scan report: the user's policy and the decision.

A policy is immutable; patch() swaps the current one in a single assignment,
so a load running in another thread sees either the old or the new policy,
never a mix.
"""

import logging
import os
import re
import warnings
from dataclasses import dataclass, field

from ..errors import UnsafePickleError, UnscannableError

MODES = ("block", "warn")

ENV_MODE = "SAFEPICKLE_MODE"
ENV_THRESHOLD = "SAFEPICKLE_THRESHOLD"
ENV_ALLOW = "SAFEPICKLE_ALLOW"
ENV_ON_ERROR = "SAFEPICKLE_ON_ERROR"
ENV_TRUSTED_CALLERS = "SAFEPICKLE_TRUSTED_CALLERS"
# every variable make_policy reads, in one place for the cache in state.py
ENV_NAMES = (ENV_MODE, ENV_THRESHOLD, ENV_ALLOW, ENV_ON_ERROR, ENV_TRUSTED_CALLERS)

# The functions through which multiprocessing (and so concurrent.futures and
# torch's DataLoader) and joblib's loky workers unpickle what the processes of
# one program send each other over their own pipes: task and result queues,
# connections, the preparation data of a spawned child. These are the
# program's own messages, not files; a guard that scanned them would refuse
# ordinary work (a pool task names multiprocessing.pool.mapstar) and a worker
# that dies on its task hangs the pool. Only these exact functions are
# trusted, not their modules: pool.map(pickle.loads, blobs) is still scanned.
DEFAULT_TRUSTED_CALLERS = frozenset(
    {
        "multiprocessing.connection:_ConnectionBase.recv",
        "multiprocessing.queues:Queue.get",
        "multiprocessing.queues:SimpleQueue.get",
        "multiprocessing.spawn:_main",
        "joblib.externals.loky.backend.popen_loky_posix:<module>",
    }
)

log = logging.getLogger("safepickle.guard")


class SafePickleWarning(UserWarning):
    """A guarded load went ahead although the scan did not find the input
    benign, because the policy says ``warn``."""


@dataclass(frozen=True)
class Policy:
    """``mode``: what an unsafe input gets, ``"block"`` (raise
    UnsafePickleError) or ``"warn"`` (warn and load). ``on_error``: the same
    choice for inputs that cannot be scanned or scan as ``error``.
    ``threshold``: when the report carries a score, a score at or above it
    is unsafe even if the verdict is benign (it only ever adds refusals).
    ``allow``: fully qualified globals (``"mymodule.MyClass"``) whose own
    findings are accepted; see ``allowed_reason``. ``trusted_callers``:
    functions (``"module:qualified.name"``) whose own calls of pickle's
    loaders are not scanned (see DEFAULT_TRUSTED_CALLERS)."""

    mode: str = "block"
    threshold: float = None
    allow: frozenset = field(default_factory=frozenset)
    on_error: str = "block"
    trusted_callers: frozenset = DEFAULT_TRUSTED_CALLERS
    # the qualified names alone: most loads are rejected on this first look
    trusted_qualnames: frozenset = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        for name in ("mode", "on_error"):
            value = getattr(self, name)
            if value not in MODES:
                raise ValueError(f"{name} must be one of {MODES}, not {value!r}")
        if self.threshold is not None and not isinstance(self.threshold, (int, float)):
            raise TypeError(f"threshold must be a number or None, not {self.threshold!r}")
        allow = _names(self.allow, "allow", _GLOBAL_NAME, "a fully qualified global (module.name)")
        object.__setattr__(self, "allow", allow)
        callers = _names(
            self.trusted_callers, "trusted_callers", _CALLER_NAME,
            "a function as module:qualified.name",
        )
        object.__setattr__(self, "trusted_callers", callers)
        object.__setattr__(
            self, "trusted_qualnames", frozenset(name.split(":", 1)[1] for name in callers)
        )


def _names(values, field_name, pattern, what):
    """``values`` as a frozenset of strings that all match ``pattern``."""
    if isinstance(values, str):
        raise TypeError(f"{field_name} takes a list of names, not one string")
    values = frozenset(values)
    for name in values:
        if not isinstance(name, str) or not pattern.fullmatch(name):
            raise ValueError(f"{field_name}: {name!r} is not {what}")
    return values


_GLOBAL_NAME = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+")
# module:qualname as a code object names it: dotted identifiers, and the
# <module>, <locals>, <lambda> parts Python puts in
_CALLER_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_<][\w<>]*(\.[A-Za-z_<][\w<>]*)*")

# A reason a global is responsible for starts with its name and a colon
# (docs/verdict.md, rule R1), possibly behind nested-pickle prefixes. The
# name cannot contain a colon or a space, so no other reason can pass for
# one that starts with an allowed name.
_NESTED_PREFIX = re.compile(r"(nested pickle at offset \d+: )*")
_OWN_REASON = re.compile(r"([^\s:]+): ")


def _env_policy_args(environ):
    args = {}
    if environ.get(ENV_MODE):
        args["mode"] = environ[ENV_MODE].strip().lower()
    if environ.get(ENV_ON_ERROR):
        args["on_error"] = environ[ENV_ON_ERROR].strip().lower()
    if environ.get(ENV_THRESHOLD):
        text = environ[ENV_THRESHOLD].strip()
        try:
            args["threshold"] = float(text)
        except ValueError:
            raise ValueError(f"{ENV_THRESHOLD}={text!r} is not a number") from None
    if environ.get(ENV_ALLOW):
        args["allow"] = [n for n in re.split(r"[,\s]+", environ[ENV_ALLOW]) if n]
    if environ.get(ENV_TRUSTED_CALLERS):
        text = environ[ENV_TRUSTED_CALLERS].strip()
        names = [n for n in re.split(r"[,\s]+", text) if n]
        args["trusted_callers"] = [] if names == ["none"] else names
    return args


def make_policy(
    mode=None, threshold=None, allow=None, on_error=None, trusted_callers=None, environ=None
):
    """The policy from explicit arguments, falling back to the environment
    (SAFEPICKLE_MODE, SAFEPICKLE_THRESHOLD, SAFEPICKLE_ALLOW,
    SAFEPICKLE_ON_ERROR, SAFEPICKLE_TRUSTED_CALLERS), then to the defaults
    (block everything that is not benign; trust multiprocessing's own
    messages). Bad values raise ValueError naming where they came from."""
    args = _env_policy_args(os.environ if environ is None else environ)
    from_env = set(args)
    explicit = {
        "mode": mode,
        "threshold": threshold,
        "allow": allow,
        "on_error": on_error,
        "trusted_callers": trusted_callers,
    }
    for key, value in explicit.items():
        if value is not None:
            args[key] = value
            from_env.discard(key)
    try:
        return Policy(**args)
    except (ValueError, TypeError) as exc:
        if from_env:
            raise ValueError(f"{exc} (set through the environment)") from None
        raise


def allowed_reason(reason, report_globals, allow):
    """True when ``reason`` is the finding of one allowed global that the
    report lists among the globals the file resolves."""
    rest = reason[_NESTED_PREFIX.match(reason).end():]
    m = _OWN_REASON.match(rest)
    return m is not None and m.group(1) in allow and m.group(1) in report_globals


def _describe(report):
    score = "none" if report.score is None else f"{report.score:.3f}"
    reasons = "; ".join(report.reasons) if report.reasons else "no reasons given"
    return f"verdict {report.verdict}, score {score}, reasons: {reasons}"


def _too_high(report, policy):
    return policy.threshold is not None and report.score is not None and (
        report.score >= policy.threshold
    )


def judge(report, where, policy):
    """Raise, warn or return, as the policy says for this report."""
    if report.verdict == "error":
        _refuse(policy.on_error, UnscannableError, f"{where}: cannot be scanned safely: "
                + _describe(report), where, report)
        return
    unsafe = report.verdict != "benign" or _too_high(report, policy)
    if unsafe and report.verdict == "unsafe" and not _too_high(report, policy) and policy.allow:
        globals_seen = set(report.globals)
        if report.reasons and all(
            allowed_reason(r, globals_seen, policy.allow) for r in report.reasons
        ):
            return
    if unsafe:
        _refuse(policy.mode, UnsafePickleError, f"{where}: refused to load: "
                + _describe(report), where, report)


def refuse_unreadable(where, why, policy):
    """An input the guard could not read or scan at all."""
    _refuse(policy.on_error, UnscannableError, f"{where}: cannot be scanned: {why}", where, None)


def _refuse(mode, error_type, message, where, report):
    if mode == "block":
        raise error_type(message, where=where, report=report)
    log.warning("loading anyway (policy warn): %s", message)
    warnings.warn(message, SafePickleWarning, stacklevel=4)
