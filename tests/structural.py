"""Structural equality of objects read back from benign corpus files and
the objects they were saved from: same type, same content, recursively
(tensors, arrays, frames, sparse matrices, graphs, estimators' state)."""

import collections
import math
import pickle
import types


def _pickled_equal(a, b):
    try:
        return pickle.dumps(a, protocol=4) == pickle.dumps(b, protocol=4)
    except Exception:
        return False


def _catboost_json(model):
    import json
    import os
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.json")
        model.save_model(path, format="json")
        with open(path) as f:
            return json.load(f)


def _is_named(obj):
    """Classes and functions pickle as a reference to their name; a bound
    builtin method ([].append) pickles as getattr(its object, name)."""
    if isinstance(obj, (type, types.FunctionType)):
        return True
    return isinstance(obj, types.BuiltinFunctionType) and (
        obj.__self__ is None or isinstance(obj.__self__, types.ModuleType))


def _name(obj):
    return "%s.%s" % (getattr(obj, "__module__", None), obj.__qualname__)


def _reduced(obj):
    """What pickle saves of obj: (callable, args, state, list items, dict
    items), iterators read into lists; None when obj has no such form.
    Compares what pickles differently for an incidental reason (such as a
    tensor's storage inside a bound method's object) part by part, and
    sees the state that a plain vars() comparison would miss (a
    functools.partial's arguments, a random.Random's generator state)."""
    try:
        parts = list(obj.__reduce_ex__(4))
    except Exception:
        return None
    if not isinstance(parts[0], types.FunctionType) and len(parts) < 2:
        return None
    parts += [None] * (5 - len(parts))
    for i in (3, 4):
        if parts[i] is not None:
            parts[i] = list(parts[i])
    return tuple(parts)


def same(a, b, path="obj", ordered=True):
    """None when equal, else a message saying where they differ."""
    if type(a) is not type(b):
        return "%s: type %r != %r" % (path, type(a), type(b))
    if isinstance(a, float):
        if a == b or (math.isnan(a) and math.isnan(b)):
            return None
        return "%s: %r != %r" % (path, a, b)
    if isinstance(a, (str, bytes, bytearray, int, complex, type(None))):
        return None if a == b else "%s: %r != %r" % (path, a, b)
    module = type(a).__module__.split(".")[0]
    if module == "torch":
        import torch
        if isinstance(a, torch.Tensor):
            if a.dtype != b.dtype or a.shape != b.shape or not torch.equal(a, b):
                return "%s: tensors differ" % path
            return None
        if isinstance(a, torch.nn.Module) or hasattr(a, "state_dict"):
            # Modules, optimizers, LR schedulers: their state, not the
            # transient attributes pickling leaves out.
            return same(a.state_dict(), b.state_dict(), path + ".state_dict()")
    if module == "numpy":
        import numpy
        if isinstance(a, numpy.ma.MaskedArray):
            diff = same(numpy.ma.getmaskarray(a), numpy.ma.getmaskarray(b), path + ".mask")
            return diff or same(a.data, b.data, path + ".data")
        if isinstance(a, numpy.ndarray):
            if a.dtype != b.dtype or a.shape != b.shape:
                return "%s: dtype/shape %s%s != %s%s" % (path, a.dtype, a.shape, b.dtype, b.shape)
            if a.dtype.hasobject:
                return same(a.ravel().tolist(), b.ravel().tolist(), path)
            nan_ok = a.dtype.kind in "fc"
            if not numpy.array_equal(a, b, equal_nan=nan_ok):
                return "%s: arrays differ" % path
            return None
        if isinstance(a, numpy.generic):
            return None if a == b or (a != a and b != b) else "%s: %r != %r" % (path, a, b)
    if module == "pandas":
        import pandas.testing
        try:
            if hasattr(a, "columns"):
                pandas.testing.assert_frame_equal(a, b)
            elif hasattr(a, "index"):
                pandas.testing.assert_series_equal(a, b)
            elif not a.equals(b):
                return "%s: pandas objects differ" % path
        except AssertionError as e:
            return "%s: %s" % (path, str(e).splitlines()[0])
        return None
    if module == "scipy":
        if a.shape != b.shape or a.format != b.format or (a != b).nnz:
            return "%s: sparse matrices differ" % path
        return None
    if module == "networkx":
        import networkx
        if not networkx.utils.graphs_equal(a, b):
            return "%s: graphs differ" % path
        return None
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return "%s: length %d != %d" % (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            diff = same(x, y, "%s[%d]" % (path, i))
            if diff:
                return diff
        return None
    if isinstance(a, dict):
        if isinstance(a, collections.defaultdict):
            diff = same(a.default_factory, b.default_factory, path + ".default_factory")
            if diff:
                return diff
        keys_a, keys_b = list(a), list(b)
        if not ordered:
            keys_a, keys_b = sorted(keys_a, key=repr), sorted(keys_b, key=repr)
        if keys_a != keys_b:
            return "%s: keys %r != %r" % (path, list(a)[:5], list(b)[:5])
        for key in a:
            diff = same(a[key], b[key], "%s[%r]" % (path, key))
            if diff:
                return diff
        return None
    if module == "catboost":
        # The embedded parameter JSON follows the process's dict order:
        # compare the models' JSON documents as data.
        return None if _catboost_json(a) == _catboost_json(b) else \
            "%s: catboost models differ" % path
    if _pickled_equal(a, b):
        return None
    if _is_named(a):
        return None if _name(a) == _name(b) else "%s: %s != %s" % (path, _name(a), _name(b))
    reduced = _reduced(a), _reduced(b)
    if None not in reduced:
        return same(reduced[0], reduced[1], path + ".__reduce_ex__(4)", ordered=False)
    if hasattr(a, "__dict__") and vars(a):
        # Attribute order depends on how the object was rebuilt.
        return same(vars(a), vars(b), path + ".__dict__", ordered=False)
    if hasattr(a, "state_dict"):
        return same(a.state_dict(), b.state_dict(), path + ".state_dict()")
    if hasattr(a, "__getstate__"):
        return same(a.__getstate__(), b.__getstate__(), path + ".__getstate__()")
    return None if a == b else "%s: %r != %r" % (path, a, b)
