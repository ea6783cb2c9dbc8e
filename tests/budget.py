"""How many hypothesis examples a property gets.

The sanitized run of the suite (scripts/test.sh) sets SAFEPICKLE_EXAMPLES_SCALE
below 1: AddressSanitizer makes every example several times slower, and what
it checks (memory errors on each code path) needs fewer random inputs than the
differential properties do in the normal run.
"""
import os


def scaled(n):
    scale = float(os.environ.get("SAFEPICKLE_EXAMPLES_SCALE", "1"))
    return max(10, int(n * scale))
