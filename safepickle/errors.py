"""Exceptions raised by the safepickle API."""


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
