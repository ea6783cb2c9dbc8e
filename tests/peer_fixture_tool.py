"""A stand-in peer for the worker tests: its behaviour is chosen by the file
name, so one batch can hold a file that passes, one that kills the worker,
one that hangs and one that writes where it should not."""

import os
import time

from benchmarks.peers.verdicts import BENIGN


def scan_file(path):
    name = os.path.basename(path)
    if "crash" in name:
        os._exit(3)
    if "hang" in name:
        time.sleep(60)
    if "litter" in name:
        with open("left-behind.txt", "w") as f:
            f.write("a side effect\n")
    if "env" in name:
        return BENIGN, " ".join(sorted(os.environ)), {}
    if "raise" in name:
        raise ValueError("cannot read " + name)
    return BENIGN, "read " + name, {"twin": BENIGN}
