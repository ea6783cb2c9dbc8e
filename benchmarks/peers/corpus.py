"""The files to evaluate and what counts as what.

Two manifest shapes are read:

- the shared corpus ``MANIFEST.tsv`` (columns path, sha256, bytes, format,
  origin, label, class, ...), paths relative to its folder;
- a generic TSV with columns ``path``, ``label`` and ``format`` or
  ``container`` (``class`` optional), paths relative to ``--root``.

Classes (the shared corpus's ``class`` column):

- scored as malicious: ``rce`` (the payload is in the bytes) and
  ``torchscript`` (a TorchScript archive: its code runs when torch loads
  it, so a guard in front of torch must refuse it).
- scored as benign: ``benign`` and ``nonpickle``.
- reported on their own, never in the headline figures: ``codeobj``
  (benign dill files that rebuild functions from code objects; letting
  them through is a policy choice), ``context`` (malicious only together
  with code outside the file) and ``inert`` (labelled malicious, nothing
  executable in the bytes).

A file without a class (generic manifest) is scored by its label.
"""

import csv
import os
from dataclasses import dataclass

SCORED_CLASSES = {"rce": "malicious", "torchscript": "malicious",
                  "benign": "benign", "nonpickle": "benign"}
SEPARATE_CLASSES = ("codeobj", "context", "inert")

# Names torch checkpoints are saved under; a raw pickle with one of them is
# what torch.load gets handed in practice (and what exploits imitate).
TORCH_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin")


@dataclass(frozen=True)
class CorpusFile:
    path: str        # absolute
    label: str       # benign | malicious
    cls: str         # the manifest's class, or the label when it has none
    format: str

    @property
    def scored(self):
        return self.cls in SCORED_CLASSES or self.cls == self.label

    @property
    def format_family(self):
        """The format without its details: ``raw-pickle protocol 4`` and
        ``raw-pickle protocol 0/1`` are both ``raw-pickle``."""
        return self.format.split(" ")[0] or "unknown"

    @property
    def is_torch_file(self):
        """A file a torch user would pass to torch.load: torch's own formats,
        and pickles under a torch checkpoint name."""
        if self.format.startswith("torch"):
            return True
        suffix = os.path.splitext(self.path)[1].lower()
        return suffix in TORCH_SUFFIXES and self.format.startswith("raw-pickle")


def read_manifest(manifest, root):
    with open(manifest, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows:
        raise ValueError("%s: no rows" % manifest)
    files = []
    for number, row in enumerate(rows, start=2):
        missing = [c for c in ("path", "label") if not row.get(c)]
        fmt = row.get("format") or row.get("container")
        if missing or fmt is None:
            raise ValueError("%s line %d: needs path, label and format or "
                             "container" % (manifest, number))
        if row["label"] not in ("benign", "malicious"):
            raise ValueError("%s line %d: label %r is neither benign nor "
                             "malicious" % (manifest, number, row["label"]))
        cls = row.get("class") or row["label"]
        if row.get("class") and cls not in SCORED_CLASSES and \
                cls not in SEPARATE_CLASSES:
            raise ValueError("%s line %d: unknown class %r"
                             % (manifest, number, cls))
        path = os.path.abspath(os.path.join(root, row["path"]))
        if not os.path.isfile(path):
            raise FileNotFoundError("%s line %d: %s" % (manifest, number, path))
        files.append(CorpusFile(path, row["label"], cls, fmt))
    return files
