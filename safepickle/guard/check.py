"""Scan a snapshot and apply the policy: the one step every hook shares."""

import os

from .. import _native
from ..api import scan
from ..errors import ScanError
from . import state
from .policy import judge, refuse_unreadable
from .reader import ScannedReader
from .snapshot import from_bytes, read_file_object, read_path

# Called between the verdict and the load; tests set it to act exactly
# there (rewrite or replace the file) and prove that changes nothing.
_after_verdict = None


def check_snapshot(snapshot, policy=None):
    """Scan ``snapshot`` and raise, warn or return as the policy says."""
    policy = policy if policy is not None else state.current_policy()
    view = snapshot.view()
    try:
        # the policy reads the verdict, score, reasons and globals only
        report = scan(view, detail=False, report="verdict")
    except ScanError as exc:
        refuse_unreadable(snapshot.name, exc.reason, policy)
        return None
    finally:
        view.release()
        # the loader comes next and wants the memory the scan kept for the
        # next scan
        _native.release_memory()
    report.path = snapshot.name
    judge(report, snapshot.name, policy)
    if _after_verdict is not None:
        _after_verdict(snapshot)
    return report


def scanned_path(path, release=True, check=True):
    """(reader, descriptor) over the checked bytes of a path (unchecked
    when the caller checks what it derives from them). The descriptor is
    the one the bytes came from; the caller closes it."""
    snapshot, fd = read_path(path)
    try:
        if check:
            check_snapshot(snapshot)
    except BaseException:
        snapshot.close()
        os.close(fd)
        raise
    return ScannedReader(snapshot, release=release), fd


def scanned_file(fh, release=True, check=True, policy=None):
    """(reader, start): a reader over the checked rest of a file object."""
    snapshot, start = read_file_object(fh)
    try:
        if check:
            check_snapshot(snapshot, policy)
    except BaseException:
        snapshot.close()
        raise
    return ScannedReader(snapshot, release=release), start


def scanned_bytes(data, name="<bytes>", policy=None):
    """The checked snapshot of a bytes-like object."""
    snapshot = from_bytes(data, name)
    check_snapshot(snapshot, policy)
    return snapshot


def sync_position(fh, start, reader):
    """Leave a caller's file where a plain load would: just past what the
    loader consumed (pickles back to back are read by repeated loads)."""
    if start is None:
        return
    try:
        fh.seek(start + reader.tell())
    except (OSError, ValueError):
        pass
