"""Process-wide guard state: the current policy, and per thread whether a
load is already inside a guarded load (or explicitly unguarded).

A guarded loader hands the real loader bytes it has scanned; the real loader
may call other hooked functions on them (torch.load calls pickle's
Unpickler, joblib.load its NumpyUnpickler, numpy.load pickle.load). Those
inner calls read what the outer scan covered, so they are not scanned again.
"""

import threading
from contextlib import contextmanager

from .policy import make_policy

_local = threading.local()
_policy = None


def current_policy():
    """The policy patch() installed, or the one the environment gives."""
    policy = _policy
    if policy is None:
        policy = make_policy()
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
    return getattr(_local, "depth", 0) > 0


@contextmanager
def inside_guarded_load():
    _local.depth = getattr(_local, "depth", 0) + 1
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
