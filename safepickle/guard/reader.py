"""A binary file object over a scanned snapshot, for the real loader.

Loaders read a model mostly once and mostly in order: pickle frames,
compressed blocks, the tensor records of a zip. Keeping the whole snapshot
until the load ends would hold the file's size in memory next to the objects
built from it, so the reader gives back to the kernel (MADV_DONTNEED) the
pages of every stretch the loader has read straight through: whole huge
pages as it goes, and the rest once it reads elsewhere. A page given back
reads as zeros, so
reading it again is refused with GuardError rather than served: the loader
never sees a byte that was not scanned.

The reader has no fileno(): loaders that would read a descriptor directly
(torch's legacy format) fall back to readinto(), which copies once from the
snapshot into the loader's own buffer.

Unpicklers read a pickle without frames (protocols 0 to 3) an opcode at a
time. Python's C unpickler takes PREFETCH-sized peeks when the file has
peek(); the pure-Python one (pickle._Unpickler, joblib's NumpyUnpickler)
calls read() per opcode, which through this class's Python methods costs
several times the unpickling itself. Those loaders get BufferedScannedReader,
the same reader behind C buffering, as a plain load gets a buffered file.
"""

import contextlib
import io
import mmap
from bisect import bisect_right

from ..errors import GuardError
from .snapshot import page_down, page_up, pread_into

# What is read is given back in whole huge pages (snapshot.anonymous asks
# for them): giving back part of one splits it first, and the splits cost
# more than the copying (a 100 MB joblib array: 9 ms, against 1.5 ms).
RELEASE_CHUNK = 2 << 20
# io.DEFAULT_BUFFER_SIZE is 8 KB; the C unpickler peeks 128 KB at a time.
UNPICKLER_BUFFER = 128 * 1024


class ScannedReader(io.RawIOBase):
    """Reads ``snapshot``; ``release`` frees what was read straight through
    (off for loaders that read members again, such as .npz files)."""

    def __init__(self, snapshot, release=True):
        super().__init__()
        self._snapshot = snapshot
        self._view = snapshot.view()
        self._size = snapshot.size
        self._pos = 0
        self._release = release and self._can_release()
        self._last_end = -1
        self._run_start = 0
        self._run_freed_to = 0
        self._freed_starts = []
        self._freed_ends = []
        self._seen_holes = None
        self._hole_starts = []
        self.name_for_errors = snapshot.name

    @property
    def snapshot(self):
        return self._snapshot

    @property
    def _holes(self):
        # The snapshot's own: a check after this reader was made (joblib's
        # path) may have read its holes in.
        holes = self._snapshot.holes
        if holes is not self._seen_holes:
            self._seen_holes = holes
            self._hole_starts = [start for start, _end in holes]
        return holes

    def release_as_read(self):
        """Start giving back what is read from now on."""
        self._release = self._can_release()

    def _can_release(self):
        # A snapshot with holes holds little beyond headers and pickles:
        # nothing worth giving back, and every read skips the bookkeeping.
        return self._snapshot.mapped and not self._snapshot.holes

    # -- io.RawIOBase ----------------------------------------------------

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        self._check_open()
        return self._pos

    def seek(self, offset, whence=io.SEEK_SET):
        self._check_open()
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self._size + offset
        else:
            raise ValueError(f"invalid whence ({whence})")
        if pos < 0:
            raise ValueError(f"negative seek position {pos}")
        self._pos = pos
        return pos

    def readinto(self, buffer):
        self._check_open()
        with memoryview(buffer) as out:
            out = out.cast("B")
            n = self._take(len(out))
            start = self._pos - n
            # In pieces, each given back once copied: a payload as large as
            # the file (one array of a DataFrame) never exists twice.
            step = RELEASE_CHUNK if self._release else max(n, 1)
            for off in range(0, n, step):
                piece = min(step, n - off)
                self._copy(out[off : off + piece], start + off)
                self._consumed(start + off + piece)
            return n

    def read(self, size=-1):
        self._check_open()
        if size is None or size < 0:
            size = max(0, self._size - self._pos)
        n = self._take(size)
        data = self._bytes(self._pos - n, self._pos)
        self._consumed()
        return data

    def readall(self):
        return self.read()

    def peek(self, size=0):
        """Up to ``size`` bytes from the position (at least one unless at
        the end), without moving it. Python's C unpickler reads a pickle
        without frames (protocols 0 to 3) in PREFETCH-sized peeks when the
        file offers peek(), and one read() call per opcode when it does not."""
        self._check_open()
        start = self._pos
        end = min(self._size, start + max(1, size))
        if end <= start:
            return b""
        self._refuse_freed(start, end)
        return self._bytes(start, end)

    def readline(self, size=-1):
        self._check_open()
        start = self._pos
        if start >= self._size:
            return b""
        end = self._size if size is None or size < 0 else min(self._size, start + size)
        # Look in growing windows: a text pickle's lines are short, and a
        # find() over the rest of a large buffer would touch all of it.
        window = 256
        while True:
            stop = min(end, start + window)
            if self._holes:
                nl = self._bytes(start, stop).find(b"\n")
                nl = nl + start if nl >= 0 else nl
            else:
                nl = self._snapshot.buffer.find(b"\n", start, stop)
            if nl >= 0:
                stop = nl + 1
                break
            if stop == end:
                break
            window *= 4
        n = self._take(stop - start)
        data = self._bytes(self._pos - n, self._pos)
        self._consumed()
        return data

    def close(self):
        if not self.closed:
            self._view.release()
            self._snapshot.close()
        super().close()

    def fileno(self):
        raise io.UnsupportedOperation("a scanned snapshot has no file descriptor")

    # -- bookkeeping -----------------------------------------------------

    def _copy(self, out, pos):
        """Bytes [pos, pos + len(out)) into ``out``: from the snapshot, and
        from the descriptor where they fall in a hole."""
        end = pos + len(out)
        holes = self._holes
        if not holes:
            out[:] = self._view[pos:end]
            return
        i = max(0, bisect_right(self._hole_starts, pos) - 1)
        at = pos
        while at < end:
            h0, h1 = holes[i] if i < len(holes) else (end, end)
            if at < h0:
                stop = min(end, h0)
                out[at - pos : stop - pos] = self._view[at:stop]
                at = stop
            elif at < h1:
                stop = min(end, h1)
                pread_into(self._snapshot.fd, out[at - pos : stop - pos], at, self.name_for_errors)
                at = stop
            else:
                i += 1

    def _bytes(self, start, end):
        if not self._holes:
            return self._view[start:end].tobytes()
        data = bytearray(end - start)
        with memoryview(data) as out:
            self._copy(out, start)
        return bytes(data)

    def _check_open(self):
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def _take(self, size):
        """Advance over up to ``size`` bytes; refuse if any was given back.
        The caller copies them out, then calls _consumed()."""
        start = self._pos
        end = min(self._size, start + max(0, size))
        if end <= start:
            return 0
        self._refuse_freed(start, end)
        if start != self._last_end:
            if self._release and (end <= self._run_start or start >= self._last_end):
                # The last stretch is done with: give back its rest, which
                # was waiting for a whole huge page. A loader stepping back
                # into it (a buffered reader's read-ahead) keeps it.
                self._free_range(self._run_freed_to, page_down(self._last_end))
            # A new stretch: only what it reads from here on is freed.
            self._run_start = start
            self._run_freed_to = page_up(start)
        self._pos = self._last_end = end
        return end - start

    def _refuse_freed(self, start, end):
        if self._freed_starts:
            i = bisect_right(self._freed_starts, end - 1) - 1
            if i >= 0 and self._freed_ends[i] > start:
                raise GuardError(
                    f"{self.name_for_errors}: the loader read bytes {start}-{end} a second "
                    "time after the guard had released them; the load is refused rather "
                    "than served from anything but the scanned snapshot",
                    where=self.name_for_errors,
                )

    def _consumed(self, end=None):
        """After the bytes up to ``end`` (the position) have been copied out."""
        if self._release:
            self._free_behind(self._pos if end is None else end)

    def _free_behind(self, end):
        """Give back the whole huge pages of this stretch read up to ``end``
        (everything read, at the end of the snapshot)."""
        stop = page_down(end) if end == self._size else end // RELEASE_CHUNK * RELEASE_CHUNK
        self._free_range(self._run_freed_to, stop)

    def _free_range(self, begin, stop):
        if stop <= begin:
            return
        self._snapshot.buffer.madvise(mmap.MADV_DONTNEED, begin, stop - begin)
        i = bisect_right(self._freed_starts, begin)
        if i > 0 and self._freed_ends[i - 1] == begin:
            self._freed_ends[i - 1] = stop
        else:
            self._freed_starts.insert(i, begin)
            self._freed_ends.insert(i, stop)
        self._run_freed_to = stop


class BufferedScannedReader(io.BufferedReader):
    """A ScannedReader behind C buffering, for unpicklers that read it in
    small pieces. Reads, seeks and tell() are the buffered file's; the
    bytes still come only from the snapshot, through the raw reader and its
    refusal to serve a page it gave back (fileno() is the raw reader's,
    which has none)."""

    def __init__(self, reader):
        super().__init__(reader, buffer_size=UNPICKLER_BUFFER)


# What hooks hand a loader: its input is scanned already.
SCANNED_READERS = (ScannedReader, BufferedScannedReader)


@contextlib.contextmanager
def buffered(reader):
    """``reader`` buffered for the length of a load. Afterwards ``reader``
    stands where the loader stopped reading, not where the buffer had read
    ahead to, and stays open: the caller closes it."""
    wrapper = BufferedScannedReader(reader)
    try:
        yield wrapper
    finally:
        if not wrapper.closed:
            position = wrapper.tell()
            wrapper.detach()
            reader.seek(position)
