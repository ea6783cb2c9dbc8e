"""A recording unpickler: CPython's own loader run in a world of stubs.

The differential test needs to know what the real unpickler does with a
byte string without letting it do anything. So `find_class` never imports:
it hands back a fresh stub *type* that records every call made into it, and
everything such a call returns is a stub result that records in the same
way. Everything else (the opcode loop, the stack, the memo, framing, the
errors) is CPython's own code, which makes the recorded events the reference
the engine is compared with.

The stubs are types because the loader treats types specially: NEWOBJ
insists on one, INST/OBJ with no arguments call `cls.__new__(cls)` on one,
BUILD looks `__setstate__` up on the class itself. They have no
`__getinitargs__` and no `__getattr__`, so every lookup the loader makes
either finds one of the recording hooks or fails as it would on an object
without the attribute.

Two implementations are wrapped: `_pickle.Unpickler` (the reference) and
the pure-Python `pickle._Unpickler`, which differs in a few corners (it
calls `append` for APPEND, `extend` with zero items, skips the NEWOBJ type
checks) but exposes the protocol in force as `self.proto`.

Events come out in the engine's vocabulary (see `normalise`): the call
kinds are "call", "new", "build", "extend", "setitem", "add", "persid"
(plus "append", which only the pure-Python loader produces), callees and
stubs inside arguments are ("global", i) / ("result", j) indices into the
stream's globals and calls, and arguments are reduced to shapes.
"""

import _compat_pickle
import contextlib
import copyreg
import io
import math
import os
import pickle
import resource
from dataclasses import dataclass, field
from typing import Any, List, Optional, Tuple

import _pickle

# Containers deeper than this are compared by type only: the engine elides
# values below a fixed reporting depth, and the cut must be the same on
# both sides.
SHAPE_DEPTH = 6
# The engine keeps this many items of a container and this much of a str.
KEEP_ITEMS = 64
KEEP_CHARS = 4096
KEEP_HEAD = 64


# ---- events ----------------------------------------------------------------


@dataclass
class GlobalEvent:
    index: int
    module: str  # exactly as find_class received them
    name: str
    proto: Optional[int]  # protocol in force (pure-Python loader only)


@dataclass
class CallEvent:
    index: int
    kind: str
    callee: Any  # shape
    args: Any  # shape
    kwargs: Any  # shape, or None when the call takes no keywords


@dataclass
class Stream:
    start: int
    globals: List[GlobalEvent] = field(default_factory=list)
    calls: List[CallEvent] = field(default_factory=list)
    # ("global", i) / ("call", j) in the order they happened
    order: List[Tuple[str, int]] = field(default_factory=list)
    end: Optional[int] = None  # file position after a successful load
    error: Optional[BaseException] = None
    result: Any = None  # shape of what load() returned

    @property
    def ok(self):
        return self.error is None

    @property
    def n_events(self):
        return len(self.globals) + len(self.calls)

    def error_text(self):
        if self.error is None:
            return None
        return "%s: %s" % (type(self.error).__name__, self.error)


@dataclass
class Recording:
    streams: List[Stream]
    # a last load that raised before doing anything: the engine's trailing
    # data (what is left after the last real pickle)
    trailing: Optional[Stream]
    impl: str


# ---- stubs -----------------------------------------------------------------


class _Ref:
    """Where a stub came from: a global or a call of one stream."""

    __slots__ = ("recorder", "stream", "kind", "index")

    def __init__(self, recorder, stream, kind, index):
        self.recorder = recorder
        self.stream = stream
        self.kind = kind
        self.index = index


def _ref_of(obj):
    if isinstance(obj, StubResult):
        return object.__getattribute__(obj, "_sp_ref")
    if isinstance(obj, type) and isinstance(obj, _StubMeta):
        return type.__getattribute__(obj, "_sp_ref")
    return None


def _record(target, kind, args, kwargs=None):
    ref = _ref_of(target)
    return ref.recorder.record_call(kind, target, args, kwargs)


class _EitherSide:
    """A method that binds to the class when looked up on the class.

    The loader looks `__setstate__`, `extend`, `append` and `add` up on
    whatever object is on the stack, which for a global is the stub class
    itself; a plain function would come back unbound there."""

    def __init__(self, func):
        self.func = func

    def __get__(self, obj, owner):
        target = owner if obj is None else obj
        func = self.func

        def bound(*args, **kwargs):
            return func(target, *args, **kwargs)

        return bound


def _setstate(self, state):
    _record(self, "build", state)


def _extend(self, items):
    _record(self, "extend", items)


def _append(self, item):
    _record(self, "append", item)


def _add(self, item):
    _record(self, "add", item)


class _StubMeta(type):
    """Metaclass of the stub types: calling or subscripting one records."""

    def __call__(cls, *args, **kwargs):
        return _record(cls, "call", args, kwargs)

    def __setitem__(cls, key, value):
        _record(cls, "setitem", (key, value))

    def __repr__(cls):
        ref = type.__getattribute__(cls, "_sp_ref")
        return "<stub global %d %s.%s>" % (ref.index, cls.__module__,
                                           cls.__qualname__)


def _stub_new(cls, *args, **kwargs):
    return _record(cls, "new", args, kwargs)


class StubResult:
    """What every recorded call returns."""

    __slots__ = ("_sp_ref", "__weakref__")

    def __call__(self, *args, **kwargs):
        return _record(self, "call", args, kwargs)

    def __setitem__(self, key, value):
        _record(self, "setitem", (key, value))

    __setstate__ = _setstate
    extend = _extend
    append = _append
    add = _add

    def __repr__(self):
        return "<stub result %d>" % object.__getattribute__(self,
                                                           "_sp_ref").index


def _make_stub_type(ref, module, name):
    namespace = {
        "__new__": staticmethod(_stub_new),
        "__setstate__": _EitherSide(_setstate),
        "extend": _EitherSide(_extend),
        "append": _EitherSide(_append),
        "add": _EitherSide(_add),
        "__module__": module,
        "__qualname__": name,
        "_sp_ref": ref,
    }
    # the class name must be a valid str for type(); the real names may
    # hold anything (NUL, surrogates), so they go in __qualname__ via repr
    try:
        return _StubMeta("stub", (), namespace)
    except (TypeError, ValueError):
        namespace["__module__"] = repr(module)
        namespace["__qualname__"] = repr(name)
        return _StubMeta("stub", (), namespace)


# ---- shapes ----------------------------------------------------------------


def float_shape(value):
    if math.isnan(value):
        return ("float", "nan")
    return ("float", value.hex())


def shape(value, stream=None, depth=0):
    """The comparable form of a value the loader passed to a stub.

    Immutable values keep their contents (up to what the engine reports);
    mutable containers keep only their type, because the engine reports
    them as they are at the end of the stream and the recorder sees them at
    call time."""
    ref = _ref_of(value)
    if ref is not None:
        if stream is not None and ref.stream is not stream:
            return ("foreign-" + ref.kind, ref.index)
        return (ref.kind, ref.index)
    if value is None:
        return ("none",)
    t = type(value)
    if t is bool:
        return ("bool", value)
    if t is int:
        return ("int", value)
    if t is float:
        return float_shape(value)
    if t is str:
        return ("str", len(value), value[:KEEP_CHARS])
    if t is bytes:
        return ("bytes", len(value), value[:KEEP_HEAD])
    if t in (bytearray, memoryview):
        # READONLY_BUFFER turns a bytearray into a read-only memoryview;
        # the engine keeps it as a bytearray flagged read-only
        return ("bytearray",)
    if t is tuple:
        if depth >= SHAPE_DEPTH:
            return ("tuple", "elided")
        return ("tuple", len(value),
                tuple(shape(v, stream, depth + 1)
                      for v in value[:KEEP_ITEMS]))
    if t is frozenset:
        return ("frozenset", len(value))
    if t in (list, dict, set):
        return (t.__name__,)
    if t is pickle.PickleBuffer:
        return ("buffer",)
    return ("other", t.__name__)


# ---- the unpicklers --------------------------------------------------------


def _is_add_extension(module, name):
    if module == "copy_reg":
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
    return (module, name) == ("copyreg", "add_extension")


class _RecorderMixin:
    """The part shared by both implementations; _recorder is the owner."""

    def find_class(self, module, name):
        return self._recorder.record_global(self, module, name)

    def persistent_load(self, pid):
        return self._recorder.record_call("persid", None, pid)


class CRecordingUnpickler(_RecorderMixin, _pickle.Unpickler):
    pass


class PyRecordingUnpickler(_RecorderMixin, pickle._Unpickler):
    pass


IMPLEMENTATIONS = {"c": CRecordingUnpickler, "py": PyRecordingUnpickler}


class _Recorder:
    def __init__(self, impl):
        self.impl = impl
        self.stream = None

    def record_global(self, unpickler, module, name):
        stream = self.stream
        index = len(stream.globals)
        proto = getattr(unpickler, "proto", None) if self.impl == "py" \
            else None
        stream.globals.append(GlobalEvent(index, module, name, proto))
        stream.order.append(("global", index))
        stub = _make_stub_type(_Ref(self, stream, "global", index),
                               module, name)
        if _is_add_extension(module, name):
            # the one global whose effect must be real: EXT codes
            # registered earlier in the same input resolve through it
            type.__setattr__(stub, "_sp_really", copyreg.add_extension)
        return stub

    def record_call(self, kind, target, args, kwargs=None):
        stream = self.stream
        index = len(stream.calls)
        callee = shape(target, stream) if target is not None else None
        if kind == "extend":
            # the loader's own fresh list, reachable from nowhere else: its
            # items are what the call received, so they are compared
            args_shape = ("list-items", len(args),
                          tuple(shape(v, stream, 1) for v in args[:KEEP_ITEMS]))
        else:
            args_shape = shape(args, stream)
        stream.calls.append(CallEvent(
            index, kind, callee, args_shape,
            shape(kwargs, stream) if kwargs else None))
        stream.order.append(("call", index))
        if kind == "call" and isinstance(target, _StubMeta):
            really = target.__dict__.get("_sp_really")
            if really is not None:
                really(*args, **(kwargs or {}))
        if kind in ("call", "new", "persid"):
            result = object.__new__(StubResult)
            object.__setattr__(result, "_sp_ref",
                               _Ref(self, stream, "result", index))
            return result
        return None


class _ExtensionRegistrySnapshot:
    """Undo every copyreg extension registration made while recording.

    The dicts are restored in place: _pickle holds references to them."""

    def __enter__(self):
        self.saved = [(d, dict(d)) for d in (
            copyreg._extension_registry, copyreg._inverted_registry,
            copyreg._extension_cache)]
        return self

    def __exit__(self, *exc):
        for d, saved in self.saved:
            d.clear()
            d.update(saved)
        return False


# CPython's C loader sizes its memo by the largest index it is given and
# zero-fills it: LONG_BINPUT 2**30 alone touches 8 GB. While recording, the
# address space is capped so that such an input fails with the MemoryError
# a smaller machine would raise instead of exhausting this one.
MEMORY_HEADROOM = 2 << 30


def _address_space_in_use():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


@contextlib.contextmanager
def _memory_cap():
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    try:
        cap = _address_space_in_use() + MEMORY_HEADROOM
    except OSError:
        cap = None
    if cap is None or (soft != resource.RLIM_INFINITY and soft <= cap) or (
            hard != resource.RLIM_INFINITY and hard < cap):
        yield
        return
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def record(data, impl="c", max_streams=1000):
    """Load `data` as repeated pickle.load calls on one file would.

    Every load is one stream; recording stops after the first load that
    raises. Extension registrations persist from one load to the next, as
    they do in a real process, and are undone at the end."""
    cls = IMPLEMENTATIONS[impl]
    recorder = _Recorder(impl)
    f = io.BytesIO(data)
    streams = []
    trailing = None
    with _ExtensionRegistrySnapshot():
        while f.tell() < len(data) and len(streams) < max_streams:
            stream = Stream(start=f.tell())
            recorder.stream = stream
            unpickler = cls(f)
            unpickler._recorder = recorder
            try:
                with _memory_cap():
                    result = unpickler.load()
            except RecursionError as exc:
                stream.error = exc
            except Exception as exc:  # the loader's own errors
                stream.error = exc
            else:
                stream.end = f.tell()
                stream.result = shape(result, stream)
            recorder.stream = None
            if stream.error is not None:
                if stream.n_events == 0 and streams:
                    trailing = stream
                else:
                    streams.append(stream)
                break
            streams.append(stream)
    return Recording(streams, trailing, impl)


# ---- comparable summaries --------------------------------------------------


def compat_map(module, name):
    """What CPython's find_class does to the names below protocol 3."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    if module in _compat_pickle.IMPORT_MAPPING:
        return _compat_pickle.IMPORT_MAPPING[module], name
    return module, name


def call_tuple(call):
    return (call.kind, call.callee, call.args, call.kwargs)


def stream_summary(stream):
    return {
        "globals": [(g.module, g.name) for g in stream.globals],
        "calls": [call_tuple(c) for c in stream.calls],
        "end": "stop" if stream.ok else "error",
    }


def describe(recording):
    """A readable dump for failure messages."""
    lines = []
    for i, s in enumerate(recording.streams):
        lines.append("stream %d @%d: %s" % (
            i, s.start, "stop" if s.ok else "error " + s.error_text()))
        for g in s.globals:
            lines.append("  global %d %r %r proto=%s" % (
                g.index, g.module, g.name, g.proto))
        for c in s.calls:
            lines.append("  call %d %s callee=%r args=%r kwargs=%r" % (
                c.index, c.kind, c.callee, c.args, c.kwargs))
    if recording.trailing is not None:
        lines.append("trailing @%d: %s" % (recording.trailing.start,
                                           recording.trailing.error_text()))
    return "\n".join(lines)
