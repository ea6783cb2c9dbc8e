"""SafePickle: decide whether a pickle file is safe to load, without loading it.

    >>> import safepickle
    >>> report = safepickle.scan("model.pkl")
    >>> report.verdict, report.globals

    >>> safepickle.patch()      # from here on every model load is scanned first
"""

from .api import scan
from .errors import GuardError, ScanError, UnscannableError, UnsafePickleError
from .guard import (
    Unpickler,
    guarded,
    is_patched,
    load,
    loads,
    patch,
    unguarded,
    unpatch,
)
from .report import Report

__version__ = "0.1.0"

__all__ = [
    "scan",
    "Report",
    "ScanError",
    "GuardError",
    "UnsafePickleError",
    "UnscannableError",
    "patch",
    "unpatch",
    "guarded",
    "unguarded",
    "is_patched",
    "load",
    "loads",
    "Unpickler",
    "__version__",
]


def load_ipython_extension(ipython):
    """``%load_ext safepickle``: guard every load in the notebook."""
    patch()


def unload_ipython_extension(ipython):
    """``%unload_ext safepickle``: put the loaders back."""
    unpatch()
