"""The array bytes of a large pickle that no verdict depends on.

A pandas DataFrame, or any pickle of large numpy arrays at protocol 5, is
mostly BYTEARRAY8 and BINBYTES8 payloads that the unpickler copies into new
objects and never interprets. Copying them into a snapshot first doubles
the cost of a load that is itself one copy. So the guard leaves the inside
of each large payload out of the snapshot, as a hole, and the loader reads
the holes from the same descriptor at load time (reader.py).

Where the payloads are comes from a walk over the file's opcodes that
interprets nothing (``_native.payload_walk``), read window by window with
pread and skipping each payload unread; it gives up after a budget of
opcodes, so a file of many small values costs a fraction of a millisecond.
The walk is only a plan. The scan of the snapshot is told where the holes
are and says whether anything it read, or any decision it took, depended
on a byte in one (sp_holes.h). Only then do the holes stay out; otherwise
they are read in and the snapshot is scanned again, whole.
"""

import os
import stat

from .. import _native
from .snapshot import page_down, page_up, read_fd, read_with_holes

# Below this a file is read whole: holes would save less than the walk.
MIN_FILE = 8 << 20
# Holes smaller than this save less than they cost.
MIN_HOLE = 256 * 1024
# The walk reads the file this much at a time.
WINDOW = 64 * 1024
# Opcodes the walk may spend: about 0.2 ms.
MAX_OPS = 1 << 16


def payload_spans(pread, size):
    """[(start, end)] of the large bytes payloads of the pickle at offset 0,
    read with ``pread(n, offset)``: those the walk reaches within its
    budget."""
    spans = []
    offset, ops = 0, MAX_OPS
    while offset < size and ops > 0:
        window = pread(min(WINDOW, size - offset), offset)
        if not window:
            break
        span, following, ops = _native.payload_walk(
            window, offset, _native.HOLE_HEAD + MIN_HOLE, ops
        )
        if span is not None:
            spans.append(span)
        if following is None or following <= offset:
            # over, or one opcode longer than a window (a line): stop here
            break
        offset = following
    return spans


def holes_of(spans, size, head=_native.HOLE_HEAD):
    """Sorted, disjoint [(start, end)] to leave out: each span's inside,
    past the ``head`` the scan may read and the file's own head, in whole
    pages."""
    holes = []
    for start, end in spans:
        lo = page_up(max(start + head, _native.HOLE_FILE_HEAD))
        hi = page_down(min(end, size))
        if hi - lo >= MIN_HOLE and (not holes or lo >= holes[-1][1]):
            holes.append((lo, hi))
    return holes


def planned_snapshot(fd, name, plan):
    """A snapshot of the regular file ``fd`` (read with pread, from offset
    0) without the holes ``plan(fd, size)`` gives, which the scan must
    still vouch for (``scan_checks_holes``), or None when the file is small
    or the plan leaves nothing out."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size < MIN_FILE:
        return None
    holes = plan(fd, st.st_size)
    if not holes:
        return None
    snapshot = read_with_holes(fd, st.st_size, holes, name)
    snapshot.scan_checks_holes = True
    return snapshot


def payload_holes(fd, size):
    """The holes of the pickle file ``fd``: its large bytes payloads'
    insides."""
    return holes_of(payload_spans(lambda n, off: os.pread(fd, n, off), size), size)


def with_holes(fd, name):
    return planned_snapshot(fd, name, payload_holes)


def read_pickle_fd(fd, name):
    """A snapshot of the pickle open at ``fd``, from its offset (0 for
    holes): with its large payloads left out for the scan to vouch for, or
    whole."""
    snapshot = with_holes(fd, name) if os.lseek(fd, 0, os.SEEK_CUR) == 0 else None
    return snapshot if snapshot is not None else read_fd(fd, name)
