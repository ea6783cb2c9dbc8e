"""Unpickle a snapshot with nothing able to run, while its scan goes on.

A guarded load of a large pickle would cost the scan plus the load. The scan
runs in C without the GIL, so it can run in a thread of its own (pending.py)
while this thread unpickles the same snapshot with ``Speculative``: the real
C unpickler, under which nothing the input names can run.

- ``find_class`` refuses every name, before importing anything: GLOBAL,
  STACK_GLOBAL, INST and OBJ fail, and with them every way to put a
  callable on the stack.
- Extension codes are looked up through find_class too, except those in
  copyreg's cache of codes already loaded: ``usable()`` refuses to
  speculate while that cache holds any.
- It has no persistent_load, so PERSID and BINPERSID fail.
- What is left builds builtin values only (str, bytes, int, float, tuple,
  list, dict, set), made and hashed by the interpreter's own code; BUILD
  finds no __setstate__ on them and fails.

So a pickle of plain data unpickles in full, and any other stops at its
first name. Its value is used only after the verdict lets the load go
ahead, and it is the real load's value: the same unpickler on the same
bytes with the same arguments. On any failure the caller runs the real
loader after the verdict, as a guard without speculation does.
"""

import _pickle
import copyreg
import io
import mmap

from .reader import RELEASE_CHUNK
from .snapshot import page_up

# The keyword arguments of pickle.load and loads the speculation passes on
# as they are; a ``buffers`` iterable is the caller's and may be read once.
LOAD_KEYWORDS = frozenset({"fix_imports", "encoding", "errors"})

_BUFFER = 128 * 1024


class Abandon(Exception):
    """The input names something: the speculation cannot go on."""


class Speculative(_pickle.Unpickler):
    """See the module's docstring. Never patched: it is not a hook."""

    __safepickle_internal__ = True

    def find_class(self, module, name):
        raise Abandon(f"{module}.{name}")


def usable(kwargs):
    """True when a load with these keyword arguments may be speculated on."""
    return set(kwargs) <= LOAD_KEYWORDS and not copyreg._extension_cache


def rules_out(report):
    """True when a scan's report shows that the speculation is in vain: the
    load will be refused, or the input names a global."""
    return report.verdict != "benign" or bool(report.globals)


class _ViewReader(io.RawIOBase):
    """A read-only file over a snapshot's view, which it does not own.
    ``stop()``, asked at every read, ends the speculation early. When
    ``may_free()`` says so, it gives back to the kernel the whole chunks of
    a mapped snapshot that it has read, as the guard's reader does for the
    real loader (reader.py), so that the input and what is built from it
    are not both in memory for long. Nothing reads those bytes again."""

    def __init__(self, snapshot, view, start, stop, may_free):
        super().__init__()
        self._snapshot = snapshot
        self._view = view
        self._pos = start
        self._stop = stop
        self._may_free = may_free
        self._freed_to = page_up(start)
        self.freed = False

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=io.SEEK_SET):
        # the unpickler only reads forward; BufferedReader asks where it is
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence == io.SEEK_END:
            offset += len(self._view)
        if offset < self._freed_to and self.freed:
            raise OSError("seek back into bytes given back")
        self._pos = max(0, offset)
        return self._pos

    def readinto(self, buffer):
        if self._stop():
            raise Abandon("the scan's report rules the speculation out")
        n = max(0, min(len(buffer), len(self._view) - self._pos))
        buffer[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        if (
            self._snapshot.mapped
            and self._pos - self._freed_to >= RELEASE_CHUNK
            and self._may_free()
        ):
            stop = self._pos // RELEASE_CHUNK * RELEASE_CHUNK
            self._snapshot.buffer.madvise(mmap.MADV_DONTNEED, self._freed_to, stop - self._freed_to)
            self._freed_to = stop
            self.freed = True
        return n


class Speculation:
    """What ``run`` built: ``value`` and ``end`` (the offset just past the
    pickle), or ``error``, what stopped it. ``freed``: some of the snapshot
    was given back, so the input can only be loaded from this."""

    __slots__ = ("value", "end", "error", "freed")

    def __init__(self):
        self.value = self.end = self.error = None
        self.freed = False


def run(snapshot, start, kwargs, stop, may_free):
    """Unpickle the pickle at ``start`` of ``snapshot`` (see _ViewReader for
    ``stop`` and ``may_free``)."""
    spec = Speculation()
    view = snapshot.view()
    try:
        raw = _ViewReader(snapshot, view, start, stop, may_free)
        with io.BufferedReader(raw, buffer_size=_BUFFER) as source:
            try:
                spec.value = Speculative(source, **kwargs).load()
                spec.end = source.tell()
            except Exception as exc:
                spec.error = exc
            spec.freed = raw.freed
    finally:
        view.release()
    return spec
