"""Zip archives built byte by byte, for tests of the zip reader.

Python's `zipfile` refuses to write most of what these tests need (two
entries with one name, a local header that names a different file, CRCs
that do not match, flag bits a writer never sets), so every header is
packed here by hand. The layout follows the zip application note (PKWARE
APPNOTE 6.3): local header + data for each entry, then the central
directory, then an optional zip64 end record and locator, then the
end-of-central-directory record.

`Archive.build()` lays one archive out; `Archive.parts()` gives the
pieces separately so that a test can splice a second central directory or
end record into a file. Offsets written into the headers are absolute
file offsets counted from `base`, the position the archive will occupy in
the final file; torch's reader takes them as they are, while Python's
`zipfile` corrects them when the archive is not at offset 0.
"""

import pickle
import struct
import zlib
from dataclasses import dataclass, field
from typing import List, Optional, Sequence

LOCAL_SIG = b"PK\x03\x04"
CENTRAL_SIG = b"PK\x01\x02"
EOCD_SIG = b"PK\x05\x06"
EOCD64_SIG = b"PK\x06\x06"
LOCATOR64_SIG = b"PK\x06\x07"

FLAG_ENCRYPTED = 0x0001
FLAG_DESCRIPTOR = 0x0008
FLAG_UTF8 = 0x0800
# What torch.save's writer puts in every header.
TORCH_FLAGS = FLAG_DESCRIPTOR | FLAG_UTF8


def raw_deflate(data: bytes, level: int = 6) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


@dataclass
class Entry:
    name: bytes
    data: bytes = b""
    method: int = 0
    flags: int = 0
    # None: computed from the data.
    crc: Optional[int] = None
    # The bytes stored after the local header; None: data (stored) or its
    # raw deflate stream (method 8).
    payload: Optional[bytes] = None
    # Header fields that may be made to lie; None: the true value.
    local_name: Optional[bytes] = None
    local_flags: Optional[int] = None
    comp_size: Optional[int] = None
    uncomp_size: Optional[int] = None
    extra: bytes = b""
    local_extra: Optional[bytes] = None
    external_attr: int = 0
    dos_time: int = 0
    dos_date: int = 0
    # Write sizes and offset as 0xFFFFFFFF with a zip64 extra field.
    zip64: bool = False

    def stored_bytes(self) -> bytes:
        if self.payload is not None:
            return self.payload
        if self.method == 8:
            return raw_deflate(self.data)
        return self.data

    def true_crc(self) -> int:
        return zlib.crc32(self.data) & 0xFFFFFFFF


@dataclass
class Parts:
    locals: bytes  # local headers and data, starting at `base`
    central: bytes  # the central directory
    end: bytes  # zip64 end record + locator (if any) + end record
    base: int


@dataclass
class Archive:
    entries: List[Entry] = field(default_factory=list)
    # Order of the central directory as indices into entries; None: same
    # order as the local headers.
    central_order: Optional[Sequence[int]] = None
    comment: bytes = b""
    zip64_end: bool = False
    # Central entry count written into the end record; None: the truth.
    count: Optional[int] = None

    def parts(self, base: int = 0) -> Parts:
        local = bytearray()
        offsets = []
        for e in self.entries:
            offsets.append(base + len(local))
            body = e.stored_bytes()
            lname = e.name if e.local_name is None else e.local_name
            lextra = e.extra if e.local_extra is None else e.local_extra
            lflags = e.flags if e.local_flags is None else e.local_flags
            crc = e.true_crc() if e.crc is None else e.crc
            csize = len(body) if e.comp_size is None else e.comp_size
            usize = len(e.data) if e.uncomp_size is None else e.uncomp_size
            local += LOCAL_SIG
            local += struct.pack(
                "<5H3L2H",
                20,
                lflags,
                e.method,
                e.dos_time,
                e.dos_date,
                crc,
                csize & 0xFFFFFFFF,
                usize & 0xFFFFFFFF,
                len(lname),
                len(lextra),
            )
            local += lname + lextra + body
        central = bytearray()
        order = range(len(self.entries)) if self.central_order is None else self.central_order
        for i in order:
            e = self.entries[i]
            body = e.stored_bytes()
            crc = e.true_crc() if e.crc is None else e.crc
            csize = len(body) if e.comp_size is None else e.comp_size
            usize = len(e.data) if e.uncomp_size is None else e.uncomp_size
            lho = offsets[i]
            extra = e.extra
            if e.zip64:
                extra = struct.pack("<HHQQQ", 1, 24, usize, csize, lho) + extra
                csize = usize = lho = 0xFFFFFFFF
            central += CENTRAL_SIG
            central += struct.pack(
                "<6H3L5H2L",
                20,
                45 if e.zip64 else 20,
                e.flags,
                e.method,
                e.dos_time,
                e.dos_date,
                crc,
                csize,
                usize,
                len(e.name),
                len(extra),
                0,
                0,
                0,
                e.external_attr,
                lho,
            )
            central += e.name + extra
        cd_offset = base + len(local)
        count = len(order) if self.count is None else self.count
        end = bytearray()
        if self.zip64_end:
            z64_at = cd_offset + len(central)
            end += EOCD64_SIG + struct.pack(
                "<QHHLLQQQQ", 44, 45, 45, 0, 0, count, count, len(central), cd_offset
            )
            end += LOCATOR64_SIG + struct.pack("<LQL", 0, z64_at, 1)
        end += EOCD_SIG + struct.pack(
            "<4H2LH",
            0,
            0,
            min(count, 0xFFFF),
            min(count, 0xFFFF),
            min(len(central), 0xFFFFFFFF),
            min(cd_offset, 0xFFFFFFFF),
            len(self.comment),
        )
        end += self.comment
        return Parts(bytes(local), bytes(central), bytes(end), base)

    def build(self, base: int = 0) -> bytes:
        p = self.parts(base)
        return p.locals + p.central + p.end


# ---- torch-shaped archives ---------------------------------------------------


def global_pickle(module: str, name: str) -> bytes:
    """A protocol 2 pickle whose only effect is to look one global up and
    call it with no arguments: which (module, name) a loader asked for
    tells which of several pickles it ran."""
    return (
        b"\x80\x02c"
        + module.encode()
        + b"\n"
        + name.encode()
        + b"\n)R."
    )


BENIGN = global_pickle("collections", "OrderedDict")
OTHER = global_pickle("builtins", "print")


def torch_records(prefix: bytes = b"archive", pkl: bytes = BENIGN) -> List[Entry]:
    """The records torch.save writes for an object without tensors, in its
    order and with its flags."""
    p = prefix + b"/"
    return [
        Entry(p + b"data.pkl", pkl, flags=TORCH_FLAGS),
        Entry(p + b".format_version", b"1", flags=TORCH_FLAGS),
        Entry(p + b".storage_alignment", b"64", flags=TORCH_FLAGS),
        Entry(p + b"byteorder", b"little", flags=TORCH_FLAGS),
        Entry(p + b"version", b"3\n", flags=TORCH_FLAGS),
        Entry(p + b".data/serialization_id", b"0" * 40, flags=TORCH_FLAGS),
    ]


def torch_archive(prefix: bytes = b"archive", pkl: bytes = BENIGN, **kw) -> Archive:
    return Archive(torch_records(prefix, pkl), zip64_end=True, **kw)


def plain_pickle(obj) -> bytes:
    return pickle.dumps(obj, protocol=2)
