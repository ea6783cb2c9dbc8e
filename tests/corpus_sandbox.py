"""Load one corpus file in a throw-away subprocess with its real loader.

Malicious training samples run their payload when loaded: they are only
ever loaded here, in a child process with a timeout, a scratch working
directory and a minimal environment; the caller then looks for the canary
file the payload was generated to create.
"""

import json
import os
import subprocess
import sys

CHILD = r"""
import json, sys, warnings
warnings.filterwarnings("ignore")
loader, path = sys.argv[1], sys.argv[2]
if loader == "pickle":
    import pickle
    with open(path, "rb") as f:
        obj = pickle.load(f)
elif loader == "pandas":
    import pandas
    obj = pandas.read_pickle(path)
elif loader == "torch":
    import torch
    obj = torch.load(path, weights_only=False)
elif loader == "joblib":
    import joblib
    obj = joblib.load(path)
elif loader == "numpy":
    import numpy
    obj = numpy.load(path, allow_pickle=True)
else:
    raise SystemExit("unknown loader " + loader)
t = type(obj)
sys.stdout.write("\nLOADED " + json.dumps(t.__module__ + "." + t.__qualname__) + "\n")
sys.stdout.flush()
"""


def load_in_subprocess(loader, path, workdir, timeout=60):
    """(returncode, loaded type name or None, stderr tail)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "HOME": workdir, "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1"}
    for name in ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "PYTHONMALLOC"):
        if name in os.environ:
            env[name] = os.environ[name]
    try:
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, loader, os.path.abspath(path)],
            cwd=workdir, env=env, stdin=subprocess.DEVNULL,
            capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, None, "timeout after %s s" % timeout
    loaded = None
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        if line.startswith("LOADED "):
            loaded = json.loads(line[len("LOADED "):])
    return proc.returncode, loaded, proc.stderr.decode("utf-8", "replace")[-2000:]
