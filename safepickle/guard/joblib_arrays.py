"""The array data of a joblib file that no verdict depends on.

joblib.dump writes each numpy array's bytes straight into the pickle
stream, right after the BUILD of the NumpyArrayWrapper that stands for it,
and joblib.load copies them into a new array or, with ``mmap_mode``, maps
them from the file by name. A guard that copied the whole file first would
double the memory of a mapped load and add a copy to every other one. So
the data of each large array stays out of the snapshot, as a hole, which
the reader serves from the same descriptor and which numpy maps from it.

Where the data lies comes from ``_native.joblib_arrays``: a walk over the
opcodes, read window by window with pread, that follows the stack and memo
only as far as sizing a wrapper's data needs and skips the data unread. It
is only a plan: the scan of the snapshot follows the file as joblib's
unpickler does, and says whether any byte it relied on lies in a hole
(sp_holes.h); only then do the holes stay out (check.py).
"""

import os

from .. import _native
from .snapshot import read_fd
from .stream_payloads import MAX_OPS, MIN_HOLE, holes_of, planned_snapshot


def array_holes(fd, size):
    """The holes of the joblib file ``fd``: its large arrays' data. Nothing
    reads an array's data but the loader, so its first bytes may be a hole
    too."""
    return holes_of(_native.joblib_arrays(fd, size, MIN_HOLE, MAX_OPS), size, head=0)


def with_holes(fd, name):
    return planned_snapshot(fd, name, array_holes)


def read_joblib_path(path):
    """(snapshot, descriptor), as snapshot.read_path gives them, with the
    large arrays left out for the scan to vouch for when there are any."""
    name = os.fsdecode(path)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        snapshot = with_holes(fd, name)
        return (snapshot if snapshot is not None else read_fd(fd, name)), fd
    except BaseException:
        os.close(fd)
        raise
