"""The Report object: a scan report dict with convenient accessors."""

from . import _native

_FEATURE_NAMES = None


def _feature_names():
    # Cached: the layout is fixed for the lifetime of the extension.
    global _FEATURE_NAMES
    if _FEATURE_NAMES is None:
        _FEATURE_NAMES = tuple(_native.feature_names())
    return _FEATURE_NAMES


def _walk_streams(raw):
    """Every stream dict, nested pickles included: the primary record's
    streams, then those of the file's other records in file order (a zip
    read as the pickle pickle.load makes of it, the other pickles of an
    archive); each stream is followed by the streams of the pickles nested
    in it."""
    others = [r["report"].get("streams", ()) for r in raw.get("records", ())
              if not r.get("primary") and r.get("report")]
    pending = [(s for streams in others for s in streams), iter(raw.get("streams", ()))]
    while pending:
        stream = next(pending[-1], None)
        if stream is None:
            pending.pop()
            continue
        yield stream
        nested = [n["report"] for n in stream.get("nested", ()) if n.get("report")]
        if nested:
            pending.append(s for report in nested for s in report.get("streams", ()))


class Report:
    """What scanning one input found.

    ``raw`` is the dict of docs/report-schema.md; the attributes are views
    of it. ``globals``, ``calls`` and ``anomalies`` cover every stream of
    every record (the primary one first) and every nested pickle; a call's
    ``index`` and a value's ``global`` index refer to the stream the call
    belongs to (see ``streams``).

    A compact report (``scan(..., report="verdict")``) carries the verdict
    and the globals only: ``streams``, ``calls``, ``anomalies`` and
    ``drivers`` are empty and ``features`` is None.
    """

    __slots__ = (
        "path",
        "raw",
        "format",
        "verdict",
        "score",
        "decided_by",
        "drivers",
        "reasons",
        "streams",
        "globals",
        "calls",
        "anomalies",
        "features",
        "limit_hit",
    )

    def __init__(self, raw, path=None):
        self.path = path
        self.raw = raw
        self.format = raw["format"]
        self.verdict = raw["verdict"]
        self.score = raw["score"]
        # who settled the verdict ("rules", "model" or None) and the
        # features that moved the score most
        self.decided_by = raw.get("decided_by")
        self.drivers = list(raw.get("drivers") or ())
        self.reasons = list(raw["reasons"])
        self.limit_hit = raw["limit_hit"]
        if "streams" not in raw:
            # compact: the scanner already listed the globals, nothing else
            self.streams = []
            self.features = None
            self.globals = list(raw["globals"])
            self.calls = []
            self.anomalies = []
            return
        self.streams = raw["streams"]
        self.features = raw["features"]

        seen = {}
        calls = []
        anomalies = []
        for stream in _walk_streams(raw):
            for g in stream["globals"]:
                seen.setdefault(f"{g['module']}.{g['name']}", None)
            calls.extend(stream["calls"])
            anomalies.extend(stream["anomalies"])
        self.globals = list(seen)
        self.calls = calls
        self.anomalies = anomalies

    @property
    def feature_names(self):
        return list(_feature_names())

    @property
    def is_benign(self):
        return self.verdict == "benign"

    @property
    def is_unsafe(self):
        return self.verdict == "unsafe"

    def to_json(self):
        """The stable per-file record of ``safepickle scan --json``."""
        return {
            "path": self.path,
            "format": self.format,
            "verdict": self.verdict,
            "score": self.score,
            "reasons": list(self.reasons),
            "globals": list(self.globals),
            "error": None,
        }

    def __repr__(self):
        where = "" if self.path is None else f" path={self.path!r}"
        return (
            f"<Report{where} format={self.format!r} verdict={self.verdict!r}"
            f" globals={len(self.globals)}>"
        )


def error_record(path, message):
    """The ``--json`` record of an input that could not be scanned."""
    return {
        "path": path,
        "format": None,
        "verdict": "error",
        "score": None,
        "reasons": [message],
        "globals": [],
        "error": message,
    }
