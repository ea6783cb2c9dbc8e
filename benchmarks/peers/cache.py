"""Peer results kept in a JSON file between runs.

An entry is keyed by the peer, its installed version, the digest of its
runner code, the sha256 of the file's bytes and the file's suffix (the
peers choose how to read a file by its extension, so the same bytes under
another name can get another verdict).
"""

import json
import os
import tempfile

CACHE_FORMAT = 1


def cache_key(peer_name, version, runner_digest, sha256, suffix):
    return "\t".join((peer_name, version, runner_digest, sha256, suffix))


class ResultCache:
    def __init__(self, path):
        self.path = path
        self.entries = {}
        if path is not None and os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                stored = json.load(f)
            if stored.get("format") == CACHE_FORMAT:
                self.entries = stored["entries"]

    def get(self, key):
        return self.entries.get(key)

    def put(self, key, result):
        self.entries[key] = result

    def save(self):
        if self.path is None:
            return
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".peers-cache-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"format": CACHE_FORMAT, "entries": self.entries}, f,
                      indent=0, sort_keys=True)
        os.replace(tmp, self.path)
