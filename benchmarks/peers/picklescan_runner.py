"""picklescan through ``picklescan.scanner.scan_file_path``.

Mapping (from picklescan 1.0.5's ``ScanResult``):

- ``issues_count > 0`` (a global on its dangerous list, or one whose name it
  could not resolve): ``unsafe``. This is the file its command line reports
  as infected.
- otherwise ``scan_err`` (the pickle stopped parsing after some globals were
  read): ``error``; its command line exits with status 2 there.
- otherwise ``benign``. Note that a file picklescan cannot parse at all and
  in which it found no global is reported clean by picklescan itself (a
  warning in its log, no error flag), and so it is ``benign`` here too.

Globals that are neither on its safe list nor on its dangerous list are
"suspicious": the main verdict ignores them, as picklescan's exit status
does. The ``strict`` variant counts them as unsafe; it is what
``picklescan --strict`` reports (strict mode turns every suspicious global
into a dangerous one and changes nothing else), computed from the same scan.
"""

import logging

from picklescan.scanner import scan_file_path

from .verdicts import BENIGN, ERROR, UNSAFE

# picklescan logs every finding at WARNING; the worker reports them itself.
logging.getLogger("picklescan").setLevel(logging.CRITICAL)


def _describe(result):
    dangerous = sorted("%s.%s" % (g.module, g.name) for g in result.globals
                       if g.safety.value == "dangerous")
    suspicious = sorted("%s.%s" % (g.module, g.name) for g in result.globals
                        if g.safety.value == "suspicious")
    parts = []
    if dangerous:
        parts.append("dangerous: " + " ".join(dangerous))
    if suspicious:
        parts.append("suspicious: " + " ".join(suspicious))
    if result.scan_err:
        parts.append("parse error after these globals")
    return "; ".join(parts) or "no globals"


def scan_file(path):
    result = scan_file_path(path)
    if result.issues_count > 0:
        verdict = UNSAFE
    elif result.scan_err:
        verdict = ERROR
    else:
        verdict = BENIGN
    if result.issues_count + result.suspicious_count > 0:
        strict = UNSAFE
    else:
        strict = verdict
    return verdict, _describe(result), {"strict": strict}
