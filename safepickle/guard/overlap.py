"""The check of a large pickle overlapped with its load.

``check()`` starts the scan in a thread (pending.py), unpickles the snapshot
meanwhile with nothing able to run (speculation.py), waits for the verdict
and applies the policy. When the policy lets the load go ahead and the
speculation stands for the real load, its value is the load's; otherwise
the caller runs the real loader, now that the verdict is in, as it would
have without this module.
"""

from . import speculation
from .pending import PendingCheck, worth_it


class Kept:
    """A speculation that stands for the real load: ``value``, and ``end``,
    the offset in the snapshot just past the pickle."""

    __slots__ = ("value", "end")

    def __init__(self, value, end):
        self.value = value
        self.end = end


def possible(snapshot, kwargs):
    """True when check() may overlap the load of ``snapshot`` with its scan."""
    return worth_it(snapshot) and speculation.usable(kwargs)


def check(snapshot, start, policy, kwargs, pending=None):
    """check_snapshot(snapshot, policy), with the pickle at ``start``
    unpickled while the scan runs (under ``pending`` if it has started).
    Raises or warns as the policy says; then a Kept, or None when the
    caller must load for real."""
    if pending is None:
        pending = PendingCheck(snapshot, policy)

    def stop():
        if not pending.over():
            return False
        report = pending.early_report()
        return report is None or speculation.rules_out(report)

    try:
        spec = speculation.run(snapshot, start, kwargs, stop)
    except BaseException:
        # not a failure of the input (an interrupt): the scan may not go on
        # over a snapshot the caller is about to close
        _wait_quietly(pending)
        raise
    pending.finish()
    if spec is None:
        return None
    try:
        return Kept(speculation.replay(spec), spec.end)
    except speculation.Abandon:
        return None


def _wait_quietly(pending):
    try:
        pending.finish()
    except BaseException:  # noqa: B036 - the first exception is the one raised
        pass
