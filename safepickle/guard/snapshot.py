"""Read an input once into memory that only this process can change.

The guard scans a snapshot and hands the loader a reader over that same
snapshot, so a file renamed over or rewritten in place after the read
changes nothing that is loaded. Large snapshots live in a private anonymous
mapping, which the reader can give back to the kernel page by page as the
loader consumes it (see reader.py).
"""

import fcntl
import io
import mmap
import os
import stat

from ..errors import GuardError

PAGE = mmap.PAGESIZE
# Below this a bytes object is as good as a mapping and cheaper to make.
_SMALL = 1 << 20
_CHUNK = 1 << 24

_BYTES_LIKE = (bytes, bytearray, memoryview)


def page_up(n):
    return -(-n // PAGE) * PAGE


def page_down(n):
    return n // PAGE * PAGE


class Snapshot:
    """``size`` bytes of an input, in ``buffer`` (bytes or an anonymous
    private mmap). ``name`` is what error messages call the input.

    ``holes`` (sorted, disjoint (start, end) ranges) are bytes left
    unread: they read as zeros here and a reader takes them from
    descriptor ``fd`` instead. Either no verdict can depend on them
    (zip_payloads.py checked), or ``scan_checks_holes`` is set and the
    scan must say so before they may stay out (stream_payloads.py)."""

    __slots__ = ("buffer", "size", "name", "mapped", "holes", "fd", "scan_checks_holes", "owns_fd")

    def __init__(self, buffer, size, name, holes=(), fd=None, scan_checks_holes=False):
        self.buffer = buffer
        self.size = size
        self.name = name
        self.mapped = isinstance(buffer, mmap.mmap)
        self.holes = tuple(holes)
        self.fd = fd
        self.scan_checks_holes = scan_checks_holes
        # a descriptor of its own (a dup of the caller's), closed with it
        self.owns_fd = False

    def view(self):
        return memoryview(self.buffer)[: self.size]

    def close(self):
        if self.owns_fd:
            self.owns_fd = False
            os.close(self.fd)
        if self.mapped:
            try:
                self.buffer.close()
            except BufferError:
                # Someone still holds a view: the mapping goes with it.
                pass


def anonymous(size):
    """A private anonymous mapping of ``size`` bytes, backed by huge pages
    where the kernel allows it."""
    mm = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    if size >= 4 * _SMALL:
        # Fewer faults while filling it; freed pages are split as needed.
        try:
            mm.madvise(mmap.MADV_HUGEPAGE)
        except (AttributeError, OSError):
            pass
    return mm


def _fill(mm, size, readinto):
    """readinto() into mm until it is full or the input ends; bytes read."""
    view = memoryview(mm)
    got = 0
    try:
        while got < size:
            n = readinto(view[got : min(size, got + _CHUNK)])
            if not n:
                break
            got += n
    finally:
        view.release()
    return got


def grow(mm, size):
    """``mm`` (an anonymous mapping) made ``size`` bytes long, moved if need be."""
    try:
        mm.resize(size)
        return mm
    except (OSError, SystemError, ValueError):
        bigger = anonymous(size)
        bigger.write(mm)
        mm.close()
        return bigger


def read_unsized(readinto, name, capacity=_SMALL, limit=None):
    """Read a stream of unknown length to its end into a growing mapping.
    Returns None when ``limit(size)`` says to stop."""
    mm = anonymous(capacity)
    size = 0
    try:
        while True:
            if size == capacity:
                capacity *= 2
                mm = grow(mm, capacity)
            with memoryview(mm) as view:
                n = readinto(view[size : min(capacity, size + _CHUNK)])
            if not n:
                return Snapshot(mm, size, name)
            size += n
            if limit is not None and limit(size):
                mm.close()
                return None
    except BaseException:
        mm.close()
        raise


def _from_stream(size_hint, readinto, read, name):
    """Read to the end: into a mapping, sized up front when the size is
    known. A source longer than it said is read on to its end."""
    if readinto is None or (size_hint is not None and size_hint < _SMALL):
        data = read()
        if data is None:
            raise OSError(f"read() of {name} returned None (non-blocking stream)")
        if isinstance(data, str):
            raise TypeError(f"{name} is open in text mode: open it with mode 'rb'")
        return Snapshot(bytes(data) if not isinstance(data, bytes) else data, len(data), name)
    if size_hint is None:
        return read_unsized(readinto, name)
    mm = anonymous(size_hint)
    got = _fill(mm, size_hint, readinto)
    extra = read() if got == size_hint else b""
    if extra:
        # The input grew while being read: keep it all, as one buffer.
        data = mm[:got] + extra
        mm.close()
        return Snapshot(data, len(data), name)
    return Snapshot(mm, got, name)


def read_fd(fd, name):
    """The rest of an open descriptor, from its current offset."""
    st = os.fstat(fd)
    hint = None
    if stat.S_ISREG(st.st_mode):
        hint = max(0, st.st_size - os.lseek(fd, 0, os.SEEK_CUR))

    def read_all():
        parts = []
        while True:
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                return b"".join(parts)
            parts.append(chunk)

    return _from_stream(hint, lambda v: os.readv(fd, [v]), read_all, name)


def read_path(path):
    """(snapshot, descriptor): one open, one read. The descriptor stays
    open for callers that map array data by ``/proc/self/fd``; close it."""
    name = os.fsdecode(path)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return read_fd(fd, name), fd
    except BaseException:
        os.close(fd)
        raise


def file_name(fh):
    name = getattr(fh, "name", None)
    if isinstance(name, (str, bytes, os.PathLike)):
        return os.fsdecode(name)
    return f"<{type(fh).__name__}>"


def read_file_object(fh):
    """The rest of a binary file object, from its current position, read
    through its own read()/readinto() (its buffer may be ahead of its
    descriptor). Returns (snapshot, start position or None)."""
    if isinstance(fh, io.TextIOBase):
        raise TypeError(f"{file_name(fh)} is open in text mode: open it with mode 'rb'")
    name = file_name(fh)
    start = None
    hint = None
    try:
        if fh.seekable():
            start = fh.tell()
            hint = _size_left(fh, start)
    except (AttributeError, OSError, ValueError):
        start = hint = None
    readinto = getattr(fh, "readinto", None)
    return _from_stream(hint, readinto, fh.read, name), start


def regular_fd(fh):
    """The descriptor of a file object that is a regular file at its start
    with nothing read ahead (as open() gives it), else None: only then do
    its descriptor's bytes from offset 0 equal what the object would read."""
    try:
        fd = fh.fileno()
        if fh.tell() != 0 or os.lseek(fd, 0, os.SEEK_CUR) != 0:
            return None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    return fd


def _size_left(fh, start):
    """The bytes left in a file object, when that is cheap to know: in a
    BytesIO or a regular file. Seeking to the end of anything else can cost
    a full pass (a decompressor decompresses to find its end)."""
    if isinstance(fh, io.BytesIO):
        return len(fh.getbuffer()) - start
    try:
        st = os.fstat(fh.fileno())
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return None
    return max(0, st.st_size - start) if stat.S_ISREG(st.st_mode) else None


def from_bytes(data, name="<bytes>"):
    """A bytes-like input. bytes is immutable and used as is; anything
    another thread could write to (bytearray, a writable view, an mmap) is
    copied first, so the loader sees what was scanned."""
    if isinstance(data, bytes):
        return Snapshot(data, len(data), name)
    view = memoryview(data)
    size = view.nbytes
    if size < _SMALL:
        copy = view.tobytes()
        return Snapshot(copy, size, name)
    mm = anonymous(size)
    mm.write(view.cast("B") if view.c_contiguous else view.tobytes())
    return Snapshot(mm, size, name)


def pread_into(fd, view, offset, name):
    """Fill ``view`` from ``fd`` at ``offset``; a file that ends first has
    changed since its size was taken."""
    got = 0
    while got < len(view):
        n = os.preadv(fd, [view[got:]], offset + got)
        if n == 0:
            raise GuardError(
                f"{name}: the file ended at byte {offset + got}, before the "
                f"{offset + len(view)} bytes it had when the guard opened it; it changed "
                "while being loaded",
                where=name,
            )
        got += n


def read_with_holes(fd, size, holes, name):
    """The first ``size`` bytes of regular file ``fd``, except ``holes``."""
    mm = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        # Huge pages would turn each page read next to a hole into 2 MiB.
        mm.madvise(mmap.MADV_NOHUGEPAGE)
    except (AttributeError, OSError):
        pass
    try:
        with memoryview(mm) as view:
            at = 0
            for start, end in list(holes) + [(size, size)]:
                pread_into(fd, view[at:start], at, name)
                at = end
    except BaseException:
        mm.close()
        raise
    return Snapshot(mm, size, name, holes, fd)


def fill_holes(snapshot, keep=()):
    """Read in the holes after all, except those in ``keep``."""
    keep = set(keep)
    with memoryview(snapshot.buffer) as view:
        for start, end in snapshot.holes:
            if (start, end) not in keep:
                pread_into(snapshot.fd, view[start:end], start, snapshot.name)
    snapshot.holes = tuple(h for h in snapshot.holes if h in keep)


def sealed_copy(fd, name):
    """A memfd holding the rest of ``fd``, sealed against any change, for
    loaders that insist on mapping a path themselves (torch.load(mmap=True)).
    Returns (memfd, size)."""
    memfd = os.memfd_create("safepickle-snapshot", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        size = 0
        offset = os.lseek(fd, 0, os.SEEK_CUR)
        while True:
            n = os.sendfile(memfd, fd, offset + size, _CHUNK * 4)
            if n == 0:
                break
            size += n
        fcntl.fcntl(
            memfd,
            fcntl.F_ADD_SEALS,
            fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL,
        )
        return memfd, size
    except BaseException:
        os.close(memfd)
        raise
