"""scan(): read an input once and hand its bytes to the native scanner.

Nothing here imports, unpickles or otherwise runs the input.
"""

import io
import os

from . import _native
from .classifier import ModelError, bundled_model
from .errors import ScanError
from .report import Report

_BYTES_LIKE = (bytes, bytearray, memoryview)


def _read_path(path):
    # One open, one read: the bytes scanned are the bytes of one moment.
    with open(path, "rb") as fh:
        return fh.read()


def _read_file(fh, where):
    if isinstance(fh, io.TextIOBase):
        raise TypeError(
            f"scan() needs a binary file object, got text-mode {type(fh).__name__} "
            f"for {where}: open it with mode 'rb'"
        )
    data = fh.read()
    if isinstance(data, str):
        raise TypeError(
            f"scan() needs a binary file object, {where} returned str from read(): "
            "open it with mode 'rb'"
        )
    if data is None:
        raise ScanError(where, "read() returned None (non-blocking file with no data ready)")
    return data


def _file_name(fh):
    name = getattr(fh, "name", None)
    if isinstance(name, (str, bytes, os.PathLike)):
        return os.fsdecode(name)
    return None


_REPORT_MODES = ("full", "verdict")


def scan(
    source, *, limits=None, detail=True, model=True, threshold=None, explain=False, report="full"
):
    """Scan a pickle-family input without loading it and return a Report.

    ``source`` is a path (str or os.PathLike), a bytes-like object (scanned
    in place, without a copy), or a binary file object (read from its current
    position to the end and left open). ``limits`` overrides some of
    ``safepickle._native.default_limits()``. With ``detail=False`` the
    report leaves call arguments and returned values out (None), which is
    all a verdict needs and much cheaper on large pickles. ``report="verdict"``
    returns a compact report: the same verdict, score, reasons and globals
    without the trace (no streams, calls, anomalies or features), for
    callers that only decide whether to load.

    The verdict is layered: certain rules decide alone, the bundled model
    scores every pickle and decides the rest against ``threshold`` (the
    model's own by default). ``model=False`` keeps to the rules (no score);
    ``explain=True`` lists the features behind the score even when the
    model did not decide.

    Raises ScanError when the input cannot be read or scanned (a bundled
    model that cannot be loaded included), TypeError for a source of the
    wrong kind (text-mode files included), ValueError for an unknown
    ``report`` mode.
    """
    if report not in _REPORT_MODES:
        raise ValueError(f"report must be 'full' or 'verdict', not {report!r}")
    if isinstance(source, _BYTES_LIKE):
        path, where = None, "<bytes>"
        data = source
        if isinstance(data, memoryview) and not data.c_contiguous:
            data = data.tobytes()
    elif isinstance(source, (str, os.PathLike)):
        path = os.fsdecode(source)
        where = path
        try:
            data = _read_path(source)
        except OSError as exc:
            raise ScanError(where, exc.strerror or str(exc)) from exc
    elif hasattr(source, "read"):
        path = _file_name(source)
        where = path if path is not None else "<file>"
        try:
            data = _read_file(source, where)
        except OSError as exc:
            raise ScanError(where, exc.strerror or str(exc)) from exc
        if not isinstance(data, _BYTES_LIKE):
            raise TypeError(
                f"read() of {where} returned {type(data).__name__}, expected bytes"
            )
    else:
        raise TypeError(
            "scan() takes a path, a bytes-like object or a binary file object, "
            f"not {type(source).__name__}"
        )

    result, _touched = _scan_data(
        data,
        path=path,
        where=where,
        limits=limits,
        detail=detail,
        model=model,
        threshold=threshold,
        explain=explain,
        report=report,
    )
    return result


def _scan_data(
    data, *, path, where, limits, detail, model, threshold, explain, report, holes=None
):
    """(Report, holes touched) for ``data``: the scan behind scan().
    ``holes`` (report="verdict" only) are ranges of ``data`` left unread;
    holes touched says whether the verdict relied on any of their bytes
    (None without holes)."""
    classifier = None
    if model:
        try:
            bundled = bundled_model()
        except ModelError as exc:
            raise ScanError(where, str(exc)) from exc
        classifier = bundled.classifier
        if threshold is None:
            threshold = bundled.threshold
    try:
        raw = _native.scan(
            data,
            limits,
            detail,
            classifier=classifier,
            threshold=0.5 if threshold is None else threshold,
            explain=explain,
            report=report,
            holes=holes,
        )
    except _native.ScanError as exc:
        raise ScanError(where, str(exc)) from exc
    touched = raw.pop("holes_touched", None)
    return Report(raw, path=path), touched
