"""``torch.load(path, weights_only=True, map_location="cpu")``: the loader's
own restricted unpickler, which only admits tensors, containers and a fixed
set of torch and builtin types.

Unlike the other runners this one really loads the file. ``weights_only``
is built to refuse every callable outside its allowlist before anything
runs, but the corpus holds real exploits, so the worker that calls it is
a throw-away process with a stripped environment in an empty temporary
directory, and ``batch.py`` fails the run if that directory is not empty
afterwards.

Mapping (torch 2.x):

- the load returns: ``benign``.
- ``pickle.UnpicklingError`` (torch wraps every refusal of its weights-only
  unpickler in one: a global or opcode outside its allowlist): ``unsafe``.
  The load is blocked.
- ``RuntimeError`` "Cannot use ``weights_only=True`` with TorchScript
  archives": ``unsafe``; torch refuses to hand the archive to
  ``torch.jit.load``.
- anything else (not a torch file, a corrupt zip, a bad magic number, a
  tensor that does not fit its storage): ``error``.
"""

import os
import pickle

import torch

from .verdicts import BENIGN, ERROR, UNSAFE

# Either variable would change what torch.load does: the first turns
# weights_only off whatever the call says.
for _name in ("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_WEIGHTS_ONLY_LOAD"):
    if _name in os.environ:
        raise RuntimeError("%s is set; refusing to run torch.load" % _name)

torch.set_num_threads(1)

# torch wraps the unpickler's own message in advice; keep the message.
_WEIGHTS_UNPICKLER = "WeightsUnpickler error:"


def _reason(exc):
    text = str(exc)
    if _WEIGHTS_UNPICKLER in text:
        text = text.split(_WEIGHTS_UNPICKLER, 1)[1]
    elif text.startswith("Weights only load failed"):
        # The advice first, then the unpickler's message after a blank line.
        text = text.split("\n\n", 1)[-1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def scan_file(path):
    try:
        loaded = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        return UNSAFE, "refused: " + _reason(exc), {}
    except RuntimeError as exc:
        if "weights_only=True`` with TorchScript" in str(exc):
            return UNSAFE, "refused: TorchScript archive", {}
        return ERROR, "%s: %s" % (type(exc).__name__, _reason(exc)), {}
    except Exception as exc:
        return ERROR, "%s: %s" % (type(exc).__name__, _reason(exc)), {}
    return BENIGN, "loaded a %s" % type(loaded).__name__, {}
