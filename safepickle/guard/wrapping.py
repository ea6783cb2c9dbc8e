"""Helpers for wrapping a library's loader without restating its signature."""

import functools
import inspect


@functools.lru_cache(maxsize=None)
def _signature(function):
    return inspect.signature(function)


def bound_arguments(function, args, kwargs):
    """The call's arguments bound to ``function``'s signature, defaults
    filled in, so a hook reads them by name whatever the library version."""
    bound = _signature(function).bind(*args, **kwargs)
    bound.apply_defaults()
    return bound


def wraps_loader(original):
    def decorate(wrapper):
        wrapper = functools.wraps(original)(wrapper)
        wrapper.__safepickle_original__ = original
        return wrapper

    return decorate


def original_of(function):
    """The library's own function behind a guard wrapper (itself when it is
    not one), so patching twice never wraps a wrapper."""
    return getattr(function, "__safepickle_original__", function)
