"""Guarded load, loads and Unpickler for pickle and _pickle, both the C
functions and the pure-Python twins (pickle._load, _loads, _Unpickler),
which are also the drop-ins safepickle.load, loads and Unpickler."""

import _pickle
import functools
import pickle

from . import callers, gated, state
from .check import checked_reader, file_snapshot, scanned_bytes, scanned_file, sync_position
from .reader import SCANNED_READERS, BufferedScannedReader, ScannedReader, buffered
from .stream_payloads import with_holes

# The real functions, taken before anything here is patched.
C_LOAD = _pickle.load
C_LOADS = _pickle.loads
C_UNPICKLER = _pickle.Unpickler
PY_LOAD = pickle._load
PY_LOADS = pickle._loads
PY_UNPICKLER = pickle._Unpickler
PY_UNPICKLER_INIT = pickle._Unpickler.__init__
PY_UNPICKLER_LOAD = pickle._Unpickler.load


def _unchecked(file):
    return state.passes_through() or isinstance(file, SCANNED_READERS)


def guarded_load(original):
    """load(file, ...) that scans the rest of ``file`` first."""

    @functools.wraps(original)
    def load(file, **kwargs):
        if _unchecked(file):
            return original(file, **kwargs)
        policy = state.current_policy()
        if callers.trusted(policy, 1):
            with state.inside_guarded_load():
                return original(file, **kwargs)
        snapshot, start = file_snapshot(file, plan_holes=with_holes)
        if original is C_LOAD and gated.fits(snapshot):
            # _pickle over a file: the reading the gate is computed for
            return gated.load(
                snapshot,
                lambda reader: original(reader, **kwargs),
                policy,
                on_end=lambda reader: sync_position(file, start, reader),
            )
        reader = checked_reader(snapshot, policy=policy)
        try:
            with buffered(reader) as source:
                return original(source, **kwargs)
        finally:
            sync_position(file, start, reader)
            reader.close()

    load.__safepickle_original__ = original
    return load


def guarded_loads(original, load_from_file=None):
    """loads(data, ...) that scans ``data`` first. ``load_from_file``, when
    given, loads from a reader over the scanned bytes instead (the pure
    Python loads would wrap them in a BytesIO the Unpickler scans again)."""

    @functools.wraps(original)
    def loads(data, /, **kwargs):
        if state.passes_through():
            return original(data, **kwargs)
        policy = state.current_policy()
        if callers.trusted(policy, 1):
            with state.inside_guarded_load():
                return original(data, **kwargs)
        snapshot = scanned_bytes(data, policy=policy)
        if load_from_file is not None:
            with ScannedReader(snapshot) as reader, buffered(reader) as source:
                return load_from_file(source, **kwargs)
        try:
            return original(snapshot.buffer if not snapshot.mapped else snapshot.view(), **kwargs)
        finally:
            snapshot.close()

    loads.__safepickle_original__ = original
    return loads


def _guard_input(unpickler, file):
    """The reader an unpickler should read instead of ``file``; remembers
    where ``file`` was so that load() can leave it where a plain load would.
    Called by the unpickler's __init__: whoever called that is the caller
    the policy may trust."""
    if _unchecked(file):
        return file
    policy = state.current_policy()
    if callers.trusted(policy, 2):
        unpickler._safepickle_trusted = True
        return file
    reader, start = scanned_file(file, policy=policy, plan_holes=with_holes)
    # buffered for good: the unpickler may load several pickles from it
    source = BufferedScannedReader(reader)
    unpickler._safepickle_source = (file, start, source)
    return source


def _load(unpickler, original_load):
    """original_load(unpickler), as the unpickler's load() should run it: a
    trusted caller's unpickler, like a trusted load, lets the loads nested
    in what it reads through."""
    if getattr(unpickler, "_safepickle_trusted", False):
        with state.inside_guarded_load():
            return original_load(unpickler)
    return original_load(unpickler)


def _after_load(unpickler):
    source = getattr(unpickler, "_safepickle_source", None)
    if source is not None:
        sync_position(*source)


def guarded_init(original_init):
    """An Unpickler __init__ that scans its input first, for patching a
    class in place (pickle._Unpickler and every subclass inherit it)."""

    @functools.wraps(original_init)
    def __init__(self, file, *args, **kwargs):
        original_init(self, _guard_input(self, file), *args, **kwargs)

    __init__.__safepickle_original__ = original_init
    return __init__


def guarded_unpickler_load(original_load):
    @functools.wraps(original_load)
    def load(self):
        try:
            return _load(self, original_load)
        finally:
            _after_load(self)

    load.__safepickle_original__ = original_load
    return load


class Unpickler(C_UNPICKLER):
    """pickle.Unpickler that scans the rest of its file when created and
    raises UnsafePickleError there, before anything is read from it."""

    def __init__(self, file, *args, **kwargs):
        super().__init__(_guard_input(self, file), *args, **kwargs)

    def load(self):
        try:
            return _load(self, C_UNPICKLER.load)
        finally:
            _after_load(self)


load = guarded_load(C_LOAD)
loads = guarded_loads(C_LOADS)


def pickle_patches():
    """(owner, attribute, guarded value) for the pickle modules."""
    return [
        (pickle, "load", load),
        (pickle, "loads", loads),
        (pickle, "Unpickler", Unpickler),
        (_pickle, "load", load),
        (_pickle, "loads", loads),
        (_pickle, "Unpickler", Unpickler),
        (pickle, "_load", guarded_load(PY_LOAD)),
        (pickle, "_loads", guarded_loads(PY_LOADS, load_from_file=PY_LOAD)),
        # In place: joblib, dill and others subclassed it at import time.
        (PY_UNPICKLER, "__init__", guarded_init(PY_UNPICKLER_INIT)),
        (PY_UNPICKLER, "load", guarded_unpickler_load(PY_UNPICKLER_LOAD)),
    ]


def _subclasses(cls):
    todo = list(type.__subclasses__(cls))
    while todo:
        sub = todo.pop()
        yield sub
        todo.extend(type.__subclasses__(sub))


def existing_subclass_patches():
    """Subclasses of the C Unpickler that exist now were made from the
    real class and would not see the module attribute change: give their
    __init__ and load the guard in place."""
    patches = []
    for sub in _subclasses(C_UNPICKLER):
        if issubclass(sub, Unpickler):
            continue
        own_init = sub.__dict__.get("__init__")
        own_load = sub.__dict__.get("load")
        init = own_init if own_init is not None else _super_init(sub)
        load_ = own_load if own_load is not None else _super_load(sub)
        patches.append((sub, "__init__", guarded_init(init)))
        patches.append((sub, "load", guarded_unpickler_load(load_)))
    return patches


def _super_init(cls):
    def __init__(self, *args, **kwargs):
        super(cls, self).__init__(*args, **kwargs)

    return __init__


def _super_load(cls):
    def load(self):
        return super(cls, self).load()

    return load
