"""Load while the scan runs, behind a gate (csrc/core/sp_progress.h).

Scanning first and loading after costs the scan on top of the load; for a
large pickle of many small objects the scan is a tenth or more of the
load. Here the scan runs in a thread of
its own and the real loader starts at once, reading the snapshot through a
GatedReader that serves only bytes the scan has cleared: opcodes that build
plain data, harmless whatever the verdict. The
first opcode that could do anything else (import, call, STOP) is never
served before the verdict; then the policy decides as for any load: the
rest is served, or the loader gets the guard's error from its next read and
the hook raises it whatever the loader made of it.

Only pickle.load uses it, the one loader that reads a pickle the way the
core models as its primary reading (_pickle's Unpickler over a file), and
only for snapshots without holes and large enough for the thread to pay
off.
"""

from .. import _native
from ..classifier import ModelError, bundled_model
from ..errors import ScanError
from ..report import Report
from . import check, state
from .reader import ScannedReader

# Below this a scan takes about as long as starting its thread: scan first.
GATE_MIN = 1 << 20

# The core can let numpy's array rebuilds through as well (GatedScan's
# numpy=True), which would let an object array load beside its scan. Not
# yet: the machine that scans such a stream holds about 100 bytes per
# object, and beside the loader's own objects that raised the peak memory
# of loading a 1M-object array 1.35 times (benchmarks/README.md). Until the
# machine is leaner the gate closes at a stream's first global, and such
# loads wait for the verdict there.
GATE_NUMPY = False


def fits(snapshot):
    """Whether a load of ``snapshot`` may run behind the gate."""
    return not snapshot.holes and snapshot.size >= GATE_MIN


class Gate:
    """The scan of ``snapshot`` in its thread, and the policy's decision on
    its report once it has ended."""

    def __init__(self, snapshot, policy):
        self.snapshot = snapshot
        self._policy = policy
        self._decided = False
        self._refusal = None
        self._scan = self._view = None
        self._model_error = None
        try:
            bundled = bundled_model()
        except ModelError as exc:
            # scan() raises ScanError here: decided at once, as a load that
            # scans first would be
            self._model_error = str(exc)
            self.decide()
            return
        # held by the scan's thread until close()
        self._view = snapshot.view()
        self._scan = _native.GatedScan(
            self._view, bundled.classifier, bundled.threshold, numpy=GATE_NUMPY
        )

    def servable(self, end):
        """How far the loader may read, at least ``end`` (up to the end of
        the snapshot) unless the policy refuses the file: then it raises."""
        if not self._decided:
            cleared, finished = self._scan.wait(end)
            if not finished:
                return cleared
        self.decide()
        return self.snapshot.size

    def decide(self):
        """Wait for the verdict and apply the policy: return to load on,
        or raise (and raise the same error on every later call)."""
        if self._decided:
            if self._refusal is not None:
                raise self._refusal
            return
        self._decided = True
        try:
            check.judged(self.snapshot, self._policy, self._report)
        except BaseException as exc:
            self._refusal = exc
            raise

    def _report(self):
        if self._scan is None:
            raise ScanError(self.snapshot.name, self._model_error)
        try:
            raw = self._scan.result()
        except _native.ScanError as exc:
            raise ScanError(self.snapshot.name, str(exc)) from exc
        return Report(raw, path=None)

    def close(self):
        if self._scan is not None:
            self._scan.close()
        if self._view is not None:
            self._view.release()


class GatedReader(ScannedReader):
    """A ScannedReader that serves only what ``gate`` lets through. Until
    the verdict nothing is given back to the kernel: the scan may still
    read any byte (a nested pickle's bytes are read after its stream)."""

    def __init__(self, snapshot, gate):
        super().__init__(snapshot, release=False)
        self._gate = gate
        self._open = False

    def _servable(self, end):
        if self._open:
            return self._size
        got = self._gate.servable(end)
        if got >= self._size:
            self._open = True
            self.release_as_read()
        return got

    def _take(self, size):
        start = self._pos
        end = min(self._size, start + max(0, size))
        if end > start:
            self._servable(end)
        return super()._take(size)

    def peek(self, size=0):
        """What is cleared from the position on, up to ``size`` bytes (at
        least one unless at the end): a view of the snapshot, since the C
        unpickler only reads it, and only until its next peek."""
        self._check_open()
        start = self._pos
        if start >= self._size:
            return b""
        end = min(self._size, start + max(1, size), self._servable(start + 1))
        self._refuse_freed(start, end)
        return self._view[start:end]

    def readline(self, size=-1):
        self._check_open()
        start = self._pos
        limit = self._size if size is None or size < 0 else min(self._size, start + size)
        seen = start
        while seen < limit:
            got = min(limit, self._servable(seen + 1))
            if self._snapshot.buffer.find(b"\n", seen, got) >= 0 or got >= limit:
                break
            seen = got
        return super().readline(size)


def load(snapshot, loader, policy=None, on_end=None):
    """``loader(reader)`` over ``snapshot`` behind the gate, the policy
    applied to the scan's verdict. ``on_end(reader)`` runs before the
    reader and the snapshot are closed."""
    policy = policy if policy is not None else state.current_policy()
    try:
        gate = Gate(snapshot, policy)
    except BaseException:
        snapshot.close()
        raise
    reader = GatedReader(snapshot, gate)
    try:
        try:
            result = loader(reader)
        except BaseException:
            # a refusal stands whatever the loader made of it
            gate.decide()
            raise
        gate.decide()
        return result
    finally:
        try:
            if on_end is not None:
                on_end(reader)
        finally:
            gate.close()
            reader.close()
