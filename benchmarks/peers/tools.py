"""The peers: which runner module wraps which installed tool, and the
extra verdicts each runner derives from the same scan."""

import hashlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass, field

# Sources whose change can change a stored result: part of the cache key.
_SHARED_SOURCES = ("benchmarks.peers.worker", "benchmarks.peers.verdicts")


@dataclass(frozen=True)
class Peer:
    name: str
    module: str
    distribution: str
    # variant key in the runner's results -> row label in the tables
    variants: dict = field(default_factory=dict)

    def version(self):
        """The installed version; a missing tool raises
        ``importlib.metadata.PackageNotFoundError``."""
        return importlib.metadata.version(self.distribution)

    def runner_digest(self):
        """Digest of the code that maps the tool's output to verdicts, so
        that a changed mapping never reads stale cached results."""
        digest = hashlib.sha256()
        for module in (self.module, *_SHARED_SOURCES):
            with open(importlib.util.find_spec(module).origin, "rb") as f:
                digest.update(f.read())
        return digest.hexdigest()[:16]

    def row_labels(self):
        """(variant key or None for the main verdict, label) pairs."""
        return [(None, self.name)] + list(self.variants.items())


PICKLESCAN = Peer("picklescan", "benchmarks.peers.picklescan_runner",
                  "picklescan", {"strict": "picklescan --strict"})
MODELSCAN = Peer("modelscan", "benchmarks.peers.modelscan_runner", "modelscan")
FICKLING = Peer("fickling", "benchmarks.peers.fickling_runner", "fickling",
                {"overtly_malicious":
                  "fickling >= LIKELY_OVERTLY_MALICIOUS"})
TORCH_WEIGHTS_ONLY = Peer("torch.load(weights_only=True)",
                          "benchmarks.peers.torch_runner", "torch")

STATIC_PEERS = (PICKLESCAN, MODELSCAN, FICKLING)
ALL_PEERS = STATIC_PEERS + (TORCH_WEIGHTS_ONLY,)
