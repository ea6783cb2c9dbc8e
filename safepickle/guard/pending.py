"""A snapshot's scan running in a thread of its own, and its verdict awaited.

The scan holds no GIL while it runs, so the thread that started it can
unpickle meanwhile (speculation.py): on a second core a guarded load then
takes about as long as the plain one. ``finish()`` waits for the scan and
applies the policy exactly as check_snapshot does; nothing the speculation
built is handed to the caller before it has returned.
"""

import os
import threading

from ..errors import ScanError
from .check import apply_policy, verdict

# Below this a thread costs more than the overlap saves: a 1 MB pickle
# unpickles in about 5 ms, and starting and joining a thread takes 0.1 ms.
MIN_SIZE = 1 << 20


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def worth_it(snapshot):
    """True when a scan of ``snapshot`` in a thread can overlap its load:
    a large input with every byte in the snapshot (the scan may read holes
    in, which the loader must not race), on a machine with a second core."""
    return (
        snapshot.size >= MIN_SIZE
        and not snapshot.holes
        and not snapshot.scan_checks_holes
        and _cores() > 1
    )


class PendingCheck:
    """check_snapshot(snapshot, policy), started now and finished by
    ``finish()``. A thread that cannot be started leaves the scan to
    ``finish()``, in the caller's thread."""

    def __init__(self, snapshot, policy):
        self._snapshot = snapshot
        self._policy = policy
        self._outcome = None  # the report or ScanError; set by the thread
        self._failure = None  # anything else the scan raised
        self._judged = False
        self._refusal = None  # what apply_policy raised, raised again on every call
        self._result = None
        self._scanned = False  # set by the thread, last
        self._thread = threading.Thread(target=self._scan, name="safepickle-scan", daemon=True)
        try:
            self._thread.start()
        except RuntimeError:
            self._thread = None

    def _scan(self):
        try:
            self._outcome = verdict(self._snapshot)
        except ScanError as exc:
            self._outcome = exc
        except BaseException as exc:  # noqa: B036 - handed to finish()
            self._failure = exc
        self._scanned = True

    def early_report(self):
        """The report if the scan is over and produced one, else None;
        never waits."""
        if not self._scanned or self._failure is not None:
            return None
        return self._outcome

    def over(self):
        """True once the scan has ended, whatever it found."""
        return self._scanned

    def finish(self):
        """The report, once the scan is over; raises or warns as the policy
        says, on this call and on every later one."""
        if not self._judged:
            if self._thread is None:
                self._scan()
            else:
                self._thread.join()
            self._judged = True
            try:
                if self._failure is not None:
                    raise self._failure
                self._result = apply_policy(self._snapshot, self._outcome, self._policy)
            except BaseException as exc:
                self._refusal = exc
        if self._refusal is not None:
            raise self._refusal
        return self._result
