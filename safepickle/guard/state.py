"""Process-wide guard state: the current policy, and per thread whether a
load is already inside a guarded load (or explicitly unguarded).

A guarded loader hands the real loader bytes it has scanned; the real loader
may call other hooked functions on them (torch.load calls pickle's
Unpickler, joblib.load its NumpyUnpickler, numpy.load pickle.load). Those
inner calls read what the outer scan covered, so they are not scanned again.
"""

import os
import threading
from contextlib import contextmanager

from .policy import ENV_NAMES, make_policy



class _Depth(threading.local):
    # a class default: getattr(local, name, 0) on a thread that never set it
    # raised and caught an AttributeError, 0.3 us on every guarded call
    depth = 0


_local = _Depth()
_policy = None
# (the environment's values, the policy made from them): without patch()
# every drop-in call asks for the policy, and parsing it took longer than
# the scan of a small pickle. Policies are frozen, so one can be shared.
_from_env = None


def _env_reader(direct=True):
    """A function giving the values of ENV_NAMES. os.environ.get raises and
    catches a KeyError for each unset name (about 0.6 us apiece, more than
    a small scan); os.environ keeps its contents in a dict, read directly
    where it has one."""
    data = getattr(os.environ, "_data", None)
    if direct and isinstance(data, dict) and hasattr(os.environ, "encodekey"):
        keys = tuple(os.environ.encodekey(name) for name in ENV_NAMES)
        get = data.get
        return lambda: tuple([get(key) for key in keys])
    return lambda: tuple(os.environ.get(name) for name in ENV_NAMES)


_env_values = _env_reader()


def current_policy():
    """The policy patch() installed, or the one the environment gives."""
    global _from_env
    policy = _policy
    if policy is not None:
        return policy
    values = _env_values()
    cached = _from_env
    if cached is not None and cached[0] == values:
        return cached[1]
    policy = make_policy()
    _from_env = (values, policy)
    return policy


def installed_policy():
    """The policy patch() installed, None when there is none."""
    return _policy


def set_policy(policy):
    global _policy
    previous, _policy = _policy, policy
    return previous


def passes_through():
    """True when this thread is inside a guarded load or unguarded()."""
    return _local.depth > 0


@contextmanager
def inside_guarded_load():
    _local.depth += 1
    try:
        yield
    finally:
        _local.depth -= 1


@contextmanager
def unguarded():
    """Loads in this block, on this thread, are not scanned.

    For inputs you trust and do not want to pay the scan for; other threads
    stay guarded."""
    with inside_guarded_load():
        yield
