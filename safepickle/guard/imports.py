"""Patch libraries that are imported after patch(): a meta path finder that
lets the real finder and loader do their work and applies the library's
hooks as soon as its module has run."""

import importlib.abc
import sys
import threading


class PatchOnImport(importlib.abc.MetaPathFinder):
    """Calls ``on_import(name, module)`` once each watched top-level module
    has executed. Finding and loading stay with the finders after it."""

    def __init__(self, watched, on_import):
        self._watched = set(watched)
        self._on_import = on_import
        self._busy = threading.local()

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in self._watched or getattr(self._busy, "name", None) == fullname:
            return None
        self._busy.name = fullname
        try:
            spec = None
            for finder in sys.meta_path:
                if finder is self or not hasattr(finder, "find_spec"):
                    continue
                spec = finder.find_spec(fullname, path, target)
                if spec is not None:
                    break
        finally:
            self._busy.name = None
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        self._wrap_exec(loader, fullname)
        return spec

    def _wrap_exec(self, loader, fullname):
        # The loader object is this module's own (a fresh SourceFileLoader
        # per spec): its exec_module is wrapped on the instance only, and
        # the instance attribute is dropped once it has run.
        real_exec = loader.exec_module
        on_import = self._on_import

        def exec_module(module):
            try:
                del loader.exec_module
            except AttributeError:
                pass
            real_exec(module)
            on_import(fullname, module)

        try:
            loader.exec_module = exec_module
        except (AttributeError, TypeError):
            pass
