"""Shared fixtures: the evaluation corpus and a place for run summaries."""

import csv
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS_ROOT = REPO_ROOT.parent / "shared" / "corpus"

_SUMMARY = pytest.StashKey[list]()


def corpus_root_or_fail():
    """The corpus folder; its absence is an error, never a silent skip."""
    manifest = CORPUS_ROOT / "MANIFEST.tsv"
    if not manifest.is_file():
        pytest.fail("evaluation corpus missing: expected %s" % manifest,
                    pytrace=False)
    return CORPUS_ROOT


def read_manifest(root):
    with open(root / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if not rows:
        pytest.fail("empty manifest in %s" % root, pytrace=False)
    return rows


@pytest.fixture(scope="session")
def corpus_root():
    return corpus_root_or_fail()


@pytest.fixture(scope="session")
def manifest(corpus_root):
    """MANIFEST.tsv rows as dicts (path, sha256, bytes, format, origin,
    label, class, globals, source_kind)."""
    return read_manifest(corpus_root)


@pytest.fixture(scope="session")
def summary(request):
    """Lines printed after the run: counts the differential test reports."""
    return request.config.stash.setdefault(_SUMMARY, [])


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    lines = config.stash.get(_SUMMARY, None)
    if lines:
        terminalreporter.section("SafePickle differential summary")
        for line in lines:
            terminalreporter.write_line(line)
