"""The verdicts a runner can give a file, and what a load guard does with
each."""

BENIGN = "benign"
UNSAFE = "unsafe"
ERROR = "error"
# The tool looked at the file and declined to scan it (unknown extension,
# unsupported container). A guard built on the tool lets such a file load.
SKIPPED = "skipped"

ALL = (BENIGN, UNSAFE, ERROR, SKIPPED)


def blocks_load(verdict):
    """Whether a guard that trusts this verdict refuses to load the file.

    An error blocks: a guard that cannot decide must not let the load go
    ahead. A skipped file passes, because the guard had nothing against it.
    """
    if verdict not in ALL:
        raise ValueError("unknown verdict %r" % (verdict,))
    return verdict in (UNSAFE, ERROR)
