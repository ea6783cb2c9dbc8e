"""fickling through its file scanning API: ``fickling.scan_zip_archive`` for
zip files (torch checkpoints, zips of pickles) and ``fickling.scan_file`` for
everything else, both with ``graceful=True`` so that a parse failure comes
back as an error entry instead of an exception. Each pickle found (every
pickle of a stacked file, every ``.pkl``/``.pickle``/``.bin`` member of a
zip) goes through ``fickling.analysis.check_safety``.

Mapping (fickling 0.1.12):

- the highest severity of its analyses above ``LIKELY_SAFE``: ``unsafe``.
  This is the threshold of ``fickling.is_likely_safe``, of ``fickling.load``
  and of ``ScanResult.is_safe``: fickling itself refuses such a file. An
  invalid opcode after valid ones is one of those analyses (LIKELY_UNSAFE).
- otherwise an error entry (no pickle at the start of the file, a zip that
  cannot be read): ``error``. fickling does not read numpy, joblib
  compression or tar, so those files end here.
- otherwise, for a zip with no member of a pickle extension: ``skipped``.
- otherwise ``benign``.

The ``overtly_malicious`` variant raises the threshold to
``LIKELY_OVERTLY_MALICIOUS``, the level of fickling's named dangers (an
import on its unsafe lists, an expansion attack; overt ``exec``/``eval``
calls are one level higher), and lets through LIKELY_UNSAFE, which it gives
to every import outside the standard library (every torch module of a
full-model checkpoint, every scikit-learn estimator) and to invalid
opcodes. This reads fickling's severity as a ranking; it is not fickling's
own decision. (The two lower levels, POSSIBLY_UNSAFE and SUSPICIOUS, were
never the highest finding of a file of the corpus, so a LIKELY_UNSAFE
threshold would give the main verdict again.)
"""

import zipfile

from fickling import scan_file as fickling_scan_file
from fickling import scan_zip_archive
from fickling.analysis import Severity

from .verdicts import BENIGN, ERROR, SKIPPED, UNSAFE


def _scan_results(path):
    if zipfile.is_zipfile(path):
        return list(scan_zip_archive(path, graceful=True).values())
    return [fickling_scan_file(path, graceful=True)]


def _verdict(worst, errors, scanned, threshold):
    if worst >= threshold:
        return UNSAFE
    if errors:
        return ERROR
    if not scanned:
        return SKIPPED
    return BENIGN


def scan_file(path):
    scan_results = _scan_results(path)
    worst = Severity.LIKELY_SAFE
    errors = []
    messages = set()
    for scanned in scan_results:
        errors.extend(scanned.errors)
        for analysis in scanned.results:
            if analysis.severity > worst:
                worst = analysis.severity
            for result in analysis.results:
                if result.severity > Severity.LIKELY_SAFE:
                    messages.add(str(result))
    verdict = _verdict(worst, errors, scan_results, Severity.POSSIBLY_UNSAFE)
    variant = _verdict(worst, errors, scan_results,
                       Severity.LIKELY_OVERTLY_MALICIOUS)
    if scan_results:
        finding = "; ".join([worst.name] + sorted(messages) + errors)
    else:
        finding = "no .pkl, .pickle or .bin member in the zip"
    return verdict, finding, {"overtly_malicious": variant}
