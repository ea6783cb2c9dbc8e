"""A peer's results for a list of files: from the cache where it has them,
from fresh worker runs otherwise."""

import hashlib
import os
import time

from . import batch
from .cache import cache_key


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def collect(peer, paths, cache, **batch_options):
    """Returns (results by path, stats). ``stats`` holds the number of files
    run now and read from the cache, and the wall seconds of the runs."""
    version = peer.version()
    digest = peer.runner_digest()
    keys = {}
    for path in paths:
        suffix = os.path.splitext(path)[1].lower()
        keys[path] = cache_key(peer.name, version, digest, file_sha256(path),
                               suffix)
    results = {}
    missing = []
    for path in paths:
        cached = cache.get(keys[path])
        if cached is None:
            missing.append(path)
        else:
            results[path] = cached
    start = time.perf_counter()
    if missing:
        fresh = batch.run_files(peer.module, missing, **batch_options)
        for path in missing:
            result = fresh[os.path.abspath(path)]
            results[path] = result
            cache.put(keys[path], result)
        cache.save()
    stats = {"version": version, "run": len(missing),
             "cached": len(paths) - len(missing),
             "wall_seconds": time.perf_counter() - start}
    return results, stats
