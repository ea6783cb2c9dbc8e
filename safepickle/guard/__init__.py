"""The load guard: every model load is scanned first, and refused when the
scan does not find it benign (docs/guard.md).

    import safepickle
    safepickle.patch()          # pickle, torch, joblib, numpy, pandas loads are now checked
"""

from .patching import guarded, is_patched, patch, unpatch
from .pickle_hooks import Unpickler, load, loads
from .policy import DEFAULT_TRUSTED_CALLERS, Policy, SafePickleWarning
from .state import unguarded

__all__ = [
    "patch",
    "unpatch",
    "guarded",
    "unguarded",
    "is_patched",
    "load",
    "loads",
    "Unpickler",
    "Policy",
    "DEFAULT_TRUSTED_CALLERS",
    "SafePickleWarning",
]
