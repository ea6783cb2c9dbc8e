"""Exceptions raised by the safepickle API."""

import pickle


class ScanError(ValueError):
    """A file or buffer could not be scanned.

    Raised when the input cannot be read or the scanner fails on it; hostile
    or malformed pickles do not raise, they get an ``unsafe`` or ``error``
    verdict in the report. ``where`` names the input (a path, ``<bytes>`` or
    ``<file>``) and ``reason`` says what went wrong.
    """

    def __init__(self, where, reason):
        super().__init__(f"{where}: {reason}")
        self.where = where
        self.reason = reason


class GuardError(pickle.UnpicklingError):
    """The load guard refused to load an input; nothing from it has run.

    ``where`` names the input, ``report`` is the scan Report when there is
    one (None when the input could not be read or scanned at all).
    """

    def __init__(self, message, where=None, report=None):
        super().__init__(message)
        self.where = where
        self.report = report


class UnsafePickleError(GuardError):
    """The scan of an input found it unsafe under the guard's policy."""


class UnscannableError(GuardError):
    """An input could not be read or scanned, or the scan ended in an
    ``error`` verdict (not a pickle, malformed): the guard fails closed."""
