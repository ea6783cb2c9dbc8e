"""Detection figures from (true label, verdict) pairs.

The files are read as a load guard reads them: the positive class is
``malicious``, and a verdict is a positive prediction when the guard
refuses to load the file (``verdicts.blocks_load``):

- ``unsafe`` blocks.
- ``error`` blocks too: a guard that cannot decide does not load. On a
  malicious file an error therefore counts as detected (tp), on a benign
  file as a false positive (fp). How many of each there were is reported
  beside the figures (``errors``, ``errors_malicious``,
  ``errors_benign``), so that a tool that "detects" by failing is visible.
- ``benign`` and ``skipped`` let the file load: tn on a benign file, fn on
  a malicious one.

A ratio whose denominator is zero is ``None`` (no positive prediction: no
precision; no malicious file: no recall; no benign file: no false-positive
rate). F1 is ``None`` when precision or recall is, and 0 when both are 0.
"""

from collections import defaultdict
from dataclasses import dataclass

from .verdicts import ERROR, SKIPPED, blocks_load

MALICIOUS = "malicious"
BENIGN = "benign"


def _ratio(numerator, denominator):
    return numerator / denominator if denominator else None


@dataclass
class Scores:
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    errors_malicious: int = 0
    errors_benign: int = 0
    skipped: int = 0

    @property
    def files(self):
        return self.tp + self.fp + self.tn + self.fn

    @property
    def errors(self):
        return self.errors_malicious + self.errors_benign

    @property
    def precision(self):
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self):
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self):
        precision, recall = self.precision, self.recall
        if precision is None or recall is None:
            return None
        if precision + recall == 0:
            return 0.0
        return 2 * precision * recall / (precision + recall)

    @property
    def false_positive_rate(self):
        return _ratio(self.fp, self.fp + self.tn)


def score(pairs):
    """Scores of (label, verdict) pairs; labels are 'malicious' or 'benign'."""
    scores = Scores()
    for label, verdict in pairs:
        if label not in (MALICIOUS, BENIGN):
            raise ValueError("unknown label %r" % (label,))
        blocked = blocks_load(verdict)
        if label == MALICIOUS:
            if blocked:
                scores.tp += 1
            else:
                scores.fn += 1
            if verdict == ERROR:
                scores.errors_malicious += 1
        else:
            if blocked:
                scores.fp += 1
            else:
                scores.tn += 1
            if verdict == ERROR:
                scores.errors_benign += 1
        if verdict == SKIPPED:
            scores.skipped += 1
    return scores


def group_pairs(items, group_of, pair_of):
    """{group: [(label, verdict), ...]} for a per-format (or any other)
    breakdown: ``group_of(item)`` names the group, ``pair_of(item)`` gives
    the item's (label, verdict)."""
    groups = defaultdict(list)
    for item in items:
        groups[group_of(item)].append(pair_of(item))
    return dict(groups)


def score_groups(items, group_of, pair_of):
    """{group: Scores}, groups in sorted order."""
    groups = group_pairs(items, group_of, pair_of)
    return {name: score(groups[name]) for name in sorted(groups)}
