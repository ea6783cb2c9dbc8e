"""Scan a snapshot and apply the policy: the one step every hook shares."""

import os

from .. import _native
from ..api import _scan_data
from ..errors import ScanError
from . import state
from .policy import judge, refuse_unreadable
from .reader import ScannedReader
from .snapshot import file_name, fill_holes, from_bytes, read_file_object, read_path, regular_fd

# Called between the verdict and the load; tests set it to act exactly
# there (rewrite or replace the file) and prove that changes nothing.
_after_verdict = None


def check_snapshot(snapshot, policy=None):
    """Scan ``snapshot`` and raise, warn or return as the policy says."""
    policy = policy if policy is not None else state.current_policy()
    return judged(snapshot, policy, lambda: _verdict(snapshot))


def judged(snapshot, policy, verdict):
    """The report ``verdict()`` gives on ``snapshot`` (None when it raises
    ScanError), after the policy has raised, warned or let it pass."""
    try:
        report = verdict()
    except ScanError as exc:
        refuse_unreadable(snapshot.name, exc.reason, policy)
        return None
    finally:
        # the loader comes next and wants the memory the scan kept for the
        # next scan
        _native.release_memory()
    report.path = snapshot.name
    judge(report, snapshot.name, policy)
    if _after_verdict is not None:
        _after_verdict(snapshot)
    return report


def _scan_view(snapshot, holes):
    view = snapshot.view()
    try:
        # the policy reads the verdict, score, reasons and globals only
        return _scan_data(
            view,
            path=None,
            where=snapshot.name,
            limits=None,
            detail=False,
            model=True,
            threshold=None,
            explain=False,
            report="verdict",
            holes=holes,
        )
    finally:
        view.release()


def _verdict(snapshot):
    """The compact report of ``snapshot``. Holes the scan must vouch for
    stay out only when it relied on none of their bytes; otherwise they
    are read in and the snapshot is scanned again, whole."""
    if snapshot.scan_checks_holes:
        report, touched = _scan_view(snapshot, snapshot.holes)
        snapshot.scan_checks_holes = False
        if not touched:
            return report
        fill_holes(snapshot)
    report, _touched = _scan_view(snapshot, None)
    return report


def scanned_path(path, release=True, check=True, read=read_path):
    """(reader, descriptor) over the checked bytes of a path (unchecked
    when the caller checks what it derives from them), read by ``read``
    (snapshot.read_path, or joblib_arrays.read_joblib_path). The
    descriptor is the one the bytes came from; the caller closes it."""
    snapshot, fd = read(path)
    try:
        if check:
            check_snapshot(snapshot)
        return ScannedReader(snapshot, release=release), fd
    except BaseException:
        snapshot.close()
        os.close(fd)
        raise


def _planned(fh, plan_holes):
    """The snapshot ``plan_holes(fd, name)`` makes of a file object that is
    a regular file at its start with nothing read ahead, or None. The
    reader may outlive the load call (an Unpickler loads later), so the
    holes are read from a descriptor of the snapshot's own."""
    fd = regular_fd(fh)
    if fd is None:
        return None
    fd = os.dup(fd)
    try:
        snapshot = plan_holes(fd, file_name(fh))
    except BaseException:
        os.close(fd)
        raise
    if snapshot is None:
        os.close(fd)
        return None
    snapshot.owns_fd = True
    return snapshot


def file_snapshot(fh, plan_holes=None):
    """(snapshot, start) of the rest of a file object, unchecked. With
    ``plan_holes`` (``with_holes`` of zip_payloads.py or
    stream_payloads.py), a regular file at its start with nothing read
    ahead may leave out of the snapshot what that plan leaves out."""
    snapshot = _planned(fh, plan_holes) if plan_holes is not None else None
    if snapshot is not None:
        return snapshot, 0
    return read_file_object(fh)


def scanned_file(fh, release=True, check=True, policy=None, plan_holes=None):
    """(reader, start): a reader over the checked rest of a file object
    (file_snapshot's)."""
    snapshot, start = file_snapshot(fh, plan_holes)
    return checked_reader(snapshot, release, check, policy), start


def checked_reader(snapshot, release=True, check=True, policy=None):
    """A reader over ``snapshot`` once checked; the snapshot is closed when
    the check raises."""
    try:
        if check:
            check_snapshot(snapshot, policy)
    except BaseException:
        snapshot.close()
        raise
    return ScannedReader(snapshot, release=release)


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
