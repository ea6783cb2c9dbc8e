"""patch(), unpatch() and guarded(): install and remove the hooks.

Every change is an attribute set on a module or class, recorded with the
value it replaced, so unpatch() puts back exactly what was there: the hooks
themselves, and the copies of what they replaced that other modules bound
before (copies.py). One lock serialises patching; loads never take it.
"""

import sys
import threading
import types
from contextlib import contextmanager

from . import joblib_hook, numpy_hook, pandas_hook, pickle_hooks, state, torch_hook
from .copies import copies
from .imports import PatchOnImport
from .policy import make_policy

LIBRARY_HOOKS = {hook.MODULE: hook for hook in (torch_hook, joblib_hook, numpy_hook, pandas_hook)}

_MISSING = object()
_lock = threading.RLock()
_applied = []  # (owner, attribute, value it replaced)
_finder = None
_patched_libraries = set()


def _apply(patches):
    """Sets each attribute; returns {id(original): (original, guarded)} for
    the module attributes replaced, whose copies elsewhere copies.py finds."""
    replaced = {}
    for owner, attribute, value in patches:
        previous = owner.__dict__.get(attribute, _MISSING)
        setattr(owner, attribute, value)
        _applied.append((owner, attribute, previous))
        if isinstance(owner, types.ModuleType) and previous is not _MISSING and previous is not value:
            replaced[id(previous)] = (previous, value)
    return replaced


def _rebind(found):
    """_apply for copies: a namespace that refuses the change (a module
    type of its own with a __setattr__) keeps its copy rather than stop
    patch() half way."""
    for owner, attribute, value in found:
        previous = owner.__dict__.get(attribute, _MISSING)
        try:
            setattr(owner, attribute, value)
        except (AttributeError, TypeError):
            continue
        _applied.append((owner, attribute, previous))


def _patch_library(name, module, sweep=True):
    with _lock:
        if _finder is None or name in _patched_libraries:
            return {}
        replaced = _apply(LIBRARY_HOOKS[name].patches(module))
        _patched_libraries.add(name)
        if sweep:
            _rebind(copies(replaced))
        return replaced


def is_patched():
    return _finder is not None


def patch(mode=None, threshold=None, allow=None, on_error=None, trusted_callers=None):
    """Guard every load from here on: pickle, _pickle and their pure-Python
    twins, torch.load, joblib.load, numpy.load(allow_pickle=True) and
    pandas.read_pickle, whether those libraries are imported already or
    later. Arguments left None come from the environment (SAFEPICKLE_MODE,
    SAFEPICKLE_THRESHOLD, SAFEPICKLE_ALLOW, SAFEPICKLE_ON_ERROR,
    SAFEPICKLE_TRUSTED_CALLERS), then the defaults. Calling it again only
    changes the policy."""
    global _finder
    policy = make_policy(
        mode=mode,
        threshold=threshold,
        allow=allow,
        on_error=on_error,
        trusted_callers=trusted_callers,
    )
    with _lock:
        state.set_policy(policy)
        if _finder is not None:
            return policy
        replaced = _apply(pickle_hooks.pickle_patches())
        _apply(pickle_hooks.existing_subclass_patches())
        _finder = PatchOnImport(LIBRARY_HOOKS, _patch_library)
        sys.meta_path.insert(0, _finder)
        for name in LIBRARY_HOOKS:
            module = sys.modules.get(name)
            if module is not None:
                replaced.update(_patch_library(name, module, sweep=False))
        # one look through the loaded modules for all of them
        _rebind(copies(replaced))
    return policy


def unpatch():
    """Put back every function and class patch() replaced."""
    global _finder
    with _lock:
        if _finder is None:
            return
        try:
            sys.meta_path.remove(_finder)
        except ValueError:
            pass
        _finder = None
        while _applied:
            owner, attribute, previous = _applied.pop()
            if previous is _MISSING:
                delattr(owner, attribute)
            else:
                setattr(owner, attribute, previous)
        _patched_libraries.clear()
        state.set_policy(None)


@contextmanager
def guarded(mode=None, threshold=None, allow=None, on_error=None, trusted_callers=None):
    """patch() for the duration of a block, with this policy; on exit the
    guard and policy are what they were before. Hooks are process-wide:
    other threads are guarded by the same policy while the block runs."""
    with _lock:
        was_patched = is_patched()
        previous = state.installed_policy()
        patch(
            mode=mode,
            threshold=threshold,
            allow=allow,
            on_error=on_error,
            trusted_callers=trusted_callers,
        )
    try:
        yield state.current_policy()
    finally:
        with _lock:
            if was_patched:
                state.set_policy(previous)
            else:
                unpatch()
