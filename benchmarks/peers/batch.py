"""Run one peer on many files, in throw-away worker processes.

Files go to a worker in batches. When a worker crashes or runs out of time,
the files it finished keep their results and each remaining file of the
batch is retried alone in a fresh worker, so that one pathological file
ends up as ``error`` for itself only.

Every worker starts in a new empty temporary directory, which is also its
HOME and TMPDIR, with an environment that holds nothing but what Python
needs (no LD_PRELOAD, no TORCH_* switches). The static scanners never load
a file and ``torch.load(weights_only=True)`` refuses callables, so nothing
is expected to run; if a worker still leaves anything behind in that
directory, the run stops with ``SideEffectError``.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .verdicts import ERROR

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER_MODULE = "benchmarks.peers.worker"

BATCH_SIZE = 25
BATCH_TIMEOUT = 600.0
FILE_TIMEOUT = 120.0


class SideEffectError(RuntimeError):
    """A worker left files behind: something ran that should not have."""


def _worker_env(home):
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "PYTHONPATH": str(REPO_ROOT),
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        # One thread per library: the machine is shared.
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }


def _last_line(data):
    lines = [line for line in data.decode("utf-8", "replace").splitlines()
             if line.strip()]
    return lines[-1].strip()[:200] if lines else "no message"


def _parse_results(data):
    """Complete lines only: a worker killed mid-write leaves a partial one."""
    results = {}
    for line in data.decode("utf-8").splitlines(keepends=True):
        if line.endswith("\n"):
            record = json.loads(line)
            results[record.pop("path")] = record
    return results


def run_worker(module, paths, timeout):
    """One worker on ``paths``. Returns (results by path, failure message or
    None, wall seconds)."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="peer-worker-") as workdir:
        proc = subprocess.Popen(
            [sys.executable, "-P", "-m", WORKER_MODULE, module],
            cwd=workdir, env=_worker_env(workdir), start_new_session=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(json.dumps(paths).encode(),
                                        timeout=timeout)
            failure = None
            if proc.returncode != 0:
                failure = "worker exited with status %d: %s" % (
                    proc.returncode, _last_line(err))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass  # ended between the timeout and the kill
            out, err = proc.communicate()
            failure = "timed out after %g s" % timeout
        leftovers = sorted(os.listdir(workdir))
        if leftovers:
            raise SideEffectError(
                "%s left %s in its working directory while reading %s"
                % (module, leftovers, paths))
    return _parse_results(out), failure, time.perf_counter() - start


def run_files(module, paths, batch_size=BATCH_SIZE,
              batch_timeout=BATCH_TIMEOUT, file_timeout=FILE_TIMEOUT):
    """Results by path for every path: dicts with verdict, finding, seconds
    and variants."""
    paths = [os.path.abspath(p) for p in paths]
    results = {}
    for first in range(0, len(paths), batch_size):
        batch = paths[first:first + batch_size]
        done, failure, seconds = run_worker(module, batch, batch_timeout)
        results.update(done)
        missing = [p for p in batch if p not in done]
        for path in missing:
            if len(batch) > 1:
                done, failure, seconds = run_worker(module, [path],
                                                    file_timeout)
            if path in done:
                results[path] = done[path]
            else:
                results[path] = {
                    "verdict": ERROR,
                    "finding": failure or "worker ended without a result",
                    "seconds": seconds, "variants": {}}
    return results
