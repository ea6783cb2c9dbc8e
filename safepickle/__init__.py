"""SafePickle: decide whether a pickle file is safe to load, without loading it.

    >>> import safepickle
    >>> report = safepickle.scan("model.pkl")
    >>> report.verdict, report.globals
"""

from .api import scan
from .errors import ScanError
from .report import Report

__version__ = "0.1.0"

__all__ = ["scan", "Report", "ScanError", "__version__"]
