"""Pickles for the differential test: what picklers write and what they don't.

`generated()` returns (name, bytes) pairs from three sources:
  * pickle.dumps / pickle._dumps of many objects at protocols 0-5, plain and
    through pickletools.optimize (what real files look like);
  * hand-written byte strings: every opcode on its own and the tricks
    scanners have been fooled by (memo-built names, renames, dotted names,
    number lines only CPython accepts, streams after STOP, ...);
  * every prefix of a few small payload pickles (truncation).
`opcode_streams()` is a hypothesis strategy for random opcode sequences.

The payload pickles name real dangerous callables (os.system, builtins.eval,
subprocess.Popen). They are only ever loaded by the recording unpickler,
whose find_class never imports anything.
"""

import collections
import copyreg
import datetime
import decimal
import functools
import pickle
import pickletools
import struct

# ---- objects for the pickler ------------------------------------------------


def make(*args, **kwargs):
    """Module-level callable the reduce tuples below refer to."""
    return (args, kwargs)


def set_state(obj, state):
    obj.__dict__.update(state)


SINGLETON = object()


class Reduce2:
    def __reduce__(self):
        return (make, (1, "two", b"three"))


class Reduce3:
    def __reduce__(self):
        return (make, (), {"state": [1, 2]})


class Reduce4:
    def __reduce__(self):
        return (make, (), None, iter([1, "x", (2, 3)]))


class Reduce5:
    def __reduce__(self):
        return (make, (), None, None, iter([("k", 1), ((1, 2), None)]))


class Reduce6:
    def __reduce__(self):
        return (make, ("a",), {"s": 1}, iter([1]), iter([("k", "v")]),
                set_state)


class ReduceString:
    def __reduce__(self):
        return "SINGLETON"


class ReduceExNewobj:
    def __init__(self, *args):
        self.args = args

    def __reduce_ex__(self, protocol):
        return (copyreg.__newobj__, (type(self), 1, "b"), {"x": 1})


class ReduceExNewobjEx:
    def __reduce_ex__(self, protocol):
        return (copyreg.__newobj_ex__, (type(self), (1,), {"k": 2}), None)


class Plain:
    def __init__(self):
        self.a = 1
        self.b = [1, 2]


class Slotted:
    __slots__ = ("a", "b")

    def __init__(self):
        self.a = 1
        self.b = "x"


class SlottedWithDict:
    __slots__ = ("a", "__dict__")

    def __init__(self):
        self.a = 1
        self.c = 2


class WithState:
    def __getstate__(self):
        return (1, 2)

    def __setstate__(self, state):
        pass


class ListSub(list):
    pass


class DictSub(dict):
    pass


def _recursive_list():
    x = []
    x.append(x)
    return x


def _recursive_dict():
    d = {}
    d["self"] = d
    return d


def _recursive_tuple():
    inner = []
    t = (inner, 1)
    inner.append(t)
    return t


def _shared():
    x = collections.OrderedDict(a=1)
    return [x, x, (x,)]


def objects():
    """(name, object) for the pickler."""
    ints = [0, 1, -1, 127, 255, 256, 65535, 65536, -32768, 2**31 - 1,
            -2**31, 2**31, 2**32, 2**63 - 1, -2**63, 2**63, 2**64,
            10**40, -(10**40), 2**(8 * 300), -2**(8 * 300) + 1]
    floats = [0.0, -0.0, 1.5, -2.25, 1e300, 1e-310, float("inf"),
              float("-inf"), float("nan"), 0.1]
    strs = ["", "a", "abc def", "a\nb\\c\r", "quote'\"", "\x00", "é",
            "\u20ac", "\U0001f600", "\ud800", "x\udfffy", "a" * 300,
            "\\u0041", "<locals>"]
    byts = [b"", b"a", bytes(range(256)), b"x" * 300, b"\x80\x04N."]
    out = []
    for v in ints + [True, False, None]:
        out.append(("int:%r" % (v if abs(v or 0) < 10**20 else "big"), v))
    for v in floats:
        out.append(("float:%r" % v, v))
    for v in strs:
        out.append(("str:%r" % v[:12], v))
    for v in byts:
        out.append(("bytes:%r" % v[:12], v))
    out += [
        ("bytearray", bytearray(b"abc")),
        ("bytearray-empty", bytearray()),
        ("tuple0", ()), ("tuple1", (1,)), ("tuple2", (1, "a")),
        ("tuple3", (1, 2, 3)), ("tuple4", (1, 2, 3, 4)),
        ("tuple5", (None, True, 1.0, "s", b"b")),
        ("tuple-nested", (1, (2, (3, (4, (5, (6, (7, (8, ()))))))))),
        ("tuple-big", tuple(range(70))),
        ("list0", []), ("list1", [1]), ("list-mixed", [1, "a", None, 2.5]),
        ("list-big", list(range(2500))),
        ("dict0", {}), ("dict1", {"a": 1}),
        ("dict-mixed", {1: "a", "b": [1], (1, 2): None, None: {}}),
        ("dict-big", {i: str(i) for i in range(1200)}),
        ("set0", set()), ("set", {1, "a", (1, 2)}),
        ("set-big", set(range(1100))),
        ("frozenset0", frozenset()), ("frozenset", frozenset({1, 2, "x"})),
        ("nested", {"l": [1, (2, {3: frozenset([4])})], "s": {5}}),
        ("recursive-list", _recursive_list()),
        ("recursive-dict", _recursive_dict()),
        ("recursive-tuple", _recursive_tuple()),
        ("shared", _shared()),
        ("ordereddict", collections.OrderedDict(a=1, b=[2])),
        ("deque", collections.deque([1, 2], maxlen=5)),
        ("counter", collections.Counter("abca")),
        ("defaultdict", collections.defaultdict(list, {"k": [1]})),
        ("namedtuple-free", datetime.date(2020, 1, 2)),
        ("datetime", datetime.datetime(2020, 1, 2, 3, 4, 5,
                                       tzinfo=datetime.timezone.utc)),
        ("decimal", decimal.Decimal("1.5")),
        ("complex", 1 + 2j),
        ("range", range(1, 10, 2)),
        ("slice", slice(1, None, 2)),
        ("partial", functools.partial(make, 1, k=2)),
        ("function", make),
        ("builtin-function", len),
        ("class", collections.OrderedDict),
        ("type-none", type(None)),
        ("reduce2", Reduce2()), ("reduce3", Reduce3()),
        ("reduce4", Reduce4()), ("reduce5", Reduce5()),
        ("reduce6", Reduce6()), ("reduce-string", ReduceString()),
        ("reduce-ex-newobj", ReduceExNewobj()),
        ("reduce-ex-newobj-ex", ReduceExNewobjEx()),
        ("plain", Plain()), ("slotted", Slotted()),
        ("slotted-dict", SlottedWithDict()), ("with-state", WithState()),
        ("listsub", ListSub([1, 2])), ("dictsub", DictSub(a=1)),
        ("objects-in-list", [Plain(), Reduce2(), Plain()]),
        ("picklebuffer-bytes", pickle.PickleBuffer(b"abc")),
        ("picklebuffer-bytearray", pickle.PickleBuffer(bytearray(b"abc"))),
    ]
    return out


def _oob(buf):
    return False  # out of band: NEXT_BUFFER, no data in the stream


def dumped():
    out = []
    for name, obj in objects():
        for proto in range(6):
            for impl, dumps in (("c", pickle.dumps), ("py", pickle._dumps)):
                try:
                    data = dumps(obj, protocol=proto)
                except (pickle.PicklingError, TypeError, ValueError,
                        AttributeError):
                    continue
                out.append(("dumps/%s/p%d/%s" % (impl, proto, name), data))
                try:
                    opt = pickletools.optimize(data)
                except Exception:
                    opt = None
                if opt is not None and opt != data:
                    out.append(("optimize/%s/p%d/%s" % (impl, proto, name),
                                opt))
        if isinstance(obj, pickle.PickleBuffer):
            out.append(("dumps/oob/" + name,
                        pickle.dumps(obj, protocol=5, buffer_callback=_oob)))
    return out


# ---- a small assembler -------------------------------------------------------


def p(proto):
    return b"\x80" + bytes([proto])


def gl(module, name):
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def u(s):
    """A str constant, as a protocol 4 pickler writes it."""
    data = s.encode("utf-8", "surrogatepass")
    if len(data) < 256:
        return b"\x8c" + bytes([len(data)]) + data
    return b"X" + struct.pack("<I", len(data)) + data


def sg(module, name):
    return u(module) + u(name) + b"\x93"


def i1(n):
    return b"K" + bytes([n])


def frame(body):
    return b"\x95" + struct.pack("<Q", len(body)) + body


def call1(callee, arg):
    """callee(arg) with REDUCE."""
    return callee + u(arg) + b"\x85R"


def add_ext(module, name, code):
    """copyreg.add_extension(module, name, code) as the file would do it."""
    return (gl("copyreg", "add_extension") + u(module) + u(name)
            + b"J" + struct.pack("<i", code) + b"\x87R0")


OS_SYSTEM = gl("os", "system")
EVAL = gl("builtins", "eval")
POPEN = gl("subprocess", "Popen")


def every_opcode():
    """One pickle per opcode, each using it the way a pickler would."""
    P2, P4, P5 = p(2), p(4), p(5)
    return [
        ("INT", b"I42\n."), ("INT-true", b"I01\n."), ("INT-false", b"I00\n."),
        ("INT-big", b"I123456789012345678901234567890\n."),
        ("BININT", b"J\xff\xff\xff\xff."), ("BININT1", b"K\xff."),
        ("BININT2", b"M\xff\xff."),
        ("LONG", b"L123L\n."), ("LONG-neg", b"L-5\n."),
        ("LONG1", P2 + b"\x8a\x02\x00\x80."), ("LONG1-zero", P2 + b"\x8a\x00."),
        ("LONG4", P2 + b"\x8b\x01\x00\x00\x00\xff."),
        ("STRING", b"S'abc'\n."), ("STRING-dq", b'S"a\\nb"\n.'),
        ("STRING-escapes", b"S'\\x41\\101\\t'\n."),
        ("BINSTRING", b"T\x03\x00\x00\x00abc."),
        ("SHORT_BINSTRING", b"U\x03abc."),
        ("BINBYTES", p(3) + b"B\x03\x00\x00\x00abc."),
        ("SHORT_BINBYTES", p(3) + b"C\x03abc."),
        ("BINBYTES8", P4 + b"\x8e" + struct.pack("<Q", 3) + b"abc."),
        ("BYTEARRAY8", P5 + b"\x96" + struct.pack("<Q", 3) + b"abc."),
        ("NEXT_BUFFER", P5 + b"\x97."),
        ("READONLY_BUFFER", P5 + b"\x96" + struct.pack("<Q", 3) + b"abc\x98."),
        ("READONLY_BUFFER-bytes", P5 + b"C\x03abc\x98."),
        ("READONLY_BUFFER-int", P5 + b"K\x01\x98."),
        ("NONE", b"N."), ("NEWTRUE", P2 + b"\x88."), ("NEWFALSE", P2 + b"\x89."),
        ("UNICODE", b"Vabc\\u20ac\\U0001f600\n."),
        ("UNICODE-surrogate", b"V\\ud800\n."),
        ("SHORT_BINUNICODE", P4 + b"\x8c\x03abc."),
        ("BINUNICODE", b"X\x03\x00\x00\x00\xe2\x82\xac."),
        ("BINUNICODE-surrogate", b"X\x03\x00\x00\x00\xed\xa0\x80."),
        ("BINUNICODE8", P4 + b"\x8d" + struct.pack("<Q", 2) + b"hi."),
        ("FLOAT", b"F1.5\n."), ("FLOAT-nan", b"Fnan\n."),
        ("FLOAT-negzero", b"F-0.0\n."),
        ("BINFLOAT", b"G" + struct.pack(">d", -2.5) + b"."),
        ("EMPTY_LIST", b"]."), ("APPEND", b"]K\x01a."),
        ("APPENDS", b"](K\x01K\x02e."), ("APPENDS-empty", b"](e."),
        ("LIST", b"(K\x01K\x02l."), ("EMPTY_TUPLE", b")."),
        ("TUPLE", b"(K\x01K\x02t."), ("TUPLE1", P2 + b"K\x01\x85."),
        ("TUPLE2", P2 + b"K\x01K\x02\x86."), ("TUPLE3", P2 + b"NNN\x87."),
        ("EMPTY_DICT", b"}."), ("DICT", b"(K\x01K\x02d."),
        ("SETITEM", b"}K\x01K\x02s."), ("SETITEMS", b"}(K\x01K\x02K\x03K\x04u."),
        ("EMPTY_SET", P4 + b"\x8f."), ("ADDITEMS", P4 + b"\x8f(K\x01K\x02\x90."),
        ("ADDITEMS-empty", P4 + b"\x8f(\x90."),
        ("FROZENSET", P4 + b"(K\x01K\x02\x91."),
        ("POP", b"K\x01K\x020."), ("POP-mark", b"K\x01(0."),
        ("DUP", b"K\x012\x86."), ("MARK", b"(t."),
        ("POP_MARK", b"K\x01(K\x02K\x031."),
        ("GET", b"K\x01p0\ng0\n\x86."), ("BINGET", b"K\x01q\x00h\x00\x86."),
        ("LONG_BINGET", b"K\x01r\x00\x01\x00\x00j\x00\x01\x00\x00\x86."),
        ("PUT", b"K\x01p7\n."), ("BINPUT", b"K\x01q\x07."),
        ("LONG_BINPUT", b"K\x01r\x07\x00\x00\x00."),
        ("MEMOIZE", P4 + b"K\x01\x94h\x00\x86."),
        ("EXT1", P2 + add_ext("os", "system", 5) + b"\x82\x05" + u("id")
         + b"\x85R."),
        ("EXT2", P2 + add_ext("builtins", "eval", 0x1234) + b"\x83\x34\x12"
         + u("1") + b"\x85R."),
        ("EXT4", P2 + add_ext("subprocess", "Popen", 0x12345678)
         + b"\x84\x78\x56\x34\x12" + u("id") + b"\x85R."),
        ("GLOBAL", OS_SYSTEM + b"."),
        ("STACK_GLOBAL", P4 + sg("os", "system") + b"."),
        ("REDUCE", OS_SYSTEM + b"(S'id'\ntR."),
        ("BUILD", P2 + gl("collections", "OrderedDict") + b")R}b."),
        ("INST", b"(S'id'\nios\nsystem\n."),
        ("INST-noargs", b"(ios\nsystem\n."),
        ("OBJ", b"(" + OS_SYSTEM + b"S'id'\no."),
        ("OBJ-noargs", b"(" + OS_SYSTEM + b"o."),
        ("NEWOBJ", P2 + gl("collections", "OrderedDict") + b")\x81."),
        ("NEWOBJ-args", P2 + POPEN + u("id") + b"\x85\x81."),
        ("NEWOBJ_EX", P4 + sg("subprocess", "Popen") + u("id") + b"\x85}"
         + u("shell") + b"\x88s\x92."),
        ("NEWOBJ_EX-empty", P4 + sg("collections", "OrderedDict") + b")}\x92."),
        ("PROTO", P2 + b"N."), ("STOP", b"N."),
        ("FRAME", P4 + frame(b"K\x01.")),
        ("PERSID", b"Pabc\n."), ("BINPERSID", P2 + u("key") + b"Q."),
        ("BINPERSID-tuple", P2 + u("storage") + b"K\x01\x86Q."),
    ]


def tricks():
    P2, P3, P4 = p(2), p(3), p(4)
    payload2 = P2 + call1(OS_SYSTEM, "id") + b"."
    return [
        # names through the memo, then STACK_GLOBAL
        ("memo-names", P4 + u("os") + b"\x94" + u("system") + b"\x94"
         + b"0" + b"0" + b"h\x00h\x01\x93" + u("id") + b"\x85R."),
        ("memo-names-put", P4 + u("os") + b"q\x05" + u("system")
         + b"r\x06\x00\x00\x000h\x05j\x06\x00\x00\x00\x93" + b"0N."),
        ("memo-global-twice", P2 + OS_SYSTEM + b"q\x00" + u("a") + b"\x85R0h\x00"
         + u("b") + b"\x85R."),
        # STACK_GLOBAL on values that are not constant strings
        ("stack-global-computed", P4 + sg("builtins", "str") + b")R"
         + u("system") + b"\x93" + u("id") + b"\x85R."),
        ("stack-global-computed-both", P4 + sg("builtins", "str") + b"2)R"
         + b"\x94" + b"h\x00\x93N."),
        ("stack-global-non-str", P4 + b"K\x01K\x02\x93."),
        ("stack-global-bytes", P4 + b"C\x02osC\x06system\x93."),
        # dotted names
        ("dotted-p4-stack-global", P4 + sg("pathlib", "os.system") + u("id")
         + b"\x85R."),
        ("dotted-p4-global", P4 + gl("pathlib", "os.system") + u("id")
         + b"\x85R."),
        ("dotted-p3-global", P3 + gl("pathlib", "os.system") + u("id")
         + b"\x85R."),
        ("dotted-p2-global", P2 + gl("pathlib", "os.system") + b"."),
        ("dotted-p0-global", gl("pathlib", "os.system") + b"."),
        ("dotted-locals", P4 + sg("builtins", "<locals>.x") + b"."),
        ("dotted-module", P4 + sg("os.path", "join") + b"."),
        # protocol < 3 renames
        ("compat-builtin-eval-p2", P2 + call1(gl("__builtin__", "eval"), "1")
         + b"."),
        ("compat-builtin-eval-p0", gl("__builtin__", "eval") + b"(S'1'\ntR."),
        ("compat-builtin-eval-p3", P3 + gl("__builtin__", "eval") + b"."),
        ("compat-commands", gl("commands", "getoutput") + b"(S'id'\ntR."),
        ("compat-exceptions", P2 + gl("exceptions", "ValueError") + b"."),
        ("compat-copy_reg", P2 + gl("copy_reg", "_reconstructor") + b"."),
        ("compat-userdict", gl("UserDict", "UserDict") + b"."),
        ("compat-after-proto-change", gl("__builtin__", "eval") + b"0" + P4
         + gl("__builtin__", "eval") + b"."),
        ("compat-inst", b"(S'1'\ni__builtin__\neval\n."),
        # number lines CPython accepts and pickletools does not
        ("int-hex", b"I0x10\n."), ("int-space", b"I 1\n."),
        ("int-plus", b"I+1\n."), ("int-underscore", b"I1_0\n."),
        ("int-nul", b"I1\x00junk\n."), ("int-octal", b"I0o17\n."),
        ("int-big-hex", b"I0x" + b"f" * 40 + b"\n."),
        ("int-bad", b"Iabc\n."), ("int-empty", b"I\n."),
        ("long-suffix", b"L12L\n."), ("long-octal", b"L0o17\n."),
        ("long-underscore", b"L1_000\n."), ("long-bad", b"Lx\n."),
        ("float-exp", b"F1e5\n."), ("float-inf", b"Finf\n."),
        ("float-bad", b"F1.5x\n."), ("float-space", b"F 1.5\n."),
        ("int-as-index", gl("builtins", "list") + b"(I0x3\ntR."),
        # memo indices
        ("get-underscore", b"K\x01p1_0\ng10\n."),
        ("put-underscore", b"K\x01p10\ng1_0\n."),
        ("get-space", b"K\x01p3\ng 3\n."), ("put-space", b"K\x01p 3\ng3\n."),
        ("put-negative", b"K\x01p-1\n."), ("get-negative", b"K\x01p1\ng-1\n."),
        ("put-huge", b"K\x01p1099511627776\n."),
        ("put-overflow", b"K\x01p" + str(2**70).encode() + b"\n."),
        ("get-missing", b"K\x01p1\ng2\n."), ("binget-missing", b"h\x05."),
        ("long-binget-huge", b"j\xff\xff\xff\xff."),
        ("put-sparse", b"K\x01r\x00\x00\x01\x00h\x00."),
        ("put-twice", b"K\x01q\x00K\x02q\x00h\x00."),
        ("put-empty-stack", b"q\x00N."),
        ("memoize-empty-stack", p(4) + b"\x94N."),
        # streams back to back
        ("second-pickle", b"N." + payload2),
        ("second-pickle-framed", P4 + frame(b"N.") + payload2),
        ("three-pickles", b"K\x01.K\x02." + payload2),
        ("trailing-garbage", b"N.garbage"),
        ("trailing-newline", payload2 + b"\n"),
        ("trailing-nul", payload2 + b"\x00\x00"),
        ("trailing-partial-pickle", b"N." + P2 + b"K"),
        ("reduce-then-garbage", P2 + call1(OS_SYSTEM, "id") + b"\xff\xff"),
        ("reduce-then-eof", P2 + call1(OS_SYSTEM, "id")),
        ("stop-inside-frame", P4 + frame(b"N.K\x01.") + b"K\x02."),
        ("frame-in-frame", P4 + frame(b"\x95\x02\x00\x00\x00\x00\x00\x00\x00N.")),
        ("frame-empty", P4 + frame(b"") + b"N."),
        ("frame-too-long", P4 + b"\x95\xff\x00\x00\x00\x00\x00\x00\x00N."),
        # frozenset keeps one of each equal item, with Python's == across types
        ("frozenset-equal-tuples", b"\x80\x01())\x91."),
        ("frozenset-1-true-1.0", P4 + b"(K\x01\x88G?\xf0\x00\x00\x00\x00\x00\x00\x91."),
        ("frozenset-str-vs-bytes", P4 + b"(\x8c\x01a\x8c\x01aC\x01a\x91."),
        ("frozenset-nan-twice", P4 + b"(G\x7f\xf8\x00\x00\x00\x00\x00\x00G\x7f\xf8\x00\x00\x00\x00\x00\x00\x91."),
        ("frozenset-same-global", b"(cos\nsystem\ncos\nsystem\n\x91."),
        ("frame-p2", P2 + frame(b"N.")),
        ("frame-split-opcode", P4 + frame(b"\x8c\x02o") + b"s."),
        # CPython's C loader drops what is left of a frame when an argument
        # runs past its end and reads the whole argument after it instead
        ("frame-split-line", P4 + frame(b"cXX") + b"os\nsystem\n" + u("id")
         + b"\x85R."),
        ("frame-split-binary", P4 + frame(u("os") + b"\x8c\x06ZZ")
         + b"system\x93" + u("id") + b"\x85R."),
        ("frame-split-length", P4 + frame(u("os") + b"\x8c") + b"\x06system"
         b"\x93" + u("id") + b"\x85R."),
        # stack and mark trouble
        ("underflow-mark-tuple1", P2 + b"K\x01(\x85."),
        ("underflow-mark-tuple2", P2 + b"K\x01K\x02(K\x03\x86."),
        ("underflow-mark-append", b"]K\x01(a."),
        ("underflow-mark-reduce", OS_SYSTEM + b"(R."),
        ("underflow-mark-build", P2 + gl("collections", "OrderedDict") + b")R(b."),
        ("underflow-mark-setitem", b"}(K\x01s."),
        ("underflow-empty-stop", b"."), ("underflow-pop", b"0N."),
        ("underflow-dup", b"2."), ("underflow-pop-mark", b"1N."),
        ("underflow-stack-global", P4 + u("os") + b"\x93."),
        ("stop-open-mark", b"(N."), ("stop-on-mark", b"N(."),
        ("leftover-stack", b"K\x01K\x02."),
        ("leftover-call", P2 + call1(OS_SYSTEM, "id") + b"N."),
        ("mark-mark", b"((t\x85."),
        # unknown opcodes
        ("unknown-00", b"\x00"), ("unknown-ff", b"\xff."),
        ("unknown-z", b"z."), ("unknown-after", b"K\x01\x99."),
        ("unknown-after-call", P2 + call1(OS_SYSTEM, "id") + b"A."),
        # odd counts
        ("dict-odd", b"(K\x01d."), ("dict-odd3", b"(K\x01K\x02K\x03d."),
        ("setitems-odd", b"}(K\x01u."),
        ("setitems-odd-result", P2 + gl("collections", "OrderedDict")
         + b")R(K\x01K\x02K\x03u."),
        # REDUCE arguments
        ("reduce-args-list", OS_SYSTEM + b"]R."),
        ("reduce-args-none", OS_SYSTEM + b"NR."),
        ("reduce-args-result", P2 + OS_SYSTEM + gl("builtins", "tuple")
         + b")RR."),
        ("reduce-callee-int", b"K\x01)R."),
        ("reduce-callee-result", P2 + gl("builtins", "getattr") + OS_SYSTEM
         + u("__call__") + b"\x86R" + u("id") + b"\x85R."),
        ("reduce-nested-result", P2 + OS_SYSTEM + gl("builtins", "str")
         + u("id") + b"\x85R\x85R."),
        # NEWOBJ / OBJ on odd things
        ("newobj-result", P2 + gl("builtins", "type") + b")R)\x81."),
        ("newobj-not-type", P2 + b"K\x01)\x81."),
        ("newobj-args-list", P2 + POPEN + b"]\x81."),
        ("newobj-ex-kwargs-list", P4 + POPEN + b")]\x92."),
        ("obj-result-noargs", P2 + b"(" + gl("builtins", "type") + b")Ro."),
        ("obj-result-args", P2 + b"(" + gl("builtins", "type") + b")R" + u("x")
         + b"o."),
        ("obj-int", b"(K\x01o."),
        ("inst-then-build", b"(ios\nsystem\n}b."),
        # BUILD
        ("build-slotstate", P2 + gl("collections", "OrderedDict") + b")RN}"
         + u("a") + b"K\x01s\x86b."),
        ("build-slotstate-global", P2 + OS_SYSTEM + b"N}\x86b."),
        ("build-global", OS_SYSTEM + b"(S'x'\nK\x01db."),
        ("build-on-list", b"]}b."), ("build-none-on-list", b"]Nb."),
        ("build-slotstate-on-dict", P2 + b"}N}" + u("a") + b"K\x01s\x86b."),
        ("build-state-not-dict", b"]K\x01b."),
        ("build-on-int", b"K\x01Nb."),
        # APPEND(S) / SETITEM(S) / ADDITEMS on call results and globals
        ("appends-result", P2 + gl("collections", "deque") + b")R(K\x01K\x02e."),
        ("appends-result-empty", P2 + gl("collections", "deque") + b")R(e."),
        ("append-result", P2 + gl("collections", "deque") + b")RK\x01a."),
        ("appends-global", OS_SYSTEM + b"(S'id'\ne."),
        ("appends-on-dict", b"}(K\x01e."), ("appends-on-tuple", b")(K\x01e."),
        ("appends-on-bytearray", p(5) + b"\x96\x00\x00\x00\x00\x00\x00\x00\x00"
         b"(K\x41e."),
        ("setitems-result", P2 + gl("collections", "OrderedDict")
         + b")R(K\x01K\x02K\x03K\x04u."),
        ("setitem-result", P2 + gl("collections", "OrderedDict") + b")R"
         + u("k") + b"K\x01s."),
        ("setitem-global", OS_SYSTEM + u("k") + b"K\x01s."),
        ("setitem-on-list", b"](K\x01e" + b"K\x00K\x07s."),
        ("setitem-on-list-bad", b"]K\x05K\x07s."),
        ("setitem-unhashable", b"}]K\x01s."),
        ("additems-result", P4 + sg("builtins", "set") + b")R(K\x01K\x02\x90."),
        ("additems-global", P4 + sg("os", "system") + b"(K\x01\x90."),
        ("additems-on-list", P4 + b"](K\x01\x90."),
        ("additems-on-frozenset", P4 + b"(\x91(K\x01\x90."),
        ("additems-unhashable", P4 + b"\x8f(]\x90."),
        ("dict-unhashable", b"(]K\x01d."),
        ("frozenset-unhashable", P4 + b"(]\x91."),
        # EXT codes
        ("ext-unregistered", P2 + b"\x82\x07."),
        ("ext-zero", P2 + b"\x82\x00."),
        ("ext-cached", P2 + add_ext("os", "system", 9) + b"\x82\x09\x82\x09\x86."),
        ("ext-across-streams", P2 + add_ext("os", "system", 11) + b"N."
         + P2 + b"\x82\x0b" + u("id") + b"\x85R."),
        ("ext-before-register", P2 + b"\x82\x0c" + add_ext("os", "system", 12)
         + b"."),
        ("ext-register-twice", P2 + add_ext("os", "system", 13)
         + add_ext("os", "system", 14) + b"\x82\x0d."),
        ("ext-register-bad-code", P2 + add_ext("os", "system", 0) + b"N."),
        ("ext-register-non-str", P2 + gl("copyreg", "add_extension")
         + b"K\x01K\x02K\x03\x87R0\x82\x03."),
        ("ext-compat-name", P2 + gl("copy_reg", "add_extension") + u("os")
         + u("system") + b"K\x10\x87R0\x82\x10."),
        # add_extension computes int(code) before it looks at the key
        ("ext-code-bad-text", P2 + gl("copyreg", "add_extension")
         + b"K\x00K\x00" + u("os") + b"\x87R."),
        ("ext-code-text", P2 + gl("copyreg", "add_extension") + u("os")
         + u("system") + u(" 1_7 ") + b"\x87R0\x82\x11."),
        ("ext-code-text-nul", P2 + gl("copyreg", "add_extension") + u("os")
         + u("system") + u("17\x00") + b"\x87R."),
        ("ext-code-bytes", P2 + gl("copyreg", "add_extension") + u("os")
         + u("system") + b"C\x0218\x87R0\x82\x12."),
        ("ext-code-float", P2 + gl("copyreg", "add_extension") + u("os")
         + u("system") + b"G" + struct.pack(">d", 19.75) + b"\x87R0\x82\x13."),
        ("ext-code-nan", P2 + gl("copyreg", "add_extension") + u("os")
         + u("system") + b"G" + struct.pack(">d", float("nan")) + b"\x87R."),
        ("ext-code-none", P2 + gl("copyreg", "add_extension") + u("os")
         + u("system") + b"N\x87R."),
        ("ext-code-huge-text", P2 + gl("copyreg", "add_extension") + u("os")
         + u("system") + u("9" * 30) + b"\x87R."),
        # int() of a str reads non-ASCII decimal digits and spaces too
        ("ext-code-unicode-digits", P2 + gl("copyreg", "add_extension") + u("os")
         + u("system") + u("\u2003\u0663\u0665\u00a0") + b"\x87R0\x82\x23."),
        ("ext-code-unicode-letter", P2 + gl("copyreg", "add_extension") + u("os")
         + u("system") + u("\u00e9") + b"\x87R."),
        # persistent ids
        ("persid-non-ascii", b"P\xff\n."),
        ("binpersid-result", P2 + OS_SYSTEM + u("id") + b"\x85RQ."),
        ("persid-then-call", P2 + u("k") + b"Q" + u("id") + b"\x85R."),
        # protocol opcodes
        ("proto-repeated", P2 + P4 + gl("__builtin__", "eval") + b"."),
        ("proto-unsupported", p(6) + b"N."),
        ("proto-255", p(255) + b"N."),
        ("proto-0", p(0) + gl("__builtin__", "eval") + b"."),
        ("proto-mismatch", P2 + sg("os", "system") + b"."),
        # strings the loader rejects
        ("string-unquoted", b"Sabc\n."), ("string-half-quoted", b"S'abc\n."),
        ("string-mixed-quotes", b"S'abc\"\n."),
        ("string-bad-escape", b"S'\\xzz'\n."),
        ("string-non-ascii", b"S'\xe9'\n."),
        ("short-binstring-non-ascii", b"U\x01\xe9."),
        ("binstring-negative", b"T\xff\xff\xff\xff."),
        ("binunicode-bad-utf8", b"X\x01\x00\x00\x00\xff."),
        ("unicode-bad-escape", b"V\\u12\n."),
        ("long4-negative", P2 + b"\x8b\xff\xff\xff\xff."),
        ("global-bad-utf8", b"cos\xff\nsystem\n."),
        ("global-empty-module", b"c\nsystem\n."),
        ("global-nul", b"cos\x00x\nsystem\n."),
        ("global-no-newline", b"cos\nsystem"),
        ("global-crlf", b"cos\r\nsystem\r\n."),
        # payloads of each kind
        ("payload-p0", b"cos\nsystem\n(S'id'\ntR."),
        ("payload-p2", payload2),
        ("payload-p4", P4 + frame(sg("os", "system") + u("id") + b"\x85R.")),
        ("payload-eval", P2 + call1(EVAL, "__import__('os')") + b"."),
        ("payload-popen", P4 + sg("subprocess", "Popen") + u("id") + b"\x85\x81"
         + b"."),
        ("payload-build-setstate", P2 + gl("collections", "OrderedDict")
         + b")R}" + u("__setstate__") + OS_SYSTEM + b"sb" + u("id") + b"b."),
        ("payload-in-list", b"(lp0\n" + OS_SYSTEM + b"(S'id'\ntRa."),
        ("payload-discarded", P2 + call1(OS_SYSTEM, "id") + b"0N."),
        ("payload-popped-by-mark", P2 + b"(" + call1(OS_SYSTEM, "id") + b"1N."),
        ("payload-nested-pickle", P2 + gl("pickle", "loads") + b"C"
         + bytes([len(payload2)]) + payload2 + b"\x85R."),
    ]


def _payload_prefixes():
    out = []
    for label, data in (
            ("p0", b"cos\nsystem\n(S'id'\ntR."),
            ("p2", p(2) + call1(OS_SYSTEM, "id") + b"."),
            ("p4", p(4) + frame(sg("os", "system") + u("id") + b"\x85R."))):
        for n in range(len(data)):
            out.append(("truncated/%s/%d" % (label, n), data[:n]))
    return out


def generated():
    """Every generated case, names unique, duplicates of bytes dropped."""
    seen = set()
    names = {}
    out = []
    for name, data in (every_opcode() + tricks() + _payload_prefixes()
                       + dumped()):
        if data in seen:
            continue
        seen.add(data)
        count = names.get(name, 0)
        names[name] = count + 1
        out.append((name if not count else "%s#%d" % (name, count), data))
    return out


def opcodes_used(data):
    """pickletools names of the opcodes in data, up to where genops stops."""
    names = set()
    try:
        for op, _arg, _pos in pickletools.genops(data):
            names.add(op.name)
    except Exception:
        pass
    return names


# ---- random opcode sequences ------------------------------------------------


def opcode_streams():
    """A hypothesis strategy for random opcode sequences.

    Arguments are mostly well formed so that sequences get somewhere;
    sometimes they are broken (bad lengths, missing newlines, odd bytes)."""
    from hypothesis import strategies as st

    modules = st.sampled_from(["os", "builtins", "collections", "subprocess",
                               "copyreg", "__builtin__", "pathlib", "copy_reg",
                               "exceptions"])
    names = st.sampled_from(["system", "eval", "OrderedDict", "Popen",
                             "add_extension", "os.system", "getattr", "str",
                             "ValueError", "_reconstructor", "deque"])
    texts = st.sampled_from(["os", "system", "id", "", "a.b", "eval",
                             "é", "x" * 300])
    small = st.integers(0, 6)

    def text_op(s, kind):
        data = s.encode("utf-8")
        if kind == 0:
            return u(s)
        if kind == 1:
            return b"X" + struct.pack("<I", len(data)) + data
        if kind == 2:
            return b"V" + s.encode("raw_unicode_escape") + b"\n"
        if kind == 3:
            return b"S'" + data + b"'\n"
        return b"C" + bytes([len(data) % 256]) + data

    fixed = st.sampled_from([
        b"N", b"\x88", b"\x89", b")", b"]", b"}", b"\x8f", b"(", b"(", b"(",
        b"t", b"l", b"d", b"\x85", b"\x86", b"\x87", b"a", b"e", b"s", b"u",
        b"\x90", b"\x91", b"0", b"1", b"2", b"R", b"R", b"b", b"o", b"\x81",
        b"\x92", b"\x93", b"\x94", b"Q", b".", b"\x98", b"\x97"])
    ints = st.one_of(
        st.integers(0, 255).map(lambda n: b"K" + bytes([n])),
        st.integers(-2**31, 2**31 - 1).map(lambda n: b"J" + struct.pack("<i", n)),
        st.integers(0, 65535).map(lambda n: b"M" + struct.pack("<H", n)),
        st.sampled_from([b"I1\n", b"I0x10\n", b"I1_0\n", b"I 2\n", b"L5L\n",
                         b"I01\n", b"F1.5\n", b"Fnan\n", b"\x8a\x01\x05"]))
    memo = st.one_of(
        small.map(lambda n: b"q" + bytes([n])),
        small.map(lambda n: b"h" + bytes([n])),
        small.map(lambda n: b"p%d\n" % n),
        small.map(lambda n: b"g%d\n" % n),
        small.map(lambda n: b"r" + struct.pack("<I", n)),
        small.map(lambda n: b"j" + struct.pack("<I", n)))
    globals_ = st.builds(
        lambda m, n, stack: sg(m, n) if stack else gl(m, n),
        modules, names, st.booleans())
    inst = st.builds(
        lambda m, n: b"i" + m.encode() + b"\n" + n.encode() + b"\n",
        modules, names)
    strings = st.builds(text_op, texts, st.integers(0, 4))
    ext = st.one_of(
        st.integers(1, 3).map(lambda c: b"\x82" + bytes([c])),
        st.builds(lambda m, n, c: add_ext(m, n, c), modules, names,
                  st.integers(0, 3)))
    protos = st.integers(0, 5).map(p)
    persid = st.sampled_from([b"Pk\n", b"P\xff\n"])
    # no "p"/"r" in random bytes: a memo index read out of them could be
    # huge, and CPython's loader would try to allocate a memo that large
    broken = st.one_of(
        st.binary(min_size=1, max_size=4).filter(
            lambda b: b"p" not in b and b"r" not in b),
        st.sampled_from([b"X\xff\xff\x00\x00ab", b"\x95\x03\x00\x00\x00\x00"
                         b"\x00\x00\x00", b"cos\n", b"S'x\n", b"\x8c\x05ab"]))
    op = st.one_of(fixed, fixed, ints, memo, globals_, globals_, inst,
                   strings, strings, ext, protos, persid, broken)

    consts = st.one_of(ints, strings, st.sampled_from(
        [b"N", b"\x88", b"\x89", b")", b"C\x02id", b"G" + struct.pack(">d", 2.5)]))

    @st.composite
    def value(draw, depth=0):
        """Opcodes that leave exactly one value on the stack (when CPython
        accepts them at all), built the way picklers nest them."""
        top = 12 if depth < 3 else 2
        kind = draw(st.integers(0, top))
        if kind == 0:
            return [draw(consts)]
        if kind == 1:
            return [draw(globals_)]
        if kind == 2:
            chunks = draw(value(depth + 1)) if depth < 3 else [draw(consts)]
            n = draw(small)
            put = draw(st.sampled_from([b"q%c" % n, b"p%d\n" % n,
                                        b"r%c\x00\x00\x00" % n, b"\x94"]))
            chunks = chunks + [put]
            if draw(st.booleans()):
                chunks += [b"0", draw(st.sampled_from(
                    [b"h%c" % n, b"g%d\n" % n, b"j%c\x00\x00\x00" % n]))]
            return chunks
        if kind in (3, 4):
            callee = draw(st.one_of(globals_, globals_,
                                    value(depth + 1).map(b"".join)))
            args = draw(st.lists(value(depth + 1), max_size=3))
            return ([callee, b"("] + [c for a in args for c in a]
                    + [b"tR" if draw(st.integers(0, 5)) else b"R"])
        if kind == 5:
            items = draw(st.lists(value(depth + 1), max_size=4))
            flat = [c for a in items for c in a]
            if len(items) <= 3 and draw(st.booleans()):
                return flat + [[b")", b"\x85", b"\x86", b"\x87"][len(items)]]
            return [b"("] + flat + [b"t"]
        if kind == 6:
            target = draw(st.one_of(st.just([b"]"]), value(depth + 1)))
            items = draw(st.lists(value(depth + 1), max_size=3))
            flat = [c for a in items for c in a]
            if len(items) == 1 and draw(st.booleans()):
                return target + flat + [b"a"]
            return target + [b"("] + flat + [b"e"]
        if kind == 7:
            target = draw(st.one_of(st.just([b"}"]), value(depth + 1)))
            items = draw(st.lists(value(depth + 1), max_size=4))
            flat = [c for a in items for c in a]
            if len(items) == 2 and draw(st.booleans()):
                return target + flat + [b"s"]
            return target + [b"("] + flat + [b"u"]
        if kind == 8:
            items = draw(st.lists(value(depth + 1), max_size=3))
            flat = [c for a in items for c in a]
            if draw(st.booleans()):
                return [b"(" ] + flat + [b"\x91"]
            target = draw(st.one_of(st.just([b"\x8f"]), value(depth + 1)))
            return target + [b"("] + flat + [b"\x90"]
        if kind == 9:
            cls = draw(st.one_of(globals_, value(depth + 1).map(b"".join)))
            args = draw(value(depth + 1))
            if draw(st.booleans()):
                return [cls] + args + [b"\x81"]
            kw = draw(st.one_of(st.just([b"}"]), value(depth + 1)))
            return [cls] + args + kw + [b"\x92"]
        if kind == 10:
            args = draw(st.lists(value(depth + 1), max_size=2))
            flat = [c for a in args for c in a]
            if draw(st.booleans()):
                return [b"("] + flat + [draw(inst)]
            return [b"(", draw(globals_)] + flat + [b"o"]
        if kind == 11:
            return draw(value(depth + 1)) + draw(value(depth + 1)) + [b"b"]
        return [draw(st.one_of(ext, persid.map(lambda b: b + b"N0"),
                               st.just(b"K\x07Q")))]

    @st.composite
    def grammar(draw):
        parts = []
        if draw(st.integers(0, 3)):
            parts.append(draw(protos))
        parts += draw(value())
        for _ in range(draw(st.integers(0, 2))):
            parts += draw(value()) + [b"0"]
        parts.append(b".")
        # now and then something a pickler never writes, anywhere
        for _ in range(draw(st.integers(0, 2)) // 2):
            at = draw(st.integers(0, len(parts)))
            parts.insert(at, draw(op))
        if not draw(st.integers(0, 6)):
            parts += draw(value()) + [b"."]
        return b"".join(parts)

    @st.composite
    def loose(draw):
        parts = []
        if draw(st.integers(0, 3)):
            parts.append(draw(protos))
        parts += draw(st.lists(op, min_size=1, max_size=40))
        if draw(st.integers(0, 4)):
            parts.append(b".")
        if not draw(st.integers(0, 5)):
            parts += draw(st.lists(op, min_size=1, max_size=10))
        return b"".join(parts)

    return st.one_of(grammar(), grammar(), grammar(), loose())
