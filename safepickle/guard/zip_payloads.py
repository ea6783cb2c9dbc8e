"""The tensor bytes of a torch zip that no verdict depends on.

A state dict is mostly the raw bytes of its storages: stored records named
``<prefix>/data/<key>`` that torch copies into tensors and never interprets.
Copying them into a snapshot before the load doubles the cost of a load
that is itself one copy. So the guard reads everything else of the file
into a snapshot (the directory, every local header, every pickle, the
first 512 bytes of each record and the last 128 KiB) and leaves the inside of
each large storage record out, as a hole; the loader reads the holes from
the same descriptor at load time, and everything else from the snapshot.

What the scanner reads of a record it does not scan as a pickle is its
first bytes (pickle or container magic), so holes start at the first page
boundary 512 bytes past the record's start. A hole is kept only when the
scanner's own reading of the archive, on the snapshot with its holes,
agrees: same end record, the record stored with its first bytes not those
of a pickle, and no other structure (directory, zip64 record, another
entry's header or data) overlapping it. A hole that fails is read in, and
all of them are when the archive is read otherwise than planned.
"""

import os
import stat
import struct
from bisect import bisect_right

from .. import _native
from .snapshot import fill_holes, page_down, page_up, read_fd, read_with_holes

# Where the scanner may read without an entry pointing there: the end record
# is searched for in the last 64 KiB + 22 bytes, in 4 KiB blocks.
TAIL = 128 * 1024
# The scanner reads a record's magic from its first bytes: at most 262
# (a tar header's "ustar" at 257).
HEAD = 512
# Below this a file is read whole: holes would save less than the look.
MIN_FILE = 8 << 20
# Holes smaller than this save less than they cost to check.
MIN_HOLE = 256 * 1024
# A directory larger than this is not worth parsing twice.
MAX_DIRECTORY = 64 << 20

_EOCD = b"PK\x05\x06"
_LOCATOR64 = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
_U32 = 0xFFFFFFFF


class Layout:
    """A zip's end records and the stored records that may become holes."""

    __slots__ = ("eocd", "fixed", "candidates")

    def __init__(self, eocd, fixed, candidates):
        self.eocd = eocd  # offset of the end record
        self.fixed = fixed  # [(start, end)]: directory and zip64 end record
        self.candidates = candidates  # [(name, local_offset, data_offset, size)]


def _is_storage(name):
    parts = name.split(b"/")
    return (
        len(parts) == 3
        and parts[0] != b""
        and parts[1] == b"data"
        and parts[2] != b""
        and not parts[2].endswith((b".pkl", b".npy"))
    )


def _zip64_values(extra, fields):
    """The 64-bit values of ``fields`` (those that were all ones), in order,
    from the zip64 extended field; None when it is missing or short."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, pos)
        if tag == 1:
            body = extra[pos + 4 : pos + 4 + size]
            if len(body) < 8 * len(fields):
                return None
            return list(struct.unpack_from("<%dQ" % len(fields), body))
        pos += 4 + size
    return None


def _end_records(pread, size):
    """(end record offset, directory offset, directory size, entry count,
    zip64 end record offset or None), or None."""
    tail_len = min(size, TAIL)
    tail = pread(tail_len, size - tail_len)
    at = tail.rfind(_EOCD, 0, max(0, len(tail) - 18))
    if at < 0:
        return None
    eocd = size - tail_len + at
    disk, cd_disk, on_disk, total, cd_size, cd_offset = struct.unpack_from("<HHHHII", tail, at + 4)
    z64 = None
    if at >= 20 and tail[at - 20 : at - 16] == _LOCATOR64:
        (z64,) = struct.unpack_from("<Q", tail, at - 20 + 8)
        record = pread(56, z64)
        if len(record) != 56 or record[:4] != _EOCD64:
            return None
        on_disk, total, cd_size, cd_offset = struct.unpack_from("<QQQQ", record, 24)
    elif (disk, cd_disk) != (0, 0) or on_disk != total:
        return None
    if total == 0 or cd_size > MAX_DIRECTORY or cd_offset + cd_size > eocd:
        return None
    return eocd, cd_offset, cd_size, total, z64


def read_layout(pread, size):
    """The zip's layout, read with ``pread(n, offset)``; None when it is not
    a plain one-disk zip whose directory this parser reads."""
    ends = _end_records(pread, size)
    if ends is None:
        return None
    eocd, cd_offset, cd_size, total, z64 = ends
    directory = pread(cd_size, cd_offset)
    if len(directory) != cd_size:
        return None
    fixed = [(cd_offset, cd_offset + cd_size)]
    if z64 is not None:
        fixed.append((z64, z64 + 56))
    candidates = []
    pos = 0
    for _ in range(total):
        if directory[pos : pos + 4] != _CENTRAL or pos + 46 > cd_size:
            return None
        method, comp, uncomp, name_len, extra_len, comment_len, local = struct.unpack_from(
            "<H8xIIHHH8xI", directory, pos + 10
        )
        name = directory[pos + 46 : pos + 46 + name_len]
        extra = directory[pos + 46 + name_len : pos + 46 + name_len + extra_len]
        pos += 46 + name_len + extra_len + comment_len
        wide = [f for f, v in (("uncomp", uncomp), ("comp", comp), ("local", local)) if v == _U32]
        if wide:
            values = _zip64_values(extra, wide)
            if values is None:
                return None
            got = dict(zip(wide, values))
            uncomp = got.get("uncomp", uncomp)
            comp = got.get("comp", comp)
            local = got.get("local", local)
        if method == 0 and comp == uncomp and comp >= HEAD + MIN_HOLE and _is_storage(name):
            candidates.append([name, local, None, comp])
    if pos != cd_size:
        return None
    for c in candidates:
        header = pread(30, c[1])
        if len(header) != 30 or header[:4] != _LOCAL:
            return None
        name_len, extra_len = struct.unpack_from("<HH", header, 26)
        c[2] = c[1] + 30 + name_len + extra_len
    return Layout(eocd, fixed, [tuple(c) for c in candidates])


def holes_of(layout, size):
    """Sorted, disjoint [(start, end)] to leave out of the snapshot."""
    holes = []
    limit = page_down(max(0, size - TAIL))
    for _name, _local, data, length in layout.candidates:
        start = page_up(data + HEAD)
        end = min(page_down(data + length), limit)
        if end - start >= MIN_HOLE:
            holes.append((start, end))
    holes.sort()
    for (a0, a1), (b0, _b1) in zip(holes, holes[1:]):
        if b0 < a1:
            return []
    for f0, f1 in layout.fixed:
        if any(h0 < f1 and f0 < h1 for h0, h1 in holes):
            return []
    return holes


def _starts_like_pickle(view, offset):
    return view[offset] == 0x80 and view[offset + 1] <= 5


def holes_kept(view, layout, holes):
    """The holes the scanner's own reading of ``view`` (the snapshot, holes
    unread) does not touch: no byte in them can change a verdict. Empty
    when the scanner reads the archive otherwise than ``layout`` says."""
    info = _native.zip_entries(view)
    if not info["ok"] or info["eocd_offset"] != layout.eocd:
        return []
    if info["torch_pickle"] is None:
        # Not an archive torch.load reads: the scanner opens its records as
        # containers (a gzip member, a tar) and reads them whole.
        return []
    wanted = {(name, local): data for name, local, data, _length in layout.candidates}
    spans = []
    for e in info["entries"]:
        local, data = e["local_offset"], e["data_offset"]
        end = local + 30
        if data is not None:
            end = max(end, data + max(e["comp_size"], e["uncomp_size"]))
        # the part of the record that may be left out, if any: a record
        # that starts like a pickle is scanned whole
        free = None
        if (
            data is not None
            and wanted.get((e["name"], local)) == data
            and e["method"] == 0
            and e["comp_size"] == e["uncomp_size"]
            and not _starts_like_pickle(view, data)
        ):
            free = (data + HEAD, data + e["comp_size"])
        spans.append((local, end, free))
    spans.sort()
    for (_s0, s1, _f), (t0, _t1, _g) in zip(spans, spans[1:]):
        if t0 < s1:
            # entries that share bytes: too odd to reason about
            return []
    starts = [s0 for s0, _s1, _f in spans]
    kept = []
    for h0, h1 in holes:
        i = bisect_right(starts, h0) - 1
        free = spans[i][2] if i >= 0 else None
        if free is not None and free[0] <= h0 < h1 <= free[1]:
            kept.append((h0, h1))
    return kept



def with_holes(fd, name):
    """A snapshot with holes of the whole regular file ``fd`` (read with
    pread: its offset does not matter and does not move), or None when it
    is small, not a zip this parser reads, or has no hole to leave out."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_size < MIN_FILE:
        return None
    size = st.st_size
    try:
        layout = read_layout(lambda n, offset: os.pread(fd, n, offset), size)
    except (struct.error, ValueError, OverflowError):
        layout = None
    holes = holes_of(layout, size) if layout is not None else []
    if not holes:
        return None
    snapshot = read_with_holes(fd, size, holes, name)
    try:
        view = snapshot.view()
        try:
            kept = holes_kept(view, layout, holes)
        finally:
            view.release()
        fill_holes(snapshot, keep=kept)
    except BaseException:
        snapshot.close()
        raise
    return snapshot


def read_zip(fd, name):
    """A snapshot of the zip open at ``fd``, from its offset (0 for holes):
    with holes where no verdict can depend on the bytes, or whole."""
    snapshot = with_holes(fd, name) if os.lseek(fd, 0, os.SEEK_CUR) == 0 else None
    return snapshot if snapshot is not None else read_fd(fd, name)
