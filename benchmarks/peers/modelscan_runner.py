"""modelscan through ``modelscan.modelscan.ModelScan().scan(path)`` with its
default settings.

Mapping (from the report dict of modelscan 0.8.8):

- any entry in ``issues``, whatever its severity (LOW, MEDIUM, HIGH or
  CRITICAL; the default settings only list CRITICAL and HIGH globals, and a
  global it cannot resolve is CRITICAL): ``unsafe``.
- otherwise any entry in ``errors`` (a pickle it could not parse, a scanner
  that raised, a nested zip): ``error``.
- otherwise, when nothing was scanned (``summary.scanned.total_scanned`` is
  0): ``skipped``. modelscan picks its scanner by file extension
  (``.pkl .pickle .joblib .dill .dat .data`` for pickles, ``.pt .pth .bin
  .ckpt`` for torch, ``.npy``, and the members of ``.zip``/``.npz`` archives
  by their own names), so e.g. a joblib file named ``.gz`` or a gensim
  ``.model`` is skipped, and so is a ``.npz`` (not implemented) or a torch
  file whose magic number is wrong. A guard built on modelscan lets a skipped
  file load, so the metrics count ``skipped`` as passed.
- otherwise ``benign``.
"""

import logging

from modelscan.modelscan import ModelScan

from .verdicts import BENIGN, ERROR, SKIPPED, UNSAFE

logging.getLogger("modelscan").setLevel(logging.CRITICAL)


def scan_file(path):
    report = ModelScan().scan(path)
    summary = report["summary"]
    if report["issues"]:
        found = sorted({"%s %s.%s" % (i["severity"], i["module"], i["operator"])
                        for i in report["issues"]})
        return UNSAFE, "; ".join(found), {}
    if report["errors"]:
        found = ["%s: %s" % (e["category"], e["description"])
                 for e in report["errors"]]
        return ERROR, "; ".join(found), {}
    if summary["scanned"]["total_scanned"] == 0:
        skipped = sorted({"%s: %s" % (s["category"], s["description"])
                          for s in summary["skipped"]["skipped_files"]})
        return SKIPPED, "; ".join(skipped) or "nothing scanned", {}
    return BENIGN, "scanned %d item(s), no issue" % (
        summary["scanned"]["total_scanned"]), {}
