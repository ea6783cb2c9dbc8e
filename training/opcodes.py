"""A small pickle opcode writer.

Malicious samples are written byte by byte: nothing dangerous is imported or
called to produce them. The writer knows which opcodes each protocol has and
how the standard pickler spells values at that protocol, so that streams look
like what `pickle.dumps` writes.
"""

import pickle
import struct

P = pickle  # opcode constants: pickle.REDUCE, pickle.GLOBAL, ...


def unicode_line(text):
    """Protocol 0 UNICODE argument, escaped as the pure-Python pickler does."""
    escaped = (text.replace("\\", "\\u005c").replace("\0", "\\u0000")
               .replace("\n", "\\u000a").replace("\r", "\\u000d")
               .replace("\x1a", "\\u001a"))
    return escaped.encode("raw-unicode-escape") + b"\n"


class OpWriter:
    """Appends opcodes to a byte buffer for one protocol.

    memo: False writes no memo opcodes at all (needed when the stream is
    spliced into another pickle whose own MEMOIZE indexes must not shift);
    memo_base: when set, PUT indexes start there and MEMOIZE is never used.
    """

    def __init__(self, protocol, memo=True, memo_base=None):
        if not 0 <= protocol <= 5:
            raise ValueError("protocol %r" % protocol)
        self.protocol = protocol
        self.memo = memo
        self.explicit_memo = memo_base is not None
        self.next_memo = memo_base or 0
        self.out = bytearray()

    def raw(self, data):
        self.out += data

    def proto(self):
        if self.protocol >= 2:
            self.out += P.PROTO + bytes([self.protocol])

    def stop(self):
        self.out += P.STOP

    def getvalue(self):
        return bytes(self.out)

    # ---- memo ---------------------------------------------------------------

    def put(self, force=False):
        """Memoize the top of the stack (if memo is on or force); returns
        the index or None."""
        if not (self.memo or force):
            return None
        index = self.next_memo
        self.next_memo += 1
        if self.protocol >= 4 and not self.explicit_memo:
            self.out += P.MEMOIZE
        elif self.protocol == 0:
            self.out += P.PUT + str(index).encode() + b"\n"
        elif index < 256:
            self.out += P.BINPUT + bytes([index])
        else:
            self.out += P.LONG_BINPUT + struct.pack("<I", index)
        return index

    def get(self, index):
        if self.protocol == 0:
            self.out += P.GET + str(index).encode() + b"\n"
        elif index < 256:
            self.out += P.BINGET + bytes([index])
        else:
            self.out += P.LONG_BINGET + struct.pack("<I", index)

    # ---- scalars ------------------------------------------------------------

    def none(self):
        self.out += P.NONE

    def bool_(self, value):
        if self.protocol >= 2:
            self.out += P.NEWTRUE if value else P.NEWFALSE
        else:
            self.out += b"I01\n" if value else b"I00\n"

    def int_(self, value):
        if self.protocol == 0:
            self.out += P.INT + str(value).encode() + b"\n"
        elif 0 <= value < 256:
            self.out += P.BININT1 + bytes([value])
        elif 0 <= value < 65536:
            self.out += P.BININT2 + struct.pack("<H", value)
        elif -2**31 <= value < 2**31:
            self.out += P.BININT + struct.pack("<i", value)
        elif self.protocol >= 2:
            data = value.to_bytes((value.bit_length() + 8) // 8, "little",
                                  signed=True)
            self.out += P.LONG1 + bytes([len(data)]) + data
        else:
            self.out += P.LONG + str(value).encode() + b"L\n"

    def float_(self, value):
        if self.protocol == 0:
            self.out += P.FLOAT + repr(value).encode() + b"\n"
        else:
            self.out += P.BINFLOAT + struct.pack(">d", value)

    def str_(self, text, memoize=True):
        data = text.encode("utf-8", "surrogatepass")
        if self.protocol == 0:
            self.out += P.UNICODE + unicode_line(text)
        elif self.protocol >= 4 and len(data) < 256:
            self.out += P.SHORT_BINUNICODE + bytes([len(data)]) + data
        else:
            self.out += P.BINUNICODE + struct.pack("<I", len(data)) + data
        if memoize:
            self.put()

    def bytes_(self, data):
        """Protocol 3+ opcodes; below that the caller spells bytes as
        _codecs.encode(text, 'latin1'), as the pickler does."""
        if self.protocol < 3:
            raise ValueError("bytes need protocol 3")
        if len(data) < 256:
            self.out += P.SHORT_BINBYTES + bytes([len(data)]) + data
        elif len(data) < 2**32:
            self.out += P.BINBYTES + struct.pack("<I", len(data)) + data
        else:
            self.out += P.BINBYTES8 + struct.pack("<Q", len(data)) + data
        self.put()

    # ---- names --------------------------------------------------------------

    def global_(self, module, name):
        """Push module.name the way the pickler of this protocol does."""
        if self.protocol >= 4:
            self.str_(module)
            self.str_(name)
            self.out += P.STACK_GLOBAL
        else:
            self.out += (P.GLOBAL + module.encode("utf-8") + b"\n"
                         + name.encode("utf-8") + b"\n")
        self.put()

    def ext(self, code):
        if code < 256:
            self.out += P.EXT1 + bytes([code])
        elif code < 65536:
            self.out += P.EXT2 + struct.pack("<H", code)
        else:
            self.out += P.EXT4 + struct.pack("<i", code)

    # ---- structure ----------------------------------------------------------

    def mark(self):
        self.out += P.MARK

    def op(self, opcode):
        self.out += opcode

    def empty_tuple(self):
        self.out += P.EMPTY_TUPLE if self.protocol >= 1 else P.MARK + P.TUPLE

    def close_tuple(self, count):
        """Close a tuple of `count` items pushed after a MARK (when count
        > 3 or protocol < 2) or without one (TUPLE1..3)."""
        if self.protocol >= 2 and 1 <= count <= 3:
            self.out += (P.TUPLE1, P.TUPLE2, P.TUPLE3)[count - 1]
        else:
            self.out += P.TUPLE
