"""Unpickle a snapshot with nothing able to run, while its scan goes on.

A guarded load of a large pickle would cost the scan plus the load. The scan
runs in C without the GIL, so it can run in a thread of its own (pending.py)
while this thread unpickles the same snapshot with ``Speculative``: an
unpickler under which nothing the input names can run.

- ``find_class`` hands out a stand-in (``StandIn``) for the three names
  numpy rebuilds its arrays from (numpy.save writes object arrays as a
  pickle of exactly these), and refuses every other name, before importing
  anything.
- Calling a stand-in (REDUCE, INST, OBJ) records a ``Call``; BUILD on a
  Call records its state. Neither calls numpy.
- It has no persistent_load, so PERSID fails. Extension codes are looked up
  through find_class, except those in copyreg's cache of codes already
  loaded: ``usable()`` refuses to speculate while that cache holds any.
- Every other value is a builtin (str, bytes, int, tuple, list, dict...),
  made and hashed by the interpreter's own code.

What it built is used only after the verdict lets the load go ahead. Then
``replay()`` makes the recorded calls in their order with the real numpy
objects (found by the loader's own find_class) and returns what the real
unpickler would have returned. It gives up (``Abandon``) when a stand-in or
the tuple holding one is referenced anywhere the replay cannot swap it out,
for instance from inside the data through the memo. On giving up, or on any
error while speculating, the caller runs the real loader from where the
speculation started, after the verdict, as a guard without speculation does.
"""

import _pickle
import collections
import copyreg
import io
import sys

# (module, name) as the stream spells them; no _compat_pickle mapping
# applies to numpy's names at any protocol.
STAND_IN_NAMES = frozenset(
    {
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }
)

# The keyword arguments of pickle.load and loads that the speculation can
# honour; a ``buffers`` iterable is the caller's and may be read only once.
LOAD_KEYWORDS = frozenset({"fix_imports", "encoding", "errors"})

_BUFFER = 128 * 1024


# The same names as the scan's report spells them.
STAND_IN_GLOBALS = frozenset(f"{module}.{name}" for module, name in STAND_IN_NAMES)


def rules_out(report):
    """True when a scan's report shows that speculating is in vain: the
    load will be refused, or the input names a global find_class refuses."""
    return report.verdict != "benign" or not STAND_IN_GLOBALS.issuperset(report.globals)


class Abandon(Exception):
    """The speculation cannot stand for the real load."""


class StandIn:
    """A global the input names, not looked up yet."""

    __slots__ = ("module", "name", "log")

    def __init__(self, module, name, log):
        self.module = module
        self.name = name
        self.log = log

    def __call__(self, *args):
        call = Call(self, args, self.log)
        self.log.append(("call", call))
        return call


class Call:
    """A call of a stand-in, not made yet."""

    __slots__ = ("func", "args", "log")

    def __init__(self, func, args, log):
        self.func = func
        self.args = args
        self.log = log

    def __setstate__(self, state):
        self.log.append(("build", self, state))


class Speculative(_pickle.Unpickler):
    """The real C unpickler with every name it looks up replaced or refused
    (see the module's docstring). Never patched: it is not a hook."""

    __safepickle_internal__ = True

    def __init__(self, file, **kwargs):
        super().__init__(file, **kwargs)
        self.log = []
        self.made = []

    def find_class(self, module, name):
        if (module, name) not in STAND_IN_NAMES or "numpy" not in sys.modules:
            raise Abandon(f"{module}.{name}")
        stand_in = StandIn(module, name, self.log)
        self.made.append(stand_in)
        self.log.append(("global", stand_in))
        return stand_in


class _ViewReader(io.RawIOBase):
    """A read-only file over a view it does not own."""

    def __init__(self, view, start, stop):
        super().__init__()
        self._view = view
        self._pos = start
        self._stop = stop

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=io.SEEK_SET):
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence == io.SEEK_END:
            offset += len(self._view)
        self._pos = max(0, offset)
        return self._pos

    def readinto(self, buffer):
        if self._stop():
            raise Abandon("the scan's report rules the speculation out")
        n = max(0, min(len(buffer), len(self._view) - self._pos))
        buffer[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        return n


def usable(kwargs):
    """True when a load with these keyword arguments may be speculated on."""
    return set(kwargs) <= LOAD_KEYWORDS and not copyreg._extension_cache


class Speculation:
    """What ``run`` built: the value, where the pickle ended, and the
    stand-ins and calls to replay."""

    __slots__ = ("value", "end", "log", "made", "kwargs")

    def __init__(self, value, end, log, made, kwargs):
        self.value = value
        self.end = end
        self.log = log
        self.made = made
        self.kwargs = kwargs


def run(snapshot, start, kwargs, stop):
    """Unpickle the pickle at ``start`` of ``snapshot``; a Speculation, or
    None when it failed for any reason (the real loader will say which).
    ``stop()``, asked at every read, ends it early when true: the scan has
    found what the speculation would fail on (a name it refuses) or what
    refuses the load, and the rest of it would be wasted work."""
    view = snapshot.view()
    try:
        with io.BufferedReader(_ViewReader(view, start, stop), buffer_size=_BUFFER) as source:
            unpickler = Speculative(source, **kwargs)
            try:
                value = unpickler.load()
            except Exception:
                return None
            end = source.tell()
            log, made = unpickler.log, unpickler.made
            # the memo and stack go with it: they held stand-ins too
            del unpickler
    finally:
        view.release()
    return Speculation(value, end, log, made, kwargs)


def _holders(log, root):
    """How many references the records (and ``root``) hold to each
    stand-in, and to each tuple that holds one, by id."""
    count = collections.Counter()

    def is_stand_in(value):
        return isinstance(value, (StandIn, Call))

    if is_stand_in(root):
        count[id(root)] += 1
    for entry in log:
        for item in entry[1:]:
            count[id(item)] += 1
        if entry[0] == "call":
            call = entry[1]
            count[id(call.func)] += 1
            count[id(call.args)] += 1
            for arg in call.args:
                if is_stand_in(arg):
                    count[id(arg)] += 1
        elif entry[0] == "build" and type(entry[2]) is tuple:
            for item in entry[2]:
                if is_stand_in(item):
                    count[id(item)] += 1
    return count


def _held_only_by_records(spec):
    """No stand-in, and no tuple the replay rebuilds, is referenced from
    anywhere else (the data, through the memo)."""
    count = _holders(spec.log, spec.value)
    for stand_in in spec.made:
        # + the list, the loop variable and getrefcount's own argument
        if sys.getrefcount(stand_in) != count[id(stand_in)] + 3:
            return False
    for entry in spec.log:
        if entry[0] == "call":
            carrier = entry[1].args
        elif entry[0] == "build" and type(entry[2]) is tuple:
            carrier = entry[2]
        else:
            continue
        # + the loop's hold through ``entry`` is already counted; the
        # variable and the argument
        if sys.getrefcount(carrier) != count[id(carrier)] + 2:
            return False
    return True


def _refcounts_usable():
    """sys.getrefcount counts as _held_only_by_records expects (CPython)."""
    probe = StandIn("", "", [])
    made = [probe]
    holder = (probe,)
    for item in made:
        # the variable, the list, the tuple, the loop variable, the argument
        return len(holder) == 1 and sys.getrefcount(item) == 5


_REFCOUNTS = _refcounts_usable()


def replay(spec):
    """The real load's value; raises Abandon if it cannot be rebuilt."""
    if not spec.made:
        return spec.value
    if not _REFCOUNTS or not _held_only_by_records(spec):
        raise Abandon("a stand-in is referenced from the data")
    kwargs = dict(spec.kwargs)
    find_class = _pickle.Unpickler(io.BytesIO(b""), **kwargs).find_class
    real = {}

    def swap(value):
        if isinstance(value, (StandIn, Call)):
            return real[id(value)]
        return value

    try:
        for entry in spec.log:
            kind, item = entry[0], entry[1]
            if kind == "global":
                real[id(item)] = find_class(item.module, item.name)
            elif kind == "call":
                real[id(item)] = swap(item.func)(*[swap(arg) for arg in item.args])
            else:
                state = entry[2]
                state = tuple(swap(v) for v in state) if type(state) is tuple else swap(state)
                setstate = getattr(real[id(item)], "__setstate__", None)
                if setstate is None:
                    raise Abandon("BUILD without __setstate__")
                setstate(state)
        return swap(spec.value)
    except Abandon:
        raise
    except Exception as exc:
        raise Abandon(f"replay failed: {exc!r}") from None
