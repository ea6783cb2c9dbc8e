"""Copies of the loaders, bound before the guard replaced them.

``from pickle import loads`` copies a reference into the importing module;
patching ``pickle.loads`` later does not reach it. Such copies are common in
code that loads models or messages: cloudpickle's ``load``/``loads``,
``shelve.Unpickler``, torch.distributed's ``_unpickler`` (the object
collectives), ``multiprocessing``'s ``ForkingPickler.loads``, loky's
``loads``, a user's own ``from torch import load``. Whether they were guarded
depended on whether the module was imported before or after ``patch()``.

So after each set of patches the guard looks through every loaded module's
globals (and the few classes below) for the functions and classes it has
just replaced, and rebinds each copy to the guarded version, recorded like
every other patch so that ``unpatch()`` puts the original back. Copies made
later bind the guarded version by themselves.
"""

import sys
import types

# Classes that keep a loader as a class attribute: (module, class name).
CLASSES_WITH_COPIES = (("multiprocessing.reduction", "ForkingPickler"),)


def _ours(name):
    return name == "safepickle" or name.startswith("safepickle.")


def _matches(items, replaced):
    """(attribute, original, guarded) for each copy among ``items``."""
    out = []
    for attribute, value in items:
        guarded = replaced.get(id(value))
        if guarded is not None and guarded[0] is value:
            out.append((attribute, value, guarded[1]))
    return out


def _scan(namespace, replaced):
    try:
        return _matches(namespace.items(), replaced)
    except RuntimeError:
        # another thread changed the namespace while it was read: read a copy
        return _matches(list(namespace.items()), replaced)


def _subclass_modules(cls):
    modules, todo = set(), list(type.__subclasses__(cls))
    while todo:
        sub = todo.pop()
        modules.add(sub.__module__)
        todo.extend(type.__subclasses__(sub))
    return modules


def copies(replaced):
    """(owner, attribute, guarded) for every copy of a replaced object.
    ``replaced`` maps id(original) to (original, guarded)."""
    found = []
    if not replaced:
        return found
    for name, module in list(sys.modules.items()):
        if not isinstance(module, types.ModuleType) or _ours(name):
            continue
        # Not module.__dict__: a lazy module not yet loaded would load on
        # that attribute access.
        try:
            namespace = object.__getattribute__(module, "__dict__")
        except (AttributeError, TypeError):  # an object that passes for a module
            continue
        if not isinstance(namespace, dict):
            continue
        for attribute, original, guarded in _scan(namespace, replaced):
            # A module that subclassed a replaced class keeps its name for
            # it: the subclass (patched in place) still derives from the
            # original, and calls such as Base.__init__(self) in it need
            # the original. dill: from pickle import Unpickler as StockUnpickler.
            if isinstance(original, type) and name in _subclass_modules(original):
                continue
            found.append((module, attribute, guarded))
    for module_name, class_name in CLASSES_WITH_COPIES:
        cls = getattr(sys.modules.get(module_name), class_name, None)
        if isinstance(cls, type):
            found += [(cls, attr, guarded) for attr, _, guarded in _scan(cls.__dict__, replaced)]
    return found
