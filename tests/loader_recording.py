"""Real loaders (torch.load, joblib.load, numpy.load) run over the recorder.

tests/recording.py runs a bare unpickler in a world of stubs. A loader adds
its own code around the unpickler: it picks the bytes (a zip record, a
decompressed stream, the bytes after an .npy header), decides how many
pickles to read, and hooks find_class and persistent_load. Running the real
loader with only the name resolution replaced shows which pickles it
actually runs and what each of them asks for, which is what the engine's
container readers must reproduce.

A `Session` collects one loader run: every top-level load is a stream in
`streams`, and every load made while another one is in progress (joblib's
object arrays) is appended to `nested` with the place it happened.
"""

import codecs
import contextlib
import pickle
import types
from dataclasses import dataclass
from typing import Optional

from . import recording as R


@dataclass
class Nested:
    outer: int  # index of the stream that was running
    outer_globals: int  # how many globals that stream had resolved by then
    stream: R.Stream


class Session:
    def __init__(self, impl="c"):
        self.recorder = R._Recorder(impl)
        self.streams = []
        self.nested = []
        # what the loader call raised in the end, from a pickle or not
        self.loader_error: Optional[BaseException] = None
        self.label = None  # which member of an archive is being read
        self.labels = []  # label of each top-level stream

    def run(self, fileobj, load):
        """Record `load()`, which unpickles from `fileobj`, as one stream."""
        outer = self.recorder.stream
        stream = R.Stream(start=fileobj.tell())
        if outer is None:
            self.streams.append(stream)
            self.labels.append(self.label)
        else:
            where = next(i for i, s in enumerate(self.streams)
                         if s is outer)
            self.nested.append(Nested(where, len(outer.globals), stream))
        self.recorder.stream = stream
        try:
            result = load()
        except Exception as exc:
            stream.error = exc
            raise
        else:
            stream.end = fileobj.tell()
            stream.result = R.shape(result, stream)
            return result
        finally:
            self.recorder.stream = outer

    def global_names(self, stream):
        return [(g.module, g.name) for g in stream.globals]

    def describe(self):
        text = R.describe(R.Recording(self.streams, None, self.recorder.impl))
        for n in self.nested:
            text += "\nnested in stream %d after %d globals:\n  " % (
                n.outer, n.outer_globals)
            text += R.describe(R.Recording([n.stream], None, "py")).replace(
                "\n", "\n  ")
        if self.loader_error is not None:
            text += "\nloader then raised %s: %s" % (
                type(self.loader_error).__name__, self.loader_error)
        return text


@contextlib.contextmanager
def extension_registry_restored():
    with R._ExtensionRegistrySnapshot():
        yield


# ---- torch -----------------------------------------------------------------


def torch_pickle_module(session):
    """A stand-in for the `pickle` module torch.load is given.

    torch subclasses `Unpickler` and overrides find_class in the subclass:
    names containing "Storage" resolve to a StorageType there, and
    `torch.tensor` is renamed before the lookup. Both only choose which
    object a name resolves to, and here every name resolves to a stub, so
    the override is put back to the recorder's: find_class then sees the
    names exactly as the C loader passes them, which is what the engine
    reports. torch also assigns its persistent_load to the instance; the
    recorder's method stays in force (the C loader binds persistent_load
    when the unpickler is created, and a method on the class makes the
    assignment land in the instance dict), so persistent ids are recorded
    and no storage is ever read.
    """

    class Unpickler(R.CRecordingUnpickler):
        overridden = []  # the find_class overrides that were put back

        def __init_subclass__(cls, **kwargs):
            super().__init_subclass__(**kwargs)
            if "find_class" in cls.__dict__:
                Unpickler.overridden.append(cls.__qualname__)
            cls.find_class = R._RecorderMixin.find_class

        def __init__(self, file, *args, **kwargs):
            super().__init__(file, *args, **kwargs)
            self._recorder = session.recorder
            self._sp_file = file

        def load(self):
            return session.run(self._sp_file, super().load)

        def persistent_load(self, pid):
            stub = super().persistent_load(pid)
            # the legacy format saves a module's class as the id
            # ("module", cls, source_file, source), and torch's
            # persistent_load hands back cls, which NEWOBJ then
            # instantiates: NEWOBJ wants a type, so the result is a stub
            # type standing for this call's result (a stub instance would
            # make NEWOBJ fail where torch goes on)
            if (isinstance(pid, tuple) and len(pid) > 1
                    and pid[0] in ("module", b"module")):
                ref = object.__getattribute__(stub, "_sp_ref")
                return R._make_stub_type(ref, "persistent_load", "result")
            return stub

    def load(file, **kwargs):
        return Unpickler(file, **kwargs).load()

    module = types.ModuleType("recording_pickle")
    module.Unpickler = Unpickler
    module.load = load
    # torch pickles nothing through this module, but its legacy loader
    # refers to the pickle module's error types
    module.UnpicklingError = pickle.UnpicklingError
    return module


# ---- numpy -----------------------------------------------------------------


def numpy_pickle_module(session):
    """A stand-in for the `pickle` module numpy's .npy reader calls:
    `load(fp, **kwargs)` is what `pickle.load` does, on the recorder."""

    def load(file, **kwargs):
        unpickler = R.CRecordingUnpickler(file, **kwargs)
        unpickler._recorder = session.recorder
        return session.run(file, unpickler.load)

    module = types.ModuleType("recording_pickle")
    module.load = load
    module.loads = None  # numpy's reader has no business with loads
    module.UnpicklingError = pickle.UnpicklingError
    return module


# ---- joblib ----------------------------------------------------------------


def _real_joblib_classes():
    """The names joblib's unpickler resolves to real objects while
    recording, because joblib's own code needs them to walk the file.

      * NumpyArrayWrapper: joblib's BUILD hook reads the raw array bytes
        that follow the wrapper only if the object on the stack *is* one;
        with a stub there the pickle machine would run into array bytes.
        Its state is data (shape, order, dtype, subclass, flags).
      * numpy.dtype: the wrapper's dtype says how many bytes to read and
        whether a nested object-array pickle follows (dtype.hasobject).
      * numpy.ndarray and multiarray._reconstruct: the nested pickle of an
        object array must come back as an array, because joblib checks its
        byte order afterwards; _reconstruct builds an empty array of a
        given ndarray type and BUILD fills it in (ndarray.__setstate__).
      * _codecs.encode: protocol 2 spells bytes as a call to it, and
        _reconstruct's third argument is such bytes.
      * numpy.matrix: the one ndarray subclass the corpus files rebuild
        with _reconstruct, which insists on a real ndarray type.
      * sklearn.externals.joblib's NumpyArrayWrapper: files written by
        the copy of joblib that scikit-learn used to ship name its wrapper;
        that copy's loader is the same code as joblib's, and reads the
        array bytes after it just as joblib's does after its own.

    All of these only build data. Everything else, including the old
    format's NDArrayWrapper and ZNDArrayWrapper (which open companion files
    named in the pickle and np.load them), is a stub.
    """
    import numpy

    from joblib import numpy_pickle

    real = {
        ("joblib.numpy_pickle", "NumpyArrayWrapper"):
            numpy_pickle.NumpyArrayWrapper,
        ("numpy", "dtype"): numpy.dtype,
        ("numpy", "ndarray"): numpy.ndarray,
        ("_codecs", "encode"): codecs.encode,
        ("numpy", "matrix"): numpy.matrix,
        ("numpy.matrixlib.defmatrix", "matrix"): numpy.matrix,
        ("sklearn.externals.joblib.numpy_pickle", "NumpyArrayWrapper"):
            numpy_pickle.NumpyArrayWrapper,
    }
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy 1.x
        from numpy.core import multiarray
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        real[(module, "_reconstruct")] = multiarray._reconstruct
    return real


@contextlib.contextmanager
def joblib_recording(session, monkeypatch):
    """joblib.load with every class resolved by the recorder, except the
    data-only ones of `_real_joblib_classes`.

    joblib's unpicklers are the pure-Python one. The globals are recorded
    as find_class receives them (raw names, before the protocol < 3
    rename); a real object is looked up by those raw names too, which is
    what joblib writes. joblib reads an object array with a fresh
    `Unpickler` whose find_class is the outer one's: that class is replaced
    by one that marks where the nested load starts and ends, nothing else.
    """
    from joblib import numpy_pickle, numpy_pickle_compat

    real = _real_joblib_classes()
    recorder = session.recorder

    def find_class(self, module, name):
        stub = recorder.record_global(self, module, name)
        return real.get((module, name), stub)

    def outer_load(self):
        return session.run(self.file_handle,
                           lambda: pickle._Unpickler.load(self))

    class NestedUnpickler(pickle._Unpickler):
        # NumpyUnpickler.__init__ calls this through the module's name
        # too, on an instance of its own class: hence no super()
        def __init__(self, file, *args, **kwargs):
            pickle._Unpickler.__init__(self, file, *args, **kwargs)
            self._sp_file = file

        def load(self):
            return session.run(self._sp_file, super().load)

    for cls in (numpy_pickle.NumpyUnpickler,
                numpy_pickle_compat.ZipNumpyUnpickler):
        monkeypatch.setattr(cls, "find_class", find_class)
        monkeypatch.setattr(cls, "load", outer_load)
    monkeypatch.setattr(numpy_pickle, "Unpickler", NestedUnpickler)
    with extension_registry_restored():
        yield
