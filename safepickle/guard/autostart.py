"""Imported at interpreter start by the ``safepickle-guard.pth`` file that
``safepickle install-guard`` writes, only when SAFEPICKLE_GUARD=1 (the .pth
line checks the variable itself, so an unset variable costs nothing)."""

import sys


def _start():
    from . import patch

    try:
        patch()
    except ValueError as exc:
        # A bad SAFEPICKLE_* value: say so and stop rather than run unguarded.
        sys.stderr.write(f"safepickle: SAFEPICKLE_GUARD=1 but the guard cannot start: {exc}\n")
        raise SystemExit(2) from None


_start()
